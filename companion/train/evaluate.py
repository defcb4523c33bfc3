r"""Evaluation: :func:`evaluate` (mean loss and metric) and :func:`predict` (the outputs).

Both run the model in evaluation mode (dropout off, batch norm on its running
statistics), batch by batch, and restore the mode it had. The two helpers
:func:`resolve_loss` and :func:`checked_loss` turn ``loss=`` into a function
and call it with checks; :func:`companion.train.loop.fit` uses them too.

Losses
------
``loss`` is a name from :data:`LOSSES` or a callable ``(logits, y) -> (value,
grad)``: ``value`` the mean loss of the batch, ``grad`` its gradient with
respect to the logits (the convention of :mod:`companion.functional.losses`).
``"cross_entropy"`` takes logits ``(N, C)`` and integer labels ``(N,)``;
``"binary_cross_entropy"`` takes logits of any shape ``(N, ...)`` and targets
of the same shape in ``[0, 1]``, and averages over every element (every pixel
of a segmentation map).
"""
from __future__ import annotations

import math

import numpy as np

from companion._validate import (
    NonFiniteError,
    as_data_pair,
    as_examples,
    as_positive_int,
    check_model,
)
from companion.data import minibatches
from companion.functional import binary_cross_entropy_loss, cross_entropy_loss
from companion.train.metrics import accuracy

__all__ = ["LOSSES", "evaluate", "predict", "resolve_loss", "checked_loss", "labels_of",
           "needs_labels", "as_metric"]

LOSSES = {"cross_entropy": cross_entropy_loss,
          "binary_cross_entropy": binary_cross_entropy_loss}
"""Loss names accepted by :func:`evaluate` and :func:`companion.train.loop.fit`."""


def labels_of(y):
    """The labels in targets ``y``: ``y`` itself, or the first array of a tuple."""
    return y[0] if isinstance(y, tuple) else y


def needs_labels(loss) -> bool:
    """Whether ``loss`` (a name or a callable) needs integer class labels ``(N,)``."""
    return isinstance(loss, str) and loss == "cross_entropy"


def resolve_loss(loss, name: str = "loss"):
    """The loss function for ``loss`` (a name of :data:`LOSSES` or a callable)."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"{name} must be one of {sorted(LOSSES)} or a callable "
                             f"(logits, y) -> (value, grad), got {loss!r}")
        return LOSSES[loss]
    if not callable(loss):
        raise TypeError(f"{name} must be a loss name or a callable (logits, y) -> "
                        f"(value, grad), got {type(loss).__name__}")
    return loss


def checked_loss(loss_fn, logits, yb, where: str):
    """``loss_fn(logits, yb)`` as ``(float value, grad)``, checked.

    Raises ``TypeError`` if the loss does not return a pair led by a number and
    :class:`~companion._validate.NonFiniteError` if the value is NaN or
    infinite (``where`` says where, e.g. ``"at epoch 2, step 5 of 10"``).
    """
    result = loss_fn(logits, yb)
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"loss must return a pair (value, grad), got {type(result).__name__}")
    value, grad = result
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"loss must return a number as its value, got {value!r}") from None
    if not math.isfinite(value):
        raise NonFiniteError(f"the loss is {value} {where}: training diverged "
                             "(lower the learning rate, or clip the gradients)")
    return value, grad


def as_metric(metric, name: str = "metric"):
    """``metric`` checked: ``None`` or a callable ``(logits, labels) -> fraction``."""
    if metric is not None and not callable(metric):
        raise TypeError(f"{name} must be None or a callable (logits, labels) -> float, "
                        f"got {metric!r}")
    return metric


def evaluate(model, x, y, *, batch_size: int = 256, loss="cross_entropy",
             metric=accuracy) -> tuple[float, float | None]:
    """Mean loss and metric of ``model`` on ``(x, y)``, in evaluation mode.

    Parameters
    ----------
    model : Sequential-like
        Put in evaluation mode for the passes (dropout off, batch norm on
        running statistics); its previous mode is restored afterwards.
    x : array_like, shape ``(N, ...)``
    y : array_like ``(N, ...)``, or a tuple of arrays led by the labels
        Integer class labels ``(N,)`` for ``loss="cross_entropy"``.
    batch_size : int, >= 1
        Examples per forward pass (memory, not the result).
    loss : "cross_entropy", "binary_cross_entropy" or callable ``(logits, y) -> (value, grad)``
    metric : callable ``(logits, labels) -> float`` or None
        :func:`~companion.train.metrics.accuracy` (default),
        :func:`~companion.train.metrics.pixel_accuracy`, ... or ``None``.

    Returns
    -------
    loss : float
        :math:`\\frac1N \\sum_b B_b\\, L_b`: the mean over the examples (batch
        means weighted by batch size), the same for every ``batch_size``.
    metric : float or None
        The metric averaged the same way (the fraction of examples whose
        largest logit is the label, for ``accuracy``); ``None`` without metric.
    """
    check_model(model)
    x, y = as_data_pair((x, y), "(x, y)", labels=needs_labels(loss))
    batch_size = as_positive_int(batch_size, "batch_size")
    loss_fn = resolve_loss(loss)
    metric = as_metric(metric)
    was_training = bool(model.training)
    model.eval()
    total_loss = 0.0
    total_metric = 0.0
    n = x.shape[0]
    try:
        for xb, yb in minibatches(x, y, batch_size, shuffle=False):
            logits = model.forward(xb)
            value, _ = checked_loss(loss_fn, logits, yb, "in evaluate")
            b = xb.shape[0]
            total_loss += value * b
            if metric is not None:
                total_metric += metric(logits, labels_of(yb)) * b
    finally:
        model.train(was_training)
    return total_loss / n, (None if metric is None else total_metric / n)


def predict(model, x, batch_size: int = 256) -> np.ndarray:
    """The model's outputs (logits) for ``x``, in evaluation mode, batch by batch.

    Parameters
    ----------
    model : Sequential-like
        Its previous mode is restored afterwards.
    x : array_like, shape ``(N, ...)``
    batch_size : int, >= 1

    Returns
    -------
    ndarray, shape ``(N, C)`` (or the model's output shape)
    """
    check_model(model)
    x = as_examples(x, "x")
    batch_size = as_positive_int(batch_size, "batch_size")
    was_training = bool(model.training)
    model.eval()
    try:
        outs = [np.asarray(model.forward(xb)) for xb, _ in
                minibatches(x, None, batch_size, shuffle=False)]
    finally:
        model.train(was_training)
    return np.concatenate(outs, axis=0)
