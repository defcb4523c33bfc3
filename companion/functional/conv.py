"""2-D convolution layer (卷积层): forward and backward, NCHW.

A batch ``x`` of ``N`` images with ``C`` channels, shape ``(N, C, H, W)``, is
convolved with ``F`` filters ``w`` of shape ``(F, C, KH, KW)`` and a bias
``b`` of shape ``(F,)``, with stride ``(sh, sw)`` and zero padding
``(ph, pw)`` on each side. In the book's notation (its Notation page), with
:math:`x_{\\text{pad}}` the input with the zeros added, output positions
:math:`(i, j)` and offsets :math:`(u, v)` inside the kernel, the output ``out``
of shape ``(N, F, H_out, W_out)`` is

.. math::

    \\text{out}[n, f, i, j] = b[f] + \\sum_{c=0}^{C-1} \\sum_{u=0}^{K_H-1}
    \\sum_{v=0}^{K_W-1} w[f, c, u, v]\\,
    x_{\\text{pad}}[n, c, i s_h + u, j s_w + v],

    H_{out} = \\left\\lfloor \\frac{H + 2 p_h - K_H}{s_h} \\right\\rfloor + 1,
    \\qquad
    W_{out} = \\left\\lfloor \\frac{W + 2 p_w - K_W}{s_w} \\right\\rfloor + 1 .

(This is a cross-correlation, as in every deep-learning library: the filter is
not flipped.) Given the upstream gradient
:math:`\\delta = \\partial L / \\partial\\,\\text{out}`, every output element
:math:`\\delta[n, f, i, j]` sends its share back along the same connections:

.. math::

    \\frac{\\partial L}{\\partial b[f]} = \\sum_{n, i, j} \\delta[n, f, i, j],
    \\qquad
    \\frac{\\partial L}{\\partial w[f, c, u, v]} = \\sum_{n, i, j}
    \\delta[n, f, i, j]\\, x_{\\text{pad}}[n, c, i s_h + u, j s_w + v],

    \\frac{\\partial L}{\\partial x_{\\text{pad}}[n, c, i s_h + u, j s_w + v]}
    \\mathrel{+}= \\delta[n, f, i, j]\\, w[f, c, u, v]
    \\quad\\text{for all } f, i, j, u, v,

and ``dx`` is that last gradient with the padding cut off. The weight gradient
is a correlation of the input with :math:`\\delta`; the input gradient is a
"full" convolution of :math:`\\delta` with the filters.

Algorithms
----------
The same layer is implemented several ways (keyword ``algorithm``); all give
the same result up to float rounding and are checked against each other:

``"naive"``
    The formulas above as plain loops (:func:`_conv2d_forward_naive`,
    :func:`_conv2d_backward_naive`): the version to read, one thread, slow.
``"direct"``
    The same sums with the loops reordered so the innermost loop runs along a
    row of the image (it vectorizes), in parallel over output planes. No BLAS
    (:mod:`companion.functional.conv_direct`).
``"gemm"``
    im2col + BLAS matrix products per chunk of images, inside one parallel
    Numba loop (:mod:`companion.functional.conv_gemm`). Needs NumPy's bundled
    OpenBLAS; where it is missing, asking for ``"gemm"`` runs ``"im2col"``.
``"im2col"``
    im2col of the whole batch, one NumPy ``@`` per product, col2im: the
    textbook formulation (:mod:`companion.functional.conv_gemm`).
``"auto"`` (default)
    ``"gemm"``, or ``"im2col"`` where NumPy's OpenBLAS is not available
    (:func:`choose_algorithm`). Measured at batch 64 in float32 on 2 cores
    (``python -m benchmarks --algorithms direct,gemm,im2col``), ``"gemm"`` was
    the fastest on every layer of LeNet-5 and of the 32x32x3 network (2-9x
    faster than ``"direct"``, 1.5-10x faster than ``"im2col"``); ``"direct"``
    only won on layers that take a few microseconds anyway (one image, a few
    channels).

Every parallel kernel gives each output element to one thread, which sums in
a fixed order: results are bit-identical whatever the number of threads
(``NUMBA_NUM_THREADS``). (The ``"im2col"`` path leaves its matrix products to
NumPy's BLAS, whose results may depend on its own thread count.) This module
holds the definition, the naive kernels and the validating wrappers; the fast
kernels live in the two modules named above.

Names in the code: ``xp`` is :math:`x_{\\text{pad}}`, the loop variables ``kh``,
``kw`` are the offsets :math:`u`, :math:`v`, and ``h``, ``v`` (in the backward
kernels) an input position :math:`(i', j')` of :math:`x_{\\text{pad}}`; ``sh``, ``sw``
and ``ph``, ``pw`` are the stride :math:`s` and padding :math:`p` per axis.

Dtypes: float32 and float64 are kept; integer or boolean input is converted to
float64. ``x``, ``w`` and ``b`` (and ``dout``) must end up with one dtype,
otherwise ``ValueError`` names the argument that differs. NaN or infinite
values are rejected. Inputs are never modified.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from companion import _blas
from companion._threads import threads_for
from companion._validate import as_bool, as_float_array, as_pair, check_same_dtype
from companion.functional.conv_direct import (
    conv2d_backward_input_direct,
    conv2d_backward_weights_direct,
    conv2d_forward_direct,
)
from companion.functional.conv_gemm import (
    conv2d_backward_gemm,
    conv2d_backward_im2col,
    conv2d_forward_gemm,
    conv2d_forward_im2col,
)
from companion.functional.im2col_ops import conv_output_size, pad_images

__all__ = ["Conv2dCache", "conv2d_forward", "conv2d_backward", "ALGORITHMS",
           "choose_algorithm"]

ALGORITHMS = ("auto", "naive", "direct", "gemm", "im2col")
"""The values of the ``algorithm`` keyword of :func:`conv2d_forward`."""


class Conv2dCache(NamedTuple):
    """What :func:`conv2d_backward` needs from the forward pass.

    Attributes
    ----------
    x_padded : ndarray, shape ``(N, C, H + 2*ph, W + 2*pw)``
        The zero-padded input (the validated input itself when there is no
        padding).
    w : ndarray, shape ``(F, C, KH, KW)``
        The filters.
    stride : (int, int)
        ``(sh, sw)``.
    padding : (int, int)
        ``(ph, pw)``.
    x_shape : (int, int, int, int)
        ``(N, C, H, W)``, the shape of the unpadded input.
    algorithm : str
        The algorithm the forward pass used (``"naive"``, ``"direct"``,
        ``"gemm"`` or ``"im2col"``); the backward pass uses the same.
    cols : ndarray or None
        The im2col matrix, kept by the ``"im2col"`` algorithm only (the
        ``"gemm"`` one recomputes it chunk by chunk, in cache-sized pieces).
    """

    x_padded: np.ndarray
    w: np.ndarray
    stride: tuple
    padding: tuple
    x_shape: tuple
    algorithm: str
    cols: np.ndarray | None = None


# ---------------------------------------------------------------------------
# "naive": the formulas as loops (for reading; one thread)
# ---------------------------------------------------------------------------

@njit(cache=True)
def _conv2d_forward_naive(xp, w, b, sh, sw, out):
    """``out[n, f, i, j] = b[f] + sum_{c, kh, kw} w[f, c, kh, kw] * xp[n, c, h, v]``.

    Here ``h = i*sh + kh`` and ``v = j*sw + kw``.
    """
    N, F, Ho, Wo = out.shape
    C, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    total = b[f]
                    for c in range(C):
                        for kh in range(KH):
                            for kw in range(KW):
                                total += (w[f, c, kh, kw]
                                          * xp[n, c, i * sh + kh, j * sw + kw])
                    out[n, f, i, j] = total


@njit(cache=True)
def _conv2d_backward_naive(xp, w, dout, sh, sw, dxp, dw, db):
    """Chain rule, one output element at a time (``dxp``, ``dw``, ``db`` overwritten).

    Output element ``out[n, f, i, j]`` was ``b[f] + sum w[f, c, kh, kw] *
    xp[n, c, i*sh + kh, j*sw + kw]``; its gradient ``g = dout[n, f, i, j]``
    flows to ``b[f]`` (times 1), to each weight (times the input it met) and
    to each input (times the weight it met).
    """
    N, F, Ho, Wo = dout.shape
    C, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    dxp[:] = 0.0
    dw[:] = 0.0
    db[:] = 0.0
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    g = dout[n, f, i, j]
                    db[f] += g
                    for c in range(C):
                        for kh in range(KH):
                            for kw in range(KW):
                                h = i * sh + kh
                                v = j * sw + kw
                                dw[f, c, kh, kw] += g * xp[n, c, h, v]
                                dxp[n, c, h, v] += g * w[f, c, kh, kw]


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------

def choose_algorithm(x_shape, w_shape) -> str:
    """The algorithm ``algorithm="auto"`` picks for these shapes.

    ``"gemm"`` when NumPy's OpenBLAS can be called from the kernels
    (:data:`companion._blas.BLAS_AVAILABLE`), else ``"im2col"``. The shapes do
    not matter at present: ``"gemm"`` was measured fastest on every layer of
    LeNet-5 and of the 32x32x3 network at batch 64, and within a few
    microseconds of the best on small inputs (see the module docstring). They
    are parameters so that a rule measured on other shapes can use them.

    Parameters
    ----------
    x_shape : (N, C, H, W)
    w_shape : (F, C, KH, KW)

    Returns
    -------
    str
        ``"gemm"`` or ``"im2col"``.
    """
    return "gemm" if _blas.BLAS_AVAILABLE else "im2col"


def conv2d_forward(x, w, b, stride=1, padding=0, *, algorithm="auto"):
    """Forward pass of a 2-D convolution layer (NCHW).

    Parameters
    ----------
    x : array_like, shape ``(N, C, H, W)``
        A batch of ``N`` images with ``C`` channels. Need not be contiguous;
        float32 and float64 are kept, integers and booleans become float64.
    w : array_like, shape ``(F, C, KH, KW)``
        ``F`` filters, each ``C x KH x KW``; the dtype of ``x``.
    b : array_like, shape ``(F,)``
        One bias per filter; the dtype of ``x``.
    stride : int or (int, int)
        ``(sh, sw)``, each >= 1; an int is used for both axes.
    padding : int or (int, int)
        Zero padding ``(ph, pw)`` added on each side, each >= 0.
    algorithm : {"auto", "naive", "direct", "gemm", "im2col"}
        How to compute it (see the module docstring); same result up to
        float rounding.

    Returns
    -------
    out : ndarray, shape ``(N, F, H_out, W_out)``, the dtype of ``x``
        ``out[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] *
        x_pad[n, c, i*sh + u, j*sw + v]``, with
        ``H_out = (H + 2*ph - KH) // sh + 1`` and
        ``W_out = (W + 2*pw - KW) // sw + 1``.
    cache : Conv2dCache
        For :func:`conv2d_backward`. It refers to ``x`` itself when ``x`` is
        a C-contiguous float array and there is no padding: do not modify
        ``x`` before the backward pass.

    Raises
    ------
    ValueError
        Wrong number of dimensions; channel mismatch (``w.shape[1] !=
        x.shape[1]``); ``b.shape != (F,)``; a kernel larger than the padded
        input; stride < 1 or padding < 0; empty channel, image or filter
        axes; dtypes that differ; NaN or infinite values; unknown algorithm.
    TypeError
        Non-numeric input, or a stride/padding that is not an int or a pair.
    """
    x = as_float_array(x, "x", ndim=4, contiguous=True)
    w = as_float_array(w, "w", ndim=4, contiguous=True)
    b = as_float_array(b, "b", ndim=1, contiguous=True)
    check_same_dtype(w, "w", x, "x")
    check_same_dtype(b, "b", x, "x")
    sh, sw = as_pair(stride, "stride", minimum=1)
    ph, pw = as_pair(padding, "padding", minimum=0)
    N, C, H, W = x.shape
    F, Cw, KH, KW = w.shape
    if min(C, H, W) < 1:
        raise ValueError(f"x must have at least one channel, row and column, "
                         f"got shape {x.shape}")
    if min(F, KH, KW) < 1:
        raise ValueError(f"w must have at least one filter, row and column, "
                         f"got shape {w.shape}")
    if Cw != C:
        raise ValueError(f"w must have shape (F, C, KH, KW) with C = x.shape[1] = {C} "
                         f"input channels, got {w.shape}")
    if b.shape != (F,):
        raise ValueError(f"b must have shape (F,) = ({F},), one bias per filter, "
                         f"got {b.shape}")
    if KH > H + 2 * ph or KW > W + 2 * pw:
        raise ValueError(f"w: kernel size {(KH, KW)} must not exceed the padded input "
                         f"size (H + 2*ph, W + 2*pw) = {(H + 2 * ph, W + 2 * pw)}")
    algorithm = _resolve_algorithm(algorithm, x.shape, w.shape)
    Ho = conv_output_size(H, KH, sh, ph)
    Wo = conv_output_size(W, KW, sw, pw)
    xp = pad_images(x, ph, pw)
    out = np.empty((N, F, Ho, Wo), dtype=x.dtype)
    cols = None
    if algorithm == "naive":
        _conv2d_forward_naive(xp, w, b, sh, sw, out)
    elif algorithm == "direct":
        with threads_for(out.size * C * KH * KW):
            conv2d_forward_direct(xp, w, b, sh, sw, out)
    elif algorithm == "gemm":
        conv2d_forward_gemm(xp, w, b, (sh, sw), out)
    else:  # "im2col"
        cols = conv2d_forward_im2col(xp, w, b, (sh, sw), out)
    cache = Conv2dCache(xp, w, (sh, sw), (ph, pw), (N, C, H, W), algorithm, cols)
    return out, cache


def conv2d_backward(dout, cache: Conv2dCache, *, input_grad=True):
    """Backward pass of a 2-D convolution layer.

    Parameters
    ----------
    dout : array_like, shape ``(N, F, H_out, W_out)``
        Upstream gradient :math:`\\delta = \\partial L / \\partial\\,\\text{out}`,
        in the dtype of the forward pass. Need not be contiguous; never
        modified.
    cache : Conv2dCache
        From :func:`conv2d_forward`.
    input_grad : bool, default True
        ``False`` skips ``dx`` (returned as ``None``): the first layer of a
        network needs only its weight gradients, as PyTorch does not compute
        the gradient of data that does not require one. ``dw`` and ``db`` are
        the same either way, to the bit.

    Returns
    -------
    dx : ndarray, shape ``(N, C, H, W)``, or None
        ``dx[n, c, i', j']`` = sum over ``f, i, j, u, v`` with
        ``i*sh + u - ph = i'`` and ``j*sw + v - pw = j'`` of
        ``dout[n, f, i, j] * w[f, c, u, v]`` (offsets ``u, v`` in the kernel).
    dw : ndarray, shape ``(F, C, KH, KW)``
        ``dw[f, c, u, v] = sum_{n, i, j} dout[n, f, i, j] *
        x_pad[n, c, i*sh + u, j*sw + v]``.
    db : ndarray, shape ``(F,)``
        ``db[f] = sum_{n, i, j} dout[n, f, i, j]``.

    Raises
    ------
    ValueError
        ``dout`` of another shape than the forward output
        ``(N, F, H_out, W_out)`` (with ``H_out = (H + 2*ph - KH) // sh + 1``,
        ``W_out = (W + 2*pw - KW) // sw + 1``) or of another dtype; NaN or
        infinite values; an inconsistent cache.
    TypeError
        ``cache`` is not a :class:`Conv2dCache`.
    """
    input_grad = as_bool(input_grad, "input_grad")
    xp, w, (sh, sw), (ph, pw), (N, C, H, W), algorithm, cols = _check_cache(cache)
    F, _, KH, KW = w.shape
    Ho = conv_output_size(H, KH, sh, ph)
    Wo = conv_output_size(W, KW, sw, pw)
    dout = as_float_array(dout, "dout", contiguous=True)
    if dout.shape != (N, F, Ho, Wo):
        raise ValueError(f"dout must have shape (N, F, H_out, W_out) = "
                         f"{(N, F, Ho, Wo)}, the shape of the forward output, "
                         f"got {dout.shape}")
    if dout.dtype != w.dtype:
        raise ValueError(f"dout must have the dtype of the forward pass ({w.dtype}), "
                         f"got {dout.dtype}")
    dx = np.empty((N, C, H, W) if input_grad else (0, 0, 0, 0), dtype=w.dtype)
    dw = np.empty(w.shape, dtype=w.dtype)
    db = np.empty(F, dtype=w.dtype)
    if algorithm == "naive":
        dxp = np.empty(xp.shape, dtype=w.dtype)
        _conv2d_backward_naive(xp, w, dout, sh, sw, dxp, dw, db)
        if input_grad:
            dx[...] = dxp[:, :, ph:ph + H, pw:pw + W]
    elif algorithm == "direct":
        with threads_for(dout.size * C * KH * KW):
            conv2d_backward_weights_direct(xp, dout, sh, sw, dw, db)
            if input_grad:
                conv2d_backward_input_direct(dout, w, sh, sw, ph, pw, dx)
    elif algorithm == "gemm":
        conv2d_backward_gemm(xp, w, dout, (sh, sw), (ph, pw), dx, dw, db, input_grad)
    else:  # "im2col"
        conv2d_backward_im2col(cols, w, dout, (sh, sw), (ph, pw), dx, dw, db, input_grad)
    return (dx if input_grad else None), dw, db


def _resolve_algorithm(algorithm, x_shape, w_shape) -> str:
    """The algorithm to run: ``"auto"`` resolved, and ``"gemm"`` without OpenBLAS
    replaced by ``"im2col"``."""
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if algorithm == "auto":
        return choose_algorithm(x_shape, w_shape)
    if algorithm == "gemm" and not _blas.BLAS_AVAILABLE:
        return "im2col"
    return algorithm


def _check_cache(cache) -> Conv2dCache:
    """Check that ``cache`` is a consistent :class:`Conv2dCache` (kernels trust it)."""
    if not isinstance(cache, Conv2dCache):
        raise TypeError(f"cache must be the Conv2dCache returned by conv2d_forward, "
                        f"got {type(cache).__name__}")
    xp, w, stride, padding, x_shape, algorithm, cols = cache
    ok = (isinstance(xp, np.ndarray) and isinstance(w, np.ndarray) and xp.ndim == 4
          and w.ndim == 4 and xp.dtype == w.dtype
          and xp.dtype.type in (np.float32, np.float64)
          and xp.flags.c_contiguous and w.flags.c_contiguous
          and algorithm in ALGORITHMS[1:]
          and (algorithm != "gemm" or _blas.BLAS_AVAILABLE))
    if ok:
        try:
            (sh, sw), (ph, pw) = (int(s) for s in stride), (int(p) for p in padding)
            N, C, H, W = (int(s) for s in x_shape)
        except (TypeError, ValueError):
            ok = False
    if ok:
        F, _, KH, KW = w.shape
        ok = (min(sh, sw) >= 1 and min(ph, pw) >= 0 and w.shape[1] == C
              and xp.shape == (N, C, H + 2 * ph, W + 2 * pw)
              and KH <= H + 2 * ph and KW <= W + 2 * pw)
        if ok and algorithm == "im2col":
            Ho = conv_output_size(H, KH, sh, ph)
            Wo = conv_output_size(W, KW, sw, pw)
            ok = (isinstance(cols, np.ndarray) and cols.dtype == w.dtype
                  and cols.shape == (C * KH * KW, N * Ho * Wo))
    if not ok:
        raise ValueError("cache must be the unchanged Conv2dCache returned by "
                         "conv2d_forward (its fields are inconsistent)")
    return Conv2dCache(xp, w, (sh, sw), (ph, pw), (N, C, H, W), algorithm, cols)
