"""Rebuilding a layer from its configuration: :data:`LAYER_TYPES`,
:func:`layer_from_config` (the inverse of :meth:`companion.nn.layer.Layer.config`).
"""
from __future__ import annotations

from companion.nn.activation import LeakyReLU, ReLU, Sigmoid, Tanh
from companion.nn.batchnorm import BatchNorm
from companion.nn.conv import Conv2d
from companion.nn.dropout import Dropout
from companion.nn.init import INITIALIZERS
from companion.nn.layer import Layer
from companion.nn.linear import Dense, Flatten
from companion.nn.pooling import AvgPool2d, MaxPool2d
from companion.nn.residual import Residual

__all__ = ["LAYER_TYPES", "layer_from_config"]


LAYER_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    Dense, Conv2d, MaxPool2d, AvgPool2d, ReLU, LeakyReLU, Sigmoid, Tanh, Flatten, Dropout,
    BatchNorm, Residual)}
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
    if cls is Residual:
        layers = config.get("layers")
        if not isinstance(layers, list) or not all(
                isinstance(e, dict) and "name" in e for e in layers):
            raise ValueError(f"config {config!r} does not describe a Residual: 'layers' "
                             "must be a list of layer configs with names")
        return Residual([(e["name"], layer_from_config(e, rng=rng)) for e in layers])
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
