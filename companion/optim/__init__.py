"""Optimizers and what shapes a step (PyTorch's ``torch.optim``).

* :mod:`~companion.optim.optimizers` – SGD, momentum, Nesterov, Adagrad, RMSprop,
  Adam, AdamW
* :mod:`~companion.optim.schedules` – learning-rate schedules
* :mod:`~companion.optim.clipping` – gradient clipping by norm or value
* :mod:`~companion.optim.regularization` – L2 / L1 penalties and their gradients
"""

from companion.optim.optimizers import (
    Optimizer,
    SGD,
    Adagrad,
    RMSprop,
    Adam,
    AdamW,
)
from companion.optim.schedules import (
    Schedule,
    Constant,
    StepDecay,
    ExponentialDecay,
    LinearDecay,
    CosineAnnealing,
    LinearWarmup,
)
from companion.optim.clipping import (
    clip_grad_norm,
    clip_grad_value,
    global_norm,
)
from companion.optim.regularization import (
    l2_penalty,
    l1_penalty,
    weight_keys,
)

__all__ = [
    "Adagrad",
    "Adam",
    "AdamW",
    "Constant",
    "CosineAnnealing",
    "ExponentialDecay",
    "LinearDecay",
    "LinearWarmup",
    "Optimizer",
    "RMSprop",
    "SGD",
    "Schedule",
    "StepDecay",
    "clip_grad_norm",
    "clip_grad_value",
    "global_norm",
    "l1_penalty",
    "l2_penalty",
    "weight_keys",
]
