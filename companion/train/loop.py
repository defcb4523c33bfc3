r"""The training loop: :func:`fit` and its step, :func:`train_step`.

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

Steps 4 to 7 are :func:`train_step`. After each epoch: the validation loss
and metric (:func:`companion.train.evaluate.evaluate`, model in evaluation
mode), then the callbacks (:mod:`companion.train.callbacks`: the history,
checkpoints, early stopping, yours), each called the same way.

The model
---------
Anything with ``forward(x) -> logits``, ``backward(dlogits)`` (or
``backward_params(dlogits)``, used when present: gradients of the
parameters only), ``train()`` /
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

Targets and metric
------------------
``train_data`` and ``val_data`` are pairs ``(x, y)``. ``y`` is one array, or a
tuple of arrays whose **first** element is the labels (e.g.
:class:`companion.train.distillation.DistillationTargets`): the batches of all
of them are cut together and passed to the loss as they are. ``metric(logits,
labels)`` (:func:`~companion.train.metrics.accuracy` by default,
:func:`~companion.train.metrics.pixel_accuracy` for segmentation) gives
``train_acc`` and ``val_acc``; ``metric=None`` records losses only.

Divergence
----------
A non-finite loss, logits, layer input, gradient or parameter stops training
with a :class:`~companion._validate.NonFiniteError` (a ``ValueError`` and a
``FloatingPointError``) that names the epoch and the step (and the array), so
a learning rate that is too large fails loudly instead of training on NaN.

Nothing is printed: the optional progress bar (:class:`companion._progress.ProgressBar`)
never leaves anything in a stored notebook, and epoch times are kept in
``History.epoch_time``, out of the history's ``repr``.
"""
from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from companion._progress import ProgressBar, progress_mode
from companion._validate import (
    NonFiniteError,
    all_finite,
    as_data_pair,
    as_generator,
    as_positive_int,
    as_real,
    check_model,
)
from companion.data import minibatches, num_batches
from companion.optim import clip_grad_norm, l2_penalty
from companion.train.callbacks import (
    Callback,
    Checkpoint,
    DeadReLUMonitor,
    EarlyStopping,
    History,
    LambdaCallback,
    TrainingRun,
)
from companion.train.evaluate import (
    as_metric,
    checked_loss,
    evaluate,
    labels_of,
    needs_labels,
    resolve_loss,
)
from companion.train.metrics import accuracy

__all__ = ["fit", "train_step"]


# --------------------------------------------------------------------------- one step
def _first_nonfinite(arrays: dict):
    return next((key for key, arr in arrays.items() if not all_finite(np.asarray(arr))),
                None)


def train_step(model, optimizer, loss, xb, yb, *, l2: float = 0.0, clip_norm=None,
               metric=accuracy, where: str = "in train_step"):
    """One forward/backward/update on the batch ``(xb, yb)``, with divergence checks.

    ``loss`` is a loss name or a callable ``(logits, yb) -> (value, grad)``;
    ``l2`` adds :math:`\\lambda w` to the weights' gradients, ``clip_norm``
    clips their global norm; ``where`` ends the error messages. Returns the
    batch's mean loss and ``metric(logits, labels)`` (``None`` without metric).
    Raises :class:`~companion._validate.NonFiniteError` for non-finite values.
    """
    loss_fn = resolve_loss(loss)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # checked below
        try:
            logits = np.asarray(model.forward(xb))
        except NonFiniteError as err:  # a layer refused an overflowed input
            what = f"non-finite values in the forward pass {where}"
            raise _diverged(what, err) from err
        if not all_finite(logits):
            raise _diverged(f"the logits are not finite {where}")
        value, dlogits = checked_loss(loss_fn, logits, yb, where)
        score = None if metric is None else metric(logits, labels_of(yb))
        try:
            # no gradient of the images is needed: backward_params skips the first
            # layer's input gradient (a model without it runs backward)
            getattr(model, "backward_params", model.backward)(dlogits)
        except NonFiniteError as err:
            what = f"non-finite values in the backward pass {where}"
            raise _diverged(what, err) from err
        params, grads = model.trainable_params(), model.trainable_grads()
        bad = _first_nonfinite(grads)
        if bad is not None:
            raise _diverged(f"the gradient of {bad!r} is not finite {where}")
        if l2:
            _, penalty_grads = l2_penalty(params, l2)
            grads = {k: g + penalty_grads[k] for k, g in grads.items()}
        if clip_norm is not None:
            grads, _ = clip_grad_norm(grads, clip_norm)
        optimizer.step(params, grads)
        bad = _first_nonfinite(params)
        if bad is not None:
            raise _diverged(f"parameter {bad!r} became non-finite after the optimizer "
                            f"step {where}")
    return value, score


def _diverged(what: str, cause=None) -> NonFiniteError:
    """The error of a step that produced NaN or infinity, with what to try."""
    detail = f": {cause}" if cause is not None else ""
    return NonFiniteError(f"{what}: training diverged (lower the learning rate, "
                          f"or clip the gradients with clip_norm){detail}")


# --------------------------------------------------------------------------- arguments
@dataclass
class _Plan:
    """The validated arguments of one :func:`fit` call."""

    x: Any
    y: Any
    val: Any
    loss_fn: Any
    val_loss_fn: Any
    metric: Any
    batch_size: int
    eval_batch_size: int
    schedule: Any
    schedule_unit: str
    rng: np.random.Generator
    augment: Any
    clip_norm: float | None
    l2: float


def _plan(model, train_data, optimizer, loss, metric, batch_size, val_data, schedule,
          schedule_unit, rng, augment, clip_norm, l2, eval_batch_size, val_loss) -> _Plan:
    check_model(model)
    x, y = as_data_pair(train_data, "train_data", labels=needs_labels(loss))
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError(f"optimizer must have a step(params, grads) method, "
                        f"got {type(optimizer).__name__}")
    if not hasattr(optimizer, "lr"):
        raise TypeError(f"optimizer must have an lr attribute (the learning rate), "
                        f"got {type(optimizer).__name__}")
    loss_fn = resolve_loss(loss)
    val, val_loss_fn = None, None
    if val_data is not None:
        if val_loss is None and isinstance(y, tuple) and not (
                isinstance(val_data, (tuple, list)) and len(val_data) == 2
                and isinstance(val_data[1], tuple)):
            val_loss = "cross_entropy"      # a distilled student, validated on labels
        spec = loss if val_loss is None else val_loss
        val = as_data_pair(val_data, "val_data", labels=needs_labels(spec))
        val_loss_fn = resolve_loss(spec, "loss" if val_loss is None else "val_loss")
    if schedule is not None and not callable(schedule):
        raise TypeError(f"schedule must be a callable t -> learning rate, got {schedule!r}")
    if schedule_unit not in ("step", "epoch"):
        raise ValueError(f"schedule_unit must be 'step' or 'epoch', got {schedule_unit!r}")
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be a callable (xb, rng) -> xb, got {augment!r}")
    if clip_norm is not None:
        clip_norm = as_real(clip_norm, "clip_norm", low=0.0, low_open=True)
    return _Plan(x, y, val, loss_fn, val_loss_fn, as_metric(metric),
                 as_positive_int(batch_size, "batch_size"),
                 as_positive_int(eval_batch_size, "eval_batch_size"), schedule, schedule_unit,
                 as_generator(rng), augment, clip_norm, as_real(l2, "l2", low=0.0))


def _callbacks(early_stopping, checkpoint, callbacks, has_val: bool) -> list[Callback]:
    """``early_stopping=`` and ``checkpoint=`` as callbacks, then those of ``callbacks``."""
    out = []
    if checkpoint is not None:
        if isinstance(checkpoint, (str, os.PathLike)):
            checkpoint = Checkpoint(checkpoint, save="best" if has_val else "last")
        if not isinstance(checkpoint, Checkpoint):
            raise TypeError(f"checkpoint must be None, a path or a Checkpoint, got {checkpoint!r}")
        out.append(checkpoint)
    if early_stopping is not None:
        if isinstance(early_stopping, numbers.Integral) and not isinstance(early_stopping, bool):
            early_stopping = EarlyStopping(patience=early_stopping)
        if not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"early_stopping must be None, a patience (int) or an "
                            f"EarlyStopping, got {early_stopping!r}")
        out.append(early_stopping)
    if callbacks is None:
        return out
    items = [callbacks] if callable(callbacks) or isinstance(callbacks, Callback) else callbacks
    try:
        items = list(items)
    except TypeError:
        raise TypeError(f"callbacks must be a Callback, a callable or a list of them, "
                        f"got {callbacks!r}") from None
    for i, cb in enumerate(items):
        if isinstance(cb, Callback):
            out.append(cb)
        elif callable(cb):
            out.append(LambdaCallback(cb))
        else:
            raise TypeError(f"callbacks[{i}] must be a Callback or a callable (epoch, logs), "
                            f"got {cb!r}")
    return out


# --------------------------------------------------------------------------- one epoch
def _lr_from(schedule, t: int, unit: str) -> float:
    value = schedule(t)
    try:
        return as_real(value, f"schedule({t}) (the learning rate at {unit} {t})", low=0.0)
    except TypeError:
        raise TypeError(f"schedule({t}) must return a number, got {value!r}") from None


def _train_epoch(model, optimizer, plan: _Plan, epoch: int, step: int, callbacks, bar):
    """The epoch's steps; returns ``(logs, step)``: mean loss and metric, and the steps taken."""
    if plan.schedule is not None and plan.schedule_unit == "epoch":
        optimizer.lr = _lr_from(plan.schedule, epoch - 1, "epoch")
    total = num_batches(plan.x.shape[0], plan.batch_size)
    sum_loss, sum_metric, seen, first_lr = 0.0, 0.0, 0, None
    batches = minibatches(plan.x, plan.y, plan.batch_size, shuffle=True, rng=plan.rng)
    for i, (xb, yb) in enumerate(batches, start=1):
        if plan.augment is not None:
            xb = plan.augment(xb, plan.rng)
        if plan.schedule is not None and plan.schedule_unit == "step":
            optimizer.lr = _lr_from(plan.schedule, step, "step")
        lr = float(optimizer.lr)
        first_lr = lr if first_lr is None else first_lr
        value, score = train_step(model, optimizer, plan.loss_fn, xb, yb, l2=plan.l2,
                                  clip_norm=plan.clip_norm, metric=plan.metric,
                                  where=f"at epoch {epoch}, step {i} of {total}")
        b = xb.shape[0]
        sum_loss, seen, step = sum_loss + value * b, seen + b, step + 1
        if score is not None:
            sum_metric += score * b
        for cb in callbacks:
            cb.on_batch_end(step, {"loss": value, "lr": lr, "size": b})
        acc = None if plan.metric is None else sum_metric / seen
        bar.update(1, **_shown(loss=sum_loss / seen, acc=acc))
    logs = {"train_loss": sum_loss / seen,
            "train_acc": None if plan.metric is None else sum_metric / seen,
            "val_loss": None, "val_acc": None, "lr": first_lr}
    return logs, step


def _validation_pass(model, plan: _Plan, logs: dict, bar) -> None:
    """The validation loss and metric into ``logs`` (and onto the progress bar)."""
    logs["val_loss"], logs["val_acc"] = evaluate(
        model, *plan.val, batch_size=plan.eval_batch_size, loss=plan.val_loss_fn,
        metric=plan.metric)
    bar.set_postfix(**_shown(loss=logs["train_loss"], acc=logs["train_acc"],
                             val_loss=logs["val_loss"], val_acc=logs["val_acc"]))


def _shown(**values) -> dict:
    """The progress bar's values, without those that are ``None`` (no metric)."""
    return {key: value for key, value in values.items() if value is not None}


# --------------------------------------------------------------------------- fit
def fit(model, train_data, *, optimizer, epochs: int, loss="cross_entropy", metric=accuracy,
        batch_size: int = 64, val_data=None, schedule=None, schedule_unit: str = "step",
        rng=None, augment=None, clip_norm: float | None = None, l2: float = 0.0,
        early_stopping=None, checkpoint=None, progress="auto", callbacks=None,
        eval_batch_size: int = 256, val_loss=None) -> History:
    """Train ``model`` on ``train_data`` with mini-batch gradient descent (module docstring).

    Parameters
    ----------
    model : Sequential-like
        Trained in place; left in the mode it had.
    train_data, val_data : (x, y)
        Inputs ``(N, ...)`` and targets (integer labels ``(N,)`` for
        ``"cross_entropy"``); ``val_data`` is evaluated after every epoch.
    optimizer : companion.optim.Optimizer
        Anything with ``step(params, grads)`` and an ``lr`` attribute.
    epochs : int, >= 1
        Passes over the training set (fewer if a callback stops training).
    loss, val_loss
        A name of :data:`companion.train.evaluate.LOSSES` or a callable
        ``(logits, y) -> (value, grad)``. ``val_loss=None``: ``loss``, or
        cross-entropy for tuple training targets (distillation) and plain
        validation labels.
    metric : callable ``(logits, labels) -> float`` or None
        ``train_acc``/``val_acc``: ``accuracy`` (default), ``pixel_accuracy``, ...
    batch_size, eval_batch_size : int >= 1: examples per step, per validation pass
    schedule : callable ``t -> lr``, optional; schedule_unit : {"step", "epoch"}
    rng : numpy.random.Generator, int or None
        Order of the examples and augmentations: a seed reproduces a run bit for bit.
    augment : callable ``(xb, rng) -> xb``, optional: applied to every training batch
    clip_norm : float > 0, optional; l2 : float >= 0
        Global gradient-norm clipping; L2 penalty on the weights (:math:`\\lambda w`).
    early_stopping : int, EarlyStopping or None; checkpoint : path, Checkpoint or None
        Shorthands adding an ``EarlyStopping(patience)`` or a ``Checkpoint``
        ("best" with ``val_data``, else "last") before ``callbacks``.
    progress : {"auto", True, False}: a progress bar never left in stored notebook outputs
    callbacks : Callback, callable or list of them, optional
        :mod:`companion.train.callbacks`; a function ``(epoch, logs) -> stop``
        becomes a :class:`~companion.train.callbacks.LambdaCallback`.

    Returns ``History`` (``dead_relus``: the ReLU layers dead for a whole epoch,
    each warned once by :class:`~companion.train.callbacks.DeadReLUMonitor`).
    Raises :class:`~companion._validate.NonFiniteError` (also a ``FloatingPointError``)
    when training diverges, naming the epoch, step and array; ``TypeError`` or
    ``ValueError`` for bad arguments, naming them.
    """
    plan = _plan(model, train_data, optimizer, loss, metric, batch_size, val_data, schedule,
                 schedule_unit, rng, augment, clip_norm, l2, eval_batch_size, val_loss)
    epochs = as_positive_int(epochs, "epochs")
    history = History()
    callbacks = [history, DeadReLUMonitor(),
                 *_callbacks(early_stopping, checkpoint, callbacks, plan.val is not None)]
    progress_mode(progress)  # validates the argument before any work
    run = TrainingRun(model, optimizer, history, epochs, plan.val is not None,
                      plan.metric is not None)
    for cb in callbacks:
        cb.on_train_begin(run)
    steps = num_batches(plan.x.shape[0], plan.batch_size)
    bar = ProgressBar(total=epochs * steps, desc=f"epoch 1/{epochs}", progress=progress)
    was_training, step = bool(model.training), 0
    try:
        for epoch in range(1, epochs + 1):
            bar.desc = f"epoch {epoch}/{epochs}"
            model.train()
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            logs, step = _train_epoch(model, optimizer, plan, epoch, step, callbacks, bar)
            if plan.val is not None:
                _validation_pass(model, plan, logs, bar)
            stops = [cb.on_epoch_end(epoch, dict(logs)) for cb in callbacks]
            if any(stop is True for stop in stops):
                history.stopped_early = epoch < epochs
                break
        for cb in callbacks:
            cb.on_train_end()
    finally:
        bar.close()
        model.train(was_training)
    return history
