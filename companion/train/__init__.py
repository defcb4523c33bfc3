"""Training: the loop, its callbacks, evaluation and metrics.

* :mod:`~companion.train.loop` – ``fit`` and its step, ``train_step``
* :mod:`~companion.train.callbacks` – ``Callback``, ``History``, ``EarlyStopping``,
  ``Checkpoint``, ``DeadReLUMonitor``, ``LambdaCallback``
* :mod:`~companion.train.evaluate` – ``evaluate``, ``predict`` and the loss helpers
* :mod:`~companion.train.metrics` – accuracy, pixel accuracy, confusion matrix, ...
* :mod:`~companion.train.distillation` – knowledge distillation loss
* :mod:`~companion.train.seeds` – comparisons over seeds: mean ± sd, paired differences

A run that diverges raises :class:`NonFiniteError` (defined in
:mod:`companion._validate`, re-exported here).
"""

from companion._validate import NonFiniteError
from companion.train.callbacks import (
    MONITORS,
    Callback,
    TrainingRun,
    History,
    EarlyStopping,
    Checkpoint,
    DeadReLUMonitor,
    LambdaCallback,
)
from companion.train.evaluate import (
    LOSSES,
    evaluate,
    predict,
    resolve_loss,
    checked_loss,
    labels_of,
    needs_labels,
    as_metric,
)
from companion.train.loop import fit, train_step
from companion.train.metrics import (
    predicted_labels,
    accuracy,
    top_k_accuracy,
    confusion_matrix,
    per_class_accuracy,
    pixel_accuracy,
)
from companion.train.seeds import (
    SeedStats,
    PairedDifference,
    seed_stats,
    over_seeds,
    paired_difference,
)
from companion.train.distillation import (
    distillation_loss,
    DistillationTargets,
    DistillationLoss,
)

__all__ = [
    "SeedStats",
    "PairedDifference",
    "seed_stats",
    "over_seeds",
    "paired_difference",
    "Callback",
    "Checkpoint",
    "DeadReLUMonitor",
    "DistillationLoss",
    "DistillationTargets",
    "EarlyStopping",
    "History",
    "LOSSES",
    "LambdaCallback",
    "MONITORS",
    "NonFiniteError",
    "TrainingRun",
    "accuracy",
    "as_metric",
    "checked_loss",
    "confusion_matrix",
    "distillation_loss",
    "evaluate",
    "fit",
    "labels_of",
    "needs_labels",
    "per_class_accuracy",
    "pixel_accuracy",
    "predict",
    "predicted_labels",
    "resolve_loss",
    "top_k_accuracy",
    "train_step",
]
