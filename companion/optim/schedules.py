r"""Learning-rate schedules: callables mapping a step (or epoch) index to a
learning rate.

A schedule is a small object ``s`` with ``s(t) -> float`` for every integer
``t >= 0`` and a readable ``repr``. The training loop sets the optimizer's
plain ``lr`` attribute from it::

    schedule = LinearWarmup(CosineAnnealing(0.1, total_steps=95), warmup_steps=5)
    for t in range(100):
        opt.lr = schedule(t)
        opt.step(params, grads)

Every schedule is a class, named in CamelCase as PyTorch's schedulers are.
Formulas, with :math:`\eta_0` the base learning rate:

* ``Constant(lr)``: :math:`\eta_t = \eta_0`
* ``StepDecay``: :math:`\eta_t = \eta_0\,\gamma^{\lfloor t / s \rfloor}`
* ``ExponentialDecay``: :math:`\eta_t = \eta_0\,\gamma^{t}`
* ``LinearDecay``: :math:`\eta_t = \eta_0 + (\eta_T - \eta_0)\,\min(t, T)/T`
* ``CosineAnnealing``:
  :math:`\eta_t = \eta_{\min}
  + \tfrac12(\eta_0 - \eta_{\min})(1 + \cos(\pi \min(t, T)/T))`
* ``LinearWarmup(s, W, f)``: :math:`\eta_t = s(0)\,(f + (1 - f)\,t/W)` for
  :math:`t < W`, then :math:`s(t - W)`

They follow PyTorch's ``StepLR``, ``ExponentialLR``, ``CosineAnnealingLR``
(closed form, no restarts: it stays at :math:`\eta_{\min}` after :math:`T`) and
``LinearLR`` followed by another scheduler (``SequentialLR``) for the warm-up.
"""
from __future__ import annotations

import math

from companion._validate import (
    as_nonnegative_int,
    as_positive_int,
    as_positive_real,
    as_real,
)

__all__ = ["Schedule", "Constant", "StepDecay", "ExponentialDecay", "LinearDecay",
           "CosineAnnealing", "LinearWarmup"]


def _decay_factor(value, name):
    return as_real(value, name, low=0.0, high=1.0, low_open=True)


class Schedule:
    """Base class: ``__call__`` validates ``t`` and returns ``float(self._lr(t))``.

    Subclasses implement ``_lr(t)`` and list their constructor arguments in
    ``_fields`` (used by ``repr``).
    """

    _fields: tuple[str, ...] = ()

    def __call__(self, t: int) -> float:
        """The learning rate at step (or epoch) ``t``, an integer >= 0."""
        return float(self._lr(as_nonnegative_int(t, "t")))

    def _lr(self, t: int) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    r"""The same learning rate at every step: :math:`\eta_t = \eta_0`.

    Parameters
    ----------
    lr : float, > 0
    """

    _fields = ("lr",)

    def __init__(self, lr: float):
        self.lr = as_positive_real(lr, "lr")

    def _lr(self, t):
        return self.lr


class StepDecay(Schedule):
    r"""Multiply by ``gamma`` every ``step_size`` steps (PyTorch ``StepLR``).

    .. math:: \eta_t = \eta_0\, \gamma^{\lfloor t / s \rfloor}

    Parameters
    ----------
    base_lr : float, > 0
        :math:`\eta_0`.
    step_size : int, >= 1
        :math:`s`, the number of steps between two decays.
    gamma : float in (0, 1]
        :math:`\gamma`, the factor.
    """

    _fields = ("base_lr", "step_size", "gamma")

    def __init__(self, base_lr: float, step_size: int, gamma: float = 0.1):
        self.base_lr = as_positive_real(base_lr, "base_lr")
        self.step_size = as_positive_int(step_size, "step_size")
        self.gamma = _decay_factor(gamma, "gamma")

    def _lr(self, t):
        return self.base_lr * self.gamma ** (t // self.step_size)


class ExponentialDecay(Schedule):
    r"""Multiply by ``gamma`` every step (PyTorch ``ExponentialLR``).

    .. math:: \eta_t = \eta_0\, \gamma^{t}

    Parameters
    ----------
    base_lr : float, > 0
    gamma : float in (0, 1]
    """

    _fields = ("base_lr", "gamma")

    def __init__(self, base_lr: float, gamma: float):
        self.base_lr = as_positive_real(base_lr, "base_lr")
        self.gamma = _decay_factor(gamma, "gamma")

    def _lr(self, t):
        return self.base_lr * self.gamma ** t


class LinearDecay(Schedule):
    r"""Straight line from ``base_lr`` at :math:`t = 0` to ``end_lr`` at
    :math:`t = T`, then flat.

    .. math:: \eta_t = \eta_0 + (\eta_T - \eta_0)\, \frac{\min(t, T)}{T}

    Parameters
    ----------
    base_lr : float, > 0
        :math:`\eta_0`.
    end_lr : float in [0, base_lr]
        :math:`\eta_T`.
    total_steps : int, >= 1
        :math:`T`.
    """

    _fields = ("base_lr", "end_lr", "total_steps")

    def __init__(self, base_lr: float, end_lr: float, total_steps: int):
        self.base_lr = as_positive_real(base_lr, "base_lr")
        self.end_lr = as_real(end_lr, "end_lr", low=0.0, high=self.base_lr)
        self.total_steps = as_positive_int(total_steps, "total_steps")

    def _lr(self, t):
        frac = min(t, self.total_steps) / self.total_steps
        return self.base_lr + (self.end_lr - self.base_lr) * frac


class CosineAnnealing(Schedule):
    r"""Half a cosine from ``base_lr`` down to ``min_lr`` over ``total_steps``, then
    flat.

    .. math::

        \eta_t = \eta_{\min} + \tfrac12\,(\eta_0 - \eta_{\min})
                 \left(1 + \cos\frac{\pi \min(t, T)}{T}\right)

    (PyTorch ``CosineAnnealingLR``'s closed form, without restarts; Loshchilov &
    Hutter, 2017.)

    Parameters
    ----------
    base_lr : float, > 0
        :math:`\eta_0`.
    total_steps : int, >= 1
        :math:`T`.
    min_lr : float in [0, base_lr]
        :math:`\eta_{\min}`.
    """

    _fields = ("base_lr", "total_steps", "min_lr")

    def __init__(self, base_lr: float, total_steps: int, min_lr: float = 0.0):
        self.base_lr = as_positive_real(base_lr, "base_lr")
        self.total_steps = as_positive_int(total_steps, "total_steps")
        self.min_lr = as_real(min_lr, "min_lr", low=0.0, high=self.base_lr)

    def _lr(self, t):
        frac = min(t, self.total_steps) / self.total_steps
        return (self.min_lr
                + 0.5 * (self.base_lr - self.min_lr) * (1.0 + math.cos(math.pi * frac)))


class LinearWarmup(Schedule):
    r"""Linear warm-up for ``warmup_steps`` steps, then ``schedule`` (shifted by
    ``warmup_steps``).

    .. math::

        \eta_t = \begin{cases}
            s(0)\,\left(f + (1 - f)\,\dfrac{t}{W}\right) & t < W \\
            s(t - W) & t \ge W
        \end{cases}

    The ramp starts at :math:`f\,s(0)` and rises by equal increments onto
    :math:`s(0)`, reached exactly at :math:`t = W`: the line continues into the
    wrapped schedule without a jump (PyTorch ``LinearLR`` then the other
    scheduler, in a ``SequentialLR``). A schedule meant to last ``N`` steps in
    all is built with ``total_steps = N - W``.

    Parameters
    ----------
    schedule : callable int -> float
        Any schedule (or function) giving a finite learning rate >= 0.
    warmup_steps : int, >= 1
        :math:`W`.
    start_factor : float in (0, 1]
        :math:`f`, the fraction of :math:`s(0)` used at :math:`t = 0`
        (PyTorch ``LinearLR``'s default, 1/3).
    """

    _fields = ("schedule", "warmup_steps", "start_factor")

    def __init__(self, schedule, warmup_steps: int, start_factor: float = 1.0 / 3.0):
        if not callable(schedule):
            raise TypeError(f"schedule must be a callable t -> learning rate, "
                            f"got {schedule!r}")
        self.schedule = schedule
        self.warmup_steps = as_positive_int(warmup_steps, "warmup_steps")
        self.start_factor = as_real(start_factor, "start_factor", low=0.0, high=1.0,
                                     low_open=True)

    def _inner(self, t):
        value = self.schedule(t)
        return as_real(value, f"schedule({t}) (the wrapped schedule's learning rate)",
                       low=0.0)

    def _lr(self, t):
        if t >= self.warmup_steps:
            return self._inner(t - self.warmup_steps)
        f = self.start_factor
        return self._inner(0) * (f + (1.0 - f) * t / self.warmup_steps)
