"""Finite-difference gradient checking.

The tool every backward pass of the course is proven with: compare an
analytic gradient with central differences

.. math::

    \\frac{\\partial f}{\\partial x_i} \\approx \\frac{f(x + h e_i) - f(x - h e_i)}{2h},

whose error is :math:`O(h^2)`. Run it in float64: with ``h = 1e-6`` a
correct gradient agrees to a relative error of about 1e-8 to 1e-10, a wrong
one is off by 1e-2 or more.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["numerical_gradient", "numerical_gradient_array", "relative_error"]


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                       h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``. It is called ``2 * x.size`` times with ``x``
        perturbed in place, one element at a time; ``x`` is restored afterwards.
    x : ndarray of float64, any shape
        The point. Must be a writable float array (float64 for a precise check).
    h : float
        Step size.

    Returns
    -------
    grad : ndarray, same shape as ``x``
    """
    x = _check_point(x)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        f_plus = float(f(x))
        x[i] = old - h
        f_minus = float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                             dout: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    This is what a layer's backward pass computes: given the upstream gradient
    ``dout`` (same shape as ``f(x)``), the gradient flowing to ``x``.

    Parameters
    ----------
    f : callable
        ``f(x) -> ndarray`` of the shape of ``dout``. Called ``2 * x.size``
        times with ``x`` perturbed in place; ``x`` is restored afterwards.
    x : ndarray of float64
    dout : ndarray, shape of ``f(x)``
    h : float

    Returns
    -------
    grad : ndarray, same shape as ``x``
    """
    dout = np.asarray(dout)
    return numerical_gradient(lambda z: np.sum(np.asarray(f(z)) * dout), x, h)


def relative_error(a, b) -> float:
    """Largest elementwise relative error ``|a - b| / max(|a| + |b|, 1e-12)``.

    Symmetric in ``a`` and ``b``. Near 1e-7 or below means two gradients agree;
    ``0.0`` for two all-zero arrays.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    denom = np.maximum(np.abs(a) + np.abs(b), 1e-12)
    return float(np.max(np.abs(a - b) / denom))


def _check_point(x) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError("x must be a float ndarray (float64 for a precise check), "
                        f"got {type(x).__name__} {getattr(x, 'dtype', '')}")
    if not x.flags.writeable:
        raise ValueError("x must be writable: it is perturbed in place and restored")
    return x
