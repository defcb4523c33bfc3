"""The learner-feedback checks: what they accept, what they reject, and what they say."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.teaching import (
    Case,
    CheckFailure,
    answer_digest,
    check_answer,
    check_function,
)
from companion.functional import cross_entropy_loss
from companion.functional import softmax


def double(x):
    return 2 * x


def value_and_grad(x):
    return float(np.sum(x ** 2)), 2 * x


def one_case(x=None):
    return [Case("a 2x3 array", (np.arange(6.0).reshape(2, 3) if x is None else x,))]


def failure(func, reference=double, cases=None, **kwargs) -> CheckFailure:
    with pytest.raises(CheckFailure) as info:
        check_function(func, reference, cases or one_case(), **kwargs)
    return info.value


# --------------------------------------------------------------------------
# check_function: passing
# --------------------------------------------------------------------------

def test_passes_and_prints_one_line(capsys):
    check_function(lambda x: x + x, double, one_case() * 3)
    assert capsys.readouterr().out == "✓ <lambda> agrees with the reference on 3 cases.\n"


def test_name_quiet_and_tolerance(capsys):
    check_function(lambda x: 2 * x * (1 + 1e-9), double, one_case(), name="twice", quiet=True)
    assert capsys.readouterr().out == ""
    check_function(lambda x: 2 * x + 1e-3, double, one_case(), name="twice", atol=1e-2)
    assert "✓ twice agrees" in capsys.readouterr().out


def test_accepts_lists_and_plain_tuples_as_cases():
    check_function(lambda x: [2 * v for v in x], double, [("a list", (np.array([1.0, 2.0]),))])


def test_compare_selects_outputs(capsys):
    def wrong_grad(x):
        return float(np.sum(x ** 2)), x
    check_function(wrong_grad, value_and_grad, one_case(), outputs=("value", "grad"),
                   compare="value")
    assert "wrong_grad (value) agrees" in capsys.readouterr().out
    err = failure(wrong_grad, value_and_grad, outputs=("value", "grad"), compare=["grad"])
    assert "output `grad` is wrong" in str(err)


def test_reference_gets_its_own_copy():
    def mutating_reference(x):
        x += 1.0          # a reference that mutates must not change what the learner sees
        return x

    check_function(lambda x: x + 1.0, mutating_reference, one_case())


# --------------------------------------------------------------------------
# check_function: the messages
# --------------------------------------------------------------------------

def test_wrong_values_name_the_case_the_entry_and_the_hint():
    def off(x):
        y = 2 * x
        y[1, 2] += 0.5
        return y

    err = failure(off, hint="Multiply by two.")
    text = str(err)
    assert isinstance(err, AssertionError)
    assert text.splitlines()[0] == "off: the result is wrong in case 1 of 1 (a 2x3 array)."
    assert "x = array of shape (2, 3), dtype float64" in text
    assert "expected" in text and "10 at index (1, 2)" in text
    assert "got" in text and "10.5 at index (1, 2)" in text
    assert "wrong entries : 1 of 6" in text
    assert "max |error|   : 5.00e-01" in text
    assert text.rstrip().endswith("hint          : Multiply by two.")
    assert err.summary == text.splitlines()[0] and err.hint == "Multiply by two."
    assert ("wrong entries", "1 of 6") in err.details


def test_wrong_shape_says_transposed():
    text = str(failure(lambda x: (2 * x).T))
    assert "expected : shape (2, 3)" in text and "got      : shape (3, 2)" in text
    assert "transposed" in text


def test_wrong_shape_same_size_says_reshape():
    text = str(failure(lambda x: (2 * x).reshape(6)))
    assert "shape (6,)" in text and "reshape" in text


def test_not_implemented():
    def todo(x):
        raise NotImplementedError()

    err = failure(todo)
    assert str(err).splitlines()[0] == "todo is not implemented yet."
    assert "raise NotImplementedError()" in str(err)
    assert err.__cause__ is None and err.__suppress_context__


def test_an_exception_is_reported_with_the_case_and_chained():
    def broken(x):
        return x / 0 if False else 1 / 0

    err = failure(broken, hint="h")
    assert "broken raised ZeroDivisionError in case 1 of 1 (a 2x3 array)." in str(err)
    assert "ZeroDivisionError: division by zero" in str(err)
    assert isinstance(err.__cause__, ZeroDivisionError)


def test_modifying_an_argument_in_place_fails():
    def in_place(x):
        x *= 2
        return x

    text = str(failure(in_place))
    assert "modified its argument `x` in place" in text


def scaled_dict(grads, c):
    return {k: c * v for k, v in grads.items()}


def dict_case():
    return [Case("two parameters", ({"w": np.arange(4.0).reshape(2, 2), "b": np.ones(2)}, 0.5))]


def test_dicts_are_compared_key_by_key(capsys):
    check_function(lambda g, c: {k: v * c for k, v in g.items()}, scaled_dict, dict_case())
    assert "agrees with the reference on 1 case" in capsys.readouterr().out

    def wrong_bias(g, c):
        out = scaled_dict(g, c)
        out["b"] = out["b"] + 1.0
        return out

    text = str(failure(wrong_bias, scaled_dict, dict_case()))
    assert "the result is wrong in case 1 of 1 (two parameters)" in text
    assert "expected ['b']" in text and "shape (2,), e.g. 0.5 at index (0,)" in text
    assert "got" in text and "1.5 at index (0,)" in text
    text = str(failure(lambda g, c: {"w": g["w"] * c}, scaled_dict, dict_case()))
    assert "the keys ['b', 'w']" in text and "the keys ['w']" in text
    text = str(failure(lambda g, c: [g["w"] * c], scaled_dict, dict_case()))
    assert "a dict with the keys ['b', 'w']" in text


def test_lists_of_arrays_are_compared_item_by_item():
    def halves(arrays):
        return [a / 2 for a in arrays]

    cases = [Case("three arrays", ([np.ones(2), np.zeros((2, 2)), np.arange(3.0)],))]
    check_function(lambda arrays: tuple(a * 0.5 for a in arrays), halves, cases, quiet=True)
    text = str(failure(lambda arrays: [a / 2 for a in arrays[:2]], halves, cases))
    assert "a list of 3 items" in text
    text = str(failure(lambda arrays: [arrays[0] / 2, arrays[1] / 2, arrays[2]], halves, cases))
    assert "expected [2]" in text and "shape (3,), e.g. 1 at index (2,)" in text
    assert "wrong entries : 2 of 3" in text


def test_modifying_an_array_inside_a_dict_or_list_fails():
    def in_place(g, c):
        g["b"] *= c
        return scaled_dict(g, 1.0)

    text = str(failure(in_place, scaled_dict, dict_case()))
    assert "modified its argument `grads['b']` in place" in text

    def in_place_list(arrays):
        arrays[1][0] = 5.0
        return arrays

    text = str(failure(in_place_list, lambda arrays: arrays,
                       [Case("a list", ([np.ones(2), np.ones(2)],))]))
    assert "modified its argument `arrays[1]` in place" in text


def test_none_returned():
    text = str(failure(lambda x: None))
    assert "did you forget `return`" in text


def test_wrong_number_of_outputs():
    text = str(failure(lambda x: 2 * x, value_and_grad, outputs=("value", "grad")))
    assert "must return 2 values (value, grad)" in text and "return value, grad" in text


def test_integer_answers_must_be_ints():
    text = str(failure(lambda n: n / 2 * 2, lambda n: n, [Case("n = 4", (4,))]))
    assert "expected : 4 (an int)" in text and "integer division //" in text
    text = str(failure(lambda n: n + 1, lambda n: n, [Case("n = 4", (4,))]))
    assert "expected : 4" in text and "got      : 5" in text


def test_scalar_against_array_and_non_finite():
    text = str(failure(lambda x: 2 * x, lambda x: float(np.sum(x))))
    assert "an array of shape (2, 3)" in text and "reduce it" in text
    text = str(failure(lambda x: float("inf"), lambda x: 1.0))
    assert "overflow" in text
    text = str(failure(lambda x: np.full_like(x, np.nan), double))
    assert "6 NaN or infinite value(s), the first at index (0, 0)" in text


def test_booleans_and_other_values():
    text = str(failure(lambda x: 1, lambda x: True))
    assert "True (a bool)" in text
    text = str(failure(lambda x: "b", lambda x: "a"))
    assert "expected : 'a'" in text and "got      : 'b'" in text


def test_float_instead_of_integer_array():
    text = str(failure(lambda x: np.zeros(3), lambda x: np.zeros(3, dtype=np.int64)))
    assert "an integer array" in text


def test_not_a_function():
    with pytest.raises(CheckFailure, match="is not a function"):
        check_function(42, double, one_case(), name="f")


def test_bugs_in_the_check_itself_raise_type_error():
    with pytest.raises(TypeError, match="reference must be callable"):
        check_function(double, None, one_case())
    with pytest.raises(TypeError, match="each case must be a Case"):
        check_function(double, double, ["not a case"])
    with pytest.raises(TypeError, match="at least one Case"):
        check_function(double, double, [])
    with pytest.raises(TypeError, match="not in outputs"):
        check_function(double, double, one_case(), compare="grad")
    with pytest.raises(TypeError, match="reference must return 2 outputs"):
        check_function(double, double, one_case(), outputs=("a", "b"))


def test_a_real_exercise_message():
    """The message a learner sees for a cross-entropy that forgets the 1/N of the mean."""
    def no_mean(logits, labels):
        p = softmax(logits)
        grad = p.copy()
        grad[np.arange(len(labels)), labels] -= 1
        return cross_entropy_loss(logits, labels)[0], grad

    rng = np.random.default_rng(0)
    cases = [Case("4 examples, 3 classes", (rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])))]
    err = failure(no_mean, cross_entropy_loss, cases, outputs=("value", "grad"),
                  hint="divide by N")
    text = str(err)
    assert "no_mean: output `grad` is wrong in case 1 of 1 (4 examples, 3 classes)." in text
    assert "logits = array of shape (4, 3), dtype float64" in text
    assert "target = array [0, 2, 1, 2] (int64)" in text
    assert "wrong entries : 12 of 12" in text
    assert "relative 3.00e+00" in text       # 4x too large = relative error 3


@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 5)), seed=st.integers(0, 2**32 - 1),
       bump=st.floats(1e-3, 1e3))
def test_property_the_worst_entry_is_reported(shape, seed, bump):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    flat = int(rng.integers(x.size))
    idx = np.unravel_index(flat, shape)

    def perturbed(a):
        y = 2 * a
        y[idx] += bump
        return y

    check_function(lambda a: 2 * a, double, one_case(x), quiet=True)
    text = str(failure(perturbed, cases=one_case(x)))
    assert f"at index {tuple(int(i) for i in idx)}" in text
    assert "wrong entries : 1 of" in text


# --------------------------------------------------------------------------
# check_answer and answer_digest
# --------------------------------------------------------------------------

def test_answer_digest_normalizes():
    q = "q"
    assert answer_digest("B ", q) == answer_digest("b", q)
    assert answer_digest(" two  words", q) == answer_digest("Two Words", q)
    assert answer_digest(12, q) == answer_digest(12.0, q) == answer_digest(np.int64(12), q)
    assert answer_digest((16, 4, 4), q) == answer_digest([16, 4, 4], q) \
        == answer_digest(np.array([16, 4, 4]), q)
    assert answer_digest(1 / 3, q) == answer_digest(0.3333333, q) != answer_digest(0.333, q)
    assert answer_digest("b", "q1") != answer_digest("b", "q2")
    assert len(answer_digest("b", q)) == 16
    with pytest.raises(ValueError, match="question"):
        answer_digest("b", "")
    with pytest.raises(TypeError, match="answer must be"):
        answer_digest({"a": 1}, q)


def test_check_answer_right(capsys):
    check_answer(" B", answer_digest("b", "q"), question="q", choices=["a", "b"])
    assert capsys.readouterr().out == "✓ q: correct.\n"


def test_check_answer_wrong_gives_the_hint_not_the_answer():
    with pytest.raises(CheckFailure) as info:
        check_answer("a", answer_digest("b", "q"), question="q", choices="abcd", hint="think")
    text = str(info.value)
    assert text.splitlines()[0] == "The answer to `q` is not right yet."
    assert "your answer : 'a'" in text and "hint        : think" in text
    assert "'b'" not in text


def test_check_answer_invalid_choice_missing_and_wrong_kind():
    digest = answer_digest("b", "q")
    with pytest.raises(CheckFailure, match=r"must be one of 'a', 'b'"):
        check_answer("e", digest, question="q", choices=["a", "b"])
    with pytest.raises(CheckFailure, match="not answered yet"):
        check_answer(..., digest, question="q")
    with pytest.raises(CheckFailure, match="not answered yet"):
        check_answer(None, digest, question="q")
    with pytest.raises(CheckFailure, match="wrong kind"):
        check_answer({"b"}, digest, question="q")
    with pytest.raises(ValueError, match="digest must be"):
        check_answer("b", "abc", question="q")
