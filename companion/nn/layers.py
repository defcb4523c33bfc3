"""Layer objects (层): the functional layers with their parameters and caches attached.

Every layer of the package exists first as a pair of functions,
``*_forward(x, ...) -> (out, cache)`` and ``*_backward(dout, cache)``
(:mod:`companion.functional.dense`, :mod:`companion.functional.conv`, :mod:`companion.functional.pooling`,
:mod:`companion.functional.activations`, :mod:`companion.functional.batchnorm`,
:mod:`companion.functional.dropout`), each proven against finite differences. A layer
object only *holds* what those functions need between calls: its parameters,
the cache of the last forward pass, its mode. It never redoes the math::

    layer = Dense(400, 120, rng=0)
    out = layer.forward(x)        # dense_forward(x, w, b); the cache is kept
    dx = layer.backward(dout)     # dense_backward(dout, cache); fills layer.grads

The interface every layer shares (:class:`Layer`):

* ``forward(x) -> out`` and ``backward(dout) -> dx``. ``backward`` uses the
  cache of the **last** ``forward`` (it can be called again on the same cache);
  before any ``forward`` it raises ``RuntimeError``. ``layer(x)`` is
  ``layer.forward(x)``.
* ``params``: dict name -> array, the layer's own arrays, which an optimizer
  updates in place (``"w"`` and ``"b"`` for :class:`Dense` and :class:`Conv2d`,
  with the shapes of the functional API; ``"gamma"`` and ``"beta"`` for
  :class:`BatchNorm`; empty for the others).
* ``grads``: same keys and shapes. The arrays are allocated once, at
  construction, and ``backward`` **overwrites** them (it does not accumulate,
  unlike PyTorch), so a reference to ``grads`` stays valid and never aliases
  the ``dout`` passed in.
* ``buffers``: state that is not trained (:class:`BatchNorm`'s running mean and
  variance, updated in place in training mode).
* ``training`` (``train()`` / ``eval()``): only :class:`Dropout` and
  :class:`BatchNorm` behave differently.
* ``frozen``: a frozen layer still computes and returns ``dx`` (layers before
  it still learn), but it is left out of the trainable parameters
  (:meth:`companion.nn.sequential.Sequential.trainable_params`) and its ``grads`` are
  set to zero by ``backward``. It does not change the mode: a frozen
  :class:`BatchNorm` in training mode still updates its running statistics
  (call ``eval()`` on it to keep them).
* ``config()``: a JSON-able dict that rebuilds the layer
  (:func:`layer_from_config`) and lets a checkpoint check an architecture;
  ``repr(layer)`` states the same configuration.
* ``output_shape(input_shape)``: the shape of one sample's output for one
  sample's input shape (no batch axis); used by
  :meth:`companion.nn.sequential.Sequential.summary`.

Dtypes: a layer with parameters has one ``dtype`` (float32 by default, as in
PyTorch; float64 for gradient checks). Its input must have that dtype
(integer input is converted to it); float input of the other precision raises
``ValueError``, so precisions never mix silently. Parameter-free layers keep
the dtype of their input.

Initialization: weights by :mod:`companion.nn.init` (He normal by default),
biases at zero (see :mod:`companion.nn.init` for why). ``rng`` is a
``numpy.random.Generator``, an int seed, or ``None`` (fresh entropy, not
reproducible).
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from companion._validate import (
    as_bool,
    as_float_array,
    as_float_dtype,
    as_generator,
    as_pair,
    as_positive_int,
    as_positive_real,
    as_probability,
)
from companion.functional import (
    ALGORITHMS,
    avg_pool2d_backward,
    avg_pool2d_forward,
    batchnorm_backward,
    batchnorm_forward,
    conv2d_backward,
    conv2d_forward,
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from companion.nn.init import get_initializer, INITIALIZERS, zeros

__all__ = [
    "Layer", "Dense", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "LeakyReLU", "Sigmoid",
    "Tanh", "Flatten", "FlattenCache", "Dropout", "BatchNorm", "LAYER_TYPES",
    "layer_from_config",
]


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def _as_layer_input(x, dtype: np.dtype) -> np.ndarray:
    """``x`` as a finite array of the layer's ``dtype``: integers are converted, the
    other float precision is refused."""
    if not isinstance(x, (str, bytes)) and x is not None and np.asarray(x).dtype.kind in "biu":
        return as_float_array(x, "x", dtype=dtype)
    arr = as_float_array(x, "x")
    if arr.dtype != dtype:
        raise ValueError(f"x must have the layer's dtype {dtype}, got {arr.dtype}; "
                         f"convert it with x.astype(np.{dtype})")
    return arr


def _as_sample_shape(input_shape, ndim, what: str) -> tuple[int, ...]:
    """Validate the shape of one sample (no batch axis) for :meth:`Layer.output_shape`."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(f"input_shape must be a tuple of ints, got {input_shape!r}") from None
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_))
               for s in shape):
        raise TypeError(f"input_shape must be a tuple of ints, got {input_shape!r}")
    shape = tuple(int(s) for s in shape)
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if len(shape) not in allowed or min(shape, default=1) < 1:
        raise ValueError(f"input_shape must be {what} (one sample, without the batch axis), "
                         f"got {shape}")
    return shape


def _format_value(value) -> str:
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


def _short_pair(pair) -> str:
    """``5`` for ``(5, 5)``, ``(3, 5)`` otherwise."""
    return str(pair[0]) if pair[0] == pair[1] else str(tuple(pair))


# --------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------

class Layer:
    """Base class of the layer objects (see the module docstring for the interface).

    Attributes
    ----------
    params, grads, buffers : dict str -> ndarray
    training : bool
        ``True`` after :meth:`train` (the initial mode), ``False`` after :meth:`eval`.
    frozen : bool
        Excluded from training (see the module docstring).
    name_prefix : str
        Class attribute: :class:`companion.nn.sequential.Sequential` names the k-th
        layer with this prefix ``prefix + str(k)``.
    """

    name_prefix = "layer"

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True
        self.frozen = False
        self._cache = None

    # -- to be provided by subclasses ---------------------------------------------
    def forward(self, x):
        """Compute the output for a batch ``x``; keep the cache for :meth:`backward`."""
        raise NotImplementedError

    def backward(self, dout):
        """Gradient with respect to the input of the last :meth:`forward`; fills :attr:`grads`."""
        raise NotImplementedError

    def output_shape(self, input_shape) -> tuple[int, ...]:
        """Shape of one sample's output for one sample's ``input_shape`` (no batch axis)."""
        raise NotImplementedError

    def _config_args(self) -> dict:
        return {}

    # -- shared ----------------------------------------------------------------------
    def __call__(self, x):
        return self.forward(x)

    @property
    def cache(self):
        """The cache of the last :meth:`forward` (a NamedTuple), or ``None`` before any."""
        return self._cache

    def train(self, mode: bool = True) -> "Layer":
        """Set training mode (``mode=False``: evaluation mode). Returns the layer."""
        self.training = as_bool(mode, "mode")
        return self

    def eval(self) -> "Layer":
        """Set evaluation mode. Returns the layer."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Set every gradient array to zero (in place)."""
        for g in self.grads.values():
            g.fill(0)

    def num_params(self) -> int:
        """Number of scalar parameters."""
        return int(sum(p.size for p in self.params.values()))

    def config(self) -> dict:
        """JSON-able description: ``{"type": class name, **constructor arguments}``."""
        return {"type": type(self).__name__, **self._config_args()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_format_value(v)}" for k, v in self._config_args().items())
        return f"{type(self).__name__}({args})"

    def describe(self) -> str:
        """A short description for tables (PyTorch style, defaults omitted)."""
        return f"{type(self).__name__}({', '.join(self._short_args())})"

    def _short_args(self) -> list[str]:
        return [f"{k}={_format_value(v)}" for k, v in self._config_args().items()
                if k not in ("init", "dtype", "algorithm")]

    def _require_cache(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward was called before forward: "
                               "run forward(x) first, backward uses its cache")
        return self._cache

    def _store_grads(self, **grads) -> None:
        """Copy fresh gradients into the layer's own arrays (zeros when frozen)."""
        for key, value in grads.items():
            if self.frozen:
                self.grads[key].fill(0)
            else:
                self.grads[key][...] = value


class _ParametricLayer(Layer):
    """A layer with weights ``w`` and biases ``b`` of one dtype."""

    def _init_params(self, w_shape, b_shape, init, rng, dtype) -> None:
        self.dtype = as_float_dtype(dtype)
        initializer = get_initializer(init)      # ValueError naming init if unknown
        self.init = init if isinstance(init, str) else getattr(init, "__name__", "custom")
        rng = as_generator(rng)
        w = np.asarray(initializer(w_shape, rng, self.dtype))
        if w.shape != tuple(w_shape) or w.dtype != self.dtype:
            raise ValueError(f"init must return an array of shape {tuple(w_shape)} and dtype "
                             f"{self.dtype}, got {w.dtype}{w.shape}")
        w = as_float_array(w, "w returned by init")
        self.params = {"w": np.array(w, dtype=self.dtype, copy=True, order="C"),
                       "b": zeros(b_shape, dtype=self.dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}


# --------------------------------------------------------------------------
# Dense and convolution
# --------------------------------------------------------------------------

class Dense(_ParametricLayer):
    """Fully connected layer ``out = x @ w + b`` (wraps :func:`companion.functional.dense.dense_forward`).

    Parameters
    ----------
    in_features, out_features : int
        ``D`` and ``M``: input ``(N, D)``, output ``(N, M)``.
    init : str or callable, default ``"he"``
        Weight initializer (a name of :data:`companion.nn.init.INITIALIZERS` or
        ``f(shape, rng, dtype)``); biases start at zero.
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
        x = _as_layer_input(x, self.dtype)
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

    def output_shape(self, input_shape):
        shape = _as_sample_shape(input_shape, 1, "(in_features,)")
        if shape != (self.in_features,):
            raise ValueError(f"input_shape must be (in_features,) = ({self.in_features},), "
                             f"got {shape}")
        return (self.out_features,)

    def _short_args(self):
        return [str(self.in_features), str(self.out_features)]

    def _config_args(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "init": self.init, "dtype": str(self.dtype)}


class Conv2d(_ParametricLayer):
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
        x = _as_layer_input(x, self.dtype)
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

    def output_shape(self, input_shape):
        C, H, W = _as_sample_shape(input_shape, 3, "(in_channels, H, W)")
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
                f"kernel_size={_short_pair(self.kernel_size)}"]
        if self.stride != (1, 1):
            args.append(f"stride={_short_pair(self.stride)}")
        if isinstance(self.padding, str):
            args.append(f"padding={self.padding!r}")
        elif self.pad != (0, 0):
            args.append(f"padding={_short_pair(self.pad)}")
        return args

    def _config_args(self):
        padding = self.padding if isinstance(self.padding, str) else list(self.pad)
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": padding, "init": self.init, "dtype": str(self.dtype),
                "algorithm": self.algorithm}


# --------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------

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
        C, H, W = _as_sample_shape(input_shape, 3, "(C, H, W)")
        (KH, KW), (sh, sw) = self.size, self.stride
        if KH > H or KW > W:
            raise ValueError(f"input_shape {(C, H, W)} is smaller than the window {self.size}")
        return (C, (H - KH) // sh + 1, (W - KW) // sw + 1)

    def _short_args(self):
        args = [_short_pair(self.size)]
        if self.stride != self.size:
            args.append(f"stride={_short_pair(self.stride)}")
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


# --------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------

class _Elementwise(Layer):
    def output_shape(self, input_shape):
        return _as_sample_shape(input_shape, range(0, 64), "a tuple of positive ints")


class ReLU(_Elementwise):
    """ReLU ``max(x, 0)`` (wraps :func:`companion.functional.activations.relu_forward`); any shape."""

    name_prefix = "relu"

    def forward(self, x):
        out, self._cache = relu_forward(x)
        return out

    def backward(self, dout):
        return relu_backward(dout, self._require_cache())


class LeakyReLU(_Elementwise):
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


class Sigmoid(_Elementwise):
    """Logistic sigmoid (wraps :func:`companion.functional.activations.sigmoid_forward`); any shape."""

    name_prefix = "sigmoid"

    def forward(self, x):
        out, self._cache = sigmoid_forward(x)
        return out

    def backward(self, dout):
        return sigmoid_backward(dout, self._require_cache())


class Tanh(_Elementwise):
    """Hyperbolic tangent (wraps :func:`companion.functional.activations.tanh_forward`); any shape."""

    name_prefix = "tanh"

    def forward(self, x):
        out, self._cache = tanh_forward(x)
        return out

    def backward(self, dout):
        return tanh_backward(dout, self._require_cache())


# --------------------------------------------------------------------------
# Flatten, dropout, batch norm
# --------------------------------------------------------------------------

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
        shape = _as_sample_shape(input_shape, range(1, 64), "a tuple of positive ints")
        return (int(np.prod(shape, dtype=np.int64)),)


class Dropout(_Elementwise):
    """Inverted dropout (wraps :func:`companion.functional.dropout.dropout_forward`); any shape.

    Parameters
    ----------
    p : float in [0, 1), default 0.5
        Probability of **dropping** a unit (PyTorch's convention; document 1's
        ``keep_prob`` is ``1 - p``).
    rng : numpy.random.Generator, int seed or None
        Source of the masks; stored as the attribute :attr:`rng`, which may be
        replaced (e.g. reseeded to repeat a mask). Not advanced in evaluation mode.

    In training mode each forward pass draws a new mask; in evaluation mode
    the layer is the identity.
    """

    name_prefix = "dropout"

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        self.p = as_probability(p, "p")
        self.rng = rng

    @property
    def rng(self) -> np.random.Generator:
        """The generator the masks are drawn from."""
        return self._rng

    @rng.setter
    def rng(self, value):
        self._rng = as_generator(value)

    def forward(self, x):
        out, self._cache = dropout_forward(x, self.p, self._rng, train=self.training)
        return out

    def backward(self, dout):
        return dropout_backward(dout, self._require_cache())

    def _config_args(self):
        return {"p": self.p}


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
        Updated in place by every forward pass in training mode; used instead
        of the batch statistics in evaluation mode.
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
        x = _as_layer_input(x, self.dtype)
        if x.ndim not in (2, 4) or x.shape[1] != self.num_features:
            raise ValueError(f"x must have shape (N, num_features) or (N, num_features, H, W) "
                             f"with num_features = {self.num_features}, got {x.shape}")
        out, cache = batchnorm_forward(x, self.params["gamma"], self.params["beta"],
                                       self.buffers["running_mean"],
                                       self.buffers["running_var"],
                                       self.momentum, self.eps, train=self.training)
        if self.training:
            self.buffers["running_mean"][...] = cache.running_mean
            self.buffers["running_var"][...] = cache.running_var
        self._cache = cache
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = batchnorm_backward(dout, self._require_cache())
        self._store_grads(gamma=dgamma, beta=dbeta)
        return dx

    def output_shape(self, input_shape):
        shape = _as_sample_shape(input_shape, (1, 3), "(num_features,) or (C, H, W)")
        if shape[0] != self.num_features:
            raise ValueError(f"input_shape must start with num_features = "
                             f"{self.num_features}, got {shape}")
        return shape

    def _config_args(self):
        return {"num_features": self.num_features, "momentum": self.momentum, "eps": self.eps,
                "dtype": str(self.dtype)}


# --------------------------------------------------------------------------
# Rebuilding from a configuration
# --------------------------------------------------------------------------

LAYER_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    Dense, Conv2d, MaxPool2d, AvgPool2d, ReLU, LeakyReLU, Sigmoid, Tanh, Flatten, Dropout,
    BatchNorm)}
"""Layer classes by name, as in the ``"type"`` entry of :meth:`Layer.config`."""


def layer_from_config(config, *, rng=None) -> Layer:
    """Build a layer from :meth:`Layer.config` (fresh parameters, drawn from ``rng``).

    Parameters
    ----------
    config : dict
        ``{"type": "Dense", "in_features": 400, ...}``. Keys other than the
        constructor's arguments (e.g. ``"name"``) are ignored.
    rng : numpy.random.Generator, int seed or None
        For the new weights (and a :class:`Dropout` layer's masks).
    """
    if not isinstance(config, dict) or "type" not in config:
        raise TypeError(f"config must be a dict with a 'type' entry, got {config!r}")
    kind = config["type"]
    if kind not in LAYER_TYPES:
        raise ValueError(f"config type must be one of {sorted(LAYER_TYPES)}, got {kind!r}")
    cls = LAYER_TYPES[kind]
    args = {k: v for k, v in config.items() if k not in ("type", "name")}
    if cls in (Dense, Conv2d):
        args["rng"] = rng
        if not isinstance(args.get("init", "he"), str) or args.get("init") not in INITIALIZERS:
            args["init"] = "he"      # a custom initializer is not stored; weights get loaded
    elif cls is Dropout:
        args["rng"] = rng
    try:
        return cls(**args)
    except TypeError as err:
        raise ValueError(f"config {config!r} does not describe a {kind}: {err}") from None
