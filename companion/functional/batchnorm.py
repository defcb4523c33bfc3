"""Batch normalization (批归一化): forward and backward, dense and spatial.

Batch normalization standardizes every feature (dense input ``(N, D)``) or
every channel (feature maps ``(N, C, H, W)``, "spatial" batch norm) over the
values it takes in a batch, then applies a learned affine map. Write
:math:`x_i`, :math:`i = 1, \\dots, m`, for the values of one channel: the
``N`` entries of a column of ``(N, D)`` input (:math:`m = N`), or the
``N * H * W`` entries of one channel of ``(N, C, H, W)`` input
(:math:`m = NHW`). In training mode

.. math::

    \\mu = \\frac{1}{m}\\sum_i x_i, \\qquad
    \\sigma^2 = \\frac{1}{m}\\sum_i (x_i - \\mu)^2, \\qquad
    \\hat x_i = \\frac{x_i - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}}, \\qquad
    y_i = \\gamma \\hat x_i + \\beta .

The variance is the biased one (divided by :math:`m`). Given
:math:`\\delta_i = \\partial L / \\partial y_i`, the backward pass is

.. math::

    \\frac{\\partial L}{\\partial \\beta} = \\sum_i \\delta_i, \\qquad
    \\frac{\\partial L}{\\partial \\gamma} = \\sum_i \\delta_i \\hat x_i, \\qquad
    \\frac{\\partial L}{\\partial x_i} = \\frac{1}{m\\sqrt{\\sigma^2+\\epsilon}}
    \\Big( m\\, \\hat\\delta_i - \\sum_j \\hat\\delta_j
           - \\hat x_i \\sum_j \\hat\\delta_j \\hat x_j \\Big),
    \\quad \\hat\\delta_i = \\gamma\\, \\delta_i ,

the compact form of the chain rule through :math:`\\mu` and :math:`\\sigma^2`
(every :math:`x_j` of the channel influences every :math:`y_i` through the
batch statistics).

**Running statistics and momentum.** Training also tracks exponential moving
averages of the batch statistics, used instead of them at evaluation time.
The convention is CS231n's:

.. math::

    \\text{running} \\leftarrow \\text{momentum} \\cdot \\text{running}
    + (1 - \\text{momentum}) \\cdot \\text{batch},

so ``momentum = 0.9`` keeps 90 % of the old value. (PyTorch's ``momentum=0.1``
is the weight of the *new* value, the same update; PyTorch also stores the
unbiased variance :math:`\\tfrac{m}{m-1}\\sigma^2` in ``running_var``, this
module the biased :math:`\\sigma^2` as CS231n.)

**Nothing is updated in place.** :func:`batchnorm_forward` never writes into
the ``running_mean`` and ``running_var`` it receives: it returns the updated
values as the fields ``cache.running_mean`` and ``cache.running_var`` (new
arrays in training mode; in evaluation mode the arrays passed in, unchanged).
The caller keeps them for the next call::

    out, cache = batchnorm_forward(x, gamma, beta, running_mean, running_var)
    running_mean, running_var = cache.running_mean, cache.running_var

**Evaluation mode** (``train=False``) normalizes with the running statistics,
so the layer is the fixed affine map
:math:`y = \\gamma (x - \\mu_{\\text{run}}) / \\sqrt{\\sigma^2_{\\text{run}} + \\epsilon} + \\beta`,
and its backward pass is that of an affine map:
:math:`\\partial L/\\partial x_i = \\gamma \\delta_i / \\sqrt{\\sigma^2_{\\text{run}}+\\epsilon}`.

**A batch of one.** With :math:`m = 1` (``N = 1`` for dense input) the batch
variance is 0, :math:`\\hat x = 0` and the output is :math:`\\beta` whatever the
input; ``eps`` keeps the division finite, and the gradient with respect to ``x``
is exactly 0. This is allowed, but such a layer learns nothing about ``x``
(PyTorch refuses it in training mode).

**Implementation.** Numba kernels accumulate every sum in float64, so float32
input loses no accuracy in the statistics. Dense input ``(N, D)`` is walked
row by row (its memory order) with one running sum per feature
(:func:`_dense_train_kernel`, ...). Spatial input is viewed as ``(N, C, L)``,
``L = H * W``; the work of one channel is a function
(:func:`_spatial_train_channel`, ...) that a driver calls for every channel:
serially for small arrays or when Numba is limited to one thread, with
``prange`` (one thread per channel) from :data:`PARALLEL_MIN_SIZE` elements on.
Each channel is computed by one thread with the same code in the same order,
so the result is bit-identical whatever the number of threads
(``NUMBA_NUM_THREADS``, ``numba.set_num_threads``).

Dtypes: float32 and float64 are kept; integer or boolean input is converted to
float64. ``gamma``, ``beta``, ``running_mean``, ``running_var`` (and ``dout``)
must have the dtype of ``x``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from companion._threads import apply_thread_policy
from companion._validate import (
    as_bool,
    as_float_array,
    as_positive_real,
    as_probability,
    check_ndim,
)

apply_thread_policy()       # idle prange workers sleep (see companion._threads)

__all__ = ["BatchNormCache", "batchnorm_forward", "batchnorm_backward"]


class BatchNormCache(NamedTuple):
    """What :func:`batchnorm_forward` returns besides ``out``.

    Shapes: ``x`` is ``(N, C)`` or ``(N, C, H, W)``; per-channel arrays are ``(C,)``.

    Attributes
    ----------
    running_mean : ndarray, shape ``(C,)``
        The **updated** running mean, to pass to the next call (training mode:
        ``momentum * running_mean + (1 - momentum) * mean``; evaluation mode:
        the array passed in).
    running_var : ndarray, shape ``(C,)``
        The **updated** running variance, likewise.
    xhat : ndarray, shape of ``x``
        The normalized input :math:`\\hat x`.
    gamma : ndarray, shape ``(C,)``
        The scale used.
    mean : ndarray, shape ``(C,)``
        The mean used for normalizing: the batch mean (training) or the
        running mean (evaluation).
    var : ndarray, shape ``(C,)``
        The variance used, likewise (biased batch variance in training).
    inv_std : ndarray, shape ``(C,)``
        :math:`1/\\sqrt{\\text{var} + \\epsilon}`.
    eps : float
    train : bool
        Which mode the forward pass ran in; the backward pass follows it.
    """

    running_mean: np.ndarray
    running_var: np.ndarray
    xhat: np.ndarray
    gamma: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    inv_std: np.ndarray
    eps: float
    train: bool


# --------------------------------------------------------------------------
# Numba kernels. Sums are accumulated in float64 whatever the dtype.
#
# Dense input (N, D): the loops run along the rows (memory order) and keep one
# running sum per feature, so the inner loop over features vectorizes.
# --------------------------------------------------------------------------

@njit(cache=True)
def _dense_train_kernel(x, gamma, beta, eps, out, xhat, mean, var, inv_std):
    N, D = x.shape
    # batch mean of every feature
    total = np.zeros(D)
    for n in range(N):
        for d in range(D):
            total[d] += x[n, d]
    mu = total / N
    # biased batch variance (two passes: no cancellation)
    total_sq = np.zeros(D)
    for n in range(N):
        for d in range(D):
            diff = x[n, d] - mu[d]
            total_sq[d] += diff * diff
    sigma2 = total_sq / N
    istd = 1.0 / np.sqrt(sigma2 + eps)
    # normalize, then scale and shift
    for n in range(N):
        for d in range(D):
            xh = (x[n, d] - mu[d]) * istd[d]
            xhat[n, d] = xh
            out[n, d] = gamma[d] * xh + beta[d]
    for d in range(D):
        mean[d] = mu[d]
        var[d] = sigma2[d]
        inv_std[d] = istd[d]


@njit(cache=True)
def _dense_eval_kernel(x, gamma, beta, mean, inv_std, out, xhat):
    N, D = x.shape
    for n in range(N):
        for d in range(D):
            xh = (x[n, d] - mean[d]) * inv_std[d]
            xhat[n, d] = xh
            out[n, d] = gamma[d] * xh + beta[d]


@njit(cache=True)
def _dense_backward_kernel(dout, xhat, gamma, inv_std, train, dx, dgamma, dbeta):
    N, D = dout.shape
    sum_dout = np.zeros(D)
    sum_dout_xhat = np.zeros(D)
    for n in range(N):
        for d in range(D):
            sum_dout[d] += dout[n, d]
            sum_dout_xhat[d] += dout[n, d] * xhat[n, d]
    for d in range(D):
        dbeta[d] = sum_dout[d]
        dgamma[d] = sum_dout_xhat[d]
    if train:
        # dxhat = gamma * dout; its sums follow from the two above
        sum_dxhat = gamma * sum_dout
        sum_dxhat_xhat = gamma * sum_dout_xhat
        for n in range(N):
            for d in range(D):
                dxhat = gamma[d] * dout[n, d]
                dx[n, d] = inv_std[d] / N * (N * dxhat - sum_dxhat[d]
                                             - xhat[n, d] * sum_dxhat_xhat[d])
    else:
        # evaluation mode: an affine map per feature
        for n in range(N):
            for d in range(D):
                dx[n, d] = gamma[d] * inv_std[d] * dout[n, d]


# --------------------------------------------------------------------------
# Spatial input (N, C, H, W), viewed as (N, C, L) with L = H * W. The math of
# one channel c is in a *_channel function; a driver calls it for every
# channel, serially or in parallel (prange, one thread per channel). Both
# drivers compute every channel with the same code in the same order, so
# their results are bit-identical whatever the number of threads.
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


@njit(cache=True)
def _spatial_train_serial(x, gamma, beta, eps, out, xhat, mean, var, inv_std):
    for c in range(x.shape[1]):
        _spatial_train_channel(x, c, gamma, beta, eps, out, xhat, mean, var, inv_std)


@njit(cache=True, parallel=True)
def _spatial_train_parallel(x, gamma, beta, eps, out, xhat, mean, var, inv_std):
    for c in prange(x.shape[1]):
        _spatial_train_channel(x, c, gamma, beta, eps, out, xhat, mean, var, inv_std)


@njit(cache=True)
def _spatial_eval_serial(x, gamma, beta, mean, inv_std, out, xhat):
    for c in range(x.shape[1]):
        _spatial_eval_channel(x, c, gamma, beta, mean, inv_std, out, xhat)


@njit(cache=True, parallel=True)
def _spatial_eval_parallel(x, gamma, beta, mean, inv_std, out, xhat):
    for c in prange(x.shape[1]):
        _spatial_eval_channel(x, c, gamma, beta, mean, inv_std, out, xhat)


@njit(cache=True)
def _spatial_backward_serial(dout, xhat, gamma, inv_std, train, dx, dgamma, dbeta):
    for c in range(dout.shape[1]):
        _spatial_backward_channel(dout, xhat, c, gamma, inv_std, train, dx, dgamma, dbeta)


@njit(cache=True, parallel=True)
def _spatial_backward_parallel(dout, xhat, gamma, inv_std, train, dx, dgamma, dbeta):
    for c in prange(dout.shape[1]):
        _spatial_backward_channel(dout, xhat, c, gamma, inv_std, train, dx, dgamma, dbeta)


#: Spatial input with at least this many elements uses the parallel drivers
#: (when Numba may use more than one thread, see ``numba.set_num_threads``).
#: Below it, starting the thread pool costs more than it saves. Set it to
#: ``float("inf")`` to always run serially.
PARALLEL_MIN_SIZE = 1 << 16


def _use_parallel(size: int) -> bool:
    return size >= PARALLEL_MIN_SIZE and numba.get_num_threads() > 1


# --------------------------------------------------------------------------
# Wrappers
# --------------------------------------------------------------------------

def _as_channel_vector(value, name: str, x: np.ndarray) -> np.ndarray:
    """Validate a per-channel vector: shape ``(C,)``, dtype of ``x``, finite."""
    arr = as_float_array(value, name, contiguous=True)
    C = x.shape[1]
    letter, unit = ("D", "feature") if x.ndim == 2 else ("C", "channel")
    if arr.shape != (C,):
        raise ValueError(f"{name} must have shape ({letter},) = ({C},), one value per {unit} "
                         f"of x {x.shape}, got {arr.shape}")
    if arr.dtype != x.dtype:
        raise ValueError(f"{name} must have the dtype of x ({x.dtype}), got {arr.dtype}; "
                         "convert it with .astype(...)")
    return arr



def _spatial_view(a: np.ndarray) -> np.ndarray:
    """``(N, C, H, W)`` -> ``(N, C, H*W)``, a view of a C-contiguous array."""
    N, C, H, W = a.shape
    return a.reshape(N, C, H * W)


def batchnorm_forward(x, gamma, beta, running_mean, running_var, momentum=0.9, eps=1e-5,
                      train=True):
    """Batch normalization forward pass, per feature or per channel.

    Parameters
    ----------
    x : array_like, shape ``(N, D)`` or ``(N, C, H, W)``
        Dense input (statistics per feature, over the batch) or feature maps
        (statistics per channel, over the batch and all positions).
    gamma, beta : array_like, shape ``(D,)`` or ``(C,)``
        Learned scale :math:`\\gamma` and shift :math:`\\beta`.
    running_mean, running_var : array_like, shape ``(D,)`` or ``(C,)``
        Running statistics. Read, never modified; ``running_var >= 0``.
    momentum : float in ``[0, 1)``, default 0.9
        ``running = momentum * running + (1 - momentum) * batch`` (CS231n
        convention; PyTorch's ``momentum`` is ``1 -`` this).
    eps : float > 0, default 1e-5
        Added to the variance before the square root.
    train : bool, default True
        ``True``: normalize with the batch statistics and update the running
        ones. ``False``: normalize with the running statistics.

    Returns
    -------
    out : ndarray, shape of ``x``
        :math:`\\gamma \\hat x + \\beta`.
    cache : BatchNormCache
        For :func:`batchnorm_backward`; **also carries the updated running
        statistics** ``cache.running_mean`` and ``cache.running_var`` (new
        arrays in training mode, the unchanged inputs in evaluation mode).

    Raises
    ------
    ValueError
        ``x`` not 2-D or 4-D, or with no value per channel in training mode;
        a per-channel array of the wrong shape or dtype; NaN/infinite values;
        negative ``running_var``; ``momentum`` outside ``[0, 1)``; ``eps <= 0``.
    TypeError
        Non-numeric arrays, ``train`` not a bool.
    """
    x = as_float_array(x, "x", contiguous=True)
    if x.ndim not in (2, 4):
        raise ValueError(f"x must have 2 dimensions (N, D) or 4 dimensions (N, C, H, W), "
                         f"got shape {x.shape}")
    gamma = _as_channel_vector(gamma, "gamma", x)
    beta = _as_channel_vector(beta, "beta", x)
    running_mean = _as_channel_vector(running_mean, "running_mean", x)
    running_var = _as_channel_vector(running_var, "running_var", x)
    if np.any(running_var < 0):
        raise ValueError(f"running_var must be >= 0 (it is a variance), "
                         f"got minimum {running_var.min()}")
    momentum = as_probability(momentum, "momentum")
    eps = as_positive_real(eps, "eps")
    train = as_bool(train, "train")

    C = x.shape[1]
    values_per_channel = x.size // C if C else 0
    out = np.empty_like(x)
    xhat = np.empty_like(x)
    parallel = _use_parallel(x.size)
    if train:
        if values_per_channel == 0 and C > 0:
            raise ValueError(f"x must hold at least one value per channel in training mode, "
                             f"got shape {x.shape}")
        mean = np.empty(C, dtype=x.dtype)
        var = np.empty(C, dtype=x.dtype)
        inv_std = np.empty(C, dtype=x.dtype)
        if x.ndim == 2:
            _dense_train_kernel(x, gamma, beta, eps, out, xhat, mean, var, inv_std)
        else:
            kernel = _spatial_train_parallel if parallel else _spatial_train_serial
            kernel(_spatial_view(x), gamma, beta, eps, _spatial_view(out), _spatial_view(xhat),
                   mean, var, inv_std)
        new_running_mean = momentum * running_mean + (1 - momentum) * mean
        new_running_var = momentum * running_var + (1 - momentum) * var
    else:
        mean = running_mean
        var = running_var
        inv_std = (1.0 / np.sqrt(running_var.astype(np.float64) + eps)).astype(x.dtype)
        if x.ndim == 2:
            _dense_eval_kernel(x, gamma, beta, mean, inv_std, out, xhat)
        else:
            kernel = _spatial_eval_parallel if parallel else _spatial_eval_serial
            kernel(_spatial_view(x), gamma, beta, mean, inv_std, _spatial_view(out),
                   _spatial_view(xhat))
        new_running_mean = running_mean
        new_running_var = running_var
    cache = BatchNormCache(running_mean=new_running_mean, running_var=new_running_var,
                           xhat=xhat, gamma=gamma, mean=mean, var=var, inv_std=inv_std,
                           eps=eps, train=train)
    return out, cache


def batchnorm_backward(dout, cache: BatchNormCache):
    """Batch normalization backward pass.

    Parameters
    ----------
    dout : array_like, shape of ``x``
        Upstream gradient :math:`\\delta`, in the dtype of the forward pass.
    cache : BatchNormCache
        From :func:`batchnorm_forward`. Its ``train`` field selects the
        formula: through the batch statistics (training) or affine only
        (evaluation).

    Returns
    -------
    dx : ndarray, shape of ``x``
        Training: :math:`\\frac{1}{m}\\,\\text{inv\\_std}\\,(m\\hat\\delta - \\sum\\hat\\delta
        - \\hat x \\sum \\hat\\delta\\hat x)` with :math:`\\hat\\delta = \\gamma\\delta`;
        evaluation: :math:`\\gamma\\,\\text{inv\\_std}\\,\\delta`.
    dgamma : ndarray, shape ``(C,)``
        :math:`\\sum \\delta \\hat x` over the batch (and positions).
    dbeta : ndarray, shape ``(C,)``
        :math:`\\sum \\delta`.
    """
    if not isinstance(cache, BatchNormCache):
        raise TypeError(f"cache must be the BatchNormCache returned by batchnorm_forward, "
                        f"got {type(cache).__name__}")
    xhat = cache.xhat
    dout = as_float_array(dout, "dout", contiguous=True)
    check_ndim(dout, "dout", xhat.ndim)
    if dout.shape != xhat.shape:
        raise ValueError(f"dout must have the shape of the forward output {xhat.shape}, "
                         f"got {dout.shape}")
    if dout.dtype != xhat.dtype:
        raise ValueError(f"dout must have the dtype of the forward pass ({xhat.dtype}), "
                         f"got {dout.dtype}; convert it with .astype(...)")
    C = xhat.shape[1]
    dx = np.empty_like(xhat)
    dgamma = np.empty(C, dtype=xhat.dtype)
    dbeta = np.empty(C, dtype=xhat.dtype)
    if xhat.ndim == 2:
        _dense_backward_kernel(dout, xhat, cache.gamma, cache.inv_std, cache.train,
                               dx, dgamma, dbeta)
    else:
        kernel = _spatial_backward_parallel if _use_parallel(dout.size) \
            else _spatial_backward_serial
        kernel(_spatial_view(dout), _spatial_view(xhat), cache.gamma, cache.inv_std,
               cache.train, _spatial_view(dx), dgamma, dbeta)
    return dx, dgamma, dbeta
