"""Tests of the layer modules of companion.nn (companion.nn.layer, .linear, .conv,
.pooling, .activation, .dropout, .batchnorm, .config): the layer objects' plumbing
around the proven functional layers.

Each layer's backward pass is checked by central differences (one Richardson
step, h = 1e-3, float64) through the *object* API: ``forward`` then
``backward`` against the numerical gradient of ``sum(layer.forward(x) * dout)``
with respect to ``x`` and to every parameter array (perturbed in place, as an
optimizer would). The data are kept well-conditioned for an elementwise
relative bound, as in tests/functional/test_activations.py: upstream gradients have
magnitude in [0.5, 1.5]; activation inputs lie in [-3, 3] (beyond, tanh' and
sigmoid' are so small that rounding dominates their differences) and at least
0.1 from the ReLU kink; max-pooling inputs are at least 0.01 apart (no ties
within reach of the stencil, whose width is 4h = 4e-3).
"""
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.functional import relu_forward, sigmoid_forward
from companion.functional import batchnorm_forward
from companion.functional import conv2d_forward
from companion.functional import dense_forward
from companion.teaching import numerical_gradient_array, relative_error
from companion.nn import (
    LAYER_TYPES,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Dense,
    Dropout,
    Flatten,
    FlattenCache,
    Layer,
    LeakyReLU,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Tanh,
    layer_from_config,
)
from companion.functional import max_pool2d_forward

seeds = st.integers(0, 2**32 - 1)




def check_layer_gradients(layer, x, rng, *, reset=None, tol=1e-7, h=None):
    """Compare ``layer.backward`` with finite differences for ``x`` and every parameter.

    ``reset`` (optional) is called before every forward pass (e.g. to reseed a
    dropout layer so that its mask is the same each time). ``h``: the step of
    the differences (default: the gradient checker's); a layer that is linear
    in what is perturbed is differenced exactly by any step, and a large one
    (0.5) keeps rounding from swamping entries that cancel to almost zero.
    """
    reset = reset or (lambda: None)
    reset()
    out = layer.forward(x)
    dout = upstream(rng, out.shape)
    dout_before = dout.copy()
    x_before = x.copy()
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dout, dout_before)      # dout not modified
    np.testing.assert_array_equal(x, x_before)            # x not modified
    assert dx.shape == x.shape and dx.dtype == x.dtype
    grads = {k: v.copy() for k, v in layer.grads.items()}
    for k, g in layer.grads.items():                      # no aliasing of dout
        assert not np.shares_memory(g, dout)

    def f_x(z):
        reset()
        return layer.forward(z)
    assert relative_error(dx, numerical_gradient_array(f_x, x.copy(), dout, richardson=True,
                                                       h=h)) < tol
    for key, param in layer.params.items():
        def f_p(_, key=key):
            reset()
            return layer.forward(x)
        num = numerical_gradient_array(f_p, param, dout, richardson=True, h=h)  # the layer's own array
        assert grads[key].shape == param.shape
        assert relative_error(grads[key], num) < tol, key


def upstream(rng, shape):
    """Upstream gradients of magnitude in [0.5, 1.5], random signs."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 1.5, size=shape)


def away_from_zero(rng, shape, margin=0.1):
    """Values in [-3, 3] with |v| >= margin (no ReLU kink within reach of the stencil)."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(margin, 3.0, size=shape)


def distinct_values(rng, shape, gap=0.01):
    """All different, at least ``gap`` apart (no max-pooling ties within reach)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * gap - n * gap / 2).reshape(shape).astype(np.float64)


# ---------------------------------------------------------------- gradients, every layer

@given(N=st.integers(1, 4), D=st.integers(1, 6), M=st.integers(1, 6), seed=seeds)
def test_dense_gradients(N, D, M, seed):
    rng = np.random.default_rng(seed)
    layer = Dense(D, M, rng=rng, dtype=np.float64)
    layer.params["b"][...] = rng.standard_normal(M)
    check_layer_gradients(layer, rng.standard_normal((N, D)), rng)


@given(N=st.integers(1, 2), C=st.integers(1, 3), F=st.integers(1, 3), H=st.integers(3, 7),
       W=st.integers(3, 7), K=st.sampled_from([1, 2, 3]), stride=st.integers(1, 2),
       padding=st.sampled_from([0, 1, (1, 0)]), seed=seeds)
def test_conv2d_gradients(N, C, F, H, W, K, stride, padding, seed):
    rng = np.random.default_rng(seed)
    layer = Conv2d(C, F, K, stride, padding, rng=rng, dtype=np.float64)
    layer.params["b"][...] = rng.standard_normal(F)
    # linear in x, w and b: an exact step of 0.5 (a draw with h = 1e-3 gave 1.3e-7 on
    # an entry of dx that cancels to almost zero)
    check_layer_gradients(layer, rng.standard_normal((N, C, H, W)), rng, h=0.5)


@given(K=st.sampled_from([1, 3, 5]), H=st.integers(2, 5), seed=seeds)
def test_conv2d_same_padding_keeps_the_size_and_is_correct(K, H, seed):
    rng = np.random.default_rng(seed)
    layer = Conv2d(2, 2, K, padding="same", rng=rng, dtype=np.float64)
    x = rng.standard_normal((1, 2, H, H + 1))
    out = layer.forward(x)
    assert out.shape == (1, 2, H, H + 1)
    ref, _ = conv2d_forward(x, layer.params["w"], layer.params["b"], 1, (K - 1) // 2)
    np.testing.assert_array_equal(out, ref)
    check_layer_gradients(layer, x, rng)


@pytest.mark.parametrize("padding, message", [
    ("same", "odd kernel_size and stride 1"), ("full", "padding must be")])
def test_conv2d_same_padding_needs_odd_kernel_at_stride_1(padding, message):
    with pytest.raises(ValueError, match=message):
        Conv2d(1, 1, 2, padding=padding)
    if padding == "same":
        with pytest.raises(ValueError, match=message):
            Conv2d(1, 1, 3, stride=2, padding="same")
    assert Conv2d(1, 1, 3, padding="valid").pad == (0, 0)


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 6),
                       st.integers(2, 6)), size=st.integers(1, 2), seed=seeds)
def test_max_pool_gradients(shape, size, seed):
    rng = np.random.default_rng(seed)
    check_layer_gradients(MaxPool2d(size), distinct_values(rng, shape), rng)


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 6),
                       st.integers(2, 6)), size=st.integers(1, 3), stride=st.integers(1, 2),
       seed=seeds)
def test_avg_pool_gradients(shape, size, stride, seed):
    rng = np.random.default_rng(seed)
    if size > min(shape[2:]):
        size = 1
    check_layer_gradients(AvgPool2d(size, stride), rng.standard_normal(shape), rng)


def test_pool_stride_defaults_to_size():
    assert MaxPool2d(3).stride == (3, 3) and AvgPool2d((2, 3)).stride == (2, 3)
    assert MaxPool2d(3, 1).stride == (1, 1)


@pytest.mark.parametrize("make", [ReLU, lambda: LeakyReLU(0.2), Sigmoid, Tanh])
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), seed=seeds)
def test_activation_gradients(make, shape, seed):
    rng = np.random.default_rng(seed)
    check_layer_gradients(make(), away_from_zero(rng, shape), rng)


@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=5).map(tuple), seed=seeds)
def test_flatten_gradients_and_shapes(shape, seed):
    rng = np.random.default_rng(seed)
    layer = Flatten()
    x = rng.standard_normal(shape)
    out = layer.forward(x)
    assert out.shape == (shape[0], int(np.prod(shape[1:])))
    np.testing.assert_array_equal(out, x.reshape(shape[0], -1))
    assert not np.shares_memory(out, x)
    assert isinstance(layer.cache, FlattenCache)
    check_layer_gradients(layer, x, rng)


@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple),
       p=st.floats(0.0, 0.9), seed=seeds)
def test_dropout_gradients_with_a_fixed_mask(shape, p, seed):
    rng = np.random.default_rng(seed)
    layer = Dropout(p)

    def reset():
        layer.rng = np.random.default_rng(seed + 1)
    check_layer_gradients(layer, rng.standard_normal(shape), rng, reset=reset)


@pytest.mark.parametrize("spatial", [False, True])
@pytest.mark.parametrize("train", [True, False])
@given(N=st.integers(3, 5), C=st.integers(1, 3), seed=seeds)
def test_batchnorm_gradients(spatial, train, N, C, seed):
    """Conditioned as in tests/functional/test_batchnorm.py: at least 3 values per channel (with
    2, x_hat = +-1 whatever x and the true dx is ~0), batch std of every channel in
    [0.5, 2], gamma in [0.5, 2]."""
    rng = np.random.default_rng(seed)
    layer = BatchNorm(C, dtype=np.float64).train(train)
    layer.params["gamma"][...] = rng.uniform(0.5, 2.0, C)
    layer.params["beta"][...] = rng.standard_normal(C)
    layer.buffers["running_mean"][...] = rng.standard_normal(C)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, C)
    shape = (N, C, 3, 2) if spatial else (N, C)
    axes = (0, 2, 3) if spatial else (0,)
    bshape = (1, C, 1, 1) if spatial else (1, C)
    z = rng.standard_normal(shape)
    z = (z - z.mean(axis=axes, keepdims=True)) / z.std(axis=axes, keepdims=True)
    x = z * rng.uniform(0.5, 2.0, C).reshape(bshape) + rng.uniform(-2, 2, C).reshape(bshape)
    if train:
        # each training forward pass moves the running statistics: restore them
        saved = {k: v.copy() for k, v in layer.buffers.items()}

        def reset():
            for k, v in saved.items():
                layer.buffers[k][...] = v
        check_layer_gradients(layer, x, rng, reset=reset)
    else:
        check_layer_gradients(layer, x, rng)


# ---------------------------------------------------------------- same results as the functions

def test_layers_return_what_the_functions_return():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    conv = Conv2d(3, 4, 3, stride=1, padding=1, rng=1, dtype=np.float64)
    np.testing.assert_array_equal(conv.forward(x), conv2d_forward(
        x, conv.params["w"], conv.params["b"], 1, 1)[0])
    np.testing.assert_array_equal(ReLU().forward(x), relu_forward(x)[0])
    np.testing.assert_array_equal(Sigmoid().forward(x), sigmoid_forward(x)[0])
    np.testing.assert_array_equal(MaxPool2d(2).forward(x), max_pool2d_forward(x, 2, 2)[0])
    dense = Dense(12, 5, rng=2, dtype=np.float64)
    z = rng.standard_normal((3, 12))
    np.testing.assert_array_equal(dense.forward(z), dense_forward(
        z, dense.params["w"], dense.params["b"])[0])
    bn = BatchNorm(3, dtype=np.float64)
    rm, rv = np.zeros(3), np.ones(3)
    ref, _, running = batchnorm_forward(x, np.ones(3), np.zeros(3), rm, rv,
                                        momentum=0.9, eps=1e-5, train=True)
    np.testing.assert_array_equal(bn.forward(x), ref)
    np.testing.assert_array_equal(bn.buffers["running_mean"], running.mean)
    np.testing.assert_array_equal(bn.buffers["running_var"], running.var)


# ---------------------------------------------------------------- state, modes, frozen

def test_grads_arrays_are_allocated_once_and_overwritten():
    rng = np.random.default_rng(0)
    layer = Dense(4, 3, rng=0, dtype=np.float64)
    gw = layer.grads["w"]
    assert not gw.any()
    x = rng.standard_normal((2, 4))
    layer.forward(x)
    layer.backward(np.ones((2, 3)))
    first = gw.copy()
    np.testing.assert_allclose(first, x.T @ np.ones((2, 3)))
    layer.backward(np.ones((2, 3)))                  # overwrites, does not accumulate
    assert layer.grads["w"] is gw
    np.testing.assert_array_equal(gw, first)
    layer.zero_grad()
    assert not gw.any() and layer.grads["w"] is gw


def test_frozen_layer_backpropagates_but_its_grads_are_zero():
    rng = np.random.default_rng(3)
    layer = Conv2d(2, 3, 3, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 2, 5, 5))
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dx_trainable = layer.backward(dout)
    layer.frozen = True
    dx_frozen = layer.backward(dout)
    np.testing.assert_array_equal(dx_frozen, dx_trainable)
    assert not layer.grads["w"].any() and not layer.grads["b"].any()
    num = numerical_gradient_array(layer.forward, x.copy(), dout, richardson=True)
    assert relative_error(dx_frozen, num) < 1e-7


def test_backward_before_forward_is_a_runtime_error():
    for layer in [Dense(2, 2), Conv2d(1, 1, 1), MaxPool2d(), AvgPool2d(), ReLU(), LeakyReLU(),
                  Sigmoid(), Tanh(), Flatten(), Dropout(), BatchNorm(2)]:
        with pytest.raises(RuntimeError, match="backward was called before forward"):
            layer.backward(np.zeros((1, 2)))


def test_train_eval_modes():
    layer = Dropout(0.5, rng=0)
    assert layer.training
    x = np.ones((4, 100))
    out = layer.forward(x)
    assert (out == 0).any() and set(np.unique(out)) <= {0.0, 2.0}
    assert layer.eval() is layer and not layer.training
    state = layer.rng.bit_generator.state
    np.testing.assert_array_equal(layer.forward(x), x)          # identity
    assert layer.rng.bit_generator.state == state                # rng not advanced
    assert layer.train().training
    with pytest.raises(TypeError, match="mode must be True or False"):
        layer.train("yes")


def test_dropout_rng_is_reproducible_and_replaceable():
    x = np.ones((3, 50))
    a = Dropout(0.3, rng=7).forward(x)
    b = Dropout(0.3, rng=np.random.default_rng(7)).forward(x)
    np.testing.assert_array_equal(a, b)
    layer = Dropout(0.3, rng=8)
    layer.rng = 7
    np.testing.assert_array_equal(layer.forward(x), a)
    with pytest.raises(TypeError, match="rng must be"):
        layer.rng = np.random.RandomState(0)


def test_batchnorm_buffers_follow_the_momentum_convention_in_place():
    rng = np.random.default_rng(0)
    layer = BatchNorm(3, momentum=0.9, dtype=np.float64)
    rm, rv = layer.buffers["running_mean"], layer.buffers["running_var"]
    x = rng.standard_normal((8, 3, 2, 2)) * 2 + 5
    layer.forward(x)
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    assert layer.buffers["running_mean"] is rm                   # updated in place
    np.testing.assert_allclose(rm, 0.1 * mean, rtol=1e-12)       # 0.9 * 0 + 0.1 * mean
    np.testing.assert_allclose(rv, 0.9 + 0.1 * var, rtol=1e-12)
    frozen_stats = rm.copy(), rv.copy()
    layer.eval()
    out = layer.forward(x)
    np.testing.assert_array_equal(rm, frozen_stats[0])           # evaluation: unchanged
    np.testing.assert_allclose(out, (x - rm[None, :, None, None])
                               / np.sqrt(rv[None, :, None, None] + 1e-5), rtol=1e-12)
    dense = BatchNorm(4, dtype=np.float64)
    assert dense.forward(rng.standard_normal((5, 4))).shape == (5, 4)


def test_frozen_batchnorm_in_training_mode_still_updates_its_statistics():
    layer = BatchNorm(2, dtype=np.float64)
    layer.frozen = True
    layer.forward(np.arange(8.0).reshape(4, 2))
    assert layer.buffers["running_mean"].any()


# ---------------------------------------------------------------- dtypes and validation

@pytest.mark.parametrize("make, shape", [
    (lambda dt: Dense(6, 3, rng=0, dtype=dt), (2, 6)),
    (lambda dt: Conv2d(2, 3, 3, padding="same", rng=0, dtype=dt), (2, 2, 5, 5)),
    (lambda dt: BatchNorm(2, dtype=dt), (3, 2, 4, 4))])
def test_float32_stays_float32_and_dtypes_do_not_mix(make, shape):
    layer = make(np.float32)
    assert all(p.dtype == np.float32 for p in layer.params.values())
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = layer.forward(x)
    assert out.dtype == np.float32
    dx = layer.backward(np.ones_like(out))
    assert dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())
    with pytest.raises(ValueError, match="x must have the layer's dtype float32, got float64"):
        layer.forward(x.astype(np.float64))
    # integer input is converted to the layer's dtype
    assert layer.forward(np.ones(shape, dtype=np.int64)).dtype == np.float32


def test_parameter_free_layers_keep_the_input_dtype():
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4)).astype(np.float32)
    for layer in [ReLU(), MaxPool2d(), AvgPool2d(), Flatten(), Dropout(0.5, rng=0), Tanh()]:
        out = layer.forward(x)
        assert out.dtype == np.float32
        assert layer.backward(np.ones_like(out)).dtype == np.float32


@pytest.mark.parametrize("call, exc, message", [
    (lambda: Dense(0, 3), ValueError, "in_features must be a positive integer"),
    (lambda: Dense(3, 2.0), TypeError, "out_features must be an integer"),
    (lambda: Dense(3, 2, init="bogus"), ValueError, "init must be one of"),
    (lambda: Dense(3, 2, dtype=np.int64), ValueError, "dtype must be float32 or float64"),
    (lambda: Dense(3, 2, rng="x"), TypeError, "rng must be"),
    (lambda: Conv2d(1, 2, 0), ValueError, "kernel_size must be >= 1"),
    (lambda: Conv2d(1, 2, 3, stride=0), ValueError, "stride must be >= 1"),
    (lambda: Conv2d(1, 2, 3, padding=-1), ValueError, "padding must be >= 0"),
    (lambda: Conv2d(1, 2, 3, algorithm="fast"), ValueError, "algorithm must be one of"),
    (lambda: MaxPool2d(0), ValueError, "size must be >= 1"),
    (lambda: LeakyReLU(-0.1), ValueError, "negative_slope must be"),
    (lambda: Dropout(1.0), ValueError, r"p must lie in \[0, 1\)"),
    (lambda: BatchNorm(2, momentum=1.0), ValueError, "momentum must lie in"),
    (lambda: BatchNorm(2, eps=0.0), ValueError, "eps must be a finite number > 0"),
])
def test_constructor_errors_name_the_argument(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_custom_initializer_must_return_the_right_array():
    layer = Dense(3, 2, init=lambda shape, rng, dtype: np.full(shape, 0.5, dtype))
    np.testing.assert_array_equal(layer.params["w"], 0.5)
    with pytest.raises(ValueError, match=r"init must return an array of shape \(3, 2\)"):
        Dense(3, 2, init=lambda shape, rng, dtype: np.zeros((2, 3), dtype))
    with pytest.raises(ValueError, match="must be finite"):
        Dense(3, 2, init=lambda shape, rng, dtype: np.full(shape, np.nan, dtype))


@pytest.mark.parametrize("layer, x, message", [
    (Dense(4, 2, dtype=np.float64), np.ones((2, 5)),
     r"x must have shape \(N, in_features\) = \(N, 4\), got \(2, 5\)"),
    (Dense(4, 2, dtype=np.float64), np.ones((2, 1, 2, 2)), "put a Flatten layer before"),
    (Conv2d(3, 2, 3, dtype=np.float64), np.ones((2, 1, 5, 5)),
     r"x must have shape \(N, in_channels, H, W\) = \(N, 3, H, W\)"),
    (Conv2d(1, 2, 3, dtype=np.float64), np.ones((2, 1, 2, 2)), "kernel size"),
    (BatchNorm(3, dtype=np.float64), np.ones((2, 4)), "num_features = 3"),
    (Dense(2, 2, dtype=np.float64), np.array([[1.0, np.nan]]), "x must be finite"),
    (ReLU(), np.array([np.inf]), "x must be finite"),
    (MaxPool2d(2), np.ones((1, 1, 1, 4)), "size"),
    (Flatten(), np.ones(3), "x must have a batch axis"),
])
def test_forward_errors_name_the_argument(layer, x, message):
    with pytest.raises(ValueError, match=message):
        layer.forward(x)


def test_backward_errors_name_dout():
    layer = Dense(3, 2, dtype=np.float64)
    layer.forward(np.ones((4, 3)))
    with pytest.raises(ValueError, match="dout must have shape"):
        layer.backward(np.ones((4, 3)))
    flat = Flatten()
    flat.forward(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(2, 12\)"):
        flat.backward(np.ones((2, 11)))
    with pytest.raises(ValueError, match="dout must have the dtype"):
        flat.backward(np.ones((2, 12), np.float32))
    with pytest.raises(ValueError, match="dout must be finite"):
        flat.backward(np.full((2, 12), np.nan))


# ---------------------------------------------------------------- config, repr, output_shape

ALL_LAYERS = [Dense(5, 3, init="xavier_uniform", rng=0), Conv2d(3, 4, (3, 1), 2, (1, 0), rng=0),
              Conv2d(3, 4, 3, padding="same", rng=0, dtype=np.float64), MaxPool2d(3, 2),
              AvgPool2d(2), ReLU(), LeakyReLU(0.1), Sigmoid(), Tanh(), Flatten(),
              Dropout(0.25, rng=0), BatchNorm(4, momentum=0.8, eps=1e-3)]


@pytest.mark.parametrize("layer", ALL_LAYERS, ids=lambda layer: type(layer).__name__)
def test_config_is_json_and_rebuilds_the_layer(layer):
    config = layer.config()
    assert config["type"] == type(layer).__name__ and LAYER_TYPES[config["type"]] is type(layer)
    again = json.loads(json.dumps(config))
    rebuilt = layer_from_config(again, rng=1)
    assert type(rebuilt) is type(layer)
    assert json.loads(json.dumps(rebuilt.config())) == again
    assert repr(rebuilt) == repr(layer)
    for key, value in layer.params.items():
        assert rebuilt.params[key].shape == value.shape
        assert rebuilt.params[key].dtype == value.dtype


def test_repr_and_describe_state_the_configuration():
    conv = Conv2d(1, 6, 5, rng=0)
    assert repr(conv) == ("Conv2d(in_channels=1, out_channels=6, kernel_size=(5, 5), "
                          "stride=(1, 1), padding=(0, 0), init='he', dtype='float32', "
                          "algorithm='auto')")
    assert conv.describe() == "Conv2d(1, 6, kernel_size=5)"
    assert Conv2d(3, 8, 3, 2, 1).describe() == "Conv2d(3, 8, kernel_size=3, stride=2, padding=1)"
    assert Conv2d(3, 8, 3, padding="same").describe() == \
        "Conv2d(3, 8, kernel_size=3, padding='same')"
    assert Dense(400, 120).describe() == "Dense(400, 120)"
    assert repr(Dense(400, 120, dtype=np.float64)) == \
        "Dense(in_features=400, out_features=120, init='he', dtype='float64')"
    assert MaxPool2d(2).describe() == "MaxPool2d(2)" and MaxPool2d(3, 2).describe() == \
        "MaxPool2d(3, stride=2)"
    assert repr(Dropout(0.5)) == "Dropout(p=0.5)" and repr(ReLU()) == "ReLU()"
    assert repr(BatchNorm(6)) == "BatchNorm(num_features=6, momentum=0.9, eps=1e-05, dtype='float32')"


def test_layer_from_config_errors():
    with pytest.raises(TypeError, match="config must be a dict"):
        layer_from_config(["Dense"])
    with pytest.raises(ValueError, match="config type must be one of"):
        layer_from_config({"type": "Conv3d"})
    with pytest.raises(ValueError, match="does not describe a Dense"):
        layer_from_config({"type": "Dense", "in_features": 3})


@given(N=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 9), W=st.integers(1, 9),
       F=st.integers(1, 3), K=st.integers(1, 4), stride=st.integers(1, 3),
       padding=st.integers(0, 2), seed=seeds)
def test_output_shape_matches_the_forward_pass(N, C, H, W, F, K, stride, padding, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    conv = Conv2d(C, F, K, stride, padding, rng=rng, dtype=np.float64)
    if K > H + 2 * padding or K > W + 2 * padding:
        with pytest.raises(ValueError, match="smaller than the kernel"):
            conv.output_shape((C, H, W))
        return
    out = conv.forward(x)
    assert (N, *conv.output_shape((C, H, W))) == out.shape
    for layer in [MaxPool2d(min(2, out.shape[2], out.shape[3])), ReLU(),
                  BatchNorm(F, dtype=np.float64), Flatten()]:
        shape = layer.output_shape(out.shape[1:])
        out = layer.forward(out)
        assert (N, *shape) == out.shape
    dense = Dense(out.shape[1], 2, dtype=np.float64)
    assert dense.output_shape(out.shape[1:]) == (2,)
    with pytest.raises(ValueError, match="input_shape must be"):
        dense.output_shape((out.shape[1] + 1,))


def test_base_class_is_abstract():
    layer = Layer()
    with pytest.raises(NotImplementedError):
        layer.forward(np.ones(2))
    assert layer.params == {} and layer.num_params() == 0 and layer.cache is None
