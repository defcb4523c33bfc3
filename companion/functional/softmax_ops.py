"""Softmax (归一化指数函数), its logarithm, its Jacobian and its backward pass.

The softmax turns a vector of logits :math:`z \\in \\mathbb{R}^C` into a
probability vector:

.. math::

    p_i = \\operatorname{softmax}(z)_i = \\frac{e^{z_i}}{\\sum_{k=1}^{C} e^{z_k}},
    \\qquad
    \\log p_i = z_i - \\log \\sum_{k=1}^{C} e^{z_k}.

**Stability.** ``exp`` overflows for :math:`z \\gtrsim 709.8` (float64) or
:math:`88.7` (float32). Softmax is unchanged when a constant is added to every
logit, so both functions shift by :math:`m = \\max_k z_k` first:
:math:`p_i = e^{z_i - m} / \\sum_k e^{z_k - m}` and
:math:`\\log p_i = (z_i - m) - \\log \\sum_k e^{z_k - m}` (the log-sum-exp
trick). Every exponent is then :math:`\\le 0` and the sum is :math:`\\ge 1`, so
nothing overflows and the logarithm never sees 0: logits of magnitude
:math:`10^4` give exact probabilities and finite log-probabilities.

**Jacobian.** Differentiating :math:`p_i` with respect to :math:`z_j`,

.. math::

    \\frac{\\partial p_i}{\\partial z_j} = p_i(\\delta_{ij} - p_j),
    \\qquad J = \\operatorname{diag}(p) - p\\,p^{\\top},

a symmetric :math:`C \\times C` matrix whose rows and columns sum to 0 (the
probabilities always sum to 1). Its diagonal :math:`p_i(1 - p_i)` has the form
of the sigmoid's derivative; the off-diagonal terms :math:`-p_i p_j` couple the
classes and are *not* zero.

**Backward pass.** Backpropagation never builds :math:`J`: given the upstream
gradient :math:`v = \\partial L / \\partial p`, the gradient with respect to the
logits is the vector-Jacobian product

.. math::

    \\frac{\\partial L}{\\partial z} = J^{\\top} v
    = p \\odot \\bigl(v - (v \\cdot p)\\,\\mathbf{1}\\bigr),

:math:`O(C)` work instead of :math:`O(C^2)` (:func:`softmax_backward`).

**Layer convention.** As every layer of the package, softmax is a pair
``softmax_forward(z) -> (p, cache)`` and ``softmax_backward(dout, cache) -> dz``
(``dout`` is :math:`v`, the cache a :class:`SoftmaxCache` holding ``p``)::

    p, cache = softmax_forward(z)
    dz = softmax_backward(dout, cache)

:func:`softmax` is the plain function (any class axis) for when no backward
pass follows. To backpropagate through probabilities computed elsewhere, wrap
them: ``softmax_backward(dout, SoftmaxCache(p))``. (Before this convention
``softmax_backward`` took ``(dp, p)``; passing an array as the cache now raises
``TypeError`` saying so, rather than guessing.)

The functions are NumPy expressions over whole arrays (vectorized; no Numba
kernel is needed for this cost). Dtypes: float32 and float64 are kept; integer
or boolean input is converted to float64. Inputs are never modified.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from companion._validate import as_float_array, check_same_shape, row_sum_tolerance

__all__ = ["softmax", "log_softmax", "softmax_jacobian", "SoftmaxCache",
           "softmax_forward", "softmax_backward"]


class SoftmaxCache(NamedTuple):
    """What :func:`softmax_backward` needs from :func:`softmax_forward`.

    Attributes
    ----------
    p : ndarray, shape ``(C,)`` or ``(N, C)``
        The softmax output (each row a probability vector).
    """

    p: np.ndarray


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def _as_logits(z, name: str = "z", ndim=None) -> np.ndarray:
    """Validate logits: finite floats with at least one dimension."""
    arr = as_float_array(z, name, ndim=ndim)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least 1 dimension (the classes), "
                         f"got a scalar")
    return arr


def _as_axis(axis, arr: np.ndarray, name: str) -> int:
    """Validate ``axis`` against ``arr`` (which must be non-empty along it);
    return it >= 0."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer, got {axis!r}")
    axis = int(axis)
    if not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis must lie in [{-arr.ndim}, {arr.ndim}) for {name} of "
                         f"shape {arr.shape}, got {axis}")
    axis %= arr.ndim
    if arr.shape[axis] == 0:
        raise ValueError(f"{name} must have at least one class along axis {axis}, "
                         f"got shape {arr.shape}")
    return axis


def _shifted(z: np.ndarray, axis: int) -> np.ndarray:
    """``z - max(z, axis)``: every entry <= 0, the largest exactly 0 (a new array).

    A logit more than the largest float (about 1.8e308 in float64, 3.4e38 in
    float32) below its row's maximum gives ``-inf`` here, the correctly rounded
    difference; its ``exp`` is exactly 0, the right probability. That overflow
    is expected, so NumPy's warning about it is silenced.
    """
    with np.errstate(over="ignore"):
        return z - np.max(z, axis=axis, keepdims=True)


# --------------------------------------------------------------------------
# Softmax and log-softmax
# --------------------------------------------------------------------------

def softmax(z, axis=-1):
    """Numerically stable softmax along ``axis``.

    .. math:: p_i = \\frac{e^{z_i - m}}{\\sum_k e^{z_k - m}}, \\qquad m = \\max_k z_k.

    Parameters
    ----------
    z : array_like, shape ``(..., C, ...)``
        Logits, finite; at least one dimension and at least one class along
        ``axis``. float32/float64 kept, integers converted to float64.
    axis : int, default -1
        The class axis.

    Returns
    -------
    p : ndarray, shape of ``z``, dtype of ``z``
        Probabilities in ``[0, 1]`` that sum to 1 along ``axis``. No overflow
        and no NaN for any finite logits (magnitude ``1e4`` included).
    """
    z = _as_logits(z)
    axis = _as_axis(axis, z, "z")
    e = np.exp(_shifted(z, axis))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(z, axis=-1):
    """Numerically stable log-softmax (log-sum-exp trick) along ``axis``.

    .. math::

        \\log p_i = (z_i - m) - \\log \\sum_k e^{z_k - m},
        \\qquad m = \\max_k z_k.

    Computing ``np.log(softmax(z))`` instead would return ``-inf`` wherever a
    probability underflows to 0 (logit gaps beyond about 745 in float64); this
    form stays finite and exact.

    Parameters
    ----------
    z : array_like, shape ``(..., C, ...)``
        Logits, finite. float32/float64 kept, integers converted to float64.
    axis : int, default -1
        The class axis.

    Returns
    -------
    log_p : ndarray, shape of ``z``, dtype of ``z``
        Log-probabilities, all ``<= 0``; finite, except ``-inf`` for a logit
        lying more than the largest float (about 1.8e308 in float64, 3.4e38
        in float32) below its row's maximum, whose true log-probability is
        below the float range. Never NaN.
    """
    z = _as_logits(z)
    axis = _as_axis(axis, z, "z")
    s = _shifted(z, axis)
    # the sum is >= 1 (the largest term is e^0), so its log is finite and >= 0
    s -= np.log(np.sum(np.exp(s), axis=axis, keepdims=True))
    return s


# --------------------------------------------------------------------------
# Jacobian and backward pass
# --------------------------------------------------------------------------

def softmax_jacobian(z):
    """The softmax Jacobian
    :math:`J_{ij} = \\partial p_i / \\partial z_j = p_i(\\delta_{ij} - p_j)`.

    In matrix form :math:`J = \\operatorname{diag}(p) - p\\,p^{\\top}`: symmetric,
    every row and column sums to 0. Built explicitly for teaching and testing;
    backpropagation uses :func:`softmax_backward`, which never forms it.

    Parameters
    ----------
    z : array_like, shape ``(C,)`` or ``(N, C)``
        Logits (one vector, or a batch of ``N`` vectors), finite.

    Returns
    -------
    J : ndarray, shape ``(C, C)`` or ``(N, C, C)``, dtype of ``z``
        ``J[..., i, j] = p_i (delta_ij - p_j)`` with ``p = softmax(z)``.
    """
    z = _as_logits(z, ndim=(1, 2))
    p = softmax(z, axis=-1)
    C = p.shape[-1]
    # -p_i p_j: products of the same two numbers, so J is exactly symmetric
    J = -p[..., :, None] * p[..., None, :]
    diag = np.arange(C)
    J[..., diag, diag] += p
    return J


def softmax_forward(z):
    """Forward pass of softmax as a layer: ``(p, cache)`` for :func:`softmax_backward`.

    Parameters
    ----------
    z : array_like, shape ``(C,)`` or ``(N, C)``
        Logits (one vector, or a batch of ``N`` rows), finite; the classes
        are the last axis. float32/float64 kept, integers converted to float64.

    Returns
    -------
    p : ndarray, shape and dtype of ``z``
        ``softmax(z, axis=-1)``.
    cache : SoftmaxCache
        Holds ``p`` (the backward pass needs only the output).
    """
    z = _as_logits(z, ndim=(1, 2))
    p = softmax(z, axis=-1)
    return p, SoftmaxCache(p)


def softmax_backward(dout, cache: SoftmaxCache):
    """Backward pass of softmax: the vector-Jacobian product :math:`J^{\\top} v`.

    Given the upstream gradient ``dout`` :math:`= v = \\partial L / \\partial p`
    and the cache of :func:`softmax_forward` (which holds ``p``), returns

    .. math::

        \\frac{\\partial L}{\\partial z_j}
        = \\sum_i v_i \\frac{\\partial p_i}{\\partial z_j}
        = p_j \\Bigl(v_j - \\sum_i v_i p_i\\Bigr),

    row by row, in :math:`O(C)` work and memory: the :math:`C \\times C`
    Jacobian is never built. In automatic-differentiation terms this is the
    *vector-Jacobian product* (VJP, reverse mode). Because :math:`J` is
    symmetric it equals the Jacobian-vector product (JVP, forward mode)
    :math:`J v` as well, so the same function pushes a tangent ``dz``
    forward: ``softmax_backward(dz, cache)`` is ``J @ dz``.

    Parameters
    ----------
    dout : array_like, shape ``(C,)`` or ``(N, C)``
        Upstream gradient :math:`\\partial L / \\partial p`, finite, same shape
        and dtype as ``p``. Never modified.
    cache : SoftmaxCache
        From :func:`softmax_forward`; or ``SoftmaxCache(p)`` for probabilities
        computed elsewhere (rows with entries in ``[0, 1]`` summing to 1
        within ``sqrt(eps)`` of the dtype; checked).

    Returns
    -------
    dz : ndarray, shape and dtype of ``p``
        :math:`\\partial L / \\partial z = p \\odot (v - \\langle v, p\\rangle)`.

    Raises
    ------
    TypeError
        ``cache`` is not a :class:`SoftmaxCache` (e.g. the old call
        ``softmax_backward(dp, p)`` with an array ``p``); non-numeric ``dout``.
    ValueError
        Shapes or dtypes that differ, non-finite values, ``p`` not a softmax
        output.
    """
    if not isinstance(cache, SoftmaxCache):
        raise TypeError("cache must be the SoftmaxCache returned by softmax_forward "
                        "(or SoftmaxCache(p) for probabilities p), "
                        f"got {type(cache).__name__}; softmax_backward(dp, p) is now "
                        "softmax_backward(dp, SoftmaxCache(p))")
    p = as_float_array(cache.p, "p", ndim=(1, 2))
    dout = as_float_array(dout, "dout", ndim=(1, 2))
    check_same_shape(dout, "dout", p, "p")
    if dout.dtype != p.dtype:
        raise ValueError(f"dout must have the dtype of p ({p.dtype}), "
                         f"got {dout.dtype}; convert it with .astype(...)")
    _check_probabilities(p)
    inner = np.sum(dout * p, axis=-1, keepdims=True)      # <v, p> per row
    return p * (dout - inner)


def _check_probabilities(p: np.ndarray) -> None:
    """``p`` must look like a softmax output: rows in ``[0, 1]`` summing to 1."""
    if p.shape[-1] == 0:
        raise ValueError(f"p must have at least one class, got shape {p.shape}")
    if np.any(p < 0) or np.any(p > 1):
        raise ValueError("p must be a softmax output with entries in [0, 1], "
                         f"got values from {p.min()} to {p.max()}")
    tol = row_sum_tolerance(p.dtype)
    dev = np.abs(np.sum(p, axis=-1, dtype=np.float64) - 1.0)
    if np.any(dev > tol):
        raise ValueError(f"p must be a softmax output whose rows sum to 1 "
                         f"(within {tol:.1e}), got a row off by "
                         f"{float(np.max(dev)):.3g}")
