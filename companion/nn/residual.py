"""A residual block (残差块): ``y = x + F(x)``, a few layers with an identity shortcut.

The block holds layers ``F`` that keep the shape of their input (for example
``Conv2d(C, C, 3, padding=1), ReLU(), Conv2d(C, C, 3, padding=1)``) and adds their
output to their input. Its backward pass is the chain rule at a fan-out: ``x``
feeds both the body and the sum, so the two gradients that reach it **add**::

    dx = dout + dF(x)/dx^T dout        (shortcut + body)

Even when the body's layers shrink the gradient (small weights, saturated
activations), the shortcut passes ``dout`` on unchanged; a stack of such blocks
keeps the gradient of its first layers alive, which is why deep networks
(ResNet, He et al. 2016) are built of them. Chapter 16 measures it.

The block is a :class:`~companion.nn.layer.Layer`, usable inside
:class:`~companion.nn.sequential.Sequential`. Its parameters are its layers', named
as in a ``Sequential`` (``"conv1.w"``; in a model ``"res1.conv1.w"``); the arrays
are the layers' own, so an optimizer given ``model.params`` trains them.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from companion._validate import as_bool
from companion.nn.layer import Layer, named_layers

__all__ = ["Residual", "ResidualCache"]


class ResidualCache(NamedTuple):
    """What :meth:`Residual.backward` needs: the shape and dtype of the last input."""
    x_shape: tuple
    dtype: np.dtype


class Residual(Layer):
    """``y = x + F(x)``: the layers ``F`` applied in order, plus the input.

    Parameters
    ----------
    *layers : Layer, or one list of layers and/or ``(name, layer)`` pairs
        The body ``F``. Together they must keep the shape of their input (the
        sum needs it). Unnamed layers are named like in
        :class:`~companion.nn.sequential.Sequential` (``"conv1"``, ``"relu1"``,
        ... counted inside the block).

    Shapes
    ------
    ``x`` of any shape the body accepts, ``(N, C, H, W)`` for convolutions;
    ``y`` and ``dx`` of the same shape.

    Examples
    --------
    >>> block = Residual(Conv2d(8, 8, 3, padding=1, rng=0), ReLU(),
    ...                  Conv2d(8, 8, 3, padding=1, rng=1))
    >>> y = block.forward(x)          # x + conv2(relu(conv1(x)))
    >>> dx = block.backward(dy)       # dy + the body's gradient
    """

    name_prefix = "res"

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)) \
                and not isinstance(layers[0], Layer):
            items = list(layers[0])
        else:
            items = list(layers)
        names, objects = named_layers(items)
        self._frozen = False
        super().__init__()
        self.names = names
        self.layers = objects
        # the layers' own arrays, under "name.key": shared, not copied
        self.params = self._flat("params")
        self.grads = self._flat("grads")
        self.buffers = self._flat("buffers")
        self.train(True)

    def _flat(self, attr: str) -> dict[str, np.ndarray]:
        return {f"{name}.{key}": arr for name, layer in zip(self.names, self.layers)
                for key, arr in getattr(layer, attr).items()}

    # -- mode ----------------------------------------------------------------------------
    @property
    def frozen(self) -> bool:
        """Freezing the block freezes each of its layers (and unfreezing unfreezes them).
        Freeze the whole block: a model's trainable parameters leave out frozen layers
        of the model, not a frozen layer inside a block."""
        return self._frozen

    @frozen.setter
    def frozen(self, value) -> None:
        self._frozen = as_bool(value, "frozen")
        for layer in getattr(self, "layers", []):
            layer.frozen = self._frozen

    def train(self, mode: bool = True) -> "Residual":
        super().train(mode)
        for layer in self.layers:
            layer.train(self.training)
        return self

    # -- passes --------------------------------------------------------------------------
    def forward(self, x):
        """``y = x + F(x)``; every layer of the body keeps its cache."""
        if not isinstance(x, np.ndarray):
            x = np.asarray(x)
        h = x
        for name, layer in zip(self.names, self.layers):
            try:
                h = layer.forward(h)
            except (ValueError, TypeError, RuntimeError) as err:
                raise type(err)(f"residual layer {name!r} ({layer!r}): {err}") from err
        if h.shape != x.shape:
            raise ValueError(f"the body of a residual block must keep the shape of its "
                             f"input: x has shape {x.shape}, F(x) has shape {h.shape}")
        out = x + h
        self._cache = ResidualCache(x.shape, out.dtype)
        return out

    def backward(self, dout):
        """``dx = dout + (the body's backward pass of dout)``: the shortcut and the body
        both carry the gradient back to ``x``, and at the fan-out the two add."""
        cache = self._require_cache()
        dout = np.asarray(dout)
        if dout.shape != cache.x_shape:
            raise ValueError(f"dout must have the shape of the last output "
                             f"{cache.x_shape}, got {dout.shape}")
        d_body = dout
        for name, layer in zip(reversed(self.names), reversed(self.layers)):
            try:
                d_body = layer.backward(d_body)
            except (ValueError, TypeError, RuntimeError) as err:
                raise type(err)(f"residual layer {name!r} ({layer!r}): {err}") from err
        return dout + d_body            # a new array: dout is never modified

    # -- description ---------------------------------------------------------------------
    def output_shape(self, input_shape):
        shape = tuple(input_shape) if not isinstance(input_shape, int) else (input_shape,)
        out = shape
        for layer in self.layers:
            out = layer.output_shape(out)
        if tuple(out) != shape:
            raise ValueError(f"the body of a residual block must keep the shape of its "
                             f"input: {shape} becomes {tuple(out)}")
        return shape

    def config(self) -> dict:
        """``{"type": "Residual", "layers": [{"name": ..., **layer.config()}, ...]}``."""
        return {"type": "Residual",
                "layers": [{"name": n, **layer.config()}
                           for n, layer in zip(self.names, self.layers)]}

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={layer!r}" for n, layer in zip(self.names, self.layers))
        return f"Residual({inner})"

    def describe(self) -> str:
        """``Residual(Conv2d, ReLU, Conv2d)``: the body's layer types, for tables."""
        return "Residual(" + ", ".join(type(layer).__name__ for layer in self.layers) + ")"
