"""Callbacks of :func:`companion.train.loop.fit`: :class:`History`, :class:`EarlyStopping`,
:class:`Checkpoint`, :class:`DeadReLUMonitor`, :class:`LambdaCallback`.

A callback is an object with five hooks, all optional (:class:`Callback` does
nothing in each), which ``fit`` calls on every callback in turn, in the order
of the list, as Keras and Lightning do::

    on_train_begin(run)          # run: the model, optimizer, history, ... (TrainingRun)
    on_epoch_begin(epoch)        # 1-based
    on_batch_end(step, logs)     # after each optimizer step: logs["loss"], ["lr"], ["size"]
    on_epoch_end(epoch, logs)    # after validation; True stops training after this epoch
    on_train_end()               # after the last epoch (not when training raised)

The epoch ``logs`` hold ``train_loss``, ``train_acc``, ``val_loss``,
``val_acc`` (``None`` without validation data or without metric) and ``lr``.
``fit`` always runs its :class:`History` first and a :class:`DeadReLUMonitor`
second; ``early_stopping=`` and ``checkpoint=`` add an :class:`EarlyStopping`
and a :class:`Checkpoint` before the ``callbacks=`` of the call. A callback
keeps no state from one ``fit`` to the next: ``on_train_begin`` resets it.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from companion._validate import as_positive_int, as_real
from companion.nn import ReLU, save_checkpoint

__all__ = ["Callback", "TrainingRun", "History", "EarlyStopping", "Checkpoint",
           "DeadReLUMonitor", "LambdaCallback", "MONITORS"]

MONITORS = {"val_loss": "min", "val_acc": "max", "train_loss": "min", "train_acc": "max"}
"""Quantities :class:`EarlyStopping` and :class:`Checkpoint` may watch, and their direction."""


@dataclass
class TrainingRun:
    """What a callback may use during one :func:`~companion.train.loop.fit` call."""

    model: Any
    optimizer: Any
    history: "History"
    epochs: int
    has_val: bool
    has_metric: bool


class Callback:
    """Base class: every hook does nothing; ``on_train_begin`` keeps ``run``."""

    run: TrainingRun | None = None

    def on_train_begin(self, run: TrainingRun) -> None:
        self.run = run

    def on_epoch_begin(self, epoch: int) -> None:
        pass

    def on_batch_end(self, step: int, logs: dict) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        return False

    def on_train_end(self) -> None:
        pass


def _check_monitor(monitor, name: str = "monitor") -> str:
    if not isinstance(monitor, str) or monitor not in MONITORS:
        raise ValueError(f"{name} must be one of {sorted(MONITORS)}, got {monitor!r}")
    return monitor


def _check_available(monitor: str, run: TrainingRun, who: str) -> None:
    if monitor.startswith("val_") and not run.has_val:
        raise ValueError(f"{who} monitors {monitor!r}, which needs val_data")
    if monitor.endswith("_acc") and not run.has_metric:
        raise ValueError(f"{who} monitors {monitor!r}, which needs a metric (metric=None)")


def _improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


@dataclass(repr=False)
class History(Callback):
    """What :func:`~companion.train.loop.fit` measured, one entry per epoch (index 0 = epoch 1).

    Attributes
    ----------
    train_loss : list of float
        Mean training loss of the epoch's batches, weighted by batch size, in
        training mode on the (augmented) training batches, as the steps saw
        them. The data loss only (no L2 penalty), so it compares with ``val_loss``.
    train_acc : list of float
        The metric (accuracy by default) of the same forward passes; empty
        with ``metric=None``.
    val_loss, val_acc : list of float
        :func:`~companion.train.evaluate.evaluate` on ``val_data`` after the
        epoch (empty without it; ``val_acc`` also without metric).
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
    dead_relus : dict
        ReLU layer name -> first epoch in which it output only zeros
        (:class:`DeadReLUMonitor`; not in the ``repr``).
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
    dead_relus: dict = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    def on_epoch_begin(self, epoch: int) -> None:
        self._start = time.perf_counter()
        self._first_step = True

    def on_batch_end(self, step: int, logs: dict) -> None:
        self.step_loss.append(logs["loss"])
        self.step_lr.append(logs["lr"])
        if self._first_step:
            self.lr.append(logs["lr"])
            self._first_step = False

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        self.train_loss.append(logs["train_loss"])
        for key in ("train_acc", "val_loss", "val_acc"):
            if logs[key] is not None:
                getattr(self, key).append(logs[key])
        self.epoch_time.append(time.perf_counter() - self._start)
        return False

    def to_dict(self, include_times: bool = False) -> dict:
        """Plain dict of lists (and ``best_epoch``, ``stopped_early``, ``dead_relus``);
        times only on request."""
        keys = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "step_loss",
                "step_lr") + (("epoch_time",) if include_times else ())
        d = {key: list(getattr(self, key)) for key in keys}
        d.update(best_epoch=self.best_epoch, stopped_early=self.stopped_early,
                 dead_relus=dict(self.dead_relus))
        return d

    def _columns(self) -> list[tuple[str, list, str]]:
        cols = [("train_loss", self.train_loss, ".4f"), ("train_acc", self.train_acc, ".4f"),
                ("val_loss", self.val_loss, ".4f"), ("val_acc", self.val_acc, ".4f")]
        return [c for c in cols if c[1]] + [("lr", self.lr, ".4g")]

    def table(self) -> str:
        """A text table, one row per epoch (no timings): epoch, losses, metrics, lr."""
        cols = self._columns()
        header = ["epoch"] + [name for name, _, _ in cols]
        rows = [[str(e + 1)] + [format(values[e], f) for _, values, f in cols]
                for e in range(self.epochs)]
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        parts = [f"epochs={self.epochs}"]
        parts += [f"{name}=[" + ", ".join(format(v, f) for v in values) + "]"
                  for name, values, f in self._columns()]
        if self.best_epoch is not None:
            parts.append(f"best_epoch={self.best_epoch}")
        if self.stopped_early:
            parts.append("stopped_early=True")
        return "History(" + ", ".join(parts) + ")"


class EarlyStopping(Callback):
    """Stop when a monitored quantity has not improved for ``patience`` epochs.

    Parameters
    ----------
    patience : int, >= 1
        Number of epochs without improvement after which training stops.
    monitor : {"val_loss", "val_acc", "train_loss", "train_acc"}
        The quantity watched (``val_*`` need ``val_data``, ``*_acc`` a metric);
        losses must decrease, accuracies increase.
    min_delta : float, >= 0
        An improvement must beat the best value by more than this.
    restore_best : bool
        At the end of training, load the weights (parameters and buffers) of
        the best epoch back into the model (default).

    ``fit(..., early_stopping=3)`` is ``fit(..., callbacks=[EarlyStopping(patience=3)])``.
    """

    def __init__(self, patience: int = 5, monitor: str = "val_loss", min_delta: float = 0.0,
                 restore_best: bool = True):
        self.patience = as_positive_int(patience, "patience")
        self.monitor = _check_monitor(monitor)
        self.min_delta = as_real(min_delta, "min_delta", low=0.0)
        if not isinstance(restore_best, bool):
            raise TypeError(f"restore_best must be True or False, got {restore_best!r}")
        self.restore_best = restore_best

    def __repr__(self):
        return (f"EarlyStopping(patience={self.patience}, monitor={self.monitor!r}, "
                f"min_delta={self.min_delta}, restore_best={self.restore_best})")

    def on_train_begin(self, run: TrainingRun) -> None:
        _check_available(self.monitor, run, "early_stopping")
        self.run = run
        self.best, self.waited, self.best_state = None, 0, None

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        value = logs[self.monitor]
        if _improved(value, self.best, MONITORS[self.monitor], self.min_delta):
            self.best, self.waited = value, 0
            self.run.history.best_epoch = epoch
            if self.restore_best:
                self.best_state = {k: np.array(v, copy=True)
                                   for k, v in self.run.model.state_dict().items()}
            return False
        self.waited += 1
        return self.waited >= self.patience

    def on_train_end(self) -> None:
        if self.restore_best and self.best_state is not None:
            self.run.model.load_state_dict(self.best_state)


class Checkpoint(Callback):
    """Save the model (and optimizer, epoch, history) during :func:`~companion.train.loop.fit`.

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

    ``fit(..., checkpoint=path)`` adds ``Checkpoint(path, save="best")`` when
    ``val_data`` is given and ``Checkpoint(path, save="last")`` otherwise.
    """

    def __init__(self, path, save: str = "best", monitor: str | None = None):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        if save not in ("best", "last"):
            raise ValueError(f"save must be 'best' or 'last', got {save!r}")
        self.path = path
        self.save = save
        self.monitor = None if monitor is None else _check_monitor(monitor)

    def __repr__(self):
        return (f"Checkpoint({os.fspath(self.path)!r}, save={self.save!r}, "
                f"monitor={self.monitor!r})")

    def on_train_begin(self, run: TrainingRun) -> None:
        self.watched = self.monitor or ("val_loss" if run.has_val else "train_loss")
        if self.save == "best":
            _check_available(self.watched, run, "checkpoint")
        self.run = run
        self.best = None

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        if self.save == "best":
            value = logs[self.watched]
            if not _improved(value, self.best, MONITORS[self.watched]):
                return False
            self.best = value
            self.run.history.best_epoch = epoch
        save_checkpoint(self.path, self.run.model, optimizer=self.run.optimizer, epoch=epoch,
                        history=self.run.history.to_dict())
        return False


class DeadReLUMonitor(Callback):
    """Warn when a ReLU layer outputs only zeros for a whole epoch.

    After every step it looks at the input the model's top-level
    :class:`companion.nn.ReLU` layers cached in the forward pass; a layer
    none of whose units was positive for any example of the epoch is dead (its
    gradient is zero everywhere: nothing before it learns through it). Each
    dead layer gives one ``RuntimeWarning`` per ``fit`` and an entry in
    ``History.dead_relus`` (layer name -> epoch). ``fit`` always runs one;
    silence the warning with :func:`warnings.catch_warnings`.
    """

    def on_train_begin(self, run: TrainingRun) -> None:
        self.run = run
        pairs = zip(getattr(run.model, "names", ()), getattr(run.model, "layers", ()))
        self.relus = {name: layer for name, layer in pairs if isinstance(layer, ReLU)}

    def on_epoch_begin(self, epoch: int) -> None:
        self.silent = {name for name in self.relus if name not in self.run.history.dead_relus}

    def on_batch_end(self, step: int, logs: dict) -> None:
        for name in list(self.silent):
            cache = self.relus[name].cache
            if cache is not None and np.any(cache.x > 0):
                self.silent.discard(name)

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        for name in sorted(self.silent, key=list(self.relus).index):
            self.run.history.dead_relus[name] = epoch
            warnings.warn(f"ReLU layer {name!r} output only zeros for every example of epoch "
                          f"{epoch}: all its units are dead (lower the learning rate, or "
                          "check the initialization)", RuntimeWarning, stacklevel=2)
        return False


class LambdaCallback(Callback):
    """A function ``(epoch, logs) -> stop`` as a callback's ``on_epoch_end``.

    ``fit(..., callbacks=[f])`` wraps a plain function ``f`` this way;
    returning ``True`` stops training after the epoch.
    """

    def __init__(self, on_epoch_end):
        if not callable(on_epoch_end):
            raise TypeError(f"on_epoch_end must be a callable (epoch, logs), "
                            f"got {on_epoch_end!r}")
        self.function = on_epoch_end

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        return self.function(epoch, dict(logs)) is True
