"""Tests of companion.nn.residual.Residual: y = x + F(x), the gradients that add at the
junction (finite differences, float64, random shapes), use inside Sequential
(names, shared parameters, training, configuration, checkpoints), and bad input.
"""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from companion.functional import cross_entropy_loss
from companion.nn import (
    BatchNorm,
    Conv2d,
    Dense,
    Flatten,
    MaxPool2d,
    ReLU,
    Residual,
    Sequential,
    Sigmoid,
    Tanh,
    layer_from_config,
    load_checkpoint,
    read_architecture,
    save_checkpoint,
)
from companion.optim import SGD
from companion.teaching import numerical_gradient
from helpers import assert_raises_naming, bounded_weights

seeds = st.integers(0, 2**32 - 1)


def block(C, K, rng, act=Tanh):
    p = (K - 1) // 2
    return Residual(Conv2d(C, C, K, padding=p, rng=rng, dtype=np.float64), act(),
                    Conv2d(C, C, K, padding=p, rng=rng, dtype=np.float64))


# ---------------------------------------------------------------- forward and backward

def test_forward_adds_the_input_to_the_body():
    rng = np.random.default_rng(0)
    res = block(2, 3, rng)
    x = rng.standard_normal((2, 2, 5, 5))
    conv1, act, conv2 = res.layers
    expected = x + conv2.forward(act.forward(conv1.forward(x)))
    np.testing.assert_allclose(res.forward(x), expected, rtol=0, atol=1e-14)


def test_the_gradients_add_at_the_junction():
    """dx is exactly the shortcut's dout plus the body's backward pass."""
    rng = np.random.default_rng(1)
    res = block(3, 3, rng)
    x = rng.standard_normal((2, 3, 4, 4))
    dout = rng.standard_normal(x.shape)
    res.forward(x)
    dx = res.backward(dout)
    body = Sequential(*[(n, layer) for n, layer in zip(res.names, res.layers)])
    body.forward(x)
    np.testing.assert_array_equal(dx, dout + body.backward(dout))


def test_an_all_zero_body_passes_the_gradient_on_unchanged():
    res = Residual(Conv2d(2, 2, 3, padding=1, init="zeros", dtype=np.float64))
    x = np.random.default_rng(2).standard_normal((1, 2, 4, 4))
    dout = np.random.default_rng(3).standard_normal(x.shape)
    np.testing.assert_array_equal(res.forward(x), x)
    np.testing.assert_array_equal(res.backward(dout), dout)


@st.composite
def residual_cases(draw):
    """A random residual block of smooth layers, its input and upstream gradient."""
    rng = np.random.default_rng(draw(seeds))
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(2, 6)), draw(st.integers(2, 6))
    K = draw(st.sampled_from([1, 3]))
    p = (K - 1) // 2
    layers = [Conv2d(C, C, K, padding=p, rng=rng, dtype=np.float64),
              draw(st.sampled_from([Tanh, Sigmoid]))()]
    if draw(st.booleans()):
        layers.append(Conv2d(C, C, K, padding=p, rng=rng, dtype=np.float64))
    bounded_weights(layers, rng)
    x = rng.uniform(-1, 1, (N, C, H, W))
    dout = rng.standard_normal(x.shape)
    return Residual(*layers), x, dout


@given(case=residual_cases())
def test_gradients_match_finite_differences(case):
    """Every entry of dx and of every parameter gradient, central differences with a
    Richardson step, relative error below 1e-7 (entries below 1e-4 of the largest are
    measured against that floor, as in test_sequential.py)."""
    res, x, dout = case
    res.forward(x)
    dx = res.backward(dout)
    grads = {k: v.copy() for k, v in res.grads.items()}

    def loss(z=x):
        return float(np.sum(res.forward(z) * dout))

    def rel(a, b):
        floor = 1e-4 * max(np.abs(a).max(), 1e-12)
        return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)))

    assert rel(dx, numerical_gradient(loss, x.copy(), richardson=True)) < 1e-7
    for key, param in res.params.items():
        numeric = numerical_gradient(lambda _: loss(), param, richardson=True)
        assert rel(grads[key], numeric) < 1e-7, key


@given(seed=seeds)
def test_dout_and_x_are_not_modified(seed):
    rng = np.random.default_rng(seed)
    res = block(2, 3, rng, act=ReLU)
    x = rng.standard_normal((2, 2, 3, 3))
    dout = rng.standard_normal(x.shape)
    x0, dout0 = x.copy(), dout.copy()
    res.forward(x)
    dx = res.backward(dout)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, dout0)
    assert dx is not dout


# ---------------------------------------------------------------- inside Sequential

def residual_net(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return Sequential(
        Conv2d(1, 4, 3, padding=1, rng=rng, dtype=dtype), ReLU(),
        Residual(Conv2d(4, 4, 3, padding=1, rng=rng, dtype=dtype), BatchNorm(4, dtype=dtype),
                 ReLU(), Conv2d(4, 4, 3, padding=1, rng=rng, dtype=dtype)),
        ReLU(), MaxPool2d(2), Flatten(), Dense(4 * 4 * 4, 3, rng=rng, dtype=dtype))


def test_names_and_shared_parameters_in_a_model():
    model = residual_net()
    assert model.names == ["conv1", "relu1", "res1", "relu2", "pool1", "flatten1", "fc1"]
    res = model["res1"]
    assert res.names == ["conv1", "bn1", "relu1", "conv2"]
    assert model.params["res1.conv2.w"] is res.layers[3].params["w"]
    assert model.grads["res1.bn1.gamma"] is res.layers[1].grads["gamma"]
    assert "res1.bn1.running_mean" in model.buffers
    assert model.num_params() == sum(p.size for p in model.params.values())
    assert "(N, 4, 8, 8)" in model.summary((1, 8, 8))


def test_a_model_with_a_residual_block_learns():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((24, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 24)
    model = residual_net(5, np.float32)
    opt = SGD(lr=0.05, momentum=0.9)
    losses = []
    for _ in range(30):
        loss, dlogits = cross_entropy_loss(model.forward(x), y)
        model.backward(dlogits)
        opt.step(model.params, model.grads)
        losses.append(loss)
    assert losses[-1] < 0.5 * losses[0]


def test_config_and_checkpoint_round_trip(tmp_path):
    model = residual_net(6)
    again = Sequential.from_config(model.config(), rng=7)
    assert again.config() == model.config()
    assert isinstance(layer_from_config(model["res1"].config()), Residual)
    path = tmp_path / "res.npz"
    save_checkpoint(path, model)
    model_b = Sequential.from_config(read_architecture(path), rng=8)
    load_checkpoint(path, model_b)
    x = np.random.default_rng(8).standard_normal((2, 1, 8, 8))
    model.eval()
    model_b.eval()
    np.testing.assert_array_equal(model.forward(x), model_b.forward(x))


def test_freezing_the_block_freezes_its_layers():
    model = residual_net()
    model["res1"].frozen = True
    assert all(layer.frozen for layer in model["res1"].layers)
    assert not any(k.startswith("res1.") for k in model.trainable_params())
    x = np.random.default_rng(9).standard_normal((2, 1, 8, 8))
    model.forward(x)
    model.backward(np.ones((2, 3)))
    assert all(np.all(g == 0) for k, g in model.grads.items() if k.startswith("res1."))
    model["res1"].frozen = False
    assert not any(layer.frozen for layer in model["res1"].layers)


def test_train_and_eval_reach_the_layers_inside():
    model = residual_net()
    model.eval()
    assert not any(layer.training for layer in model["res1"].layers)
    model.train()
    assert all(layer.training for layer in model["res1"].layers)


# ---------------------------------------------------------------- bad input

def test_a_body_that_changes_the_shape_is_refused():
    res = Residual(Conv2d(2, 3, 3, padding=1))
    assert_raises_naming(lambda: res.forward(np.zeros((1, 2, 4, 4), np.float32)),
                         ValueError, ["keep the shape", "(1, 2, 4, 4)", "(1, 3, 4, 4)"])
    assert_raises_naming(lambda: Residual(MaxPool2d(2)).output_shape((2, 4, 4)),
                         ValueError, ["keep the shape"])


def test_bad_arguments_are_named():
    assert_raises_naming(lambda: Residual(), ValueError, ["layers", "none"])
    assert_raises_naming(lambda: Residual(ReLU(), "relu"), TypeError, ["layers[1]"])
    relu = ReLU()
    assert_raises_naming(lambda: Residual(relu, relu), ValueError, ["distinct"])
    assert_raises_naming(lambda: Residual([("a.b", ReLU())]), ValueError, ["identifiers"])
    res = Residual(ReLU())
    assert_raises_naming(lambda: res.backward(np.zeros(3)), RuntimeError, ["before forward"])
    res.forward(np.ones((2, 3)))
    assert_raises_naming(lambda: res.backward(np.zeros((3, 2))), ValueError,
                         ["dout", "(2, 3)", "(3, 2)"])
    assert_raises_naming(lambda: Residual(Dense(3, 3)).forward(np.ones((2, 4), np.float32)),
                         ValueError, ["residual layer 'fc1'"])
    assert_raises_naming(lambda: layer_from_config({"type": "Residual", "layers": 3}),
                         ValueError, ["Residual", "layers"])
