r"""The :class:`Optimizer` base class shared by every gradient-based optimizer.

The optimizers themselves live in :mod:`~companion.optim.sgd` (SGD, momentum,
Nesterov), :mod:`~companion.optim.adaptive` (Adagrad, RMSprop) and
:mod:`~companion.optim.adam` (Adam, AdamW).

Every optimizer follows the update equations of ``torch.optim`` (PyTorch 2.x,
without its rarer options such as dampening, ``centered`` or ``amsgrad``); each
class docstring writes them out. In all of them :math:`\nabla_t` is the gradient
handed to :meth:`Optimizer.step` at step :math:`t = 1, 2, \dots`, :math:`\theta`
the parameter, :math:`\eta` the learning rate and :math:`\lambda` the weight decay.

Interface
---------
Parameters and gradients are mappings from a name to an array, e.g.
``{"conv1.w": ..., "conv1.b": ..., "fc.w": ...}``::

    opt = Adam(lr=1e-3)
    for t, batch in enumerate(batches):
        opt.lr = schedule(t)                # a plain attribute
        grads = model.gradients(batch)      # same keys as model.params
        opt.step(model.params, grads)       # updates the arrays in place

* :meth:`~Optimizer.step` updates every parameter array **in place** (the arrays
  belong to the model) and never writes to a gradient array.
* Per-parameter state (momentum buffers, moment estimates) is keyed by name and
  created lazily, at the first step, with the parameter's shape and dtype:
  float32 parameters keep float32 state. The set of names is fixed by the first
  step; a later step with another set of names raises ``ValueError``.
* Weight decay applies to every parameter handed over, as in PyTorch. To decay
  the weights but not the biases, use two optimizers on the two sub-dicts, or
  :func:`companion.optim.regularization.l2_penalty` (weights only by default).
* Everything is checked before anything is updated: a missing or extra key, a
  shape mismatch or a NaN/infinite gradient raises ``ValueError`` naming the key,
  and leaves parameters and state untouched.

State dicts
-----------
:meth:`~Optimizer.state_dict` returns a flat ``dict`` that ``np.savez(path, **d)``
can store and ``np.load(path)`` gives back (no pickling)::

    "optimizer"        class name, e.g. "Adam"
    "lr", "eps", ...   hyperparameters (Python numbers; ``betas`` a float64 array of 2)
    "step_count"       number of steps taken (int)
    "param_names"      the parameter names, a 1-d array of str
    "<buffer>:<name>"  one array per buffer and parameter, e.g. "exp_avg:conv1.w"

:meth:`~Optimizer.load_state_dict` accepts that dict or the ``NpzFile`` that
``np.load`` returns, and restores hyperparameters and state exactly.

Implementation
--------------
Each optimizer has a private ``@njit(cache=True)`` kernel, in the optimizer's
module: one loop over the flattened parameter that mirrors the update equations
line by line. The public
:meth:`~Optimizer.step` validates, allocates state and calls it once per parameter.
The kernels use ``error_model="numpy"``: every denominator is at least
``eps > 0``, so Python's zero-division check is never needed, and without it the
compiler vectorizes the loops (3x faster for Adam on float32).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from companion._validate import (
    FLOAT_DTYPES,
    as_float_array,
    as_nonnegative_int,
    as_real,
)

__all__ = ["Optimizer"]


# --------------------------------------------------------------------------- helpers
def _check_param(value, key: str) -> np.ndarray:
    label = f"params[{key!r}]"
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{label} must be a NumPy array (it is updated in place), "
                        f"got {type(value).__name__}")
    if value.dtype.type not in FLOAT_DTYPES:
        raise TypeError(f"{label} must have dtype float32 or float64, "
                        f"got {value.dtype}")
    if not value.dtype.isnative:
        raise TypeError(f"{label} must be in the machine's byte order (it is updated in "
                        f"place, and the kernels read native numbers only), got "
                        f"{value.dtype.str}; convert it with .astype(float) or "
                        f".astype(np.float32)")
    if not value.flags.writeable:
        raise ValueError(f"{label} must be writable: the optimizer updates it in place")
    as_float_array(value, label)  # finite
    return value


def _check_mapping(value, name: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping name -> array, "
                        f"got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"{name} keys must be str parameter names, got {key!r}")
    return value


def _scalar(entry, key: str):
    """A Python scalar from a state-dict entry (a number or a 0-d array from
    ``np.load``)."""
    arr = np.asarray(entry)
    if arr.ndim != 0:
        raise ValueError(f"state dict entry {key!r} must be a scalar, "
                         f"got shape {arr.shape}")
    return arr.item()


# --------------------------------------------------------------------------- base class
class Optimizer:
    """Base class: validation, per-parameter state, state dicts.

    A subclass lists its hyperparameters in ``_hyperparameters`` (attribute names,
    also the state-dict keys), the per-parameter buffers it may hold in
    ``_buffer_names``, and implements :meth:`_check_hyperparameters` (validate and
    normalise the attributes), :meth:`_needed_buffers` and :meth:`_update`.

    Attributes
    ----------
    lr : float
        Learning rate, a plain attribute: a schedule sets it between steps.
    step_count : int
        Number of completed :meth:`step` calls.
    """

    _hyperparameters: tuple[str, ...] = ()
    _buffer_names: tuple[str, ...] = ()

    def __init__(self):
        self.step_count = 0
        self._names: tuple[str, ...] | None = None        # fixed by the first step
        self._state: dict[str, dict[str, np.ndarray]] = {}
        self._check_hyperparameters(allow_zero_lr=False)

    @staticmethod
    def _check_lr(lr, *, allow_zero: bool) -> float:
        """``lr`` as a float: > 0, or >= 0 when ``allow_zero`` (for subclasses)."""
        # The constructor wants lr > 0; a schedule may bring it down to exactly 0 at
        # its end.
        return as_real(lr, "lr", low=0.0, low_open=not allow_zero)

    # -- to be provided by subclasses --------------------------------------------------
    def _check_hyperparameters(self, *, allow_zero_lr: bool) -> None:
        raise NotImplementedError

    def _needed_buffers(self) -> tuple[str, ...]:
        return self._buffer_names

    def _update(self, w: np.ndarray, g: np.ndarray,
                state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    # -- public API --------------------------------------------------------------
    def step(self, params: Mapping[str, np.ndarray],
             grads: Mapping[str, np.ndarray]) -> None:
        """Apply one update to every parameter, in place.

        Parameters
        ----------
        params : mapping str -> ndarray (float32 or float64)
            The model's parameters; each array is updated in place. Its keys must
            be the keys of ``grads`` and, after the first step, the same names as
            at the first step.
        grads : mapping str -> array_like
            The gradient of the loss with respect to each parameter, same shape.
            Never modified. Converted to the parameter's dtype.

        Raises
        ------
        ValueError
            A missing or extra key, a shape mismatch, a NaN or infinite gradient or
            parameter (naming the key), or an invalid hyperparameter (e.g. ``lr``
            set to a negative value). Nothing is updated then.
        TypeError
            A parameter that is not a writable float32/float64 ndarray.
        """
        self._check_hyperparameters(allow_zero_lr=True)
        work = self._validate(params, grads)
        self.step_count += 1
        needed = self._needed_buffers()
        for key, param, grad in work:
            state = self._state.setdefault(key, {})
            for buffer in needed:
                if buffer not in state:
                    state[buffer] = np.zeros(param.shape, dtype=param.dtype)
            flat_state = {b: arr.reshape(-1) for b, arr in state.items()}
            if param.flags.c_contiguous:
                self._update(param.reshape(-1), grad.reshape(-1), flat_state)
            else:  # update a contiguous copy, then write it back into the model's array
                flat = np.ascontiguousarray(param).reshape(-1)
                self._update(flat, grad.reshape(-1), flat_state)
                param[...] = flat.reshape(param.shape)
        if self._names is None:
            self._names = tuple(key for key, _, _ in work)

    def state_dict(self) -> dict:
        """Hyperparameters, step count and per-parameter buffers, as a flat dict.

        Returns
        -------
        dict
            Python numbers, str and NumPy arrays (copies), storable with
            ``np.savez(path, **d)``. Keys: ``"optimizer"``, one per
            hyperparameter, ``"step_count"``, ``"param_names"`` and
            ``"<buffer>:<name>"`` for every buffer of every parameter.
        """
        d: dict = {"optimizer": type(self).__name__}
        for h in self._hyperparameters:
            value = getattr(self, h)
            d[h] = (np.array(value, dtype=np.float64) if isinstance(value, tuple)
                    else value)
        d["step_count"] = int(self.step_count)
        d["param_names"] = np.array(self._names or (), dtype=np.str_)
        for key, state in self._state.items():
            for buffer, arr in state.items():
                d[f"{buffer}:{key}"] = arr.copy()
        return d

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore what :meth:`state_dict` returned (or ``np.load`` of its
        ``np.savez``).

        Raises ``ValueError`` for a state dict of another optimizer class, a missing
        or unexpected entry, an invalid hyperparameter or buffer; the optimizer is
        then left as it was.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping, "
                            f"got {type(state_dict).__name__}")
        d = state_dict

        def entry(key):
            if key not in d:
                raise ValueError(f"state dict has no entry {key!r}")
            return d[key]

        kind = _scalar(entry("optimizer"), "optimizer")
        if kind != type(self).__name__:
            raise ValueError(f"state dict is for optimizer {kind!r}, "
                             f"cannot load it into {type(self).__name__}")
        hyper = {}
        for h in self._hyperparameters:
            arr = np.asarray(entry(h))
            hyper[h] = arr.item() if arr.ndim == 0 else tuple(arr.tolist())
        step_count = as_nonnegative_int(_scalar(entry("step_count"), "step_count"),
                                        "step_count")
        names_arr = np.asarray(entry("param_names"))
        if names_arr.ndim != 1 or (names_arr.size and names_arr.dtype.kind != "U"):
            raise ValueError("state dict entry 'param_names' must be a 1-d array of "
                             f"str, got {names_arr.dtype} of shape {names_arr.shape}")
        names = tuple(str(n) for n in names_arr)
        if len(set(names)) != len(names):
            raise ValueError("state dict entry 'param_names' has duplicate names")
        if (step_count == 0) != (len(names) == 0):
            raise ValueError(f"state dict has step_count {step_count} but "
                             f"{len(names)} parameter names")
        state: dict[str, dict[str, np.ndarray]] = {}
        fixed = {"optimizer", "step_count", "param_names", *self._hyperparameters}
        for key in d:
            if key in fixed:
                continue
            buffer, sep, name = str(key).partition(":")
            if not sep or buffer not in self._buffer_names or name not in names:
                raise ValueError(f"state dict has an unexpected entry {key!r} "
                                 f"(expected '<buffer>:<name>' with buffer in "
                                 f"{self._buffer_names} and name in param_names)")
            arr = np.array(as_float_array(d[key], f"state dict entry {key!r}"),
                           copy=True)
            state.setdefault(name, {})[buffer] = arr
        for name, buffers in state.items():
            first = next(iter(buffers.values()))
            for buffer, arr in buffers.items():
                if arr.shape != first.shape or arr.dtype != first.dtype:
                    raise ValueError(f"state dict buffers of {name!r} disagree: "
                                     f"{buffer!r} is {arr.dtype}{arr.shape}, "
                                     f"another is {first.dtype}{first.shape}")
        # Validate the hyperparameters on the instance, restoring them on failure.
        saved = {h: getattr(self, h) for h in self._hyperparameters}
        try:
            for h, value in hyper.items():
                setattr(self, h, value)
            self._check_hyperparameters(allow_zero_lr=True)
        except (TypeError, ValueError):
            for h, value in saved.items():
                setattr(self, h, value)
            raise
        self.step_count = step_count
        self._names = names or None
        self._state = state

    def __repr__(self) -> str:
        args = ", ".join(f"{h}={getattr(self, h)!r}" for h in self._hyperparameters)
        return f"{type(self).__name__}({args})"

    # -- validation --------------------------------------------------------------
    def _validate(self, params, grads):
        """Check everything before any update; return ``[(key, param, grad), ...]``."""
        _check_mapping(params, "params")
        _check_mapping(grads, "grads")
        if len(params) == 0:
            raise ValueError("params must hold at least one parameter, "
                             "got an empty mapping")
        for key in params:
            if key not in grads:
                raise ValueError(f"grads has no entry for parameter {key!r}")
        for key in grads:
            if key not in params:
                raise ValueError(f"grads has an entry {key!r} that is not in params")
        if self._names is not None and set(params) != set(self._names):
            missing = [k for k in self._names if k not in params]
            extra = [k for k in params if k not in self._names]
            if missing:
                raise ValueError(f"params has no entry {missing[0]!r}, which this "
                                 "optimizer updated at its first step (the set of "
                                 "names is fixed)")
            raise ValueError(f"params has an entry {extra[0]!r} that this optimizer "
                             "did not update at its first step (the set of names is "
                             "fixed)")
        work = []
        for key in params:
            param = _check_param(params[key], key)
            grad = as_float_array(grads[key], f"grads[{key!r}]", dtype=param.dtype)
            if grad.shape != param.shape:
                raise ValueError(f"grads[{key!r}] must have the shape of "
                                 f"params[{key!r}], {param.shape}, got {grad.shape}")
            if np.may_share_memory(grad, param):
                # the update writes into param: keep the gradient intact
                grad = grad.copy()
            for buffer, arr in self._state.get(key, {}).items():
                if arr.shape != param.shape or arr.dtype != param.dtype:
                    raise ValueError(
                        f"params[{key!r}] is {param.dtype}{param.shape} but the "
                        f"optimizer's {buffer!r} state for it is "
                        f"{arr.dtype}{arr.shape}")
            work.append((key, param, grad))
        return work
