"""Tests of companion.nn.sequential.Sequential: naming, chaining of forward and
backward, flat parameter dicts shared with the layers, trainable subsets,
state dicts, configuration, summary, and a gradient check of random small
networks (every parameter entry, central differences with one Richardson
step, float64).

The random networks of the gradient check use smooth layers (tanh, sigmoid,
average pooling, batch norm) so that every entry can be checked without kinks;
ReLU and max-pooling networks are checked in tests/nn/test_models.py. Their
weights are of He size but bounded away from zero, and batch norm follows an
activation, so that no gradient entry is tiny or ill-conditioned by accident
(an elementwise relative bound would then measure rounding, not the gradient).
"""
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.teaching import numerical_gradient
from companion.nn import (
    AvgPool2d,
    BatchNorm,
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
from companion.nn import Sequential
from companion.optim import SGD
from helpers import bounded_weights

seeds = st.integers(0, 2**32 - 1)


def small_net(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return Sequential(Conv2d(2, 3, 3, padding=1, rng=rng, dtype=dtype), BatchNorm(3, dtype=dtype),
                      ReLU(), MaxPool2d(2), Flatten(), Dense(12, 5, rng=rng, dtype=dtype),
                      Tanh(), Dense(5, 3, rng=rng, dtype=dtype))


def loss_and_backward(model, x, y):
    logits = model.forward(x)
    loss, dlogits = cross_entropy_loss(logits, y)
    dx = model.backward(dlogits)
    return loss, dx


# ---------------------------------------------------------------- construction and names

def test_default_names_follow_the_rule():
    model = small_net()
    assert model.names == ["conv1", "bn1", "relu1", "pool1", "flatten1", "fc1", "tanh1", "fc2"]
    model = Sequential(Conv2d(1, 1, 1), ReLU(), AvgPool2d(1), Conv2d(1, 1, 1), LeakyReLU(),
                       MaxPool2d(1), Flatten(), Dropout(), Dense(1, 1), Sigmoid(), Dense(1, 1))
    assert model.names == ["conv1", "relu1", "pool1", "conv2", "leaky_relu1", "pool2",
                           "flatten1", "dropout1", "fc1", "sigmoid1", "fc2"]


def test_explicit_names_pairs_and_mappings():
    a, b = Dense(2, 3), ReLU()
    m1 = Sequential([("hidden", a), ("act", b)])
    m2 = Sequential({"hidden": a, "act": b})
    assert m1.names == m2.names == ["hidden", "act"]
    assert m1.layers == [a, b] and m1["hidden"] is a and m1[1] is b and m1[-1] is b
    # unnamed layers count every layer of their kind, named or not
    m3 = Sequential([("first", Dense(2, 2)), Dense(2, 2), ReLU()])
    assert m3.names == ["first", "fc2", "relu1"]
    assert len(m3) == 3 and "fc2" in m3 and list(iter(m3)) == m3.layers


def test_layers_and_names_are_copies():
    model = small_net()
    model.layers.append(ReLU())
    model.names.append("x")
    assert len(model.layers) == len(model.names) == 8


@pytest.mark.parametrize("args, exc, message", [
    ((), ValueError, "at least one layer"),
    (([],), ValueError, "at least one layer"),
    (("relu",), TypeError, r"layers\[0\] must be a Layer"),
    (([("a", ReLU()), ("a", ReLU())],), ValueError, "unique, got 'a' twice"),
    (([("conv.1", ReLU())],), ValueError, "Python identifiers"),
    (([("", ReLU())],), ValueError, "Python identifiers"),
    (([(3, ReLU())],), ValueError, "Python identifiers"),
    (([ReLU(), ("relu1", ReLU())],), ValueError, "unique, got 'relu1' twice"),
])
def test_construction_errors(args, exc, message):
    with pytest.raises(exc, match=message):
        Sequential(*args)


def test_the_same_layer_object_twice_is_refused():
    layer = Dense(2, 2)
    with pytest.raises(ValueError, match="distinct objects"):
        Sequential(layer, ReLU(), layer)


def test_getitem_errors():
    model = small_net()
    with pytest.raises(KeyError, match="no layer named 'fc9'"):
        model["fc9"]
    with pytest.raises(TypeError, match="key must be"):
        model[1.0]


# ---------------------------------------------------------------- passes

def test_forward_and_backward_chain_the_layers():
    rng = np.random.default_rng(1)
    model = small_net(1)
    x = rng.standard_normal((4, 2, 4, 4))
    out = model(x)
    a = x
    for layer in small_net(1).layers:
        a = layer.forward(a)
    np.testing.assert_array_equal(out, a)
    dout = rng.standard_normal(out.shape)
    d = dout
    ref_layers = small_net(1).layers
    b = x
    for layer in ref_layers:
        b = layer.forward(b)
    for layer in reversed(ref_layers):
        d = layer.backward(d)
    np.testing.assert_array_equal(model.backward(dout), d)
    for (key, g), ref in zip(model.grads.items(),
                             [g for layer in ref_layers for g in layer.grads.values()]):
        np.testing.assert_array_equal(g, ref)


def test_inputs_and_upstream_gradients_are_not_modified():
    rng = np.random.default_rng(2)
    model = small_net(2)
    x = rng.standard_normal((3, 2, 4, 4))
    x0 = x.copy()
    out = model(x)
    dout = rng.standard_normal(out.shape)
    d0 = dout.copy()
    model.backward(dout)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, d0)
    for g in model.grads.values():
        assert not np.shares_memory(g, dout)


def test_errors_name_the_layer():
    model = small_net()
    with pytest.raises(ValueError, match=r"layer 'conv1' \(Conv2d\(.*\)\): x must have shape"):
        model(np.ones((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"layer 'fc1' .*x must have shape \(N, in_features\)"):
        model(np.ones((2, 2, 6, 6)))
    fresh = small_net()
    with pytest.raises(RuntimeError, match="'fc2'.*backward was called before forward"):
        fresh.backward(np.ones((2, 3)))
    model(np.ones((2, 2, 4, 4)))
    with pytest.raises(ValueError, match="'fc2'.*dout must have shape"):
        model.backward(np.ones((2, 4)))


def test_train_and_eval_reach_every_layer():
    model = small_net()
    assert model.training and all(layer.training for layer in model.layers)
    assert model.eval() is model
    assert not model.training and not any(layer.training for layer in model.layers)
    model.train()
    assert all(layer.training for layer in model.layers)
    with pytest.raises(TypeError, match="mode must be True or False"):
        model.train(1)


# ---------------------------------------------------------------- parameters

def test_params_are_the_layers_own_arrays_and_optimizers_update_them():
    rng = np.random.default_rng(3)
    model = small_net(3)
    params = model.params
    assert list(params) == ["conv1.w", "conv1.b", "bn1.gamma", "bn1.beta", "fc1.w", "fc1.b",
                            "fc2.w", "fc2.b"]
    assert params["conv1.w"] is model["conv1"].params["w"]
    assert list(model.grads) == list(params)
    assert all(model.grads[k].shape == v.shape for k, v in params.items())
    assert list(model.buffers) == ["bn1.running_mean", "bn1.running_var"]
    assert model.num_params() == 3 * 2 * 9 + 3 + 3 + 3 + 12 * 5 + 5 + 5 * 3 + 3
    x, y = rng.standard_normal((4, 2, 4, 4)), np.array([0, 1, 2, 0])
    loss_and_backward(model, x, y)
    before = {k: v.copy() for k, v in params.items()}
    SGD(lr=0.1).step(model.params, model.grads)
    for k, v in model.params.items():
        np.testing.assert_allclose(v, before[k] - 0.1 * model.grads[k], rtol=1e-15, atol=0)
        assert model[k.split(".")[0]].params[k.split(".")[1]] is v


def test_trainable_subsets_skip_frozen_layers_and_zero_grad():
    rng = np.random.default_rng(4)
    model = small_net(4)
    model["conv1"].frozen = True
    model["bn1"].frozen = True
    assert list(model.trainable_params()) == ["fc1.w", "fc1.b", "fc2.w", "fc2.b"]
    assert list(model.trainable_grads()) == list(model.trainable_params())
    assert model.trainable_params()["fc1.w"] is model.params["fc1.w"]
    loss_and_backward(model, rng.standard_normal((3, 2, 4, 4)), np.array([0, 1, 2]))
    assert not model.grads["conv1.w"].any() and model.grads["fc1.w"].any()
    model.zero_grad()
    assert not any(g.any() for g in model.grads.values())


# ---------------------------------------------------------------- state dicts

def test_state_dict_round_trip_copies():
    rng = np.random.default_rng(5)
    model = small_net(5)
    model(rng.standard_normal((4, 2, 4, 4)))           # moves the running statistics
    state = model.state_dict()
    assert set(state) == set(model.params) | set(model.buffers)
    assert not np.shares_memory(state["conv1.w"], model.params["conv1.w"])
    other = small_net(6)
    arrays = other.params
    other.load_state_dict(state)
    assert other.params["conv1.w"] is arrays["conv1.w"]        # loaded in place
    for k, v in state.items():
        np.testing.assert_array_equal({**other.params, **other.buffers}[k], v)
    x = rng.standard_normal((2, 2, 4, 4))
    np.testing.assert_array_equal(model.eval()(x), other.eval()(x))


def test_state_dict_through_savez(tmp_path):
    model = small_net(7)
    np.savez(tmp_path / "s.npz", **model.state_dict())
    other = small_net(8)
    with np.load(tmp_path / "s.npz") as saved:
        other.load_state_dict(saved)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[k], v)


def test_load_state_dict_converts_dtypes():
    model32 = small_net(9, np.float32)
    model64 = small_net(10, np.float64)
    model64.load_state_dict(model32.state_dict())
    for k, v in model32.state_dict().items():
        assert model64.state_dict()[k].dtype == np.float64
        np.testing.assert_array_equal(model64.state_dict()[k], v.astype(np.float64))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("fc1.b"), r"state dict has no entry 'fc1.b' \(a float64 array of shape \(5,\)\)"),
    (lambda d: d.update({"fc3.w": np.ones(2)}), "unexpected entry 'fc3.w'"),
    (lambda d: d.update({"fc1.w": np.ones((5, 12))}),
     r"state dict entry 'fc1.w' must have shape \(12, 5\), got \(5, 12\)"),
    (lambda d: d["conv1.b"].__setitem__(0, np.nan), "state dict entry 'conv1.b' must be finite"),
    (lambda d: d.update({"bn1.running_var": -np.ones(3)}), "'bn1.running_var' must be >= 0"),
])
def test_load_state_dict_errors_name_the_key_and_write_nothing(edit, message):
    model = small_net(11)
    before = model.state_dict()
    state = small_net(12).state_dict()
    edit(state)
    with pytest.raises(ValueError, match=message):
        model.load_state_dict(state)
    for k, v in before.items():
        np.testing.assert_array_equal(model.state_dict()[k], v)
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        model.load_state_dict([1, 2])


# ---------------------------------------------------------------- config, summary, repr

def test_config_round_trip_through_json():
    model = small_net(13)
    config = json.loads(json.dumps(model.config()))
    assert config["type"] == "Sequential" and [e["name"] for e in config["layers"]] == model.names
    rebuilt = Sequential.from_config(config, rng=0)
    assert rebuilt.names == model.names
    assert json.loads(json.dumps(rebuilt.config())) == config
    rebuilt.load_state_dict(model.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4))
    np.testing.assert_array_equal(rebuilt.eval()(x), model.eval()(x))
    with pytest.raises(ValueError, match="config must be a dict"):
        Sequential.from_config({"type": "Graph"})
    with pytest.raises(ValueError, match=r"config\['layers'\]\[0\] must be a dict with a 'name'"):
        Sequential.from_config({"type": "Sequential", "layers": [{"type": "ReLU"}]})


def test_summary_table():
    model = small_net(14)
    model["conv1"].frozen = True
    text = model.summary((2, 4, 4))
    lines = text.splitlines()
    assert lines[0] == "Input shape: (N, 2, 4, 4)"
    assert lines[1].split() == ["Layer", "Type", "Output", "shape", "Params"]
    rows = {line.split()[0]: line for line in lines[3:-2]}
    assert list(rows) == model.names
    assert "Conv2d(2, 3, kernel_size=3, padding=1) (frozen)" in rows["conv1"]
    assert rows["conv1"].rstrip().endswith(" 57") and "(N, 3, 4, 4)" in rows["conv1"]
    assert "(N, 12)" in rows["flatten1"] and rows["fc1"].rstrip().endswith(" 65")
    assert lines[-1] == "Total parameters: 146 (trainable 89, frozen 57)"
    with pytest.raises(ValueError, match="layer 'conv1'.*in_channels = 2"):
        model.summary((3, 4, 4))
    with pytest.raises(ValueError, match="layer 'fc1'"):
        model.summary((2, 6, 6))


def test_repr_lists_the_layers():
    model = small_net(15)
    model["fc2"].frozen = True
    text = repr(model)
    assert text.startswith("Sequential(\n  (conv1): Conv2d(in_channels=2")
    assert "  (fc2): Dense(in_features=5, out_features=3, init='he', dtype='float64') [frozen]" \
        in text


def test_replace():
    model = small_net(16)
    new = Dense(5, 4, rng=0, dtype=np.float64).eval()
    old = model.replace("fc2", new, "head")
    assert old.out_features == 3 and model.names[-1] == "head" and model["head"] is new
    assert new.training                    # takes the model's mode
    assert model(np.ones((2, 2, 4, 4))).shape == (2, 4)
    with pytest.raises(ValueError, match="unique"):
        model.replace("head", Dense(5, 4), "fc1")
    with pytest.raises(ValueError, match="already in the model"):
        model.replace("head", model["fc1"])
    with pytest.raises(TypeError, match="new_layer must be a Layer"):
        model.replace("head", "dense")


# ---------------------------------------------------------------- gradient check, random networks

@st.composite
def smooth_networks(draw):
    """A random small network of smooth layers, its input and labels (float64)."""
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    N = draw(st.integers(2, 3))
    C = draw(st.integers(1, 2))
    H = draw(st.integers(3, 5))
    F = draw(st.integers(1, 3))
    K = draw(st.integers(1, 3))
    classes = draw(st.integers(2, 4))
    layers = [Conv2d(C, F, K, padding=(K - 1) // 2 if K % 2 else 0, rng=rng, dtype=np.float64)]
    shape = layers[0].output_shape((C, H, H))
    layers.append(draw(st.sampled_from([Tanh, Sigmoid]))())
    if draw(st.booleans()):
        # after the activation: right after the convolution, batch norm would cancel
        # the bias (its gradient is 0, and finite differences only measure rounding)
        layers.append(BatchNorm(F, dtype=np.float64))
    if draw(st.booleans()) and shape[1] >= 2:
        layers.append(AvgPool2d(2, 1))
        shape = layers[-1].output_shape(shape)
    layers.append(Flatten())
    D = int(np.prod(shape))
    hidden = draw(st.integers(1, 4))
    layers += [Dense(D, hidden, rng=rng, dtype=np.float64), Tanh(),
               Dense(hidden, classes, rng=rng, dtype=np.float64)]
    bounded_weights(layers, rng)
    x = rng.uniform(0, 1, (N, C, H, H))
    y = rng.integers(0, classes, N)
    return Sequential(*layers), x, y


def floored_relative_error(a, b, floor):
    """``max |a - b| / max(|a| + |b|, floor)``: the relative error of
    companion.teaching.gradcheck, with entries below ``floor`` measured against it."""
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)))


@given(case=smooth_networks())
def test_random_network_gradients_match_finite_differences_everywhere(case):
    """Every entry of every parameter gradient and of the input gradient, relative
    error < 1e-7. A central difference of a loss near 1 carries a rounding error
    near 1e-13, so an entry that random data make tiny (1e-6 and below: a unit
    whose output is near 0, sums that cancel) cannot be measured to 1e-7 of
    itself; entries below 1e-4 times the largest gradient entry of the network,
    or below 1e-4 (when the whole gradient is small), are therefore measured
    relative to that floor (checked to ~1e-11 absolute). Without the absolute
    floor, 400 examples found networks whose largest dx entry is near 1e-3, with
    rounding of 1.4e-7 of the relative floor.
    The fixed networks of tests/nn/test_models.py use the plain elementwise bound."""
    model, x, y = case
    _, dx = loss_and_backward(model, x, y)
    grads = {k: v.copy() for k, v in model.grads.items()}
    saved = {k: v.copy() for k, v in model.buffers.items()}

    def loss_at(z=x):
        for k, v in saved.items():                 # batch norm's running statistics
            model.buffers[k][...] = v
        return cross_entropy_loss(model.forward(z), y)[0]

    numeric = {key: numerical_gradient(lambda _: loss_at(), param, richardson=True)
               for key, param in model.params.items()}
    floor = max(1e-4 * max(np.abs(g).max() for g in grads.values()), 1e-4)
    for key in grads:
        assert floored_relative_error(grads[key], numeric[key], floor) < 1e-7, key
    num_dx = numerical_gradient(loss_at, x.copy(), richardson=True)
    assert floored_relative_error(dx, num_dx, max(1e-4 * np.abs(dx).max(), 1e-4)) < 1e-7


def test_backward_without_the_input_gradient(monkeypatch):
    # Training needs no gradient of the images: the first layer fills its grads only.
    import companion.nn.conv as conv_module
    from companion.nn import lenet5

    asked = []
    real = conv_module.conv2d_backward

    def recording(dout, cache, **kwargs):
        asked.append(kwargs.get("input_grad", True))
        return real(dout, cache, **kwargs)

    monkeypatch.setattr(conv_module, "conv2d_backward", recording)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 3)
    full, part = lenet5(rng=1), lenet5(rng=1)
    _, g = cross_entropy_loss(full.forward(x), y)
    dx = full.backward(g)
    assert dx.shape == x.shape and asked == [True, True]
    _, g = cross_entropy_loss(part.forward(x), y)
    assert part.backward(g, input_grad=False) is None
    assert asked[2:] == [True, False]            # conv2 gives dx, conv1 (first) does not
    for key, grad in full.grads.items():
        assert np.array_equal(grad, part.grads[key]), key
    assert part.backward_params(g) is None
    with pytest.raises(TypeError, match="input_grad must be True or False"):
        part.backward(g, input_grad=None)
