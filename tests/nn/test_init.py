"""Tests of companion.nn.init: fan-in/fan-out, the distributions' statistics,
reproducibility, dtypes, validation, and the point of He initialization
(activations keep their size through a deep ReLU stack)."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.nn import (
    INITIALIZERS,
    fan_in_fan_out,
    get_initializer,
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    normal,
    xavier_normal,
    xavier_uniform,
    zeros,
)

RANDOM = [he_normal, he_uniform, xavier_normal, xavier_uniform, normal]
dense_shapes = st.tuples(st.integers(1, 40), st.integers(1, 40))
conv_shapes = st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(1, 5),
                        st.integers(1, 5))


def expected_std(fn, shape):
    fan_in, fan_out = fan_in_fan_out(shape)
    return {he_normal: math.sqrt(2 / fan_in), he_uniform: math.sqrt(2 / fan_in),
            xavier_normal: math.sqrt(2 / (fan_in + fan_out)),
            xavier_uniform: math.sqrt(2 / (fan_in + fan_out)), normal: 0.02}[fn]


# ---------------------------------------------------------------- fan-in / fan-out

def test_fan_in_fan_out_dense_and_conv():
    assert fan_in_fan_out((400, 120)) == (400, 120)
    assert fan_in_fan_out((16, 6, 5, 5)) == (6 * 25, 16 * 25)
    assert fan_in_fan_out([32, 3, 3, 3]) == (27, 32 * 9)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), (1, 2, 3, 4, 5)])
def test_fan_in_fan_out_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match="shape must be a dense weight"):
        fan_in_fan_out(shape)


@pytest.mark.parametrize("shape, exc", [((0, 3), ValueError), ((2, -1), ValueError),
                                        ((2.5, 3), TypeError), ("ab", TypeError),
                                        ((True, 3), TypeError), (None, TypeError)])
def test_bad_shapes_name_the_argument(shape, exc):
    with pytest.raises(exc, match="shape"):
        he_normal(shape, rng=0)


# ---------------------------------------------------------------- statistics

@pytest.mark.parametrize("fn", RANDOM)
@pytest.mark.parametrize("shape", [(2000, 300), (64, 32, 3, 3)])
def test_standard_deviation_and_mean(fn, shape):
    w = fn(shape, rng=np.random.default_rng(0), dtype=np.float64)
    n = w.size
    std = expected_std(fn, shape)
    # sample std of n draws: relative standard error about 1/sqrt(2n) (< 0.2 % here)
    assert abs(w.std() / std - 1) < 0.02
    assert abs(w.mean()) < 6 * std / math.sqrt(n)


@pytest.mark.parametrize("fn, bound", [(he_uniform, lambda fi, fo: math.sqrt(6 / fi)),
                                       (xavier_uniform,
                                        lambda fi, fo: math.sqrt(6 / (fi + fo)))])
@given(shape=st.one_of(dense_shapes, conv_shapes), seed=st.integers(0, 2**32 - 1))
def test_uniform_stays_inside_its_bound(fn, bound, shape, seed):
    w = fn(shape, rng=seed, dtype=np.float64)
    a = bound(*fan_in_fan_out(shape))
    assert w.shape == shape and np.all(np.abs(w) <= a)


def test_uniform_fills_its_interval():
    w = he_uniform((1000, 100), rng=0, dtype=np.float64)
    a = math.sqrt(6 / 1000)
    assert w.min() < -0.99 * a and w.max() > 0.99 * a


def test_aliases():
    assert glorot_normal is xavier_normal and glorot_uniform is xavier_uniform
    assert INITIALIZERS["he"] is he_normal and INITIALIZERS["xavier"] is xavier_normal
    assert get_initializer("glorot_uniform") is xavier_uniform
    custom = lambda shape, rng, dtype: np.ones(shape, dtype)  # noqa: E731
    assert get_initializer(custom) is custom


@pytest.mark.parametrize("bad", ["kaiming", "", None, 3])
def test_unknown_initializer_is_named(bad):
    with pytest.raises(ValueError, match="init must be one of"):
        get_initializer(bad)


# ---------------------------------------------------------------- reproducibility, dtype

@pytest.mark.parametrize("fn", RANDOM)
@given(shape=st.one_of(dense_shapes, conv_shapes), seed=st.integers(0, 2**32 - 1))
def test_seeded_reproducible_and_float32_is_rounded_float64(fn, shape, seed):
    a = fn(shape, rng=seed, dtype=np.float64)
    b = fn(shape, rng=np.random.default_rng(seed), dtype=np.float64)
    np.testing.assert_array_equal(a, b)
    c = fn(shape, rng=seed, dtype=np.float32)
    assert a.dtype == np.float64 and c.dtype == np.float32
    np.testing.assert_array_equal(c, a.astype(np.float32))


def test_generator_is_advanced_and_seeds_differ():
    rng = np.random.default_rng(1)
    a, b = he_normal((10, 10), rng=rng), he_normal((10, 10), rng=rng)
    assert not np.array_equal(a, b)
    assert not np.array_equal(he_normal((10, 10), rng=1), he_normal((10, 10), rng=2))


def test_none_draws_fresh_entropy():
    assert not np.array_equal(he_normal((50, 50), rng=None), he_normal((50, 50), rng=None))


def test_default_dtype_is_float32():
    assert he_normal((3, 4), rng=0).dtype == np.float32
    assert zeros((3,)).dtype == np.float32


def test_zeros():
    z = zeros((4, 2, 3, 3), rng=0, dtype=np.float64)
    assert z.shape == (4, 2, 3, 3) and z.dtype == np.float64 and not z.any()
    assert zeros(5).shape == (5,)


def test_normal_fixed_std_accepts_any_shape():
    w = normal((7,), rng=0, dtype=np.float64, std=0.5)
    np.testing.assert_array_equal(w, np.random.default_rng(0).standard_normal(7) * 0.5)
    with pytest.raises(ValueError, match="std must be"):
        normal((3, 3), rng=0, std=0.0)
    with pytest.raises(ValueError, match="std must be"):
        normal((3, 3), rng=0, std=float("nan"))


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.complex128, "float128x"])
def test_bad_dtype_is_named(dtype):
    with pytest.raises((ValueError, TypeError), match="dtype must be float32 or float64"):
        he_normal((3, 3), rng=0, dtype=dtype)


@pytest.mark.parametrize("rng, exc", [(np.random.RandomState(0), TypeError), (1.5, TypeError),
                                      ("seed", TypeError), (True, TypeError),
                                      (-1, ValueError)])
def test_bad_rng_is_named(rng, exc):
    with pytest.raises(exc, match="rng"):
        xavier_uniform((3, 3), rng=rng)


# ---------------------------------------------------------------- why He

def test_he_keeps_the_signal_through_a_deep_relu_stack_where_fixed_std_kills_it():
    """20 dense ReLU layers of width 256: with He the mean square activation stays
    of order 1; with document 1's fixed std 0.02 it is multiplied by
    256 * 0.02**2 / 2 ~ 0.05 per layer, i.e. by ~1e-26 over 20 layers."""
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((500, 256))
    ms = {}
    for fn, kwargs in [(he_normal, {}), (normal, {"std": 0.02})]:
        x = x0
        for _ in range(20):
            x = np.maximum(x @ fn((256, 256), rng=rng, dtype=np.float64, **kwargs), 0.0)
        ms[fn] = float(np.mean(x ** 2))
    assert 0.1 < ms[he_normal] < 10
    assert ms[normal] < 1e-10


@pytest.mark.parametrize("fn", [he_normal, he_uniform, xavier_normal, xavier_uniform, normal, zeros])
def test_rng_and_dtype_are_keyword_only(fn):
    with pytest.raises(TypeError, match="positional"):
        fn((3, 3), 0)
    with pytest.raises(TypeError, match="positional"):
        fn((3, 3), 0, np.float64)
