"""Short answers: the form-only check students get, and the digest check of grading."""
import numpy as np
import pytest

from companion.teaching import CheckFailure, answer_digest, check_answer
from companion.teaching.answers import judge_answer

ANSWERED = "✓ q: answered. Whether it is right is marked when your notebook is graded.\n"


# --------------------------------------------------------------------------
# Form only (no digest): what the released notebooks run
# --------------------------------------------------------------------------

def test_form_only_accepts_an_answer_of_the_right_form_and_says_it_is_not_marked(capsys):
    check_answer(" B", question="q", choices=["a", "b", "c", "d"])
    assert capsys.readouterr().out == ANSWERED
    check_answer(400, question="q", kind=int)
    check_answer(np.int64(400), question="q", kind=int)
    check_answer(0.25, question="q", kind=float)
    check_answer(9, question="q", kind=float)           # an int is a number
    check_answer((16, 4, 4), question="q", kind=tuple)
    check_answer([16, 4, 4], question="q", kind=tuple)
    check_answer("b", question="q", kind=str)
    assert capsys.readouterr().out == 7 * ANSWERED


def test_form_only_says_neither_right_nor_wrong(capsys):
    # any answer of the right form passes: the check is no oracle
    for letter in "abcd":
        check_answer(letter, question="q", choices="abcd")
    for n in range(5):
        check_answer(n, question="q", kind=int)
    out = capsys.readouterr().out
    assert "correct" not in out and out.count("answered.") == 9


def test_form_only_quiet_prints_nothing(capsys):
    check_answer("a", question="q", choices="ab", quiet=True)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("missing", [..., None])
def test_form_only_refuses_an_unanswered_question(missing):
    with pytest.raises(CheckFailure) as info:
        check_answer(missing, question="q", kind=int)
    assert str(info.value).splitlines()[0] == "Question `q` is not answered yet."
    assert info.value.hint == "Set the answer variable in the cell above and run it."


@pytest.mark.parametrize("answer, kind, expected", [
    ("400", int, "an int is expected"),
    (3.5, int, "an int is expected"),
    ("0.25", float, "a number is expected"),
    (True, float, "a number is expected"),
    (16, tuple, "a tuple is expected"),
    ("(16, 4, 4)", tuple, "a tuple is expected"),
    (1, str, "a string is expected"),
])
def test_form_only_refuses_the_wrong_kind(answer, kind, expected):
    with pytest.raises(CheckFailure) as info:
        check_answer(answer, question="q", kind=kind)
    text = str(info.value)
    assert text.splitlines()[0] == "The answer to `q` has the wrong kind."
    assert expected in text


def test_kind_int_refuses_a_whole_float_with_advice():
    for answer in (400.0, np.float64(400.0)):
        with pytest.raises(CheckFailure) as info:
            check_answer(answer, question="q", kind=int)
        assert "write 400, not 400.0" in str(info.value)


@pytest.mark.parametrize("flag", [True, False, np.bool_(True)])
def test_kind_int_refuses_a_bool(flag):
    with pytest.raises(CheckFailure, match="an int is expected"):
        check_answer(flag, question="q", kind=int)


def test_an_answer_that_cannot_be_an_answer_has_the_wrong_kind():
    with pytest.raises(CheckFailure, match="wrong kind"):
        check_answer({"b"}, question="q")


def test_form_only_refuses_an_answer_not_among_the_choices():
    with pytest.raises(CheckFailure) as info:
        check_answer("e", question="q", choices=["a", "b", "c", "d"])
    text = str(info.value)
    assert text.splitlines()[0] == "The answer to `q` must be one of 'a', 'b', 'c', 'd'."
    assert "got : 'e'" in text


def test_unknown_kind_is_an_error_of_the_check_not_of_the_answer():
    with pytest.raises(ValueError, match="kind must be one of"):
        check_answer(3, question="q", kind=list)
    with pytest.raises(ValueError, match="kind must be one of"):
        judge_answer(3, None, question="q", kind="int")


# --------------------------------------------------------------------------
# With a digest: what the hidden tests run at grading time
# --------------------------------------------------------------------------

def test_digest_mode_says_right(capsys):
    check_answer(400, answer_digest(400, "q"), question="q", kind=int)
    check_answer(" B", answer_digest("b", "q"), question="q", choices="abcd")
    assert capsys.readouterr().out == "✓ q: correct.\n" * 2


def test_digest_mode_says_wrong_with_the_hint_and_not_the_answer():
    with pytest.raises(CheckFailure) as info:
        check_answer(401, answer_digest(400, "q"), question="q", kind=int, hint="think")
    text = str(info.value)
    assert text.splitlines()[0] == "The answer to `q` is not right yet."
    assert "your answer : 401" in text and "hint        : think" in text
    assert "400" not in text


def test_digest_mode_checks_the_form_first():
    digest = answer_digest(400, "q")
    with pytest.raises(CheckFailure, match="write 400, not 400.0"):
        check_answer(400.0, digest, question="q", kind=int)
    with pytest.raises(CheckFailure, match="not answered yet"):
        check_answer(..., digest, question="q", kind=int)
    with pytest.raises(CheckFailure, match="must be one of"):
        check_answer("e", answer_digest("b", "q"), question="q", choices="abcd")


def test_a_malformed_digest_is_an_error():
    with pytest.raises(ValueError, match="digest must be"):
        check_answer("b", "abc", question="q")


# --------------------------------------------------------------------------
# judge_answer: the verdict without raising (the grader's entry point)
# --------------------------------------------------------------------------

def test_judge_answer_returns_none_when_nothing_is_wrong(capsys):
    assert judge_answer("b", None, question="q", choices="abcd") is None
    assert judge_answer(400, answer_digest(400, "q"), question="q", kind=int) is None
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("answer, digest, kwargs, summary", [
    (..., None, {}, "Question `q` is not answered yet."),
    (400.0, None, {"kind": int}, "The answer to `q` has the wrong kind."),
    ("e", None, {"choices": "abcd"}, "The answer to `q` must be one of 'a', 'b', 'c', 'd'."),
    ("a", answer_digest("b", "q"), {"hint": "h"}, "The answer to `q` is not right yet."),
])
def test_judge_answer_returns_the_failure_instead_of_raising(answer, digest, kwargs, summary):
    verdict = judge_answer(answer, digest, question="q", **kwargs)
    assert isinstance(verdict, CheckFailure)
    assert verdict.summary == summary
    with pytest.raises(CheckFailure) as info:
        check_answer(answer, digest, question="q", **kwargs)
    assert str(info.value) == str(verdict)


def test_judge_answer_keeps_the_hint_for_a_wrong_answer_only():
    digest = answer_digest("b", "q")
    assert judge_answer("a", digest, question="q", hint="h").hint == "h"
    assert judge_answer("e", digest, question="q", choices="abcd", hint="h").hint is None
