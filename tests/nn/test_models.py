"""Tests of companion.nn.models: the two networks of the source documents.

Architecture and parameter counts are checked against hand counts. The
gradients of the WHOLE network are checked against central differences in
float64 (one Richardson step, h = 1e-3), on a batch of 2 image-like inputs
with cross-entropy: a sample of entries of every parameter and of the input.

**Kinks.** ReLU and max pooling make the loss piecewise smooth. Perturbing one
parameter of ``conv1`` by 2e-3 moves thousands of pre-activations, and often
one of them crosses 0 or two entries of a pooling window swap places; a
difference across such a kink is wrong by O(1), and shrinking h until none is
crossed leaves rounding errors near 1e-7 for small entries. So the finite
differences are taken of the *routed* network: the same layers, with every
ReLU mask and every max-pooling choice held at those of the unperturbed
forward pass. On a neighbourhood of the unperturbed point the routed network
*is* the network (same arithmetic, hence bit-identical losses), so the two
have the same gradient there; and the routed network is smooth, so the
differences are accurate to ~1e-11. The test verifies both facts: the routed
forward pass is bit-identical to the real one at the point, and at every
stencil point the real loss is computed too and found bit-identical whenever
no mask or pooling choice changed (most stencil points).
"""
import json

import numba
import numpy as np
import pytest

from companion.teaching import relative_error
from companion.nn import (
    AvgPool2d,
    Conv2d,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Tanh,
)
from companion.functional import cross_entropy_loss
from companion.nn import ACTIVATIONS, cnn_32x32x3, lenet5
from companion.nn import Sequential

# plain-Python mode (NUMBA_DISABLE_JIT=1) runs the same checks on fewer entries
SAMPLES = 2 if numba.config.DISABLE_JIT else 6


def quick(model):
    """In plain-Python mode, the convolutions of ``model`` use the "im2col" algorithm
    (one NumPy matrix product; 20x faster than the loops of "direct" without Numba).
    Same results up to rounding; the algorithms are compared in tests/functional/test_conv.py."""
    if numba.config.DISABLE_JIT:
        for layer in model.layers:
            if isinstance(layer, Conv2d):
                layer.algorithm = "im2col"
    return model


# ---------------------------------------------------------------- routed network

def routes_of(model):
    """(Leaky) ReLU masks and max-pooling choices of the last forward pass, by layer index."""
    routes = {}
    for j, layer in enumerate(model.layers):
        if isinstance(layer, (ReLU, LeakyReLU)):
            routes[j] = layer.cache.x > 0
        elif isinstance(layer, MaxPool2d):
            routes[j] = layer.cache.argmax.copy()
    return routes


def routed_forward(layers, routes, start, a):
    """Layers ``start:`` with ReLU masks and max-pooling choices held fixed."""
    for j in range(start, len(layers)):
        layer = layers[j]
        if isinstance(layer, ReLU):
            a = np.where(routes[j], a, 0.0)
        elif isinstance(layer, LeakyReLU):
            a = np.where(routes[j], a, layer.negative_slope * a)
        elif isinstance(layer, MaxPool2d):
            idx = routes[j]
            N, C = idx.shape[:2]
            a = np.take_along_axis(a.reshape(N, C, -1), idx.reshape(N, C, -1),
                                   axis=2).reshape(idx.shape)
        else:
            a = layer.forward(a)
    return a


def whole_network_check(model, x, y, *, seed, samples=SAMPLES, reset=None, keys=None):
    """Relative errors, per parameter (and ``"input"``), of the analytic gradient on a
    random sample of entries; also checks that the routed network is the network.

    ``reset`` is called before every forward pass (to fix a dropout mask);
    ``keys`` restricts the check to some parameters."""
    reset = reset or (lambda: None)
    layers, names = model.layers, model.names
    reset()
    logits = model.forward(x)
    _, dlogits = cross_entropy_loss(logits, y)
    dx = model.backward(dlogits)
    analytic = {k: v.copy() for k, v in model.grads.items()}
    analytic["input"] = dx
    routes = routes_of(model)
    inputs = [x]                                   # what enters each layer
    reset()
    for layer in layers[:-1]:
        inputs.append(layer.forward(inputs[-1]))
    reset()
    np.testing.assert_array_equal(routed_forward(layers, routes, 0, x), logits)

    def losses(k, a):
        reset()
        routed = cross_entropy_loss(routed_forward(layers, routes, k, a), y)[0]
        reset()
        for layer in layers[k:]:
            a = layer.forward(a)
        return routed, cross_entropy_loss(a, y)[0]

    rng = np.random.default_rng(seed)
    h = 1e-3
    agree = total = 0
    errors = {}
    targets = {**model.params, "input": None}
    for key in (targets if keys is None else keys):
        if key == "input":
            k, param = 0, x.copy()
        else:
            k, param = names.index(key.split(".")[0]), targets[key]
        num, ana = [], []
        for flat in rng.choice(param.size, size=min(samples, param.size), replace=False):
            i = np.unravel_index(flat, param.shape)
            old = param[i]
            f = {}
            for s in (-2, -1, 1, 2):
                param[i] = old + s * h
                f[s], real = losses(k, param if key == "input" else inputs[k])
                agree += real == f[s]
                total += 1
            param[i] = old
            d1 = (f[1] - f[-1]) / (2 * h)
            d2 = (f[2] - f[-2]) / (4 * h)
            num.append((4 * d1 - d2) / 3)
            ana.append(analytic[key][i])
        errors[key] = relative_error(np.array(ana), np.array(num))
    assert agree >= total // 2, f"the routed network left the real one at {total - agree} " \
                                f"of {total} stencil points"
    return errors


def images(rng, shape):
    """Image-like inputs: intensities in [0, 1)."""
    return rng.random(shape)


# ---------------------------------------------------------------- LeNet-5

def test_lenet5_architecture_and_parameter_count():
    model = lenet5(rng=0)
    assert model.names == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten1",
                           "fc1", "relu3", "fc2", "relu4", "fc3"]
    kinds = [type(layer) for layer in model.layers]
    assert kinds == [Conv2d, ReLU, MaxPool2d, Conv2d, ReLU, MaxPool2d, Flatten, Dense, ReLU,
                     Dense, ReLU, Dense]
    c1, c2, f1, f2, f3 = (model[n] for n in ["conv1", "conv2", "fc1", "fc2", "fc3"])
    assert (c1.in_channels, c1.out_channels, c1.kernel_size, c1.pad) == (1, 6, (5, 5), (0, 0))
    assert (c2.in_channels, c2.out_channels, c2.kernel_size) == (6, 16, (5, 5))
    assert model["pool1"].size == model["pool1"].stride == (2, 2)
    assert [(d.in_features, d.out_features) for d in (f1, f2, f3)] == \
        [(400, 120), (120, 84), (84, 10)]
    # hand count: (1*25 + 1) * 6 + (6*25 + 1) * 16 + 401*120 + 121*84 + 85*10
    assert 156 + 2416 + 48120 + 10164 + 850 == 61706
    assert model.num_params() == 61706
    assert model.output_shapes((1, 32, 32))[5] == (16, 5, 5)
    assert "Total parameters: 61,706" in model.summary((1, 32, 32))
    out = model(np.zeros((3, 1, 32, 32), np.float32))
    assert out.shape == (3, 10) and out.dtype == np.float32


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_lenet5_activations(activation):
    model = lenet5(rng=0, activation=activation, dtype=np.float64)
    cls, init = ACTIVATIONS[activation]
    acts = [layer for layer in model.layers if isinstance(layer, cls)]
    assert len(acts) == 4 and model.num_params() == 61706
    assert model["fc1"].init == init
    assert model(np.zeros((1, 1, 32, 32))).shape == (1, 10)


def test_lenet5_rejects_unknown_activation_and_bad_arguments():
    with pytest.raises(ValueError, match="activation must be one of"):
        lenet5(activation="softplus")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        lenet5(dtype=np.int8)
    with pytest.raises(TypeError, match="rng must be"):
        lenet5(rng="seed")
    with pytest.raises(ValueError, match=r"layer 'conv1'.*\(N, 1, H, W\)"):
        lenet5(rng=0)(np.zeros((2, 3, 32, 32), np.float32))


def test_seeded_construction_is_reproducible():
    a, b, c = lenet5(rng=3), lenet5(rng=np.random.default_rng(3)), lenet5(rng=4)
    for key, value in a.params.items():
        np.testing.assert_array_equal(value, b.params[key])
    assert not np.array_equal(a.params["fc1.w"], c.params["fc1.w"])
    d, e = cnn_32x32x3(rng=5), cnn_32x32x3(rng=5)
    x = np.random.default_rng(0).random((2, 3, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(d(x), e(x))          # incl. the dropout masks
    # float64 from the same seed: the same weights, before rounding to float32
    f = lenet5(rng=3, dtype=np.float64)
    for key, value in a.params.items():
        np.testing.assert_array_equal(value, f.params[key].astype(np.float32))


def test_biases_start_at_zero_and_weights_are_he():
    model = lenet5(rng=0, dtype=np.float64)
    assert not any(model.params[k].any() for k in model.params if k.endswith(".b"))
    w = model.params["fc1.w"]
    assert abs(w.std() / np.sqrt(2 / 400) - 1) < 0.02


@pytest.mark.parametrize("build, shape", [(lenet5, (2, 1, 32, 32)),
                                          (cnn_32x32x3, (2, 3, 32, 32))])
def test_float32_stays_float32_through_forward_and_backward(build, shape):
    model = build(rng=0)
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    logits = model(x)
    assert logits.dtype == np.float32
    _, dlogits = cross_entropy_loss(logits, np.array([1, 2]))
    assert dlogits.dtype == np.float32
    assert model.backward(dlogits).dtype == np.float32
    assert all(v.dtype == np.float32 for v in {**model.params, **model.grads}.values())


def test_lenet5_whole_network_gradient_check():
    rng = np.random.default_rng(0)
    model = lenet5(rng=1, dtype=np.float64)
    x, y = images(rng, (2, 1, 32, 32)), np.array([3, 7])
    errors = whole_network_check(model, x, y, seed=2)
    assert set(errors) == set(model.params) | {"input"}
    for key, err in errors.items():
        assert err < 1e-7, (key, err)


@pytest.mark.parametrize("activation", ["tanh", "leaky_relu"])
def test_lenet5_other_activations_whole_network_gradient_check(activation):
    rng = np.random.default_rng(1)
    model = lenet5(rng=3, dtype=np.float64, activation=activation)
    errors = whole_network_check(model, images(rng, (2, 1, 32, 32)), np.array([0, 9]),
                                 seed=4, samples=max(1, SAMPLES // 2))
    for key, err in errors.items():
        assert err < 1e-7, (key, err)


# ---------------------------------------------------------------- document 1's network

def test_cnn_32x32x3_architecture_and_parameter_count():
    model = cnn_32x32x3(rng=0)
    assert model.names == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten1",
                           "fc1", "relu3", "dropout1", "fc2"]
    assert model["conv1"].padding == "same" and model["conv1"].pad == (1, 1)
    assert (model["conv2"].in_channels, model["conv2"].out_channels) == (32, 64)
    assert model["fc1"].in_features == 64 * 8 * 8 and model["fc1"].out_features == 128
    assert model["dropout1"].p == 0.5
    # hand count: (27 + 1) * 32 + (32*9 + 1) * 64 + (4096 + 1) * 128 + (128 + 1) * 10
    assert 896 + 18496 + 524416 + 1290 == 545098
    assert model.num_params() == 545098
    assert model.output_shapes((3, 32, 32)) == [
        (32, 32, 32), (32, 32, 32), (32, 16, 16), (64, 16, 16), (64, 16, 16), (64, 8, 8),
        (4096,), (128,), (128,), (128,), (10,)]
    assert cnn_32x32x3(rng=0, dropout=0.2)["dropout1"].p == 0.2
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\)"):
        cnn_32x32x3(dropout=1.0)


def test_cnn_32x32x3_corrections_of_document_1():
    """Logits can be negative (no ReLU on the output layer); dropout acts in training
    mode only, after fc1's ReLU."""
    model = quick(cnn_32x32x3(rng=0, dtype=np.float64))
    x = np.random.default_rng(1).random((8, 3, 32, 32))
    assert isinstance(model.layers[-1], Dense)
    assert isinstance(model.layers[-2], Dropout) and isinstance(model.layers[-3], ReLU)
    train_a, train_b = model(x), model(x)
    assert not np.array_equal(train_a, train_b)        # a new mask each pass
    model.eval()
    eval_a, eval_b = model(x), model(x)
    np.testing.assert_array_equal(eval_a, eval_b)
    assert (eval_a < 0).any() and (eval_a > 0).any()
    hidden = model.layers[-2].forward(model.layers[-3].cache.x.clip(0))
    np.testing.assert_array_equal(hidden, model.layers[-3].cache.x.clip(0))


def test_cnn_32x32x3_whole_network_gradient_check_in_eval_mode():
    rng = np.random.default_rng(5)
    model = quick(cnn_32x32x3(rng=6, dtype=np.float64)).eval()
    errors = whole_network_check(model, images(rng, (2, 3, 32, 32)), np.array([1, 8]), seed=7)
    for key, err in errors.items():
        assert err < 1e-7, (key, err)


def test_cnn_32x32x3_whole_network_gradient_check_with_a_fixed_dropout_mask():
    rng = np.random.default_rng(8)
    model = quick(cnn_32x32x3(rng=9, dtype=np.float64))
    dropout = model["dropout1"]

    def reset():
        dropout.rng = np.random.default_rng(10)        # the same mask at every evaluation
    errors = whole_network_check(model, images(rng, (2, 3, 32, 32)), np.array([4, 4]),
                                 seed=11, reset=reset)
    for key, err in errors.items():
        assert err < 1e-7, (key, err)
    assert dropout.cache.keep is not None and not dropout.cache.keep.all()


# ---------------------------------------------------------------- the check itself

def test_the_whole_network_check_catches_a_wrong_backward_pass():
    """A layer whose backward pass is off by 1 % in one entry must fail the check."""
    rng = np.random.default_rng(12)
    model = lenet5(rng=13, dtype=np.float64)
    fc2 = model["fc2"]
    original = fc2.backward

    def wrong_backward(dout):
        dx = original(dout)
        fc2.grads["w"] *= 1.01
        return dx
    fc2.backward = wrong_backward
    errors = whole_network_check(model, images(rng, (2, 1, 32, 32)), np.array([2, 5]),
                                 seed=14, samples=10, keys=["fc2.w", "fc3.w"])
    assert errors["fc2.w"] > 1e-3
    assert errors["fc3.w"] < 1e-7


def test_routed_network_differs_from_the_real_one_only_across_kinks():
    rng = np.random.default_rng(15)
    model = lenet5(rng=16, dtype=np.float64)
    x = images(rng, (2, 1, 32, 32))
    logits = model(x)
    routes = routes_of(model)
    np.testing.assert_array_equal(routed_forward(model.layers, routes, 0, x), logits)
    shifted = x + 0.5                           # far away: many masks change
    assert not np.array_equal(routed_forward(model.layers, routes, 0, shifted), model(shifted))


def test_config_is_json():
    for model in (lenet5(rng=0), cnn_32x32x3(rng=0)):
        config = json.loads(json.dumps(model.config()))
        assert Sequential.from_config(config).config() == config


def test_other_layer_types_work_in_a_model():
    model = Sequential(Conv2d(1, 2, 3, rng=0), Sigmoid(), AvgPool2d(2), Tanh(), Flatten(),
                       LeakyReLU(0.1), Dense(2 * 3 * 3, 4, rng=0))
    assert model(np.zeros((1, 1, 8, 8), np.float32)).shape == (1, 4)
