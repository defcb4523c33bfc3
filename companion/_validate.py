"""Input validation shared by every public function of the package.

Numba kernels do no bounds checks, so every public wrapper validates its
arguments here *before* a kernel runs: a bad argument raises ``ValueError``
(or ``TypeError`` for a wrong kind of object) whose message names the argument
and says what was expected. Nothing here is jitted; it runs once per call.

Conventions
-----------
* Floating arrays keep their dtype when it is float32 or float64; integer and
  boolean arrays are converted to float64 (documented in each function);
  complex, object and string arrays are rejected with ``TypeError``.
* Arrays are never modified in place; a conversion makes a copy only when the
  dtype or the memory layout requires it.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
from numba import config as numba_config
from numba import njit

__all__ = [
    "NonFiniteError",
    "all_finite",
    "as_float_array",
    "as_batch",
    "as_target_like",
    "check_finite",
    "check_nonfinite_count",
    "check_same_shape",
    "check_same_dtype",
    "check_ndim",
    "as_labels",
    "as_positive_int",
    "as_nonnegative_int",
    "as_pair",
    "as_probability",
    "as_real",
    "as_positive_real",
    "as_bool",
    "as_float_dtype",
    "row_sum_tolerance",
    "as_examples",
    "as_targets",
    "as_generator",
    "as_layer_input",
    "as_sample_shape",
    "check_model",
    "as_data_pair",
]

FLOAT_DTYPES = (np.float32, np.float64)


class NonFiniteError(ValueError, FloatingPointError):
    """An array holds NaN or infinite values where finite ones are needed.

    A ``ValueError`` (a bad value, as :func:`check_finite` always reported) and
    a ``FloatingPointError`` (what a diverging :func:`companion.train.fit` raised
    before this class existed, so ``except FloatingPointError`` still catches
    it). :func:`companion.train.fit` raises it when a loss, the logits, a
    layer's input, a gradient or a parameter stops being finite, naming what
    and where (epoch, step).
    """


def as_float_array(x, name: str, *, ndim=None, dtype=None, finite: bool = True,
                   contiguous: bool = False) -> np.ndarray:
    """Return ``x`` as a float32/float64 ndarray, validated.

    Parameters
    ----------
    x : array_like
        The value to check.
    name : str
        The argument's name, used in error messages.
    ndim : int or tuple of int, optional
        Accepted number(s) of dimensions.
    dtype : numpy dtype, optional
        Cast to this floating dtype (float32 or float64). By default float32
        and float64 are kept and anything else real is converted to float64.
    finite : bool
        Reject NaN and infinity (default ``True``).
    contiguous : bool
        Return a C-contiguous array (a copy when ``x`` is not), as Numba
        kernels that index flat memory need.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}")
    arr = np.asarray(x)
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of numbers, got dtype {arr.dtype}")
    if dtype is not None:
        target = np.dtype(dtype)
        if target.type not in FLOAT_DTYPES:
            raise ValueError(f"dtype must be float32 or float64, got {target}")
        target = target.newbyteorder("=")       # native byte order, as Numba needs
    elif arr.dtype.type in FLOAT_DTYPES:
        target = arr.dtype.newbyteorder("=")    # native byte order, as Numba needs
    else:
        target = np.dtype(np.float64)
    if arr.dtype != target:
        arr = arr.astype(target)
    if contiguous and not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)  # (0-d arrays are always contiguous: shape kept)
    if ndim is not None:
        check_ndim(arr, name, ndim)
    if finite:
        check_finite(arr, name)
    return arr


def as_batch(x, name: str, ndim=None) -> np.ndarray:
    """A finite float array with at least one dimension (the batch) and one element."""
    arr = as_float_array(x, name, ndim=ndim)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least 1 dimension (the batch), got a scalar")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    return arr


def as_target_like(target, pred: np.ndarray, pred_name: str,
                   name: str = "target") -> np.ndarray:
    """``target`` validated to the shape of ``pred`` and converted to its dtype."""
    t = as_float_array(target, name)
    check_same_shape(pred, pred_name, t, name)
    return t.astype(pred.dtype, copy=False)


def check_ndim(arr: np.ndarray, name: str, ndim) -> None:
    """Raise ``ValueError`` unless ``arr.ndim`` is ``ndim`` (an int or a tuple of ints)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in allowed:
        want = " or ".join(str(d) for d in allowed)
        raise ValueError(f"{name} must have {want} dimensions, got shape {arr.shape}")


@njit(cache=True, fastmath={"reassoc"})
def _all_finite_kernel(flat):
    """Whether every value of the 1-D float array ``flat`` is finite, in one pass.

    ``v - v`` is 0 for a finite ``v`` and NaN for NaN or an infinity, so the
    sum is 0 exactly when every value is finite. Reassociation lets the sum
    vectorize; no flag lets the compiler assume the values are finite.
    """
    total = 0.0
    for i in range(flat.size):
        v = flat[i]
        total += v - v
    return total == 0.0


def all_finite(arr: np.ndarray) -> bool:
    """Whether ``arr`` holds no NaN or infinity.

    C-contiguous float32/float64 arrays are read once by a Numba kernel,
    without the temporary boolean array of ``np.isfinite`` (which costs
    microseconds of overhead on the small arrays a layer checks at every
    call); anything else, or Numba's JIT disabled, uses NumPy.
    """
    if (arr.dtype.type in FLOAT_DTYPES and arr.dtype.isnative and arr.flags.c_contiguous
            and not numba_config.DISABLE_JIT):
        return bool(_all_finite_kernel(arr.reshape(-1)))
    return bool(np.isfinite(arr).all())


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` if ``arr`` holds NaN or infinity."""
    if not all_finite(arr):
        check_nonfinite_count(int(np.size(arr) - np.count_nonzero(np.isfinite(arr))), name)


def check_nonfinite_count(count: int, name: str) -> None:
    """Raise :class:`NonFiniteError` for ``name`` if ``count`` (the number of NaN or
    infinite values a kernel found while it read the array) is not 0."""
    if count:
        raise NonFiniteError(f"{name} must be finite, got {count} NaN or infinite value(s)")


def check_same_dtype(arr: np.ndarray, name: str, ref: np.ndarray, ref_name: str) -> None:
    """Raise ``ValueError`` unless ``arr`` has the dtype of ``ref`` (no silent mixing of
    float32 and float64, which would upcast a layer's output)."""
    if arr.dtype != ref.dtype:
        raise ValueError(f"{name} must have the dtype of {ref_name} ({ref.dtype}), got {arr.dtype}")


def check_same_shape(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{a_name} and {b_name} must have the same shape, "
                         f"got {a.shape} and {b.shape}")


def as_labels(y, name: str, *, n: int, num_classes: int) -> np.ndarray:
    """Validate integer class labels: shape ``(n,)``, values in ``[0, num_classes)``.

    Returns an int64 array. Floats that hold whole numbers are rejected: a label
    must be an integer type, so that one-hot targets passed by mistake are caught.
    """
    arr = np.asarray(y)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer class labels, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the batch, got {arr.shape}")
    if n and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(f"{name} must lie in [0, {num_classes}), "
                         f"got values from {arr.min()} to {arr.max()}")
    return arr.astype(np.int64, copy=False)


def _as_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def as_positive_int(value, name: str) -> int:
    """Return ``value`` as an int >= 1, else raise."""
    v = _as_int(value, name)
    if v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v}")
    return v


def as_nonnegative_int(value, name: str) -> int:
    """Return ``value`` as an int >= 0, else raise."""
    v = _as_int(value, name)
    if v < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {v}")
    return v


def as_pair(value, name: str, *, minimum: int = 0) -> tuple[int, int]:
    """Return an ``(int, int)`` pair from an int or a length-2 sequence, each >= ``minimum``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        pair = (int(value), int(value))
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}") from None
        if len(items) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        pair = (_as_int(items[0], name), _as_int(items[1], name))
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return pair


def as_probability(value, name: str, *, allow_one: bool = False) -> float:
    """Return ``value`` as a float in [0, 1) (or [0, 1] with ``allow_one``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    upper_ok = v <= 1.0 if allow_one else v < 1.0
    if not (v >= 0.0 and upper_ok):
        interval = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return v


def as_real(value, name: str, *, low=None, high=None, low_open: bool = False,
            high_open: bool = False) -> float:
    """Return ``value`` as a finite float inside an interval, else raise.

    The interval runs from ``low`` to ``high`` (``None``: unbounded), each end
    closed unless ``low_open`` / ``high_open``: ``as_real(lr, "lr", low=0.0,
    low_open=True)`` accepts ``lr > 0``. ``TypeError`` for something that is
    not a real number (``True`` is not a number here), ``ValueError`` naming
    ``name`` and the interval otherwise.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    interval = (f"{left}{low if low is not None else '-inf'}, "
                f"{high if high is not None else 'inf'}{right}")
    ok = math.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        if low is None and high is None:
            raise ValueError(f"{name} must be finite, got {value!r}")
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return v


def as_positive_real(value, name: str) -> float:
    """Return ``value`` as a finite float ``> 0`` (a step size, a temperature...), else raise.

    ``TypeError`` for something that is not a real number, ``ValueError``
    naming ``name`` otherwise.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def as_bool(value, name: str) -> bool:
    """Return ``value`` (a ``bool`` or ``numpy.bool_``) as a ``bool``, else ``TypeError``.

    ``0``, ``1``, ``"yes"`` or ``None`` are rejected: a flag is ``True`` or ``False``.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def as_float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """``np.dtype(float32)`` or ``np.dtype(float64)`` from ``dtype``, else raise naming ``name``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{name} must be float32 or float64, got {dt}")
    return dt


def row_sum_tolerance(dtype) -> float:
    """Tolerance on ``|sum(p) - 1|`` accepted for a probability row of ``dtype``.

    ``sqrt(eps)`` of the dtype: about 3.5e-4 for float32 and 1.5e-8 for
    float64, far above the rounding error of a computed softmax row and far
    below any real mistake (an unnormalized row, a logit passed as a
    probability).
    """
    return float(np.sqrt(np.finfo(dtype).eps))


def as_examples(x, name: str = "x") -> np.ndarray:
    """A data array with a leading axis of examples and at least one example.

    Float arrays are checked for NaN/infinity; integer and boolean arrays are
    kept as they are (labels, raw pixels).
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{name} must have a leading axis of examples, got a scalar")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one example, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        check_finite(arr, name)
    return arr


def as_targets(y, n: int, name: str = "y"):
    """``None``, one array or a tuple of arrays, each with ``n`` examples.

    A tuple keeps its type (a NamedTuple stays that NamedTuple).
    """
    if y is None:
        return None
    if isinstance(y, tuple):
        if not y:
            raise ValueError(f"{name} must not be an empty tuple")
        arrays = [as_targets(part, n, f"{name}[{i}]") for i, part in enumerate(y)]
        return type(y)(*arrays) if hasattr(y, "_fields") else tuple(arrays)
    arr = as_examples(y, name)
    if arr.shape[0] != n:
        raise ValueError(f"{name} must have one entry per example of x ({n}), "
                         f"got {arr.shape[0]} (shape {arr.shape})")
    return arr


def as_generator(rng, name: str = "rng") -> np.random.Generator:
    """A ``numpy.random.Generator`` from ``rng``.

    A ``Generator`` is returned as is (and advanced by its user); an integer
    seed builds ``np.random.default_rng(seed)``; ``None`` builds an unseeded
    generator (a different order every run). Anything else raises ``TypeError``.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise ValueError(f"{name} must be a non-negative integer seed, got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(f"{name} must be a numpy.random.Generator, an integer seed or None, "
                    f"got {type(rng).__name__}")


def as_layer_input(x, dtype) -> np.ndarray:
    """``x`` as a finite array of a layer's ``dtype`` (float32 or float64).

    Integer and boolean input is converted to ``dtype``; float input of the
    other precision raises ``ValueError`` (precisions never mix silently).
    Used by the layers of :mod:`companion.nn` that have parameters.
    """
    if not isinstance(x, (str, bytes)) and x is not None and np.asarray(x).dtype.kind in "biu":
        return as_float_array(x, "x", dtype=dtype)
    arr = as_float_array(x, "x")
    if arr.dtype != dtype:
        raise ValueError(f"x must have the layer's dtype {dtype}, got {arr.dtype}; "
                         f"convert it with x.astype(np.{dtype})")
    return arr


def as_sample_shape(input_shape, ndim, what: str) -> tuple[int, ...]:
    """Validate the shape of one sample (no batch axis) and return it as a tuple of ints.

    ``ndim`` is the accepted number of dimensions (an int or an iterable of
    ints); ``what`` describes the expected shape in the ``ValueError`` message.
    A non-integer entry raises ``TypeError``; a wrong length or an entry < 1
    raises ``ValueError``. Used by ``output_shape`` of the :mod:`companion.nn` layers.
    """
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(f"input_shape must be a tuple of ints, got {input_shape!r}") from None
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_))
               for s in shape):
        raise TypeError(f"input_shape must be a tuple of ints, got {input_shape!r}")
    shape = tuple(int(s) for s in shape)
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if len(shape) not in allowed or min(shape, default=1) < 1:
        raise ValueError(f"input_shape must be {what} (one sample, without the batch axis), "
                         f"got {shape}")
    return shape


_MODEL_METHODS = ("forward", "backward", "train", "eval", "trainable_params",
                  "trainable_grads", "state_dict", "load_state_dict")


def check_model(model, name: str = "model") -> None:
    """Raise ``TypeError`` unless ``model`` has what :func:`companion.train.fit` needs.

    That is ``forward``, ``backward``, ``train``, ``eval``, ``training``,
    ``trainable_params``, ``trainable_grads``, ``state_dict`` and
    ``load_state_dict`` (a :class:`companion.nn.sequential.Sequential` has them).
    """
    missing = [m for m in _MODEL_METHODS if not callable(getattr(model, m, None))]
    if not hasattr(model, "training"):
        missing.append("training")
    if missing:
        raise TypeError(f"{name} must provide forward, backward, train, eval, training, "
                        f"trainable_params, trainable_grads, state_dict and load_state_dict "
                        f"(a companion.nn.sequential.Sequential); {type(model).__name__} "
                        f"lacks {', '.join(missing)}")


def as_data_pair(data, name: str, *, labels: bool = True):
    """``(x, y)`` validated: ``x`` finite examples, ``y`` targets with one entry per example.

    ``y`` is an array or a tuple of arrays (:func:`as_targets`); its first
    array holds the labels. With ``labels=True`` they must be integer class
    labels ``>= 0`` of shape ``(N,)``. Returns ``(x, y)``.
    """
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (x, y) of inputs and targets, "
                        f"got {type(data).__name__}")
    x = as_examples(data[0], f"{name}[0] (the inputs)")
    y = as_targets(data[1], x.shape[0], f"{name}[1] (the targets)")
    if y is None:
        raise TypeError(f"{name}[1] (the targets) must be an array, got None")
    if labels:
        first = np.asarray(y[0] if isinstance(y, tuple) else y)
        where = f"{name}[1][0]" if isinstance(y, tuple) else f"{name}[1]"
        if first.dtype.kind not in "iu" or first.ndim != 1:
            raise TypeError(f"{where} must be integer class labels of shape (N,), got "
                            f"{first.dtype} of shape {first.shape}")
        if first.min() < 0:
            raise ValueError(f"{where} must hold class labels >= 0, got {first.min()}")
    return x, y
