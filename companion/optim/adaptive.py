r"""Adaptive per-coordinate step sizes: Adagrad and RMSprop.

:class:`Adagrad`, :class:`RMSprop` and their ``@njit`` kernels; the interface is
:class:`~companion.optim.optimizer.Optimizer`'s.
"""
from __future__ import annotations

import math

from numba import njit

from companion._validate import as_probability, as_real
from companion.optim.optimizer import Optimizer

__all__ = ["Adagrad", "RMSprop"]


# --------------------------------------------------------------------------- kernels
@njit(cache=True, error_model="numpy")
def _adagrad_kernel(w, g, sum_sq, lr, eps, weight_decay):
    """Adagrad on flat arrays ``w`` (updated), ``g`` (read), ``sum_sq`` (updated)."""
    for i in range(w.size):
        d = g[i] + weight_decay * w[i]                       # g_t
        sum_sq[i] = sum_sq[i] + d * d                        # s_t = s_{t-1} + g_t^2
        w[i] = w[i] - lr * d / (math.sqrt(sum_sq[i]) + eps)  # theta_t


@njit(cache=True, error_model="numpy")
def _rmsprop_kernel(w, g, square_avg, buf, lr, alpha, eps, momentum, weight_decay):
    """RMSprop on flat arrays; ``buf`` is only touched when ``momentum > 0``."""
    for i in range(w.size):
        d = g[i] + weight_decay * w[i]                                 # g_t
        square_avg[i] = alpha * square_avg[i] + (1.0 - alpha) * d * d  # v_t
        # g_t / (sqrt(v_t) + eps)
        step = d / (math.sqrt(square_avg[i]) + eps)
        if momentum > 0.0:
            buf[i] = momentum * buf[i] + step                          # b_t
            step = buf[i]
        w[i] = w[i] - lr * step                                        # theta_t


# --------------------------------------------------------------------------- optimizers
class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan & Singer, 2011): a per-coordinate step shrinking with
    past gradients.

    Parameters
    ----------
    lr : float, > 0
        Learning rate :math:`\eta`.
    eps : float, > 0
        Added to the denominator, :math:`\epsilon`.
    weight_decay : float, >= 0
        L2 coefficient :math:`\lambda` added to the gradient.

    Notes
    -----
    As ``torch.optim.Adagrad`` (``lr_decay=0``, ``initial_accumulator_value=0``):

    .. math::

        g_t &= \nabla_t + \lambda\,\theta_{t-1} \\
        s_t &= s_{t-1} + g_t^2 \qquad (s_0 = 0) \\
        \theta_t &= \theta_{t-1} - \eta\, \frac{g_t}{\sqrt{s_t} + \epsilon}

    (elementwise).
    """

    _hyperparameters = ("lr", "eps", "weight_decay")
    _buffer_names = ("sum",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-10, weight_decay: float = 0.0):
        self.lr, self.eps, self.weight_decay = lr, eps, weight_decay
        super().__init__()

    def _check_hyperparameters(self, *, allow_zero_lr):
        self.lr = self._check_lr(self.lr, allow_zero=allow_zero_lr)
        self.eps = as_real(self.eps, "eps", low=0.0, low_open=True)
        self.weight_decay = as_real(self.weight_decay, "weight_decay", low=0.0)

    def _update(self, w, g, state):
        _adagrad_kernel(w, g, state["sum"], self.lr, self.eps, self.weight_decay)


class RMSprop(Optimizer):
    r"""RMSprop (Tieleman & Hinton, 2012): divide by a running RMS of the gradient.

    Parameters
    ----------
    lr : float, > 0
        Learning rate :math:`\eta`.
    alpha : float in [0, 1)
        Smoothing constant :math:`\alpha` of the squared-gradient average.
    eps : float, > 0
        :math:`\epsilon`, added *outside* the square root (as PyTorch; TensorFlow
        adds it inside).
    momentum : float in [0, 1)
        Momentum factor :math:`\mu`.
    weight_decay : float, >= 0
        L2 coefficient :math:`\lambda` added to the gradient.

    Notes
    -----
    As ``torch.optim.RMSprop`` (``centered=False``):

    .. math::

        g_t &= \nabla_t + \lambda\,\theta_{t-1} \\
        v_t &= \alpha\, v_{t-1} + (1 - \alpha)\, g_t^2 \qquad (v_0 = 0) \\
        b_t &= \mu\, b_{t-1} + \frac{g_t}{\sqrt{v_t} + \epsilon} \qquad (b_0 = 0) \\
        \theta_t &= \theta_{t-1} - \eta\, b_t

    With :math:`\mu = 0` the last two lines are
    :math:`\theta_t = \theta_{t-1} - \eta\, g_t / (\sqrt{v_t} + \epsilon)`.
    """

    _hyperparameters = ("lr", "alpha", "eps", "momentum", "weight_decay")
    _buffer_names = ("square_avg", "momentum_buffer")

    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, weight_decay: float = 0.0):
        self.lr, self.alpha, self.eps, self.momentum, self.weight_decay = (
            lr, alpha, eps, momentum, weight_decay)
        super().__init__()

    def _check_hyperparameters(self, *, allow_zero_lr):
        self.lr = self._check_lr(self.lr, allow_zero=allow_zero_lr)
        self.alpha = as_probability(self.alpha, "alpha")
        self.eps = as_real(self.eps, "eps", low=0.0, low_open=True)
        self.momentum = as_probability(self.momentum, "momentum")
        self.weight_decay = as_real(self.weight_decay, "weight_decay", low=0.0)

    def _needed_buffers(self):
        return (("square_avg", "momentum_buffer") if self.momentum > 0.0
                else ("square_avg",))

    def _update(self, w, g, state):
        buf = state.get("momentum_buffer", w[:0])
        _rmsprop_kernel(w, g, state["square_avg"], buf, self.lr, self.alpha, self.eps,
                        self.momentum, self.weight_decay)
