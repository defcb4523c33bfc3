"""Finite-difference gradient checking.

The tool every backward pass of the course is proven with: compare an
analytic gradient with central differences

.. math::

    \\frac{\\partial f}{\\partial x_i} \\approx \\frac{f(x + h e_i) - f(x - h e_i)}{2h},

whose error is :math:`O(h^2)`. Run it in float64: with ``h = 1e-6`` a
correct gradient agrees to a relative error of about 1e-8 to 1e-10, a wrong
one is off by 1e-2 or more.

With ``richardson=True`` the two central differences :math:`D(h)` and
:math:`D(2h)` are combined as :math:`(4 D(h) - D(2h)) / 3` (Richardson
extrapolation), which cancels the :math:`h^2` term: the error becomes
:math:`O(h^4)`, so a larger step (default ``1e-3``) can be used, far from
round-off. That reliably reaches relative errors below 1e-9 even for
functions with large third derivatives (softmax, sigmoid, batch norm), at
twice the cost.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["numerical_gradient", "numerical_gradient_array", "relative_error"]


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                       h: float | None = None, *,
                       richardson: bool = False) -> np.ndarray:
    """Central-difference gradient of a scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``. It is called ``2 * x.size`` times with ``x``
        perturbed in place, one element at a time; ``x`` is restored afterwards.
    x : ndarray of float64, any shape
        The point. Must be a writable float array (float64 for a precise check).
    h : float, optional
        Step size; default ``1e-6``, or ``1e-3`` with ``richardson=True``.
    richardson : bool
        Combine the central differences with steps ``h`` and ``2h`` as
        ``(4 D(h) - D(2h)) / 3`` (error :math:`O(h^4)` instead of :math:`O(h^2)`).

    Returns
    -------
    grad : ndarray, same shape as ``x``
    """
    x = _check_point(x)
    h = _check_step(h, richardson)
    if richardson:
        d1 = numerical_gradient(f, x, h)
        d2 = numerical_gradient(f, x, 2 * h)
        return (4 * d1 - d2) / 3
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
                             dout: np.ndarray, h: float | None = None, *,
                             richardson: bool = False) -> np.ndarray:
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
    h : float, optional
        Step size (see :func:`numerical_gradient`).
    richardson : bool
        Richardson extrapolation (see :func:`numerical_gradient`).

    Returns
    -------
    grad : ndarray, same shape as ``x``
    """
    dout = np.asarray(dout)
    return numerical_gradient(lambda z: np.sum(np.asarray(f(z)) * dout), x, h,
                              richardson=richardson)


def relative_error(a, b) -> float:
    """Largest elementwise relative error ``|a - b| / max(|a| + |b|, 1e-12)``.

    Symmetric in ``a`` and ``b``. Near 1e-7 or below means two gradients agree;
    ``0.0`` for two all-zero arrays.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, "
                         f"got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    denom = np.maximum(np.abs(a) + np.abs(b), 1e-12)
    return float(np.max(np.abs(a - b) / denom))


def _check_step(h, richardson: bool) -> float:
    if h is None:
        return 1e-3 if richardson else 1e-6
    if (isinstance(h, bool) or not isinstance(h, (int, float, np.floating))
            or not np.isfinite(h) or h <= 0):
        raise ValueError(f"h must be a positive finite number, got {h!r}")
    return float(h)


def _check_point(x) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError("x must be a float ndarray (float64 for a precise check), "
                        f"got {type(x).__name__} {getattr(x, 'dtype', '')}")
    if not x.flags.writeable:
        raise ValueError("x must be writable: it is perturbed in place and restored")
    return x
