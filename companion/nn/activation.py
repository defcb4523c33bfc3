"""Activation layers: :class:`ReLU`, :class:`LeakyReLU`, :class:`Sigmoid`,
:class:`Tanh` (elementwise, any shape, no parameters).

See :mod:`companion.nn.layer` for the interface every layer shares.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from companion.functional import (
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from companion.nn.layer import ElementwiseLayer

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh"]


class ReLU(ElementwiseLayer):
    """ReLU ``max(x, 0)`` (wraps :func:`companion.functional.activations.relu_forward`); any shape."""

    name_prefix = "relu"

    def forward(self, x):
        out, self._cache = relu_forward(x)
        return out

    def backward(self, dout):
        return relu_backward(dout, self._require_cache())


class LeakyReLU(ElementwiseLayer):
    """Leaky ReLU: ``x`` if ``x > 0`` else ``negative_slope * x``; any shape.

    Parameters
    ----------
    negative_slope : float >= 0, default 0.01
    """

    name_prefix = "leaky_relu"

    def __init__(self, negative_slope=0.01):
        super().__init__()
        if isinstance(negative_slope, (bool, np.bool_)) \
                or not isinstance(negative_slope, numbers.Real):
            raise TypeError(f"negative_slope must be a number, got {negative_slope!r}")
        if not (math.isfinite(negative_slope) and negative_slope >= 0):
            raise ValueError(f"negative_slope must be a finite number >= 0, "
                             f"got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        out, self._cache = leaky_relu_forward(x, self.negative_slope)
        return out

    def backward(self, dout):
        return leaky_relu_backward(dout, self._require_cache())

    def _config_args(self):
        return {"negative_slope": self.negative_slope}


class Sigmoid(ElementwiseLayer):
    """Logistic sigmoid (wraps :func:`companion.functional.activations.sigmoid_forward`); any shape."""

    name_prefix = "sigmoid"

    def forward(self, x):
        out, self._cache = sigmoid_forward(x)
        return out

    def backward(self, dout):
        return sigmoid_backward(dout, self._require_cache())


class Tanh(ElementwiseLayer):
    """Hyperbolic tangent (wraps :func:`companion.functional.activations.tanh_forward`); any shape."""

    name_prefix = "tanh"

    def forward(self, x):
        out, self._cache = tanh_forward(x)
        return out

    def backward(self, dout):
        return tanh_backward(dout, self._require_cache())
