"""A network as a sequence of layers (``Sequential``): forward in order, backward in reverse.

A feed-forward network is a composition :math:`f = f_L \\circ \\dots \\circ f_1`.
The forward pass applies the layers in order and every layer keeps what its
backward pass needs; the backward pass is the chain rule applied right to
left: starting from :math:`\\delta_L = \\partial L/\\partial\\,\\text{out}` (the
gradient of the loss with respect to the logits), each layer turns the
gradient with respect to its output into the gradient with respect to its
input, and stores the gradients of its own parameters on the way::

    model = Sequential(Conv2d(1, 6, 5, rng=0), ReLU(), MaxPool2d(2), Flatten(),
                       Dense(6 * 14 * 14, 10, rng=1))
    logits = model(x)                             # forward
    loss, dlogits = cross_entropy_loss(logits, y)
    model.backward(dlogits)                       # fills every layer's grads
    opt.step(model.params, model.grads)           # updates the arrays in place

**Names.** Every layer has a name; parameters are addressed as
``"<layer name>.<key>"`` (``"conv1.w"``, ``"fc3.b"``, buffers ``"bn1.running_mean"``).
Names are given as ``Sequential([("conv1", layer), ...])`` or chosen
automatically: the k-th layer of a kind is named ``prefix + str(k)``, counting
from 1 the layers of that kind in the network (named or not), with the prefix
``"conv"`` for :class:`~companion.nn.conv.Conv2d`, ``"fc"`` for
:class:`~companion.nn.linear.Dense`, ``"pool"`` for both poolings, ``"relu"``,
``"leaky_relu"``, ``"sigmoid"``, ``"tanh"``, ``"flatten"``, ``"dropout"`` and
``"bn"`` (the class attribute ``name_prefix``). A name is a Python identifier
(no dots) and unique.

**Parameters are shared, not copied.** :attr:`Sequential.params` is a flat dict
whose values *are* the layers' arrays, so ``optimizer.step(model.params,
model.grads)`` trains the model. :meth:`Sequential.state_dict` returns copies.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from companion._validate import as_bool, as_float_array, as_generator
from companion.nn.config import layer_from_config
from companion.nn.layer import Layer, check_layer_names, named_layers

__all__ = ["Sequential"]


def _with_layer_context(err: Exception, name: str, layer: Layer) -> Exception:
    """The same kind of exception with the layer's name in front of the message."""
    try:
        new = type(err)(f"layer {name!r} ({layer!r}): {err}")
    except Exception:           # an exception type with another constructor
        return err
    return new


class Sequential:
    """Layers applied one after another.

    Parameters
    ----------
    *layers : Layer, or one list of layers and/or ``(name, layer)`` pairs, or one mapping
        ``Sequential(l1, l2)``, ``Sequential([("conv1", l1), ("relu1", l2)])``
        or ``Sequential({"conv1": l1, "relu1": l2})``. Unnamed layers are
        named by the rule of the module docstring.

    Attributes
    ----------
    layers : list of Layer
        The layers in order (a new list on each access; the layer objects
        themselves).
    names : list of str
        Their names.
    training : bool
        Set by :meth:`train` / :meth:`eval` on every layer. A new model is in
        training mode (its layers are put in training mode).
    """

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], Mapping):
            items = list(layers[0].items())
        elif len(layers) == 1 and isinstance(layers[0], (list, tuple)) \
                and not isinstance(layers[0], Layer):
            items = list(layers[0])
        else:
            items = list(layers)
        names, objects = named_layers(items)
        self._names = names
        self._layers = objects
        self.training = True
        self.train()

    # -- structure -------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)

    def __contains__(self, name) -> bool:
        return name in self._names

    def __getitem__(self, key) -> Layer:
        """The layer with this name, or at this index."""
        if isinstance(key, str):
            if key not in self._names:
                raise KeyError(f"no layer named {key!r}; the layers are {self._names}")
            return self._layers[self._names.index(key)]
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return self._layers[key]
        raise TypeError(f"key must be a layer name or an index, got {key!r}")

    def replace(self, name: str, new_layer: Layer, new_name: str | None = None) -> Layer:
        """Put ``new_layer`` in the place of the layer ``name``; return the old layer.

        ``new_name`` defaults to ``name``. The new layer takes the model's mode.
        """
        old = self[name]
        if not isinstance(new_layer, Layer):
            raise TypeError(f"new_layer must be a Layer, got {type(new_layer).__name__}")
        i = self._names.index(name)
        if any(layer is new_layer for j, layer in enumerate(self._layers) if j != i):
            raise ValueError("new_layer is already in the model")
        names = list(self._names)
        names[i] = name if new_name is None else new_name
        check_layer_names(names)
        self._names = names
        self._layers[i] = new_layer
        new_layer.train(self.training)
        return old

    # -- passes --------------------------------------------------------------------------
    def forward(self, x):
        """Apply every layer in order; each keeps its cache for :meth:`backward`.

        An error of a layer is raised again with the layer's name in front of
        its message.
        """
        for name, layer in zip(self._names, self._layers):
            try:
                x = layer.forward(x)
            except (ValueError, TypeError, RuntimeError) as err:
                raise _with_layer_context(err, name, layer) from err
        return x

    __call__ = forward

    def backward(self, dout, *, input_grad=True):
        """Backpropagate ``dout`` (the gradient of the loss with respect to the output of
        the last :meth:`forward`) through every layer in reverse order.

        Fills every layer's ``grads`` and returns the gradient with respect to
        the network's input; with ``input_grad=False`` the first layer fills
        its ``grads`` only (:meth:`~companion.nn.layer.Layer.backward_params`:
        a first convolution or dense layer skips its ``dx``) and ``None`` is
        returned. Training needs no gradient of the images, and
        :func:`~companion.train.loop.train_step` asks for none.
        """
        input_grad = as_bool(input_grad, "input_grad")
        last = 0 if input_grad else 1
        for i in range(len(self._layers) - 1, -1, -1):
            name, layer = self._names[i], self._layers[i]
            try:
                if i >= last:
                    dout = layer.backward(dout)
                else:
                    layer.backward_params(dout)
                    dout = None
            except (ValueError, TypeError, RuntimeError) as err:
                raise _with_layer_context(err, name, layer) from err
        return dout

    def backward_params(self, dout) -> None:
        """Fill every layer's ``grads`` without the input gradient
        (``backward(dout, input_grad=False)``), as a layer nested in a model."""
        self.backward(dout, input_grad=False)

    def train(self, mode: bool = True) -> "Sequential":
        """Training mode for every layer (``mode=False``: evaluation). Returns the model."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"mode must be True or False, got {mode!r}")
        for layer in self._layers:
            layer.train(bool(mode))
        self.training = bool(mode)
        return self

    def eval(self) -> "Sequential":
        """Evaluation mode for every layer (dropout off, batch norm on running statistics)."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Set every gradient array to zero, in place."""
        for layer in self._layers:
            layer.zero_grad()

    # -- parameters ------------------------------------------------------------------------
    def _flat(self, attr: str, *, trainable_only: bool = False) -> dict[str, np.ndarray]:
        out = {}
        for name, layer in zip(self._names, self._layers):
            if trainable_only and layer.frozen:
                continue
            for key, arr in getattr(layer, attr).items():
                out[f"{name}.{key}"] = arr
        return out

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Flat dict ``"name.key"`` -> the layers' own parameter arrays (not copies)."""
        return self._flat("params")

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """Flat dict with the keys of :attr:`params` -> the layers' gradient arrays."""
        return self._flat("grads")

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """Flat dict ``"name.key"`` -> non-trained state (batch norm running statistics)."""
        return self._flat("buffers")

    def trainable_params(self) -> dict[str, np.ndarray]:
        """:attr:`params` without the frozen layers' parameters."""
        return self._flat("params", trainable_only=True)

    def trainable_grads(self) -> dict[str, np.ndarray]:
        """:attr:`grads` without the frozen layers' gradients (same keys as
        :meth:`trainable_params`)."""
        return self._flat("grads", trainable_only=True)

    def num_params(self) -> int:
        """Total number of scalar parameters (frozen or not)."""
        return int(sum(layer.num_params() for layer in self._layers))

    # -- description ---------------------------------------------------------------------------
    def output_shapes(self, input_shape) -> list[tuple[int, ...]]:
        """Output shape of every layer (one sample, no batch axis) for ``input_shape``."""
        shapes = []
        shape = tuple(input_shape) if not isinstance(input_shape, int) else (input_shape,)
        for name, layer in zip(self._names, self._layers):
            try:
                shape = layer.output_shape(shape)
            except (ValueError, TypeError) as err:
                raise _with_layer_context(err, name, layer) from err
            shapes.append(shape)
        return shapes

    def summary(self, input_shape) -> str:
        """A text table: layer name, layer, output shape, parameter count.

        Parameters
        ----------
        input_shape : tuple of int
            The shape of **one** input sample, without the batch axis, e.g.
            ``(1, 32, 32)`` for LeNet-5. Output shapes are shown with ``N`` for
            the batch axis.

        Returns
        -------
        str
            Print it. Frozen layers are marked ``(frozen)``; the totals count
            all, trainable and frozen parameters.
        """
        shapes = self.output_shapes(input_shape)
        rows = [("Layer", "Type", "Output shape", "Params")]
        for name, layer, shape in zip(self._names, self._layers, shapes):
            desc = layer.describe()
            if layer.frozen:
                desc += " (frozen)"
            rows.append((name, desc, "(N, " + ", ".join(str(s) for s in shape) + ")",
                         f"{layer.num_params():,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]

        def line(r):
            return "  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1]),
                              r[2].ljust(widths[2]), r[3].rjust(widths[3])]).rstrip()

        rule = "  ".join("-" * w for w in widths)
        total = self.num_params()
        trainable = int(sum(p.size for p in self.trainable_params().values()))
        in_shape = "(N, " + ", ".join(str(int(s)) for s in input_shape) + ")"
        out = [f"Input shape: {in_shape}", line(rows[0]), rule]
        out += [line(r) for r in rows[1:]]
        out += [rule, f"Total parameters: {total:,} (trainable {trainable:,}, "
                      f"frozen {total - trainable:,})"]
        return "\n".join(out)

    def config(self) -> dict:
        """JSON-able architecture: ``{"type": "Sequential", "layers": [{"name": ..., **layer.config()}]}``."""
        return {"type": "Sequential",
                "layers": [{"name": n, **layer.config()}
                           for n, layer in zip(self._names, self._layers)]}

    @classmethod
    def from_config(cls, config, *, rng=None) -> "Sequential":
        """Build a model from :meth:`config` (fresh parameters drawn from ``rng``)."""
        if not isinstance(config, dict) or config.get("type") != "Sequential" \
                or not isinstance(config.get("layers"), list):
            raise ValueError("config must be a dict {'type': 'Sequential', 'layers': [...]}, "
                             f"got {config!r}")
        rng = as_generator(rng)
        pairs = []
        for i, entry in enumerate(config["layers"]):
            if not isinstance(entry, dict) or "name" not in entry:
                raise ValueError(f"config['layers'][{i}] must be a dict with a 'name', "
                                 f"got {entry!r}")
            pairs.append((entry["name"], layer_from_config(entry, rng=rng)))
        return cls(pairs)

    def __repr__(self) -> str:
        lines = [f"  ({n}): {layer!r}" + (" [frozen]" if layer.frozen else "")
                 for n, layer in zip(self._names, self._layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed ``"name.key"``.

        Storable with ``np.savez(path, **model.state_dict())``.
        """
        d = {k: v.copy() for k, v in self.params.items()}
        d.update({k: v.copy() for k, v in self.buffers.items()})
        return d

    def _checked_state(self, state_dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Validate a state dict against the model; ``{key: (target, value)}``. Writes nothing."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        targets = {**self.params, **self.buffers}
        for key in state_dict:
            if key not in targets:
                raise ValueError(f"state dict has an unexpected entry {key!r}: the model has "
                                 f"no parameter or buffer of that name")
        work = {}
        for key, target in targets.items():
            if key not in state_dict:
                raise ValueError(f"state dict has no entry {key!r} (a {target.dtype} array "
                                 f"of shape {target.shape})")
            value = as_float_array(state_dict[key], f"state dict entry {key!r}")
            if value.shape != target.shape:
                raise ValueError(f"state dict entry {key!r} must have shape {target.shape}, "
                                 f"got {value.shape}")
            if key.endswith(".running_var") and np.any(value < 0):
                raise ValueError(f"state dict entry {key!r} must be >= 0 (a variance)")
            work[key] = (target, value)
        return work

    def load_state_dict(self, state_dict) -> None:
        """Copy parameters and buffers from ``state_dict`` into the model's arrays.

        ``state_dict`` is what :meth:`state_dict` returned, or the ``NpzFile``
        of ``np.load`` on its ``np.savez``. Values are converted to each
        array's dtype (so float64 weights load into a float32 model and back).

        Raises
        ------
        ValueError
            A missing or unexpected key, a shape mismatch, a NaN/infinite value
            (naming the key). Nothing is written then.
        """
        for target, value in self._checked_state(state_dict).values():
            target[...] = value
