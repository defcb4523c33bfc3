"""Inverted dropout (随机失活): forward and backward.

During training, dropout sets each activation to zero with probability ``p``
(the probability of **dropping**, as in PyTorch) and scales the survivors by
:math:`1/(1-p)`:

.. math::

    \\text{out}_i = \\frac{k_i}{1 - p}\\, x_i, \\qquad
    k_i \\sim \\text{Bernoulli}(1 - p) \\text{ independently}.

Because :math:`\\mathbb{E}[k_i/(1-p)] = 1`, the expected output equals the
input, so at evaluation time the layer is simply the identity (this is what
"inverted" means: the scaling happens during training, not at test time).
The backward pass reuses the same keep mask :math:`k`:

.. math::

    \\frac{\\partial L}{\\partial x_i} = \\frac{k_i}{1-p}\\,
    \\frac{\\partial L}{\\partial\\,\\text{out}_i}.

``p`` must lie in ``[0, 1)``. ``p = 1`` is rejected: it would drop every
unit, the output would be all zeros whatever the input (no signal and no
gradient), and the scale :math:`1/(1-p)` would be a division by zero.

Randomness comes only from the ``np.random.Generator`` passed in, so a run is
reproducible from its seed. The keep mask is drawn as ``rng.random(x.shape) >= p``
in float64 whatever the dtype of ``x``, so one seed gives one mask for float32
and float64 input alike. In evaluation mode (``train=False``) and for ``p = 0``
the layer is the identity, draws nothing and leaves ``rng`` untouched.

Dtypes: float32 and float64 are kept; integer or boolean input is converted to
float64. Inputs are never modified; the output is always a new array, also in
the identity case.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple, Optional

import numpy as np
from numba import njit

from companion._validate import as_float_array, as_generator, as_probability

__all__ = ["DropoutCache", "dropout_forward", "dropout_backward"]


class DropoutCache(NamedTuple):
    """What :func:`dropout_backward` needs from the forward pass.

    Attributes
    ----------
    keep : ndarray of bool, shape of ``x``, or None
        ``True`` where the unit was kept. ``None`` when the forward pass was
        the identity (``train=False`` or ``p == 0``).
    p : float
        Drop probability.
    scale : float
        :math:`1/(1-p)`, in the dtype of ``x``.
    shape : tuple of int
        Shape of ``x`` (and of ``out`` and ``dout``).
    dtype : numpy dtype
        Dtype of ``x``.
    """

    keep: Optional[np.ndarray]
    p: float
    scale: float
    shape: tuple
    dtype: np.dtype


@njit(cache=True)
def _dropout_forward_kernel(x, u, p, scale, out, keep):
    for i in range(x.size):
        k = u[i] >= p          # kept with probability 1 - p
        keep[i] = k
        out[i] = x[i] * scale if k else 0.0


@njit(cache=True)
def _dropout_backward_kernel(dout, keep, scale, dx):
    for i in range(dout.size):
        dx[i] = dout[i] * scale if keep[i] else 0.0


def _as_p(value) -> float:
    """Validate the drop probability; explain why ``p = 1`` is refused."""
    if (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            and float(value) == 1.0):
        raise ValueError("p must lie in [0, 1), got 1: p = 1 drops every unit, so the output "
                         "is all zeros, no gradient flows, and the scale 1/(1 - p) is infinite")
    return as_probability(value, "p")


def dropout_forward(x, p, *, rng, train=True):
    """Inverted dropout forward pass.

    Parameters
    ----------
    x : array_like, any shape
        Input; float32/float64 kept, integers converted to float64.
    p : float in ``[0, 1)``
        Probability of **dropping** a unit (PyTorch's convention).
    rng : numpy.random.Generator or int or None, keyword-only
        Source of the keep mask, e.g. ``np.random.default_rng(seed)`` or a
        seed. Required, so that results are reproducible (``None`` draws an
        unseeded generator). Not advanced when the layer is the identity.
    train : bool, default True
        ``False`` (evaluation) makes the layer the identity.

    Returns
    -------
    out : ndarray, shape of ``x``
        ``x * keep / (1 - p)`` in training with ``p > 0``; a copy of ``x``
        otherwise.
    cache : DropoutCache
        The keep mask and the scale, for :func:`dropout_backward`.

    Raises
    ------
    ValueError
        ``p`` outside ``[0, 1)`` (``p = 1`` explained in the message),
        NaN/infinite values in ``x``.
    TypeError
        ``rng`` not a ``numpy.random.Generator``, an integer seed or None
        (e.g. the legacy ``np.random.RandomState``), ``p`` not a number,
        ``train`` not a bool.
    """
    shape = np.shape(x)
    # as_float_array(contiguous=True) turns a 0-d array into shape (1,): restore it
    x = as_float_array(x, "x", contiguous=True).reshape(shape)
    p = _as_p(p)
    rng = as_generator(rng)
    if not isinstance(train, (bool, np.bool_)):
        raise TypeError(f"train must be True or False, got {train!r}")
    scale = x.dtype.type(1.0 / (1.0 - p))
    if not train or p == 0.0:
        return x.copy(), DropoutCache(None, p, scale, x.shape, x.dtype)
    u = rng.random(x.shape)                 # float64 uniforms in [0, 1)
    out = np.empty_like(x)
    keep = np.empty(x.shape, dtype=np.bool_)
    _dropout_forward_kernel(x.reshape(-1), u.reshape(-1), p, scale, out.reshape(-1),
                            keep.reshape(-1))
    return out, DropoutCache(keep, p, scale, x.shape, x.dtype)


def dropout_backward(dout, cache: DropoutCache):
    """Inverted dropout backward pass: ``dx = dout * keep / (1 - p)`` with the forward mask.

    Parameters
    ----------
    dout : array_like, shape of ``x``
        Upstream gradient, in the dtype of the forward pass.
    cache : DropoutCache
        From :func:`dropout_forward`.

    Returns
    -------
    dx : ndarray, shape of ``x``
        A copy of ``dout`` when the forward pass was the identity.
    """
    if not isinstance(cache, DropoutCache):
        raise TypeError(f"cache must be the DropoutCache returned by dropout_forward, "
                        f"got {type(cache).__name__}")
    shape = np.shape(dout)
    dout = as_float_array(dout, "dout", contiguous=True).reshape(shape)
    if dout.shape != tuple(cache.shape):
        raise ValueError(f"dout must have the shape of the dropout_forward output "
                         f"{tuple(cache.shape)}, got {dout.shape}")
    if dout.dtype != cache.dtype:
        raise ValueError(f"dout must have the dtype of the dropout_forward output "
                         f"({cache.dtype}), got {dout.dtype}; convert it with .astype(...)")
    if cache.keep is None:
        return dout.copy()
    dx = np.empty_like(dout)
    _dropout_backward_kernel(dout.reshape(-1), cache.keep.reshape(-1), cache.scale,
                             dx.reshape(-1))
    return dx
