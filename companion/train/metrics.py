r"""Classification metrics: accuracy, top-k accuracy, confusion matrix, per-class accuracy,
and the per-pixel accuracy of a segmentation.

Predictions may be given as class labels (integers, shape ``(N,)``) or as
scores (logits or probabilities, floats, shape ``(N, C)``); scores are turned
into labels by ``argmax`` over the classes, the **first** maximum winning a
tie (``np.argmax``'s rule, used everywhere here so that the functions agree
with one another).

* :func:`accuracy`: :math:`\frac1N\sum_i [\hat y_i = y_i]`;
* :func:`top_k_accuracy`: the fraction of examples whose true class is among
  the ``k`` highest scores;
* :func:`confusion_matrix`: :math:`M_{ij}` = number of examples of true class
  :math:`i` predicted as :math:`j` (rows: truth, columns: prediction, as in
  scikit-learn);
* :func:`per_class_accuracy`: :math:`M_{ii} / \sum_j M_{ij}`, the accuracy on
  the examples of each class (the recall of that class);
* :func:`pixel_accuracy`: the fraction of pixels whose predicted class is the
  true one, for maps of logits ``(N, K, H, W)`` (``K = 1``: one binary logit).

Inputs are never modified; every result is a Python float or a new array.
"""
from __future__ import annotations

import numpy as np

from companion._validate import as_float_array, as_labels, as_positive_int

__all__ = ["predicted_labels", "accuracy", "top_k_accuracy", "confusion_matrix",
           "per_class_accuracy", "pixel_accuracy"]


def _as_true_labels(y, name: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(y)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer class labels, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) to match the predictions, "
                         f"got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one label, got shape {arr.shape}")
    if arr.min() < 0:
        raise ValueError(f"{name} must hold class labels >= 0, got {arr.min()}")
    return arr.astype(np.int64, copy=False)


def predicted_labels(logits_or_labels, name: str = "logits_or_labels",
                     num_classes: int | None = None) -> np.ndarray:
    """Class labels from scores ``(N, C)`` (first argmax) or from labels ``(N,)`` (checked).

    Parameters
    ----------
    logits_or_labels : array_like
        Float scores of shape ``(N, C)`` (finite, ``C >= 1``), or integer labels
        of shape ``(N,)``.
    name : str
        Argument name used in error messages.
    num_classes : int, optional
        When given, scores must have ``C == num_classes`` columns and labels
        must lie in ``[0, num_classes)``.

    Returns
    -------
    ndarray of int64, shape ``(N,)``
    """
    arr = np.asarray(logits_or_labels)
    if arr.dtype.kind in "iu" and arr.ndim == 1:
        labels = _as_true_labels(arr, name)
        if num_classes is not None and labels.max() >= num_classes:
            raise ValueError(f"{name} must lie in [0, {num_classes}), got {labels.max()}")
        return labels
    if arr.dtype.kind in "iu":
        raise ValueError(f"{name} must be labels of shape (N,) or scores of shape (N, C), "
                         f"got integers of shape {arr.shape}")
    scores = as_float_array(arr, name, ndim=2)
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(f"{name} must have at least one example and one class, "
                         f"got shape {scores.shape}")
    if num_classes is not None and scores.shape[1] != num_classes:
        raise ValueError(f"{name} must have {num_classes} columns (one per class), "
                         f"got shape {scores.shape}")
    return np.argmax(scores, axis=1).astype(np.int64)


def accuracy(logits_or_labels, labels) -> float:
    r"""Fraction of correct predictions, :math:`\frac1N\sum_i [\hat y_i = y_i]`.

    Parameters
    ----------
    logits_or_labels : array_like
        Scores ``(N, C)`` (logits or probabilities: the prediction is the first
        argmax) or predicted labels ``(N,)`` of an integer dtype.
    labels : array_like of int, shape ``(N,)``
        True classes; with scores they must lie in ``[0, C)``.

    Returns
    -------
    float in [0, 1]
    """
    arr = np.asarray(logits_or_labels)
    pred = predicted_labels(arr)
    n = pred.shape[0]
    if arr.ndim == 2:
        y = as_labels(labels, "labels", n=n, num_classes=arr.shape[1])
    else:
        y = _as_true_labels(labels, "labels", n)
    return float(np.count_nonzero(pred == y)) / n


def top_k_accuracy(scores, labels, k: int = 5) -> float:
    r"""Fraction of examples whose true class is among the ``k`` highest scores.

    The classes are ranked by decreasing score, a tie going to the lower class
    index (as ``np.argmax``). The rank of the true class :math:`y` is

    .. math:: r = \#\{j : s_j > s_y\} + \#\{j < y : s_j = s_y\},

    and the example counts when :math:`r < k`. With ``k = 1`` this is exactly
    :func:`accuracy`; with ``k = C`` it is 1.

    Parameters
    ----------
    scores : array_like, shape ``(N, C)``
        Finite logits or probabilities.
    labels : array_like of int, shape ``(N,)``
        True classes in ``[0, C)``.
    k : int, 1 <= k <= C

    Returns
    -------
    float in [0, 1]
    """
    s = as_float_array(scores, "scores", ndim=2)
    n, c = s.shape
    if n == 0 or c == 0:
        raise ValueError(f"scores must have at least one example and one class, "
                         f"got shape {s.shape}")
    y = as_labels(labels, "labels", n=n, num_classes=c)
    k = as_positive_int(k, "k")
    if k > c:
        raise ValueError(f"k must lie in [1, {c}] (the number of classes), got {k}")
    true_score = s[np.arange(n), y][:, None]
    before = np.arange(c)[None, :] < y[:, None]
    rank = np.count_nonzero(s > true_score, axis=1) + np.count_nonzero(
        (s == true_score) & before, axis=1)
    return float(np.count_nonzero(rank < k)) / n


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    .. math:: M_{ij} = \\#\\{n : y_n = i,\\ \\hat y_n = j\\}

    Rows are the true classes and columns the predictions (scikit-learn's
    convention): the diagonal holds the correct predictions, row sums are the
    class sizes, and ``M.sum() == N``.

    Parameters
    ----------
    y_true : array_like of int, shape ``(N,)``
        True classes in ``[0, num_classes)``.
    y_pred : array_like
        Predicted labels ``(N,)`` (integers) or scores ``(N, num_classes)``
        (first argmax).
    num_classes : int, >= 1

    Returns
    -------
    ndarray of int64, shape ``(num_classes, num_classes)``
    """
    num_classes = as_positive_int(num_classes, "num_classes")
    pred = predicted_labels(y_pred, "y_pred", num_classes=num_classes)
    y = as_labels(y_true, "y_true", n=pred.shape[0], num_classes=num_classes)
    counts = np.bincount(y * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def per_class_accuracy(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Accuracy on the examples of each class: ``diag(M) / M.sum(axis=1)``.

    Parameters
    ----------
    y_true, y_pred, num_classes
        As :func:`confusion_matrix`.

    Returns
    -------
    ndarray of float64, shape ``(num_classes,)``
        Entry ``c`` is the fraction of the examples of class ``c`` predicted as
        ``c``. A class with **no** example in ``y_true`` has no accuracy: its
        entry is NaN (by design, not by accident; use ``np.nanmean`` to average).
    """
    m = confusion_matrix(y_true, y_pred, num_classes)
    support = m.sum(axis=1)
    out = np.full(num_classes, np.nan)
    present = support > 0
    out[present] = np.diag(m)[present] / support[present]
    return out


def pixel_accuracy(logits, labels) -> float:
    r"""Fraction of pixels whose predicted class is the true one (segmentation).

    With ``K >= 2`` classes the prediction of a pixel is the first argmax over
    the class axis; with ``K = 1`` the map holds one binary logit per pixel and
    the prediction is ``logit > 0`` (:math:`\sigma(z) > 0.5`). Usable as
    ``fit(..., metric=pixel_accuracy)``; the mean over pixels of equal-sized
    images, so the batch means weighted by batch size give the mean over all.

    Parameters
    ----------
    logits : array_like, shape ``(N, K, H, W)`` (or any ``(N, K, ...)``)
        Finite scores.
    labels : array_like, shape ``(N, H, W)`` (or ``(N, 1, H, W)`` when ``K = 1``)
        True classes in ``[0, K)``, integers; for ``K = 1`` the targets 0/1
        (integers, booleans or floats equal to 0 or 1, as the binary
        cross-entropy takes them).

    Returns
    -------
    float in [0, 1]
    """
    z = as_float_array(logits, "logits")
    if z.ndim < 3 or z.shape[0] == 0 or z.shape[1] == 0 or z[0, 0].size == 0:
        raise ValueError(f"logits must have shape (N, K, H, W) with N, K >= 1, "
                         f"got {z.shape}")
    y = np.asarray(labels)
    binary = z.shape[1] == 1
    if binary and y.shape == z.shape:
        y = y[:, 0]
    if y.shape != z.shape[:1] + z.shape[2:]:
        raise ValueError(f"labels must have shape {z.shape[:1] + z.shape[2:]} to match "
                         f"logits of shape {z.shape}, got {y.shape}")
    if binary:
        if y.dtype.kind not in "biuf" or not np.all((y == 0) | (y == 1)):
            raise ValueError("labels must be 0 or 1 for a single logit map (K = 1)")
        return float(np.count_nonzero((z[:, 0] > 0) == (y == 1))) / y.size
    if y.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer classes, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels must lie in [0, {z.shape[1]}), got values from "
                         f"{y.min()} to {y.max()}")
    return float(np.count_nonzero(np.argmax(z, axis=1) == y)) / y.size
