"""Batch normalization layer: :class:`BatchNorm` (1-d or 2-d, decided by the input).

See :mod:`companion.nn.layer` for the interface every layer shares.
"""
from __future__ import annotations

import numpy as np

from companion._validate import (
    as_float_dtype,
    as_layer_input,
    as_positive_int,
    as_positive_real,
    as_probability,
    as_sample_shape,
)
from companion.functional import batchnorm_backward, batchnorm_forward
from companion.nn.layer import Layer

__all__ = ["BatchNorm"]


class BatchNorm(Layer):
    """Batch normalization (wraps :func:`companion.functional.batchnorm.batchnorm_forward`).

    Dense input ``(N, D)`` is normalized per feature (1-d batch norm,
    ``nn.BatchNorm1d``), feature maps ``(N, C, H, W)`` per channel (2-d,
    ``nn.BatchNorm2d``): the kind is decided by the input's number of
    dimensions at every call.

    Parameters
    ----------
    num_features : int
        ``D`` or ``C``.
    momentum : float in [0, 1), default 0.9
        ``running = momentum * running + (1 - momentum) * batch`` (CS231n's
        convention, as :func:`companion.functional.batchnorm.batchnorm_forward`). PyTorch's
        ``momentum`` is the weight of the **new** value: this ``momentum=0.9``
        is PyTorch's ``momentum=0.1``. (PyTorch also stores the unbiased
        batch variance in ``running_var``; this layer the biased one.)
    eps : float > 0, default 1e-5
    dtype : float32 (default) or float64

    Attributes
    ----------
    params : ``{"gamma": ones (C,), "beta": zeros (C,)}``
    buffers : ``{"running_mean": zeros (C,), "running_var": ones (C,)}``
        Updated in place by every forward pass in training mode (with the
        :class:`~companion.functional.batchnorm.RunningStats` that
        ``batchnorm_forward`` returns as its third value); used instead of the
        batch statistics in evaluation mode.
    """

    name_prefix = "bn"

    def __init__(self, num_features, momentum=0.9, eps=1e-5, *, dtype=np.float32):
        super().__init__()
        self.num_features = as_positive_int(num_features, "num_features")
        self.momentum = as_probability(momentum, "momentum")
        self.eps = as_positive_real(eps, "eps")
        self.dtype = as_float_dtype(dtype)
        C = self.num_features
        self.params = {"gamma": np.ones(C, dtype=self.dtype), "beta": np.zeros(C, self.dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {"running_mean": np.zeros(C, self.dtype),
                        "running_var": np.ones(C, self.dtype)}

    def forward(self, x):
        """``x`` ``(N, num_features)`` or ``(N, num_features, H, W)`` -> same shape."""
        x = as_layer_input(x, self.dtype)
        if x.ndim not in (2, 4) or x.shape[1] != self.num_features:
            raise ValueError(f"x must have shape (N, num_features) or (N, num_features, H, W) "
                             f"with num_features = {self.num_features}, got {x.shape}")
        out, cache, (mean, var) = batchnorm_forward(
            x, self.params["gamma"], self.params["beta"], self.buffers["running_mean"],
            self.buffers["running_var"], momentum=self.momentum, eps=self.eps,
            train=self.training)
        if self.training:       # the functional form returns them; the layer keeps them
            self.buffers["running_mean"][...] = mean
            self.buffers["running_var"][...] = var
        self._cache = cache
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = batchnorm_backward(dout, self._require_cache())
        self._store_grads(gamma=dgamma, beta=dbeta)
        return dx

    def output_shape(self, input_shape):
        shape = as_sample_shape(input_shape, (1, 3), "(num_features,) or (C, H, W)")
        if shape[0] != self.num_features:
            raise ValueError(f"input_shape must start with num_features = "
                             f"{self.num_features}, got {shape}")
        return shape

    def _config_args(self):
        return {"num_features": self.num_features, "momentum": self.momentum, "eps": self.eps,
                "dtype": str(self.dtype)}
