"""im2col and col2im: a convolution as one matrix product.

A convolution of a batch ``x`` of shape ``(N, C, H, W)`` with ``F`` filters
``w`` of shape ``(F, C, KH, KW)`` (stride ``(sh, sw)``, zero padding
``(ph, pw)``) computes, for every output position, the dot product of one
filter with one ``C x KH x KW`` patch of the zero-padded input ``x_pad``.
**im2col** copies every patch into a column of a matrix

.. math::

    \\text{cols}\\big[(c K_H + k_h) K_W + k_w,\\; (n H_{out} + i) W_{out} + j\\big]
    = x_{\\text{pad}}[n, c,\\; i s_h + k_h,\\; j s_w + k_w],

of shape ``(C*KH*KW, N*H_out*W_out)``; then the whole forward pass is the
matrix product ``w.reshape(F, -1) @ cols`` of shape ``(F, N*H_out*W_out)``,
which BLAS computes near the machine's peak. The output size along each axis
is

.. math::

    H_{out} = \\left\\lfloor \\frac{H + 2 p_h - K_H}{s_h} \\right\\rfloor + 1,
    \\qquad
    W_{out} = \\left\\lfloor \\frac{W + 2 p_w - K_W}{s_w} \\right\\rfloor + 1 .

**col2im** is the adjoint (transpose) of im2col: it adds every entry of a
``cols``-shaped array back onto the input position it was copied from. Where
windows overlap (stride smaller than the kernel) an input pixel appears in
several columns and its entries are summed; entries that came from the
padding are dropped. That is exactly the backward pass of im2col:
``dx = col2im(w.reshape(F, -1).T @ dout_rows)``.

The per-plane helpers (:func:`im2col_plane`, :func:`col2im_plane`) fill
or read the columns of one image channel; :mod:`companion.functional.conv_gemm`
reuses them on chunks of a batch. The batch kernels (:func:`im2col_kernel`,
:func:`col2im_kernel`) run them in parallel (``prange``) over the ``N*C``
image planes; every element is written by one thread in a fixed order, so the
result does not depend on the number of threads. These four kernels have
public names so that other modules' kernels may call them; they check nothing
(the wrappers :func:`im2col` and :func:`col2im` validate) and are not
re-exported by :mod:`companion.functional`.
"""
from __future__ import annotations

import numbers

import numpy as np
from numba import njit, prange

from companion._threads import apply_thread_policy
from companion._validate import as_float_array, as_pair

apply_thread_policy()

__all__ = ["conv_output_size", "pad_images", "im2col", "col2im"]


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length along one axis: ``(size + 2*padding - kernel) // stride + 1``.

    Parameters
    ----------
    size, kernel, stride, padding : int
        Input length, kernel (window) length, stride (>= 1) and zero padding
        on each side (>= 0).

    Returns
    -------
    int
        The number of window positions (at least 1 when
        ``kernel <= size + 2*padding``).
    """
    return (size + 2 * padding - kernel) // stride + 1


def pad_images(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Zero-pad the two last axes of ``x`` (shape ``(N, C, H, W)``) by ``ph`` and ``pw``.

    Returns ``x`` itself when there is no padding, else a new array of shape
    ``(N, C, H + 2*ph, W + 2*pw)``.
    """
    if ph == 0 and pw == 0:
        return x
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    return xp


@njit(cache=True)
def im2col_plane(xp, n, c, KH, KW, sh, sw, cols, col0):
    """Write the ``KH*KW`` rows of channel ``c`` of image ``n`` into ``cols``.

    Row ``(c*KH + kh)*KW + kw`` gets, from column ``col0`` on, the ``Ho*Wo``
    values ``xp[n, c, i*sh + kh, j*sw + kw]`` in row-major ``(i, j)`` order.
    ``xp`` is the padded input.

    The innermost loop indexes with unsigned integers (``np.uintp``): Numba
    treats a signed index as possibly negative (``a[-1]`` is the last
    element) and adjusts every access, which keeps the loop from vectorizing;
    an unsigned index cannot be negative (about 2x faster here).
    """
    Hp, Wp = xp.shape[2], xp.shape[3]
    Ho = (Hp - KH) // sh + 1
    Wo = (Wp - KW) // sw + 1
    for kh in range(KH):
        for kw in range(KW):
            r = (c * KH + kh) * KW + kw
            for i in range(Ho):
                q = np.uintp(col0 + i * Wo)
                h = i * sh + kh
                if sw == 1:  # contiguous source: the copy vectorizes
                    for j in range(np.uintp(Wo)):
                        cols[r, q + j] = xp[n, c, h, np.uintp(kw) + j]
                else:
                    for j in range(np.uintp(Wo)):
                        cols[r, q + j] = xp[n, c, h, np.uintp(kw) + j * np.uintp(sw)]


@njit(cache=True)
def col2im_plane(cols, col0, n, c, KH, KW, sh, sw, ph, pw, dx):
    """Set ``dx[n, c]`` to the sum of the entries of ``cols`` copied from it.

    The adjoint of :func:`im2col_plane`: accumulates into a zeroed padded
    plane, kernel offset by kernel offset, then drops the padding. (Unsigned
    innermost indices, as in :func:`im2col_plane`.)
    """
    H, W = dx.shape[2], dx.shape[3]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    Ho = (Hp - KH) // sh + 1
    Wo = (Wp - KW) // sw + 1
    plane = np.zeros((Hp, Wp), dtype=dx.dtype)
    for kh in range(KH):
        for kw in range(KW):
            r = (c * KH + kh) * KW + kw
            for i in range(Ho):
                q = np.uintp(col0 + i * Wo)
                h = i * sh + kh
                if sw == 1:
                    for j in range(np.uintp(Wo)):
                        plane[h, np.uintp(kw) + j] += cols[r, q + j]
                else:
                    for j in range(np.uintp(Wo)):
                        plane[h, np.uintp(kw) + j * np.uintp(sw)] += cols[r, q + j]
    for h in range(H):
        for v in range(np.uintp(W)):
            dx[n, c, h, v] = plane[h + ph, np.uintp(pw) + v]


@njit(cache=True, parallel=True)
def im2col_kernel(xp, KH, KW, sh, sw, cols):
    """im2col of a padded batch ``xp``: one task per image plane ``(n, c)``."""
    N, C = xp.shape[0], xp.shape[1]
    Ho = (xp.shape[2] - KH) // sh + 1
    Wo = (xp.shape[3] - KW) // sw + 1
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        im2col_plane(xp, n, c, KH, KW, sh, sw, cols, n * Ho * Wo)


@njit(cache=True, parallel=True)
def col2im_kernel(cols, KH, KW, sh, sw, ph, pw, dx):
    """col2im into ``dx`` (shape ``(N, C, H, W)``, overwritten): one task per plane."""
    N, C, H, W = dx.shape
    Ho = (H + 2 * ph - KH) // sh + 1
    Wo = (W + 2 * pw - KW) // sw + 1
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        col2im_plane(cols, n * Ho * Wo, n, c, KH, KW, sh, sw, ph, pw, dx)


def _geometry(x_shape, kernel_size, stride, padding):
    """Validate kernel size, stride and padding against ``x_shape``; return them as pairs."""
    KH, KW = as_pair(kernel_size, "kernel_size", minimum=1)
    sh, sw = as_pair(stride, "stride", minimum=1)
    ph, pw = as_pair(padding, "padding", minimum=0)
    H, W = x_shape[2], x_shape[3]
    if KH > H + 2 * ph or KW > W + 2 * pw:
        raise ValueError(f"kernel_size {(KH, KW)} must not exceed the padded input size "
                         f"(H + 2*ph, W + 2*pw) = {(H + 2 * ph, W + 2 * pw)}")
    return (KH, KW), (sh, sw), (ph, pw)


def im2col(x, kernel_size, stride=1, padding=0):
    """Unfold every ``C x KH x KW`` patch of ``x`` into a column.

    Parameters
    ----------
    x : array_like, shape ``(N, C, H, W)``
        Input images (float32/float64 kept, integers converted to float64).
    kernel_size : int or (int, int)
        ``(KH, KW)``.
    stride : int or (int, int)
        ``(sh, sw)``, each >= 1.
    padding : int or (int, int)
        Zero padding ``(ph, pw)`` on each side, each >= 0.

    Returns
    -------
    cols : ndarray, shape ``(C*KH*KW, N*H_out*W_out)``
        ``cols[(c*KH + u)*KW + v, (n*H_out + i)*W_out + j]
        = x_pad[n, c, i*sh + u, j*sw + v]``, with
        ``H_out = (H + 2*ph - KH) // sh + 1`` (same for ``W_out``).
    """
    x = as_float_array(x, "x", ndim=4, contiguous=True)
    (KH, KW), (sh, sw), (ph, pw) = _geometry(x.shape, kernel_size, stride, padding)
    N, C, H, W = x.shape
    Ho = conv_output_size(H, KH, sh, ph)
    Wo = conv_output_size(W, KW, sw, pw)
    cols = np.empty((C * KH * KW, N * Ho * Wo), dtype=x.dtype)
    im2col_kernel(pad_images(x, ph, pw), KH, KW, sh, sw, cols)
    return cols


def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    """Adjoint of :func:`im2col`: sum the columns back onto a batch of images.

    Parameters
    ----------
    cols : array_like, shape ``(C*KH*KW, N*H_out*W_out)``
        Values in the layout :func:`im2col` returns (for instance the gradient
        with respect to its output).
    x_shape : tuple of 4 ints
        ``(N, C, H, W)``, the shape of the images.
    kernel_size, stride, padding
        As in :func:`im2col`.

    Returns
    -------
    dx : ndarray, shape ``x_shape``
        ``dx[n, c, i', j']`` is the sum of the entries
        ``cols[(c*KH + u)*KW + v, (n*H_out + i)*W_out + j]`` over all
        ``(u, v, i, j)`` with ``i*sh + u - ph = i'`` and ``j*sw + v - pw = j'``.
    """
    cols = as_float_array(cols, "cols", ndim=2, contiguous=True)
    try:
        items = tuple(x_shape)
    except TypeError:
        raise TypeError(f"x_shape must be a tuple of 4 ints, got {x_shape!r}") from None
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_))
               for s in items):
        raise TypeError(f"x_shape must be a tuple of 4 ints, got {x_shape!r}")
    x_shape = tuple(int(s) for s in items)
    if len(x_shape) != 4 or min(x_shape) < 0:
        raise ValueError(f"x_shape must be (N, C, H, W) with non-negative sizes, got {x_shape}")
    (KH, KW), (sh, sw), (ph, pw) = _geometry(x_shape, kernel_size, stride, padding)
    N, C, H, W = x_shape
    Ho = conv_output_size(H, KH, sh, ph)
    Wo = conv_output_size(W, KW, sw, pw)
    expected = (C * KH * KW, N * Ho * Wo)
    if cols.shape != expected:
        raise ValueError(f"cols must have shape (C*KH*KW, N*H_out*W_out) = {expected}, "
                         f"got {cols.shape}")
    dx = np.empty(x_shape, dtype=cols.dtype)
    col2im_kernel(cols, KH, KW, sh, sw, ph, pw, dx)
    return dx
