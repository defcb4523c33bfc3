"""Instant feedback for the exercises: compare a learner's answer with the reference.

Every exercise notebook ends its tasks with *check cells*. A check calls the
learner's function and the companion's reference implementation on the same
inputs (random arrays drawn from a seeded generator, plus edge cases) and
compares the results. When they disagree it raises :class:`CheckFailure`, an
``AssertionError`` whose message says

* which case failed (a description such as ``"stride 2, padding 1"``),
* the inputs (their shapes and dtypes, or their values when they are small),
* which output is wrong, the expected and the actual shape or value, and for
  arrays the largest error and where it is,
* a hint, when the exercise gives one.

nbgrader scores a test cell by whether it raises, so the same cells grade the
exercises; an ``AssertionError`` subclass keeps them ordinary ``assert``-style
tests. When the check passes it prints one line starting with ``✓``.

Conceptual questions (an output shape, a parameter count, which formula is
right) are checked with :func:`check_answer` against a salted SHA-256 digest of
the correct answer, so the check cell gives immediate feedback without printing
the answer. Instructors compute a digest with :func:`answer_digest`.

Comparisons
-----------
Floats and float arrays pass when ``|actual - expected| <= atol + rtol * |expected|``
elementwise (``numpy.allclose`` semantics, NaN never equal). Integers and
booleans must be equal, and an integer answer must be an integer (``4``, not
``4.0``). A tuple of outputs is compared item by item, and so are lists or
tuples of arrays or numbers (same length) and dicts (same keys, e.g.
gradients by parameter name). Arguments are copied
before each call, and a learner's function that modifies its input in place
fails the check.
"""
from __future__ import annotations

import copy
import hashlib
import numbers
from collections.abc import Mapping
from typing import Callable, Iterable, NamedTuple, Optional, Sequence

import numpy as np

__all__ = ["CheckFailure", "Case", "check_function", "check_answer", "answer_digest"]

_SALT = "cnn-backprop-course"
_DIGEST_LENGTH = 16


class CheckFailure(AssertionError):
    """A check found a wrong answer; ``str(err)`` is the multi-line report.

    Attributes
    ----------
    summary : str
        The first line: what is wrong, and for which case.
    details : tuple of (str, str)
        ``(label, text)`` lines of the report (case, inputs, expected, got, ...).
    hint : str or None
        The exercise's hint, if it gives one.
    """

    def __init__(self, summary: str, details: Sequence[tuple[str, str]] = (),
                 hint: Optional[str] = None):
        self.summary = summary
        self.details = tuple(details)
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        lines = [self.summary]
        rows = list(self.details) + ([("hint", self.hint)] if self.hint else [])
        width = max((len(label) for label, _ in rows), default=0)
        for label, text in rows:
            pad = " " * (width + 5)
            body = str(text).replace("\n", "\n" + pad)
            lines.append(f"  {label:<{width}} : {body}")
        return "\n".join(lines)


class Case(NamedTuple):
    """One input on which a learner's function is compared with the reference.

    Attributes
    ----------
    description : str
        What the case tests, shown when it fails (e.g. ``"stride 2, padding 1"``).
    args : tuple
        Positional arguments, passed to both functions (each gets its own copy).
    kwargs : dict or None
        Keyword arguments.
    """

    description: str
    args: tuple
    kwargs: Optional[dict] = None


# --------------------------------------------------------------------------
# Describing values in messages
# --------------------------------------------------------------------------

def _fmt_number(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, numbers.Integral):
        return str(int(v))
    v = float(v)
    return f"{v:.6g}" if np.isfinite(v) else str(v)


def _describe(value) -> str:
    """A short description of an input or output: small values in full, arrays by shape."""
    if isinstance(value, np.ndarray):
        if value.size <= 6 and value.ndim <= 1:
            body = "[" + ", ".join(_fmt_number(v) for v in value.tolist()) + "]" \
                if value.dtype.kind in "biuf" else repr(value.tolist())
            return f"array {body} ({value.dtype})"
        return f"array of shape {value.shape}, dtype {value.dtype}"
    if isinstance(value, (bool, np.bool_, numbers.Number)):
        return f"{_fmt_number(value)} ({type(value).__name__})"
    if isinstance(value, (list, tuple)) and len(value) <= 6 \
            and all(isinstance(v, (numbers.Number, np.ndarray, list, tuple)) for v in value):
        inner = ", ".join(_describe(v) for v in value)
        return f"{type(value).__name__} ({inner})"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of length {len(value)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _describe_inputs(case: Case, arg_names: Sequence[str]) -> str:
    parts = []
    for i, value in enumerate(case.args):
        label = arg_names[i] if i < len(arg_names) else f"arg{i}"
        parts.append(f"{label} = {_describe(value)}")
    for key, value in (case.kwargs or {}).items():
        parts.append(f"{key} = {_describe(value)}")
    return "\n".join(parts) if parts else "(none)"


def _arg_names(func) -> list[str]:
    import inspect
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


# --------------------------------------------------------------------------
# Comparing an actual output with the expected one
# --------------------------------------------------------------------------

def _is_real_scalar(v) -> bool:
    if isinstance(v, np.ndarray):
        return v.ndim == 0 and v.dtype.kind in "biuf"
    return isinstance(v, (numbers.Real, np.bool_)) and not isinstance(v, (str, bytes))


def _compare(expected, actual, rtol: float, atol: float) -> Optional[list[tuple[str, str]]]:
    """``None`` when ``actual`` matches ``expected``, else the report lines."""
    # integers and booleans: exact, and of the right kind
    if isinstance(expected, (bool, np.bool_)):
        if not isinstance(actual, (bool, np.bool_)):
            return [("expected", f"{bool(expected)} (a bool)"), ("got", _describe(actual))]
        if bool(actual) != bool(expected):
            return [("expected", str(bool(expected))), ("got", str(bool(actual)))]
        return None
    if isinstance(expected, numbers.Integral):
        if isinstance(actual, (bool, np.bool_)) or not isinstance(actual, numbers.Integral):
            why = ""
            if isinstance(actual, (float, np.floating)) and float(actual).is_integer():
                why = " (an int is expected: use integer division // instead of /)"
            return [("expected", f"{int(expected)} (an int)"), ("got", _describe(actual) + why)]
        if int(actual) != int(expected):
            return [("expected", str(int(expected))), ("got", str(int(actual)))]
        return None
    # real scalars
    if _is_real_scalar(expected) and not isinstance(expected, np.ndarray):
        if isinstance(actual, np.ndarray) and actual.ndim > 0:
            return [("expected", f"a number, {_fmt_number(expected)}"),
                    ("got", f"an array of shape {actual.shape} (reduce it to one number, "
                            "e.g. with a mean or a sum)")]
        if not _is_real_scalar(actual):
            return [("expected", f"a number, {_fmt_number(expected)}"), ("got", _describe(actual))]
        a, e = float(actual), float(expected)
        if not np.isfinite(a) and np.isfinite(e):
            return [("expected", _fmt_number(e)),
                    ("got", f"{a} (overflow or an invalid operation, e.g. log(0) or inf - inf)")]
        if not abs(a - e) <= atol + rtol * abs(e):
            return [("expected", _fmt_number(e)), ("got", _fmt_number(a)),
                    ("error", f"{abs(a - e):.2e} (tolerance {atol + rtol * abs(e):.1e})")]
        return None
    # arrays
    if isinstance(expected, np.ndarray):
        if actual is None or isinstance(actual, (str, bytes, dict)):
            return [("expected", f"an array of shape {expected.shape}"), ("got", _describe(actual))]
        try:
            arr = np.asarray(actual)
        except Exception:  # ragged lists and the like
            return [("expected", f"an array of shape {expected.shape}"), ("got", _describe(actual))]
        if arr.dtype.kind not in "biuf":
            return [("expected", f"an array of numbers of shape {expected.shape}"),
                    ("got", f"an array of dtype {arr.dtype}")]
        if arr.shape != expected.shape:
            lines = [("expected", f"shape {expected.shape}"), ("got", f"shape {arr.shape}")]
            if arr.ndim == 2 and arr.shape == expected.shape[::-1]:
                lines.append(("note", "the shape is transposed"))
            elif arr.size == expected.size:
                lines.append(("note", "same number of entries: a wrong reshape or transpose?"))
            return lines
        if expected.dtype.kind in "biu" and arr.dtype.kind == "f":
            return [("expected", f"an integer array ({expected.dtype})"),
                    ("got", f"a float array ({arr.dtype})")]
        if arr.size == 0:
            return None
        a = arr.astype(np.float64)
        e = expected.astype(np.float64)
        bad_nonfinite = ~np.isfinite(a) & np.isfinite(e)
        if np.any(bad_nonfinite):
            idx = tuple(int(i) for i in np.argwhere(bad_nonfinite)[0])
            count = int(np.count_nonzero(bad_nonfinite))
            return [("expected", f"finite values, shape {expected.shape}"),
                    ("got", f"{count} NaN or infinite value(s), the first at index {idx}: "
                            f"{a[idx]} where {_fmt_number(e[idx])} was expected"),
                    ("note", "an overflow (exp of a large number?) or an invalid operation "
                             "(log(0), 0/0, inf - inf)")]
        excess = np.abs(a - e) - (atol + rtol * np.abs(e))
        wrong = excess > 0
        if not np.any(wrong):
            return None
        idx = np.unravel_index(int(np.argmax(excess)), e.shape)
        idx = tuple(int(i) for i in idx)
        abs_err = float(np.max(np.abs(a - e)))
        denom = max(abs(e[idx]), 1e-300)
        return [("expected", f"shape {expected.shape}, e.g. {_fmt_number(e[idx])} at index {idx}"),
                ("got", f"{_fmt_number(a[idx])} at index {idx}"),
                ("wrong entries", f"{int(np.count_nonzero(wrong))} of {e.size}"),
                ("max |error|", f"{abs_err:.2e} (relative {abs(a[idx] - e[idx]) / denom:.2e} "
                                f"at {idx}; tolerance rtol={rtol:g}, atol={atol:g})")]
    # mappings (e.g. gradients by parameter name): the same keys, each value compared
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [("expected", f"a dict with the keys {sorted(expected)}"),
                    ("got", _describe(actual))]
        if set(actual) != set(expected):
            return [("expected", f"the keys {sorted(expected)}"),
                    ("got", f"the keys {sorted(actual)}")]
        for key in expected:
            problem = _compare(expected[key], actual[key], rtol, atol)
            if problem is not None:
                return [(label if label != "expected" else f"expected [{key!r}]", text)
                        for label, text in problem]
        return None
    # lists and tuples of arrays or numbers: the same length, item by item
    if isinstance(expected, (list, tuple)) and any(
            isinstance(v, (np.ndarray, list, tuple, Mapping)) or _is_real_scalar(v)
            for v in expected):
        if not isinstance(actual, (list, tuple, np.ndarray)) or len(actual) != len(expected):
            return [("expected", f"a {type(expected).__name__} of {len(expected)} items"),
                    ("got", _describe(actual))]
        for k, (e, a) in enumerate(zip(expected, actual)):
            problem = _compare(e, a, rtol, atol)
            if problem is not None:
                return [(label if label != "expected" else f"expected [{k}]", text)
                        for label, text in problem]
        return None
    # anything else: equality
    if actual != expected:
        return [("expected", _describe(expected)), ("got", _describe(actual))]
    return None


def _snapshot(args, kwargs):
    return copy.deepcopy(args), copy.deepcopy(kwargs)


def _modified_argument(before, after, names) -> Optional[str]:
    """The name of the first argument whose value changed, or ``None``."""
    b_args, b_kwargs = before
    a_args, a_kwargs = after
    pairs = [(names[i] if i < len(names) else f"arg{i}", x, y)
             for i, (x, y) in enumerate(zip(b_args, a_args))]
    pairs += [(k, b_kwargs[k], a_kwargs[k]) for k in b_kwargs]
    for name, x, y in pairs:
        where = _changed(x, y)
        if where is not None:
            return name + where
    return None


def _changed(x, y) -> Optional[str]:
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
        where = _changed(a, b)
        if where is not None:
            return label + where
    return None


def _as_outputs(value, n: int):
    if n == 1:
        return (value,)
    if isinstance(value, (tuple, list)) and len(value) == n:
        return tuple(value)
    return None


# --------------------------------------------------------------------------
# Public checks
# --------------------------------------------------------------------------

def check_function(func: Callable, reference: Callable, cases: Iterable, *,
                   name: Optional[str] = None, outputs: Optional[Sequence[str]] = None,
                   compare: Optional[Sequence[str]] = None, rtol: float = 1e-7,
                   atol: float = 1e-12, hint: Optional[str] = None, quiet: bool = False) -> None:
    """Compare ``func`` with ``reference`` on every case; raise :class:`CheckFailure` on the first miss.

    Parameters
    ----------
    func : callable
        The learner's function.
    reference : callable
        The reference implementation (usually a thin wrapper around a
        companion function) returning what ``func`` should return.
    cases : iterable of Case or (description, args) pairs
        The inputs. Each function receives its own deep copy of the arguments.
    name : str, optional
        The name shown in messages (default: ``func.__name__``).
    outputs : sequence of str, optional
        Names of the outputs when the functions return a tuple, e.g.
        ``("value", "grad")``; then ``func`` must return a tuple (or list) of
        that length. Default: one output.
    compare : sequence of str, optional
        Compare only these outputs (names from ``outputs``), e.g. the loss
        value in one check cell and the gradient in another, so that each
        earns its own points. Default: all.
    rtol, atol : float
        Tolerance for floats: ``|actual - expected| <= atol + rtol * |expected|``.
    hint : str, optional
        Shown with every failure.
    quiet : bool
        Do not print the ``✓`` line on success.

    Raises
    ------
    CheckFailure
        On the first case where ``func`` raises, returns something of the
        wrong kind or shape, returns a wrong value, or modifies an argument.
    TypeError
        If ``reference`` is not callable or a case is malformed (a bug in the
        check cell, not in the answer).
    """
    __tracebackhide__ = True  # IPython: show the message, not this function's frames
    shown = name or getattr(func, "__name__", "your function")
    if not callable(reference):
        raise TypeError(f"reference must be callable, got {type(reference).__name__}")
    if not callable(func):
        raise CheckFailure(f"{shown} is not a function.",
                           [("got", _describe(func))],
                           hint="Define it with `def ...:` in the cell above and run that cell.")
    cases = [_as_case(c) for c in cases]
    if not cases:
        raise TypeError("cases must hold at least one Case")
    names = _arg_names(reference) or _arg_names(func)
    output_names = tuple(outputs) if outputs else ("result",)
    n_out = len(output_names)
    if isinstance(compare, str):
        compare = (compare,)
    compared = tuple(compare) if compare else output_names
    unknown = [c for c in compared if c not in output_names]
    if unknown:
        raise TypeError(f"compare names outputs {unknown} that are not in outputs {output_names}")
    for number, case in enumerate(cases, start=1):
        where = f"case {number} of {len(cases)} ({case.description})"
        kwargs = dict(case.kwargs or {})
        original = _snapshot(case.args, kwargs)
        ref_args, ref_kwargs = _snapshot(case.args, kwargs)
        expected = reference(*ref_args, **ref_kwargs)
        own_args, own_kwargs = _snapshot(case.args, kwargs)
        inputs = ("inputs", _describe_inputs(case, names))
        try:
            actual = func(*own_args, **own_kwargs)
        except NotImplementedError:
            raise CheckFailure(f"{shown} is not implemented yet.",
                               [("case", where)],
                               hint="Replace `raise NotImplementedError()` with your code, "
                                    "run that cell, then run this check again.") from None
        except Exception as exc:  # the learner's bug: report it with the case
            raise CheckFailure(f"{shown} raised {type(exc).__name__} in {where}.",
                               [inputs, ("error", f"{type(exc).__name__}: {exc}")],
                               hint=hint) from exc
        changed = _modified_argument(original, (own_args, own_kwargs), names)
        if changed is not None:
            raise CheckFailure(f"{shown} modified its argument `{changed}` in place in {where}.",
                               [inputs],
                               hint="Never change an input array: compute into a new array "
                                    "(e.g. `z = z - m`, not `z -= m`).")
        exp_out = _as_outputs(expected, n_out)
        if exp_out is None:
            raise TypeError(f"reference must return {n_out} outputs {output_names}, "
                            f"got {_describe(expected)}")
        act_out = _as_outputs(actual, n_out)
        if act_out is None:
            raise CheckFailure(f"{shown} must return {n_out} values "
                               f"({', '.join(output_names)}) in {where}.",
                               [inputs, ("got", _describe(actual))],
                               hint="Return them as a tuple: `return " + ", ".join(output_names)
                                    + "`.")
        for out_name, e, a in zip(output_names, exp_out, act_out):
            if out_name not in compared:
                continue
            problem = _compare(e, a, rtol, atol)
            if problem is not None:
                what = f"output `{out_name}`" if n_out > 1 else "the result"
                if a is None:
                    problem.append(("note", "None was returned: did you forget `return`?"))
                raise CheckFailure(f"{shown}: {what} is wrong in {where}.",
                                   [inputs] + problem, hint=hint)
    if not quiet:
        what = "" if compared == output_names else " (" + ", ".join(compared) + ")"
        print(f"✓ {shown}{what} agrees with the reference on {len(cases)} case"
              f"{'s' if len(cases) != 1 else ''}.")


def _as_case(case) -> Case:
    if isinstance(case, Case):
        c = case
    elif isinstance(case, tuple) and len(case) in (2, 3):
        c = Case(*case)
    else:
        raise TypeError(f"each case must be a Case(description, args, kwargs), got {case!r:.80}")
    if not isinstance(c.description, str) or not isinstance(c.args, tuple) \
            or not (c.kwargs is None or isinstance(c.kwargs, dict)):
        raise TypeError("a Case needs a str description, a tuple of args and a dict of kwargs, "
                        f"got {c!r:.80}")
    return c


def _normalize_answer(value) -> str:
    """The canonical text of an answer: case- and space-insensitive strings, exact integers,
    floats to 6 significant digits, sequences item by item."""
    if isinstance(value, str):
        return " ".join(value.strip().lower().split())
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        if not np.isfinite(v):
            return str(v)
        if v.is_integer():
            return str(int(v))
        return f"{v:.6g}"
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_normalize_answer(v) for v in value) + ")"
    raise TypeError(f"an answer must be a string, a number or a tuple of them, "
                    f"got {type(value).__name__}")


def answer_digest(answer, question: str) -> str:
    """The digest that :func:`check_answer` compares with, for instructors.

    ``sha256("cnn-backprop-course:<question>:<normalized answer>")``, first 16
    hex digits. Normalization: strings are lower-cased with runs of blanks
    collapsed; ``12`` and ``12.0`` are the same; other floats keep 6
    significant digits; tuples, lists and arrays are compared item by item.

    Parameters
    ----------
    answer : str, number, or tuple/list/array of them
    question : str
        An identifier of the question (salts the hash, so that two questions
        with the same answer have different digests).
    """
    if not isinstance(question, str) or not question:
        raise ValueError(f"question must be a non-empty string, got {question!r}")
    text = f"{_SALT}:{question}:{_normalize_answer(answer)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_DIGEST_LENGTH]


def check_answer(answer, digest: str, *, question: str, choices: Optional[Sequence] = None,
                 hint: Optional[str] = None, quiet: bool = False) -> None:
    """Check a short answer against the digest of the correct one.

    Parameters
    ----------
    answer : str, number, or tuple of them
        The learner's answer (``...`` or ``None`` means not answered).
    digest : str
        ``answer_digest(correct_answer, question)``.
    question : str
        The question's identifier (as used for the digest).
    choices : sequence, optional
        For multiple choice: the accepted options; another answer is reported
        as invalid, not as wrong.
    hint : str, optional
        Shown when the answer is wrong.
    quiet : bool
        Do not print the ``✓`` line on success.

    Raises
    ------
    CheckFailure
        If the answer is missing, not one of ``choices``, or wrong.
    """
    __tracebackhide__ = True
    if not isinstance(digest, str) or len(digest) != _DIGEST_LENGTH:
        raise ValueError(f"digest must be a string of {_DIGEST_LENGTH} hex digits from "
                         f"answer_digest, got {digest!r}")
    if answer is None or answer is Ellipsis:
        raise CheckFailure(f"Question `{question}` is not answered yet.",
                           hint="Set the answer variable in the cell above and run it.")
    try:
        given = _normalize_answer(answer)
    except TypeError as exc:
        raise CheckFailure(f"The answer to `{question}` has the wrong kind.",
                           [("got", _describe(answer)), ("expected", str(exc))]) from None
    if choices is not None:
        options = [_normalize_answer(c) for c in choices]
        if given not in options:
            listed = ", ".join(repr(c) for c in choices)
            raise CheckFailure(f"The answer to `{question}` must be one of {listed}.",
                               [("got", repr(answer))])
    if answer_digest(answer, question) != digest:
        raise CheckFailure(f"The answer to `{question}` is not right yet.",
                           [("your answer", repr(answer))], hint=hint)
    if not quiet:
        print(f"✓ {question}: correct.")

