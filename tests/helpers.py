"""Assertions shared by several test files (importable: pytest puts tests/ on the path)."""
import numpy as np
import pytest


def assert_raises_naming(call, exc, words) -> None:
    """``call()`` raises ``exc`` whose message contains every string of ``words``
    (the argument's name, the expected and the actual value...)."""
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def bounded_weights(layers, rng) -> None:
    """Give the layers weights of He size but bounded away from 0, and biases in
    [-0.5, 0.5], so that no gradient entry is tiny by accident (its finite
    difference would measure only rounding)."""
    for layer in layers:
        if "w" in layer.params:
            w = layer.params["w"]
            fan_in = w[0].size if w.ndim == 4 else w.shape[0]
            w[...] = (rng.choice([-1.0, 1.0], w.shape) * rng.uniform(0.5, 1.5, w.shape)
                      * np.sqrt(2.0 / fan_in))
            layer.params["b"][...] = rng.uniform(-0.5, 0.5, layer.params["b"].shape)
