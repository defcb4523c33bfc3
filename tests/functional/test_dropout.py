"""Tests of companion.functional.dropout (inverted dropout, p = probability of dropping).

The backward pass is checked by finite differences: with the generator reseeded
on every call, the forward pass draws the same mask each time and is a fixed
linear map of ``x``, whose gradient is the backward pass (central differences
from companion.teaching.gradcheck plus one Richardson step, see tests/functional/test_dense.py).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.functional import DropoutCache, dropout_backward, dropout_forward
from companion.teaching import numerical_gradient_array, relative_error

seeds = st.integers(0, 2**32 - 1)
probabilities = st.floats(0.0, 0.95)
shapes = st.lists(st.integers(1, 5), min_size=0, max_size=4).map(tuple)




# ---------------------------------------------------------------- forward

@given(shape=shapes, p=probabilities, seed=seeds)
def test_forward_keeps_and_scales_or_zeroes(shape, p, seed):
    rng = np.random.default_rng(seed)
    x = np.array(rng.standard_normal(shape) + 3.0)          # no zeros in x
    out, cache = dropout_forward(x, p, rng=np.random.default_rng(seed + 1))
    assert isinstance(cache, DropoutCache) and out.shape == x.shape and out.dtype == x.dtype
    if p == 0.0:
        np.testing.assert_array_equal(out, x)
        return
    keep = cache.keep
    assert keep.dtype == np.bool_ and keep.shape == x.shape
    np.testing.assert_array_equal(out[~keep], 0.0)
    np.testing.assert_allclose(out[keep], x[keep] / (1 - p), rtol=1e-15)
    # the mask is rng.random(x.shape) >= p, drawn from the generator passed in
    np.testing.assert_array_equal(keep, np.random.default_rng(seed + 1).random(x.shape) >= p)


@given(p=st.floats(0.05, 0.9), seed=seeds)
def test_expected_value_is_preserved(p, seed):
    n = 100_000
    x = np.full(n, 2.0)
    out, cache = dropout_forward(x, p, rng=np.random.default_rng(seed))
    # each output is 2/(1-p) with probability 1-p, else 0: mean 2, variance 4p/(1-p)
    sd_mean = np.sqrt(4 * p / (1 - p) / n)
    assert abs(out.mean() - 2.0) < 6 * sd_mean
    sd_frac = np.sqrt(p * (1 - p) / n)
    assert abs((~cache.keep).mean() - p) < 6 * sd_frac


def test_same_seed_same_output_different_seed_different_output():
    x = np.random.default_rng(0).standard_normal((8, 6, 5, 5))
    a, _ = dropout_forward(x, 0.5, rng=np.random.default_rng(42))
    b, _ = dropout_forward(x, 0.5, rng=np.random.default_rng(42))
    c, _ = dropout_forward(x, 0.5, rng=np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # consecutive calls with one generator draw fresh masks
    rng = np.random.default_rng(42)
    d, _ = dropout_forward(x, 0.5, rng=rng)
    e, _ = dropout_forward(x, 0.5, rng=rng)
    np.testing.assert_array_equal(d, a)
    assert not np.array_equal(d, e)


def test_mask_does_not_depend_on_dtype():
    x = np.random.default_rng(1).standard_normal((10, 20))
    out64, c64 = dropout_forward(x, 0.3, rng=np.random.default_rng(7))
    out32, c32 = dropout_forward(x.astype(np.float32), 0.3, rng=np.random.default_rng(7))
    assert out32.dtype == np.float32 and c32.dtype == np.float32
    np.testing.assert_array_equal(c32.keep, c64.keep)
    np.testing.assert_array_equal(out32, x.astype(np.float32) * np.float32(1 / 0.7) * c32.keep)


def test_integer_input_is_converted_to_float64():
    out, _ = dropout_forward(np.arange(1, 7).reshape(2, 3), 0.5, rng=np.random.default_rng(0))
    assert out.dtype == np.float64
    assert set(np.unique(out / np.arange(1, 7).reshape(2, 3))) <= {0.0, 2.0}


@pytest.mark.parametrize("train, p", [(False, 0.5), (False, 0.0), (True, 0.0)])
def test_eval_mode_and_p_zero_are_the_identity_and_draw_nothing(train, p):
    x = np.random.default_rng(2).standard_normal((4, 5))
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    out, cache = dropout_forward(x, p, rng=rng, train=train)
    np.testing.assert_array_equal(out, x)
    assert not np.shares_memory(out, x)
    assert cache.keep is None
    assert rng.bit_generator.state == state
    dout = np.random.default_rng(4).standard_normal((4, 5))
    dx = dropout_backward(dout, cache)
    np.testing.assert_array_equal(dx, dout)
    assert not np.shares_memory(dx, dout)


# ---------------------------------------------------------------- backward

@given(shape=shapes, p=probabilities, seed=seeds)
def test_backward_reuses_the_mask(shape, p, seed):
    rng = np.random.default_rng(seed)
    x = np.array(rng.standard_normal(shape))
    dout = np.array(rng.standard_normal(shape))
    out, cache = dropout_forward(x, p, rng=np.random.default_rng(seed))
    dx = dropout_backward(dout, cache)
    keep = cache.keep if cache.keep is not None else np.ones(x.shape, bool)
    np.testing.assert_array_equal(dx == 0, (dout == 0) | ~keep)
    np.testing.assert_allclose(dx, np.where(keep, dout / (1 - p), 0.0), rtol=1e-15)


@given(shape=shapes, p=probabilities, seed=seeds)
def test_backward_matches_finite_differences(shape, p, seed):
    rng = np.random.default_rng(seed)
    x = np.array(rng.standard_normal(shape))
    dout = np.array(rng.standard_normal(shape))
    _, cache = dropout_forward(x, p, rng=np.random.default_rng(seed))
    dx = dropout_backward(dout, cache)
    num = numerical_gradient_array(lambda z: dropout_forward(z, p, rng=np.random.default_rng(seed))[0], x, dout, richardson=True)
    assert relative_error(dx, num) < 1e-7


def test_inputs_are_not_modified():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5))
    dout = rng.standard_normal((3, 4, 5))
    x0, dout0 = x.copy(), dout.copy()
    out, cache = dropout_forward(x, 0.5, rng=np.random.default_rng(0))
    dx = dropout_backward(dout, cache)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, dout0)
    assert not np.shares_memory(out, x) and not np.shares_memory(dx, dout)


def test_non_contiguous_input():
    x = np.random.default_rng(6).standard_normal((4, 6)).T
    out, cache = dropout_forward(x, 0.5, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(out, np.where(cache.keep, x * 2.0, 0.0))


def test_read_only_and_broadcast_inputs():
    x = np.broadcast_to(np.arange(1.0, 6.0), (4, 5))      # read-only, stride 0
    out, cache = dropout_forward(x, 0.25, rng=np.random.default_rng(2))
    np.testing.assert_allclose(out, np.where(cache.keep, x / 0.75, 0.0), rtol=1e-15)
    dx = dropout_backward(np.broadcast_to(1.0, (4, 5)), cache)
    np.testing.assert_allclose(dx, np.where(cache.keep, 1 / 0.75, 0.0), rtol=1e-15)


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("p", [1, 1.0])
def test_p_one_is_rejected_with_the_reason(p):
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\), got 1: p = 1 drops every unit"):
        dropout_forward(np.ones(3), p, rng=np.random.default_rng(0))


@pytest.mark.parametrize("p", [-0.1, 1.5, np.nan, np.inf])
def test_p_out_of_range_is_rejected(p):
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\)"):
        dropout_forward(np.ones(3), p, rng=np.random.default_rng(0))


@pytest.mark.parametrize("p", ["0.5", None, True])
def test_p_must_be_a_number(p):
    with pytest.raises(TypeError, match="p must be a number"):
        dropout_forward(np.ones(3), p, rng=np.random.default_rng(0))


@pytest.mark.parametrize("rng", [np.random.RandomState(0), np.random.PCG64(0), 1.5, "0"])
def test_rng_must_be_a_generator_a_seed_or_none(rng):
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator, an integer seed"):
        dropout_forward(np.ones(3), 0.5, rng=rng)


def test_rng_is_keyword_only_and_a_seed_is_a_generator():
    x = np.ones((4, 5))
    with pytest.raises(TypeError):
        dropout_forward(x, 0.5, np.random.default_rng(3))  # noqa: the call must fail
    by_seed, _ = dropout_forward(x, 0.5, rng=3)
    by_generator, _ = dropout_forward(x, 0.5, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(by_seed, by_generator)


def test_other_validation():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="x must be finite"):
        dropout_forward(np.array([1.0, np.nan]), 0.5, rng=rng)
    with pytest.raises(TypeError, match="train must be True or False"):
        dropout_forward(np.ones(3), 0.5, rng=rng, train=1)
    out, cache = dropout_forward(np.ones((2, 3)), 0.5, rng=rng)
    with pytest.raises(ValueError,
                       match=r"dout must have the shape of the dropout_forward output \(2, 3\)"):
        dropout_backward(np.ones((3, 2)), cache)
    with pytest.raises(ValueError, match=r"dout must have the dtype .* \(float64\), got float32"):
        dropout_backward(np.ones((2, 3), np.float32), cache)
    with pytest.raises(ValueError, match="dout must be finite"):
        dropout_backward(np.full((2, 3), np.inf), cache)
    with pytest.raises(TypeError, match="cache must be the DropoutCache"):
        dropout_backward(np.ones((2, 3)), tuple(cache))


# ---------------------------------------------------------------- Numba

def test_cold_compile_writes_nothing_to_stderr(run_cold):
    code = (
        "import numpy as np\n"
        "from companion.functional.dropout import dropout_forward, dropout_backward\n"
        "for dt in (np.float32, np.float64):\n"
        "    out, cache = dropout_forward(np.ones((3, 4), dt), 0.5, rng=np.random.default_rng(0))\n"
        "    dropout_backward(out, cache)\n"
    )
    run_cold(code)
