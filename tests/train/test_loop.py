"""The training loop on small real problems: it learns, it is reproducible bit for bit, it
matches a hand-written loop step for step (schedules, clipping, L2), early stopping restores
the best weights, checkpoints load back, errors are clear; and LeNet-5 on real MNIST digits."""
import os

import numpy as np
import pytest

from companion.nn import load_checkpoint
from companion.optim import clip_grad_norm
from companion.data import minibatches
from companion.nn import Dense, Dropout, ReLU
from companion.functional import cross_entropy_loss
from companion.nn import Sequential
from companion.optim import SGD, Adam
from companion.optim import CosineAnnealing, StepDecay
from companion.train import (
    Checkpoint,
    EarlyStopping,
    History,
    NonFiniteError,
    evaluate,
    fit,
    predict,
)


def blobs(n=120, seed=0, gap=3.0):
    """Two Gaussian blobs in 2-D, linearly separable (a margin of ``gap``)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.standard_normal((n, 2)) * 0.5
    x[:, 0] += np.where(y == 1, gap / 2 + 1.0, -gap / 2 - 1.0)
    return x, y.astype(np.int64)


def mlp(seed=0, dropout=None):
    layers = [Dense(2, 16, rng=seed, dtype=np.float64), ReLU()]
    if dropout is not None:
        layers.append(Dropout(dropout, rng=seed + 100))
    layers.append(Dense(16, 2, rng=seed + 1, dtype=np.float64))
    return Sequential(*layers)


def state_equal(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- learning
def test_fit_learns_a_linearly_separable_set():
    x, y = blobs()
    model = mlp()
    history = fit(model, (x, y), optimizer=SGD(lr=0.1, momentum=0.9), epochs=10,
                  batch_size=16, rng=0, progress=False)
    assert isinstance(history, History) and history.epochs == 10
    assert history.train_loss[-1] < 0.2 * history.train_loss[0]
    assert history.train_acc[-1] == 1.0
    loss, acc = evaluate(model, x, y)
    assert acc == 1.0 and loss < 0.05
    assert len(history.step_loss) == 10 * 8 and history.lr == [0.1] * 10
    assert history.val_loss == [] and history.best_epoch is None


def test_fit_is_reproducible_bit_for_bit():
    x, y = blobs()
    noise = lambda xb, rng: xb + 0.1 * rng.standard_normal(xb.shape)  # noqa: E731

    def run(seed):
        model = mlp(seed=3, dropout=0.2)
        h = fit(model, (x, y), optimizer=Adam(lr=0.01), epochs=3, batch_size=10, rng=seed,
                augment=noise, val_data=blobs(40, seed=9), progress=False)
        return model.state_dict(), h

    s1, h1 = run(5)
    s2, h2 = run(5)
    s3, h3 = run(6)
    assert state_equal(s1, s2)
    assert h1.to_dict() == h2.to_dict()
    assert not state_equal(s1, s3) and h1.step_loss != h3.step_loss


def manual_training(model, x, y, optimizer, epochs, batch_size, seed, lr_at):
    """The training loop written out by hand (what fit must do, step for step)."""
    rng = np.random.default_rng(seed)
    t = 0
    model.train()
    for epoch in range(epochs):
        for xb, yb in minibatches(x, y, batch_size, rng=rng):
            optimizer.lr = lr_at(t, epoch)
            logits = model.forward(xb)
            _, dlogits = cross_entropy_loss(logits, yb)
            model.backward(dlogits)
            optimizer.step(model.trainable_params(), model.trainable_grads())
            t += 1


@pytest.mark.parametrize("unit", ["step", "epoch"])
def test_schedule_is_applied_as_documented(unit):
    x, y = blobs(50)
    schedule = CosineAnnealing(0.2, total_steps=12) if unit == "step" else StepDecay(0.2, 1, 0.5)
    model = mlp()
    history = fit(model, (x, y), optimizer=SGD(lr=1.0, momentum=0.5), epochs=3, batch_size=16,
                  rng=1, schedule=schedule, schedule_unit=unit, progress=False)
    steps = 3 * 4
    if unit == "step":
        assert history.step_lr == [schedule(t) for t in range(steps)]
        assert history.lr == [schedule(0), schedule(4), schedule(8)]
    else:
        assert history.step_lr == [schedule(e) for e in range(3) for _ in range(4)]
        assert history.lr == [0.2, 0.1, 0.05]
    reference = mlp()
    manual_training(reference, x, y, SGD(lr=1.0, momentum=0.5), 3, 16, 1,
                    (lambda t, e: schedule(t)) if unit == "step" else (lambda t, e: schedule(e)))
    assert state_equal(model.state_dict(), reference.state_dict())


def test_clip_norm_limits_the_step():
    x, y = blobs(32)
    model = mlp()
    before = {k: v.copy() for k, v in model.params.items()}
    fit(model, (x, y), optimizer=SGD(lr=1.0), epochs=1, batch_size=32, rng=0, clip_norm=1e-3,
        progress=False)
    change = np.sqrt(sum(np.sum((model.params[k] - before[k]) ** 2) for k in before))
    assert change == pytest.approx(1e-3, rel=1e-3)
    # exactly what clip_grad_norm gives, computed by hand from the same batch
    reference = mlp()
    xb, yb = next(minibatches(x, y, 32, rng=np.random.default_rng(0)))
    _, g = cross_entropy_loss(reference.forward(xb), yb)
    reference.backward(g)
    clipped, norm = clip_grad_norm(reference.trainable_grads(), 1e-3)
    assert norm > 1e-2                                        # the clipping did something
    for k in before:
        np.testing.assert_array_equal(model.params[k], before[k] - clipped[k])


def test_l2_decays_weights_only():
    x, y = blobs(20)
    model = mlp()
    before = {k: v.copy() for k, v in model.params.items()}
    no_data = lambda logits, yb: (0.0, np.zeros_like(logits))  # noqa: E731  only the penalty acts
    fit(model, (x, y), loss=no_data, optimizer=SGD(lr=0.5), epochs=1, batch_size=20, rng=0,
        l2=0.1, progress=False)
    for k, w in before.items():
        expected = w - 0.5 * 0.1 * w if k.endswith(".w") else w
        np.testing.assert_allclose(model.params[k], expected, rtol=1e-15, atol=0)
    assert any(not np.array_equal(model.params[k], before[k]) for k in before if k.endswith(".w"))


# ----------------------------------------------------------------------------- early stopping
def snapshots_callback(model, store):
    def callback(epoch, logs):
        store[epoch] = model.state_dict()
    return callback


@pytest.mark.parametrize("monitor", ["val_loss", "val_acc"])
def test_early_stopping_restores_the_best_weights(monitor):
    x, y = blobs(80)
    xv, yv = blobs(40, seed=3)
    yv = 1 - yv                     # flipped labels: the better the model, the worse on these
    model = mlp()
    snaps = {}
    history = fit(model, (x, y), optimizer=SGD(lr=0.05), epochs=30, batch_size=16, rng=0,
                  val_data=(xv, yv), early_stopping=EarlyStopping(patience=3, monitor=monitor),
                  callbacks=snapshots_callback(model, snaps), progress=False)
    values = history.val_loss if monitor == "val_loss" else history.val_acc
    best = int(np.argmin(values) if monitor == "val_loss" else np.argmax(values)) + 1
    assert history.best_epoch == best
    assert history.stopped_early and history.epochs == best + 3 < 30
    assert state_equal(model.state_dict(), snaps[best])         # the best weights are back
    assert not state_equal(snaps[history.epochs], snaps[best])


def test_early_stopping_shorthand_and_no_restore():
    x, y = blobs(60)
    xv, yv = blobs(30, seed=4)
    model = mlp()
    snaps = {}
    h = fit(model, (x, y), optimizer=SGD(lr=0.05), epochs=40, batch_size=16, rng=0,
            val_data=(xv, 1 - yv), progress=False, callbacks=snapshots_callback(model, snaps),
            early_stopping=EarlyStopping(patience=2, restore_best=False))
    assert h.stopped_early and state_equal(model.state_dict(), snaps[h.epochs])
    h2 = fit(mlp(), (x, y), optimizer=SGD(lr=0.05), epochs=40, batch_size=16, rng=0,
             val_data=(xv, 1 - yv), early_stopping=2, progress=False)
    assert h2.epochs == h.epochs and h2.best_epoch == h.best_epoch


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoint_best_is_written_and_loadable(tmp_path):
    x, y = blobs(80)
    xv, yv = blobs(40, seed=3)
    path = tmp_path / "best.npz"
    model = mlp()
    snaps = {}
    opt = Adam(lr=0.01)
    h = fit(model, (x, y), optimizer=opt, epochs=6, batch_size=16, rng=0,
            val_data=(xv, 1 - yv), checkpoint=path, callbacks=snapshots_callback(model, snaps),
            progress=False)
    assert path.exists()
    restored = mlp(seed=42)
    info = load_checkpoint(path, restored, optimizer=Adam(lr=0.01))
    assert info["epoch"] == h.best_epoch == int(np.argmin(h.val_loss)) + 1
    assert state_equal(restored.state_dict(), snaps[h.best_epoch])
    assert info["history"]["val_loss"] == h.val_loss[: h.best_epoch]


def test_checkpoint_last_keeps_the_final_model(tmp_path):
    x, y = blobs(40)
    path = tmp_path / "last.npz"
    model = mlp()
    opt = SGD(lr=0.1, momentum=0.9)
    fit(model, (x, y), optimizer=opt, epochs=3, batch_size=8, rng=0, checkpoint=path,
        progress=False)                                # no val_data: "last"
    restored, opt2 = mlp(seed=7), SGD(lr=0.1, momentum=0.9)
    info = load_checkpoint(path, restored, optimizer=opt2)
    assert info["epoch"] == 3 and len(info["history"]["train_loss"]) == 3
    assert state_equal(restored.state_dict(), model.state_dict())
    assert opt2.step_count == opt.step_count == 15
    path2 = tmp_path / "b.npz"
    fit(mlp(), (x, y), optimizer=SGD(lr=0.1), epochs=2, batch_size=8, rng=0,
        checkpoint=Checkpoint(path2, save="best", monitor="train_acc"), progress=False)
    assert path2.exists()


# ----------------------------------------------------------------------------- modes, callbacks
class ModeRecorder:
    """Wraps a model and records the mode of every forward pass and every augmentation."""

    def __init__(self, model):
        self.model = model
        self.modes = []

    def __getattr__(self, name):
        return getattr(self.model, name)

    @property
    def training(self):
        return self.model.training

    def forward(self, x):
        self.modes.append(("forward", self.model.training, x.shape[0]))
        return self.model.forward(x)


def test_train_mode_for_steps_eval_mode_for_validation_and_mode_restored():
    x, y = blobs(30)
    xv, yv = blobs(12, seed=2)
    rec = ModeRecorder(mlp(dropout=0.5))
    rec.model.eval()
    calls = []

    def augment(xb, rng):
        calls.append(xb.shape[0])
        return xb

    x0, y0 = x.copy(), y.copy()
    fit(rec, (x, y), optimizer=SGD(lr=0.1), epochs=2, batch_size=10, rng=0, val_data=(xv, yv),
        augment=augment, eval_batch_size=5, progress=False)
    train_passes = [m for m in rec.modes if m[1]]
    eval_passes = [m for m in rec.modes if not m[1]]
    assert [m[2] for m in train_passes] == [10, 10, 10] * 2
    assert [m[2] for m in eval_passes] == [5, 5, 2] * 2
    assert calls == [10, 10, 10] * 2                  # training batches only
    assert rec.model.training is False                # the mode it had before fit
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


def test_callbacks_see_the_logs_and_can_stop():
    x, y = blobs(30)
    seen = []

    def cb(epoch, logs):
        seen.append((epoch, sorted(logs)))
        return epoch == 2

    h = fit(mlp(), (x, y), optimizer=SGD(lr=0.1), epochs=5, batch_size=10, rng=0,
            callbacks=[cb], progress=False)
    assert h.epochs == 2 and h.stopped_early
    assert seen == [(1, ["lr", "train_acc", "train_loss", "val_acc", "val_loss"]),
                    (2, ["lr", "train_acc", "train_loss", "val_acc", "val_loss"])]


def test_evaluate_and_predict():
    x, y = blobs(23)
    model = mlp(dropout=0.5)
    model.train()
    logits = predict(model, x, batch_size=4)
    assert model.training                              # restored
    model.eval()
    direct = model.forward(x)
    np.testing.assert_allclose(logits, direct, rtol=1e-13)
    loss, acc = evaluate(model, x, y, batch_size=5)
    ref_loss, _ = cross_entropy_loss(direct, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert acc == np.mean(np.argmax(direct, 1) == y)
    assert evaluate(model, x, y, batch_size=23)[0] == pytest.approx(loss, rel=1e-12)
    assert not model.training


def test_history_repr_and_table_hold_no_times():
    x, y = blobs(20)
    h = fit(mlp(), (x, y), optimizer=SGD(lr=0.1), epochs=2, batch_size=10, rng=0,
            val_data=blobs(10, seed=1), progress=False)
    assert len(h.epoch_time) == 2 and all(t > 0 for t in h.epoch_time)
    text = repr(h) + h.table() + str(h.to_dict())
    assert "time" not in text and "epoch_time" not in h.to_dict()
    assert "epoch_time" in h.to_dict(include_times=True)
    assert repr(h).startswith("History(epochs=2, train_loss=[")
    assert h.table().splitlines()[0].split() == ["epoch", "train_loss", "train_acc", "val_loss",
                                                 "val_acc", "lr"]


def test_progress_auto_is_silent_when_captured_and_true_draws_on_stderr(capsys):
    x, y = blobs(20)
    fit(mlp(), (x, y), optimizer=SGD(lr=0.1), epochs=2, batch_size=10, rng=0)
    assert capsys.readouterr() == ("", "")
    fit(mlp(), (x, y), optimizer=SGD(lr=0.1), epochs=2, batch_size=10, rng=0, progress=True)
    out = capsys.readouterr()
    assert out.out == "" and "epoch 1/2:  50.0%" in out.err and "epoch 2/2: 100.0%" in out.err
    assert out.err.count("\n") == 1                  # one bar, redrawn, left on its line


# ----------------------------------------------------------------------------- divergence, errors
def deep_mlp():
    return Sequential(Dense(2, 16, rng=0, dtype=np.float64), ReLU(),
                      Dense(16, 16, rng=2, dtype=np.float64), ReLU(),
                      Dense(16, 2, rng=1, dtype=np.float64))


@pytest.mark.parametrize("make, lr, loss, message", [
    (mlp, 1e200, "cross_entropy", r"the logits are not finite at epoch 1, step 2 of 4"),
    (deep_mlp, 1e200, "cross_entropy",
     r"non-finite values in the forward pass at epoch 1, step 2 of 4: .*layer 'relu2'"),
    (mlp, 1e308, "cross_entropy",
     r"parameter 'fc1.w' became non-finite after the optimizer step at epoch 1, step 1 of 4"),
    (mlp, 0.1, lambda z, y: (1.0, np.full_like(z, 1e308)),
     r"the gradient of 'fc1.w' is not finite at epoch 1, step 1 of 4"),
    (mlp, 0.1, lambda z, y: (float("nan"), np.zeros_like(z)),
     r"the loss is nan at epoch 1, step 1 of 4"),
])
def test_divergence_raises_non_finite_error_naming_epoch_and_step(make, lr, loss, message,
                                                                   recwarn):
    x, y = blobs(40)
    with pytest.raises(NonFiniteError, match=message) as info:
        fit(make(), (x * 1e3, y), loss=loss, optimizer=SGD(lr=lr), epochs=3, batch_size=10,
            rng=0, progress=False)
    assert isinstance(info.value, ValueError) and isinstance(info.value, FloatingPointError)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]  # no overflow noise


class NoModel:
    def forward(self, x):
        return x


GOOD = dict(optimizer=None, epochs=1, progress=False)


@pytest.mark.parametrize("change, exc, message", [
    (dict(model=NoModel()), TypeError, "model must provide forward, backward"),
    (dict(train_data=np.zeros((4, 2))), TypeError, r"train_data must be a pair \(x, y\)"),
    (dict(train_data=(np.zeros((4, 2)), np.zeros(4))), TypeError,
     r"train_data\[1\] must be integer class labels"),
    (dict(train_data=(np.zeros((4, 2)), np.zeros(3, int))), ValueError,
     r"train_data\[1\] \(the targets\) must have one entry per example"),
    (dict(train_data=(np.full((4, 2), np.nan), np.zeros(4, int))), ValueError,
     "must be finite"),
    (dict(val_data=(np.zeros((4, 2)),)), TypeError, r"val_data must be a pair"),
    (dict(optimizer=object()), TypeError, "optimizer must have a step"),
    (dict(epochs=0), ValueError, "epochs must be a positive integer"),
    (dict(batch_size=0), ValueError, "batch_size must be a positive integer"),
    (dict(loss="hinge"), ValueError, "loss must be one of"),
    (dict(loss=3), TypeError, "loss must be a loss name or a callable"),
    (dict(loss=lambda z, y: 1.0), TypeError, r"loss must return a pair \(value, grad\)"),
    (dict(schedule=0.1), TypeError, "schedule must be a callable"),
    (dict(schedule_unit="batch"), ValueError, "schedule_unit must be 'step' or 'epoch'"),
    (dict(schedule=lambda t: -1.0), ValueError, r"schedule\(0\) \(the learning rate at step 0\)"),
    (dict(clip_norm=0.0), ValueError, "clip_norm must be a finite number"),
    (dict(l2=-1.0), ValueError, "l2 must be a finite number"),
    (dict(early_stopping=3), ValueError, "early_stopping monitors 'val_loss', which needs val_data"),
    (dict(early_stopping="yes"), TypeError, "early_stopping must be None, a patience"),
    (dict(checkpoint=Checkpoint("x.npz", monitor="val_acc")), ValueError,
     "checkpoint monitors 'val_acc', which needs val_data"),
    (dict(checkpoint=5), TypeError, "checkpoint must be None, a path or a Checkpoint"),
    (dict(callbacks=[print, 3]), TypeError,
     r"callbacks\[1\] must be a Callback or a callable"),
    (dict(progress="yes"), TypeError, "progress must be 'auto', True, False or None"),
    (dict(augment=1), TypeError, "augment must be a callable"),
    (dict(rng="x"), TypeError, "rng must be"),
])
def test_fit_rejects_bad_arguments(change, exc, message):
    x, y = blobs(8)
    args = dict(model=mlp(), train_data=(x, y), optimizer=SGD(lr=0.1), epochs=1, progress=False)
    args.update(change)
    model, data = args.pop("model"), args.pop("train_data")
    with pytest.raises(exc, match=message):
        fit(model, data, **args)


def test_bad_records():
    with pytest.raises(ValueError, match="patience must be a positive integer"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="monitor must be one of"):
        EarlyStopping(monitor="loss")
    with pytest.raises(ValueError, match="save must be 'best' or 'last'"):
        Checkpoint("a.npz", save="every")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        Checkpoint(3)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        evaluate(mlp(), *blobs(4), batch_size=0)
    with pytest.raises(TypeError, match="model must provide"):
        predict(NoModel(), np.zeros((2, 2)))


# ----------------------------------------------------------------------------- LeNet-5 on MNIST
def mnist_dir():
    root = os.environ.get("COMPANION_DATA")
    if not root or not os.path.isdir(os.path.join(root, "mnist")):
        return None
    return os.path.join(root, "mnist")


def test_lenet5_learns_real_mnist_digits_in_one_epoch():
    import numba

    if numba.config.DISABLE_JIT:
        pytest.skip("LeNet-5 takes ~10 s per step without JIT (NUMBA_DISABLE_JIT=1); "
                    "the training loop itself is covered by the small tests above")
    data_dir = mnist_dir()
    if data_dir is None:
        pytest.skip("real MNIST not available: set COMPANION_DATA to a directory whose "
                    "mnist/ folder holds t10k-images/labels-idx*-ubyte.gz")
    from companion.data import load_mnist, pad_to_32
    from companion.nn import lenet5

    test = load_mnist("test", data_dir=data_dir, download=False)
    x = pad_to_32(test.images)
    y = test.labels
    model = lenet5(rng=0)
    history = fit(model, (x[:2000], y[:2000]), optimizer=Adam(lr=2e-3), epochs=1,
                  batch_size=16, rng=0, val_data=(x[2000:3000], y[2000:3000]), progress=False)
    assert history.val_acc[0] > 0.80
    assert history.step_loss[-1] < history.step_loss[0]
