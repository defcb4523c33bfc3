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

**The running statistics are a third return value.** Batch norm is the one
layer with *state* besides its parameters, so :func:`batchnorm_forward`
returns ``(out, cache, running)``: the usual pair plus ``running``, a
:class:`RunningStats` ``(mean, var)`` with the updated running statistics
(new arrays in training mode; in evaluation mode the arrays passed in,
unchanged). Nothing is updated in place: the ``running_mean`` and
``running_var`` received are never written to, and the cache holds only what
:func:`batchnorm_backward` needs. The caller keeps the new statistics for the
next call::

    out, cache, (running_mean, running_var) = batchnorm_forward(
        x, gamma, beta, running_mean, running_var, train=True)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)

(CS231n's ``batchnorm_forward`` returns them through its ``bn_param`` dict,
PyTorch's functional ``batch_norm`` writes them into the running buffers in
place; the layer :class:`companion.nn.BatchNorm` copies them into its buffers.)

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
(:func:`_dense_train_kernel`, ...). Spatial input is handled by
:mod:`companion.functional.batchnorm_spatial`: one function per channel, run
in parallel over the channels (on the calling thread for small arrays),
bit-identical whatever the number of threads.

Dtypes: float32 and float64 are kept; integer or boolean input is converted to
float64. ``gamma``, ``beta``, ``running_mean``, ``running_var`` (and ``dout``)
must have the dtype of ``x``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from companion._validate import (
    as_bool,
    as_float_array,
    as_positive_real,
    as_probability,
    check_ndim,
)
from companion.functional.batchnorm_spatial import (
    spatial_backward,
    spatial_eval_forward,
    spatial_train_forward,
)

__all__ = ["BatchNormCache", "RunningStats", "batchnorm_forward", "batchnorm_backward"]


class RunningStats(NamedTuple):
    """The running statistics :func:`batchnorm_forward` returns as its third value.

    Attributes
    ----------
    mean : ndarray, shape ``(C,)``
        Training mode: ``momentum * running_mean + (1 - momentum) * batch_mean``
        (a new array); evaluation mode: the ``running_mean`` passed in.
    var : ndarray, shape ``(C,)``
        Likewise with the biased batch variance.
    """

    mean: np.ndarray
    var: np.ndarray


class BatchNormCache(NamedTuple):
    """What :func:`batchnorm_backward` needs from :func:`batchnorm_forward`.

    Shapes: ``x`` is ``(N, C)`` or ``(N, C, H, W)``; per-channel arrays are
    ``(C,)``. (The updated running statistics are not here: they are the
    forward pass's third return value, :class:`RunningStats`.)

    Attributes
    ----------
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


def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, momentum=0.9,
                      eps=1e-5, train=True):
    """Batch normalization forward pass, per feature or per channel.

    Unlike the other layers it returns **three** values: the running
    statistics are state, returned explicitly rather than updated in place or
    hidden in the cache (see the module docstring).

    Parameters
    ----------
    x : array_like, shape ``(N, D)`` or ``(N, C, H, W)``
        Dense input (statistics per feature, over the batch) or feature maps
        (statistics per channel, over the batch and all positions).
    gamma, beta : array_like, shape ``(D,)`` or ``(C,)``
        Learned scale :math:`\\gamma` and shift :math:`\\beta`.
    running_mean, running_var : array_like, shape ``(D,)`` or ``(C,)``
        Running statistics. Read, never modified; ``running_var >= 0``.
    momentum : float in ``[0, 1)``, default 0.9 (keyword-only)
        ``running = momentum * running + (1 - momentum) * batch`` (CS231n
        convention; PyTorch's ``momentum`` is ``1 -`` this).
    eps : float > 0, default 1e-5 (keyword-only)
        Added to the variance before the square root.
    train : bool, default True (keyword-only)
        ``True``: normalize with the batch statistics and update the running
        ones. ``False``: normalize with the running statistics.

    Returns
    -------
    out : ndarray, shape of ``x``
        :math:`\\gamma \\hat x + \\beta`.
    cache : BatchNormCache
        For :func:`batchnorm_backward`.
    running : RunningStats
        ``(mean, var)``, the updated running statistics to pass to the next
        call: new arrays in training mode, the unchanged inputs in evaluation
        mode. Unpack it as ``out, cache, (running_mean, running_var) = ...``.

    Raises
    ------
    ValueError
        ``x`` not 2-D or 4-D, or with no value per channel in training mode;
        a per-channel array of the wrong shape or dtype; NaN/infinite values;
        negative ``running_var``; ``momentum`` outside ``[0, 1)``; ``eps <= 0``.
    TypeError
        Non-numeric arrays, ``train`` not a bool; ``momentum``, ``eps`` or
        ``train`` passed by position.
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
    out = np.empty_like(x)
    xhat = np.empty_like(x)
    if train:
        if x.size == 0 and C > 0:
            raise ValueError(f"x must hold at least one value per channel in training mode, "
                             f"got shape {x.shape}")
        mean = np.empty(C, dtype=x.dtype)
        var = np.empty(C, dtype=x.dtype)
        inv_std = np.empty(C, dtype=x.dtype)
        if x.ndim == 2:
            _dense_train_kernel(x, gamma, beta, eps, out, xhat, mean, var, inv_std)
        else:
            spatial_train_forward(x, gamma, beta, eps, out, xhat, mean, var, inv_std)
        running = RunningStats(momentum * running_mean + (1 - momentum) * mean,
                               momentum * running_var + (1 - momentum) * var)
    else:
        mean = running_mean
        var = running_var
        inv_std = (1.0 / np.sqrt(running_var.astype(np.float64) + eps)).astype(x.dtype)
        if x.ndim == 2:
            _dense_eval_kernel(x, gamma, beta, mean, inv_std, out, xhat)
        else:
            spatial_eval_forward(x, gamma, beta, mean, inv_std, out, xhat)
        running = RunningStats(running_mean, running_var)
    cache = BatchNormCache(xhat=xhat, gamma=gamma, mean=mean, var=var, inv_std=inv_std,
                           eps=eps, train=train)
    return out, cache, running


def batchnorm_backward(dout, cache: BatchNormCache):
    """Batch normalization backward pass.

    Parameters
    ----------
    dout : array_like, shape of ``x``
        Upstream gradient :math:`\\delta`, in the dtype of the forward pass.
        Never modified.
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
        spatial_backward(dout, xhat, cache.gamma, cache.inv_std, cache.train,
                         dx, dgamma, dbeta)
    return dx, dgamma, dbeta
