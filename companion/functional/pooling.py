"""Max and average pooling layers (池化层): forward and backward, NCHW.

A pooling layer slides a ``KH x KW`` window with stride ``(sh, sw)`` over
every channel of every image of ``x`` (shape ``(N, C, H, W)``, no padding)
and summarizes each window by one number:

.. math::

    \\text{max pooling:}\\quad
    \\text{out}[n, c, i, j] = \\max_{0 \\le u < K_H,\\ 0 \\le v < K_W}
    x[n, c, i s_h + u, j s_w + v],

    \\text{average pooling:}\\quad
    \\text{out}[n, c, i, j] = \\frac{1}{K_H K_W} \\sum_{u, v}
    x[n, c, i s_h + u, j s_w + v],

    H_{out} = \\left\\lfloor \\frac{H - K_H}{s_h} \\right\\rfloor + 1, \\qquad
    W_{out} = \\left\\lfloor \\frac{W - K_W}{s_w} \\right\\rfloor + 1 ,

with the book's notation (its Notation page): output positions :math:`(i, j)`,
offsets :math:`(u, v)` inside the window. In the code, ``kh``, ``kw`` are
:math:`u`, :math:`v`, and ``h``, ``w`` an input position :math:`(i', j')`.

**Default stride.** ``stride=None`` (the default) means the window size, so
the windows tile the image without overlap: ``max_pool2d_forward(x, 3)`` takes
3 x 3 windows 3 pixels apart, as PyTorch's ``max_pool2d`` and ``MaxPool2d`` do
(and as the layer objects of :mod:`companion.nn` do).

Rows or columns left over at the bottom/right edge (when the windows do not
tile the image exactly) are ignored, as in PyTorch's default.

**Backward.** Pooling has no parameters; only ``dx`` flows back. The maximum
is a selection, so its gradient is routed entirely to the input that won:
``dx[n, c, h*, w*] += dout[n, c, i, j]`` where ``(h*, w*)`` is the position of
the maximum of window ``(i, j)``, and every other input of the window gets
nothing from that window. The average spreads the gradient evenly:
``dx[n, c, i*sh + kh, j*sw + kw] += dout[n, c, i, j] / (KH*KW)``.

**Ties.** When several inputs of a window share the maximum, the *first one
in row-major window order* (smallest ``kh``, then smallest ``kw``) wins and
receives the whole gradient. (The maximum is not differentiable there; any
choice is a valid subgradient, this one is deterministic.)

**Overlapping windows** (stride smaller than the window) share inputs; an
input then collects the gradient of every window it belongs to (or won). The
backward kernels handle one image plane per task and add the contributions
in a fixed order, so overlapping windows accumulate correctly and the result
does not depend on the number of threads.

Dtypes: float32 and float64 are kept; integer or boolean input is converted to
float64. ``dout`` must have the dtype of the forward pass. NaN or infinite
values are rejected. Inputs are never modified.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from companion._threads import apply_thread_policy, threads_for
from companion._validate import as_float_array, as_pair

apply_thread_policy()

__all__ = ["MaxPool2dCache", "AvgPool2dCache", "max_pool2d_forward",
           "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward"]


class MaxPool2dCache(NamedTuple):
    """What :func:`max_pool2d_backward` needs from the forward pass.

    Attributes
    ----------
    x_shape : (int, int, int, int)
        ``(N, C, H, W)``.
    size : (int, int)
        Window ``(KH, KW)``.
    stride : (int, int)
        ``(sh, sw)``.
    argmax : ndarray of int64, shape ``(N, C, H_out, W_out)``
        Position of each window's maximum in its image plane, as the flat
        index ``h * W + w`` (first maximum in row-major window order).
    dtype : numpy dtype
        The float dtype of the forward pass.
    """

    x_shape: tuple
    size: tuple
    stride: tuple
    argmax: np.ndarray
    dtype: np.dtype


class AvgPool2dCache(NamedTuple):
    """What :func:`avg_pool2d_backward` needs from the forward pass.

    Attributes
    ----------
    x_shape : (int, int, int, int)
        ``(N, C, H, W)``.
    size : (int, int)
        Window ``(KH, KW)``.
    stride : (int, int)
        ``(sh, sw)``.
    dtype : numpy dtype
        The float dtype of the forward pass.
    """

    x_shape: tuple
    size: tuple
    stride: tuple
    dtype: np.dtype


# ---------------------------------------------------------------------------
# Kernels: one task per image plane (n, c)
# ---------------------------------------------------------------------------

@njit(cache=True, parallel=True)
def _max_pool_forward(x, KH, KW, sh, sw, out, argmax):
    """``out[n, c, i, j]`` = max of the window; ``argmax`` = flat index ``h*W + w``
    of the first max."""
    N, C, Ho, Wo = out.shape
    W = x.shape[3]
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        for i in range(Ho):
            for j in range(Wo):
                h0 = i * sh
                w0 = j * sw
                best = x[n, c, h0, w0]
                best_h = h0
                best_w = w0
                for kh in range(KH):
                    for kw in range(KW):
                        value = x[n, c, h0 + kh, w0 + kw]
                        if value > best:  # strict: the first maximum stays
                            best = value
                            best_h = h0 + kh
                            best_w = w0 + kw
                out[n, c, i, j] = best
                argmax[n, c, i, j] = best_h * W + best_w


@njit(cache=True, parallel=True)
def _max_pool_backward(dout, argmax, dx):
    """``dx`` (overwritten): each ``dout[n, c, i, j]`` is added at its window's
    argmax."""
    N, C, Ho, Wo = dout.shape
    H, W = dx.shape[2], dx.shape[3]
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        for h in range(H):
            for w in range(W):
                dx[n, c, h, w] = 0.0
        for i in range(Ho):
            for j in range(Wo):
                k = argmax[n, c, i, j]
                dx[n, c, k // W, k % W] += dout[n, c, i, j]


@njit(cache=True, parallel=True)
def _avg_pool_forward(x, KH, KW, sh, sw, out):
    """``out[n, c, i, j]`` = mean of the ``KH x KW`` window at ``(i*sh, j*sw)``."""
    N, C, Ho, Wo = out.shape
    scale = 1.0 / (KH * KW)
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        for i in range(Ho):
            for j in range(Wo):
                total = 0.0
                for kh in range(KH):
                    for kw in range(KW):
                        total += x[n, c, i * sh + kh, j * sw + kw]
                out[n, c, i, j] = total * scale


@njit(cache=True, parallel=True)
def _avg_pool_backward(dout, KH, KW, sh, sw, dx):
    """``dx`` (overwritten): each ``dout[n, c, i, j] / (KH*KW)`` is added to its
    whole window."""
    N, C, Ho, Wo = dout.shape
    H, W = dx.shape[2], dx.shape[3]
    scale = 1.0 / (KH * KW)
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        for h in range(H):
            for w in range(W):
                dx[n, c, h, w] = 0.0
        for i in range(Ho):
            for j in range(Wo):
                share = dout[n, c, i, j] * scale
                for kh in range(KH):
                    for kw in range(KW):
                        dx[n, c, i * sh + kh, j * sw + kw] += share


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------

def _pool_setup(x, size, stride):
    """Validate a pooling call; return ``x``, ``(KH, KW)``, ``(sh, sw)``,
    ``(Ho, Wo)``."""
    x = as_float_array(x, "x", ndim=4, contiguous=True)
    KH, KW = as_pair(size, "size", minimum=1)
    sh, sw = (KH, KW) if stride is None else as_pair(stride, "stride", minimum=1)
    N, C, H, W = x.shape
    if min(C, H, W) < 1:
        raise ValueError(f"x must have at least one channel, row and column, "
                         f"got shape {x.shape}")
    if KH > H or KW > W:
        raise ValueError(f"size {(KH, KW)}: the pooling window must fit in the input "
                         f"(H, W) = {(H, W)}")
    Ho = (H - KH) // sh + 1
    Wo = (W - KW) // sw + 1
    return x, (KH, KW), (sh, sw), (Ho, Wo)


def _backward_setup(dout, cache, cache_type, forward_name):
    """Validate ``cache`` (the kernels trust it) and ``dout``; return ``dout`` as an
    array."""
    if not isinstance(cache, cache_type):
        raise TypeError(f"cache must be the {cache_type.__name__} returned by "
                        f"{forward_name}, got {type(cache).__name__}")
    try:
        N, C, H, W = (int(s) for s in cache.x_shape)
        (KH, KW), (sh, sw) = ((int(s) for s in cache.size),
                              (int(s) for s in cache.stride))
        dtype = np.dtype(cache.dtype)
    except (TypeError, ValueError):
        raise ValueError(f"cache must be the unchanged {cache_type.__name__} "
                         f"returned by {forward_name} (its fields are inconsistent)"
                         ) from None
    expected = ((N, C, (H - KH) // sh + 1, (W - KW) // sw + 1)
                if min(sh, sw) >= 1 else None)
    if (expected is None or min(N, C, H, W) < 0 or not 1 <= KH <= max(H, 1)
            or not 1 <= KW <= max(W, 1) or dtype.type not in (np.float32, np.float64)
            or (cache_type is MaxPool2dCache
                and not _valid_argmax(cache.argmax, expected, H * W))):
        raise ValueError(f"cache must be the unchanged {cache_type.__name__} "
                         f"returned by {forward_name} (its fields are inconsistent)")
    dout = as_float_array(dout, "dout", contiguous=True)
    if dout.shape != expected:
        raise ValueError(f"dout must have shape (N, C, H_out, W_out) = {expected}, "
                         f"the shape of the forward output, got {dout.shape}")
    if dout.dtype != dtype:
        raise ValueError(f"dout must have the dtype of the forward pass ({dtype}), "
                         f"got {dout.dtype}; convert it with .astype(...)")
    return dout


def _valid_argmax(argmax, shape, plane_size) -> bool:
    """``argmax`` is a C-contiguous int64 array of ``shape`` with values in
    ``[0, plane_size)``."""
    return (isinstance(argmax, np.ndarray) and argmax.dtype == np.int64
            and argmax.shape == shape and argmax.flags.c_contiguous
            and (argmax.size == 0 or (int(argmax.min()) >= 0
                                      and int(argmax.max()) < plane_size)))


def max_pool2d_forward(x, size=2, stride=None):
    """Forward pass of max pooling.

    Parameters
    ----------
    x : array_like, shape ``(N, C, H, W)``
        Input feature maps. Need not be contiguous.
    size : int or (int, int)
        Window ``(KH, KW)``, each >= 1 and no larger than the input.
    stride : int, (int, int) or None
        ``(sh, sw)``, each >= 1; ``None`` (the default) is the window size,
        PyTorch's convention. A stride smaller than the window makes
        overlapping windows.

    Returns
    -------
    out : ndarray, shape ``(N, C, H_out, W_out)``
        ``out[n, c, i, j] = max_{u, v} x[n, c, i*sh + u, j*sw + v]``,
        ``H_out = (H - KH) // sh + 1``, ``W_out = (W - KW) // sw + 1``.
    cache : MaxPool2dCache
        Holds the position of every maximum (the first one in row-major window
        order when there are ties).

    Raises
    ------
    ValueError
        Wrong number of dimensions, empty axes, a window larger than the
        input, stride < 1, NaN or infinite values.
    """
    x, (KH, KW), (sh, sw), (Ho, Wo) = _pool_setup(x, size, stride)
    N, C, H, W = x.shape
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    argmax = np.empty((N, C, Ho, Wo), dtype=np.int64)
    with threads_for(out.size * KH * KW):
        _max_pool_forward(x, KH, KW, sh, sw, out, argmax)
    return out, MaxPool2dCache((N, C, H, W), (KH, KW), (sh, sw), argmax, x.dtype)


def max_pool2d_backward(dout, cache: MaxPool2dCache):
    """Backward pass of max pooling.

    Parameters
    ----------
    dout : array_like, shape ``(N, C, H_out, W_out)``
        Upstream gradient, in the dtype of the forward pass. Never modified.
    cache : MaxPool2dCache
        From :func:`max_pool2d_forward`.

    Returns
    -------
    dx : ndarray, shape ``(N, C, H, W)``
        ``dx[n, c, h, w]`` = sum of ``dout[n, c, i, j]`` over the windows
        ``(i, j)`` whose (first) maximum is at ``(h, w)``; zero elsewhere.
    """
    dout = _backward_setup(dout, cache, MaxPool2dCache, "max_pool2d_forward")
    dx = np.empty(cache.x_shape, dtype=cache.dtype)
    with threads_for(dx.size + dout.size):
        _max_pool_backward(dout, cache.argmax, dx)
    return dx


def avg_pool2d_forward(x, size=2, stride=None):
    """Forward pass of average pooling.

    Parameters
    ----------
    x : array_like, shape ``(N, C, H, W)``
        Input feature maps. Need not be contiguous.
    size : int or (int, int)
        Window ``(KH, KW)``, each >= 1 and no larger than the input.
    stride : int, (int, int) or None
        ``(sh, sw)``, each >= 1; ``None`` (the default) is the window size,
        PyTorch's convention.

    Returns
    -------
    out : ndarray, shape ``(N, C, H_out, W_out)``
        ``out[n, c, i, j] = mean_{u, v} x[n, c, i*sh + u, j*sw + v]``,
        ``H_out = (H - KH) // sh + 1``, ``W_out = (W - KW) // sw + 1``.
    cache : AvgPool2dCache
        Shapes for :func:`avg_pool2d_backward`.

    Raises
    ------
    ValueError
        As :func:`max_pool2d_forward`.
    """
    x, (KH, KW), (sh, sw), (Ho, Wo) = _pool_setup(x, size, stride)
    N, C, H, W = x.shape
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    with threads_for(out.size * KH * KW):
        _avg_pool_forward(x, KH, KW, sh, sw, out)
    return out, AvgPool2dCache((N, C, H, W), (KH, KW), (sh, sw), x.dtype)


def avg_pool2d_backward(dout, cache: AvgPool2dCache):
    """Backward pass of average pooling.

    Parameters
    ----------
    dout : array_like, shape ``(N, C, H_out, W_out)``
        Upstream gradient, in the dtype of the forward pass. Never modified.
    cache : AvgPool2dCache
        From :func:`avg_pool2d_forward`.

    Returns
    -------
    dx : ndarray, shape ``(N, C, H, W)``
        ``dx[n, c, h, w]`` = sum of ``dout[n, c, i, j] / (KH*KW)`` over the
        windows ``(i, j)`` that contain ``(h, w)``.
    """
    dout = _backward_setup(dout, cache, AvgPool2dCache, "avg_pool2d_forward")
    (KH, KW), (sh, sw) = cache.size, cache.stride
    dx = np.empty(cache.x_shape, dtype=cache.dtype)
    with threads_for(dx.size + dout.size * KH * KW):
        _avg_pool_backward(dout, KH, KW, sh, sw, dx)
    return dx
