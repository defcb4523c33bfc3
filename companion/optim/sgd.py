r"""Stochastic gradient descent: plain, with momentum, with Nesterov momentum.

:class:`SGD` and its ``@njit`` kernel; the interface (in-place steps, lazy state,
state dicts) is :class:`~companion.optim.optimizer.Optimizer`'s.
"""
from __future__ import annotations

from numba import njit

from companion._validate import as_bool, as_probability, as_real
from companion.optim.optimizer import Optimizer

__all__ = ["SGD"]


# --------------------------------------------------------------------------- kernels
@njit(cache=True, error_model="numpy")
def _sgd_kernel(w, g, buf, lr, momentum, nesterov, weight_decay):
    """SGD on flat arrays ``w`` (updated), ``g`` (read) and ``buf`` (momentum,
    updated)."""
    for i in range(w.size):
        d = g[i] + weight_decay * w[i]           # g_t = grad + lambda * theta
        if momentum != 0.0:
            buf[i] = momentum * buf[i] + d       # b_t = mu * b_{t-1} + g_t
            if nesterov:
                d = d + momentum * buf[i]        # d_t = g_t + mu * b_t
            else:
                d = buf[i]                       # d_t = b_t
        w[i] = w[i] - lr * d                     # theta_t = theta_{t-1} - eta * d_t


# --------------------------------------------------------------------------- optimizers
class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional momentum, Nesterov momentum, weight
    decay.

    Parameters
    ----------
    lr : float, > 0
        Learning rate :math:`\eta`.
    momentum : float in [0, 1)
        Momentum factor :math:`\mu`; 0 is plain SGD.
    nesterov : bool
        Nesterov momentum (requires ``momentum > 0``).
    weight_decay : float, >= 0
        L2 coefficient :math:`\lambda`, added to the gradient (the gradient of
        :math:`\tfrac12\lambda\lVert\theta\rVert^2`).

    Notes
    -----
    As ``torch.optim.SGD`` (dampening 0). The momentum buffer starts at
    :math:`b_0 = 0`, so :math:`b_1 = g_1`:

    .. math::

        g_t &= \nabla_t + \lambda\,\theta_{t-1} \\
        b_t &= \mu\, b_{t-1} + g_t \\
        d_t &= \begin{cases} g_t + \mu\, b_t & \text{Nesterov} \\
                             b_t & \text{otherwise} \end{cases}
               \qquad (d_t = g_t \text{ when } \mu = 0) \\
        \theta_t &= \theta_{t-1} - \eta\, d_t

    This is the "velocity" form of Sutskever et al. (2013) with the learning
    rate outside the buffer: a change of :math:`\eta` takes effect at once.
    """

    _hyperparameters = ("lr", "momentum", "nesterov", "weight_decay")
    _buffer_names = ("momentum_buffer",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        self.lr, self.momentum, self.nesterov, self.weight_decay = (
            lr, momentum, nesterov, weight_decay)
        super().__init__()

    def _check_hyperparameters(self, *, allow_zero_lr):
        self.lr = self._check_lr(self.lr, allow_zero=allow_zero_lr)
        self.momentum = as_probability(self.momentum, "momentum")
        self.nesterov = as_bool(self.nesterov, "nesterov")
        self.weight_decay = as_real(self.weight_decay, "weight_decay", low=0.0)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True requires momentum > 0, got momentum=0.0")

    def _needed_buffers(self):
        return ("momentum_buffer",) if self.momentum > 0.0 else ()

    def _update(self, w, g, state):
        buf = state.get("momentum_buffer", w[:0])
        _sgd_kernel(w, g, buf, self.lr, self.momentum, self.nesterov, self.weight_decay)
