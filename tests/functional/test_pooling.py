"""Tests of companion.functional.pooling: max and average pooling, forward and backward.

* Forward passes are compared with NumPy references written here
  (``sliding_window_view``; ``np.argmax`` over the flattened window picks the
  first maximum in row-major window order, the package's tie rule).
* Backward passes are compared with central finite differences in float64,
  relative error < 1e-7, over random shapes, windows and strides, including
  overlapping windows (stride < size) and non-square ones. Average pooling is
  linear, so any step is exact up to rounding (step 0.5). Max pooling is
  piecewise linear: its inputs are distinct values at least 1 apart (a random
  permutation), so a step of 0.25 never changes which input wins a window
  and the difference is again exact up to rounding.
* Ties are tested explicitly; overlapping windows accumulate; float32 agrees
  with float64; bad arguments raise errors naming the argument; inputs are
  never modified.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from companion.teaching import numerical_gradient_array, relative_error
from companion.functional.pooling import (
    AvgPool2dCache,
    MaxPool2dCache,
    _avg_pool_backward,
    _avg_pool_forward,
    _max_pool_backward,
    _max_pool_forward,
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

JIT = not numba.config.DISABLE_JIT
seeds = st.integers(0, 2**32 - 1)


def examples(n):
    """``n`` Hypothesis examples (fewer in plain-Python mode, more with the thorough profile)."""
    n = max(2, int(n * settings.default.max_examples / 40))
    return n if JIT else max(2, n // 2)


# ---------------------------------------------------------------------------
# NumPy references (independent of the package)
# ---------------------------------------------------------------------------

def windows(x, size, stride):
    """``(N, C, Ho, Wo, KH*KW)``: every window, flattened in row-major order."""
    (KH, KW), (sh, sw) = size, stride
    win = sliding_window_view(x, (KH, KW), axis=(2, 3))[:, :, ::sh, ::sw]
    return win.reshape(win.shape[:4] + (KH * KW,))


def max_pool_reference(x, size, stride):
    """Output and the gradient routing: first maximum in row-major window order."""
    win = windows(x, size, stride)
    first = np.argmax(win, axis=-1)                  # np.argmax returns the first maximum
    return win.max(axis=-1), first


def max_pool_backward_reference(dout, first, x_shape, size, stride):
    (_, KW), (sh, sw) = size, stride
    dx = np.zeros(x_shape)
    N, C, Ho, Wo = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    kh, kw = divmod(int(first[n, c, i, j]), KW)
                    dx[n, c, i * sh + kh, j * sw + kw] += dout[n, c, i, j]
    return dx


def avg_pool_reference(x, size, stride):
    return windows(x, size, stride).mean(axis=-1)


def avg_pool_backward_reference(dout, x_shape, size, stride):
    (KH, KW), (sh, sw) = size, stride
    dx = np.zeros(x_shape)
    Ho, Wo = dout.shape[2:]
    for kh in range(KH):
        for kw in range(KW):
            dx[:, :, kh:kh + sh * Ho:sh, kw:kw + sw * Wo:sw] += dout / (KH * KW)
    return dx


@st.composite
def pool_problems(draw, max_size=9):
    """Shape, window and stride (each axis drawn separately), and a seed."""
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    KH, KW = draw(st.integers(1, min(H, 4))), draw(st.integers(1, min(W, 4)))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return (N, C, H, W), (KH, KW), (sh, sw), draw(seeds)


def distinct_values(shape, rng):
    """Values of a random permutation of 0, 1, 2, ... scaled so neighbours differ by >= 1."""
    return rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64) - 5.0


def bounded_dout(shape, rng):
    """Upstream gradients with |dout| in [0.5, 1.5] (no relative error blow-up near 0)."""
    return rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def out_shape(x_shape, size, stride):
    N, C, H, W = x_shape
    return (N, C, (H - size[0]) // stride[0] + 1, (W - size[1]) // stride[1] + 1)


# ---------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------

@settings(max_examples=examples(40))
@given(pool_problems(), st.booleans())
def test_max_forward_matches_reference(problem, with_ties):
    x_shape, size, stride, seed = problem
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, x_shape).astype(np.float64) if with_ties \
        else rng.standard_normal(x_shape)
    out, cache = max_pool2d_forward(x, size, stride)
    ref, first = max_pool_reference(x, size, stride)
    assert out.shape == out_shape(x_shape, size, stride) == ref.shape
    np.testing.assert_array_equal(out, ref)
    assert isinstance(cache, MaxPool2dCache)
    # the routing: argmax holds the flat in-plane index of the first maximum
    N, C, Ho, Wo = out.shape
    kh, kw = np.divmod(first, size[1])
    rows = np.arange(Ho)[:, None] * stride[0] + kh
    cols = np.arange(Wo)[None, :] * stride[1] + kw
    np.testing.assert_array_equal(cache.argmax, rows * x_shape[3] + cols)


@settings(max_examples=examples(40))
@given(pool_problems(max_size=7))
def test_max_backward_matches_finite_differences(problem):
    x_shape, size, stride, seed = problem
    rng = np.random.default_rng(seed)
    x = distinct_values(x_shape, rng)
    out, cache = max_pool2d_forward(x, size, stride)
    dout = bounded_dout(out.shape, rng)
    dx = max_pool2d_backward(dout, cache)
    num = numerical_gradient_array(lambda z: max_pool2d_forward(z, size, stride)[0], x, dout,
                                   0.25)
    assert relative_error(dx, num) < 1e-7


@settings(max_examples=examples(40))
@given(pool_problems(), st.booleans())
def test_max_backward_matches_reference_with_ties_and_overlap(problem, with_ties):
    x_shape, size, stride, seed = problem
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, x_shape).astype(np.float64) if with_ties \
        else rng.standard_normal(x_shape)
    out, cache = max_pool2d_forward(x, size, stride)
    dout = rng.standard_normal(out.shape)
    _, first = max_pool_reference(x, size, stride)
    want = max_pool_backward_reference(dout, first, x_shape, size, stride)
    np.testing.assert_allclose(max_pool2d_backward(dout, cache), want, rtol=0, atol=1e-12)


def test_ties_go_to_the_first_maximum_in_row_major_order():
    x = np.array([[[[1.0, 3.0],
                    [3.0, 2.0]]]])
    out, cache = max_pool2d_forward(x, 2, 2)
    assert out[0, 0, 0, 0] == 3.0
    np.testing.assert_array_equal(max_pool2d_backward(np.array([[[[5.0]]]]), cache)[0, 0],
                                  [[0, 5], [0, 0]])
    # all equal: the top-left input takes everything
    x = np.full((1, 1, 3, 3), 7.0)
    _, cache = max_pool2d_forward(x, 3, 1)
    np.testing.assert_array_equal(max_pool2d_backward(np.ones((1, 1, 1, 1)), cache)[0, 0],
                                  [[1, 0, 0], [0, 0, 0], [0, 0, 0]])
    # a column tie: (0, 1) is before (1, 0) in row-major order, even though it is "further"
    x = np.array([[[[0.0, 4.0], [4.0, 4.0]]]])
    _, cache = max_pool2d_forward(x, 2, 1)
    np.testing.assert_array_equal(max_pool2d_backward(np.ones((1, 1, 1, 1)), cache)[0, 0],
                                  [[0, 1], [0, 0]])


def test_overlapping_windows_accumulate():
    # 3x3 windows at stride 1 on a 4x4 image whose maximum is in the middle: all four
    # windows contain x[1, 1] = 9 and route their gradient there
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = 9.0
    out, cache = max_pool2d_forward(x, 3, 1)
    np.testing.assert_array_equal(out[0, 0], [[9, 9], [9, 9]])
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = max_pool2d_backward(dout, cache)
    expected = np.zeros((4, 4))
    expected[1, 1] = 10.0
    np.testing.assert_array_equal(dx[0, 0], expected)
    # average pooling: the centre pixels belong to all four windows
    _, cache = avg_pool2d_forward(np.zeros((1, 1, 4, 4)), 3, 1)
    dx = avg_pool2d_backward(np.ones((1, 1, 2, 2)) * 9.0, cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2],
                                             [1, 2, 2, 1]])


def test_leftover_rows_and_columns_are_ignored():
    x = np.arange(5 * 7, dtype=np.float64).reshape(1, 1, 5, 7)
    out, cache = max_pool2d_forward(x, 2, 2)
    assert out.shape == (1, 1, 2, 3)
    dx = max_pool2d_backward(np.ones(out.shape), cache)
    assert dx[0, 0, 4].sum() == 0 and dx[0, 0, :, 6].sum() == 0
    out, cache = avg_pool2d_forward(x, (2, 3), (3, 2))
    assert out.shape == (1, 1, 2, 3)


@pytest.mark.parametrize("forward", [max_pool2d_forward, avg_pool2d_forward])
@pytest.mark.parametrize("size", [1, 2, 3, (2, 3)])
def test_stride_defaults_to_the_window(forward, size):
    """PyTorch's convention: no stride means stride = window, non-overlapping windows."""
    x = np.random.default_rng(3).standard_normal((2, 3, 7, 8))
    out, cache = forward(x, size)
    expected, _ = forward(x, size, size)
    np.testing.assert_array_equal(out, expected)
    kh, kw = (size, size) if isinstance(size, int) else size
    assert tuple(cache.stride) == (kh, kw)
    assert out.shape == (2, 3, (7 - kh) // kh + 1, (8 - kw) // kw + 1)


def test_kernels_called_directly():
    # the kernels the book shows, with preallocated outputs
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 5))
    out = np.empty((2, 3, 3, 2))
    argmax = np.empty((2, 3, 3, 2), dtype=np.int64)
    _max_pool_forward(x, 2, 2, 2, 2, out, argmax)
    ref, _ = max_pool_reference(x, (2, 2), (2, 2))
    np.testing.assert_array_equal(out, ref)
    dout = rng.standard_normal(out.shape)
    dx = np.full(x.shape, np.nan)
    _max_pool_backward(dout, argmax, dx)                     # overwrites: zeroes first
    np.testing.assert_array_equal(dx, max_pool2d_backward(dout, max_pool2d_forward(x)[1]))
    avg = np.empty((2, 3, 2, 2))
    _avg_pool_forward(x, 3, 2, 2, 2, avg)
    np.testing.assert_allclose(avg, avg_pool_reference(x, (3, 2), (2, 2)), atol=1e-15)
    dx = np.full(x.shape, np.nan)
    _avg_pool_backward(rng.standard_normal(avg.shape), 3, 2, 2, 2, dx)
    assert np.all(np.isfinite(dx))


# ---------------------------------------------------------------------------
# Average pooling
# ---------------------------------------------------------------------------

@settings(max_examples=examples(40))
@given(pool_problems())
def test_avg_forward_and_backward_match_reference(problem):
    x_shape, size, stride, seed = problem
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    out, cache = avg_pool2d_forward(x, size, stride)
    assert isinstance(cache, AvgPool2dCache)
    np.testing.assert_allclose(out, avg_pool_reference(x, size, stride), rtol=0, atol=1e-14)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(avg_pool2d_backward(dout, cache),
                               avg_pool_backward_reference(dout, x_shape, size, stride),
                               rtol=0, atol=1e-14)


@settings(max_examples=examples(40))
@given(pool_problems(max_size=7))
def test_avg_backward_matches_finite_differences(problem):
    x_shape, size, stride, seed = problem
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    out, cache = avg_pool2d_forward(x, size, stride)
    dout = bounded_dout(out.shape, rng)
    dx = avg_pool2d_backward(dout, cache)
    num = numerical_gradient_array(lambda z: avg_pool2d_forward(z, size, stride)[0], x, dout,
                                   0.5)
    assert relative_error(dx, num) < 1e-7


# ---------------------------------------------------------------------------
# Both: dtypes, layouts, inputs never modified, validation
# ---------------------------------------------------------------------------

POOLS = [(max_pool2d_forward, max_pool2d_backward), (avg_pool2d_forward, avg_pool2d_backward)]


@settings(max_examples=examples(30))
@given(pool_problems(), st.sampled_from([0, 1]))
def test_float32_agrees_with_float64(problem, which):
    forward, backward = POOLS[which]
    x_shape, size, stride, seed = problem
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    out, cache = forward(x, size, stride)
    assert out.dtype == np.float32
    out64, cache64 = forward(x.astype(np.float64), size, stride)
    np.testing.assert_allclose(out, out64, rtol=1e-6, atol=1e-6)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = backward(dout, cache)
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, backward(dout.astype(np.float64), cache64), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("forward, backward", POOLS)
def test_inputs_never_modified_and_layouts(forward, backward):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 8))
    x_copy = x.copy()
    out, cache = forward(x, 3, 2)
    dout = rng.standard_normal(out.shape)
    dout_copy = dout.copy()
    dx = backward(dout, cache)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dout, dout_copy)
    assert not np.shares_memory(dx, x) and not np.shares_memory(dx, dout)
    # non-contiguous and read-only input give the same results
    x_view = np.asfortranarray(x)
    x_view.setflags(write=False)
    out_v, cache_v = forward(x_view, 3, 2)
    np.testing.assert_array_equal(out_v, out)
    dout_view = np.asfortranarray(dout)
    np.testing.assert_array_equal(backward(dout_view, cache_v), dx)
    strided = np.repeat(x, 2, axis=3)[:, :, :, ::2]
    np.testing.assert_array_equal(forward(strided, 3, 2)[0], out)


@pytest.mark.parametrize("forward, backward", POOLS)
def test_integer_input_and_empty_batch(forward, backward):
    x = np.arange(2 * 4 * 4).reshape(2, 1, 4, 4)
    out, cache = forward(x)
    assert out.dtype == np.float64
    assert backward(np.ones(out.shape, dtype=np.int32), cache).dtype == np.float64
    out, cache = forward(np.zeros((0, 3, 4, 4)))
    assert out.shape == (0, 3, 2, 2)
    assert backward(np.zeros(out.shape), cache).shape == (0, 3, 4, 4)


@pytest.mark.parametrize("forward", [max_pool2d_forward, avg_pool2d_forward])
@pytest.mark.parametrize("args, error, message", [
    ((np.zeros((3, 4, 4)),), ValueError, "x must have 4 dimensions"),
    ((np.zeros((1, 1, 4, 4)), 5), ValueError, r"size \(5, 5\): the pooling window must fit"),
    ((np.zeros((1, 1, 4, 4)), (2, 5)), ValueError, "size .* must fit in the input"),
    ((np.zeros((1, 1, 4, 4)), 0), ValueError, "size must be >= 1"),
    ((np.zeros((1, 1, 4, 4)), 2, 0), ValueError, "stride must be >= 1"),
    ((np.zeros((1, 1, 4, 4)), 2, (1, -1)), ValueError, "stride must be >= 1"),
    ((np.zeros((1, 1, 4, 4)), 2.0), TypeError, "size"),
    ((np.zeros((1, 1, 4, 4)), 2, (1, 2, 3)), ValueError, "stride must be an int or a pair"),
    ((np.full((1, 1, 4, 4), np.nan),), ValueError, "x must be finite"),
    ((np.zeros((1, 0, 4, 4)),), ValueError, "x must have at least one channel"),
    ((np.zeros((1, 1, 4, 4)) + 1j,), TypeError, "x must be real-valued"),
])
def test_forward_validation(forward, args, error, message):
    with pytest.raises(error, match=message):
        forward(*args)


@pytest.mark.parametrize("forward, backward", POOLS)
def test_backward_validation(forward, backward):
    out, cache = forward(np.zeros((2, 3, 6, 6)), 2, 2)
    with pytest.raises(ValueError, match=r"dout must have shape \(N, C, H_out, W_out\) = "
                                         r"\(2, 3, 3, 3\)"):
        backward(np.zeros((2, 3, 3, 2)), cache)
    with pytest.raises(ValueError, match="dout must have the dtype of the forward pass"):
        backward(np.zeros(out.shape, np.float32), cache)
    with pytest.raises(ValueError, match="dout must be finite"):
        backward(np.full(out.shape, np.inf), cache)
    with pytest.raises(TypeError, match="cache must be the .*Pool2dCache returned by"):
        backward(np.zeros(out.shape), tuple(cache))
    if backward is max_pool2d_backward:       # the cache of the other kind of pooling
        with pytest.raises(TypeError, match="cache must be the MaxPool2dCache"):
            backward(np.zeros(out.shape), avg_pool2d_forward(np.zeros((2, 3, 6, 6)))[1])
    else:
        with pytest.raises(TypeError, match="cache must be the AvgPool2dCache"):
            backward(np.zeros(out.shape), max_pool2d_forward(np.zeros((2, 3, 6, 6)))[1])
    bad = [cache._replace(x_shape=(2, 3, 6)), cache._replace(size=(0, 2)),
           cache._replace(stride=(0, 2)), cache._replace(dtype=np.int64)]
    if isinstance(cache, MaxPool2dCache):
        too_far = cache.argmax.copy()
        too_far[0, 0, 0, 0] = 36                                 # outside the 6x6 plane
        negative = cache.argmax.copy()
        negative[-1, -1, -1, -1] = -1
        bad += [cache._replace(argmax=too_far), cache._replace(argmax=negative),
                cache._replace(argmax=cache.argmax.astype(np.int32)),
                cache._replace(argmax=cache.argmax[:, :, :2])]
    for c in bad:
        with pytest.raises(ValueError, match="cache must be the unchanged"):
            backward(np.zeros(out.shape), c)
