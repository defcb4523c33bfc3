"""The callback protocol of fit: hooks called uniformly and in order, a callback stops
training, callbacks are reset by each fit; metric=None; the dead-ReLU warning; the public
train_step; NonFiniteError from the forward and backward passes."""
import warnings

import numpy as np
import pytest

from companion.functional import cross_entropy_loss
from companion.nn import Dense, ReLU, Sequential
from companion.optim import SGD
from companion.train import (
    Callback,
    EarlyStopping,
    LambdaCallback,
    NonFiniteError,
    evaluate,
    fit,
    train_step,
)


def blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.int64)
    x = rng.standard_normal((n, 2)) * 0.5
    x[:, 0] += np.where(y == 1, 2.5, -2.5)
    return x, y


def mlp(seed=0):
    return Sequential(Dense(2, 16, rng=seed, dtype=np.float64), ReLU(),
                      Dense(16, 2, rng=seed + 1, dtype=np.float64))


class Recorder(Callback):
    def __init__(self, stop_at=None):
        self.stop_at = stop_at
        self.calls = []

    def on_train_begin(self, run):
        super().on_train_begin(run)
        self.calls = [("train_begin", run.epochs, run.has_val, run.has_metric)]

    def on_epoch_begin(self, epoch):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, step, logs):
        self.calls.append(("batch", step, sorted(logs)))

    def on_epoch_end(self, epoch, logs):
        self.calls.append(("epoch_end", epoch, logs["val_loss"] is not None))
        return epoch == self.stop_at

    def on_train_end(self):
        self.calls.append(("train_end",))


def test_hooks_are_called_in_order_and_a_callback_stops_training():
    x, y = blobs(30)
    rec = Recorder(stop_at=2)
    h = fit(mlp(), (x, y), optimizer=SGD(lr=0.1), epochs=5, batch_size=10, rng=0,
            val_data=blobs(10, seed=1), callbacks=rec, progress=False)
    batch = ["loss", "lr", "size"]
    expected = [("train_begin", 5, True, True)]
    for epoch in (1, 2):
        expected += [("epoch_begin", epoch)]
        expected += [("batch", 3 * (epoch - 1) + i, batch) for i in (1, 2, 3)]
        expected += [("epoch_end", epoch, True)]
    assert rec.calls == expected + [("train_end",)]
    assert h.epochs == 2 and h.stopped_early and rec.run.history is h


def test_a_callback_is_reset_by_each_fit_and_the_same_numbers_come_back():
    x, y = blobs()
    xv, yv = blobs(30, seed=4)
    stopper = EarlyStopping(patience=2)
    runs = [fit(mlp(), (x, y), optimizer=SGD(lr=0.05), epochs=30, batch_size=16, rng=0,
                val_data=(xv, 1 - yv), callbacks=[stopper], progress=False)
            for _ in range(2)]
    assert runs[0].to_dict() == runs[1].to_dict() and runs[0].stopped_early
    shorthand = fit(mlp(), (x, y), optimizer=SGD(lr=0.05), epochs=30, batch_size=16, rng=0,
                    val_data=(xv, 1 - yv), early_stopping=2, progress=False)
    assert shorthand.to_dict() == runs[0].to_dict()


def test_lambda_callback_and_bad_callbacks():
    seen = []
    cb = LambdaCallback(lambda epoch, logs: seen.append(epoch))
    fit(mlp(), blobs(20), optimizer=SGD(lr=0.1), epochs=2, batch_size=10, rng=0,
        callbacks=cb, progress=False)
    assert seen == [1, 2]
    with pytest.raises(TypeError, match="on_epoch_end must be a callable"):
        LambdaCallback(3)
    with pytest.raises(ValueError, match="early_stopping monitors 'train_acc', which needs "
                                         "a metric"):
        fit(mlp(), blobs(20), optimizer=SGD(lr=0.1), epochs=1, metric=None, progress=False,
            callbacks=[EarlyStopping(monitor="train_acc")])


# ----------------------------------------------------------------------------- metric=None
def test_metric_none_keeps_the_losses_only_and_the_same_numbers():
    x, y = blobs()
    val = blobs(20, seed=2)
    with_acc = fit(mlp(), (x, y), optimizer=SGD(lr=0.1), epochs=3, batch_size=16, rng=0,
                   val_data=val, progress=False)
    model = mlp()
    without = fit(model, (x, y), optimizer=SGD(lr=0.1), epochs=3, batch_size=16, rng=0,
                  val_data=val, metric=None, progress=False)
    assert without.train_acc == [] and without.val_acc == []
    assert without.train_loss == with_acc.train_loss and without.val_loss == with_acc.val_loss
    assert "acc" not in repr(without) and "acc" not in without.table()
    assert without.table().splitlines()[0].split() == ["epoch", "train_loss", "val_loss", "lr"]
    loss, acc = evaluate(model, *val, metric=None)
    assert acc is None and loss == without.val_loss[-1]
    with pytest.raises(TypeError, match="metric must be None or a callable"):
        fit(mlp(), (x, y), optimizer=SGD(lr=0.1), epochs=1, metric="accuracy")


# ----------------------------------------------------------------------------- dead ReLUs
def dead_mlp():
    model = mlp()
    model["fc1"].params["b"][...] = -1e3          # every unit below zero for every input
    return model


def test_a_dead_relu_layer_warns_once_per_fit_and_is_recorded():
    x, y = blobs(40)
    with pytest.warns(RuntimeWarning, match="ReLU layer 'relu1' output only zeros for "
                                            "every example of epoch 1") as record:
        h = fit(dead_mlp(), (x, y), optimizer=SGD(lr=0.1), epochs=3, batch_size=10, rng=0,
                progress=False)
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1
    assert h.dead_relus == {"relu1": 1} and h.to_dict()["dead_relus"] == {"relu1": 1}
    assert "dead" not in repr(h)


def test_no_warning_for_a_healthy_network():
    x, y = blobs(40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = fit(mlp(), (x, y), optimizer=SGD(lr=0.1), epochs=3, batch_size=10, rng=0,
                progress=False)
    assert h.dead_relus == {}


# ----------------------------------------------------------------------------- train_step
def test_train_step_is_the_hand_written_step():
    x, y = blobs(16)
    model, reference = mlp(), mlp()
    opt, ref_opt = SGD(lr=0.1), SGD(lr=0.1)
    value, acc = train_step(model, opt, "cross_entropy", x, y)
    logits = reference.forward(x)
    ref_value, grad = cross_entropy_loss(logits, y)
    reference.backward(grad)
    ref_opt.step(reference.trainable_params(), reference.trainable_grads())
    assert value == ref_value and acc == np.mean(np.argmax(logits, 1) == y)
    for k, v in reference.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k], v)
    assert train_step(model, opt, cross_entropy_loss, x, y, metric=None)[1] is None


def test_train_step_names_the_place_of_a_non_finite_backward_pass():
    x, y = blobs(8)
    bad_grad = lambda z, t: (1.0, np.full_like(z, np.nan))  # noqa: E731
    with pytest.raises(NonFiniteError, match="non-finite values in the backward pass here"):
        train_step(mlp(), SGD(lr=0.1), bad_grad, x, y, where="here")
