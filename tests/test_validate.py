"""The shared argument checks every public function relies on."""
import numpy as np
import pytest

from companion import _validate as v


def test_as_float_array_keeps_float32_and_converts_integers():
    assert v.as_float_array(np.ones(3, np.float32), "x").dtype == np.float32
    assert v.as_float_array([1, 2], "x").dtype == np.float64
    assert v.as_float_array([1, 2], "x", dtype=np.float32).dtype == np.float32


def test_as_float_array_contiguous_keeps_zero_d_shape():
    out = v.as_float_array(np.float64(2.5), "x", contiguous=True)
    assert out.shape == ()
    strided = np.arange(12.0).reshape(3, 4)[:, ::2]
    out = v.as_float_array(strided, "x", contiguous=True)
    assert out.flags.c_contiguous and np.array_equal(out, strided)


def test_as_float_array_does_not_copy_what_it_need_not():
    a = np.zeros((2, 2))
    assert v.as_float_array(a, "x", contiguous=True) is a


@pytest.mark.parametrize("bad, exc, msg", [
    ("abc", TypeError, "x must be an array of numbers"),
    (None, TypeError, "x must be an array of numbers"),
    (np.array([1j]), TypeError, "x must be real-valued"),
    (np.array(["a"]), TypeError, "x must be an array of numbers"),
    (np.array([np.nan]), ValueError, "x must be finite"),
])
def test_as_float_array_rejects_bad_values(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        v.as_float_array(bad, "x")


def test_ndim_shape_and_dtype_checks_name_the_arguments():
    with pytest.raises(ValueError, match="x must have 2 or 4 dimensions"):
        v.check_ndim(np.zeros(3), "x", (2, 4))
    with pytest.raises(ValueError, match="dout and out must have the same shape"):
        v.check_same_shape(np.zeros(2), "dout", np.zeros(3), "out")
    with pytest.raises(ValueError, match=r"w must have the dtype of x \(float32\)"):
        v.check_same_dtype(np.zeros(2), "w", np.zeros(2, np.float32), "x")


def test_labels():
    assert v.as_labels(np.array([0, 2], np.int32), "y", n=2, num_classes=3).dtype == np.int64
    with pytest.raises(TypeError, match="y must be integer class labels"):
        v.as_labels(np.array([0.0, 1.0]), "y", n=2, num_classes=3)
    with pytest.raises(ValueError, match=r"y must lie in \[0, 3\)"):
        v.as_labels(np.array([0, 3]), "y", n=2, num_classes=3)
    with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
        v.as_labels(np.array([0, 1]), "y", n=3, num_classes=3)


def test_integers_pairs_and_probabilities():
    assert v.as_positive_int(np.int64(3), "n") == 3
    assert v.as_pair(2, "stride", minimum=1) == (2, 2)
    assert v.as_pair((1, 3), "stride", minimum=1) == (1, 3)
    for bad, exc in [(0, ValueError), (True, TypeError), (1.5, TypeError)]:
        with pytest.raises(exc, match="n must be"):
            v.as_positive_int(bad, "n")
    with pytest.raises(ValueError, match="padding must be >= 0"):
        v.as_pair((1, -1), "padding")
    with pytest.raises(ValueError, match="stride must be an int or a pair"):
        v.as_pair((1, 2, 3), "stride")
    assert v.as_probability(0.5, "p") == 0.5
    with pytest.raises(ValueError, match="p must"):
        v.as_probability(1.0, "p")


def test_as_real_bounds():
    assert v.as_real(1, "lr", low=0, low_open=True) == 1.0
    with pytest.raises(ValueError, match=r"lr must be a finite number in \(0, inf\)"):
        v.as_real(0.0, "lr", low=0, low_open=True)
    with pytest.raises(ValueError, match="beta must be finite, got inf"):
        v.as_real(float("inf"), "beta")
    with pytest.raises(TypeError, match="beta must be a real number"):
        v.as_real(True, "beta")
    with pytest.raises(ValueError, match=r"m must be a finite number in \[0, 1\]"):
        v.as_real(1.5, "m", low=0, high=1)
    with pytest.raises(ValueError, match=r"g must be a finite number in \(0, 1\)"):
        v.as_real(1.0, "g", low=0, high=1, low_open=True, high_open=True)
    assert v.as_real(np.float32(0.5), "g", low=0, high=1, high_open=True) == 0.5


@pytest.mark.parametrize("bad", [0.0, -1e-300, float("nan"), float("inf")])
def test_as_positive_real_rejects_non_positive(bad):
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        v.as_positive_real(bad, "eps")


@pytest.mark.parametrize("bad", [True, "1", None, 1j])
def test_as_positive_real_rejects_non_numbers(bad):
    with pytest.raises(TypeError, match="eps must be a real number"):
        v.as_positive_real(bad, "eps")


def test_as_bool():
    assert v.as_bool(np.bool_(True), "shuffle") is True
    for bad in (0, 1, "yes", None):
        with pytest.raises(TypeError, match="shuffle must be True or False"):
            v.as_bool(bad, "shuffle")


def test_as_float_dtype():
    assert v.as_float_dtype("float32") == np.float32
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got int64"):
        v.as_float_dtype(np.int64)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        v.as_float_dtype(object())


def test_as_examples_and_targets():
    x = v.as_examples(np.zeros((3, 2)))
    assert v.as_targets(None, 3) is None
    pair = v.as_targets((np.arange(3), np.ones((3, 1))), 3)
    assert isinstance(pair, tuple) and len(pair) == 2 and x.shape == (3, 2)
    with pytest.raises(ValueError, match="x must hold at least one example"):
        v.as_examples(np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"y must have one entry per example of x \(3\)"):
        v.as_targets(np.arange(4), 3)
    with pytest.raises(ValueError, match=r"y\[1\] must be finite"):
        v.as_targets((np.arange(3), np.array([0.0, np.nan, 1.0])), 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, ">f4", ">f8"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("shape, where", [((), ()), ((7,), (6,)), ((3, 4, 5), (2, 0, 4))])
def test_all_finite_finds_every_non_finite_value(dtype, bad, shape, where):
    from companion._validate import all_finite

    a = np.full(shape, np.finfo(np.dtype(dtype)).max, dtype=dtype)   # finite, at the limit
    assert all_finite(a) and all_finite(a.T) and all_finite(-a)
    a[where] = bad
    assert not all_finite(a) and not all_finite(a.T)
    with pytest.raises(ValueError, match="x must be finite, got 1 NaN or infinite value"):
        v.check_finite(a, "x")


def test_all_finite_of_empty_and_integer_arrays():
    from companion._validate import all_finite

    assert all_finite(np.empty((0, 3), np.float32))
    assert all_finite(np.arange(5))


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_non_native_byte_order_is_converted_for_the_kernels(dtype):
    # Numba compiles for native byte order only: a big-endian array must reach the
    # kernels converted, not as a typing error from deep inside Numba
    from companion.functional import conv2d_forward, relu_forward
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), \
        rng.standard_normal(4)
    swapped = [a.astype(dtype) for a in (x, w, b)]
    arr = v.as_float_array(swapped[0], "x")
    assert arr.dtype.isnative and arr.dtype == np.dtype(dtype).newbyteorder("=")
    assert np.array_equal(arr, swapped[0])
    native = [a.astype(np.dtype(dtype).newbyteorder("=")) for a in (x, w, b)]
    assert np.array_equal(conv2d_forward(*swapped, 1, 1)[0], conv2d_forward(*native, 1, 1)[0])
    assert np.array_equal(relu_forward(swapped[0])[0], relu_forward(native[0])[0])


def test_an_explicit_non_native_dtype_gives_a_native_array():
    arr = v.as_float_array([1.0, 2.0], "x", dtype=">f4")
    assert arr.dtype == np.float32 and arr.dtype.isnative


def test_optimizers_refuse_a_non_native_parameter_by_name():
    # updated in place, so it cannot be converted: a clear TypeError, not Numba's
    from companion.optim import SGD, Adam
    for opt in (SGD(lr=0.1), Adam(lr=0.1)):
        with pytest.raises(TypeError, match=r"params\['w'\] must be in the machine's byte"):
            opt.step({"w": np.ones(3, ">f8")}, {"w": np.ones(3)})
