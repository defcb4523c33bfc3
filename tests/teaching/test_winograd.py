"""companion.teaching.winograd: Winograd's F(m x m, 3 x 3) against the direct convolution."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.functional import conv2d_forward
from companion.teaching.winograd import (
    winograd_conv2d,
    winograd_multiplications,
    winograd_transforms,
)


@pytest.mark.parametrize("m", [2, 4])
def test_the_1d_algorithm_is_a_correlation(m):
    t = winograd_transforms(m)
    assert (t.m, t.BT.shape, t.G.shape, t.AT.shape) == (m, (m + 2,) * 2, (m + 2, 3),
                                                         (m, m + 2))
    rng = np.random.default_rng(m)
    for _ in range(20):
        d, g = rng.standard_normal(m + 2), rng.standard_normal(3)
        y = t.AT @ ((t.G @ g) * (t.BT @ d))
        np.testing.assert_allclose(y, np.correlate(d, g, "valid"), rtol=0, atol=1e-13)


def test_f2_is_exact_on_integers():
    # F(2, 3)'s halves are exact in binary: integer data gives the exact correlation
    t = winograd_transforms(2)
    d, g = np.array([3.0, -1.0, 4.0, 1.0]), np.array([5.0, -9.0, 2.0])
    assert np.array_equal(t.AT @ ((t.G @ g) * (t.BT @ d)), np.correlate(d, g, "valid"))


def test_multiplication_counts():
    assert winograd_multiplications(2) == (36, 16)
    assert winograd_multiplications(4) == (144, 36)


@given(n=st.integers(1, 3), c=st.integers(1, 4), f=st.integers(1, 4),
       h=st.integers(1, 11), w=st.integers(1, 11), padding=st.integers(0, 2),
       m=st.sampled_from([2, 4]), seed=st.integers(0, 2**32 - 1))
def test_equals_the_direct_convolution_in_float64(n, c, f, h, w, padding, m, seed):
    if h + 2 * padding < 3 or w + 2 * padding < 3:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    wt, b = rng.standard_normal((f, c, 3, 3)), rng.standard_normal(f)
    ref, _ = conv2d_forward(x, wt, b, 1, padding, algorithm="naive")
    out = winograd_conv2d(x, wt, b, padding, m=m)
    assert out.shape == ref.shape and out.dtype == np.float64
    assert np.max(np.abs(out - ref)) <= 1e-12 * max(1.0, np.max(np.abs(ref)))


@pytest.mark.parametrize("m, bound", [(2, 1e-6), (4, 1e-5)])
def test_float32_error_is_small_and_grows_with_the_tile(m, bound):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 12, 12))
    wt, b = rng.standard_normal((4, 8, 3, 3)), rng.standard_normal(4)
    ref, _ = conv2d_forward(x, wt, b, 1, 1)
    out = winograd_conv2d(*(a.astype(np.float32) for a in (x, wt, b)), 1, m=m)
    assert out.dtype == np.float32
    err = np.max(np.abs(out - ref)) / np.max(np.abs(ref))
    assert 1e-9 < err < bound                        # float32 rounding, and no more


def test_inputs_are_not_modified_and_read_only_inputs_work():
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((1, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3)),
              rng.standard_normal(3)]
    copies = [a.copy() for a in arrays]
    for a in arrays:
        a.flags.writeable = False
    winograd_conv2d(*arrays, 1)
    for a, c in zip(arrays, copies):
        assert np.array_equal(a, c)


def test_transforms_refuse_a_dtype_that_would_truncate_them():
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        winograd_transforms(2, dtype=int)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        winograd_transforms(4, dtype=complex)
    assert winograd_transforms(4, np.float32).G.dtype == np.float32


def test_overflow_in_the_transforms_is_reported():
    # finite float32 input the direct convolution handles, but the transforms
    # scale by up to about 100: an error, not inf or NaN
    x = np.full((1, 1, 6, 6), 3e37, np.float32)
    w = np.full((1, 1, 3, 3), 0.01, np.float32)
    b = np.zeros(1, np.float32)
    assert np.all(np.isfinite(conv2d_forward(x, w, b, 1, 1)[0]))
    with pytest.raises(ValueError, match="winograd_conv2d overflowed in float32"):
        winograd_conv2d(x, w, b, 1, m=4)


def _args():
    return np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3)), np.zeros(3)


@pytest.mark.parametrize("change, error, match", [
    (dict(x=np.zeros((2, 5, 5))), ValueError, "x must"),
    (dict(w=np.zeros((3, 2, 5, 5))), ValueError, r"w must have shape \(F, C, 3, 3\)"),
    (dict(w=np.zeros((3, 4, 3, 3))), ValueError, "w must have shape"),
    (dict(b=np.zeros(2)), ValueError, "b must have shape"),
    (dict(w=np.zeros((3, 2, 3, 3), np.float32)), ValueError, "w must have the dtype"),
    (dict(x=np.full((1, 2, 5, 5), np.nan)), ValueError, "x must be finite"),
    (dict(x=np.zeros((1, 2, 2, 5))), ValueError, "at least 3 x 3"),
    (dict(x=np.zeros((1, 0, 5, 5)), w=np.zeros((3, 0, 3, 3))), ValueError, "channels"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(padding=1.5), TypeError, "padding"),
    (dict(m=3), ValueError, "m must be 2 or 4"),
    (dict(m=2.0), TypeError, "m must be 2 or 4"),
    (dict(m=True), TypeError, "m must be 2 or 4"),
    (dict(x="image"), TypeError, "x"),
])
def test_bad_input_is_refused_by_name(change, error, match):
    x, w, b = _args()
    kwargs = dict(x=x, w=w, b=b, padding=0, m=2)
    kwargs.update(change)
    with pytest.raises(error, match=match):
        winograd_conv2d(kwargs["x"], kwargs["w"], kwargs["b"], kwargs["padding"],
                        m=kwargs["m"])


def test_same_bits_with_the_jit_disabled():
    # the kernel computes in a fixed order in the input's dtype: plain Python agrees
    code = ("import numpy as np\n"
            "from companion.teaching.winograd import winograd_conv2d\n"
            "r = np.random.default_rng(3)\n"
            "a = [r.standard_normal(s).astype(np.float32) for s in "
            "((2, 3, 7, 6), (4, 3, 3, 3), (4,))]\n"
            "print(winograd_conv2d(*a, 1, m=4).tobytes().hex())\n")
    outputs = []
    for disable in ("0", "1"):
        env = dict(os.environ, NUMBA_DISABLE_JIT=disable)
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True)
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1] and len(outputs[0]) > 100
