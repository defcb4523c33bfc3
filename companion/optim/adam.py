r"""Adam and AdamW: bias-corrected first and second moments, coupled or decoupled decay.

:class:`Adam`, :class:`AdamW` and their shared ``@njit`` kernel; the interface is
:class:`~companion.optim.optimizer.Optimizer`'s.
"""
from __future__ import annotations

import math

from numba import njit

from companion._validate import as_probability, as_real
from companion.optim.optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


# --------------------------------------------------------------------------- kernels
@njit(cache=True, error_model="numpy")
def _adam_kernel(w, g, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
                 decoupled, bias_correction1, bias_correction2):
    """Adam (``decoupled=False``) or AdamW (``decoupled=True``) on flat arrays."""
    step_size = lr / bias_correction1              # eta / (1 - beta1^t)
    bias_correction2_sqrt = math.sqrt(bias_correction2)
    for i in range(w.size):
        if decoupled:
            # AdamW: theta <- theta (1 - eta lambda)
            w[i] = w[i] * (1.0 - lr * weight_decay)
            d = g[i]
        else:
            d = g[i] + weight_decay * w[i]  # Adam: g_t = grad + lambda theta
        exp_avg[i] = beta1 * exp_avg[i] + (1.0 - beta1) * d           # m_t
        exp_avg_sq[i] = beta2 * exp_avg_sq[i] + (1.0 - beta2) * d * d  # v_t
        denom = math.sqrt(exp_avg_sq[i]) / bias_correction2_sqrt + eps
        w[i] = w[i] - step_size * exp_avg[i] / denom


# --------------------------------------------------------------------------- optimizers
class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015) with coupled L2 weight decay, as ``torch.optim.Adam``.

    Parameters
    ----------
    lr : float, > 0
        Learning rate :math:`\eta`.
    betas : pair of floats in [0, 1)
        :math:`(\beta_1, \beta_2)`, decay rates of the first and second moment.
    eps : float, > 0
        :math:`\epsilon`, added to the bias-corrected root of the second moment.
    weight_decay : float, >= 0
        L2 coefficient :math:`\lambda` added to the gradient *before* the moments
        (so it is rescaled by them: use :class:`AdamW` for decoupled decay).

    Notes
    -----
    With :math:`t` the step count (1 at the first step) and :math:`m_0 = v_0 = 0`:

    .. math::

        g_t &= \nabla_t + \lambda\,\theta_{t-1} \\
        m_t &= \beta_1\, m_{t-1} + (1 - \beta_1)\, g_t \\
        v_t &= \beta_2\, v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \theta_t &= \theta_{t-1} - \frac{\eta}{1 - \beta_1^t}\,
                    \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    that is
    :math:`\theta_t = \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)`
    with the bias-corrected moments :math:`\hat m_t = m_t / (1 - \beta_1^t)`,
    :math:`\hat v_t = v_t / (1 - \beta_2^t)`.
    """

    _hyperparameters = ("lr", "betas", "eps", "weight_decay")
    _buffer_names = ("exp_avg", "exp_avg_sq")
    _decoupled = False

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        super().__init__()

    def _check_hyperparameters(self, *, allow_zero_lr):
        self.lr = self._check_lr(self.lr, allow_zero=allow_zero_lr)
        betas = self.betas
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__"):
            raise TypeError(f"betas must be a pair of floats, got {betas!r}")
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair of floats, got {betas!r}")
        self.betas = (as_probability(betas[0], "betas[0]"),
                      as_probability(betas[1], "betas[1]"))
        self.eps = as_real(self.eps, "eps", low=0.0, low_open=True)
        self.weight_decay = as_real(self.weight_decay, "weight_decay", low=0.0)

    def _update(self, w, g, state):
        beta1, beta2 = self.betas
        t = self.step_count
        _adam_kernel(w, g, state["exp_avg"], state["exp_avg_sq"], self.lr, beta1, beta2,
                     self.eps, self.weight_decay, self._decoupled,
                     1.0 - beta1 ** t, 1.0 - beta2 ** t)


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019);
    ``torch.optim.AdamW``.

    Parameters
    ----------
    lr, betas, eps
        As :class:`Adam`.
    weight_decay : float, >= 0
        Decoupled decay :math:`\lambda`: the parameter shrinks by the factor
        :math:`1 - \eta\lambda` each step, outside the adaptive rescaling.

    Notes
    -----
    .. math::

        \theta' &= \theta_{t-1}\,(1 - \eta\lambda) \\
        m_t &= \beta_1\, m_{t-1} + (1 - \beta_1)\, \nabla_t \\
        v_t &= \beta_2\, v_{t-1} + (1 - \beta_2)\, \nabla_t^2 \\
        \theta_t &= \theta' - \frac{\eta}{1 - \beta_1^t}\,
                    \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    Unlike :class:`Adam`'s coupled L2 term, the decay is not divided by
    :math:`\sqrt{\hat v_t}`: every weight decays at the same relative rate.
    """

    _decoupled = True

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01):
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
