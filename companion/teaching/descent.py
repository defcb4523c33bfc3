"""Gradient descent (梯度下降): full-batch, stochastic and minibatch.

Gradient descent minimizes a differentiable function :math:`L(w)` by
repeating the update

.. math::

    w_{t+1} = w_t - \\eta \\, \\nabla L(w_t),

with learning rate :math:`\\eta > 0`. :func:`gradient_descent` runs it on
any function given as a ``value_and_grad`` callable and returns the whole
trajectory; it stops and says so when the iterates blow up, instead of
returning NaN.

Stochastic and minibatch gradient descent, on linear least squares, are in
:mod:`companion.teaching.regression`.
"""
from __future__ import annotations

import numbers
from typing import Callable, NamedTuple, Optional

import numpy as np

from companion._validate import (
    as_float_array,
    as_nonnegative_int,
    as_positive_real,
)

__all__ = ["Trajectory", "gradient_descent"]


class Trajectory(NamedTuple):
    """The iterates of :func:`gradient_descent`.

    Attributes
    ----------
    points : ndarray, shape ``(K + 1, D)``
        :math:`w_0, w_1, \\dots, w_K`: the start and every accepted iterate.
        ``K = num_steps`` unless the run diverged.
    values : ndarray, shape ``(K + 1,)``
        :math:`L(w_k)`.
    grad_norms : ndarray, shape ``(K + 1,)``
        :math:`\\lVert \\nabla L(w_k) \\rVert_2`.
    diverged : bool
        ``True`` if the run stopped early because an iterate, its value or its
        gradient was not finite, or the iterate's norm exceeded ``max_norm``.
    diverged_at : int or None
        The step ``k`` whose iterate :math:`w_k` was rejected (then
        ``K = diverged_at - 1``); ``None`` when the run did not diverge.
    """

    points: np.ndarray
    values: np.ndarray
    grad_norms: np.ndarray
    diverged: bool
    diverged_at: Optional[int]


def _call_value_and_grad(value_and_grad, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Call ``value_and_grad(w)`` and check what it returns (a float and shape
    ``w.shape``)."""
    out = value_and_grad(w.copy())
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError("value_and_grad must return a pair (value, gradient), "
                        f"got {type(out).__name__}")
    value, grad = out
    value = np.asarray(value)
    if value.shape != () or value.dtype.kind not in "biuf":
        raise ValueError("value_and_grad must return a real scalar value, "
                         f"got shape {value.shape} dtype {value.dtype}")
    grad = np.asarray(grad)
    if grad.dtype.kind not in "biuf":
        raise TypeError(f"value_and_grad must return a real gradient, "
                        f"got dtype {grad.dtype}")
    if grad.shape != w.shape:
        raise ValueError(f"value_and_grad must return a gradient of shape {w.shape} "
                         f"(the shape of x0), got {grad.shape}")
    return float(value), grad.astype(np.float64, copy=True)


def gradient_descent(value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
                     x0, lr: float, num_steps: int, *,
                     max_norm: float = np.inf) -> Trajectory:
    """Run ``num_steps`` steps of gradient descent
    :math:`w \\leftarrow w - \\eta \\nabla L(w)`.

    Parameters
    ----------
    value_and_grad : callable
        ``value_and_grad(w) -> (L(w), grad)`` with ``w`` and ``grad`` of shape
        ``(D,)``; e.g. a surface's ``value_and_grad`` from
        :mod:`companion.teaching.surfaces`. It receives a copy of the iterate.
    x0 : array_like, shape ``(D,)``
        The starting point :math:`w_0`, finite. Not modified.
    lr : float
        The learning rate :math:`\\eta > 0`.
    num_steps : int
        Number of updates, ``>= 0``.
    max_norm : float, optional
        Treat an iterate with :math:`\\lVert w_k \\rVert_2 >` ``max_norm`` as
        diverged (default: only non-finite iterates are).

    Returns
    -------
    Trajectory
        ``points`` of shape ``(K + 1, D)`` (float64), ``values`` and
        ``grad_norms`` of shape ``(K + 1,)``, and the divergence report.
        ``K = num_steps`` unless the run diverged, in which case
        ``diverged_at = K + 1`` is the step whose iterate was rejected: no NaN
        or infinity is ever returned.

    Raises
    ------
    ValueError
        If ``x0`` is not a finite 1-D array, ``lr`` or ``max_norm`` is not a
        positive finite number, ``num_steps < 0``, or ``value_and_grad``
        returns a wrong shape or a non-finite value/gradient at ``x0``.
    TypeError
        If ``value_and_grad`` is not callable or returns something else than a
        pair of real numbers/arrays.
    """
    if not callable(value_and_grad):
        raise TypeError(f"value_and_grad must be callable, "
                        f"got {type(value_and_grad).__name__}")
    w = as_float_array(x0, "x0", ndim=1, dtype=np.float64).copy()
    if w.size == 0:
        raise ValueError("x0 must have at least one element, got shape (0,)")
    eta = as_positive_real(lr, "lr")
    steps = as_nonnegative_int(num_steps, "num_steps")
    if isinstance(max_norm, (bool, np.bool_)) or not isinstance(max_norm, numbers.Real):
        raise TypeError(f"max_norm must be a real number, got {max_norm!r}")
    if not float(max_norm) > 0.0:
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
    if not float(np.linalg.norm(w)) <= max_norm:
        raise ValueError(f"x0 must lie within max_norm={max_norm!r} of the origin, "
                         f"got norm {np.linalg.norm(w)!r}")

    points = np.empty((steps + 1, w.size))
    values = np.empty(steps + 1)
    grad_norms = np.empty(steps + 1)
    # A diverging run overflows on purpose: it is detected below and reported,
    # so NumPy's overflow warnings would only be noise.
    with np.errstate(over="ignore", invalid="ignore"):
        value, grad = _call_value_and_grad(value_and_grad, w)
        if not (np.isfinite(value) and np.all(np.isfinite(grad))):
            raise ValueError("value_and_grad returned a non-finite value or gradient "
                             "at x0")
        points[0], values[0], grad_norms[0] = w, value, np.linalg.norm(grad)
        diverged_at = None
        for k in range(1, steps + 1):
            w = w - eta * grad
            if not (np.all(np.isfinite(w)) and np.linalg.norm(w) <= max_norm):
                diverged_at = k
                break
            value, grad = _call_value_and_grad(value_and_grad, w)
            if not (np.isfinite(value) and np.all(np.isfinite(grad))):
                diverged_at = k
                break
            points[k], values[k], grad_norms[k] = w, value, np.linalg.norm(grad)
    kept = steps + 1 if diverged_at is None else diverged_at
    return Trajectory(points[:kept].copy(), values[:kept].copy(),
                      grad_norms[:kept].copy(), diverged_at is not None, diverged_at)
