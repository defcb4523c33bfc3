"""Loss functions (损失函数), each returning its value and its gradient.

Every loss takes a batch of predictions (or logits) and targets and returns
``(value, grad)``: ``value`` is a Python float, the **mean** loss, and
``grad`` is the gradient of that mean with respect to the predictions (or
logits), with their shape and dtype. Backpropagation starts from ``grad``.

* **MSE** (均方误差): :math:`L = \\frac1n\\sum_k (\\hat y_k - y_k)^2`, gradient
  :math:`\\frac2n(\\hat y - y)` (:func:`mse_loss`);
* **smooth L1** (平滑L1损失):
  :math:`L = \\frac1n\\sum_k \\ell_\\beta(\\hat y_k - y_k)`, gradient
  :math:`\\frac1n \\ell_\\beta'(\\hat y - y)` (:func:`smooth_l1_loss`);
* **cross-entropy** (交叉熵损失) from logits :math:`z`:
  :math:`L = -\\frac1N\\sum_i\\sum_c y_{ic}\\log p_{ic}`, gradient
  :math:`\\frac1N(p - y)` (:func:`cross_entropy_loss`);
* **binary cross-entropy** from logits:
  :math:`L = \\frac1n\\sum_k \\log(1+e^{z_k}) - t_k z_k`, gradient
  :math:`\\frac1n(\\sigma(z) - t)` (:func:`binary_cross_entropy_loss`);
* **log loss** (对数损失) from probabilities :math:`p`: the cross-entropy
  again, gradient :math:`-\\frac{y}{N p}` (:func:`log_loss`).

Here :math:`n` is the number of elements of the prediction (the batch size
for a prediction of shape ``(N,)``, :math:`N \\times D` for ``(N, D)``, as in
PyTorch's ``reduction='mean'``) and :math:`N` the number of rows of a
classifier's ``(N, C)`` output; :math:`p = \\operatorname{softmax}(z)`.

The two regression losses live in :mod:`companion.functional.regression_losses`
and are re-exported here, so that this module holds every loss; the three
classification losses are defined here.

**Names in the source documents.** Document 1's appendix 1 lists five losses. Two
pairs among them are the same quantity under two names:

* *log loss* (对数损失) **is** the cross-entropy: :func:`log_loss` takes
  probabilities, :func:`cross_entropy_loss` takes logits, and
  ``log_loss(softmax(z), y)`` equals ``cross_entropy_loss(z, y)`` whenever no
  probability is clipped. It is not "more suitable for multi-class" than
  cross-entropy; both handle any number of classes.
* *logistic loss* (对数似然损失) **is** the binary cross-entropy
  (:func:`binary_cross_entropy_loss`), the two-class case of the same
  negative log-likelihood.

**Stability.** The classification losses work from logits with the
log-sum-exp trick (:func:`companion.functional.softmax_ops.log_softmax`) and the
:math:`\\log(1 + e^{-|z|})` form of the softplus, so logits of magnitude
:math:`10^4` give finite, correct values and gradients where the textbook
formulas ``-log(softmax(z))`` and ``-log(sigmoid(z))`` overflow to ``inf`` or
NaN.

The losses are NumPy expressions over whole arrays (no Numba kernel is needed
for their cost). Dtypes: float32 and float64 predictions are kept (targets are
converted to the prediction's dtype); integer input is converted to float64.
Inputs are never modified.
"""
from __future__ import annotations


import numpy as np

from companion._validate import (
    as_batch,
    as_float_array,
    as_labels,
    as_positive_real,
    as_target_like,
    check_same_shape,
    row_sum_tolerance,
)
from companion.functional.regression_losses import mse_loss, smooth_l1_loss
from companion.functional.softmax_ops import log_softmax

__all__ = [
    "mse_loss",
    "smooth_l1_loss",
    "cross_entropy_loss",
    "binary_cross_entropy_loss",
    "log_loss",
]


# --------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------

def _check_unit_interval(arr: np.ndarray, name: str, what: str) -> None:
    if np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"{name} must be {what} in [0, 1], "
                         f"got values from {arr.min()} to {arr.max()}")


def _check_rows_sum_to_one(arr: np.ndarray, name: str) -> None:
    tol = row_sum_tolerance(arr.dtype)
    dev = np.abs(np.sum(arr, axis=-1, dtype=np.float64) - 1.0)
    if np.any(dev > tol):
        i = int(np.argmax(dev))
        raise ValueError(f"{name} rows must sum to 1 (within {tol:.1e}), "
                         f"got row {i} summing to "
                         f"{float(np.sum(arr[i], dtype=np.float64)):.6g}")


def _as_class_target(target, rows: np.ndarray, rows_name: str):
    """Validate a classification target against an ``(N, C)`` array.

    Returns ``("labels", int64 array (N,))`` for integer class labels or
    ``("probs", array (N, C) in the dtype of rows)`` for a probability
    (e.g. one-hot) matrix.
    """
    if target is None or isinstance(target, (str, bytes)):
        raise TypeError("target must be integer labels (N,) or a probability matrix "
                        f"(N, C), got {type(target).__name__}")
    N, C = rows.shape
    t = np.asarray(target)
    if t.ndim == 1:
        if t.shape[0] != N:
            raise ValueError(f"{rows_name} and target must have the same batch size, "
                             f"got {N} rows in {rows_name} and {t.shape[0]} labels "
                             f"in target")
        return "labels", as_labels(t, "target", n=N, num_classes=C)
    if t.ndim == 2:
        y = as_float_array(t, "target", ndim=2)
        check_same_shape(rows, rows_name, y, "target")
        _check_unit_interval(y, "target", "probabilities")
        _check_rows_sum_to_one(y, "target")
        return "probs", y.astype(rows.dtype, copy=False)
    raise ValueError("target must be integer labels of shape (N,) or a probability "
                     f"matrix of shape (N, C) = {rows.shape}, got shape {t.shape}")


def _mean(values: np.ndarray) -> float:
    """Mean accumulated in float64, as a Python float."""
    return float(np.mean(values, dtype=np.float64))


# --------------------------------------------------------------------------
# Classification losses
# --------------------------------------------------------------------------

def cross_entropy_loss(logits, target):
    """Softmax cross-entropy (交叉熵损失) from logits, and its gradient.

    With :math:`p = \\operatorname{softmax}(z)` row by row and a target
    distribution :math:`y` (one-hot for class labels),

    .. math::

        L = -\\frac1N \\sum_{i=1}^{N} \\sum_{c=1}^{C} y_{ic} \\log p_{ic}, \\qquad
        \\frac{\\partial L}{\\partial z_{ic}} = \\frac{p_{ic} - y_{ic}}{N}.

    The gradient is the softmax Jacobian contracted with
    :math:`-y / (N p)`; every :math:`1/p` cancels (see
    :func:`companion.functional.softmax_ops.softmax_backward`). The value uses
    :math:`\\log p = ` :func:`companion.functional.softmax_ops.log_softmax`, so it is
    finite and exact for any finite logits (magnitude :math:`10^4` included), where
    ``-log(softmax(z))`` would give ``inf``; the only exception is a target
    class whose logit lies more than the largest float (about 1.8e308, 3.4e38
    in float32) below the row's maximum, whose true loss exceeds the float
    range: the value is then ``inf`` (never NaN), the gradient still exact.
    This is PyTorch's ``CrossEntropyLoss()`` (which also takes logits, not
    probabilities), the loss of document 2's LeNet-5, and document 1's
    formula in §3.1.1.

    Parameters
    ----------
    logits : array_like, shape ``(N, C)``
        Unnormalized scores :math:`z`, finite, ``N >= 1``, ``C >= 1``.
    target : array_like, shape ``(N,)`` or ``(N, C)``
        Either integer class labels in ``[0, C)`` (an integer dtype), or a
        probability matrix (one-hot, or soft labels): entries in ``[0, 1]``,
        rows summing to 1 within ``sqrt(eps)`` of its dtype.

    Returns
    -------
    value : float
        The mean cross-entropy, :math:`\\ge 0`.
    grad : ndarray, shape ``(N, C)``, dtype of ``logits``
        :math:`(p - y) / N`.

    See Also
    --------
    log_loss : the same quantity from probabilities instead of logits.
    """
    logits = as_batch(logits, "logits", ndim=2)
    N, C = logits.shape
    if C == 0:
        raise ValueError(f"logits must have at least one class, "
                         f"got shape {logits.shape}")
    kind, y = _as_class_target(target, logits, "logits")
    log_p = log_softmax(logits, axis=-1)
    grad = np.exp(log_p)                                  # p = softmax(logits)
    if kind == "labels":
        rows = np.arange(N)
        # 0.0 - : no -0.0
        value = 0.0 - float(np.sum(log_p[rows, y], dtype=np.float64)) / N
        grad[rows, y] -= 1
    else:
        # y * log p, with 0 * log p = 0 where y = 0 (the convention 0 log 0 = 0):
        # a log-probability of -inf, beyond the float range, must not give NaN
        terms = np.multiply(y, log_p, out=np.zeros_like(log_p), where=y > 0)
        value = 0.0 - float(np.sum(terms, dtype=np.float64)) / N
        grad -= y
    grad /= N
    return value, grad


def binary_cross_entropy_loss(logits, target):
    """Binary cross-entropy from logits (logistic loss, 对数似然损失), and its
    gradient.

    For a logit :math:`z` (the model predicts :math:`\\sigma(z) = 1/(1+e^{-z})`
    for the positive class) and a target :math:`t \\in [0, 1]`,

    .. math::

        \\ell(z, t) = -t\\log\\sigma(z) - (1-t)\\log(1-\\sigma(z))
                   = \\max(z, 0) - t z + \\log\\bigl(1 + e^{-|z|}\\bigr),

    :math:`L = \\frac1n \\sum_k \\ell(z_k, t_k)` and
    :math:`\\partial L / \\partial z_k = (\\sigma(z_k) - t_k) / n`.

    This is the *logistic loss* of the source documents' appendix
    (对数似然损失): the negative log-likelihood of a Bernoulli model, i.e.
    the two-class cross-entropy. With ``C = 2`` logits ``[0, z]`` the softmax
    gives ``[1 - sigma(z), sigma(z)]``, so it equals
    :func:`cross_entropy_loss` (and :func:`log_loss` on those
    probabilities). The right-hand form is evaluated as written: the
    exponent is never positive, so nothing overflows, and
    :math:`\\log(1 + e^{-|z|})` is computed with ``log1p`` for accuracy; the
    textbook ``-log(sigmoid(z))`` gives ``inf`` once :math:`\\sigma(z)` rounds
    to 0 or 1. This is PyTorch's ``BCEWithLogitsLoss()``.

    Parameters
    ----------
    logits : array_like, shape ``(N, ...)``
        Logits :math:`z`, finite, at least one element.
    target : array_like, shape of ``logits``
        Targets :math:`t \\in [0, 1]` (labels 0/1 or soft targets); converted to
        the dtype of ``logits``.

    Returns
    -------
    value : float
    grad : ndarray, shape and dtype of ``logits``
        :math:`(\\sigma(z) - t) / n`.
    """
    z = as_batch(logits, "logits")
    t = as_target_like(target, z, "logits")
    _check_unit_interval(t, "target", "probabilities (or 0/1 labels)")
    soft = np.log1p(np.exp(-np.abs(z)))                  # log(1 + e^{-|z|})
    values = np.maximum(z, 0) - t * z + soft
    # stable sigmoid: e^{min(z,0)} / (1 + e^{-|z|}), both exponents <= 0
    sigma = np.exp(np.minimum(z, 0)) / (1 + np.exp(-np.abs(z)))
    grad = (sigma - t) / z.size
    return _mean(values), grad.astype(z.dtype, copy=False)


def log_loss(probs, target, eps="auto"):
    """Log loss (对数损失) from predicted probabilities, and its gradient.

    The negative log-likelihood of the targets under the predicted
    probabilities, as scikit-learn's ``sklearn.metrics.log_loss`` defines it:

    .. math::

        L = -\\frac1N \\sum_{i=1}^{N} \\sum_{c=1}^{C} y_{ic} \\log \\tilde p_{ic},
        \\qquad \\tilde p = \\operatorname{clip}(p, \\varepsilon, 1 - \\varepsilon),

    .. math::

        \\frac{\\partial L}{\\partial p_{ic}} = -\\frac{y_{ic}}{N\\,p_{ic}}
        \\quad (\\text{0 where } p_{ic} \\text{ was clipped}).

    **It is the cross-entropy.** For probabilities ``p = softmax(z)`` that are
    not clipped, ``log_loss(p, y)`` and ``cross_entropy_loss(z, y)`` are the same
    number, for two classes or a thousand; chaining this gradient through the
    softmax (:func:`companion.functional.softmax_ops.softmax_backward`) gives exactly
    ``cross_entropy_loss``'s :math:`(p - y)/N`. The difference is numerical
    only: from probabilities, a class probability that rounded to 0 must be
    clipped (its loss saturates at :math:`-\\log\\varepsilon \\approx 36`
    in float64); from logits nothing is lost. Train with
    :func:`cross_entropy_loss`; use this to score a model that outputs
    probabilities. With two columns ``[1 - s, s]`` it is the logistic loss
    (:func:`binary_cross_entropy_loss` of the logit of ``s``).

    Parameters
    ----------
    probs : array_like, shape ``(N, C)``
        Predicted probabilities: entries in ``[0, 1]``, each row summing to 1
        within ``sqrt(eps)`` of the dtype (``N >= 1``, ``C >= 1``).
    target : array_like, shape ``(N,)`` or ``(N, C)``
        Integer class labels in ``[0, C)`` or a probability (e.g. one-hot)
        matrix, as for :func:`cross_entropy_loss`.
    eps : float or "auto", default "auto"
        Clipping bound, ``0 < eps < 0.5``. ``"auto"`` uses the machine epsilon
        of the dtype of ``probs`` (scikit-learn's rule since version 1.2):
        2.2e-16 for float64, 1.2e-7 for float32.

    Returns
    -------
    value : float
    grad : ndarray, shape ``(N, C)``, dtype of ``probs``
        :math:`\\partial L / \\partial p`.
    """
    probs = as_batch(probs, "probs", ndim=2)
    N, C = probs.shape
    if C == 0:
        raise ValueError(f"probs must have at least one class, got shape {probs.shape}")
    _check_unit_interval(probs, "probs", "probabilities")
    _check_rows_sum_to_one(probs, "probs")
    if isinstance(eps, str) and eps == "auto":
        eps = float(np.finfo(probs.dtype).eps)
    else:
        eps = as_positive_real(eps, "eps")
        if not eps < 0.5:
            raise ValueError(f"eps must lie in (0, 0.5), got {eps!r}")
    kind, y = _as_class_target(target, probs, "probs")
    return _nll_of_probabilities(probs, kind, y, eps)


def _nll_of_probabilities(probs, kind, y, eps):
    """The computation of :func:`log_loss` on validated arguments: ``(value, grad)``.

    ``kind`` and ``y`` come from :func:`_as_class_target`. Kept apart so that
    tests can difference it entry by entry, off the probability simplex.
    """
    N = probs.shape[0]
    clipped = np.clip(probs, eps, 1 - eps)
    inside = (probs >= eps) & (probs <= 1 - eps)  # where clip passes the gradient
    grad = np.zeros_like(probs)
    if kind == "labels":
        rows = np.arange(N)
        p_true = clipped[rows, y]
        value = -float(np.sum(np.log(p_true), dtype=np.float64)) / N
        grad[rows, y] = np.where(inside[rows, y], -1.0 / (N * p_true), 0.0)
    else:
        value = -float(np.sum(y * np.log(clipped), dtype=np.float64)) / N
        grad[...] = np.where(inside, -y / (N * clipped), 0.0)
    return value, grad
