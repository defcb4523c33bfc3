"""Optimizers and what shapes a step (PyTorch's ``torch.optim``).

* :mod:`~companion.optim.optimizer` – the :class:`Optimizer` base class (in-place
  steps, per-parameter state, state dicts)
* :mod:`~companion.optim.sgd` – SGD, momentum, Nesterov
* :mod:`~companion.optim.adaptive` – Adagrad, RMSprop
* :mod:`~companion.optim.adam` – Adam, AdamW
* :mod:`~companion.optim.schedules` – learning-rate schedules
* :mod:`~companion.optim.clipping` – gradient clipping by norm or value
* :mod:`~companion.optim.regularization` – L2 / L1 penalties and their gradients
"""

from companion.optim.optimizer import Optimizer
from companion.optim.sgd import SGD
from companion.optim.adaptive import Adagrad, RMSprop
from companion.optim.adam import Adam, AdamW
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
