"""Checkpoints (检查点): a model, its optimizer and the training progress in one ``.npz`` file.

A checkpoint lets training stop and resume exactly where it was. It holds:

* the **architecture**, as a JSON string of ``model.config()``: loading
  into a model of another architecture fails with a message saying what differs;
* the **parameters and buffers** (``model.state_dict()``), one array each;
* the **optimizer state** (``optimizer.state_dict()``: step count, moment
  estimates, ...), when an optimizer is given;
* the **generators of the dropout layers** (their bit-generator state), so a
  resumed run draws the same masks as an uninterrupted one;
* ``epoch``, ``history`` and ``extra``: JSON-able progress information.

The file is a plain NumPy ``.npz`` archive (a zip of ``.npy`` files) and is read
with ``np.load(path, allow_pickle=False)``: **no pickle**, so loading a
checkpoint cannot run code. Entries::

    "__format__"          "companion-checkpoint-1"
    "__architecture__"    JSON of model.config()
    "__meta__"            JSON of {"epoch", "history", "extra", "rng_states"}
    "param:<name.key>"    every parameter and buffer ("param:conv1.w", "param:bn1.running_mean")
    "optim:<key>"         every entry of optimizer.state_dict()

With the same data order (seeded shuffling), training resumed from a
checkpoint is bit-for-bit the training that was not interrupted.
"""
from __future__ import annotations

import dataclasses
import json
import numbers
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["save_checkpoint", "load_checkpoint", "read_architecture", "FORMAT"]

FORMAT = "companion-checkpoint-1"

# Configuration entries that do not change the architecture: a checkpoint of a
# float32 model loads into a float64 copy (e.g. for a gradient check), and the
# initializer and the convolution algorithm do not matter once weights are loaded.
_NOT_ARCHITECTURE = ("dtype", "init", "algorithm")


# --------------------------------------------------------------------------
# JSON helpers
# --------------------------------------------------------------------------

def _to_jsonable(value, name: str):
    """Plain Python data for ``json.dumps``: NumPy scalars and arrays become numbers and
    lists; a dataclass, an object with ``to_dict()`` / ``as_dict()``, or else an object's
    public attributes become a dict."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray):
        return _to_jsonable(value.tolist(), name)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{name} must have str keys to be stored as JSON, got {k!r}")
            out[k] = _to_jsonable(v, f"{name}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _to_jsonable(dataclasses.asdict(value), name)
    for method in ("to_dict", "as_dict"):
        if callable(getattr(value, method, None)):
            return _to_jsonable(getattr(value, method)(), name)
    if hasattr(value, "__dict__") and not callable(value) and not isinstance(value, type):
        public = {k: v for k, v in vars(value).items() if not k.startswith("_")}
        if public:
            return _to_jsonable(public, name)
    raise TypeError(f"{name} must be JSON-able data (numbers, str, lists, dicts, NumPy "
                    f"arrays), got {type(value).__name__}")


def _architecture(config) -> dict:
    """``config`` without the entries that do not change the architecture."""
    def strip(entry):
        return {k: v for k, v in entry.items() if k not in _NOT_ARCHITECTURE}
    return {**config, "layers": [strip(e) for e in config.get("layers", [])]}


def _describe_difference(saved: dict, current: dict) -> str | None:
    """A sentence saying how two architectures differ, or ``None`` if they do not."""
    a, b = _architecture(saved), _architecture(current)
    if a == b:
        return None
    la, lb = a.get("layers", []), b.get("layers", [])
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            keys = [k for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)]
            details = ", ".join(f"{k}: checkpoint {x.get(k)!r}, model {y.get(k)!r}"
                                for k in keys)
            return f"layer {i} ({x.get('name')!r} in the checkpoint) differs: {details}"
    if len(la) != len(lb):
        return (f"the checkpoint has {len(la)} layers "
                f"({', '.join(str(e.get('name')) for e in la)}), the model {len(lb)} "
                f"({', '.join(str(e.get('name')) for e in lb)})")
    return f"the checkpoint describes {a.get('type')!r}, the model is {b.get('type')!r}"


def _rng_states(model) -> dict:
    states = {}
    for name, layer in zip(model.names, model.layers):
        rng = getattr(layer, "rng", None)
        if isinstance(rng, np.random.Generator):
            states[name] = _to_jsonable(rng.bit_generator.state, f"rng state of {name!r}")
    return states


def _generator_from_state(state: dict) -> np.random.Generator:
    kind = state.get("bit_generator") if isinstance(state, dict) else None
    cls = getattr(np.random, str(kind), None)
    if not (isinstance(cls, type) and issubclass(cls, np.random.BitGenerator)):
        raise ValueError(f"checkpoint has an unknown bit generator {kind!r}")
    bit_generator = cls()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _check_model(model) -> None:
    for attr in ("config", "state_dict", "load_state_dict", "names", "layers"):
        if not hasattr(model, attr):
            raise TypeError(f"model must be a companion.nn.sequential.Sequential, "
                            f"got {type(model).__name__} (no {attr!r})")


def _check_optimizer(optimizer) -> None:
    if optimizer is not None and not (callable(getattr(optimizer, "state_dict", None))
                                      and callable(getattr(optimizer, "load_state_dict", None))):
        raise TypeError(f"optimizer must be a companion.optim optimizer or None, "
                        f"got {type(optimizer).__name__}")


# --------------------------------------------------------------------------
# Save
# --------------------------------------------------------------------------

def save_checkpoint(path, model, *, optimizer=None, epoch=None, history=None,
                    extra=None) -> Path:
    """Write ``model`` (and ``optimizer``, progress) to one ``.npz`` file.

    Parameters
    ----------
    path : str or os.PathLike
        The file, written as given (no suffix is added; ``.npz`` is the
        convention). The file is written to a temporary name first and then
        renamed, so an interrupted save never leaves a half-written checkpoint
        under ``path``.
    model : Sequential
    optimizer : companion.optim.Optimizer, optional
        Its ``state_dict()`` is stored.
    epoch : int, optional
        E.g. the number of completed epochs.
    history : mapping or object, optional
        Training curves (lists of numbers): a dict, a dataclass, an object with
        ``to_dict()`` / ``as_dict()``, or an object whose public attributes
        hold them. Stored as JSON and given back by :func:`load_checkpoint`
        as a plain dict.
    extra : JSON-able, optional
        Anything else (NumPy numbers and arrays are converted to lists).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    TypeError
        A model or optimizer of the wrong kind, or ``history`` / ``extra``
        that cannot be stored as JSON (naming the entry).
    """
    _check_model(model)
    _check_optimizer(optimizer)
    if epoch is not None and (isinstance(epoch, (bool, np.bool_))
                              or not isinstance(epoch, numbers.Integral)):
        raise TypeError(f"epoch must be an int or None, got {epoch!r}")
    path = Path(os.fspath(path))
    meta = {
        "epoch": None if epoch is None else int(epoch),
        "history": _to_jsonable(history, "history"),
        "extra": _to_jsonable(extra, "extra"),
        "rng_states": _rng_states(model),
    }
    arrays: dict[str, np.ndarray] = {
        "__format__": np.array(FORMAT),
        "__architecture__": np.array(json.dumps(_to_jsonable(model.config(), "config"))),
        "__meta__": np.array(json.dumps(meta)),
    }
    for key, value in model.state_dict().items():
        arrays[f"param:{key}"] = np.asarray(value)
    if optimizer is not None:
        for key, value in optimizer.state_dict().items():
            arr = np.asarray(value)
            if arr.dtype == object:
                raise TypeError(f"optimizer state entry {key!r} cannot be stored without "
                                f"pickle (dtype object)")
            arrays[f"optim:{key}"] = arr
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# --------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------

def _read(path) -> dict[str, np.ndarray]:
    """All entries of a checkpoint file, checked to be one."""
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"checkpoint file {str(path)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint path {str(path)!r} is a directory, not a file")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an .npz archive")
        with npz:
            data = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise ValueError(f"{str(path)!r} is not a readable checkpoint (corrupt, truncated "
                         f"or not made by save_checkpoint): {err}") from err
    fmt = data.get("__format__")
    if fmt is None or fmt.shape != () or str(fmt) != FORMAT:
        raise ValueError(f"{str(path)!r} is not a checkpoint of this package: its "
                         f"'__format__' entry is {None if fmt is None else str(fmt)!r}, "
                         f"expected {FORMAT!r}")
    for key in ("__architecture__", "__meta__"):
        if key not in data:
            raise ValueError(f"{str(path)!r} is not a complete checkpoint: no {key!r} entry")
    return data


def _json_entry(data, key: str, path) -> dict:
    try:
        value = json.loads(str(data[key]))
    except json.JSONDecodeError as err:
        raise ValueError(f"checkpoint {str(path)!r} has a corrupt {key!r} entry: {err}") from err
    if not isinstance(value, dict):
        raise ValueError(f"checkpoint {str(path)!r} has a corrupt {key!r} entry")
    return value


def read_architecture(path) -> dict:
    """The ``model.config()`` stored in a checkpoint (e.g. to rebuild the model with
    :meth:`companion.nn.sequential.Sequential.from_config` before :func:`load_checkpoint`)."""
    return _json_entry(_read(path), "__architecture__", path)


def load_checkpoint(path, model, *, optimizer=None) -> dict:
    """Restore a checkpoint written by :func:`save_checkpoint` into ``model`` (and ``optimizer``).

    Parameters
    ----------
    path : str or os.PathLike
    model : Sequential
        Must have the checkpoint's architecture (layer types, sizes, names;
        its dtype may differ: values are converted). Its parameters, buffers
        and dropout generators are overwritten.
    optimizer : companion.optim.Optimizer, optional
        Of the class that was saved; its state is overwritten. If omitted, a
        stored optimizer state is ignored.

    Returns
    -------
    dict
        ``{"epoch": int or None, "history": dict or None, "extra": ...}`` as saved.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        A corrupt, truncated or foreign file; an architecture that differs
        from the model's (the message says which layer and which setting);
        an optimizer given but none saved, or of another class; saved
        arrays that do not fit. Everything is checked before anything is
        written: on error, model and optimizer are left as they were.
    """
    _check_model(model)
    _check_optimizer(optimizer)
    data = _read(path)
    saved_config = _json_entry(data, "__architecture__", path)
    meta = _json_entry(data, "__meta__", path)
    difference = _describe_difference(saved_config, model.config())
    if difference is not None:
        raise ValueError(f"checkpoint {str(path)!r} was saved from another architecture: "
                         f"{difference}")
    state = {k[len("param:"):]: v for k, v in data.items() if k.startswith("param:")}
    checked = model._checked_state(state)          # validates, writes nothing
    optim_state = {k[len("optim:"):]: v for k, v in data.items() if k.startswith("optim:")}
    if optimizer is not None:
        if not optim_state:
            raise ValueError(f"checkpoint {str(path)!r} holds no optimizer state, but an "
                             f"optimizer was given")
        names = [str(n) for n in np.asarray(optim_state.get("param_names", [])).ravel()]
        params = model.params
        for n in names:
            if n not in params:
                raise ValueError(f"checkpoint {str(path)!r} has optimizer state for {n!r}, "
                                 f"which is not a parameter of the model")
    rng_states = meta.get("rng_states") or {}
    generators = {}
    for name, st in rng_states.items():
        if name in model.names and isinstance(getattr(model[name], "rng", None),
                                              np.random.Generator):
            generators[name] = _generator_from_state(st)
    if optimizer is not None:
        optimizer.load_state_dict(optim_state)     # atomic: raises before changing anything
    for target, value in checked.values():
        target[...] = value
    for name, generator in generators.items():
        model[name].rng = generator
    return {"epoch": meta.get("epoch"), "history": meta.get("history"),
            "extra": meta.get("extra")}
