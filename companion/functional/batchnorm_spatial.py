"""Batch normalization of feature maps ``(N, C, H, W)``: the per-channel kernels.

The spatial half of :mod:`companion.functional.batchnorm` (read the formulas
there); :func:`~companion.functional.batchnorm.batchnorm_forward` and
:func:`~companion.functional.batchnorm.batchnorm_backward` validate and
allocate, then call the three drivers of this module on arrays they trust:
:func:`spatial_train_forward`, :func:`spatial_eval_forward` and
:func:`spatial_backward` (public names so that the other module may call them;
they do no validation of their own).

The input is viewed as ``(N, C, L)``, ``L = H * W``. The work of one channel
is a function (:func:`_spatial_train_channel`, ...) that a kernel calls for
every channel with ``prange`` (one thread per channel); small arrays run on
the calling thread, as every kernel of the package does
(:func:`~companion._threads.threads_for`). Each channel is computed by one thread
with the same code in the same order, so the result is bit-identical whatever
the number of threads (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``). Sums
are accumulated in float64 whatever the dtype.
"""
from __future__ import annotations

import math

from numba import njit, prange

from companion._threads import apply_thread_policy, threads_for

apply_thread_policy()       # idle prange workers sleep (see companion._threads)

# The drivers are public names for companion.functional.batchnorm, not API: they
# are not re-exported by companion.functional.
__all__: list[str] = []


# --------------------------------------------------------------------------
# Spatial input (N, C, H, W), viewed as (N, C, L) with L = H * W. The math of
# one channel c is in a *_channel function; a kernel calls it for every
# channel (prange, one thread per channel), so the results are bit-identical
# whatever the number of threads.
# fastmath={"reassoc"} lets LLVM vectorize the sums over a channel (it
# reorders the additions into a few partial sums, a fixed order for a given
# L); measured 1.5-2.3x faster. NaN and infinity semantics are untouched.
# --------------------------------------------------------------------------

@njit(cache=True, fastmath={"reassoc"})
def _spatial_train_channel(x, c, gamma, beta, eps, out, xhat, mean, var, inv_std):
    N, _, L = x.shape
    m = N * L
    # batch mean of channel c
    total = 0.0
    for n in range(N):
        for l in range(L):
            total += x[n, c, l]
    mu = total / m
    # biased batch variance (two passes: no cancellation)
    total_sq = 0.0
    for n in range(N):
        for l in range(L):
            diff = x[n, c, l] - mu
            total_sq += diff * diff
    sigma2 = total_sq / m
    istd = 1.0 / math.sqrt(sigma2 + eps)
    # normalize, then scale and shift
    for n in range(N):
        for l in range(L):
            xh = (x[n, c, l] - mu) * istd
            xhat[n, c, l] = xh
            out[n, c, l] = gamma[c] * xh + beta[c]
    mean[c] = mu
    var[c] = sigma2
    inv_std[c] = istd


@njit(cache=True)
def _spatial_eval_channel(x, c, gamma, beta, mean, inv_std, out, xhat):
    N, _, L = x.shape
    for n in range(N):
        for l in range(L):
            xh = (x[n, c, l] - mean[c]) * inv_std[c]
            xhat[n, c, l] = xh
            out[n, c, l] = gamma[c] * xh + beta[c]


@njit(cache=True, fastmath={"reassoc"})
def _spatial_backward_channel(dout, xhat, c, gamma, inv_std, train, dx, dgamma, dbeta):
    N, _, L = dout.shape
    m = N * L
    sum_dout = 0.0
    sum_dout_xhat = 0.0
    for n in range(N):
        for l in range(L):
            sum_dout += dout[n, c, l]
            sum_dout_xhat += dout[n, c, l] * xhat[n, c, l]
    dbeta[c] = sum_dout
    dgamma[c] = sum_dout_xhat
    if train:
        # dxhat = gamma * dout; its sums follow from the two above
        sum_dxhat = gamma[c] * sum_dout
        sum_dxhat_xhat = gamma[c] * sum_dout_xhat
        for n in range(N):
            for l in range(L):
                dxhat = gamma[c] * dout[n, c, l]
                dx[n, c, l] = inv_std[c] / m * (
                    m * dxhat - sum_dxhat - xhat[n, c, l] * sum_dxhat_xhat)
    else:
        # evaluation mode: an affine map per channel
        for n in range(N):
            for l in range(L):
                dx[n, c, l] = gamma[c] * inv_std[c] * dout[n, c, l]


@njit(cache=True, parallel=True)
def _spatial_train(x, gamma, beta, eps, out, xhat, mean, var, inv_std):
    for c in prange(x.shape[1]):
        _spatial_train_channel(x, c, gamma, beta, eps, out, xhat, mean, var, inv_std)


@njit(cache=True, parallel=True)
def _spatial_eval(x, gamma, beta, mean, inv_std, out, xhat):
    for c in prange(x.shape[1]):
        _spatial_eval_channel(x, c, gamma, beta, mean, inv_std, out, xhat)


@njit(cache=True, parallel=True)
def _spatial_backward(dout, xhat, gamma, inv_std, train, dx, dgamma, dbeta):
    for c in prange(dout.shape[1]):
        _spatial_backward_channel(dout, xhat, c, gamma, inv_std, train, dx, dgamma, dbeta)


#: Units of work per element that the drivers pass to
#: :func:`companion._threads.threads_for` (about four operations per element):
#: from 2**16 elements on, the channels are shared by the pool's threads.
WORK_PER_ELEMENT = 4


# --------------------------------------------------------------------------
# Drivers called by companion.functional.batchnorm (arrays already validated)
# --------------------------------------------------------------------------

def _view(a):
    """``(N, C, H, W)`` -> ``(N, C, H*W)``, a view of a C-contiguous array."""
    N, C, H, W = a.shape
    return a.reshape(N, C, H * W)


def spatial_train_forward(x, gamma, beta, eps, out, xhat, mean, var, inv_std):
    """Training forward pass of ``(N, C, H, W)`` input, filling ``out``, ``xhat``
    ``(N, C, H, W)`` and ``mean``, ``var``, ``inv_std`` ``(C,)`` (no validation)."""
    with threads_for(WORK_PER_ELEMENT * x.size):
        _spatial_train(_view(x), gamma, beta, eps, _view(out), _view(xhat), mean, var,
                       inv_std)


def spatial_eval_forward(x, gamma, beta, mean, inv_std, out, xhat):
    """Evaluation forward pass with the given ``mean`` and ``inv_std``, filling
    ``out`` and ``xhat`` (no validation)."""
    with threads_for(WORK_PER_ELEMENT * x.size):
        _spatial_eval(_view(x), gamma, beta, mean, inv_std, _view(out), _view(xhat))


def spatial_backward(dout, xhat, gamma, inv_std, train, dx, dgamma, dbeta):
    """Backward pass, filling ``dx`` ``(N, C, H, W)``, ``dgamma`` and ``dbeta``
    ``(C,)`` (no validation; ``dout`` is only read)."""
    with threads_for(WORK_PER_ELEMENT * dout.size):
        _spatial_backward(_view(dout), _view(xhat), gamma, inv_std, train, _view(dx),
                          dgamma, dbeta)
