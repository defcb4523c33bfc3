"""Hinton et al.'s distillation loss: value against the textbook formula, gradient by finite
differences in float64, stability for large logits, and training a student with fit."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.train import DistillationLoss, DistillationTargets, distillation_loss
from companion.teaching import numerical_gradient, relative_error
from companion.functional import cross_entropy_loss


def textbook(s, t, y, T, alpha):
    """The loss written out directly with exp and log (fine for moderate logits)."""
    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    qt, qs, p = softmax(t / T), softmax(s / T), softmax(s)
    n = s.shape[0]
    kl = np.sum(qt * (np.log(qt) - np.log(qs))) / n
    ce = -np.sum(np.log(p[np.arange(n), y])) / n
    return alpha * T * T * kl + (1 - alpha) * ce


@st.composite
def problems(draw, scales=(0.5, 2.0, 5.0)):
    n = draw(st.integers(1, 5))
    c = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from(scales))
    s = rng.standard_normal((n, c)) * scale
    t = rng.standard_normal((n, c)) * scale
    y = rng.integers(0, c, n)
    T = draw(st.sampled_from([1.0, 2.0, 4.0, 10.0]))
    alpha = draw(st.sampled_from([0.0, 0.3, 0.9, 1.0]))
    return s, t, y, T, alpha


@given(problems())
def test_value_matches_the_formula(problem):
    s, t, y, T, alpha = problem
    value, _ = distillation_loss(s, t, y, temperature=T, alpha=alpha)
    assert value == pytest.approx(textbook(s, t, y, T, alpha), rel=1e-10, abs=1e-12)


# Logits of moderate size: with gaps of 20 or more a confident, correct student has a loss
# of about 1e-10 whose slope central differences in float64 cannot resolve (rounding in
# the loss value alone is ~1e-16), whatever the gradient; large logits are checked below.
@given(problems(scales=(0.5, 1.0, 2.0)))
def test_gradient_matches_finite_differences(problem):
    s, t, y, T, alpha = problem
    s0, t0, y0 = s.copy(), t.copy(), y.copy()
    _, grad = distillation_loss(s, t, y, temperature=T, alpha=alpha)
    f = lambda z: distillation_loss(z, t, y, temperature=T, alpha=alpha)[0]  # noqa: E731
    num = numerical_gradient(f, s.copy(), richardson=True)
    assert relative_error(grad, num) < 1e-7
    np.testing.assert_array_equal(s, s0)                        # inputs untouched
    np.testing.assert_array_equal(t, t0)
    np.testing.assert_array_equal(y, y0)


def test_special_cases():
    rng = np.random.default_rng(0)
    s, t = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    y = np.array([0, 1, 2, 3])
    # alpha = 0: plain cross-entropy
    v, g = distillation_loss(s, t, y, alpha=0.0)
    ce_v, ce_g = cross_entropy_loss(s, y)
    assert v == pytest.approx(ce_v, rel=1e-14)
    np.testing.assert_allclose(g, ce_g, rtol=1e-13, atol=1e-16)
    # a student equal to its teacher: zero soft loss and zero soft gradient
    v, g = distillation_loss(t, t, y, temperature=3.0, alpha=1.0)
    assert v == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(g, 0.0, atol=1e-15)
    # soft gradient: alpha T (q_s - q_t) / N, written out
    T = 4.0
    _, g = distillation_loss(s, t, y, temperature=T, alpha=1.0)
    qs = np.exp(s / T) / np.exp(s / T).sum(1, keepdims=True)
    qt = np.exp(t / T) / np.exp(t / T).sum(1, keepdims=True)
    np.testing.assert_allclose(g, T * (qs - qt) / 4, rtol=1e-12)


def test_stable_for_large_logits_and_keeps_float32():
    s = np.array([[1e4, -1e4, 0.0], [-5e3, 5e3, 1.0]])
    t = np.array([[-1e4, 1e4, 0.0], [5e3, -5e3, 2.0]])
    y = np.array([1, 0])
    v, g = distillation_loss(s, t, y, temperature=2.0, alpha=0.5)
    assert np.isfinite(v) and np.all(np.isfinite(g)) and v > 1e3

    def softmax(z):                                  # shifted by the row maximum
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    expected = (0.5 * 2.0 / 2) * (softmax(s / 2) - softmax(t / 2)) \
        + (0.5 / 2) * (softmax(s) - np.eye(3)[y])
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-300)
    v32, g32 = distillation_loss(s.astype(np.float32), t.astype(np.float32), y)
    assert g32.dtype == np.float32 and np.isfinite(v32) and np.all(np.isfinite(g32))
    _, g_mixed = distillation_loss(s.astype(np.float32), t, y)   # teacher follows the student
    assert g_mixed.dtype == np.float32


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(temperature=0.0), ValueError, "temperature must be a finite number > 0"),
    (dict(temperature=np.inf), ValueError, "temperature must be a finite number > 0"),
    (dict(temperature="4"), TypeError, "temperature must be a real number"),
    (dict(alpha=1.5), ValueError, r"alpha must lie in \[0, 1\]"),
    (dict(teacher_logits=np.zeros((2, 4))), ValueError,
     "teacher_logits and student_logits must have the same shape"),
    (dict(labels=np.array([0, 3])), ValueError, r"labels must lie in \[0, 3\)"),
    (dict(labels=np.array([0.0, 1.0])), TypeError, "labels must be integer"),
    (dict(student_logits=np.array([[np.nan, 0, 0], [0, 0, 0]])), ValueError,
     "student_logits must be finite"),
    (dict(student_logits=np.zeros(3)), ValueError, "student_logits must have 2 dimensions"),
])
def test_rejects_bad_arguments(kwargs, exc, message):
    args = dict(student_logits=np.zeros((2, 3)), teacher_logits=np.ones((2, 3)),
                labels=np.array([0, 1]))
    args.update(kwargs)
    s, t, y = args.pop("student_logits"), args.pop("teacher_logits"), args.pop("labels")
    with pytest.raises(exc, match=message):
        distillation_loss(s, t, y, **args)


def test_distillation_loss_callable_and_targets():
    rng = np.random.default_rng(2)
    s, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    y = np.array([1, 2, 3])
    loss = DistillationLoss(temperature=3.0, alpha=0.7)
    v, g = loss(s, DistillationTargets(y, t))
    v2, g2 = distillation_loss(s, t, y, temperature=3.0, alpha=0.7)
    assert v == v2
    np.testing.assert_array_equal(g, g2)
    assert repr(loss) == "DistillationLoss(temperature=3.0, alpha=0.7)"
    with pytest.raises(TypeError, match="targets must be DistillationTargets"):
        loss(s, y)
    with pytest.raises(ValueError, match="temperature must be"):
        DistillationLoss(temperature=-1)


def test_student_learns_from_teacher_logits_with_fit():
    """A linear student distilled from a fixed linear teacher comes to agree with it."""
    from companion.nn import Dense
    from companion.nn import Sequential
    from companion.optim import Adam
    from companion.train import fit, predict

    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 4))
    teacher = Sequential(Dense(4, 3, rng=1, dtype=np.float64))
    teacher_logits = predict(teacher, x)
    labels = np.argmax(teacher_logits, axis=1)
    student = Sequential(Dense(4, 3, rng=2, dtype=np.float64))
    targets = DistillationTargets(labels, teacher_logits)
    loss = DistillationLoss(temperature=2.0, alpha=0.9)
    before = loss(predict(student, x), targets)[0]
    history = fit(student, (x, targets), loss=loss, optimizer=Adam(lr=0.05), epochs=15,
                  batch_size=32, rng=0, progress=False)
    after = loss(predict(student, x), targets)[0]
    assert after < 0.2 * before
    assert history.train_acc[-1] > 0.95
    assert np.mean(np.argmax(predict(student, x), 1) == labels) > 0.95


def test_fit_validates_a_distilled_student_on_plain_labels():
    """Distillation targets for training, labels for validation: cross-entropy by default."""
    from companion.nn import Dense
    from companion.nn import Sequential
    from companion.optim import Adam
    from companion.train import evaluate, fit, predict

    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 4))
    x_val = rng.standard_normal((50, 4))
    teacher = Sequential(Dense(4, 3, rng=1, dtype=np.float64))
    labels, labels_val = np.argmax(predict(teacher, x), 1), np.argmax(predict(teacher, x_val), 1)
    targets = DistillationTargets(labels, predict(teacher, x))
    student = Sequential(Dense(4, 3, rng=2, dtype=np.float64))
    history = fit(student, (x, targets), loss=DistillationLoss(2.0, 0.9), optimizer=Adam(lr=0.05),
                  epochs=3, batch_size=32, rng=0, progress=False, val_data=(x_val, labels_val))
    assert len(history.val_loss) == 3
    assert history.val_loss[-1] == evaluate(student, x_val, labels_val)[0]
    # an explicit val_loss is used as given
    targets_val = DistillationTargets(labels_val, predict(teacher, x_val))
    loss = DistillationLoss(2.0, 0.9)
    history = fit(student, (x, targets), loss=loss, optimizer=Adam(lr=0.05), epochs=1,
                  batch_size=32, rng=0, progress=False, val_data=(x_val, targets_val))
    assert history.val_loss[-1] == evaluate(student, x_val, targets_val, loss=loss)[0]
    with pytest.raises(TypeError, match="val_loss"):
        fit(student, (x, targets), loss=loss, optimizer=Adam(lr=0.05), epochs=1,
            progress=False, val_data=(x_val, labels_val), val_loss=3)
