"""Tests of companion.functional.activations: ReLU, leaky ReLU, sigmoid, tanh.

Forward passes are compared with NumPy references written here, backward passes
with finite differences (central differences from companion.teaching.gradcheck plus one
Richardson extrapolation step, see tests/functional/test_dense.py for why). The data are
kept well-conditioned for an elementwise relative bound: inputs stay at least
0.1 away from the ReLU kink (the difference step is 2e-3), sigmoid and tanh
inputs lie in [-3, 3] (beyond, the derivative is so small that its rounding
error dominates), and upstream gradients have magnitude in [0.5, 1.5].
"""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion import _threads
from companion.functional import (
    LeakyReluCache,
    ReluCache,
    SigmoidCache,
    TanhCache,
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from companion.teaching import numerical_gradient_array, relative_error


def numeric_grad(f, x, dout, h=1e-3):
    """Richardson-extrapolated central differences of ``sum(f(x) * dout)``."""
    d1 = numerical_gradient_array(f, x, dout, h)
    d2 = numerical_gradient_array(f, x, dout, 2 * h)
    return (4 * d1 - d2) / 3


# plain NumPy references, written independently of the package
def ref_relu(x):
    return np.where(x > 0, x, 0.0)


def ref_leaky(x, a):
    return np.where(x > 0, x, a * x)


def ref_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))          # fine for |x| < 700 in float64


def ref_tanh(x):
    e = np.exp(2.0 * x)
    return (e - 1.0) / (e + 1.0)             # fine for |x| < 300 in float64


PAIRS = {
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (lambda x: leaky_relu_forward(x, 0.1), leaky_relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
}
REFS = {
    "relu": ref_relu,
    "leaky_relu": lambda x: ref_leaky(x, 0.1),
    "sigmoid": ref_sigmoid,
    "tanh": ref_tanh,
}

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=4).map(tuple)
seeds = st.integers(0, 2**32 - 1)


def away_from_zero(rng, shape):
    """Values in [-2, -0.1] U [0.1, 2]."""
    return np.array(rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.0, size=shape))


def upstream(rng, shape):
    """Upstream gradient with magnitude in [0.5, 1.5] and random signs."""
    return np.array(rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 1.5, size=shape))


# ---------------------------------------------------------------- forward

@pytest.mark.parametrize("name", list(PAIRS))
@given(shape=shapes, seed=seeds)
def test_forward_matches_reference(name, shape, seed):
    rng = np.random.default_rng(seed)
    x = np.array(3 * rng.standard_normal(shape))
    forward, _ = PAIRS[name]
    out, _ = forward(x)
    assert isinstance(out, np.ndarray) and out.shape == x.shape and out.dtype == np.float64
    np.testing.assert_allclose(out, REFS[name](x), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", list(PAIRS))
def test_float32_stays_float32(name):
    x = np.random.default_rng(1).standard_normal((5, 7)).astype(np.float32)
    forward, backward = PAIRS[name]
    out, cache = forward(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, REFS[name](x.astype(np.float64)), rtol=2e-6, atol=1e-7)
    dx = backward(np.ones_like(out), cache)
    assert dx.dtype == np.float32


@pytest.mark.parametrize("name", list(PAIRS))
def test_integer_input_is_converted_to_float64(name):
    forward, _ = PAIRS[name]
    out, _ = forward(np.array([[-2, 0, 3]]))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, REFS[name](np.array([[-2.0, 0.0, 3.0]])), rtol=1e-14)


@pytest.mark.parametrize("name", list(PAIRS))
def test_any_shape_including_scalars_empty_and_non_contiguous(name):
    forward, backward = PAIRS[name]
    for x in (np.array(0.7), np.array(-1.5), np.zeros((0, 3)),
              np.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1) - 12):
        out, cache = forward(x)
        assert out.shape == x.shape
        np.testing.assert_allclose(out, REFS[name](x), rtol=1e-14, atol=1e-15)
        dx = backward(np.ones(x.shape), cache)
        assert isinstance(dx, np.ndarray) and dx.shape == x.shape


def test_relu_subgradient_at_zero_is_zero():
    out, cache = relu_forward(np.array([-1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(out, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(relu_backward(np.array([5.0, 5.0, 5.0]), cache), [0.0, 0.0, 5.0])


def test_leaky_relu_uses_the_left_slope_at_zero():
    out, cache = leaky_relu_forward(np.array([-2.0, 0.0, 3.0]), negative_slope=0.25)
    np.testing.assert_array_equal(out, [-0.5, 0.0, 3.0])
    assert cache.negative_slope == 0.25
    np.testing.assert_array_equal(leaky_relu_backward(np.array([4.0, 4.0, 4.0]), cache),
                                  [1.0, 1.0, 4.0])


def test_leaky_relu_limits():
    x = np.random.default_rng(2).standard_normal(50)
    np.testing.assert_array_equal(leaky_relu_forward(x, 0)[0], relu_forward(x)[0])
    np.testing.assert_array_equal(leaky_relu_forward(x, 1)[0], x)
    assert leaky_relu_forward(x)[1].negative_slope == 0.01  # PyTorch's default


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_for_huge_inputs(dtype):
    x = np.array([-1e4, -800.0, -100.0, 0.0, 100.0, 800.0, 1e4], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        out, cache = sigmoid_forward(x)
        dx = sigmoid_backward(np.ones_like(x), cache)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))
    np.testing.assert_array_equal(out[[0, 1, 3, 5, 6]], np.array([0.0, 0.0, 0.5, 1.0, 1.0], dtype))
    np.testing.assert_array_equal(dx[[0, 6]], [0.0, 0.0])


def test_sigmoid_keeps_relative_precision_for_negative_inputs():
    # 1 - sigmoid(40) would round to 0; sigmoid(-40) must not
    x = np.linspace(-700.0, 700.0, 2801)
    out, _ = sigmoid_forward(x)
    xl = x.astype(np.longdouble)
    ref = 1 / (1 + np.exp(-xl))
    rel = np.abs(out.astype(np.longdouble) - ref) / ref
    assert float(rel.max()) < 1e-15
    assert out[x == -40.0][0] == pytest.approx(4.248354255291589e-18, rel=1e-14)


# ---------------------------------------------------------------- backward

@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
@given(shape=shapes, seed=seeds)
def test_piecewise_linear_backward_matches_finite_differences(name, shape, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, shape)
    dout = upstream(rng, shape)
    forward, backward = PAIRS[name]
    _, cache = forward(x)
    dx = backward(dout, cache)
    assert relative_error(dx, numeric_grad(lambda z: forward(z)[0], x, dout)) < 1e-7


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
@given(shape=shapes, seed=seeds)
def test_smooth_backward_matches_finite_differences(name, shape, seed):
    rng = np.random.default_rng(seed)
    x = np.array(rng.uniform(-3.0, 3.0, size=shape))
    dout = upstream(rng, shape)
    forward, backward = PAIRS[name]
    _, cache = forward(x)
    dx = backward(dout, cache)
    assert relative_error(dx, numeric_grad(lambda z: forward(z)[0], x, dout)) < 1e-7


@given(slope=st.floats(0.0, 1.0), seed=seeds)
def test_leaky_relu_backward_for_any_slope(slope, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, (3, 4))
    dout = upstream(rng, (3, 4))
    _, cache = leaky_relu_forward(x, slope)
    dx = leaky_relu_backward(dout, cache)
    np.testing.assert_allclose(dx, np.where(x > 0, dout, slope * dout), rtol=1e-15)
    num = numeric_grad(lambda z: leaky_relu_forward(z, slope)[0], x, dout)
    assert np.max(np.abs(dx - num)) < 1e-9  # entries may be exactly 0 (slope 0)


@pytest.mark.parametrize("name", list(PAIRS))
def test_inputs_are_not_modified(name):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5))
    dout = rng.standard_normal((3, 4, 5))
    x0, dout0 = x.copy(), dout.copy()
    forward, backward = PAIRS[name]
    out, cache = forward(x)
    dx = backward(dout, cache)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, dout0)
    assert not np.shares_memory(out, x) and not np.shares_memory(dx, dout)


@pytest.mark.parametrize("name", list(PAIRS))
def test_read_only_and_broadcast_inputs(name):
    forward, backward = PAIRS[name]
    x = np.broadcast_to(np.linspace(-2, 2, 5), (3, 5))       # read-only, stride 0
    dout = np.array(np.ones((3, 5)))
    dout.flags.writeable = False
    out, cache = forward(x)
    np.testing.assert_allclose(out, REFS[name](np.array(x)), rtol=1e-14, atol=1e-15)
    dx = backward(dout, cache)
    assert dx.shape == (3, 5) and dx.flags.writeable


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_rejected(name, bad):
    forward, backward = PAIRS[name]
    x = np.ones((2, 3))
    x[1, 2] = bad
    with pytest.raises(ValueError, match="x must be finite"):
        forward(x)
    out, cache = forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="dout must be finite"):
        backward(x, cache)


@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
@pytest.mark.parametrize("size, pool", [(7, False), (7, True), (300_000, True)])
def test_relu_kernels_count_every_non_finite_value(monkeypatch, name, size, pool):
    # the ReLU loops count NaN and infinity while they compute: every position
    # is seen, on any thread, also where the gradient would be masked (x <= 0)
    if pool:                                          # the whole pool, whatever the size
        monkeypatch.setattr(_threads, "PARALLEL_MIN_WORK", 0)
    forward, backward = PAIRS[name]
    rng = np.random.default_rng(size)
    x = rng.standard_normal(size)
    bad_at = rng.choice(size, 3, replace=False)
    x_bad = x.copy()
    x_bad[bad_at] = [np.nan, np.inf, -np.inf]
    with pytest.raises(ValueError, match="x must be finite, got 3 NaN or infinite"):
        forward(x_bad)
    out, cache = forward(x)
    dout = np.ones(size)
    masked = np.flatnonzero(x <= 0)[:2]
    dout[masked] = np.nan
    with pytest.raises(ValueError, match="dout must be finite, got 2 NaN or infinite"):
        backward(dout, cache)
    for i in (0, size - 1):                          # the first and the last element
        x_one = x.copy()
        x_one[i] = np.nan
        with pytest.raises(ValueError, match="got 1 NaN"):
            forward(x_one)


@pytest.mark.parametrize("name", list(PAIRS))
def test_backward_validates_dout_and_cache(name):
    forward, backward = PAIRS[name]
    out, cache = forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dout must have the shape of the .* output \(2, 3\)"):
        backward(np.ones((3, 2)), cache)
    with pytest.raises(ValueError, match=r"dout must have the dtype of the .* output \(float64\)"):
        backward(np.ones((2, 3), np.float32), cache)
    with pytest.raises(TypeError, match="cache must be the"):
        backward(np.ones((2, 3)), (np.ones((2, 3)),))
    with pytest.raises(TypeError, match="x must be an array of numbers"):
        forward("not an array")


def test_cache_types():
    x = np.ones(3)
    assert isinstance(relu_forward(x)[1], ReluCache)
    assert isinstance(leaky_relu_forward(x)[1], LeakyReluCache)
    assert isinstance(sigmoid_forward(x)[1], SigmoidCache)
    assert isinstance(tanh_forward(x)[1], TanhCache)
    # a cache from another activation is refused
    with pytest.raises(TypeError, match="ReluCache"):
        relu_backward(x, sigmoid_forward(x)[1])


@pytest.mark.parametrize("slope", [-0.1, np.nan, np.inf])
def test_negative_slope_must_be_finite_and_non_negative(slope):
    with pytest.raises(ValueError, match="negative_slope must be a finite number >= 0"):
        leaky_relu_forward(np.ones(3), slope)


@pytest.mark.parametrize("slope", ["0.1", None, True, [0.1]])
def test_negative_slope_must_be_a_number(slope):
    with pytest.raises(TypeError, match="negative_slope must be a real number"):
        leaky_relu_forward(np.ones(3), slope)


# ---------------------------------------------------------------- Numba

def test_cold_compile_writes_nothing_to_stderr(run_cold):
    """Compiling every kernel from an empty Numba cache prints no warning."""
    code = (
        "import numpy as np\n"
        "from companion.functional import activations as a\n"
        "for dt in (np.float32, np.float64):\n"
        "    x = np.linspace(-2, 2, 12, dtype=dt).reshape(3, 4)\n"
        "    for f, b in ((a.relu_forward, a.relu_backward),\n"
        "                 (a.leaky_relu_forward, a.leaky_relu_backward),\n"
        "                 (a.sigmoid_forward, a.sigmoid_backward),\n"
        "                 (a.tanh_forward, a.tanh_backward)):\n"
        "        out, cache = f(x)\n"
        "        b(out, cache)\n"
    )
    run_cold(code)
