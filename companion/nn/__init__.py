"""Layer objects and networks (PyTorch's ``torch.nn``).

* :mod:`~companion.nn.layers` – ``Dense``, ``Conv2d``, ``MaxPool2d``, ``ReLU``, ...
  (each wraps a pair of :mod:`companion.functional`)
* :mod:`~companion.nn.sequential` – ``Sequential``: forward, backward, parameters
* :mod:`~companion.nn.init` – He / Xavier initialization
* :mod:`~companion.nn.models` – the documents' LeNet-5 and 32x32x3 network
* :mod:`~companion.nn.checkpoint` – save and load a model with its optimizer
* :mod:`~companion.nn.finetune` – freeze layers, replace the head
"""

from companion.nn.init import (
    fan_in_fan_out,
    he_normal,
    he_uniform,
    xavier_normal,
    xavier_uniform,
    glorot_normal,
    glorot_uniform,
    normal,
    zeros,
    INITIALIZERS,
    get_initializer,
)
from companion.nn.layers import (
    Layer,
    Dense,
    Conv2d,
    MaxPool2d,
    AvgPool2d,
    ReLU,
    LeakyReLU,
    Sigmoid,
    Tanh,
    Flatten,
    FlattenCache,
    Dropout,
    BatchNorm,
    LAYER_TYPES,
    layer_from_config,
)
from companion.nn.sequential import (
    Sequential,
)
from companion.nn.models import (
    lenet5,
    cnn_32x32x3,
    ACTIVATIONS,
)
from companion.nn.checkpoint import (
    save_checkpoint,
    load_checkpoint,
    read_architecture,
    FORMAT,
)
from companion.nn.finetune import (
    freeze,
    unfreeze,
    replace_head,
    trainable_parameter_count,
    head_name,
)

__all__ = [
    "ACTIVATIONS",
    "AvgPool2d",
    "BatchNorm",
    "Conv2d",
    "Dense",
    "Dropout",
    "FORMAT",
    "Flatten",
    "FlattenCache",
    "INITIALIZERS",
    "LAYER_TYPES",
    "Layer",
    "LeakyReLU",
    "MaxPool2d",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "cnn_32x32x3",
    "fan_in_fan_out",
    "freeze",
    "get_initializer",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "head_name",
    "layer_from_config",
    "lenet5",
    "load_checkpoint",
    "normal",
    "read_architecture",
    "replace_head",
    "save_checkpoint",
    "trainable_parameter_count",
    "unfreeze",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]
