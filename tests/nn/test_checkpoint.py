"""Tests of companion.nn.checkpoint: round trips, bit-identical resumption of
training (Adam, and dropout masks), architecture mismatches, corrupt files."""
import json
import os
import zipfile

import numpy as np
import pytest

from companion.nn import FORMAT, load_checkpoint, read_architecture, save_checkpoint
from companion.nn import replace_head
from companion.nn import BatchNorm, Conv2d, Dense, Dropout, Flatten, MaxPool2d, ReLU
from companion.functional import cross_entropy_loss
from companion.nn import lenet5
from companion.nn import Sequential
from companion.optim import SGD, Adam


def small_model(seed=0, dtype=np.float32, p=0.3):
    rng = np.random.default_rng(seed)
    return Sequential(Conv2d(1, 3, 3, padding=1, rng=rng, dtype=dtype), BatchNorm(3, dtype=dtype),
                      ReLU(), MaxPool2d(2), Flatten(), Dense(12, 6, rng=rng, dtype=dtype), ReLU(),
                      Dropout(p, rng=rng.integers(2**32)), Dense(6, 3, rng=rng, dtype=dtype))


def batches(seed, n, shape, classes):
    rng = np.random.default_rng(seed)
    return [(rng.random(shape).astype(np.float32), rng.integers(0, classes, shape[0]))
            for _ in range(n)]


def train_steps(model, optimizer, data):
    model.train()
    for x, y in data:
        _, g = cross_entropy_loss(model.forward(x), y)
        model.backward(g)
        optimizer.step(model.trainable_params(), model.trainable_grads())


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype
        assert sa[k].tobytes() == sb[k].tobytes(), k


# ---------------------------------------------------------------- round trips

def test_round_trip_of_parameters_buffers_and_progress(tmp_path):
    model = small_model(1)
    train_steps(model, SGD(lr=0.1), batches(0, 2, (4, 1, 4, 4), 3))  # moves the buffers
    history = {"train_loss": [np.float32(2.5), 1.25], "val_acc": np.array([0.5, 0.75])}
    path = save_checkpoint(tmp_path / "ckpt.npz", model, epoch=np.int64(7), history=history,
                           extra={"note": "hello", "lr": np.float64(0.1), "flags": (True, None)})
    assert path == tmp_path / "ckpt.npz" and path.exists()
    assert os.listdir(tmp_path) == ["ckpt.npz"]                 # no temporary file left
    other = small_model(2)
    info = load_checkpoint(path, other)
    assert info == {"epoch": 7, "history": {"train_loss": [2.5, 1.25], "val_acc": [0.5, 0.75]},
                    "extra": {"note": "hello", "lr": 0.1, "flags": [True, None]}}
    assert_same_state(model, other)
    assert other.buffers["bn1.running_mean"].any()


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    model = small_model(3)
    opt = Adam(lr=1e-2)
    train_steps(model, opt, batches(1, 1, (2, 1, 4, 4), 3))
    path = save_checkpoint(tmp_path / "c.npz", model, optimizer=opt)
    with np.load(path, allow_pickle=False) as npz:
        files = set(npz.files)
        assert str(npz["__format__"]) == FORMAT
        assert json.loads(str(npz["__architecture__"])) == model.config()
        for key in files:
            npz[key]                                   # every entry loads without pickle
    assert {"param:conv1.w", "param:bn1.running_var", "optim:exp_avg:fc2.w",
            "optim:step_count"} <= files
    assert zipfile.is_zipfile(path)
    assert read_architecture(path) == model.config()


def test_path_is_written_as_given(tmp_path):
    path = save_checkpoint(str(tmp_path / "weights.ckpt"), small_model(4))
    assert path.name == "weights.ckpt" and path.exists()
    load_checkpoint(path, small_model(5))


def test_float32_checkpoint_loads_into_a_float64_model(tmp_path):
    model32 = lenet5(rng=0)
    save_checkpoint(tmp_path / "l.npz", model32)
    model64 = lenet5(rng=1, dtype=np.float64)
    load_checkpoint(tmp_path / "l.npz", model64)
    for k, v in model32.params.items():
        np.testing.assert_array_equal(model64.params[k], v.astype(np.float64))


# ---------------------------------------------------------------- resuming training

def test_resumed_adam_training_is_bit_identical(tmp_path):
    """3 steps, save, load into a fresh model and optimizer, 2 more steps == 5 steps."""
    data = batches(2, 5, (4, 1, 32, 32), 10)
    straight = lenet5(rng=0)
    opt = Adam(lr=1e-3)
    train_steps(straight, opt, data)

    first = lenet5(rng=0)
    opt1 = Adam(lr=1e-3)
    train_steps(first, opt1, data[:3])
    save_checkpoint(tmp_path / "resume.npz", first, optimizer=opt1, epoch=3)
    resumed = lenet5(rng=123)                          # other initial weights
    opt2 = Adam(lr=0.5, betas=(0.5, 0.5))              # other hyperparameters, no state
    info = load_checkpoint(tmp_path / "resume.npz", resumed, optimizer=opt2)
    assert info["epoch"] == 3 and opt2.lr == 1e-3 and opt2.step_count == 3
    train_steps(resumed, opt2, data[3:])
    assert_same_state(straight, resumed)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    for k in s1:
        assert np.asarray(s1[k]).tobytes() == np.asarray(s2[k]).tobytes(), k


def test_resumed_training_with_dropout_draws_the_same_masks(tmp_path):
    data = batches(3, 5, (4, 1, 4, 4), 3)
    straight, opt = small_model(6, p=0.5), SGD(lr=0.05, momentum=0.9)
    train_steps(straight, opt, data)
    first, opt1 = small_model(6, p=0.5), SGD(lr=0.05, momentum=0.9)
    train_steps(first, opt1, data[:3])
    save_checkpoint(tmp_path / "d.npz", first, optimizer=opt1)
    resumed, opt2 = small_model(99, p=0.5), SGD(lr=0.05, momentum=0.9)
    load_checkpoint(tmp_path / "d.npz", resumed, optimizer=opt2)
    assert resumed["dropout1"].rng.bit_generator.state == \
        first["dropout1"].rng.bit_generator.state
    train_steps(resumed, opt2, data[3:])
    assert_same_state(straight, resumed)


# ---------------------------------------------------------------- mismatches and errors

def test_another_architecture_is_refused_with_what_differs(tmp_path):
    path = save_checkpoint(tmp_path / "l.npz", lenet5(rng=0))
    with pytest.raises(ValueError, match=r"another architecture: layer 1 \('relu1' in the "
                                         r"checkpoint\) differs: name: checkpoint 'relu1', "
                                         r"model 'tanh1', type: checkpoint 'ReLU', model 'Tanh'"):
        load_checkpoint(path, lenet5(rng=0, activation="tanh"))
    two_classes = lenet5(rng=0)
    replace_head(two_classes, Dense(84, 2, rng=0))
    with pytest.raises(ValueError, match="layer 11 .*out_features: checkpoint 10, model 2"):
        load_checkpoint(path, two_classes)
    with pytest.raises(ValueError, match="the checkpoint has 12 layers .*the model 11"):
        load_checkpoint(path, Sequential(*lenet5(rng=0).layers[:-1]))


def test_nothing_changes_when_loading_fails(tmp_path):
    model, opt = small_model(7), Adam()
    train_steps(model, opt, batches(4, 1, (2, 1, 4, 4), 3))
    path = save_checkpoint(tmp_path / "a.npz", model, optimizer=opt)
    target, sgd = small_model(8), SGD(lr=0.1, momentum=0.9)
    train_steps(target, sgd, batches(5, 1, (2, 1, 4, 4), 3))
    before = target.state_dict()
    sgd_before = sgd.state_dict()
    with pytest.raises(ValueError, match="state dict is for optimizer 'Adam'"):
        load_checkpoint(path, target, optimizer=sgd)
    for k, v in before.items():
        np.testing.assert_array_equal(target.state_dict()[k], v)
    assert sgd.state_dict().keys() == sgd_before.keys() and sgd.lr == 0.1
    no_opt = save_checkpoint(tmp_path / "b.npz", model)
    with pytest.raises(ValueError, match="holds no optimizer state, but an optimizer was given"):
        load_checkpoint(no_opt, target, optimizer=Adam())
    # an optimizer state in the file is ignored when no optimizer is passed
    load_checkpoint(path, target)
    assert_same_state(model, target)


def test_missing_and_corrupt_files(tmp_path):
    model = small_model(9)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.npz", model)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_checkpoint(tmp_path, model)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file at all" * 10)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(junk, model)
    good = save_checkpoint(tmp_path / "good.npz", model)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(truncated, model)
    plain = tmp_path / "plain.npz"
    np.savez(plain, **model.state_dict())
    with pytest.raises(ValueError, match="not a checkpoint of this package: its '__format__' "
                                         "entry is None"):
        load_checkpoint(plain, model)
    single = tmp_path / "single.npy"
    np.save(single, np.ones(3))
    with pytest.raises(ValueError, match="single array"):
        load_checkpoint(single, model)
    broken = tmp_path / "broken.npz"
    with np.load(good) as npz:
        entries = {k: npz[k] for k in npz.files}
    entries["__meta__"] = np.array("{not json")
    np.savez(broken, **entries)
    with pytest.raises(ValueError, match="corrupt '__meta__' entry"):
        load_checkpoint(broken, model)
    entries = {k: v for k, v in entries.items() if k != "param:fc1.w"}
    entries["__meta__"] = np.array(json.dumps({"epoch": None}))
    np.savez(broken, **entries)
    with pytest.raises(ValueError, match="state dict has no entry 'fc1.w'"):
        load_checkpoint(broken, model)


def test_save_errors(tmp_path):
    model = small_model(10)
    with pytest.raises(TypeError, match=r"extra\['f'\] must be JSON-able"):
        save_checkpoint(tmp_path / "x.npz", model, extra={"f": object()})
    with pytest.raises(TypeError, match="history must have str keys"):
        save_checkpoint(tmp_path / "x.npz", model, history={1: [2]})
    with pytest.raises(TypeError, match="epoch must be an int"):
        save_checkpoint(tmp_path / "x.npz", model, epoch=1.5)
    with pytest.raises(TypeError, match="model must be a companion.nn.sequential.Sequential"):
        save_checkpoint(tmp_path / "x.npz", {"w": np.ones(2)})
    with pytest.raises(TypeError, match="optimizer must be"):
        save_checkpoint(tmp_path / "x.npz", model, optimizer="adam")
    with pytest.raises(FileNotFoundError):
        save_checkpoint(tmp_path / "missing_dir" / "x.npz", model)
    assert not list(tmp_path.iterdir())                   # nothing written


def test_history_objects_are_converted():
    from dataclasses import dataclass, field

    @dataclass
    class History:
        train_loss: list = field(default_factory=list)

    class WithToDict:
        def to_dict(self):
            return {"val_acc": [np.float32(0.5)]}

    class Plain:
        def __init__(self):
            self.lr = [np.float64(0.1)]
            self._private = object()

    from companion.nn.checkpoint import _to_jsonable
    assert _to_jsonable(History([np.float64(1.0)]), "history") == {"train_loss": [1.0]}
    assert _to_jsonable(WithToDict(), "history") == {"val_acc": [0.5]}
    assert _to_jsonable(Plain(), "history") == {"lr": [0.1]}
