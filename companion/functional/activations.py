"""Activation functions (激活函数): ReLU, leaky ReLU, sigmoid, tanh.

Each activation :math:`f` acts elementwise on an array of any shape, so its
backward pass is an elementwise product with the local derivative:

.. math::

    \\text{out} = f(x), \\qquad
    \\frac{\\partial L}{\\partial x} = \\frac{\\partial L}{\\partial\\,\\text{out}}
    \\odot f'(x).

===============  ==============================================  =============================
activation       :math:`f(x)`                                    :math:`f'(x)`
===============  ==============================================  =============================
ReLU             :math:`\\max(x, 0)`                              1 if :math:`x > 0`, else 0
leaky ReLU       :math:`x` if :math:`x > 0`, else :math:`a x`     1 if :math:`x > 0`, else :math:`a`
sigmoid          :math:`\\sigma(x) = 1 / (1 + e^{-x})`            :math:`\\sigma(x)(1 - \\sigma(x))`
tanh             :math:`\\tanh x`                                 :math:`1 - \\tanh^2 x`
===============  ==============================================  =============================

**The kink at 0.** ReLU is not differentiable at :math:`x = 0`; any value in
:math:`[0, 1]` is a valid subgradient. This package uses **0** there, as
PyTorch does (``relu_backward`` passes the gradient only where ``x > 0``).
Leaky ReLU likewise uses the left slope :math:`a` at exactly 0.

**Stable sigmoid.** :math:`1 / (1 + e^{-x})` overflows ``exp`` for
:math:`x \\lesssim -710` (float64) or :math:`-89` (float32) and NumPy warns.
The form used here,

.. math::

    \\sigma(x) = \\frac{e^{\\min(x, 0)}}{1 + e^{-|x|}},

equals :math:`1/(1+e^{-x})` for :math:`x \\ge 0` and :math:`e^{x}/(1+e^{x})`
for :math:`x < 0`; both exponents are :math:`\\le 0`, so nothing overflows and
tiny values such as :math:`\\sigma(-40) \\approx 4 \\times 10^{-18}` keep full
relative precision.

**What runs where.** Each backward pass, and the ReLU forward passes, are
Numba loops that read the input once and write the output once (NumPy's
``dout * (x > 0)`` makes a temporary boolean array and a second pass); the
ReLU loops also count the NaN and infinite values they read, so that their
input needs no separate pass to be checked. The
sigmoid and tanh forward passes stay NumPy ufunc expressions: NumPy evaluates
``exp`` and ``tanh`` with SIMD instructions, while a Numba loop calls the
scalar C library function per element: on ``(64, 6, 28, 28)`` arrays it was
measured 3x (sigmoid) and 50x (tanh) slower. (Numba vectorizes transcendental
functions only with Intel's SVML library, which this package does not
require.) The kernels are ``prange`` loops, run on the calling thread below
about a million elements (:func:`~companion._threads.threads_for`; waking the
pool costs more than the loop saves below that): each element is
computed alone, so the result does not depend on the number of threads. On
the ``(64, 32, 32, 32)`` float32 activations of the 32x32x3 network, two
threads took the ReLU forward loop from 0.48 to 0.22 ms and the backward loop
from 1.05 to 0.42 ms (2 cores, AVX2).

Dtypes: float32 and float64 are kept; integer or boolean input is converted to
float64. ``dout`` must have the dtype and the shape of the forward output.
Inputs are never modified; every function returns new arrays.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from companion._threads import apply_thread_policy, threads_for
from companion._validate import as_float_array, check_nonfinite_count

apply_thread_policy()       # idle prange workers sleep (see companion._threads)

__all__ = [
    "ReluCache", "relu_forward", "relu_backward",
    "LeakyReluCache", "leaky_relu_forward", "leaky_relu_backward",
    "SigmoidCache", "sigmoid_forward", "sigmoid_backward",
    "TanhCache", "tanh_forward", "tanh_backward",
]


class ReluCache(NamedTuple):
    """Cache of :func:`relu_forward`: the input ``x`` (any shape)."""

    x: np.ndarray


class LeakyReluCache(NamedTuple):
    """Cache of :func:`leaky_relu_forward`: the input ``x`` and the slope used for ``x <= 0``."""

    x: np.ndarray
    negative_slope: float


class SigmoidCache(NamedTuple):
    """Cache of :func:`sigmoid_forward`: the output :math:`\\sigma(x)`.

    It is all the backward pass needs, since :math:`\\sigma' = \\sigma(1-\\sigma)`.
    """

    out: np.ndarray


class TanhCache(NamedTuple):
    """Cache of :func:`tanh_forward`: the output :math:`\\tanh x`.

    It is all the backward pass needs, since :math:`\\tanh' = 1 - \\tanh^2`.
    """

    out: np.ndarray


# --------------------------------------------------------------------------
# Numba kernels: 1-D loops over the flattened (C-contiguous) arrays.
# The wrappers validate every argument and allocate the outputs first.
# --------------------------------------------------------------------------

@njit(cache=True, parallel=True)
def _relu_forward_kernel(x, out):
    bad = 0                                     # NaN or infinity found in x
    for i in prange(x.size):
        out[i] = x[i] if x[i] > 0.0 else 0.0
        if not np.isfinite(x[i]):
            bad += 1
    return bad


@njit(cache=True, parallel=True)
def _relu_backward_kernel(dout, x, dx):
    bad = 0                                     # NaN or infinity found in dout
    for i in prange(x.size):
        # subgradient 0 at x == 0, as PyTorch
        dx[i] = dout[i] if x[i] > 0.0 else 0.0
        if not np.isfinite(dout[i]):
            bad += 1
    return bad


@njit(cache=True, parallel=True)
def _leaky_relu_forward_kernel(x, negative_slope, out):
    bad = 0
    for i in prange(x.size):
        out[i] = x[i] if x[i] > 0.0 else negative_slope * x[i]
        if not np.isfinite(x[i]):
            bad += 1
    return bad


@njit(cache=True, parallel=True)
def _leaky_relu_backward_kernel(dout, x, negative_slope, dx):
    bad = 0
    for i in prange(x.size):
        dx[i] = dout[i] if x[i] > 0.0 else negative_slope * dout[i]
        if not np.isfinite(dout[i]):
            bad += 1
    return bad


@njit(cache=True, parallel=True)
def _sigmoid_backward_kernel(dout, out, dx):
    for i in prange(out.size):
        s = out[i]
        dx[i] = dout[i] * s * (1.0 - s)


@njit(cache=True, parallel=True)
def _tanh_backward_kernel(dout, out, dx):
    for i in prange(out.size):
        t = out[i]
        dx[i] = dout[i] * (1.0 - t * t)


# --------------------------------------------------------------------------
# Helpers of the wrappers
# --------------------------------------------------------------------------

# threads_for weighs work in units of about a nanosecond of one core; an
# elementwise loop does about 4 elements in that time (ReLU on 2M float32
# values: 0.48 ms on one core), so the pool is woken from about 1M elements on.
_ELEMENTS_PER_WORK = 4


def _as_input(x, *, finite: bool = True) -> np.ndarray:
    """Validate ``x`` (any shape) and return it C-contiguous, shape unchanged.

    ``finite=False`` leaves NaN and infinity to a kernel that counts them.
    """
    shape = np.shape(x)
    # as_float_array(contiguous=True) turns a 0-d array into shape (1,): restore it
    return as_float_array(x, "x", contiguous=True, finite=finite).reshape(shape)


def _as_upstream(dout, like: np.ndarray, forward: str, *, finite: bool = True) -> np.ndarray:
    """Validate ``dout`` against the cached forward array ``like``: same shape, same dtype.

    ``finite=False`` leaves NaN and infinity to a kernel that counts them.
    """
    shape = np.shape(dout)
    dout = as_float_array(dout, "dout", contiguous=True, finite=finite).reshape(shape)
    if dout.shape != like.shape:
        raise ValueError(f"dout must have the shape of the {forward} output {like.shape}, "
                         f"got {dout.shape}")
    if dout.dtype != like.dtype:
        raise ValueError(f"dout must have the dtype of the {forward} output ({like.dtype}), "
                         f"got {dout.dtype}; convert it with .astype(...)")
    return dout


def _check_cache(cache, cls, forward: str) -> None:
    if not isinstance(cache, cls):
        raise TypeError(f"cache must be the {cls.__name__} returned by {forward}, "
                        f"got {type(cache).__name__}")


def _as_slope(value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"negative_slope must be a real number, got {value!r}")
    v = float(value)
    if not (np.isfinite(v) and v >= 0.0):
        raise ValueError(f"negative_slope must be a finite number >= 0, got {value!r}")
    return v


def _flat(a: np.ndarray) -> np.ndarray:
    """1-D view of a C-contiguous array (no copy)."""
    return a.reshape(-1)


# --------------------------------------------------------------------------
# ReLU
# --------------------------------------------------------------------------

def relu_forward(x):
    """ReLU forward: ``out = max(x, 0)`` elementwise.

    Parameters
    ----------
    x : array_like, any shape
        Input; float32/float64 kept, integers converted to float64.

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : ReluCache
        ``(x,)`` for :func:`relu_backward`.
    """
    x = _as_input(x, finite=False)      # the kernel counts NaN and infinity
    out = np.empty_like(x)
    with threads_for(x.size // _ELEMENTS_PER_WORK):
        bad = _relu_forward_kernel(_flat(x), _flat(out))
    check_nonfinite_count(bad, "x")
    return out, ReluCache(x)


def relu_backward(dout, cache: ReluCache):
    """ReLU backward: ``dx = dout`` where ``x > 0``, else 0.

    At ``x == 0`` the subgradient 0 is used (as in PyTorch).

    Parameters
    ----------
    dout : array_like, shape of ``x``
        Upstream gradient, in the dtype of the forward pass.
    cache : ReluCache
        From :func:`relu_forward`.

    Returns
    -------
    dx : ndarray, shape of ``x``
        :math:`\\delta \\odot \\mathbb{1}[x > 0]`.
    """
    _check_cache(cache, ReluCache, "relu_forward")
    x = cache.x
    dout = _as_upstream(dout, x, "relu_forward", finite=False)  # counted by the kernel
    dx = np.empty_like(x)
    with threads_for(dout.size // _ELEMENTS_PER_WORK):
        bad = _relu_backward_kernel(_flat(dout), _flat(x), _flat(dx))
    check_nonfinite_count(bad, "dout")
    return dx


# --------------------------------------------------------------------------
# Leaky ReLU
# --------------------------------------------------------------------------

def leaky_relu_forward(x, negative_slope=0.01):
    """Leaky ReLU forward: ``out = x`` where ``x > 0``, else ``negative_slope * x``.

    Parameters
    ----------
    x : array_like, any shape
        Input; float32/float64 kept, integers converted to float64.
    negative_slope : float, default 0.01
        The slope :math:`a \\ge 0` for ``x <= 0`` (PyTorch's default). ``0``
        gives ReLU, ``1`` the identity.

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : LeakyReluCache
        ``(x, negative_slope)`` for :func:`leaky_relu_backward`.
    """
    x = _as_input(x, finite=False)      # the kernel counts NaN and infinity
    slope = _as_slope(negative_slope)
    out = np.empty_like(x)
    with threads_for(x.size // _ELEMENTS_PER_WORK):
        bad = _leaky_relu_forward_kernel(_flat(x), slope, _flat(out))
    check_nonfinite_count(bad, "x")
    return out, LeakyReluCache(x, slope)


def leaky_relu_backward(dout, cache: LeakyReluCache):
    """Leaky ReLU backward: ``dx = dout`` where ``x > 0``, else ``negative_slope * dout``.

    At ``x == 0`` the left slope ``negative_slope`` is used (as in PyTorch).

    Returns
    -------
    dx : ndarray, shape of ``x``
    """
    _check_cache(cache, LeakyReluCache, "leaky_relu_forward")
    x = cache.x
    slope = _as_slope(cache.negative_slope)
    dout = _as_upstream(dout, x, "leaky_relu_forward", finite=False)  # counted below
    dx = np.empty_like(x)
    with threads_for(dout.size // _ELEMENTS_PER_WORK):
        bad = _leaky_relu_backward_kernel(_flat(dout), _flat(x), slope, _flat(dx))
    check_nonfinite_count(bad, "dout")
    return dx


# --------------------------------------------------------------------------
# Sigmoid
# --------------------------------------------------------------------------

def sigmoid_forward(x):
    """Numerically stable logistic sigmoid: ``out = 1 / (1 + exp(-x))``.

    Computed as ``exp(min(x, 0)) / (1 + exp(-|x|))`` (see the module
    docstring): no overflow and no warning for any finite ``x``, and full
    relative precision for very negative ``x``.

    Parameters
    ----------
    x : array_like, any shape
        Input; float32/float64 kept, integers converted to float64.

    Returns
    -------
    out : ndarray, shape of ``x``, values in ``[0, 1]``
    cache : SigmoidCache
        ``(out,)`` for :func:`sigmoid_backward`.
    """
    x = _as_input(x)
    # exp(min(x, 0)) / (1 + exp(-|x|)), evaluated in place in two buffers:
    # fresh temporaries for every step made float64 input twice as slow
    out = np.minimum(x, 0, out=np.empty_like(x))
    np.exp(out, out=out)                       # numerator e^{min(x, 0)}
    denom = np.abs(x, out=np.empty_like(x))
    np.negative(denom, out=denom)
    np.exp(denom, out=denom)
    denom += 1                                 # denominator 1 + e^{-|x|}
    out /= denom
    return out, SigmoidCache(out)


def sigmoid_backward(dout, cache: SigmoidCache):
    """Sigmoid backward: ``dx = dout * s * (1 - s)`` with ``s = sigmoid(x)`` from the cache.

    Returns
    -------
    dx : ndarray, shape of ``x``
    """
    _check_cache(cache, SigmoidCache, "sigmoid_forward")
    out = cache.out
    dout = _as_upstream(dout, out, "sigmoid_forward")
    dx = np.empty_like(out)
    with threads_for(dout.size // _ELEMENTS_PER_WORK):
        _sigmoid_backward_kernel(_flat(dout), _flat(out), _flat(dx))
    return dx


# --------------------------------------------------------------------------
# Tanh
# --------------------------------------------------------------------------

def tanh_forward(x):
    """Hyperbolic tangent forward: ``out = tanh(x)`` (NumPy's SIMD ``np.tanh``).

    Parameters
    ----------
    x : array_like, any shape
        Input; float32/float64 kept, integers converted to float64.

    Returns
    -------
    out : ndarray, shape of ``x``, values in ``[-1, 1]``
    cache : TanhCache
        ``(out,)`` for :func:`tanh_backward`.
    """
    x = _as_input(x)
    out = np.asarray(np.tanh(x))  # a 0-d input stays an array
    return out, TanhCache(out)


def tanh_backward(dout, cache: TanhCache):
    """Tanh backward: ``dx = dout * (1 - t**2)`` with ``t = tanh(x)`` from the cache.

    Returns
    -------
    dx : ndarray, shape of ``x``
    """
    _check_cache(cache, TanhCache, "tanh_forward")
    out = cache.out
    dout = _as_upstream(dout, out, "tanh_forward")
    dx = np.empty_like(out)
    with threads_for(dout.size // _ELEMENTS_PER_WORK):
        _tanh_backward_kernel(_flat(dout), _flat(out), _flat(dx))
    return dx
