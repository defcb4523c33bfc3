"""Plain NumPy reference layers: im2col convolution and window max pooling.

What a careful NumPy-only implementation looks like (no Numba): im2col via a
strided sliding-window view, one BLAS matrix product per pass, col2im as a
loop over the ``KH*KW`` kernel offsets (each a strided slice add, much faster
than ``np.add.at``), and max pooling by ``argmax`` over the window axis of a
sliding-window view. The benchmark runs it in the same process as the
companion package, as the baseline "just use NumPy" answer.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["conv2d_forward", "conv2d_backward", "max_pool2d_forward", "max_pool2d_backward",
           "avg_pool2d_forward", "avg_pool2d_backward"]


def _windows(x, KH, KW, sh, sw):
    """View of shape ``(N, C, Ho, Wo, KH, KW)`` on the windows of ``x``."""
    return sliding_window_view(x, (KH, KW), axis=(2, 3))[:, :, ::sh, ::sw]


def conv2d_forward(x, w, b, stride=(1, 1), padding=(0, 0)):
    """im2col convolution; returns ``out`` and a cache tuple."""
    (sh, sw), (ph, pw) = stride, padding
    F, C, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    win = _windows(xp, KH, KW, sh, sw)
    N, _, Ho, Wo = win.shape[:4]
    cols = win.transpose(1, 4, 5, 0, 2, 3).reshape(C * KH * KW, N * Ho * Wo)
    out = (w.reshape(F, -1) @ cols).reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3)
    out = out + b.reshape(1, F, 1, 1)
    return out, (x.shape, xp.shape, w, stride, padding, cols)


def conv2d_backward(dout, cache):
    """Gradients ``dx, dw, db`` of :func:`conv2d_forward`."""
    x_shape, xp_shape, w, (sh, sw), (ph, pw), cols = cache
    F, C, KH, KW = w.shape
    N, _, Ho, Wo = dout.shape
    rows = dout.transpose(1, 0, 2, 3).reshape(F, -1)
    dw = (rows @ cols.T).reshape(w.shape)
    db = dout.sum(axis=(0, 2, 3))
    dcols = (w.reshape(F, -1).T @ rows).reshape(C, KH, KW, N, Ho, Wo)
    dxp = np.zeros(xp_shape, dtype=dout.dtype)
    for kh in range(KH):
        for kw in range(KW):
            dxp[:, :, kh:kh + sh * Ho:sh, kw:kw + sw * Wo:sw] += dcols[:, kh, kw].transpose(1, 0, 2, 3)
    H, W = x_shape[2:]
    return dxp[:, :, ph:ph + H, pw:pw + W], dw, db


def max_pool2d_forward(x, size=(2, 2), stride=(2, 2)):
    """Max pooling; the cache holds the window index of each maximum."""
    (KH, KW), (sh, sw) = size, stride
    win = _windows(x, KH, KW, sh, sw)
    N, C, Ho, Wo = win.shape[:4]
    flat = win.reshape(N, C, Ho, Wo, KH * KW)
    idx = flat.argmax(axis=-1)
    out = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    return out, (x.shape, size, stride, idx)


def max_pool2d_backward(dout, cache):
    """``dx`` of :func:`max_pool2d_forward` (one masked strided add per window offset)."""
    x_shape, (KH, KW), (sh, sw), idx = cache
    Ho, Wo = dout.shape[2:]
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for kh in range(KH):
        for kw in range(KW):
            dx[:, :, kh:kh + sh * Ho:sh, kw:kw + sw * Wo:sw] += dout * (idx == kh * KW + kw)
    return dx


def avg_pool2d_forward(x, size=(2, 2), stride=(2, 2)):
    """Average pooling."""
    (KH, KW), (sh, sw) = size, stride
    return _windows(x, KH, KW, sh, sw).mean(axis=(4, 5)), (x.shape, size, stride)


def avg_pool2d_backward(dout, cache):
    """``dx`` of :func:`avg_pool2d_forward`."""
    x_shape, (KH, KW), (sh, sw) = cache
    Ho, Wo = dout.shape[2:]
    dx = np.zeros(x_shape, dtype=dout.dtype)
    share = dout / (KH * KW)
    for kh in range(KH):
        for kw in range(KW):
            dx[:, :, kh:kh + sh * Ho:sh, kw:kw + sw * Wo:sw] += share
    return dx
