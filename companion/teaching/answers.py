"""Short answers checked against a salted digest, so a check cell never prints the answer.

Conceptual questions (an output shape, a parameter count, which formula is
right) are checked with :func:`check_answer` against a salted SHA-256 digest of
the correct answer; instructors compute the digest with :func:`answer_digest`.
A wrong answer raises :class:`~companion.teaching.checks.CheckFailure`.
"""
from __future__ import annotations

import hashlib
import numbers
from typing import Optional, Sequence

import numpy as np

from companion.teaching.checks import CheckFailure
from companion.teaching.compare import describe_value

__all__ = ["answer_digest", "check_answer", "judge_answer"]

_SALT = "cnn-backprop-course"
_DIGEST_LENGTH = 16


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


_KINDS = {int: "an int", float: "a number", str: "a string", tuple: "a tuple"}


def _kind_problem(answer, kind) -> Optional[str]:
    """Why ``answer`` is not of ``kind`` (int, float, str or tuple), or ``None``."""
    if kind is None:
        return None
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of int, float, str, tuple or None, got {kind!r}")
    if kind is int:
        ok = isinstance(answer, numbers.Integral) and not isinstance(answer, (bool, np.bool_))
        if not ok and isinstance(answer, (float, np.floating)) and float(answer).is_integer():
            return "an int is expected, not a float: write 400, not 400.0 (or use //)"
    elif kind is float:
        ok = isinstance(answer, numbers.Real) and not isinstance(answer, (bool, np.bool_))
    elif kind is tuple:
        ok = isinstance(answer, (tuple, list))
    else:
        ok = isinstance(answer, str)
    return None if ok else f"{_KINDS[kind]} is expected"


def judge_answer(answer, digest: Optional[str], *, question: str,
                 choices: Optional[Sequence] = None, kind=None,
                 hint: Optional[str] = None) -> Optional[CheckFailure]:
    """The verdict on a short answer: ``None`` or the :class:`CheckFailure` to raise.

    With ``digest=None`` only the form is checked (answered, of ``kind``, one of
    ``choices``). :func:`check_answer` raises what this returns; the grader
    calls it in its own process on the answer a notebook computed.
    """
    if digest is not None and (not isinstance(digest, str) or len(digest) != _DIGEST_LENGTH):
        raise ValueError(f"digest must be a string of {_DIGEST_LENGTH} hex digits from "
                         f"answer_digest, got {digest!r}")
    if answer is None or answer is Ellipsis:
        return CheckFailure(f"Question `{question}` is not answered yet.",
                            hint="Set the answer variable in the cell above and run it.")
    problem = _kind_problem(answer, kind)
    if problem is not None:
        return CheckFailure(f"The answer to `{question}` has the wrong kind.",
                            [("got", describe_value(answer)), ("expected", problem)])
    try:
        given = _normalize_answer(answer)
    except TypeError as exc:
        return CheckFailure(f"The answer to `{question}` has the wrong kind.",
                            [("got", describe_value(answer)), ("expected", str(exc))])
    if choices is not None:
        options = [_normalize_answer(c) for c in choices]
        if given not in options:
            listed = ", ".join(repr(c) for c in choices)
            return CheckFailure(f"The answer to `{question}` must be one of {listed}.",
                                [("got", repr(answer))])
    if digest is not None and answer_digest(answer, question) != digest:
        return CheckFailure(f"The answer to `{question}` is not right yet.",
                            [("your answer", repr(answer))], hint=hint)
    return None


def check_answer(answer, digest: Optional[str] = None, *, question: str,
                 choices: Optional[Sequence] = None, kind=None, hint: Optional[str] = None,
                 quiet: bool = False) -> None:
    """Check a short answer against the digest of the correct one, or only its form.

    A check that says right or wrong at once is an oracle: a multiple-choice
    question or a small integer could be found by trying every value. So the
    notebooks students get check only the *form* of an answer (``digest=None``:
    answered, of the right kind, one of the choices); whether it is right is
    checked when the notebook is graded, by the grader's own process, with the
    digest from the hidden tests.

    Parameters
    ----------
    answer : str, number, or tuple of them
        The learner's answer (``...`` or ``None`` means not answered).
    digest : str, optional
        ``answer_digest(correct_answer, question)``; ``None`` checks the form only.
    question : str
        The question's identifier (as used for the digest).
    choices : sequence, optional
        For multiple choice: the accepted options; another answer is reported
        as invalid, not as wrong.
    kind : {int, float, str, tuple}, optional
        The kind of answer asked for; ``int`` refuses ``400.0``.
    hint : str, optional
        Shown when the answer is wrong.
    quiet : bool
        Do not print the ``✓`` line on success.

    Raises
    ------
    CheckFailure
        If the answer is missing, of the wrong kind, not one of ``choices``, or
        (with a digest) wrong.
    """
    __tracebackhide__ = True
    failure = judge_answer(answer, digest, question=question, choices=choices, kind=kind,
                           hint=hint)
    if failure is not None:
        raise failure
    if not quiet:
        print(f"✓ {question}: correct." if digest is not None else
              f"✓ {question}: answered. Whether it is right is marked when your "
              "notebook is graded.")
