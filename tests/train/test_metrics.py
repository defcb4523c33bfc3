"""Accuracy, top-k accuracy, confusion matrix, per-class and per-pixel accuracy, against
brute-force loops."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.train import (
    accuracy,
    confusion_matrix,
    per_class_accuracy,
    pixel_accuracy,
    predicted_labels,
    top_k_accuracy,
)


@st.composite
def scored_batches(draw, ties=True):
    """(scores (N, C), labels (N,)); with ties, scores are small integers so that many tie."""
    n = draw(st.integers(1, 12))
    c = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if ties and draw(st.booleans()):
        scores = rng.integers(-2, 3, size=(n, c)).astype(np.float64)
    else:
        scores = rng.standard_normal((n, c))
    labels = rng.integers(0, c, size=n)
    return scores, labels


def brute_rank(scores_row, label):
    """Position of ``label`` when classes are sorted by score (descending), lower index first."""
    order = sorted(range(len(scores_row)), key=lambda j: (-scores_row[j], j))
    return order.index(label)


@given(scored_batches())
def test_accuracy_from_scores_and_from_labels(batch):
    scores, labels = batch
    expected = np.mean([int(np.argmax(s)) == y for s, y in zip(scores, labels)])
    assert accuracy(scores, labels) == pytest.approx(expected, abs=0)
    assert accuracy(np.argmax(scores, axis=1), labels) == pytest.approx(expected, abs=0)
    assert accuracy(labels, labels) == 1.0


@given(scored_batches(), st.integers(1, 6))
def test_top_k_accuracy_matches_sorted_ranks(batch, k):
    scores, labels = batch
    c = scores.shape[1]
    k = min(k, c)
    s0 = scores.copy()
    expected = np.mean([brute_rank(s, y) < k for s, y in zip(scores, labels)])
    assert top_k_accuracy(scores, labels, k) == pytest.approx(expected, abs=0)
    assert top_k_accuracy(scores, labels, 1) == accuracy(scores, labels)   # ties as argmax
    assert top_k_accuracy(scores, labels, c) == 1.0
    if k > 1:
        assert top_k_accuracy(scores, labels, k) >= top_k_accuracy(scores, labels, k - 1)
    np.testing.assert_array_equal(scores, s0)


@given(scored_batches())
def test_confusion_matrix_counts_pairs(batch):
    scores, labels = batch
    c = scores.shape[1]
    pred = np.argmax(scores, axis=1)
    m = confusion_matrix(labels, pred, c)
    brute = np.zeros((c, c), dtype=np.int64)
    for t, p in zip(labels, pred):
        brute[t, p] += 1
    np.testing.assert_array_equal(m, brute)
    np.testing.assert_array_equal(confusion_matrix(labels, scores, c), brute)   # scores too
    assert m.dtype == np.int64 and m.sum() == len(labels)
    assert np.trace(m) / m.sum() == pytest.approx(accuracy(scores, labels), abs=1e-15)


def test_per_class_accuracy_and_missing_classes():
    y_true = np.array([0, 0, 0, 1, 1, 3])
    y_pred = np.array([0, 1, 0, 1, 1, 0])
    acc = per_class_accuracy(y_true, y_pred, 4)
    np.testing.assert_allclose(acc[[0, 1, 3]], [2 / 3, 1.0, 0.0])
    assert np.isnan(acc[2])                       # no example of class 2: undefined, NaN
    m = confusion_matrix(y_true, y_pred, 4)
    assert m[0, 1] == 1 and m[3, 0] == 1 and m[2].sum() == 0


def test_known_values():
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.0], [1.0, 1.0, 3.0], [3.0, 3.0, 0.0]])
    labels = np.array([0, 2, 2, 1])
    assert accuracy(logits, labels) == 0.5         # the tie in row 3 goes to class 0
    assert top_k_accuracy(logits, labels, 2) == 0.75   # row 1: class 2 has the lowest score
    assert top_k_accuracy(logits, labels, 3) == 1.0
    assert top_k_accuracy(logits.astype(np.float32), labels, 1) == 0.5
    np.testing.assert_array_equal(predicted_labels(logits), [0, 1, 2, 0])


@pytest.mark.parametrize("call, exc, message", [
    (lambda: accuracy(np.zeros((3, 2)), np.array([0, 1])), ValueError, r"labels must have shape \(3,\)"),
    (lambda: accuracy(np.zeros((2, 2)), np.array([0, 2])), ValueError, r"labels must lie in \[0, 2\)"),
    (lambda: accuracy(np.zeros((2, 2)), np.array([0.0, 1.0])), TypeError, "labels must be integer"),
    (lambda: accuracy(np.array([[np.nan, 0.0]]), np.array([0])), ValueError, "must be finite"),
    (lambda: accuracy(np.zeros((0, 3)), np.zeros(0, int)), ValueError, "at least one example"),
    (lambda: accuracy(np.zeros((2, 2, 2), int), np.zeros(2, int)), ValueError,
     "labels of shape"),
    (lambda: accuracy(np.array([0, -1]), np.array([0, 1])), ValueError, "labels >= 0"),
    (lambda: top_k_accuracy(np.zeros((2, 3)), np.array([0, 1]), 4), ValueError,
     r"k must lie in \[1, 3\]"),
    (lambda: top_k_accuracy(np.zeros((2, 3)), np.array([0, 1]), 0), ValueError,
     "k must be a positive integer"),
    (lambda: confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3), ValueError,
     r"y_true must lie in \[0, 3\)"),
    (lambda: confusion_matrix(np.array([0, 1]), np.array([0, 5]), 3), ValueError,
     r"y_pred must lie in \[0, 3\)"),
    (lambda: confusion_matrix(np.array([0, 1]), np.zeros((2, 4)), 3), ValueError,
     "y_pred must have 3 columns"),
    (lambda: confusion_matrix(np.array([0, 1]), np.array([0, 1]), 0), ValueError,
     "num_classes must be a positive integer"),
])
def test_metrics_reject_bad_input(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


# ----------------------------------------------------------------------------- pixel accuracy
def test_pixel_accuracy_multiclass_and_binary():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 4, 5, 6))
    labels = rng.integers(0, 4, (3, 5, 6))
    expected = np.mean(np.argmax(logits, axis=1) == labels)
    assert pixel_accuracy(logits, labels) == expected
    assert pixel_accuracy(logits, np.argmax(logits, axis=1)) == 1.0
    z = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
    t = (rng.random((2, 1, 4, 4)) > 0.5).astype(np.float32)
    binary = np.mean((z > 0) == (t == 1))
    assert pixel_accuracy(z, t) == binary == pixel_accuracy(z, t[:, 0].astype(int))
    # one pixel per example: accuracy of a classifier with a class axis of size K
    assert pixel_accuracy(logits[:, :, :1, :1], labels[:, :1, :1]) == accuracy(
        logits[:, :, 0, 0], labels[:, 0, 0])


@pytest.mark.parametrize("logits, labels, exc, message", [
    (np.zeros((2, 3)), np.zeros(2, int), ValueError, r"logits must have shape \(N, K, H, W\)"),
    (np.zeros((2, 3, 4, 4)), np.zeros((2, 4, 5), int), ValueError,
     r"labels must have shape \(2, 4, 4\)"),
    (np.zeros((2, 3, 4, 4)), np.zeros((2, 4, 4)), TypeError, "labels must be integer"),
    (np.zeros((2, 3, 4, 4)), np.full((2, 4, 4), 3), ValueError, r"labels must lie in \[0, 3\)"),
    (np.zeros((2, 1, 4, 4)), np.full((2, 1, 4, 4), 0.5), ValueError, "labels must be 0 or 1"),
    (np.full((1, 2, 2, 2), np.nan), np.zeros((1, 2, 2), int), ValueError, "must be finite"),
])
def test_pixel_accuracy_rejects_bad_input(logits, labels, exc, message):
    with pytest.raises(exc, match=message):
        pixel_accuracy(logits, labels)
