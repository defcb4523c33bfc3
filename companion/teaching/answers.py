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

__all__ = ["answer_digest", "check_answer"]

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
                           [("got", describe_value(answer)), ("expected", str(exc))]) from None
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
