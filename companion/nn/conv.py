"""2-D convolution layer: :class:`Conv2d` (NCHW).

See :mod:`companion.nn.layer` for the interface every layer shares.
"""
from __future__ import annotations

import numpy as np

from companion._validate import as_layer_input, as_pair, as_positive_int, as_sample_shape
from companion.functional import ALGORITHMS, conv2d_backward, conv2d_forward
from companion.nn.layer import ParametricLayer

__all__ = ["Conv2d"]


class Conv2d(ParametricLayer):
    """2-D convolution, NCHW (wraps :func:`companion.functional.conv.conv2d_forward`).

    Parameters
    ----------
    in_channels, out_channels : int
        ``C`` and ``F``.
    kernel_size : int or (int, int)
        ``(KH, KW)``.
    stride : int or (int, int), default 1
    padding : int, (int, int), ``"same"`` or ``"valid"``, default 0
        Zeros added on each side. ``"same"`` (odd kernels at stride 1 only)
        pads ``((KH-1)//2, (KW-1)//2)`` so the output has the input's height and
        width, as TensorFlow's ``padding='SAME'`` in document 1; ``"valid"`` is 0.
    init : str or callable, default ``"he"``
    rng : numpy.random.Generator, int seed or None
    dtype : float32 (default) or float64
    algorithm : str, default ``"auto"``
        Passed to :func:`companion.functional.conv.conv2d_forward` (same result, different speed).

    Attributes
    ----------
    params : ``{"w": (F, C, KH, KW), "b": (F,)}``
    pad : (int, int)
        The padding actually applied.
    """

    name_prefix = "conv"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, *,
                 init="he", rng=None, dtype=np.float32, algorithm="auto"):
        super().__init__()
        self.in_channels = as_positive_int(in_channels, "in_channels")
        self.out_channels = as_positive_int(out_channels, "out_channels")
        self.kernel_size = as_pair(kernel_size, "kernel_size", minimum=1)
        self.stride = as_pair(stride, "stride", minimum=1)
        if isinstance(padding, str):
            if padding == "same":
                KH, KW = self.kernel_size
                if KH % 2 == 0 or KW % 2 == 0 or self.stride != (1, 1):
                    raise ValueError(f"padding='same' needs an odd kernel_size and stride 1, "
                                     f"got kernel_size={self.kernel_size}, stride={self.stride}")
                self.pad = ((KH - 1) // 2, (KW - 1) // 2)
            elif padding == "valid":
                self.pad = (0, 0)
            else:
                raise ValueError(f"padding must be an int, a pair of ints, 'same' or 'valid', "
                                 f"got {padding!r}")
            self.padding = padding
        else:
            self.pad = as_pair(padding, "padding", minimum=0)
            self.padding = self.pad
        if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        self.algorithm = algorithm
        self._init_params((self.out_channels, self.in_channels, *self.kernel_size),
                          (self.out_channels,), init, rng, dtype)

    def forward(self, x):
        """``x`` of shape ``(N, in_channels, H, W)`` -> ``(N, out_channels, H_out, W_out)``."""
        x = as_layer_input(x, self.dtype)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (N, in_channels, H, W) = "
                             f"(N, {self.in_channels}, H, W), got {x.shape}")
        out, self._cache = conv2d_forward(x, self.params["w"], self.params["b"], self.stride,
                                          self.pad, algorithm=self.algorithm)
        return out

    def backward(self, dout):
        """``dout`` of the forward output's shape -> ``dx``; ``grads`` = ``dw``, ``db``."""
        dx, dw, db = conv2d_backward(dout, self._require_cache())
        self._store_grads(w=dw, b=db)
        return dx

    def backward_params(self, dout) -> None:
        """``grads`` = ``dw``, ``db`` from ``dout``, without computing ``dx``."""
        _, dw, db = conv2d_backward(dout, self._require_cache(), input_grad=False)
        self._store_grads(w=dw, b=db)

    def output_shape(self, input_shape):
        C, H, W = as_sample_shape(input_shape, 3, "(in_channels, H, W)")
        if C != self.in_channels:
            raise ValueError(f"input_shape must have in_channels = {self.in_channels} "
                             f"channels, got {(C, H, W)}")
        (KH, KW), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.pad
        if KH > H + 2 * ph or KW > W + 2 * pw:
            raise ValueError(f"input_shape {(C, H, W)} is smaller than the kernel "
                             f"{self.kernel_size} (with padding {self.pad})")
        return (self.out_channels, (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1)

    def _short_args(self):
        args = [str(self.in_channels), str(self.out_channels),
                f"kernel_size={self._short_pair(self.kernel_size)}"]
        if self.stride != (1, 1):
            args.append(f"stride={self._short_pair(self.stride)}")
        if isinstance(self.padding, str):
            args.append(f"padding={self.padding!r}")
        elif self.pad != (0, 0):
            args.append(f"padding={self._short_pair(self.pad)}")
        return args

    def _config_args(self):
        padding = self.padding if isinstance(self.padding, str) else list(self.pad)
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": padding, "init": self.init, "dtype": str(self.dtype),
                "algorithm": self.algorithm}
