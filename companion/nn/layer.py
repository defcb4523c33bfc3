"""Layer objects (层): the base class :class:`Layer` and the interface every layer shares.

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
  updates in place (``"w"`` and ``"b"`` for :class:`~companion.nn.linear.Dense`
  and :class:`~companion.nn.conv.Conv2d`, with the shapes of the functional
  API; ``"gamma"`` and ``"beta"`` for :class:`~companion.nn.batchnorm.BatchNorm`;
  empty for the others).
* ``grads``: same keys and shapes. The arrays are allocated once, at
  construction, and ``backward`` **overwrites** them (it does not accumulate,
  unlike PyTorch), so a reference to ``grads`` stays valid and never aliases
  the ``dout`` passed in.
* ``buffers``: state that is not trained
  (:class:`~companion.nn.batchnorm.BatchNorm`'s running mean and variance,
  updated in place in training mode).
* ``training`` (``train()`` / ``eval()``): only :class:`~companion.nn.dropout.Dropout`
  and :class:`~companion.nn.batchnorm.BatchNorm` behave differently.
* ``backward_params(dout)``: fills ``grads`` like ``backward`` but returns
  nothing, and :class:`~companion.nn.conv.Conv2d` and
  :class:`~companion.nn.linear.Dense` skip computing ``dx``: the first layer of
  a network needs no input gradient (``Sequential.backward(dout,
  input_grad=False)``, which the training loop uses; PyTorch likewise computes
  no gradient for data that does not require one).
* ``frozen``: a frozen layer still computes and returns ``dx`` (layers before
  it still learn), but it is left out of the trainable parameters
  (:meth:`companion.nn.sequential.Sequential.trainable_params`) and its ``grads`` are
  set to zero by ``backward``. It does not change the mode: a frozen
  :class:`~companion.nn.batchnorm.BatchNorm` in training mode still updates its running statistics
  (call ``eval()`` on it to keep them).
* ``config()``: a JSON-able dict that rebuilds the layer
  (:func:`~companion.nn.config.layer_from_config`) and lets a checkpoint check an architecture;
  ``repr(layer)`` states the same configuration.
* ``output_shape(input_shape)``: the shape of one sample's output for one
  sample's input shape (no batch axis); used by
  :meth:`companion.nn.sequential.Sequential.summary`.

Dtypes: a layer with parameters has one ``dtype`` (float32 by default, as in
PyTorch; float64 for gradient checks). Its input must have that dtype
(integer input is converted to it); float input of the other precision raises
``ValueError``, so precisions never mix silently. Parameter-free layers keep
the dtype of their input.

The layers themselves live in :mod:`companion.nn.linear` (``Dense``,
``Flatten``), :mod:`companion.nn.conv`, :mod:`companion.nn.pooling`,
:mod:`companion.nn.activation`, :mod:`companion.nn.dropout` and
:mod:`companion.nn.batchnorm`; :mod:`companion.nn.config` rebuilds them from
``config()``.

Initialization: weights by :mod:`companion.nn.init` (He normal by default),
biases at zero (see :mod:`companion.nn.init` for why). ``rng`` is a
``numpy.random.Generator``, an int seed, or ``None`` (fresh entropy, not
reproducible).
"""
from __future__ import annotations

import numpy as np

from companion._validate import (
    as_bool,
    as_float_array,
    as_float_dtype,
    as_generator,
    as_sample_shape,
)
from companion.nn.init import get_initializer, zeros

__all__ = ["Layer", "ParametricLayer", "ElementwiseLayer", "named_layers",
           "check_layer_names"]


def _format_value(value) -> str:
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


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

    def backward_params(self, dout) -> None:
        """Fill :attr:`grads` as :meth:`backward` does, without returning ``dx``.

        Layers whose input gradient costs work of its own (``Conv2d``,
        ``Dense``) skip it; here, the default, ``backward`` runs and ``dx`` is
        dropped.
        """
        self.backward(dout)

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

    @staticmethod
    def _short_pair(pair) -> str:
        """``5`` for ``(5, 5)``, ``(3, 5)`` otherwise (for :meth:`describe`)."""
        return str(pair[0]) if pair[0] == pair[1] else str(tuple(pair))

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



class ParametricLayer(Layer):
    """A layer with weights ``w`` and biases ``b`` of one dtype."""

    def _init_params(self, w_shape, b_shape, init, rng, dtype) -> None:
        self.dtype = as_float_dtype(dtype)
        initializer = get_initializer(init)      # ValueError naming init if unknown
        self.init = init if isinstance(init, str) else getattr(init, "__name__", "custom")
        rng = as_generator(rng)
        w = np.asarray(initializer(w_shape, rng=rng, dtype=self.dtype))
        if w.shape != tuple(w_shape) or w.dtype != self.dtype:
            raise ValueError(f"init must return an array of shape {tuple(w_shape)} and dtype "
                             f"{self.dtype}, got {w.dtype}{w.shape}")
        w = as_float_array(w, "w returned by init")
        self.params = {"w": np.array(w, dtype=self.dtype, copy=True, order="C"),
                       "b": zeros(b_shape, dtype=self.dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}



class ElementwiseLayer(Layer):
    """A layer without parameters whose output has the shape of its input."""

    def output_shape(self, input_shape):
        return as_sample_shape(input_shape, range(0, 64), "a tuple of positive ints")


def check_layer_names(names) -> None:
    """``ValueError`` unless every name is a Python identifier (no dots) and unique."""
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"layer names must be Python identifiers (letters, digits, "
                             f"'_'; no dots), got {name!r}")
    seen = set()
    for name in names:
        if name in seen:
            raise ValueError(f"layer names must be unique, got {name!r} twice")
        seen.add(name)


def named_layers(items) -> tuple[list[str], list[Layer]]:
    """The names and the layers of a list of layers and/or ``(name, layer)`` pairs.

    An unnamed layer is named by its class's ``name_prefix`` and its count among
    the layers of that prefix, counting from 1 (``"conv1"``, ``"relu2"``). Used by
    :class:`~companion.nn.sequential.Sequential` and
    :class:`~companion.nn.residual.Residual`.

    Raises
    ------
    TypeError
        An item is neither a Layer nor a ``(name, Layer)`` pair (naming its index).
    ValueError
        No items, a name that is not an identifier or appears twice, or the same
        layer object twice (its parameters would be counted twice).
    """
    items = list(items)
    if not items:
        raise ValueError("layers must hold at least one layer, got none")
    pairs = []
    for i, item in enumerate(items):
        if isinstance(item, Layer):
            pairs.append((None, item))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Layer):
            pairs.append(item)
        else:
            raise TypeError(f"layers[{i}] must be a Layer or a (name, Layer) pair, "
                            f"got {item!r}")
    counts: dict[str, int] = {}
    names, objects = [], []
    for name, layer in pairs:
        prefix = type(layer).name_prefix
        counts[prefix] = counts.get(prefix, 0) + 1
        names.append(prefix + str(counts[prefix]) if name is None else name)
        objects.append(layer)
    check_layer_names(names)
    ids = [id(layer) for layer in objects]
    if len(set(ids)) != len(ids):
        dup = next(n for n, i in zip(names, ids) if ids.count(i) > 1)
        raise ValueError(f"layers must be distinct objects: the layer named {dup!r} "
                         "appears twice (its parameters would be counted twice)")
    return names, objects
