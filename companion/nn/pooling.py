"""Pooling layers: :class:`MaxPool2d`, :class:`AvgPool2d` (NCHW, no parameters).

See :mod:`companion.nn.layer` for the interface every layer shares.
"""
from __future__ import annotations

from companion._validate import as_pair, as_sample_shape
from companion.functional import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from companion.nn.layer import Layer

__all__ = ["MaxPool2d", "AvgPool2d"]


class _Pool2d(Layer):
    name_prefix = "pool"
    _forward = None
    _backward = None

    def __init__(self, size=2, stride=None):
        super().__init__()
        self.size = as_pair(size, "size", minimum=1)
        self.stride = self.size if stride is None else as_pair(stride, "stride", minimum=1)

    def forward(self, x):
        """``x`` ``(N, C, H, W)`` -> ``(N, C, (H - KH)//sh + 1, (W - KW)//sw + 1)``."""
        out, self._cache = type(self)._forward(x, self.size, self.stride)
        return out

    def backward(self, dout):
        return type(self)._backward(dout, self._require_cache())

    def output_shape(self, input_shape):
        C, H, W = as_sample_shape(input_shape, 3, "(C, H, W)")
        (KH, KW), (sh, sw) = self.size, self.stride
        if KH > H or KW > W:
            raise ValueError(f"input_shape {(C, H, W)} is smaller than the window {self.size}")
        return (C, (H - KH) // sh + 1, (W - KW) // sw + 1)

    def _short_args(self):
        args = [self._short_pair(self.size)]
        if self.stride != self.size:
            args.append(f"stride={self._short_pair(self.stride)}")
        return args

    def _config_args(self):
        return {"size": list(self.size), "stride": list(self.stride)}


class MaxPool2d(_Pool2d):
    """Max pooling (wraps :func:`companion.functional.pooling.max_pool2d_forward`).

    Parameters
    ----------
    size : int or (int, int), default 2
        Window ``(KH, KW)``.
    stride : int, (int, int) or None
        Default: the window size (non-overlapping windows, as ``nn.MaxPool2d``).
    """

    _forward = staticmethod(max_pool2d_forward)
    _backward = staticmethod(max_pool2d_backward)


class AvgPool2d(_Pool2d):
    """Average pooling (wraps :func:`companion.functional.pooling.avg_pool2d_forward`).

    Parameters as :class:`MaxPool2d`.
    """

    _forward = staticmethod(avg_pool2d_forward)
    _backward = staticmethod(avg_pool2d_backward)
