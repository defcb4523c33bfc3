"""Training: the loop, its callbacks, evaluation and metrics.

* :mod:`~companion.train.loop` – ``fit``, ``evaluate``, ``predict``
* :mod:`~companion.train.metrics` – accuracy, confusion matrix, ...
* :mod:`~companion.train.distillation` – knowledge distillation loss
"""

from companion.train.loop import (
    History,
    EarlyStopping,
    Checkpoint,
    fit,
    evaluate,
    predict,
)
from companion.train.metrics import (
    predicted_labels,
    accuracy,
    top_k_accuracy,
    confusion_matrix,
    per_class_accuracy,
)
from companion.train.distillation import (
    distillation_loss,
    DistillationTargets,
    DistillationLoss,
)

__all__ = [
    "Checkpoint",
    "DistillationLoss",
    "DistillationTargets",
    "EarlyStopping",
    "History",
    "accuracy",
    "confusion_matrix",
    "distillation_loss",
    "evaluate",
    "fit",
    "per_class_accuracy",
    "predict",
    "predicted_labels",
    "top_k_accuracy",
]
