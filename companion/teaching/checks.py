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
the correct answer (:mod:`companion.teaching.answers`), so the check cell gives
immediate feedback without printing the answer.

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

from typing import Callable, Iterable, NamedTuple, Optional, Sequence

from companion.teaching.compare import (
    argument_names,
    as_outputs,
    compare_values,
    describe_inputs,
    describe_value,
    modified_argument,
    snapshot_arguments,
)

__all__ = ["CheckFailure", "Case", "check_function", "judge_call", "Returned", "Raised"]


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
                           [("got", describe_value(func))],
                           hint="Define it with `def ...:` in the cell above and run that cell.")
    cases = [as_case(c) for c in cases]
    if not cases:
        raise TypeError("cases must hold at least one Case")
    names = argument_names(reference) or argument_names(func)
    output_names = tuple(outputs) if outputs else ("result",)
    if isinstance(compare, str):
        compare = (compare,)
    compared = tuple(compare) if compare else output_names
    unknown = [c for c in compared if c not in output_names]
    if unknown:
        raise TypeError(f"compare names outputs {unknown} that are not in outputs {output_names}")
    for number, case in enumerate(cases, start=1):
        kwargs = dict(case.kwargs or {})
        original = snapshot_arguments(case.args, kwargs)
        ref_args, ref_kwargs = snapshot_arguments(case.args, kwargs)
        expected = reference(*ref_args, **ref_kwargs)
        own_args, own_kwargs = snapshot_arguments(case.args, kwargs)
        error = None
        try:
            outcome = Returned(func(*own_args, **own_kwargs), own_args, own_kwargs)
        except Exception as exc:  # the learner's bug: reported with the case
            outcome, error = Raised(type(exc).__name__, str(exc)), exc
        failure = judge_call(shown, case, number, len(cases), names, output_names, compared,
                             expected, original, outcome, rtol=rtol, atol=atol, hint=hint)
        if failure is not None:
            # the learner's own traceback stays attached, except for the stub's
            cause = None if isinstance(error, NotImplementedError) else error
            raise failure from cause
    if not quiet:
        what = "" if compared == output_names else " (" + ", ".join(compared) + ")"
        print(f"✓ {shown}{what} agrees with the reference on {len(cases)} case"
              f"{'s' if len(cases) != 1 else ''}.")


class Returned(NamedTuple):
    """What a call of the learner's function returned, and its arguments afterwards."""

    value: object
    args: tuple
    kwargs: dict


class Raised(NamedTuple):
    """A call of the learner's function raised ``error`` (the exception's class name)."""

    error: str
    message: str


def judge_call(shown: str, case: Case, number: int, n_cases: int, names: Sequence[str],
               output_names: Sequence[str], compared: Sequence[str], expected,
               original: tuple, outcome, *, rtol: float, atol: float,
               hint: Optional[str] = None) -> Optional[CheckFailure]:
    """The verdict on one call of a learner's function: ``None`` or the failure to raise.

    :func:`check_function` calls it on each case; the grader calls it in its
    own process, on what the learner's function returned in the sandbox, so
    that both give the same verdict and the same message.

    Parameters
    ----------
    shown : str
        The function's name in messages.
    case : Case
        The inputs; ``number`` of ``n_cases``.
    names : sequence of str
        The names of the positional arguments, for the messages.
    output_names, compared : sequence of str
        The outputs the function returns, and those compared.
    expected
        What the reference returned.
    original : (args, kwargs)
        The arguments before the call, to find in-place changes.
    outcome : Returned or Raised
        What the call did.
    rtol, atol : float
        Tolerance of the float comparisons.
    hint : str, optional
        Shown with every failure.

    Raises
    ------
    TypeError
        If ``expected`` does not have ``len(output_names)`` outputs (a bug in
        the check, not in the answer).
    """
    where = f"case {number} of {n_cases} ({case.description})"
    inputs = ("inputs", describe_inputs(case, names))
    if isinstance(outcome, Raised):
        if outcome.error == "NotImplementedError":
            return CheckFailure(f"{shown} is not implemented yet.", [("case", where)],
                                hint="Replace `raise NotImplementedError()` with your code, "
                                     "run that cell, then run this check again.")
        return CheckFailure(f"{shown} raised {outcome.error} in {where}.",
                            [inputs, ("error", f"{outcome.error}: {outcome.message}")],
                            hint=hint)
    changed = modified_argument(original, (outcome.args, outcome.kwargs), names)
    if changed is not None:
        return CheckFailure(f"{shown} modified its argument `{changed}` in place in {where}.",
                            [inputs],
                            hint="Never change an input array: compute into a new array "
                                 "(e.g. `z = z - m`, not `z -= m`).")
    n_out = len(output_names)
    exp_out = as_outputs(expected, n_out)
    if exp_out is None:
        raise TypeError(f"reference must return {n_out} outputs {tuple(output_names)}, "
                        f"got {describe_value(expected)}")
    act_out = as_outputs(outcome.value, n_out)
    if act_out is None:
        return CheckFailure(f"{shown} must return {n_out} values "
                            f"({', '.join(output_names)}) in {where}.",
                            [inputs, ("got", describe_value(outcome.value))],
                            hint="Return them as a tuple: `return " + ", ".join(output_names)
                                 + "`.")
    for out_name, e, a in zip(output_names, exp_out, act_out):
        if out_name not in compared:
            continue
        problem = compare_values(e, a, rtol, atol)
        if problem is not None:
            what = f"output `{out_name}`" if n_out > 1 else "the result"
            if a is None:
                problem.append(("note", "None was returned: did you forget `return`?"))
            return CheckFailure(f"{shown}: {what} is wrong in {where}.",
                                [inputs] + problem, hint=hint)
    return None


def as_case(case) -> Case:
    """``case`` as a :class:`Case` (a Case, or a (description, args[, kwargs]) tuple)."""
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
