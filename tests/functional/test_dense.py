"""Tests of companion.functional.dense: forward against a NumPy reference, backward
against finite differences, validation, and that no input is modified.

Gradients are checked with central differences from companion.teaching.gradcheck plus
one Richardson extrapolation step, ``(4 D(h) - D(2h)) / 3``: plain central
differences with ``h = 1e-6`` carry a rounding error near 1e-9, which fails the
elementwise 1e-7 relative bound on any gradient entry that random data make
smaller than about 1e-2 (it happened in a few percent of random cases). The
extrapolated difference has truncation error O(h^4), so ``h = 1e-3`` is safe
and the rounding error drops to about 1e-13. (The dense layer is linear in each
argument, so here even the truncation error is zero.)
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.functional import DenseCache, dense_backward, dense_forward
from companion.teaching import numerical_gradient_array, relative_error




def reference_forward(x, w, b):
    """out[n, m] = sum_d x[n, d] w[d, m] + b[m], written as loops."""
    N, D = x.shape
    M = w.shape[1]
    out = np.zeros((N, M))
    for n in range(N):
        for m in range(M):
            out[n, m] = b[m] + sum(x[n, d] * w[d, m] for d in range(D))
    return out


def make(rng, N, D, M, dtype=np.float64):
    x = rng.standard_normal((N, D)).astype(dtype)
    w = rng.standard_normal((D, M)).astype(dtype)
    b = rng.standard_normal(M).astype(dtype)
    return x, w, b


# ---------------------------------------------------------------- forward

@given(N=st.integers(1, 6), D=st.integers(1, 6), M=st.integers(1, 6),
       seed=st.integers(0, 2**32 - 1))
def test_forward_matches_reference(N, D, M, seed):
    x, w, b = make(np.random.default_rng(seed), N, D, M)
    out, cache = dense_forward(x, w, b)
    assert out.shape == (N, M) and out.dtype == np.float64
    np.testing.assert_allclose(out, reference_forward(x, w, b), rtol=1e-12, atol=1e-12)
    assert isinstance(cache, DenseCache)


def test_float32_stays_float32_and_is_accurate():
    x, w, b = make(np.random.default_rng(0), 8, 20, 5, np.float32)
    out, cache = dense_forward(x, w, b)
    assert out.dtype == np.float32
    ref = reference_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    dx, dw, db = dense_backward(np.ones_like(out), cache)
    assert dx.dtype == dw.dtype == db.dtype == np.float32


def test_integer_input_is_converted_to_float64():
    x = np.arange(6).reshape(2, 3)
    out, _ = dense_forward(x, np.ones((3, 2)), np.zeros(2))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[3.0, 3.0], [12.0, 12.0]])
    # integer x becomes float64, which then does not match float32 weights
    with pytest.raises(ValueError, match="w must have the dtype of x"):
        dense_forward(x, np.ones((3, 2), np.float32), np.zeros(2, np.float32))


# ---------------------------------------------------------------- backward

@given(N=st.integers(1, 5), D=st.integers(1, 5), M=st.integers(1, 5),
       seed=st.integers(0, 2**32 - 1))
def test_backward_matches_finite_differences(N, D, M, seed):
    rng = np.random.default_rng(seed)
    x, w, b = make(rng, N, D, M)
    dout = rng.standard_normal((N, M))
    _, cache = dense_forward(x, w, b)
    dx, dw, db = dense_backward(dout, cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert relative_error(dx, numerical_gradient_array(lambda z: dense_forward(z, w, b)[0], x, dout, richardson=True)) < 1e-7
    assert relative_error(dw, numerical_gradient_array(lambda z: dense_forward(x, z, b)[0], w, dout, richardson=True)) < 1e-7
    assert relative_error(db, numerical_gradient_array(lambda z: dense_forward(x, w, z)[0], b, dout, richardson=True)) < 1e-7


def test_backward_matches_explicit_sums():
    rng = np.random.default_rng(3)
    x, w, b = make(rng, 4, 3, 2)
    dout = rng.standard_normal((4, 2))
    _, cache = dense_forward(x, w, b)
    dx, dw, db = dense_backward(dout, cache)
    for n in range(4):
        for d in range(3):
            assert dx[n, d] == pytest.approx(sum(dout[n, m] * w[d, m] for m in range(2)))
    for d in range(3):
        for m in range(2):
            assert dw[d, m] == pytest.approx(sum(x[n, d] * dout[n, m] for n in range(4)))
    np.testing.assert_allclose(db, [dout[:, 0].sum(), dout[:, 1].sum()])


def test_inputs_are_not_modified():
    rng = np.random.default_rng(4)
    x, w, b = make(rng, 3, 4, 5)
    dout = rng.standard_normal((3, 5))
    copies = [a.copy() for a in (x, w, b, dout)]
    out, cache = dense_forward(x, w, b)
    dense_backward(dout, cache)
    for a, c in zip((x, w, b, dout), copies):
        np.testing.assert_array_equal(a, c)
    assert not np.shares_memory(out, x)


def test_read_only_and_non_contiguous_inputs():
    rng = np.random.default_rng(9)
    x, w, b = make(rng, 4, 3, 2)
    for a in (x, w, b):
        a.flags.writeable = False
    out, cache = dense_forward(x, np.asfortranarray(w), b)
    np.testing.assert_allclose(out, reference_forward(x, w, b), rtol=1e-12, atol=1e-12)
    dx, dw, db = dense_backward(np.broadcast_to(1.0, (4, 2)), cache)
    np.testing.assert_allclose(db, [4.0, 4.0])
    np.testing.assert_allclose(dw, np.repeat(x.sum(axis=0)[:, None], 2, axis=1), rtol=1e-12)


# ---------------------------------------------------------------- validation

def test_shape_errors_name_the_argument():
    x, w, b = make(np.random.default_rng(5), 3, 4, 2)
    with pytest.raises(ValueError, match=r"x must have 2 dimensions \(N, D\).*reshape"):
        dense_forward(np.zeros((3, 1, 2, 2)), w, b)
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        dense_forward(np.zeros(4), w, b)
    with pytest.raises(ValueError, match=r"w must have shape \(D, M\) with D = x.shape\[1\] = 4"):
        dense_forward(x, np.zeros((3, 2)), b)
    with pytest.raises(ValueError, match="w must have 2 dimensions"):
        dense_forward(x, np.zeros(4), b)
    with pytest.raises(ValueError, match=r"b must have shape \(M,\) with M = w.shape\[1\] = 2"):
        dense_forward(x, w, np.zeros(3))
    with pytest.raises(ValueError, match="b must have 1 dimensions"):
        dense_forward(x, w, np.zeros((1, 2)))


def test_dtype_mismatch_names_the_argument():
    x, w, b = make(np.random.default_rng(6), 3, 4, 2)
    with pytest.raises(ValueError, match=r"w must have the dtype of x \(float64\), got float32"):
        dense_forward(x, w.astype(np.float32), b)
    with pytest.raises(ValueError, match=r"b must have the dtype of x \(float32\), got float64"):
        dense_forward(x.astype(np.float32), w.astype(np.float32), b)
    out, cache = dense_forward(x, w, b)
    with pytest.raises(ValueError, match="dout must have the dtype"):
        dense_backward(out.astype(np.float32), cache)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_rejected(bad):
    x, w, b = make(np.random.default_rng(7), 3, 4, 2)
    for name in ("x", "w", "b"):
        args = {"x": x.copy(), "w": w.copy(), "b": b.copy()}
        args[name].flat[0] = bad
        with pytest.raises(ValueError, match=f"{name} must be finite"):
            dense_forward(**args)
    out, cache = dense_forward(x, w, b)
    dout = np.ones_like(out)
    dout[1, 1] = bad
    with pytest.raises(ValueError, match="dout must be finite"):
        dense_backward(dout, cache)


def test_backward_validates_dout_and_cache():
    x, w, b = make(np.random.default_rng(8), 3, 4, 2)
    out, cache = dense_forward(x, w, b)
    with pytest.raises(ValueError, match=r"dout must have shape \(N, M\) = \(3, 2\)"):
        dense_backward(np.zeros((2, 3)), cache)
    with pytest.raises(ValueError, match="dout must have 2 dimensions"):
        dense_backward(np.zeros(6), cache)
    with pytest.raises(TypeError, match="cache must be the DenseCache"):
        dense_backward(out, (x, w))
    with pytest.raises(TypeError, match="x must be an array of numbers"):
        dense_forward("abc", w, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_without_the_input_gradient_the_same_weight_gradients(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 5)).astype(dtype)
    w = rng.standard_normal((5, 3)).astype(dtype)
    out, cache = dense_forward(x, w, np.zeros(3, dtype))
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = dense_backward(dout, cache)
    none, dw2, db2 = dense_backward(dout, cache, input_grad=False)
    assert none is None and dx.shape == x.shape
    assert np.array_equal(dw, dw2) and np.array_equal(db, db2)
    with pytest.raises(TypeError, match="input_grad must be True or False, got 1"):
        dense_backward(dout, cache, input_grad=1)
