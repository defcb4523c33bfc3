"""Tests of companion.nn.finetune: freezing, unfreezing, replacing the head, and a
small fine-tuning run in which frozen parameters stay bit-identical."""
import numpy as np
import pytest

from companion.nn import (
    freeze,
    head_name,
    replace_head,
    trainable_parameter_count,
    unfreeze,
)
from companion.teaching import numerical_gradient, relative_error
from companion.nn import Conv2d, Dense, Flatten, ReLU, Tanh
from companion.functional import cross_entropy_loss
from companion.nn import lenet5
from companion.nn import Sequential
from companion.optim import SGD


def test_freeze_by_name_list_and_predicate():
    model = lenet5(rng=0)
    assert freeze(model, "conv1") == ["conv1"]
    assert model["conv1"].frozen and not model["conv2"].frozen
    assert freeze(model, ["conv2", "fc1"]) == ["conv2", "fc1"]
    assert list(model.trainable_params()) == ["fc2.w", "fc2.b", "fc3.w", "fc3.b"]
    assert trainable_parameter_count(model) == 10164 + 850
    unfreeze(model)
    assert trainable_parameter_count(model) == 61706
    chosen = freeze(model, lambda name, layer: name != "fc3")
    assert "fc3" not in chosen and len(chosen) == 11
    assert trainable_parameter_count(model) == 850
    assert unfreeze(model, "fc2") == ["fc2"] and trainable_parameter_count(model) == 850 + 10164
    assert "(frozen)" in model.summary((1, 32, 32)).splitlines()[3]
    assert "Total parameters: 61,706 (trainable 11,014, frozen 50,692)" in \
        model.summary((1, 32, 32))


@pytest.mark.parametrize("arg, exc, message", [
    ("fc9", ValueError, r"names 'fc9', which is not a layer of the model; the layers are \["),
    ([1], TypeError, "must hold layer names"),
    (3.5, TypeError, "must be a layer name, a list of names or a callable"),
])
def test_freeze_errors(arg, exc, message):
    with pytest.raises(exc, match=message):
        freeze(lenet5(rng=0), arg)


def test_freeze_needs_a_model():
    with pytest.raises(TypeError, match="model must be a companion.nn.sequential.Sequential"):
        freeze([Dense(2, 2)], "fc1")


def test_frozen_layers_still_backpropagate():
    """The gradient reaching the input is the same with conv2 and fc1 frozen, and it
    matches finite differences; the frozen layers' gradients are zero."""
    rng = np.random.default_rng(1)
    model = Sequential(Conv2d(1, 2, 3, rng=rng, dtype=np.float64), Tanh(),
                       Conv2d(2, 2, 3, rng=rng, dtype=np.float64), Tanh(), Flatten(),
                       Dense(2 * 3 * 3, 3, rng=rng, dtype=np.float64))
    x = rng.random((2, 1, 7, 7))
    y = np.array([0, 2])
    _, g = cross_entropy_loss(model(x), y)
    dx = model.backward(g)
    freeze(model, ["conv2", "fc1"])
    _, g = cross_entropy_loss(model(x), y)
    dx_frozen = model.backward(g)
    np.testing.assert_array_equal(dx_frozen, dx)
    assert not model.grads["conv2.w"].any() and not model.grads["fc1.w"].any()
    assert model.grads["conv1.w"].any()
    num = numerical_gradient(lambda z: cross_entropy_loss(model(z), y)[0], x.copy(),
                             richardson=True)
    assert relative_error(dx_frozen, num) < 1e-7


def test_replace_head_ten_classes_to_two():
    model = lenet5(rng=0)
    old = replace_head(model, Dense(84, 2, rng=1))
    assert isinstance(old, Dense) and old.out_features == 10
    assert model.names[-1] == "fc3" and model["fc3"].out_features == 2
    assert model.num_params() == 61706 - 850 + 170
    assert model(np.zeros((3, 1, 32, 32), np.float32)).shape == (3, 2)
    assert head_name(model) == "fc3"
    replace_head(model, Dense(84, 5, rng=1), name="head")
    assert model.names[-1] == "head"


def test_replace_head_keeps_the_mode():
    model = lenet5(rng=0).eval()
    new = Dense(84, 2, rng=1)
    replace_head(model, new)
    assert not new.training


@pytest.mark.parametrize("new, exc, message", [
    (Dense(120, 2), ValueError, r"new_layer must take the input of 'fc3' .*in_features = 84"),
    (Dense(84, 2, dtype=np.float64), ValueError, "new_layer must have the model's dtype float32"),
    (ReLU(), ValueError, "new_layer must have parameters"),
    (Conv2d(84, 2, 1), ValueError, "new_layer must take the input of 'fc3'"),
    ("fc", TypeError, "new_layer must be a Layer"),
])
def test_replace_head_errors(new, exc, message):
    model = lenet5(rng=0)
    with pytest.raises(exc, match=message):
        replace_head(model, new)
    assert model["fc3"].out_features == 10                 # unchanged


def test_replace_head_without_parameters_in_the_model():
    with pytest.raises(ValueError, match="no layer with parameters"):
        replace_head(Sequential(ReLU(), Flatten()), Dense(2, 2))


def test_fine_tuning_trains_only_the_head():
    rng = np.random.default_rng(2)
    model = lenet5(rng=3)
    replace_head(model, Dense(84, 2, rng=4))
    freeze(model, lambda name, layer: name != "fc3")
    frozen_before = {k: v.copy() for k, v in model.params.items() if not k.startswith("fc3")}
    head_before = model.params["fc3.w"].copy()
    x = rng.random((8, 1, 32, 32)).astype(np.float32)
    y = np.array([0, 1] * 4)
    opt = SGD(lr=0.1, momentum=0.9)
    losses = []
    for _ in range(8):
        loss, g = cross_entropy_loss(model(x), y)
        model.backward(g)
        opt.step(model.trainable_params(), model.trainable_grads())
        losses.append(loss)
    assert losses[-1] < losses[0]
    for k, v in frozen_before.items():
        assert model.params[k].tobytes() == v.tobytes(), k
    assert not np.array_equal(model.params["fc3.w"], head_before)
