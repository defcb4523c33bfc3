r"""The training loop: :func:`fit`, :func:`evaluate`, :func:`predict`.

One training step is document 2's loop body without PyTorch::

    logits = model.forward(xb)                  # outputs = model(inputs)
    value, dlogits = loss(logits, yb)           # loss = criterion(outputs, labels)
    model.backward(dlogits)                     # loss.backward()
    optimizer.step(model.trainable_params(),    # optimizer.step()
                   model.trainable_grads())

(no ``zero_grad``: the layers' ``backward`` overwrites their gradients). Around
it, :func:`fit` adds what a real run needs, each step of an epoch in this order:

1. draw the epoch's order of examples from ``rng`` (:func:`companion.data.minibatches`);
2. ``augment`` the batch (training batches only), drawing from the same ``rng``;
3. set ``optimizer.lr`` from ``schedule`` (per step or per epoch, see below);
4. forward, loss, backward (the model in training mode);
5. add the L2 penalty's gradient :math:`\lambda w` (``l2``, weights only:
   :func:`companion.optim.regularization.l2_penalty`);
6. clip the global gradient norm to ``clip_norm`` (:func:`companion.optim.clipping.clip_grad_norm`);
7. the optimizer step.

After each epoch: the validation loss and accuracy (:func:`evaluate`, model in
evaluation mode), the history, callbacks, checkpoint, early stopping.

The model
---------
Anything with ``forward(x) -> logits``, ``backward(dlogits)``, ``train()`` /
``eval()`` and ``training``, ``trainable_params()`` / ``trainable_grads()``
(flat dicts name -> array; the optimizer updates the arrays in place),
``state_dict()`` / ``load_state_dict()``: a :class:`companion.nn.sequential.Sequential`.
:func:`fit` leaves the model in the mode it found it in.

Learning-rate schedules
-----------------------
``schedule`` is a callable ``t -> lr`` (:mod:`companion.optim.schedules`). With
``schedule_unit="step"`` (the default) ``t`` is the number of optimizer steps
taken so far in this call (0, 1, 2, ... across epochs) and the rate is set
before every step; with ``schedule_unit="epoch"``, ``t`` is the epoch index
(0, 1, ...) and the rate is set once before the epoch's first step.
``History.lr`` records the rate of each epoch's first step and
``History.step_lr`` that of every step.

Targets
-------
``train_data`` and ``val_data`` are pairs ``(x, y)``. ``y`` holds integer class
labels ``(N,)``, or is a tuple of arrays whose **first** element is the labels
(e.g. :class:`companion.train.distillation.DistillationTargets`): the batches of all
of them are cut together and passed to the loss as they are; the labels give
the accuracy.

Divergence
----------
A non-finite loss, logits, gradient or parameter stops training with a
``FloatingPointError`` that names the epoch and the step (and the array), so
a learning rate that is too large fails loudly instead of training on NaN.

Nothing is printed: the optional progress bar (:class:`companion._progress.ProgressBar`)
never leaves anything in a stored notebook, and epoch times are kept in
``History.epoch_time``, out of the history's ``repr``.
"""
from __future__ import annotations

import math
import numbers
import os
import time
from dataclasses import dataclass, field

import numpy as np

from companion._progress import progress_mode, ProgressBar
from companion._validate import (
    as_examples,
    as_generator,
    as_positive_int,
    as_real,
    as_targets,
)
from companion.data import minibatches, num_batches
from companion.functional import cross_entropy_loss
from companion.optim import clip_grad_norm, l2_penalty
from companion.train.metrics import accuracy

__all__ = ["History", "EarlyStopping", "Checkpoint", "fit", "evaluate", "predict"]

LOSSES = {"cross_entropy": cross_entropy_loss}
"""Loss names accepted by :func:`fit` and :func:`evaluate`."""

_MODEL_METHODS = ("forward", "backward", "train", "eval", "trainable_params",
                  "trainable_grads", "state_dict", "load_state_dict")


# --------------------------------------------------------------------------- records
@dataclass(repr=False)
class History:
    """What :func:`fit` measured, one entry per epoch (index 0 = epoch 1).

    Attributes
    ----------
    train_loss : list of float
        Mean training loss of the epoch's batches, weighted by batch size, in
        training mode on the (augmented) training batches, as the steps saw
        them. The data loss only: the L2 penalty is not included, so it
        compares with ``val_loss``.
    train_acc : list of float
        Accuracy of the same forward passes.
    val_loss, val_acc : list of float
        :func:`evaluate` on ``val_data`` after the epoch (empty without it).
    lr : list of float
        Learning rate of the epoch's first step.
    step_loss, step_lr : list of float
        Loss and learning rate of every step (not in the ``repr``).
    epoch_time : list of float
        Seconds per epoch, validation included (not in the ``repr``, never printed).
    best_epoch : int or None
        1-based epoch of the best monitored value (of early stopping's monitor,
        else of a "best" checkpoint's), else ``None``.
    stopped_early : bool
        Whether early stopping (or a callback) ended the run before ``epochs``.
    """

    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    step_loss: list = field(default_factory=list)
    step_lr: list = field(default_factory=list)
    epoch_time: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    def to_dict(self, include_times: bool = False) -> dict:
        """Plain dict of lists (and ``best_epoch``, ``stopped_early``); times only on request."""
        d = {"train_loss": list(self.train_loss), "train_acc": list(self.train_acc),
             "val_loss": list(self.val_loss), "val_acc": list(self.val_acc),
             "lr": list(self.lr), "step_loss": list(self.step_loss),
             "step_lr": list(self.step_lr), "best_epoch": self.best_epoch,
             "stopped_early": self.stopped_early}
        if include_times:
            d["epoch_time"] = list(self.epoch_time)
        return d

    def table(self) -> str:
        """A text table, one row per epoch (no timings): epoch, losses, accuracies, lr."""
        cols = ["epoch", "train_loss", "train_acc"]
        if self.val_loss:
            cols += ["val_loss", "val_acc"]
        cols.append("lr")
        rows = []
        for e in range(self.epochs):
            row = [str(e + 1), f"{self.train_loss[e]:.4f}", f"{self.train_acc[e]:.4f}"]
            if self.val_loss:
                row += [f"{self.val_loss[e]:.4f}", f"{self.val_acc[e]:.4f}"]
            row.append(f"{self.lr[e]:.4g}")
            rows.append(row)
        widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        def fmt(values):
            return "[" + ", ".join(f"{v:.4f}" for v in values) + "]"
        parts = [f"epochs={self.epochs}", f"train_loss={fmt(self.train_loss)}",
                 f"train_acc={fmt(self.train_acc)}"]
        if self.val_loss:
            parts += [f"val_loss={fmt(self.val_loss)}", f"val_acc={fmt(self.val_acc)}"]
        parts.append("lr=[" + ", ".join(f"{v:.4g}" for v in self.lr) + "]")
        if self.best_epoch is not None:
            parts.append(f"best_epoch={self.best_epoch}")
        if self.stopped_early:
            parts.append("stopped_early=True")
        return "History(" + ", ".join(parts) + ")"


_MONITORS = {"val_loss": "min", "val_acc": "max", "train_loss": "min", "train_acc": "max"}


def _check_monitor(monitor, name: str) -> str:
    if not isinstance(monitor, str) or monitor not in _MONITORS:
        raise ValueError(f"{name} must be one of {sorted(_MONITORS)}, got {monitor!r}")
    return monitor


class _Best:
    """Tracks the best value of a monitored quantity."""

    def __init__(self, monitor: str, min_delta: float = 0.0):
        self.monitor = monitor
        self.mode = _MONITORS[monitor]
        self.min_delta = min_delta
        self.value = None
        self.epoch = None

    def improved(self, value: float) -> bool:
        if self.value is None:
            return True
        if self.mode == "min":
            return value < self.value - self.min_delta
        return value > self.value + self.min_delta

    def record(self, value: float, epoch: int) -> None:
        self.value, self.epoch = value, epoch


class EarlyStopping:
    """Stop when a validation metric has not improved for ``patience`` epochs.

    Parameters
    ----------
    patience : int, >= 1
        Number of epochs without improvement after which training stops.
    monitor : {"val_loss", "val_acc", "train_loss", "train_acc"}
        The quantity watched (``val_*`` need ``val_data``); losses must
        decrease, accuracies increase.
    min_delta : float, >= 0
        An improvement must beat the best value by more than this.
    restore_best : bool
        At the end of training, load the weights (parameters and buffers) of
        the best epoch back into the model (default).

    ``fit(..., early_stopping=3)`` is ``EarlyStopping(patience=3)``.
    """

    def __init__(self, patience: int = 5, monitor: str = "val_loss", min_delta: float = 0.0,
                 restore_best: bool = True):
        self.patience = as_positive_int(patience, "patience")
        self.monitor = _check_monitor(monitor, "monitor")
        self.min_delta = as_real(min_delta, "min_delta", low=0.0)
        if not isinstance(restore_best, bool):
            raise TypeError(f"restore_best must be True or False, got {restore_best!r}")
        self.restore_best = restore_best

    def __repr__(self):
        return (f"EarlyStopping(patience={self.patience}, monitor={self.monitor!r}, "
                f"min_delta={self.min_delta}, restore_best={self.restore_best})")


class Checkpoint:
    """Save the model (and optimizer, epoch, history) during :func:`fit`.

    Parameters
    ----------
    path : str or os.PathLike
        File written by :func:`companion.nn.checkpoint.save_checkpoint`
        (overwritten at each save).
    save : {"best", "last"}
        ``"best"``: after every epoch whose ``monitor`` value improves;
        ``"last"``: after every epoch.
    monitor : str, optional
        For ``"best"``: ``"val_loss"`` (default with ``val_data``),
        ``"train_loss"`` (default without), ``"val_acc"`` or ``"train_acc"``.

    ``fit(..., checkpoint=path)`` is ``Checkpoint(path, save="best")`` when
    ``val_data`` is given and ``Checkpoint(path, save="last")`` otherwise.
    """

    def __init__(self, path, save: str = "best", monitor: str | None = None):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        if save not in ("best", "last"):
            raise ValueError(f"save must be 'best' or 'last', got {save!r}")
        self.path = path
        self.save = save
        self.monitor = None if monitor is None else _check_monitor(monitor, "monitor")

    def __repr__(self):
        return f"Checkpoint({os.fspath(self.path)!r}, save={self.save!r}, monitor={self.monitor!r})"


# --------------------------------------------------------------------------- validation
def _check_model(model) -> None:
    missing = [m for m in _MODEL_METHODS if not callable(getattr(model, m, None))]
    if missing or not hasattr(model, "training"):
        what = ", ".join(missing + ([] if hasattr(model, "training") else ["training"]))
        raise TypeError(f"model must provide forward, backward, train, eval, training, "
                        f"trainable_params, trainable_grads, state_dict and load_state_dict "
                        f"(a companion.nn.sequential.Sequential); {type(model).__name__} lacks {what}")


def _labels_of(y):
    return y[0] if isinstance(y, tuple) else y


def _check_pair(data, name: str):
    """``(x, y)`` validated: x an array of examples, y labels or a tuple led by labels."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (x, y) of inputs and targets, "
                        f"got {type(data).__name__}")
    x = as_examples(data[0], f"{name}[0] (the inputs)")
    y = as_targets(data[1], x.shape[0], f"{name}[1] (the targets)")
    if y is None:
        raise TypeError(f"{name}[1] (the targets) must be labels, got None")
    labels = np.asarray(_labels_of(y))
    where = f"{name}[1][0]" if isinstance(y, tuple) else f"{name}[1]"
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise TypeError(f"{where} must be integer class labels of shape (N,), got "
                        f"{labels.dtype} of shape {labels.shape}")
    if labels.min() < 0:
        raise ValueError(f"{where} must hold class labels >= 0, got {labels.min()}")
    return x, y


def _resolve_loss(loss, name: str = "loss"):
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"{name} must be one of {sorted(LOSSES)} or a callable "
                             f"(logits, y) -> (value, grad), got {loss!r}")
        return LOSSES[loss]
    if not callable(loss):
        raise TypeError(f"{name} must be a loss name or a callable (logits, y) -> (value, grad), "
                        f"got {type(loss).__name__}")
    return loss


def _call_loss(loss_fn, logits, yb, where: str):
    result = loss_fn(logits, yb)
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"loss must return a pair (value, grad), got {type(result).__name__}")
    value, grad = result
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"loss must return a number as its value, got {value!r}") from None
    if not math.isfinite(value):
        raise FloatingPointError(f"the loss is {value} {where}: training diverged "
                                 "(lower the learning rate, or clip the gradients)")
    return value, grad


def _first_nonfinite(arrays: dict):
    for key, arr in arrays.items():
        if not np.all(np.isfinite(arr)):
            return key
    return None


# --------------------------------------------------------------------------- evaluation
def _batch_size(value, name: str = "batch_size") -> int:
    return as_positive_int(value, name)


def evaluate(model, x, y, *, batch_size: int = 256, loss="cross_entropy") -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(x, y)``, in evaluation mode.

    Parameters
    ----------
    model : Sequential-like
        Put in evaluation mode for the passes (dropout off, batch norm on
        running statistics); its previous mode is restored afterwards.
    x : array_like, shape ``(N, ...)``
    y : array_like of int ``(N,)``, or a tuple of arrays led by the labels
    batch_size : int, >= 1
        Examples per forward pass (memory, not the result).
    loss : "cross_entropy" or callable ``(logits, y) -> (value, grad)``

    Returns
    -------
    loss : float
        :math:`\\frac1N \\sum_b B_b\\, L_b`: the mean over the examples (batch
        means weighted by batch size), the same for every ``batch_size``.
    acc : float
        Fraction of examples whose largest logit is the label.
    """
    _check_model(model)
    x, y = _check_pair((x, y), "(x, y)")
    batch_size = _batch_size(batch_size)
    loss_fn = _resolve_loss(loss)
    was_training = bool(model.training)
    model.eval()
    total_loss = 0.0
    correct = 0.0
    n = x.shape[0]
    try:
        for xb, yb in minibatches(x, y, batch_size, shuffle=False):
            logits = model.forward(xb)
            value, _ = _call_loss(loss_fn, logits, yb, "in evaluate")
            b = xb.shape[0]
            total_loss += value * b
            correct += accuracy(logits, _labels_of(yb)) * b
    finally:
        model.train(was_training)
    return total_loss / n, correct / n


def predict(model, x, batch_size: int = 256) -> np.ndarray:
    """The model's outputs (logits) for ``x``, in evaluation mode, batch by batch.

    Parameters
    ----------
    model : Sequential-like
        Its previous mode is restored afterwards.
    x : array_like, shape ``(N, ...)``
    batch_size : int, >= 1

    Returns
    -------
    ndarray, shape ``(N, C)``
    """
    _check_model(model)
    x = as_examples(x, "x")
    batch_size = _batch_size(batch_size)
    was_training = bool(model.training)
    model.eval()
    try:
        outs = [np.asarray(model.forward(xb)) for xb, _ in
                minibatches(x, None, batch_size, shuffle=False)]
    finally:
        model.train(was_training)
    return np.concatenate(outs, axis=0)


# --------------------------------------------------------------------------- training
def _lr_from(schedule, t: int, unit: str) -> float:
    value = schedule(t)
    try:
        return as_real(value, f"schedule({t}) (the learning rate at {unit} {t})", low=0.0)
    except TypeError:
        raise TypeError(f"schedule({t}) must return a number, got {value!r}") from None


def _as_early_stopping(value, has_val: bool):
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = EarlyStopping(patience=value)
    if not isinstance(value, EarlyStopping):
        raise TypeError(f"early_stopping must be None, a patience (int) or an EarlyStopping, "
                        f"got {value!r}")
    if value.monitor.startswith("val_") and not has_val:
        raise ValueError(f"early_stopping monitors {value.monitor!r}, which needs val_data")
    return value


def _as_checkpoint(value, has_val: bool):
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        value = Checkpoint(value, save="best" if has_val else "last")
    if not isinstance(value, Checkpoint):
        raise TypeError(f"checkpoint must be None, a path or a Checkpoint, got {value!r}")
    monitor = value.monitor or ("val_loss" if has_val else "train_loss")
    if value.save == "best" and monitor.startswith("val_") and not has_val:
        raise ValueError(f"checkpoint monitors {monitor!r}, which needs val_data")
    return Checkpoint(value.path, value.save, monitor)


def _as_callbacks(callbacks):
    if callbacks is None:
        return []
    if callable(callbacks):
        return [callbacks]
    try:
        items = list(callbacks)
    except TypeError:
        raise TypeError(f"callbacks must be a callable or a list of callables, "
                        f"got {callbacks!r}") from None
    for i, cb in enumerate(items):
        if not callable(cb):
            raise TypeError(f"callbacks[{i}] must be a callable (epoch, logs), got {cb!r}")
    return items


def _save(checkpoint: Checkpoint, model, optimizer, epoch: int, history: History) -> None:
    try:
        from companion.nn import save_checkpoint
    except ImportError as exc:  # pragma: no cover - the module ships with the package
        raise ImportError("checkpoint= needs companion.nn.checkpoint.save_checkpoint") from exc
    save_checkpoint(checkpoint.path, model, optimizer=optimizer, epoch=epoch,
                    history=history.to_dict())


def fit(model, train_data, *, optimizer, epochs: int, loss="cross_entropy",
        batch_size: int = 64, val_data=None, schedule=None, schedule_unit: str = "step",
        rng=None, augment=None, clip_norm: float | None = None, l2: float = 0.0,
        early_stopping=None, checkpoint=None, progress="auto", callbacks=None,
        eval_batch_size: int = 256, val_loss=None) -> History:
    """Train ``model`` on ``train_data`` with mini-batch gradient descent.

    Parameters
    ----------
    model : Sequential-like
        See the module docstring. Trained in place.
    train_data : (x, y)
        Inputs ``(N, ...)`` (finite; the model's dtype) and integer labels
        ``(N,)`` or a tuple of target arrays led by the labels.
    optimizer : companion.optim.Optimizer
        Anything with ``step(params, grads)`` and an ``lr`` attribute.
    epochs : int, >= 1
        Passes over the training set (fewer with early stopping).
    loss : "cross_entropy" or callable ``(logits, y) -> (value, grad)``
        ``value`` the mean loss of the batch, ``grad`` its gradient with respect
        to the logits (the convention of :mod:`companion.functional.losses`).
    batch_size : int, >= 1
        Examples per step; the last batch of an epoch may be smaller.
    val_data : (x, y), optional
        Evaluated after every epoch (:func:`evaluate`).
    schedule : callable ``t -> lr``, optional
        Sets ``optimizer.lr``; see ``schedule_unit``. Without it the
        optimizer's own ``lr`` is used throughout.
    schedule_unit : {"step", "epoch"}
        ``t`` counts optimizer steps from 0 (set before every step), or epochs
        from 0 (set before each epoch).
    rng : numpy.random.Generator, int or None
        The order of the examples in every epoch and the augmentations. The
        same seed (and the same initial model and optimizer) reproduces a run
        bit for bit. ``None``: unseeded.
    augment : callable ``(xb, rng) -> xb``, optional
        Applied to every training batch (e.g. :class:`companion.data.Compose`).
    clip_norm : float, > 0, optional
        Rescale the gradients so that their global L2 norm is at most this.
    l2 : float, >= 0
        Add :math:`\\tfrac{\\lambda}{2}\\lVert w\\rVert^2` over the weights (not
        the biases) to the objective, i.e. :math:`\\lambda w` to their gradients.
    early_stopping : int, EarlyStopping or None
        Patience, or an :class:`EarlyStopping`. With ``restore_best`` the best
        epoch's weights are loaded back at the end.
    checkpoint : path, Checkpoint or None
        Save with :func:`companion.nn.checkpoint.save_checkpoint` (see :class:`Checkpoint`).
    progress : {"auto", True, False}
        One progress bar over all steps (:class:`companion._progress.ProgressBar`,
        labelled with the epoch, showing the running loss and accuracy): on a
        terminal's stderr, or in Jupyter a display emptied when ``fit``
        returns (or raises); never anything in stored notebook outputs.
    callbacks : callable or list of callables, optional
        Each called after every epoch as ``callback(epoch, logs)`` with the
        1-based epoch and a dict (``train_loss``, ``train_acc``, ``val_loss``,
        ``val_acc`` (``None`` without validation data), ``lr``); returning
        ``True`` stops training after this epoch.
    eval_batch_size : int, >= 1
        Batch size of the validation passes.
    val_loss : "cross_entropy", callable or None
        The loss of the validation passes. ``None``: the training ``loss``,
        except when the training targets are a tuple (e.g.
        :class:`companion.train.distillation.DistillationTargets`) and the validation
        targets plain labels: then cross-entropy on the labels, so that a
        distilled student is validated as any classifier, ``val_data=(x, labels)``.

    Returns
    -------
    History

    Raises
    ------
    FloatingPointError
        Training diverged: a non-finite loss, logit, gradient or parameter,
        naming the epoch and step.
    TypeError, ValueError
        Bad arguments, naming them.
    """
    _check_model(model)
    x, y = _check_pair(train_data, "train_data")
    val = None if val_data is None else _check_pair(val_data, "val_data")
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError(f"optimizer must have a step(params, grads) method, "
                        f"got {type(optimizer).__name__}")
    epochs = as_positive_int(epochs, "epochs")
    loss_fn = _resolve_loss(loss)
    batch_size = _batch_size(batch_size)
    eval_batch_size = _batch_size(eval_batch_size, "eval_batch_size")
    if schedule is not None and not callable(schedule):
        raise TypeError(f"schedule must be a callable t -> learning rate, got {schedule!r}")
    if schedule_unit not in ("step", "epoch"):
        raise ValueError(f"schedule_unit must be 'step' or 'epoch', got {schedule_unit!r}")
    if not hasattr(optimizer, "lr"):
        raise TypeError(f"optimizer must have an lr attribute (the learning rate), "
                        f"got {type(optimizer).__name__}")
    rng = as_generator(rng)
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be a callable (xb, rng) -> xb, got {augment!r}")
    if clip_norm is not None:
        clip_norm = as_real(clip_norm, "clip_norm", low=0.0, low_open=True)
    l2 = as_real(l2, "l2", low=0.0)
    if val is None:
        val_loss_fn = None
    elif val_loss is not None:
        val_loss_fn = _resolve_loss(val_loss, "val_loss")
    elif isinstance(y, tuple) and not isinstance(val[1], tuple):
        val_loss_fn = LOSSES["cross_entropy"]
    else:
        val_loss_fn = loss_fn
    stopper = _as_early_stopping(early_stopping, val is not None)
    ckpt = _as_checkpoint(checkpoint, val is not None)
    cbs = _as_callbacks(callbacks)
    progress_mode(progress)  # validates the argument before any work

    history = History()
    stop_best = _Best(stopper.monitor, stopper.min_delta) if stopper else None
    ckpt_best = _Best(ckpt.monitor) if ckpt and ckpt.save == "best" else None
    best_state = None
    waited = 0
    step = 0
    n = x.shape[0]
    steps_per_epoch = num_batches(n, batch_size)
    was_training = bool(model.training)
    bar = ProgressBar(total=epochs * steps_per_epoch, desc=f"epoch 1/{epochs}", progress=progress)
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            bar.desc = f"epoch {epoch}/{epochs}"
            model.train()
            if schedule is not None and schedule_unit == "epoch":
                optimizer.lr = _lr_from(schedule, epoch - 1, "epoch")
            sum_loss = 0.0
            sum_correct = 0.0
            seen = 0
            for i, (xb, yb) in enumerate(minibatches(x, y, batch_size, shuffle=True, rng=rng),
                                         start=1):
                where = f"at epoch {epoch}, step {i} of {steps_per_epoch}"
                if augment is not None:
                    xb = augment(xb, rng)
                if schedule is not None and schedule_unit == "step":
                    optimizer.lr = _lr_from(schedule, step, "step")
                lr = float(optimizer.lr)
                # Overflow shows up as inf/NaN, which _train_step checks and reports as a
                # FloatingPointError naming the step: no RuntimeWarning on stderr.
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    value, correct = _train_step(model, optimizer, loss_fn, xb, yb, l2,
                                                 clip_norm, where)
                b = xb.shape[0]
                sum_loss += value * b
                sum_correct += correct
                seen += b
                step += 1
                history.step_loss.append(value)
                history.step_lr.append(lr)
                if i == 1:
                    history.lr.append(lr)
                bar.update(1, loss=sum_loss / seen, acc=sum_correct / seen)
            history.train_loss.append(sum_loss / seen)
            history.train_acc.append(sum_correct / seen)
            logs = {"train_loss": history.train_loss[-1], "train_acc": history.train_acc[-1],
                    "val_loss": None, "val_acc": None, "lr": history.lr[-1]}
            if val is not None:
                vl, va = evaluate(model, val[0], val[1], batch_size=eval_batch_size,
                                  loss=val_loss_fn)
                history.val_loss.append(vl)
                history.val_acc.append(va)
                logs.update(val_loss=vl, val_acc=va)
                bar.set_postfix(loss=logs["train_loss"], acc=logs["train_acc"],
                                val_loss=vl, val_acc=va)
            history.epoch_time.append(time.perf_counter() - start)

            stop = False
            if ckpt is not None:
                if ckpt_best is None:
                    _save(ckpt, model, optimizer, epoch, history)
                elif ckpt_best.improved(logs[ckpt.monitor]):
                    ckpt_best.record(logs[ckpt.monitor], epoch)
                    history.best_epoch = epoch
                    _save(ckpt, model, optimizer, epoch, history)
            if stopper is not None:
                if stop_best.improved(logs[stopper.monitor]):
                    stop_best.record(logs[stopper.monitor], epoch)
                    history.best_epoch = epoch
                    waited = 0
                    if stopper.restore_best:
                        best_state = {k: np.array(v, copy=True)
                                      for k, v in model.state_dict().items()}
                else:
                    waited += 1
                    if waited >= stopper.patience:
                        stop = True
            for cb in cbs:
                if cb(epoch, dict(logs)) is True:
                    stop = True
            if stop:
                history.stopped_early = epoch < epochs
                break
        if stopper is not None and stopper.restore_best and best_state is not None:
            model.load_state_dict(best_state)
    finally:
        bar.close()
        model.train(was_training)
    return history


def _guarded(call, what: str, where: str):
    """Run a forward or backward pass; an overflow inside the network (a layer refusing a
    non-finite input) becomes a FloatingPointError naming the step."""
    try:
        return call()
    except ValueError as err:
        if "finite" in str(err):
            raise FloatingPointError(f"non-finite values in the {what} pass {where}: training "
                                     f"diverged (lower the learning rate): {err}") from err
        raise


def _train_step(model, optimizer, loss_fn, xb, yb, l2, clip_norm, where):
    """One forward/backward/update; returns (batch mean loss, number of correct predictions)."""
    logits = _guarded(lambda: model.forward(xb), "forward", where)
    logits_arr = np.asarray(logits)
    if not np.all(np.isfinite(logits_arr)):
        raise FloatingPointError(f"the logits are not finite {where}: training diverged "
                                 "(lower the learning rate, or clip the gradients)")
    value, dlogits = _call_loss(loss_fn, logits_arr, yb, where)
    correct = accuracy(logits_arr, _labels_of(yb)) * xb.shape[0]
    _guarded(lambda: model.backward(dlogits), "backward", where)
    params = model.trainable_params()
    grads = model.trainable_grads()
    bad = _first_nonfinite(grads)
    if bad is not None:
        raise FloatingPointError(f"the gradient of {bad!r} is not finite {where}: training "
                                 "diverged (lower the learning rate, or use clip_norm)")
    if l2:
        _, penalty_grads = l2_penalty(params, l2)
        grads = {k: g + penalty_grads[k] for k, g in grads.items()}
    if clip_norm is not None:
        grads, _ = clip_grad_norm(grads, clip_norm)
    optimizer.step(params, grads)
    bad = _first_nonfinite(params)
    if bad is not None:
        raise FloatingPointError(f"parameter {bad!r} became non-finite after the optimizer "
                                 f"step {where}: lower the learning rate")
    return value, correct
