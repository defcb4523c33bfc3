"""Layer objects and networks (PyTorch's ``torch.nn``).

* :mod:`~companion.nn.layer` – ``Layer``, the base class and interface of the layers
  (each layer wraps a pair of :mod:`companion.functional`)
* :mod:`~companion.nn.linear` – ``Dense``, ``Flatten``
* :mod:`~companion.nn.conv` – ``Conv2d``
* :mod:`~companion.nn.pooling` – ``MaxPool2d``, ``AvgPool2d``
* :mod:`~companion.nn.activation` – ``ReLU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh``
* :mod:`~companion.nn.dropout` – ``Dropout``
* :mod:`~companion.nn.batchnorm` – ``BatchNorm``
* :mod:`~companion.nn.residual` – ``Residual``: a block ``y = x + F(x)`` with an identity
  shortcut
* :mod:`~companion.nn.config` – ``layer_from_config``: rebuild a layer from its ``config()``
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
from companion.nn.layer import (
    ElementwiseLayer,
    Layer,
    ParametricLayer,
)
from companion.nn.linear import (
    Dense,
    Flatten,
    FlattenCache,
)
from companion.nn.conv import (
    Conv2d,
)
from companion.nn.pooling import (
    MaxPool2d,
    AvgPool2d,
)
from companion.nn.activation import (
    ReLU,
    LeakyReLU,
    Sigmoid,
    Tanh,
)
from companion.nn.dropout import (
    Dropout,
)
from companion.nn.batchnorm import (
    BatchNorm,
)
from companion.nn.residual import (
    Residual,
    ResidualCache,
)
from companion.nn.config import (
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
    "ElementwiseLayer",
    "Layer",
    "ParametricLayer",
    "LeakyReLU",
    "MaxPool2d",
    "ReLU",
    "Residual",
    "ResidualCache",
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
