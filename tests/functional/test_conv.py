"""Tests of companion.functional.conv: the 2-D convolution layer, every algorithm.

* The forward pass is compared with a NumPy reference written here (zero
  padding with ``np.pad``, windows with ``sliding_window_view``, the sum with
  ``einsum``), for every algorithm, over random shapes, strides and paddings
  (non-square images, kernels, strides and paddings).
* Every backward pass is compared with central finite differences in float64
  (``companion.teaching.gradcheck``), relative error < 1e-7. ``sum(out * dout)`` is
  *linear* in each of ``x``, ``w`` and ``b``, so a central difference has no
  truncation error at any step: a large step (0.5) leaves only rounding,
  about 1e-13 here, far below the threshold (a small step would divide that
  rounding by the step instead).
* Every algorithm agrees with the readable ``"naive"`` kernels; float32 agrees
  with float64 within the float32 rounding bound of a sum; bad arguments raise
  errors naming the argument; inputs are never modified.
* Subprocesses check that ``NUMBA_NUM_THREADS=1`` and ``=2`` give identical
  bytes, that the fallback without NumPy's OpenBLAS works, that the thread
  policy is applied, and that a cold Numba cache writes nothing to stderr.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from companion import _blas
from companion.functional import conv_gemm as conv_gemm_module
from companion.functional.conv import (
    ALGORITHMS,
    Conv2dCache,
    _conv2d_backward_naive,
    _conv2d_forward_naive,
    choose_algorithm,
    conv2d_backward,
    conv2d_forward,
)
from companion.teaching import numerical_gradient_array, relative_error

JIT = not numba.config.DISABLE_JIT
ALGOS = [a for a in ALGORITHMS if a != "auto"]
seeds = st.integers(0, 2**32 - 1)


def examples(n):
    """``n`` Hypothesis examples (fewer in plain-Python mode, more with the thorough profile)."""
    scale = settings.default.max_examples / 40
    n = max(2, int(n * scale))
    return n if JIT else max(2, n // 2)


# ---------------------------------------------------------------------------
# The NumPy reference (independent of the package)
# ---------------------------------------------------------------------------

def conv_reference(x, w, b, stride, padding):
    """out[n,f,i,j] = b[f] + sum_{c,p,q} w[f,c,p,q] x_pad[n,c,i*sh+p,j*sw+q], in float64."""
    (sh, sw), (ph, pw) = stride, padding
    x = np.asarray(x, np.float64)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::sh, ::sw]
    return np.einsum("ncijpq,fcpq->nfij", win, np.asarray(w, np.float64)) \
        + np.asarray(b, np.float64)[None, :, None, None]


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@st.composite
def conv_problems(draw, max_size=9, max_batch=3, max_channels=3, max_filters=4):
    """A random convolution: shapes, stride and padding (each axis drawn separately)."""
    N = draw(st.integers(1, max_batch))
    C = draw(st.integers(1, max_channels))
    F = draw(st.integers(1, max_filters))
    H, W = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    assume(KH <= H + 2 * ph and KW <= W + 2 * pw)
    return (N, C, H, W), (F, C, KH, KW), (sh, sw), (ph, pw), draw(seeds)


def make_arrays(x_shape, w_shape, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    return x, w, b, rng


def scale_of(a):
    return max(1.0, float(np.max(np.abs(a)))) if np.size(a) else 1.0


# ---------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------

@settings(max_examples=examples(40))
@given(conv_problems(), st.sampled_from(ALGORITHMS))
def test_forward_matches_numpy_reference(problem, algorithm):
    x_shape, w_shape, stride, padding, seed = problem
    x, w, b, _ = make_arrays(x_shape, w_shape, seed)
    out, cache = conv2d_forward(x, w, b, stride, padding, algorithm=algorithm)
    ref = conv_reference(x, w, b, stride, padding)
    assert out.shape == ref.shape
    N, C, H, W = x_shape
    F, _, KH, KW = w_shape
    assert out.shape == (N, F, (H + 2 * padding[0] - KH) // stride[0] + 1,
                         (W + 2 * padding[1] - KW) // stride[1] + 1)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12 * scale_of(ref))
    assert isinstance(cache, Conv2dCache)
    assert cache.algorithm == (choose_algorithm(x.shape, w.shape) if algorithm == "auto"
                               else "im2col" if algorithm == "gemm" and not _blas.BLAS_AVAILABLE
                               else algorithm)


def test_forward_by_hand():
    # 1 image, 1 channel, 3x3 input, 2x2 kernel of ones: each output = window sum + bias
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2))
    for algorithm in ALGORITHMS:
        out, _ = conv2d_forward(x, w, np.array([0.5]), algorithm=algorithm)
        np.testing.assert_array_equal(out[0, 0], [[8.5, 12.5], [20.5, 24.5]])
    # padding 1 and stride 2 on a 3x3 image: corners see one 2x2 block of zeros and x
    out, _ = conv2d_forward(x, w, np.zeros(1), stride=2, padding=1)
    np.testing.assert_array_equal(out[0, 0], [[0.0, 3.0], [9.0, 24.0]])


def test_output_size_formula_and_nonsquare():
    x = np.zeros((2, 3, 11, 7))
    w = np.zeros((5, 3, 4, 2))
    for stride, padding in [((1, 1), (0, 0)), ((2, 3), (1, 0)), ((3, 1), (2, 2))]:
        out, _ = conv2d_forward(x, w, np.zeros(5), stride, padding)
        (sh, sw), (ph, pw) = stride, padding
        assert out.shape == (2, 5, (11 + 2 * ph - 4) // sh + 1, (7 + 2 * pw - 2) // sw + 1)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_empty_batch(algorithm):
    x = np.zeros((0, 2, 5, 5))
    w = np.ones((3, 2, 3, 3))
    out, cache = conv2d_forward(x, w, np.zeros(3), padding=1, algorithm=algorithm)
    assert out.shape == (0, 3, 5, 5)
    dx, dw, db = conv2d_backward(np.zeros(out.shape), cache)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dw, 0.0)
    np.testing.assert_array_equal(db, 0.0)


# ---------------------------------------------------------------------------
# Backward: finite differences
# ---------------------------------------------------------------------------

FD_STEP = 0.5  # exact for a linear function up to rounding (see the module docstring)


@settings(max_examples=examples(25))
@given(conv_problems(max_size=7, max_batch=2), st.sampled_from(["auto", "naive"]))
def test_backward_matches_finite_differences(problem, algorithm):
    x_shape, w_shape, stride, padding, seed = problem
    x, w, b, rng = make_arrays(x_shape, w_shape, seed)
    out, cache = conv2d_forward(x, w, b, stride, padding, algorithm=algorithm)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)

    def f_x(z):
        return conv2d_forward(z, w, b, stride, padding, algorithm=algorithm)[0]

    def f_w(z):
        return conv2d_forward(x, z, b, stride, padding, algorithm=algorithm)[0]

    def f_b(z):
        return conv2d_forward(x, w, z, stride, padding, algorithm=algorithm)[0]

    assert relative_error(dx, numerical_gradient_array(f_x, x, dout, FD_STEP)) < 1e-7
    assert relative_error(dw, numerical_gradient_array(f_w, w, dout, FD_STEP)) < 1e-7
    assert relative_error(db, numerical_gradient_array(f_b, b, dout, FD_STEP)) < 1e-7


def sampled_numerical_gradient(f, a, dout, indices, h=FD_STEP):
    """Central differences of ``sum(f(a) * dout)`` for the flat ``indices`` of ``a`` only."""
    flat = a.reshape(-1)
    grad = np.empty(len(indices))
    for k, i in enumerate(indices):
        old = flat[i]
        flat[i] = old + h
        plus = np.sum(f(a) * dout)
        flat[i] = old - h
        minus = np.sum(f(a) * dout)
        flat[i] = old
        grad[k] = (plus - minus) / (2 * h)
    return grad


def test_finite_differences_of_a_layer_in_lenet_shape():
    # one image through LeNet's conv2 shape (6 -> 16 channels, 5x5 kernels), default
    # algorithm; a random sample of the 1176 inputs and 2400 weights, every bias
    x, w, b, rng = make_arrays((1, 6, 14, 14), (16, 6, 5, 5), 7)
    out, cache = conv2d_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    ix = rng.choice(x.size, 40, replace=False)
    iw = rng.choice(w.size, 40, replace=False)
    num_x = sampled_numerical_gradient(lambda z: conv2d_forward(z, w, b)[0], x, dout, ix)
    num_w = sampled_numerical_gradient(lambda z: conv2d_forward(x, z, b)[0], w, dout, iw)
    num_b = numerical_gradient_array(lambda z: conv2d_forward(x, w, z)[0], b, dout, FD_STEP)
    assert relative_error(dx.reshape(-1)[ix], num_x) < 1e-7
    assert relative_error(dw.reshape(-1)[iw], num_w) < 1e-7
    assert relative_error(db, num_b) < 1e-7


def test_backward_by_hand():
    # out = sum of a 2x2 window: every dout goes to the 4 inputs of its window and dw = sum of
    # dout times the inputs seen
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2))
    dout = np.array([[[[1.0, 0.0], [0.0, 2.0]]]])
    for algorithm in ALGORITHMS:
        _, cache = conv2d_forward(x, w, np.zeros(1), algorithm=algorithm)
        dx, dw, db = conv2d_backward(dout, cache)
        np.testing.assert_array_equal(dx[0, 0], [[1, 1, 0], [1, 3, 2], [0, 2, 2]])
        np.testing.assert_array_equal(dw[0, 0], [[0 + 8, 1 + 10], [3 + 14, 4 + 16]])
        np.testing.assert_array_equal(db, [3.0])


# ---------------------------------------------------------------------------
# All algorithms agree with the naive kernels; float32 against float64
# ---------------------------------------------------------------------------

@settings(max_examples=examples(40))
# batches of 1-6: "gemm" splits the images of a batch under 4, chunks larger ones
@given(conv_problems(max_batch=6), st.sampled_from(["direct", "gemm", "im2col", "auto"]))
def test_algorithms_agree_with_naive(problem, algorithm):
    x_shape, w_shape, stride, padding, seed = problem
    x, w, b, rng = make_arrays(x_shape, w_shape, seed)
    out_n, cache_n = conv2d_forward(x, w, b, stride, padding, algorithm="naive")
    out_a, cache_a = conv2d_forward(x, w, b, stride, padding, algorithm=algorithm)
    dout = rng.standard_normal(out_n.shape)
    for got, want in zip((out_a,) + conv2d_backward(dout, cache_a),
                         (out_n,) + conv2d_backward(dout, cache_n)):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * scale_of(want))


@pytest.mark.skipif(not _blas.BLAS_AVAILABLE, reason="NumPy's OpenBLAS not found")
@settings(max_examples=examples(20))
@given(st.integers(1, 40), st.integers(1, 3000), st.integers(1, 1 << 12), seeds)
def test_gemm_chunks_and_groups(N, min_columns, budget, seed):
    # The "gemm" path cuts the batch into chunks of images (the last one may be shorter) and
    # the backward pass sums partial weight gradients per group of chunks. The default sizes
    # give one group per chunk on small layers, so other sizes are forced here.
    x, w, b, rng = make_arrays((N, 2, 9, 7), (3, 2, 3, 2), seed)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv_gemm_module, "_GEMM_MIN_COLUMNS", min_columns)
        mp.setattr(conv_gemm_module, "_GEMM_PARTIALS_BUDGET", budget)
        mp.setattr(conv_gemm_module, "_GEMM_MIN_GROUPS", 3)
        out, cache = conv2d_forward(x, w, b, (1, 2), (1, 1), algorithm="gemm")
        dout = rng.standard_normal(out.shape)
        grads = conv2d_backward(dout, cache)
    out_n, cache_n = conv2d_forward(x, w, b, (1, 2), (1, 1), algorithm="naive")
    for got, want in zip((out,) + grads, (out_n,) + conv2d_backward(dout, cache_n)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * scale_of(want))


def test_naive_kernels_directly():
    # the kernels the book shows, called as the book calls them (padded input, preallocated out)
    x, w, b, rng = make_arrays((2, 3, 6, 5), (4, 3, 3, 2), 3)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.empty((2, 4, (8 - 3) // 2 + 1, (7 - 2) // 1 + 1))
    _conv2d_forward_naive(xp, w, b, 2, 1, out)
    np.testing.assert_allclose(out, conv_reference(x, w, b, (2, 1), (1, 1)), atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dxp, dw, db = np.full(xp.shape, np.nan), np.full(w.shape, np.nan), np.full(4, np.nan)
    _conv2d_backward_naive(xp, w, dout, 2, 1, dxp, dw, db)     # overwrites NaNs: zeroes first
    _, cache = conv2d_forward(x, w, b, (2, 1), (1, 1), algorithm="direct")
    dx_d, dw_d, db_d = conv2d_backward(dout, cache)
    np.testing.assert_allclose(dxp[:, :, 1:-1, 1:-1], dx_d, atol=1e-12)
    np.testing.assert_allclose(dw, dw_d, atol=1e-12)
    np.testing.assert_allclose(db, db_d, atol=1e-12)


def float32_bound(terms, x_abs_sum):
    """Rounding bound of a float32 sum of ``terms`` products whose absolute values add to ``x_abs_sum``."""
    u = np.finfo(np.float32).eps / 2
    return 1.01 * (terms * u / (1 - terms * u)) * x_abs_sum + 1e-30


@settings(max_examples=examples(30))
@given(conv_problems(), st.sampled_from(ALGORITHMS))
def test_float32_agrees_with_float64(problem, algorithm):
    x_shape, w_shape, stride, padding, seed = problem
    x, w, b, rng = make_arrays(x_shape, w_shape, seed, np.float32)
    out, cache = conv2d_forward(x, w, b, stride, padding, algorithm=algorithm)
    assert out.dtype == np.float32
    x64, w64, b64 = x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)
    K = w.shape[1] * w.shape[2] * w.shape[3]
    ref = conv_reference(x64, w64, b64, stride, padding)
    bound = float32_bound(K + 1, conv_reference(np.abs(x64), np.abs(w64), np.abs(b64),
                                                stride, padding))
    assert np.all(np.abs(out - ref) <= bound)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx, dw, db = conv2d_backward(dout, cache)
    assert dx.dtype == dw.dtype == db.dtype == np.float32
    _, cache64 = conv2d_forward(x64, w64, b64, stride, padding, algorithm="naive")
    dx64, dw64, db64 = conv2d_backward(dout.astype(np.float64), cache64)
    _, cache_abs = conv2d_forward(np.abs(x64), np.abs(w64), b64, stride, padding,
                                  algorithm="naive")
    dxa, dwa, dba = conv2d_backward(np.abs(dout).astype(np.float64), cache_abs)
    N, F, Ho, Wo = out.shape
    assert np.all(np.abs(dx - dx64) <= float32_bound(F * w.shape[2] * w.shape[3], dxa))
    assert np.all(np.abs(dw - dw64) <= float32_bound(N * Ho * Wo, dwa))
    assert np.all(np.abs(db - db64) <= float32_bound(N * Ho * Wo, dba))


# ---------------------------------------------------------------------------
# Inputs: dtypes, layouts, never modified
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_inputs_never_modified(algorithm):
    x, w, b, rng = make_arrays((2, 3, 7, 6), (4, 3, 3, 3), 11)
    dout = rng.standard_normal((2, 4, 4, 2))
    copies = [a.copy() for a in (x, w, b, dout)]
    out, cache = conv2d_forward(x, w, b, stride=(2, 2), padding=(1, 0), algorithm=algorithm)
    assert out.shape == dout.shape
    dx, dw, db = conv2d_backward(dout, cache)
    conv2d_backward(dout, cache)                               # twice: the cache is reusable
    for a, c in zip((x, w, b, dout), copies):
        np.testing.assert_array_equal(a, c)
    for result in (out, dx, dw, db):
        for a in (x, w, b, dout):
            assert not np.shares_memory(result, a)


def test_read_only_inputs():
    x, w, b, rng = make_arrays((2, 2, 6, 6), (3, 2, 3, 3), 5)
    dout = rng.standard_normal((2, 3, 4, 4))
    for a in (x, w, b, dout):
        a.setflags(write=False)
    out, cache = conv2d_forward(x, w, b)
    dx, dw, db = conv2d_backward(dout, cache)
    np.testing.assert_allclose(out, conv_reference(x, w, b, (1, 1), (0, 0)), atol=1e-12)
    assert dx.flags.writeable and dw.flags.writeable and db.flags.writeable


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_non_contiguous_inputs(algorithm):
    x, w, b, rng = make_arrays((3, 4, 9, 8), (5, 4, 3, 2), 9)
    x_view = np.asfortranarray(x)[:, :, ::2, :]            # strided and Fortran-ordered
    w_view = np.swapaxes(np.swapaxes(w, 2, 3).copy(), 2, 3)  # transposed memory
    b_view = np.repeat(b, 2)[::2]
    out_v, cache_v = conv2d_forward(x_view, w_view, b_view, 1, 1, algorithm=algorithm)
    out_c, cache_c = conv2d_forward(np.ascontiguousarray(x_view), w, b, 1, 1,
                                    algorithm=algorithm)
    np.testing.assert_array_equal(out_v, out_c)
    dout = rng.standard_normal(out_c.shape)
    dout_view = np.asfortranarray(dout)
    for g_v, g_c in zip(conv2d_backward(dout_view, cache_v), conv2d_backward(dout, cache_c)):
        np.testing.assert_array_equal(g_v, g_c)


def test_integer_input_becomes_float64():
    x = np.arange(2 * 1 * 5 * 5).reshape(2, 1, 5, 5)
    w = np.ones((2, 1, 3, 3), dtype=np.int32)
    out, cache = conv2d_forward(x, w, np.array([0, 1]))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, conv_reference(x, w, np.array([0, 1]), (1, 1), (0, 0)))
    dx, dw, db = conv2d_backward(np.ones(out.shape, dtype=np.int64), cache)
    assert dx.dtype == dw.dtype == db.dtype == np.float64


# ---------------------------------------------------------------------------
# Validation: errors name the argument
# ---------------------------------------------------------------------------

def _good():
    return np.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3)), np.zeros(4)


@pytest.mark.parametrize("call, error, message", [
    (lambda x, w, b: conv2d_forward(x[0], w, b), ValueError, "x must have 4 dimensions"),
    (lambda x, w, b: conv2d_forward(x, w[0], b), ValueError, "w must have 4 dimensions"),
    (lambda x, w, b: conv2d_forward(x, w, b[None]), ValueError, "b must have 1 dimensions"),
    (lambda x, w, b: conv2d_forward(x, w[:, :2], b), ValueError,
     r"w must have shape \(F, C, KH, KW\) with C = x.shape\[1\] = 3"),
    (lambda x, w, b: conv2d_forward(x, w, b[:3]), ValueError, r"b must have shape \(F,\) = \(4,\)"),
    (lambda x, w, b: conv2d_forward(x, np.zeros((4, 3, 9, 3)), b), ValueError,
     r"w: kernel size \(9, 3\) must not exceed the padded input size"),
    (lambda x, w, b: conv2d_forward(x[:, :, :2], w, b, padding=0), ValueError, "w: kernel size"),
    (lambda x, w, b: conv2d_forward(x, w, b, stride=0), ValueError, "stride must be >= 1"),
    (lambda x, w, b: conv2d_forward(x, w, b, stride=(1, -2)), ValueError, "stride must be >= 1"),
    (lambda x, w, b: conv2d_forward(x, w, b, stride=(1, 2, 3)), ValueError,
     "stride must be an int or a pair"),
    (lambda x, w, b: conv2d_forward(x, w, b, stride=1.5), TypeError, "stride"),
    (lambda x, w, b: conv2d_forward(x, w, b, padding=-1), ValueError, "padding must be >= 0"),
    (lambda x, w, b: conv2d_forward(x, w, b, padding="same"), ValueError,
     "padding must be an int or a pair of ints"),
    (lambda x, w, b: conv2d_forward(x.astype(np.float32), w, b), ValueError,
     r"w must have the dtype of x \(float32\), got float64"),
    (lambda x, w, b: conv2d_forward(x, w, b.astype(np.float32)), ValueError,
     r"b must have the dtype of x \(float64\), got float32"),
    (lambda x, w, b: conv2d_forward(np.full_like(x, np.nan), w, b), ValueError,
     "x must be finite"),
    (lambda x, w, b: conv2d_forward(x, np.full_like(w, np.inf), b), ValueError,
     "w must be finite"),
    (lambda x, w, b: conv2d_forward(x, w, np.full_like(b, -np.inf)), ValueError,
     "b must be finite"),
    (lambda x, w, b: conv2d_forward(x[:, :0], w[:, :0], b), ValueError,
     "x must have at least one channel"),
    (lambda x, w, b: conv2d_forward(x, w[:0], b[:0]), ValueError, "w must have at least one filter"),
    (lambda x, w, b: conv2d_forward(x + 1j, w, b), TypeError, "x must be real-valued"),
    (lambda x, w, b: conv2d_forward("x", w, b), TypeError, "x must be an array of numbers"),
    (lambda x, w, b: conv2d_forward(x, w, None), TypeError, "b must be an array of numbers"),
    (lambda x, w, b: conv2d_forward(x, w, b, algorithm="fft"), ValueError,
     "algorithm must be one of"),
])
def test_forward_validation(call, error, message):
    with pytest.raises(error, match=message):
        call(*_good())


def test_backward_validation():
    x, w, b = _good()
    out, cache = conv2d_forward(x, w, b)
    with pytest.raises(ValueError, match=r"dout must have shape \(N, F, H_out, W_out\) = "
                                         r"\(2, 4, 6, 6\)"):
        conv2d_backward(np.zeros((2, 4, 6, 5)), cache)
    with pytest.raises(ValueError, match=r"dout must have the dtype of the forward pass"):
        conv2d_backward(np.zeros(out.shape, np.float32), cache)
    with pytest.raises(ValueError, match="dout must be finite"):
        conv2d_backward(np.full(out.shape, np.nan), cache)
    with pytest.raises(TypeError, match="cache must be the Conv2dCache"):
        conv2d_backward(np.zeros(out.shape), tuple(cache))
    bad_caches = [cache._replace(x_padded=cache.x_padded[:, :, :-1]),
                  cache._replace(w=cache.w[:, :2]),
                  cache._replace(stride=(0, 1)),
                  cache._replace(padding=(1, 0)),
                  cache._replace(x_shape=(2, 3, 9, 8)),
                  cache._replace(algorithm="fft"),
                  cache._replace(x_padded=cache.x_padded.astype(np.float32))]
    _, cache_i2c = conv2d_forward(x, w, b, algorithm="im2col")
    bad_caches.append(cache_i2c._replace(cols=cache_i2c.cols[:, :-1]))
    for bad in bad_caches:
        with pytest.raises(ValueError, match="cache must be the unchanged Conv2dCache"):
            conv2d_backward(np.zeros(out.shape), bad)


# ---------------------------------------------------------------------------
# The BLAS kernels, the fallback without them, the thread policy
# ---------------------------------------------------------------------------

@pytest.mark.skipif(not _blas.BLAS_AVAILABLE, reason="NumPy's OpenBLAS not found")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_jitted_gemm_matches_numpy(dtype):
    # all transposition flags, beta 0 and 1, views whose row stride exceeds their width
    @numba.njit
    def run(ta, tb, alpha, a, b, beta, c):
        _blas.gemm(ta, tb, alpha, a, b, beta, c)

    rng = np.random.default_rng(0)
    for ta in (False, True):
        for tb in (False, True):
            big_a = rng.standard_normal((9, 11)).astype(dtype)
            big_b = rng.standard_normal((9, 11)).astype(dtype)
            a = big_a[:5, :3] if not ta else big_a[:3, :5]      # op(a) is 5x3
            b = big_b[:3, :4] if not tb else big_b[:4, :3]      # op(b) is 3x4
            big_c = rng.standard_normal((6, 8)).astype(dtype)
            c = big_c[:5, :4]                                    # row stride 8, width 4
            for beta in (0.0, 1.0):
                before = big_c.copy()
                want = 2.0 * ((a.T if ta else a) @ (b.T if tb else b)) + beta * before[:5, :4]
                run(ta, tb, 2.0, a, b, beta, c)
                np.testing.assert_allclose(c, want, rtol=1e-5 if dtype == np.float32 else 1e-12)
                outside = np.ones(big_c.shape, bool)
                outside[:5, :4] = False
                np.testing.assert_array_equal(big_c[outside], before[outside])


def test_python_gemm_matches_numpy():
    # the version that runs with NUMBA_DISABLE_JIT=1
    rng = np.random.default_rng(1)
    a, b, c = rng.standard_normal((4, 3)), rng.standard_normal((5, 3)), rng.standard_normal((4, 5))
    c0 = c.copy()
    _blas.gemm(False, True, 0.5, a, b, 2.0, c)
    np.testing.assert_allclose(c, 0.5 * a @ b.T + 2.0 * c0, rtol=1e-12)
    _blas.gemm(True, False, 1.0, a.T.copy(), b.T.copy(), 0.0, c)
    np.testing.assert_allclose(c, a @ b.T, rtol=1e-12)


def test_single_threaded_blas_restores_the_count():
    before = _blas.blas_num_threads()
    with _blas.single_threaded_blas():
        if _blas.BLAS_AVAILABLE:
            assert _blas.blas_num_threads() == 1
        with _blas.single_threaded_blas():
            pass
        if _blas.BLAS_AVAILABLE:
            assert _blas.blas_num_threads() == 1
    assert _blas.blas_num_threads() == before


def test_auto_without_blas_kernels_uses_im2col(monkeypatch):
    monkeypatch.setattr(_blas, "BLAS_AVAILABLE", False)
    assert choose_algorithm((64, 6, 14, 14), (16, 6, 5, 5)) == "im2col"
    x, w, b, rng = make_arrays((2, 3, 6, 6), (4, 3, 3, 3), 2)
    for algorithm in ("auto", "gemm"):
        out, cache = conv2d_forward(x, w, b, algorithm=algorithm)
        assert cache.algorithm == "im2col"
        np.testing.assert_allclose(out, conv_reference(x, w, b, (1, 1), (0, 0)), atol=1e-12)


def run_python(code, env_extra=None, drop=()):
    """Run ``code`` in a fresh interpreter; return (returncode, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def test_fallback_without_blas_kernels(tmp_path):
    # As on a NumPy built with MKL or Accelerate: no OpenBLAS symbols. Everything runs, the
    # results match this process's, gemm cannot be compiled (a clean TypingError), no stderr.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 7, 6)).astype(np.float32)
    w = rng.standard_normal((5, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    out, cache = conv2d_forward(x, w, b, padding=1)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    grads = conv2d_backward(dout, cache)
    np.savez(tmp_path / "inputs.npz", x=x, w=w, b=b, dout=dout)
    code = f"""
        import json, numpy as np, numba
        from companion import _blas
        from companion.functional import (
            ALGORITHMS,
            choose_algorithm,
            conv2d_backward,
            conv2d_forward,
        )
        d = np.load({str(tmp_path / "inputs.npz")!r})
        results, used = {{}}, {{}}
        for algorithm in ALGORITHMS:
            out, cache = conv2d_forward(d["x"], d["w"], d["b"], padding=1, algorithm=algorithm)
            results[algorithm] = (out,) + conv2d_backward(d["dout"], cache)
            used[algorithm] = cache.algorithm
        np.savez({str(tmp_path / "fallback.npz")!r},
                 **{{f"{{a}}_{{i}}": r for a, rs in results.items() for i, r in enumerate(rs)}})
        message = ""
        if not numba.config.DISABLE_JIT:
            @numba.njit
            def product(a, b, c):
                _blas.gemm(False, False, 1.0, a, b, 0.0, c)
            try:
                product(np.ones((2, 2)), np.ones((2, 2)), np.empty((2, 2)))
            except numba.core.errors.TypingError as err:
                message = "TypingError" if "OpenBLAS" in str(err) else str(err)
        print(json.dumps({{"available": _blas.BLAS_AVAILABLE, "library": _blas.BLAS_LIBRARY,
                          "threads": _blas.blas_num_threads(), "used": used,
                          "auto": choose_algorithm((64, 6, 14, 14), (16, 6, 5, 5)),
                          "gemm_error": message}}))
    """
    code_rc, stdout, stderr = run_python(code, {"COMPANION_DISABLE_BLAS_KERNELS": "1"})
    assert code_rc == 0, stderr
    assert stderr == ""
    report = json.loads(stdout)
    assert report["available"] is False and report["library"] is None
    assert report["threads"] is None
    assert report["auto"] == "im2col"
    assert report["used"]["auto"] == report["used"]["gemm"] == "im2col"
    if JIT:
        assert report["gemm_error"] == "TypingError"
    fallback = np.load(tmp_path / "fallback.npz")
    ref = (out,) + grads
    for algorithm in ALGORITHMS:
        for i, want in enumerate(ref):
            got = fallback[f"{algorithm}_{i}"]
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * scale_of(want))


THREAD_SCRIPT = """
    import hashlib, json, numpy as np, numba
    from companion.functional import conv2d_backward, conv2d_forward
    from companion.functional import (
        avg_pool2d_backward,
        avg_pool2d_forward,
        max_pool2d_backward,
        max_pool2d_forward,
    )
    rng = np.random.default_rng(0)
    digests = {}
    layers = [("lenet conv1", 64, (1, 32, 32), 6, 5, 0), ("lenet conv2", 64, (6, 14, 14), 16, 5, 0),
              ("net32 conv1", 32, (3, 32, 32), 32, 3, 1), ("net32 conv2", 32, (32, 16, 16), 64, 3, 1),
              # small batches: bands of rows (forward), blocks of channels (backward)
              ("one image", 1, (64, 40, 40), 64, 3, 1), ("three images", 3, (5, 17, 13), 4, 3, 0)]
    for name, n, shape, filters, k, pad in layers:
        x = rng.standard_normal((n,) + shape).astype(np.float32)
        w = rng.standard_normal((filters, shape[0], k, k)).astype(np.float32)
        b = rng.standard_normal(filters).astype(np.float32)
        for algorithm in ("auto", "direct"):
            out, cache = conv2d_forward(x, w, b, padding=pad, algorithm=algorithm)
            dout = rng.standard_normal(out.shape).astype(np.float32)
            arrays = (out,) + conv2d_backward(dout, cache)
            digests[name + " " + cache.algorithm] = [hashlib.sha256(a.tobytes()).hexdigest()
                                                     for a in arrays]
        for pool_f, pool_b in ((max_pool2d_forward, max_pool2d_backward),
                               (avg_pool2d_forward, avg_pool2d_backward)):
            out, cache = pool_f(x, 3, 2)
            dx = pool_b(rng.standard_normal(out.shape).astype(np.float32), cache)
            digests[name + " " + pool_f.__name__] = [hashlib.sha256(a.tobytes()).hexdigest()
                                                     for a in (out, dx)]
    print(json.dumps({"threads": numba.get_num_threads(), "digests": digests}))
"""


@pytest.mark.skipif(not JIT, reason="threads only exist with the JIT")
def test_bit_identical_for_one_and_two_threads():
    reports = []
    for threads in ("1", "2"):
        rc, stdout, stderr = run_python(THREAD_SCRIPT, {"NUMBA_NUM_THREADS": threads})
        assert rc == 0, stderr
        assert stderr == ""
        reports.append(json.loads(stdout))
    assert [r["threads"] for r in reports] == [1, 2]
    one, two = (r["digests"] for r in reports)
    assert one.keys() == two.keys() and len(one) == 24
    for key in one:
        assert one[key] == two[key], key
    assert any(key.endswith(" gemm") for key in one) == _blas.BLAS_AVAILABLE


POLICY_SCRIPT = """
    import json, os, numpy as np
    from companion.functional import conv2d_forward
    from companion._threads import apply_thread_policy, thread_policy_status
    conv2d_forward(np.ones((2, 1, 6, 6), np.float32), np.ones((3, 1, 3, 3), np.float32),
                   np.zeros(3, np.float32))
    print(json.dumps({"env": os.environ.get("OMP_WAIT_POLICY"), "again": apply_thread_policy(),
                      "status": thread_policy_status()}))
"""


@pytest.mark.skipif(not JIT, reason="no thread pool without the JIT")
def test_thread_policy_is_applied_on_import():
    rc, stdout, stderr = run_python(POLICY_SCRIPT, {"OMP_DISPLAY_ENV": "TRUE"},
                                    drop=("OMP_WAIT_POLICY",))
    assert rc == 0, stderr
    report = json.loads(stdout)
    assert report["env"] == "PASSIVE" and report["again"] is True
    assert report["status"]["numba_pool_started"] is True
    if report["status"]["threading_layer"] == "omp" and "OMP_WAIT_POLICY" in stderr:
        # the OpenMP runtime itself reports the policy it runs with (GNU OpenMP does)
        assert "OMP_WAIT_POLICY = 'PASSIVE'" in stderr


@pytest.mark.skipif(not JIT, reason="no thread pool without the JIT")
def test_thread_policy_respects_the_user_and_a_started_pool():
    rc, stdout, stderr = run_python(POLICY_SCRIPT, {"OMP_WAIT_POLICY": "active"})
    assert rc == 0, stderr
    report = json.loads(stdout)
    assert report["env"] == "active" and report["again"] is False
    code = """
        import json, os, numba
        numba.get_num_threads()          # starts Numba's pool before the package is imported
        from companion._threads import apply_thread_policy
        import companion.functional.conv
        print(json.dumps([os.environ.get("OMP_WAIT_POLICY"), apply_thread_policy()]))
    """
    rc, stdout, stderr = run_python(code, drop=("OMP_WAIT_POLICY",))
    assert rc == 0, stderr
    assert json.loads(stdout) == [None, False]
    # another OpenMP runtime loaded first (as PyTorch's libgomp is): too late, so not set
    code = """
        import ctypes, ctypes.util, json, os, sys
        name = ctypes.util.find_library("gomp")
        if name is None or not os.path.exists("/proc/self/maps"):
            print(json.dumps("skip"))
            sys.exit()
        ctypes.CDLL(name)
        from companion._threads import apply_thread_policy
        import companion.functional.pooling
        print(json.dumps([os.environ.get("OMP_WAIT_POLICY"), apply_thread_policy()]))
    """
    rc, stdout, stderr = run_python(code, drop=("OMP_WAIT_POLICY",))
    assert rc == 0, stderr
    assert json.loads(stdout) in ("skip", [None, False])


@pytest.mark.skipif(not JIT, reason="nothing is compiled without the JIT")
def test_cold_cache_compiles_without_any_output(tmp_path):
    # A first run (empty Numba cache) of what the chapters call must not print anything:
    # nbval compares stderr, so a NumbaPerformanceWarning would fail a notebook.
    code = """
        import warnings
        warnings.simplefilter("always")
        import numpy as np
        from companion.functional import conv2d_backward, conv2d_forward
        from companion.functional import col2im, im2col
        from companion.functional import (
            avg_pool2d_backward,
            avg_pool2d_forward,
            max_pool2d_backward,
            max_pool2d_forward,
        )
        x = np.ones((2, 3, 8, 8), np.float32)
        out, cache = conv2d_forward(x, np.ones((4, 3, 3, 3), np.float32), np.zeros(4, np.float32),
                                    padding=1)
        conv2d_backward(out, cache)
        for f, b in ((max_pool2d_forward, max_pool2d_backward),
                     (avg_pool2d_forward, avg_pool2d_backward)):
            o, c = f(x)
            b(o, c)
        col2im(im2col(x, 3), x.shape, 3)
        print("ok")
    """
    rc, stdout, stderr = run_python(code, {"NUMBA_CACHE_DIR": str(tmp_path)})
    assert rc == 0, stderr
    assert stdout == "ok\n"
    assert stderr == ""
    assert any(tmp_path.rglob("*.nbi"))                       # it did compile and cache


# ---------------------------------------------------------------------------
# input_grad=False: the weight gradients alone (a network's first layer)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["naive", "direct", "gemm", "im2col"])
@pytest.mark.parametrize("batch", [2, 5])        # "gemm": images split, and chunks
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_without_the_input_gradient_the_same_weight_gradients(algorithm, batch, dtype):
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, 3, 9, 8)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 2)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    out, cache = conv2d_forward(x, w, b, (2, 1), 1, algorithm=algorithm)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = conv2d_backward(dout, cache)
    none, dw2, db2 = conv2d_backward(dout, cache, input_grad=False)
    assert none is None and dx.shape == x.shape
    assert np.array_equal(dw, dw2) and np.array_equal(db, db2)     # to the bit
    with pytest.raises(TypeError, match="input_grad must be True or False, got 'no'"):
        conv2d_backward(dout, cache, input_grad="no")
