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

import numbers

import numpy as np

__all__ = [
    "as_float_array",
    "check_finite",
    "check_same_shape",
    "check_same_dtype",
    "check_ndim",
    "as_labels",
    "as_positive_int",
    "as_nonnegative_int",
    "as_pair",
    "as_probability",
    "as_real",
    "as_generator",
]

FLOAT_DTYPES = (np.float32, np.float64)


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
    elif arr.dtype.type in FLOAT_DTYPES:
        target = arr.dtype
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


def check_ndim(arr: np.ndarray, name: str, ndim) -> None:
    """Raise ``ValueError`` unless ``arr.ndim`` is ``ndim`` (an int or a tuple of ints)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in allowed:
        want = " or ".join(str(d) for d in allowed)
        raise ValueError(f"{name} must have {want} dimensions, got shape {arr.shape}")


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` if ``arr`` holds NaN or infinity."""
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s)")


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


def as_real(value, name: str, *, minimum=None, maximum=None, inclusive: bool = True) -> float:
    """Return ``value`` as a finite float within ``[minimum, maximum]``, else raise.

    ``inclusive=False`` excludes the bounds (e.g. a learning rate ``> 0``).
    Booleans are rejected: ``True`` is not a number here.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    lo_bad = minimum is not None and (v < minimum if inclusive else v <= minimum)
    hi_bad = maximum is not None and (v > maximum if inclusive else v >= maximum)
    if lo_bad or hi_bad:
        lo = "-inf" if minimum is None else repr(minimum)
        hi = "inf" if maximum is None else repr(maximum)
        brackets = ("[", "]") if inclusive else ("(", ")")
        raise ValueError(f"{name} must lie in {brackets[0]}{lo}, {hi}{brackets[1]}, got {v}")
    return v


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
