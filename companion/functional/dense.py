"""Dense (fully connected, 全连接) layer: forward and backward.

A dense layer maps a batch of ``N`` row vectors of length ``D`` to rows of
length ``M``:

.. math::

    \\text{out} = x W + b, \\qquad
    \\text{out}_{nm} = \\sum_{d=1}^{D} x_{nd} W_{dm} + b_m ,

with ``x`` of shape ``(N, D)``, ``W`` of shape ``(D, M)`` and ``b`` of shape
``(M,)`` (added to every row). Given the upstream gradient
:math:`\\delta = \\partial L / \\partial\\,\\text{out}` of shape ``(N, M)``, the
chain rule gives

.. math::

    \\frac{\\partial L}{\\partial x} = \\delta W^\\top, \\qquad
    \\frac{\\partial L}{\\partial W} = x^\\top \\delta, \\qquad
    \\frac{\\partial L}{\\partial b} = \\sum_{n=1}^{N} \\delta_{n,:} .

Three matrix products: NumPy hands them to BLAS, which is what a dense layer
should use (a Numba loop would be many times slower), so this module has no
Numba kernel. As everywhere in the package, BLAS runs single-threaded inside
these calls (:func:`companion._blas.single_threaded_blas`; why:
:mod:`companion._threads`): the products of a CNN's dense layers are small, and
a multi-threaded BLAS whose idle threads keep polling slowed a whole LeNet-5
training step about twofold on a busy two-core machine.

The layer takes 2-D input only. A convolutional feature map ``(N, C, H, W)``
is flattened to ``(N, C*H*W)`` by a separate flatten step before it reaches a
dense layer; a 4-D ``x`` here is rejected rather than flattened silently.

Dtypes: float32 and float64 are kept; integer or boolean input is converted to
float64. ``x``, ``w`` and ``b`` (and ``dout`` in the backward pass) must end up
with one common dtype, otherwise ``ValueError`` names the argument that
differs: the layer never mixes precisions silently.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from companion._blas import single_threaded_blas
from companion._validate import as_bool, as_float_array, check_ndim

__all__ = ["DenseCache", "dense_forward", "dense_backward"]


class DenseCache(NamedTuple):
    """What :func:`dense_backward` needs from the forward pass.

    Attributes
    ----------
    x : ndarray, shape ``(N, D)``
        The input (the validated array; not a copy unless a dtype conversion
        made one).
    w : ndarray, shape ``(D, M)``
        The weights.
    """

    x: np.ndarray
    w: np.ndarray


def _check_dtype(arr: np.ndarray, name: str, dtype: np.dtype, ref_name: str) -> None:
    """Raise ``ValueError`` unless ``arr`` has the float dtype of the reference."""
    if arr.dtype != dtype:
        raise ValueError(f"{name} must have the dtype of {ref_name} ({dtype}), "
                         f"got {arr.dtype}; convert one of them with .astype(...)")


def dense_forward(x, w, b):
    """Forward pass of a dense layer: ``out = x @ w + b``.

    Parameters
    ----------
    x : array_like, shape ``(N, D)``
        A batch of ``N`` input vectors. Must be 2-D: flatten a feature map
        first, e.g. ``x.reshape(len(x), -1)``.
    w : array_like, shape ``(D, M)``
        Weights; ``w[d, m]`` connects input ``d`` to output ``m``.
    b : array_like, shape ``(M,)``
        Biases, one per output.

    Returns
    -------
    out : ndarray, shape ``(N, M)``
        :math:`\\text{out}_{nm} = \\sum_d x_{nd} w_{dm} + b_m`, in the common
        dtype of the inputs.
    cache : DenseCache
        ``(x, w)`` for :func:`dense_backward`.

    Raises
    ------
    ValueError
        Wrong number of dimensions, inner sizes that do not match
        (``x.shape[1] != w.shape[0]``, ``b.shape != (w.shape[1],)``), dtypes
        that differ, or NaN/infinite values.
    TypeError
        Non-numeric input.
    """
    x = as_float_array(x, "x")
    if x.ndim != 2:
        raise ValueError(f"x must have 2 dimensions (N, D), got shape {x.shape}; "
                         "flatten a feature map first, e.g. x.reshape(len(x), -1)")
    w = as_float_array(w, "w", ndim=2)
    b = as_float_array(b, "b", ndim=1)
    _check_dtype(w, "w", x.dtype, "x")
    _check_dtype(b, "b", x.dtype, "x")
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w must have shape (D, M) with D = x.shape[1] = "
                         f"{x.shape[1]}, got {w.shape}")
    if b.shape != (w.shape[1],):
        raise ValueError(f"b must have shape (M,) with M = w.shape[1] = {w.shape[1]}, "
                         f"got {b.shape}")
    with single_threaded_blas():
        out = x @ w + b
    return out, DenseCache(x, w)


def dense_backward(dout, cache: DenseCache, *, input_grad=True):
    """Backward pass of a dense layer.

    Parameters
    ----------
    dout : array_like, shape ``(N, M)``
        Upstream gradient :math:`\\delta = \\partial L/\\partial\\,\\text{out}`, in
        the dtype of the forward pass.
    cache : DenseCache
        From :func:`dense_forward`.
    input_grad : bool, default True
        ``False`` skips ``dx`` (returned as ``None``), for a network's first
        layer; ``dw`` and ``db`` do not change.

    Returns
    -------
    dx : ndarray, shape ``(N, D)``, or None
        :math:`\\delta W^\\top`.
    dw : ndarray, shape ``(D, M)``
        :math:`x^\\top \\delta`.
    db : ndarray, shape ``(M,)``
        :math:`\\sum_n \\delta_{n,:}` (column sums of ``dout``).
    """
    if not isinstance(cache, DenseCache):
        raise TypeError(f"cache must be the DenseCache returned by dense_forward, "
                        f"got {type(cache).__name__}")
    x, w = cache
    dout = as_float_array(dout, "dout")
    check_ndim(dout, "dout", 2)
    expected = (x.shape[0], w.shape[1])
    if dout.shape != expected:
        raise ValueError(f"dout must have shape (N, M) = {expected}, the shape of the "
                         f"forward output, got {dout.shape}")
    _check_dtype(dout, "dout", x.dtype, "the forward pass")
    input_grad = as_bool(input_grad, "input_grad")
    with single_threaded_blas():
        dx = dout @ w.T if input_grad else None
        dw = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db
