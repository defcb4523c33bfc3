"""Tests of companion.functional.softmax_ops: softmax, log_softmax, softmax_jacobian and the
layer pair softmax_forward / softmax_backward.

References are written here independently of the package: the *naive* formula
``exp(z) / sum(exp(z))`` evaluated in extended precision (``np.longdouble``,
80-bit on x86: its exponent reaches 11356, so ``exp(1e4)`` does not overflow),
and a double loop for the Jacobian. Derivatives are checked with central
differences plus one Richardson step, ``(4 D(h) - D(2h)) / 3`` (truncation
error O(h^4), rounding error about 1e-13 with h = 1e-3; see tests/functional/test_dense.py).
Logits for derivative checks lie in [-1.5, 1.5] with at most 6 classes, so no
Jacobian entry is smaller than about 1e-4 and the elementwise relative bound
1e-7 is meaningful.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from helpers import assert_raises_naming
from companion.teaching import numerical_gradient_array, relative_error
from companion.functional import (
    log_softmax,
    SoftmaxCache,
    softmax,
    softmax_backward,
    softmax_forward,
    softmax_jacobian,
)

EXTENDED = np.finfo(np.longdouble).maxexp >= 16384    # 80-bit or 128-bit long double
needs_extended = pytest.mark.skipif(not EXTENDED, reason="np.longdouble is float64 here")

seeds = st.integers(0, 2**32 - 1)
batch = st.integers(1, 5)
classes = st.integers(1, 6)


def numeric_grad(f, x, dout, h=1e-3):
    """Richardson-extrapolated central differences of ``sum(f(x) * dout)``."""
    d1 = numerical_gradient_array(f, x, dout, h)
    d2 = numerical_gradient_array(f, x, dout, 2 * h)
    return (4 * d1 - d2) / 3


def numeric_jacobian(f, z, h=1e-3):
    """``J[i, j] = d f(z)_i / d z_j`` for a vector function of a vector, column by column."""
    C = z.size
    J = np.empty((C, C))
    for i in range(C):
        e = np.zeros(C)
        e[i] = 1.0
        J[i] = numeric_grad(f, z, e, h)            # row i: gradient of f_i
    return J


def ref_softmax(z, axis=-1):
    """Naive softmax in extended precision (no shift), returned as float64."""
    e = np.exp(np.asarray(z, dtype=np.longdouble))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float64)


def ref_log_softmax(z, axis=-1):
    """Naive log(sum(exp)) in extended precision, returned as float64."""
    zl = np.asarray(z, dtype=np.longdouble)
    return (zl - np.log(np.exp(zl).sum(axis=axis, keepdims=True))).astype(np.float64)


def ref_jacobian(z):
    """J[i, j] = p_i (delta_ij - p_j), as a double loop."""
    p = ref_softmax(z)
    C = p.size
    J = np.empty((C, C))
    for i in range(C):
        for j in range(C):
            J[i, j] = p[i] * ((1.0 if i == j else 0.0) - p[j])
    return J


def logits(rng, shape, scale=1.5):
    return rng.uniform(-scale, scale, size=shape)


# ------------------------------------------------------------------ forward

@needs_extended
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
       axis_pick=st.integers(0, 2), seed=seeds)
def test_softmax_and_log_softmax_match_extended_precision(shape, axis_pick, seed):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-50, 50, size=shape)
    axis = axis_pick % len(shape) - len(shape) * (axis_pick % 2)   # positive and negative axes
    p = softmax(z, axis=axis)
    assert p.shape == z.shape and p.dtype == np.float64
    np.testing.assert_allclose(p, ref_softmax(z, axis), rtol=1e-12, atol=0)
    np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=0, atol=1e-14)
    log_p = log_softmax(z, axis=axis)
    np.testing.assert_allclose(log_p, ref_log_softmax(z, axis), rtol=0, atol=1e-12)
    assert np.all(log_p <= 0)


@given(N=batch, C=classes, shift=st.floats(-1e3, 1e3), seed=seeds)
def test_invariant_to_adding_a_constant(N, C, shift, seed):
    z = logits(np.random.default_rng(seed), (N, C), scale=20)
    # z + shift is rounded to about |shift| * 1.1e-16, hence the tolerance
    np.testing.assert_allclose(softmax(z + shift), softmax(z), rtol=1e-11, atol=0)
    np.testing.assert_allclose(log_softmax(z + shift), log_softmax(z), rtol=0, atol=1e-11)


@given(N=batch, C=classes, seed=seeds)
def test_log_softmax_is_log_of_softmax_and_batches_are_rowwise(N, C, seed):
    z = logits(np.random.default_rng(seed), (N, C), scale=10)
    np.testing.assert_allclose(np.exp(log_softmax(z)), softmax(z), rtol=1e-13, atol=0)
    rows = np.stack([softmax(row) for row in z])
    np.testing.assert_array_equal(softmax(z), rows)
    # axis 0 of the transpose is the same computation
    np.testing.assert_array_equal(softmax(z.T, axis=0), softmax(z).T)


def test_single_class_gives_probability_one():
    np.testing.assert_array_equal(softmax(np.array([[3.0], [-7.0]])), [[1.0], [1.0]])
    np.testing.assert_array_equal(log_softmax(np.array([[3.0], [-7.0]])), [[0.0], [0.0]])


# ---------------------------------------------------------------- stability

BIG = np.array([[1e4, -1e4, 0.0, 5e3],
                [-1e4, -1e4, -1e4, -1e4],
                [1e4, 1e4 - 1.0, -3e3, 2e3]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logits_of_magnitude_1e4_are_finite_and_correct(dtype):
    z = BIG.astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # underflow to 0 is fine
        p = softmax(z)
        log_p = log_softmax(z)
        J = softmax_jacobian(z)
        dz = softmax_backward(np.ones_like(p), SoftmaxCache(p))
    for a in (p, log_p, J, dz):
        assert a.dtype == dtype and np.all(np.isfinite(a))
    # analytic values: row 0 is a point mass, row 1 uniform, row 2 two classes 1 apart
    e = 1.0 / (1.0 + np.exp(-1.0))
    np.testing.assert_allclose(p[0], [1, 0, 0, 0], atol=0)
    np.testing.assert_allclose(p[1], [0.25] * 4, rtol=1e-7)
    np.testing.assert_allclose(p[2], [e, 1 - e, 0, 0], rtol=1e-6, atol=0)
    np.testing.assert_allclose(log_p[0], [0.0, -2e4, -1e4, -5e3], rtol=1e-7)
    np.testing.assert_allclose(log_p[2, :2], [np.log(e), np.log(1 - e)], rtol=1e-6)


@needs_extended
def test_logits_of_magnitude_1e4_match_extended_precision():
    z = np.random.default_rng(7).uniform(-1e4, 1e4, size=(6, 5))
    np.testing.assert_allclose(log_softmax(z), ref_log_softmax(z), rtol=1e-15, atol=1e-11)
    np.testing.assert_allclose(softmax(z), ref_softmax(z), rtol=1e-11, atol=1e-300)


def test_naive_formula_fails_where_the_package_does_not():
    """The reference this module exists to beat: NumPy's plain exp overflows at 1e3."""
    z = np.array([1e3, 0.0, -1e3])
    with np.errstate(all="ignore"):
        naive = np.exp(z) / np.exp(z).sum()
    assert np.isnan(naive[0])                        # inf / inf
    np.testing.assert_array_equal(softmax(z), [1.0, 0.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logit_gaps_beyond_the_float_range_give_no_nan(dtype):
    """A gap larger than the largest float (a diverging float32 network gets there)."""
    big = np.finfo(dtype).max / 1.5                  # z_max - z_min = 2 big overflows
    z = np.array([[big, -big, 0.0], [-big, big, big]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # no warning either
        p = softmax(z)
        log_p = log_softmax(z)
        J = softmax_jacobian(z)
        dz = softmax_backward(np.ones_like(p), SoftmaxCache(p))
    np.testing.assert_array_equal(p, [[1, 0, 0], [0, 0.5, 0.5]])
    # -inf where the true log-probability is below the float range, never NaN
    np.testing.assert_array_equal(log_p[0, :2], [0, -np.inf])
    assert log_p[0, 2] == pytest.approx(-big, rel=1e-6)
    assert log_p[1, 0] == -np.inf
    np.testing.assert_allclose(log_p[1, 1:], -np.log(2.0), rtol=1e-6)
    assert not np.any(np.isnan(log_p))
    for a in (p, J, dz):
        assert a.dtype == dtype and np.all(np.isfinite(a))


# ------------------------------------------------------------------ Jacobian

@given(C=classes, seed=seeds)
def test_jacobian_properties_and_finite_differences(C, seed):
    z = logits(np.random.default_rng(seed), C)
    J = softmax_jacobian(z)
    assert J.shape == (C, C) and J.dtype == np.float64
    np.testing.assert_array_equal(J, J.T)                       # exactly symmetric
    np.testing.assert_allclose(J.sum(axis=1), 0.0, atol=1e-15)  # rows sum to 0
    np.testing.assert_allclose(J, ref_jacobian(z), rtol=1e-13, atol=1e-16)
    assert relative_error(J, numeric_jacobian(softmax, z.copy())) < 1e-7
    # the diagonal is p(1 - p), the sigmoid-like part; the rest is -p_i p_j
    p = softmax(z)
    np.testing.assert_allclose(np.diag(J), p * (1 - p), rtol=1e-14)
    assert np.all(J[~np.eye(C, dtype=bool)] < 0)


@given(N=batch, C=classes, seed=seeds)
def test_batched_jacobian_is_a_stack_of_single_ones(N, C, seed):
    z = logits(np.random.default_rng(seed), (N, C))
    J = softmax_jacobian(z)
    assert J.shape == (N, C, C)
    for n in range(N):
        np.testing.assert_array_equal(J[n], softmax_jacobian(z[n]))


# --------------------------------------------------------------- backward

@given(N=batch, C=classes, seed=seeds)
def test_backward_equals_jacobian_transpose_times_v(N, C, seed):
    rng = np.random.default_rng(seed)
    z = logits(rng, (N, C))
    v = rng.standard_normal((N, C))
    p, cache = softmax_forward(z)
    dz = softmax_backward(v, cache)
    assert dz.shape == (N, C) and dz.dtype == np.float64
    J = softmax_jacobian(z)
    np.testing.assert_allclose(dz, np.einsum("nij,ni->nj", J, v), rtol=1e-12, atol=1e-15)
    # J is symmetric: the VJP is also the JVP J v
    np.testing.assert_allclose(dz, np.einsum("nij,nj->ni", J, v), rtol=1e-12, atol=1e-15)
    # a gradient with respect to logits sums to 0 per row (softmax ignores constant shifts)
    np.testing.assert_allclose(dz.sum(axis=1), 0.0, atol=1e-14)


@given(N=batch, C=st.integers(2, 6), seed=seeds)
def test_backward_matches_finite_differences(N, C, seed):
    rng = np.random.default_rng(seed)
    z = logits(rng, (N, C))
    v = rng.standard_normal((N, C))
    p = softmax(z)
    # dz_j = p_j (v_j - <v, p>) vanishes where v_j meets the row's mean <v, p>: an
    # elementwise relative error is meaningless there, so such draws are skipped
    assume(np.min(np.abs(v - np.sum(v * p, axis=1, keepdims=True))) > 0.05)
    dz = softmax_backward(v, SoftmaxCache(p))
    num = numeric_grad(softmax, z.copy(), v)
    assert relative_error(dz, num) < 1e-7


@given(C=classes, seed=seeds)
def test_backward_of_a_single_vector(C, seed):
    rng = np.random.default_rng(seed)
    z = logits(rng, C)
    v = rng.standard_normal(C)
    dz = softmax_backward(v, softmax_forward(z)[1])
    assert dz.shape == (C,)
    np.testing.assert_allclose(dz, softmax_jacobian(z).T @ v, rtol=1e-12, atol=1e-15)


def test_backward_with_upstream_one_hot_gives_a_jacobian_row():
    z = np.array([0.3, -1.2, 2.0, 0.1])
    J = softmax_jacobian(z)
    _, cache = softmax_forward(z)
    for i in range(4):
        np.testing.assert_allclose(softmax_backward(np.eye(4)[i], cache), J[i], rtol=1e-13, atol=1e-16)


def test_forward_backward_pair_follows_the_layer_convention():
    rng = np.random.default_rng(5)
    z = logits(rng, (3, 5))
    p, cache = softmax_forward(z)
    assert isinstance(cache, SoftmaxCache) and cache.p is p
    np.testing.assert_array_equal(p, softmax(z))
    dout = rng.standard_normal((3, 5))
    dout0 = dout.copy()
    dz = softmax_backward(dout, cache)
    np.testing.assert_array_equal(dout, dout0)                   # dout is not modified
    assert not np.shares_memory(dz, dout) and not np.shares_memory(dz, p)
    # a cache built from probabilities computed elsewhere gives the same result
    np.testing.assert_array_equal(softmax_backward(dout, SoftmaxCache(softmax(z))), dz)
    p1, cache1 = softmax_forward(z[0])                           # one vector
    np.testing.assert_array_equal(softmax_backward(dout[0], cache1), softmax_backward(
        dout[:1], SoftmaxCache(p1[None]))[0])


def test_old_call_with_an_array_is_refused_with_the_fix():
    p = softmax(np.array([[0.1, 0.2]]))
    with pytest.raises(TypeError, match=r"SoftmaxCache\(p\)"):
        softmax_backward(np.ones_like(p), p)


# --------------------------------------------------------- dtypes and inputs

def test_float32_stays_float32_and_is_accurate():
    z64 = logits(np.random.default_rng(3), (4, 7), scale=5)
    z32 = z64.astype(np.float32)
    p32 = softmax(z32)
    assert p32.dtype == np.float32
    assert log_softmax(z32).dtype == np.float32
    assert softmax_jacobian(z32).dtype == np.float32
    v32 = np.ones((4, 7), np.float32)
    assert softmax_backward(v32, SoftmaxCache(p32)).dtype == np.float32
    np.testing.assert_allclose(p32, softmax(z32.astype(np.float64)), rtol=2e-6)
    np.testing.assert_allclose(p32.sum(axis=1), 1.0, atol=1e-6)


def test_integer_logits_become_float64():
    p = softmax(np.array([[1, 2, 3]]))
    assert p.dtype == np.float64
    np.testing.assert_allclose(p, softmax(np.array([[1.0, 2.0, 3.0]])))


def test_inputs_are_never_modified():
    rng = np.random.default_rng(11)
    z = logits(rng, (3, 4))
    v = rng.standard_normal((3, 4))
    z0, v0 = z.copy(), v.copy()
    p = softmax(z)
    p0 = p.copy()
    log_softmax(z)
    softmax_jacobian(z)
    softmax_jacobian(z[0])
    softmax_backward(v, SoftmaxCache(p))
    softmax_forward(z)
    softmax(z, axis=0)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(v, v0)
    np.testing.assert_array_equal(p, p0)


def test_outputs_do_not_alias_inputs():
    z = np.array([[0.0, 0.0], [1.0, 1.0]])
    p = softmax(z)
    out = softmax_backward(np.zeros_like(p), SoftmaxCache(p))
    assert not np.shares_memory(out, p) and not np.shares_memory(p, z)
    assert not np.shares_memory(log_softmax(z), z)


# --------------------------------------------------------------- bad input

GOOD_P = softmax(np.array([[0.1, 0.5, -0.3], [1.0, 0.0, 2.0]]))
BAD_CALLS = [
    # (call, exception, words the message must contain)
    (lambda: softmax(np.float64(3.0)), ValueError, ["z", "dimension"]),
    (lambda: softmax(np.array([1.0, np.nan])), ValueError, ["z", "finite"]),
    (lambda: softmax(np.array([1.0, np.inf])), ValueError, ["z", "finite"]),
    (lambda: log_softmax(np.array([[1.0, -np.inf]])), ValueError, ["z", "finite"]),
    (lambda: softmax(np.array([1 + 2j, 0j])), TypeError, ["z", "real"]),
    (lambda: softmax("abc"), TypeError, ["z"]),
    (lambda: softmax(None), TypeError, ["z"]),
    (lambda: softmax(np.zeros((2, 3)), axis=2), ValueError, ["axis", "(2, 3)"]),
    (lambda: softmax(np.zeros((2, 3)), axis=-3), ValueError, ["axis"]),
    (lambda: log_softmax(np.zeros((2, 3)), axis=1.0), TypeError, ["axis", "integer"]),
    (lambda: softmax(np.zeros((2, 3)), axis=True), TypeError, ["axis"]),
    (lambda: softmax(np.zeros((2, 0))), ValueError, ["z", "class"]),
    (lambda: softmax_jacobian(np.zeros((2, 3, 4))), ValueError, ["z", "1 or 2", "(2, 3, 4)"]),
    (lambda: softmax_jacobian(np.float64(1.0)), ValueError, ["z"]),
    (lambda: softmax_jacobian(np.array([np.nan, 1.0])), ValueError, ["z", "finite"]),
    (lambda: softmax_backward(np.ones((2, 4)), SoftmaxCache(GOOD_P)), ValueError, ["dout", "p", "(2, 4)", "(2, 3)"]),
    (lambda: softmax_backward(np.ones((2, 3), np.float32), SoftmaxCache(GOOD_P)), ValueError, ["dout", "dtype"]),
    (lambda: softmax_backward(np.full((2, 3), np.nan), SoftmaxCache(GOOD_P)), ValueError, ["dout", "finite"]),
    (lambda: softmax_backward(np.ones((2, 3)), SoftmaxCache(GOOD_P - 0.5)), ValueError, ["p", "[0, 1]"]),
    (lambda: softmax_backward(np.ones((2, 3)), SoftmaxCache(GOOD_P * 0.9)), ValueError, ["p", "sum to 1"]),
    (lambda: softmax_backward(np.ones((1, 2, 3)), SoftmaxCache(GOOD_P[None])), ValueError, ["p", "dimensions"]),
    (lambda: softmax_backward(np.ones((2, 0)), SoftmaxCache(np.ones((2, 0)))), ValueError, ["p", "class"]),
    (lambda: softmax_backward("v", SoftmaxCache(GOOD_P)), TypeError, ["dout"]),
    (lambda: softmax_backward(np.ones((2, 3)), GOOD_P), TypeError, ["cache", "SoftmaxCache"]),
    (lambda: softmax_forward(np.zeros((2, 3, 4))), ValueError, ["z", "(2, 3, 4)"]),
    (lambda: softmax_forward(np.float64(1.0)), ValueError, ["z"]),
]


@pytest.mark.parametrize("call, exc, words", BAD_CALLS, ids=range(len(BAD_CALLS)))
def test_bad_input_raises_naming_the_argument(call, exc, words):
    assert_raises_naming(call, exc, words)
