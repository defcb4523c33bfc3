"""Fine-tuning helpers (微调): freeze layers, replace the classifier head, count what trains.

Transfer learning reuses a trained network for a new task: keep the feature
extractor (the convolutions), replace the last layer by one for the new
classes, and train that head first, with the rest **frozen**::

    model = lenet5(rng=0)                     # trained on 10 digits, say
    replace_head(model, Dense(84, 2, rng=1))  # now 2 classes
    freeze(model, lambda name, layer: name != "fc3")
    opt = SGD(lr=0.01)                        # a new optimizer: the parameters changed
    opt.step(model.trainable_params(), model.trainable_grads())

A frozen layer still backpropagates (``backward`` returns ``dx``, so the layers
before it could still learn), but its parameters are left out of
``model.trainable_params()`` / ``trainable_grads()`` and its gradients are
zero. Freezing does not touch the mode: to keep a batch-norm layer's running
statistics fixed as well, put it in evaluation mode.
"""
from __future__ import annotations

from typing import Callable

from companion.nn.conv import Conv2d
from companion.nn.layer import Layer
from companion.nn.linear import Dense

__all__ = ["freeze", "unfreeze", "replace_head", "trainable_parameter_count", "head_name"]


def _check_model(model) -> None:
    if not (hasattr(model, "names") and hasattr(model, "layers") and hasattr(model, "replace")):
        raise TypeError(f"model must be a companion.nn.sequential.Sequential, "
                        f"got {type(model).__name__}")


def _select(model, names_or_predicate, arg: str) -> list[str]:
    """The layer names chosen by a name, a list of names or a predicate ``f(name, layer)``."""
    names = model.names
    if callable(names_or_predicate):
        return [n for n, layer in zip(names, model.layers) if names_or_predicate(n, layer)]
    if isinstance(names_or_predicate, str):
        chosen = [names_or_predicate]
    else:
        try:
            chosen = list(names_or_predicate)
        except TypeError:
            raise TypeError(f"{arg} must be a layer name, a list of names or a callable "
                            f"f(name, layer) -> bool, got {names_or_predicate!r}") from None
    for n in chosen:
        if not isinstance(n, str):
            raise TypeError(f"{arg} must hold layer names (str), got {n!r}")
        if n not in names:
            raise ValueError(f"{arg} names {n!r}, which is not a layer of the model; "
                             f"the layers are {names}")
    return chosen


def freeze(model, names_or_predicate: str | list[str] | Callable) -> list[str]:
    """Freeze layers: their parameters stop training.

    Parameters
    ----------
    model : Sequential
    names_or_predicate : str, list of str, or callable
        A layer name, several names, or ``f(name, layer) -> bool`` choosing
        the layers (e.g. ``lambda name, layer: name != "fc3"``).

    Returns
    -------
    list of str
        The names of the layers now frozen by this call.
    """
    _check_model(model)
    chosen = _select(model, names_or_predicate, "names_or_predicate")
    for n in chosen:
        model[n].frozen = True
    return chosen


def unfreeze(model, names_or_predicate: str | list[str] | Callable | None = None) -> list[str]:
    """Unfreeze layers (all of them when ``names_or_predicate`` is None); returns their names."""
    _check_model(model)
    chosen = model.names if names_or_predicate is None else \
        _select(model, names_or_predicate, "names_or_predicate")
    for n in chosen:
        model[n].frozen = False
    return chosen


def head_name(model) -> str:
    """The name of the last layer that has parameters (the classifier head)."""
    _check_model(model)
    for n, layer in zip(reversed(model.names), reversed(model.layers)):
        if layer.params:
            return n
    raise ValueError("model has no layer with parameters, so it has no head to replace")


def _input_size(layer: Layer):
    if isinstance(layer, Dense):
        return "in_features", layer.in_features
    if isinstance(layer, Conv2d):
        return "in_channels", layer.in_channels
    return None, None


def replace_head(model, new_layer: Layer, name: str | None = None) -> Layer:
    """Replace the last layer that has parameters (e.g. ``fc3``: 10 classes -> 2).

    Parameters
    ----------
    model : Sequential
    new_layer : Layer
        A :class:`~companion.nn.linear.Dense` (or :class:`~companion.nn.conv.Conv2d`)
        with the same input size and dtype as the layer it replaces.
    name : str, optional
        The new layer's name; default: the old one's.

    Returns
    -------
    Layer
        The layer taken out.

    Raises
    ------
    ValueError
        An input size or dtype that does not match the old head (the message
        gives both), a new layer without parameters, a name already used.

    Notes
    -----
    An optimizer keeps per-parameter state keyed by name and shape: create a
    new one after replacing the head.
    """
    _check_model(model)
    if not isinstance(new_layer, Layer):
        raise TypeError(f"new_layer must be a Layer, got {type(new_layer).__name__}")
    if not new_layer.params:
        raise ValueError(f"new_layer must have parameters to be a head, got {new_layer!r}")
    old_name = head_name(model)
    old = model[old_name]
    old_key, old_size = _input_size(old)
    new_key, new_size = _input_size(new_layer)
    if old_key is not None and (new_key != old_key or new_size != old_size):
        raise ValueError(f"new_layer must take the input of {old_name!r} ({old!r}): "
                         f"{old_key} = {old_size}, got {new_layer!r}")
    old_dtype = getattr(old, "dtype", None)
    new_dtype = getattr(new_layer, "dtype", None)
    if old_dtype is not None and new_dtype != old_dtype:
        raise ValueError(f"new_layer must have the model's dtype {old_dtype}, got {new_dtype}")
    return model.replace(old_name, new_layer, name)


def trainable_parameter_count(model) -> int:
    """Number of scalar parameters that train (frozen layers excluded)."""
    _check_model(model)
    return int(sum(p.size for p in model.trainable_params().values()))
