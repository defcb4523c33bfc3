"""Tests of companion.functional.im2col_ops: the unfolded-patch matrix and its adjoint.

* ``im2col`` is compared with a loop reference written here (the definition
  of every entry), over random shapes, kernels, strides and paddings.
* ``col2im`` is checked as the adjoint of ``im2col`` by the dot-product test
  ``<im2col(x), Y> == <x, col2im(Y)>`` (exact up to rounding), and against a
  reference with ``np.add.at``.
* A convolution is one matrix product of the filters with ``im2col(x)``.
* Output sizes follow ``(H + 2*ph - KH) // sh + 1``; bad arguments raise
  errors naming the argument; inputs are never modified.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from companion.functional import col2im, conv_output_size, im2col, pad_images

JIT = not numba.config.DISABLE_JIT
seeds = st.integers(0, 2**32 - 1)


def examples(n):
    """``n`` Hypothesis examples (fewer in plain-Python mode, more with the thorough profile)."""
    n = max(2, int(n * settings.default.max_examples / 40))
    return n if JIT else max(2, n // 2)


def im2col_reference(x, kernel, stride, padding):
    """cols[(c*KH + kh)*KW + kw, (n*Ho + i)*Wo + j] = x_pad[n, c, i*sh + kh, j*sw + kw]."""
    (KH, KW), (sh, sw), (ph, pw) = kernel, stride, padding
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    cols = np.empty((C * KH * KW, N * Ho * Wo), dtype=x.dtype)
    for c in range(C):
        for kh in range(KH):
            for kw in range(KW):
                for n in range(N):
                    for i in range(Ho):
                        for j in range(Wo):
                            cols[(c * KH + kh) * KW + kw, (n * Ho + i) * Wo + j] = \
                                xp[n, c, i * sh + kh, j * sw + kw]
    return cols


def col2im_reference(cols, x_shape, kernel, stride, padding):
    """Scatter-add every entry back to the (padded) pixel it came from, then crop."""
    (KH, KW), (sh, sw), (ph, pw) = kernel, stride, padding
    N, C, H, W = x_shape
    Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    c, kh, kw, n, i, j = np.meshgrid(np.arange(C), np.arange(KH), np.arange(KW), np.arange(N),
                                     np.arange(Ho), np.arange(Wo), indexing="ij")
    np.add.at(dxp, (n, c, i * sh + kh, j * sw + kw), cols.reshape(c.shape))
    return dxp[:, :, ph:ph + H, pw:pw + W]


@st.composite
def geometries(draw, max_size=8):
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    assume(KH <= H + 2 * ph and KW <= W + 2 * pw)
    return (N, C, H, W), (KH, KW), (sh, sw), (ph, pw), draw(seeds)


@settings(max_examples=examples(40))
@given(geometries(), st.sampled_from([np.float32, np.float64]))
def test_im2col_matches_reference(geometry, dtype):
    x_shape, kernel, stride, padding, seed = geometry
    x = np.random.default_rng(seed).standard_normal(x_shape).astype(dtype)
    x_copy = x.copy()
    cols = im2col(x, kernel, stride, padding)
    assert cols.dtype == dtype
    np.testing.assert_array_equal(cols, im2col_reference(x, kernel, stride, padding))
    np.testing.assert_array_equal(x, x_copy)


@settings(max_examples=examples(40))
@given(geometries())
def test_col2im_is_the_adjoint_of_im2col(geometry):
    x_shape, kernel, stride, padding, seed = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    cols = im2col(x, kernel, stride, padding)
    y = rng.standard_normal(cols.shape)
    y_copy = y.copy()
    back = col2im(y, x_shape, kernel, stride, padding)
    assert back.shape == x_shape
    np.testing.assert_array_equal(y, y_copy)
    lhs, rhs = np.sum(cols * y), np.sum(x * back)
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, np.sum(np.abs(cols * y)))
    np.testing.assert_allclose(back, col2im_reference(y, x_shape, kernel, stride, padding),
                               rtol=0, atol=1e-12)


def test_col2im_counts_overlaps():
    # col2im of all-ones counts, for every pixel, the windows that contain it
    counts = col2im(np.ones((4, 4)), (1, 1, 3, 3), 2, 1, 0)[0, 0]
    np.testing.assert_array_equal(counts, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    # padding: the pixels of the padded border are dropped
    counts = col2im(np.ones((9, 9)), (1, 1, 3, 3), 3, 1, 1)[0, 0]
    np.testing.assert_array_equal(counts, [[4, 6, 4], [6, 9, 6], [4, 6, 4]])


def test_convolution_is_one_matrix_product():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 2))
    cols = im2col(x, (3, 2), (2, 1), (1, 0))
    out = (w.reshape(4, -1) @ cols).reshape(4, 2, 4, 5).transpose(1, 0, 2, 3)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    ref = np.zeros((2, 4, 4, 5))
    for i in range(4):
        for j in range(5):
            patch = xp[:, :, 2 * i:2 * i + 3, j:j + 2]
            ref[:, :, i, j] = np.einsum("ncpq,fcpq->nf", patch, w)
    np.testing.assert_allclose(out, ref, atol=1e-12)


def test_im2col_by_hand():
    x = np.arange(1, 10, dtype=np.float64).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(im2col(x, 2), [[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8],
                                                 [5, 6, 8, 9]])
    cols = im2col(x, 2, 2, 1)       # padding 1, stride 2: four corner windows
    np.testing.assert_array_equal(cols, [[0, 0, 0, 5], [0, 0, 4, 6], [0, 2, 0, 8],
                                         [1, 3, 7, 9]])


def test_output_size_and_padding_helpers():
    assert conv_output_size(32, 5, 1, 0) == 28
    assert conv_output_size(32, 3, 1, 1) == 32
    assert conv_output_size(7, 3, 2, 1) == 4
    assert conv_output_size(8, 2, 2, 0) == 4
    for H in range(1, 12):
        for K in range(1, 5):
            for s in range(1, 4):
                for p in range(3):
                    if K <= H + 2 * p:
                        windows = sum(1 for t in range(H + 2 * p) if t * s + K <= H + 2 * p)
                        assert conv_output_size(H, K, s, p) == windows
    x = np.ones((1, 2, 2, 3))
    assert pad_images(x, 0, 0) is x
    xp = pad_images(x, 1, 2)
    assert xp.shape == (1, 2, 4, 7) and xp.sum() == x.sum()
    np.testing.assert_array_equal(xp[:, :, 1:3, 2:5], x)


def test_non_contiguous_and_integer_input():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 8, 6))
    view = np.asfortranarray(x)[:, ::2]
    np.testing.assert_array_equal(im2col(view, 3, 1, 1), im2col(np.ascontiguousarray(view), 3, 1, 1))
    ints = np.arange(16).reshape(1, 1, 4, 4)
    cols = im2col(ints, 2, 2)
    assert cols.dtype == np.float64
    back = col2im(cols[:, ::-1][:, ::-1], (1, 1, 4, 4), 2, 2)         # a non-contiguous view
    np.testing.assert_array_equal(back, ints)


@pytest.mark.parametrize("call, error, message", [
    (lambda: im2col(np.zeros((2, 3, 4)), 2), ValueError, "x must have 4 dimensions"),
    (lambda: im2col(np.zeros((1, 1, 4, 4)), 5), ValueError,
     r"kernel_size \(5, 5\) must not exceed the padded input size"),
    (lambda: im2col(np.zeros((1, 1, 4, 4)), 0), ValueError, "kernel_size must be >= 1"),
    (lambda: im2col(np.zeros((1, 1, 4, 4)), 2, 0), ValueError, "stride must be >= 1"),
    (lambda: im2col(np.zeros((1, 1, 4, 4)), 2, 1, -1), ValueError, "padding must be >= 0"),
    (lambda: im2col(np.full((1, 1, 4, 4), np.nan), 2), ValueError, "x must be finite"),
    (lambda: col2im(np.zeros((4, 8)), (1, 1, 4, 4), 2), ValueError,
     r"cols must have shape \(C\*KH\*KW, N\*H_out\*W_out\) = \(4, 9\), got \(4, 8\)"),
    (lambda: col2im(np.zeros(36), (1, 1, 4, 4), 2), ValueError, "cols must have 2 dimensions"),
    (lambda: col2im(np.zeros((4, 9)), (1, 1, 4), 2), ValueError, "x_shape must be"),
    (lambda: col2im(np.zeros((4, 9)), (1, 1, 4, -4), 2), ValueError, "x_shape must be"),
    (lambda: col2im(np.zeros((4, 9)), (1, 1, 4.0, 4), 2), TypeError, "x_shape must be"),
    (lambda: col2im(np.zeros((4, 9)), 16, 2), TypeError, "x_shape must be"),
    (lambda: col2im(np.full((4, 9), np.inf), (1, 1, 4, 4), 2), ValueError, "cols must be finite"),
])
def test_validation(call, error, message):
    with pytest.raises(error, match=message):
        call()
