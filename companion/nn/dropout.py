"""Dropout layer: :class:`Dropout` (inverted dropout, identity in evaluation mode).

See :mod:`companion.nn.layer` for the interface every layer shares.
"""
from __future__ import annotations

import numpy as np

from companion._validate import as_generator, as_probability
from companion.functional import dropout_backward, dropout_forward
from companion.nn.layer import ElementwiseLayer

__all__ = ["Dropout"]


class Dropout(ElementwiseLayer):
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

    def __init__(self, p=0.5, *, rng=None):
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
        out, self._cache = dropout_forward(x, self.p, rng=self._rng, train=self.training)
        return out

    def backward(self, dout):
        return dropout_backward(dout, self._require_cache())

    def _config_args(self):
        return {"p": self.p}
