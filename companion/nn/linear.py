"""Fully connected layer and flattening: :class:`Dense`, :class:`Flatten` (with
its cache :class:`FlattenCache`).

See :mod:`companion.nn.layer` for the interface every layer shares.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from companion._validate import (
    as_float_array,
    as_layer_input,
    as_positive_int,
    as_sample_shape,
)
from companion.functional import dense_backward, dense_forward
from companion.nn.layer import Layer, ParametricLayer

__all__ = ["Dense", "Flatten", "FlattenCache"]


class Dense(ParametricLayer):
    """Fully connected layer ``out = x @ w + b`` (wraps :func:`companion.functional.dense.dense_forward`).

    Parameters
    ----------
    in_features, out_features : int
        ``D`` and ``M``: input ``(N, D)``, output ``(N, M)``.
    init : str or callable, default ``"he"``
        Weight initializer (a name of :data:`companion.nn.init.INITIALIZERS` or
        ``f(shape, *, rng, dtype)``); biases start at zero.
    rng : numpy.random.Generator, int seed or None
    dtype : float32 (default) or float64

    Attributes
    ----------
    params : ``{"w": (D, M), "b": (M,)}``
    """

    name_prefix = "fc"

    def __init__(self, in_features, out_features, *, init="he", rng=None, dtype=np.float32):
        super().__init__()
        self.in_features = as_positive_int(in_features, "in_features")
        self.out_features = as_positive_int(out_features, "out_features")
        self._init_params((self.in_features, self.out_features), (self.out_features,),
                          init, rng, dtype)

    def forward(self, x):
        """``x`` of shape ``(N, in_features)`` -> ``(N, out_features)``."""
        x = as_layer_input(x, self.dtype)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            hint = "; put a Flatten layer before a Dense layer" if x.ndim > 2 else ""
            raise ValueError(f"x must have shape (N, in_features) = (N, {self.in_features}), "
                             f"got {x.shape}{hint}")
        out, self._cache = dense_forward(x, self.params["w"], self.params["b"])
        return out

    def backward(self, dout):
        """``dout`` ``(N, out_features)`` -> ``dx`` ``(N, in_features)``; ``grads`` = ``dw``, ``db``."""
        dx, dw, db = dense_backward(dout, self._require_cache())
        self._store_grads(w=dw, b=db)
        return dx

    def backward_params(self, dout) -> None:
        """``grads`` = ``dw``, ``db`` from ``dout``, without computing ``dx``."""
        _, dw, db = dense_backward(dout, self._require_cache(), input_grad=False)
        self._store_grads(w=dw, b=db)

    def output_shape(self, input_shape):
        shape = as_sample_shape(input_shape, 1, "(in_features,)")
        if shape != (self.in_features,):
            raise ValueError(f"input_shape must be (in_features,) = ({self.in_features},), "
                             f"got {shape}")
        return (self.out_features,)

    def _short_args(self):
        return [str(self.in_features), str(self.out_features)]

    def _config_args(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "init": self.init, "dtype": str(self.dtype)}



class FlattenCache(NamedTuple):
    """What :meth:`Flatten.backward` needs: the input's shape and dtype."""

    x_shape: tuple
    dtype: np.dtype


class Flatten(Layer):
    """Flatten every sample: ``(N, d1, d2, ...)`` -> ``(N, d1*d2*...)`` (C order).

    This is document 2's ``x.view(-1, 16 * 5 * 5)`` and document 1's
    ``h_pool2.reshape(h_pool2.shape[0], -1)``. No arithmetic, so the backward
    pass only reshapes the gradient back: ``dx = dout.reshape(x.shape)``. Both
    directions return a new array (never a view of the argument).
    """

    name_prefix = "flatten"

    def forward(self, x):
        x = as_float_array(x, "x")
        if x.ndim < 2:
            raise ValueError(f"x must have a batch axis and at least one more, got shape "
                             f"{x.shape}")
        self._cache = FlattenCache(x.shape, x.dtype)
        return x.reshape(x.shape[0], -1).copy()

    def backward(self, dout):
        cache = self._require_cache()
        dout = as_float_array(dout, "dout")
        N = cache.x_shape[0]
        expected = (N, int(np.prod(cache.x_shape[1:], dtype=np.int64)))
        if dout.shape != expected:
            raise ValueError(f"dout must have the shape of the forward output {expected}, "
                             f"got {dout.shape}")
        if dout.dtype != cache.dtype:
            raise ValueError(f"dout must have the dtype of the forward pass ({cache.dtype}), "
                             f"got {dout.dtype}")
        return dout.reshape(cache.x_shape).copy()

    def output_shape(self, input_shape):
        shape = as_sample_shape(input_shape, range(1, 64), "a tuple of positive ints")
        return (int(np.prod(shape, dtype=np.int64)),)
