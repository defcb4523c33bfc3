"""Regression losses (回归损失): mean squared error and smooth L1, with their gradients.

Both take predictions :math:`\\hat y` and targets :math:`y` of one shape and
return ``(value, grad)``, as every loss of the package
(:mod:`companion.functional.losses`, which re-exports them and describes the
classification losses): ``value`` is a Python float, the **mean** over all
:math:`n` elements (PyTorch's ``reduction='mean'``), and ``grad`` the gradient
of that mean with respect to ``pred``, with its shape and dtype.

* **MSE** (均方误差): :math:`L = \\frac1n\\sum_k (\\hat y_k - y_k)^2`, gradient
  :math:`\\frac2n(\\hat y - y)` (:func:`mse_loss`);
* **smooth L1** (平滑L1损失): :math:`L = \\frac1n \\sum_k \\ell_\\beta(\\hat y_k - y_k)`,
  gradient :math:`\\frac1n \\ell_\\beta'(\\hat y - y)` (:func:`smooth_l1_loss`).

NumPy expressions over whole arrays (no Numba kernel is needed for their
cost). Dtypes: float32 and float64 predictions are kept (targets are converted
to the prediction's dtype); integer input is converted to float64. Inputs are
never modified.
"""
from __future__ import annotations

import numpy as np

from companion._validate import as_batch, as_positive_real, as_target_like

__all__ = ["mse_loss", "smooth_l1_loss"]


def _pred_and_target(pred, target) -> tuple[np.ndarray, np.ndarray]:
    """``pred``: finite floats, at least one dimension and one element; ``target``
    of its shape, converted to its dtype."""
    pred = as_batch(pred, "pred")
    return pred, as_target_like(target, pred, "pred")


def _mean(values: np.ndarray) -> float:
    """Mean accumulated in float64, as a Python float."""
    return float(np.mean(values, dtype=np.float64))



def mse_loss(pred, target):
    """Mean squared error (均方误差, MSE) and its gradient.

    .. math::

        L = \\frac1n \\sum_{k=1}^{n} (\\hat y_k - y_k)^2, \\qquad
        \\frac{\\partial L}{\\partial \\hat y_k} = \\frac2n (\\hat y_k - y_k),

    the mean over all :math:`n` elements (PyTorch's ``MSELoss()``).

    Parameters
    ----------
    pred : array_like, shape ``(N, ...)``
        Predictions :math:`\\hat y`, finite, at least one element.
    target : array_like, shape of ``pred``
        Targets :math:`y`, finite; converted to the dtype of ``pred``.

    Returns
    -------
    value : float
    grad : ndarray, shape and dtype of ``pred``
    """
    pred, target = _pred_and_target(pred, target)
    diff = pred - target
    return _mean(diff * diff), diff * (2.0 / diff.size)


def smooth_l1_loss(pred, target, beta=1.0):
    """Smooth L1 loss (平滑L1损失), Huber-style, and its gradient.

    With the residual :math:`d = \\hat y - y`,

    .. math::

        \\ell_\\beta(d) = \\begin{cases}
            \\dfrac{d^2}{2\\beta} & |d| < \\beta \\\\[4pt]
            |d| - \\dfrac{\\beta}{2} & |d| \\ge \\beta
        \\end{cases}, \\qquad
        \\ell_\\beta'(d) = \\begin{cases}
            d / \\beta & |d| < \\beta \\\\
            \\operatorname{sign}(d) & |d| \\ge \\beta
        \\end{cases},

    :math:`L = \\frac1n \\sum_k \\ell_\\beta(d_k)` and
    :math:`\\partial L / \\partial \\hat y_k = \\ell_\\beta'(d_k) / n`: quadratic
    (like MSE) for small residuals, linear (like L1) for large ones, so one
    outlier pulls with a gradient of at most :math:`1/n`. This is PyTorch's
    ``SmoothL1Loss(beta=beta)``; it equals :math:`1/\\beta` times the Huber
    loss with threshold :math:`\\delta = \\beta`. Both pieces and their slopes
    meet at :math:`|d| = \\beta`, so :math:`\\ell_\\beta` is continuously
    differentiable.

    Parameters
    ----------
    pred : array_like, shape ``(N, ...)``
        Predictions, finite, at least one element.
    target : array_like, shape of ``pred``
        Targets, finite; converted to the dtype of ``pred``.
    beta : float, default 1.0
        Where the quadratic part ends; a finite number > 0.

    Returns
    -------
    value : float
    grad : ndarray, shape and dtype of ``pred``
    """
    pred, target = _pred_and_target(pred, target)
    beta = as_positive_real(beta, "beta")
    d = pred - target
    abs_d = np.abs(d)
    small = abs_d < beta
    values = np.where(small, 0.5 * d * d / beta, abs_d - 0.5 * beta)
    grad = np.where(small, d / beta, np.sign(d)).astype(pred.dtype, copy=False)
    grad /= d.size
    return _mean(values), grad
