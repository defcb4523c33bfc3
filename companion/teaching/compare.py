"""How the exercise checks compare and describe values (used by :mod:`~companion.teaching.checks`).

Floats and float arrays pass when ``|actual - expected| <= atol + rtol * |expected|``
elementwise (``numpy.allclose`` semantics, NaN never equal); integers and
booleans must be equal. :func:`compare_values` returns the report lines of the
first difference, or ``None``; :func:`describe_value` shows a value in one
short line (its shape and dtype, or the value itself when it is small).
"""
from __future__ import annotations

import copy
import numbers
from collections.abc import Mapping
from typing import Optional, Sequence

import numpy as np

__all__ = [
    "format_number",
    "describe_value",
    "describe_inputs",
    "argument_names",
    "is_real_scalar",
    "compare_values",
    "snapshot_arguments",
    "modified_argument",
    "changed",
    "as_outputs",
]


# --------------------------------------------------------------------------
# Describing values in messages
# --------------------------------------------------------------------------

def format_number(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, numbers.Integral):
        return str(int(v))
    v = float(v)
    return f"{v:.6g}" if np.isfinite(v) else str(v)


def describe_value(value) -> str:
    """A short description of an input or output: small values in full, arrays by shape."""
    if isinstance(value, np.ndarray):
        if value.size <= 6 and value.ndim <= 1:
            body = "[" + ", ".join(format_number(v) for v in value.tolist()) + "]" \
                if value.dtype.kind in "biuf" else repr(value.tolist())
            return f"array {body} ({value.dtype})"
        return f"array of shape {value.shape}, dtype {value.dtype}"
    if isinstance(value, (bool, np.bool_, numbers.Number)):
        return f"{format_number(value)} ({type(value).__name__})"
    if isinstance(value, (list, tuple)) and len(value) <= 6 \
            and all(isinstance(v, (numbers.Number, np.ndarray, list, tuple)) for v in value):
        inner = ", ".join(describe_value(v) for v in value)
        return f"{type(value).__name__} ({inner})"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of length {len(value)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_inputs(case, arg_names: Sequence[str]) -> str:
    parts = []
    for i, value in enumerate(case.args):
        label = arg_names[i] if i < len(arg_names) else f"arg{i}"
        parts.append(f"{label} = {describe_value(value)}")
    for key, value in (case.kwargs or {}).items():
        parts.append(f"{key} = {describe_value(value)}")
    return "\n".join(parts) if parts else "(none)"


def argument_names(func) -> list[str]:
    import inspect
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


# --------------------------------------------------------------------------
# Comparing an actual output with the expected one
# --------------------------------------------------------------------------

def is_real_scalar(v) -> bool:
    if isinstance(v, np.ndarray):
        return v.ndim == 0 and v.dtype.kind in "biuf"
    return isinstance(v, (numbers.Real, np.bool_)) and not isinstance(v, (str, bytes))


def compare_values(expected, actual, rtol: float, atol: float) -> Optional[list[tuple[str, str]]]:
    """``None`` when ``actual`` matches ``expected``, else the report lines.

    Dispatches on the kind of ``expected``: bool, integer, real number, array,
    mapping, list or tuple of those, anything else (plain equality).
    """
    if isinstance(expected, (bool, np.bool_)):
        return _compare_bool(expected, actual)
    if isinstance(expected, numbers.Integral):
        return _compare_int(expected, actual)
    if is_real_scalar(expected) and not isinstance(expected, np.ndarray):
        return _compare_real(expected, actual, rtol, atol)
    if isinstance(expected, np.ndarray):
        return _compare_array(expected, actual, rtol, atol)
    if isinstance(expected, Mapping):
        return _compare_mapping(expected, actual, rtol, atol)
    if isinstance(expected, (list, tuple)) and any(
            isinstance(v, (np.ndarray, list, tuple, Mapping)) or is_real_scalar(v)
            for v in expected):
        return _compare_sequence(expected, actual, rtol, atol)
    if actual != expected:
        return [("expected", describe_value(expected)), ("got", describe_value(actual))]
    return None


def _compare_bool(expected, actual):
    if not isinstance(actual, (bool, np.bool_)):
        return [("expected", f"{bool(expected)} (a bool)"), ("got", describe_value(actual))]
    if bool(actual) != bool(expected):
        return [("expected", str(bool(expected))), ("got", str(bool(actual)))]
    return None


def _compare_int(expected, actual):
    """Integers: exact, and of the right kind."""
    if isinstance(actual, (bool, np.bool_)) or not isinstance(actual, numbers.Integral):
        why = ""
        if isinstance(actual, (float, np.floating)) and float(actual).is_integer():
            why = " (an int is expected: use integer division // instead of /)"
        return [("expected", f"{int(expected)} (an int)"), ("got", describe_value(actual) + why)]
    if int(actual) != int(expected):
        return [("expected", str(int(expected))), ("got", str(int(actual)))]
    return None


def _compare_real(expected, actual, rtol, atol):
    if isinstance(actual, np.ndarray) and actual.ndim > 0:
        return [("expected", f"a number, {format_number(expected)}"),
                ("got", f"an array of shape {actual.shape} (reduce it to one number, "
                        "e.g. with a mean or a sum)")]
    if not is_real_scalar(actual):
        return [("expected", f"a number, {format_number(expected)}"),
                ("got", describe_value(actual))]
    a, e = float(actual), float(expected)
    if not np.isfinite(a) and np.isfinite(e):
        return [("expected", format_number(e)),
                ("got", f"{a} (overflow or an invalid operation, e.g. log(0) or inf - inf)")]
    if not abs(a - e) <= atol + rtol * abs(e):
        return [("expected", format_number(e)), ("got", format_number(a)),
                ("error", f"{abs(a - e):.2e} (tolerance {atol + rtol * abs(e):.1e})")]
    return None


def _array_kind_problem(expected, actual):
    """The array ``actual`` as a NumPy array, or the report lines when it is the wrong kind."""
    if actual is None or isinstance(actual, (str, bytes, dict)):
        return None, [("expected", f"an array of shape {expected.shape}"),
                      ("got", describe_value(actual))]
    try:
        arr = np.asarray(actual)
    except Exception:  # ragged lists and the like
        return None, [("expected", f"an array of shape {expected.shape}"),
                      ("got", describe_value(actual))]
    if arr.dtype.kind not in "biuf":
        return None, [("expected", f"an array of numbers of shape {expected.shape}"),
                      ("got", f"an array of dtype {arr.dtype}")]
    if arr.shape != expected.shape:
        lines = [("expected", f"shape {expected.shape}"), ("got", f"shape {arr.shape}")]
        if arr.ndim == 2 and arr.shape == expected.shape[::-1]:
            lines.append(("note", "the shape is transposed"))
        elif arr.size == expected.size:
            lines.append(("note", "same number of entries: a wrong reshape or transpose?"))
        return None, lines
    if expected.dtype.kind in "biu" and arr.dtype.kind == "f":
        return None, [("expected", f"an integer array ({expected.dtype})"),
                      ("got", f"a float array ({arr.dtype})")]
    return arr, None


def _compare_array(expected, actual, rtol, atol):
    arr, problem = _array_kind_problem(expected, actual)
    if problem is not None or arr.size == 0:
        return problem
    a = arr.astype(np.float64)
    e = expected.astype(np.float64)
    bad_nonfinite = ~np.isfinite(a) & np.isfinite(e)
    if np.any(bad_nonfinite):
        idx = tuple(int(i) for i in np.argwhere(bad_nonfinite)[0])
        count = int(np.count_nonzero(bad_nonfinite))
        return [("expected", f"finite values, shape {expected.shape}"),
                ("got", f"{count} NaN or infinite value(s), the first at index {idx}: "
                        f"{a[idx]} where {format_number(e[idx])} was expected"),
                ("note", "an overflow (exp of a large number?) or an invalid operation "
                         "(log(0), 0/0, inf - inf)")]
    excess = np.abs(a - e) - (atol + rtol * np.abs(e))
    wrong = excess > 0
    if not np.any(wrong):
        return None
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), e.shape))
    abs_err = float(np.max(np.abs(a - e)))
    denom = max(abs(e[idx]), 1e-300)
    return [("expected", f"shape {expected.shape}, e.g. {format_number(e[idx])} at index {idx}"),
            ("got", f"{format_number(a[idx])} at index {idx}"),
            ("wrong entries", f"{int(np.count_nonzero(wrong))} of {e.size}"),
            ("max |error|", f"{abs_err:.2e} (relative {abs(a[idx] - e[idx]) / denom:.2e} "
                            f"at {idx}; tolerance rtol={rtol:g}, atol={atol:g})")]


def _compare_mapping(expected, actual, rtol, atol):
    """Mappings (e.g. gradients by parameter name): the same keys, each value compared."""
    if not isinstance(actual, Mapping):
        return [("expected", f"a dict with the keys {sorted(expected)}"),
                ("got", describe_value(actual))]
    if set(actual) != set(expected):
        return [("expected", f"the keys {sorted(expected)}"),
                ("got", f"the keys {sorted(actual)}")]
    for key in expected:
        problem = compare_values(expected[key], actual[key], rtol, atol)
        if problem is not None:
            return [(label if label != "expected" else f"expected [{key!r}]", text)
                    for label, text in problem]
    return None


def _compare_sequence(expected, actual, rtol, atol):
    """Lists and tuples of arrays or numbers: the same length, item by item."""
    if not isinstance(actual, (list, tuple, np.ndarray)) or len(actual) != len(expected):
        return [("expected", f"a {type(expected).__name__} of {len(expected)} items"),
                ("got", describe_value(actual))]
    for k, (e, a) in enumerate(zip(expected, actual)):
        problem = compare_values(e, a, rtol, atol)
        if problem is not None:
            return [(label if label != "expected" else f"expected [{k}]", text)
                    for label, text in problem]
    return None


def snapshot_arguments(args, kwargs):
    return copy.deepcopy(args), copy.deepcopy(kwargs)


def modified_argument(before, after, names) -> Optional[str]:
    """The name of the first argument whose value changed, or ``None``."""
    b_args, b_kwargs = before
    a_args, a_kwargs = after
    pairs = [(names[i] if i < len(names) else f"arg{i}", x, y)
             for i, (x, y) in enumerate(zip(b_args, a_args))]
    pairs += [(k, b_kwargs[k], a_kwargs[k]) for k in b_kwargs]
    for name, x, y in pairs:
        where = changed(x, y)
        if where is not None:
            return name + where
    return None


def changed(x, y) -> Optional[str]:
    """``None`` when the arrays in ``x`` (an array, or a list, tuple or dict holding
    arrays) are unchanged in ``y``; else where the first change is (``""``, ``"['w']"``...)."""
    if isinstance(x, np.ndarray):
        same = isinstance(y, np.ndarray) and x.shape == y.shape \
            and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
        return None if same else ""
    if isinstance(x, Mapping):
        if not isinstance(y, Mapping) or set(x) != set(y):
            return "" if any(isinstance(v, np.ndarray) for v in x.values()) else None
        items = [(f"[{k!r}]", x[k], y[k]) for k in x]
    elif isinstance(x, (list, tuple)):
        if not isinstance(y, (list, tuple)) or len(x) != len(y):
            return "" if any(isinstance(v, np.ndarray) for v in x) else None
        items = [(f"[{k}]", a, b) for k, (a, b) in enumerate(zip(x, y))]
    else:
        return None
    for label, a, b in items:
        where = changed(a, b)
        if where is not None:
            return label + where
    return None


def as_outputs(value, n: int):
    if n == 1:
        return (value,)
    if isinstance(value, (tuple, list)) and len(value) == n:
        return tuple(value)
    return None
