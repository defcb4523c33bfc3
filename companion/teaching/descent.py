"""Gradient descent (梯度下降): full-batch, stochastic and minibatch.

Gradient descent minimizes a differentiable function :math:`L(w)` by
repeating the update

.. math::

    w_{t+1} = w_t - \\eta \\, \\nabla L(w_t),

with learning rate :math:`\\eta > 0`. :func:`gradient_descent` runs it on
any function given as a ``value_and_grad`` callable and returns the whole
trajectory; it stops and says so when the iterates blow up, instead of
returning NaN.

Stochastic and minibatch gradient descent replace :math:`\\nabla L` by the
gradient of the loss on a random batch :math:`B` of examples. They are shown
on the simplest model where the three variants can be compared, linear least
squares

.. math::

    L(w) = \\frac{1}{2N} \\sum_{i=1}^{N} (x_i^\\top w - y_i)^2, \\qquad
    \\nabla L(w) = \\frac{1}{N} \\sum_{i=1}^{N} (x_i^\\top w - y_i)\\, x_i,

(:func:`least_squares_loss_and_grad`, :func:`sgd_linear_regression`,
:func:`minibatch_indices`). ``batch_size = N`` is full-batch gradient descent,
``batch_size = 1`` is stochastic gradient descent.
"""
from __future__ import annotations

import numbers
from typing import Callable, Iterator, NamedTuple, Optional

import numpy as np
from numba import njit

from companion._validate import (
    as_float_array,
    as_generator,
    as_nonnegative_int,
    as_positive_int,
    as_positive_real,
)

__all__ = [
    "Trajectory",
    "gradient_descent",
    "least_squares_loss_and_grad",
    "minibatch_indices",
    "SGDHistory",
    "sgd_linear_regression",
]


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
    """Call ``value_and_grad(w)`` and check what it returns (a float and shape ``w.shape``)."""
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
        raise TypeError(f"value_and_grad must return a real gradient, got dtype {grad.dtype}")
    if grad.shape != w.shape:
        raise ValueError(f"value_and_grad must return a gradient of shape {w.shape} "
                         f"(the shape of x0), got {grad.shape}")
    return float(value), grad.astype(np.float64, copy=True)


def gradient_descent(value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
                     x0, lr: float, num_steps: int, *, max_norm: float = np.inf) -> Trajectory:
    """Run ``num_steps`` steps of gradient descent :math:`w \\leftarrow w - \\eta \\nabla L(w)`.

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
        raise TypeError(f"value_and_grad must be callable, got {type(value_and_grad).__name__}")
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
            raise ValueError("value_and_grad returned a non-finite value or gradient at x0")
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
    return Trajectory(points[:kept].copy(), values[:kept].copy(), grad_norms[:kept].copy(),
                      diverged_at is not None, diverged_at)


# --------------------------------------------------------------------------
# Linear least squares: the model on which batch, stochastic and minibatch
# gradient descent are compared.
# --------------------------------------------------------------------------

@njit(cache=True)
def _loss_and_grad_rows(X, y, w, rows, grad):
    """Least-squares loss and gradient on the examples ``rows``; fills ``grad``.

    L_B = 1/(2|B|) sum_{i in B} (x_i . w - y_i)^2,
    grad_B = 1/|B| sum_{i in B} (x_i . w - y_i) x_i.
    """
    d = X.shape[1]
    for j in range(d):
        grad[j] = 0.0
    loss = 0.0
    for i in rows:
        residual = -y[i]
        for j in range(d):
            residual += X[i, j] * w[j]
        loss += residual * residual
        for j in range(d):
            grad[j] += residual * X[i, j]
    m = rows.shape[0]
    for j in range(d):
        grad[j] /= m
    return 0.5 * loss / m


@njit(cache=True)
def _loss_all(X, y, w):
    """L(w) = 1/(2N) sum_i (x_i . w - y_i)^2 over all N examples."""
    n, d = X.shape
    loss = 0.0
    for i in range(n):
        residual = -y[i]
        for j in range(d):
            residual += X[i, j] * w[j]
        loss += residual * residual
    return 0.5 * loss / n


@njit(cache=True)
def _sgd_kernel(X, y, w0, lr, order, batch_size, weights, losses, batch_losses, examples_seen):
    """Minibatch SGD over the epochs' example orders ``order`` (epochs, N).

    Step t uses the batch order[e, start:start + batch_size] and sets
    w_t = w_{t-1} - lr * grad_B(w_{t-1}). Fills row t of the outputs and
    returns the number of steps done; stops early (returning -t) at the first
    step t whose iterate or loss is not finite.
    """
    n, d = X.shape
    grad = np.empty(d)
    w = w0.copy()
    for j in range(d):
        weights[0, j] = w[j]
    losses[0] = _loss_all(X, y, w)
    examples_seen[0] = 0
    t = 0
    for e in range(order.shape[0]):
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            batch_loss = _loss_and_grad_rows(X, y, w, order[e, start:stop], grad)
            for j in range(d):
                w[j] -= lr * grad[j]
            t += 1
            loss = _loss_all(X, y, w)
            finite = np.isfinite(loss)
            for j in range(d):
                finite = finite and np.isfinite(w[j])
            if not finite:
                return -t
            for j in range(d):
                weights[t, j] = w[j]
            losses[t] = loss
            batch_losses[t - 1] = batch_loss
            examples_seen[t] = examples_seen[t - 1] + (stop - start)
    return t


def _check_regression_data(X, y) -> tuple[np.ndarray, np.ndarray]:
    X = as_float_array(X, "X", ndim=2, dtype=np.float64, contiguous=True)
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have shape (N, D) with N >= 1 and D >= 1, got {X.shape}")
    y = as_float_array(y, "y", ndim=1, dtype=np.float64, contiguous=True)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    return X, y


def _check_weights(w, name: str, d: int) -> np.ndarray:
    w = as_float_array(w, name, ndim=1, dtype=np.float64, contiguous=True)
    if w.shape != (d,):
        raise ValueError(f"{name} must have shape ({d},) to match X's {d} columns, got {w.shape}")
    return w


def least_squares_loss_and_grad(w, X, y) -> tuple[float, np.ndarray]:
    """Linear least-squares loss and its gradient with respect to the weights.

    .. math::

        L(w) = \\frac{1}{2N} \\lVert X w - y \\rVert^2, \\qquad
        \\nabla L(w) = \\frac{1}{N} X^\\top (X w - y).

    Parameters
    ----------
    w : array_like, shape ``(D,)``
        Weights (append a column of ones to ``X`` for an intercept).
    X : array_like, shape ``(N, D)``
        Inputs, one example per row, ``N >= 1``.
    y : array_like, shape ``(N,)``
        Targets.

    Returns
    -------
    loss : float
    grad : ndarray, shape ``(D,)``, float64
    """
    X, y = _check_regression_data(X, y)
    w = _check_weights(w, "w", X.shape[1])
    grad = np.empty(X.shape[1])
    loss = _loss_and_grad_rows(X, y, w, np.arange(X.shape[0]), grad)
    return float(loss), grad


def _epoch_order(n: int, rng, shuffle: bool) -> np.ndarray:
    """The order in which one epoch visits the ``n`` examples."""
    return rng.permutation(n) if shuffle else np.arange(n)


def minibatch_indices(n: int, batch_size: int, *, rng=None,
                      shuffle: bool = True) -> Iterator[np.ndarray]:
    """The minibatches of one epoch: index arrays that partition ``range(n)``.

    Parameters
    ----------
    n : int
        Number of examples, ``>= 1``.
    batch_size : int
        In ``[1, n]``. The last batch holds the ``n % batch_size`` examples
        left over, if any.
    rng : numpy.random.Generator, int or None
        Shuffles the examples (one ``rng.permutation(n)`` per call); an
        integer seeds a new generator, ``None`` draws an unseeded one.
    shuffle : bool
        ``False`` visits the examples in order ``0, 1, ..., n - 1``.

    Returns
    -------
    iterator of int64 ndarray
        ``ceil(n / batch_size)`` arrays, every index exactly once.
    """
    n = as_positive_int(n, "n")
    batch_size = as_positive_int(batch_size, "batch_size")
    if batch_size > n:
        raise ValueError(f"batch_size must lie in [1, n] = [1, {n}], got {batch_size}")
    rng = as_generator(rng)
    order = _epoch_order(n, rng, shuffle)
    return iter([order[start:start + batch_size] for start in range(0, n, batch_size)])


class SGDHistory(NamedTuple):
    """The run of :func:`sgd_linear_regression`, one entry per update step.

    Attributes
    ----------
    weights : ndarray, shape ``(T + 1, D)``
        :math:`w_0, \\dots, w_T`; ``weights[-1]`` is the result.
    losses : ndarray, shape ``(T + 1,)``
        The full-data loss :math:`L(w_t)` over all ``N`` examples.
    batch_losses : ndarray, shape ``(T,)``
        The minibatch loss :math:`L_{B_t}(w_{t-1})` that step ``t`` followed.
    examples_seen : ndarray of int64, shape ``(T + 1,)``
        Per-example gradients evaluated before :math:`w_t`: the cost axis on
        which batch sizes are compared fairly (``N`` per epoch).
    steps_per_epoch : int
        ``ceil(N / batch_size)``.
    diverged : bool
        ``True`` if the run stopped at a non-finite iterate or loss.
    diverged_at : int or None
        The rejected step (then ``T = diverged_at - 1``), else ``None``.
    """

    weights: np.ndarray
    losses: np.ndarray
    batch_losses: np.ndarray
    examples_seen: np.ndarray
    steps_per_epoch: int
    diverged: bool
    diverged_at: Optional[int]


def sgd_linear_regression(X, y, lr: float, epochs: int, batch_size: int, *,
                          rng=None, w0=None,
                          shuffle: bool = True) -> SGDHistory:
    """Minibatch stochastic gradient descent on linear least squares.

    Each epoch shuffles the examples (``rng.permutation(N)``, exactly as
    :func:`minibatch_indices`) and takes one step per batch :math:`B`:

    .. math::

        w \\leftarrow w - \\eta \\, \\frac{1}{|B|} \\sum_{i \\in B}
        (x_i^\\top w - y_i)\\, x_i .

    ``batch_size = N`` is (full-batch) gradient descent, ``batch_size = 1``
    is stochastic gradient descent, anything between is minibatch SGD.

    Parameters
    ----------
    X : array_like, shape ``(N, D)``
        Inputs (append a column of ones for an intercept), finite.
    y : array_like, shape ``(N,)``
        Targets, finite.
    lr : float
        Learning rate :math:`\\eta > 0`.
    epochs : int
        Passes over the data, ``>= 0``.
    batch_size : int
        In ``[1, N]``.
    rng : numpy.random.Generator, int or None
        The generator that shuffles (an integer seeds a new one; ``None`` is
        unseeded, so seed it for reproducible runs).
    w0 : array_like, shape ``(D,)``, optional
        Starting weights (default zeros). Not modified.
    shuffle : bool
        ``False`` visits the examples in their order every epoch.

    Returns
    -------
    SGDHistory
        ``T = epochs * ceil(N / batch_size)`` steps unless the run diverged.
    """
    X, y = _check_regression_data(X, y)
    n, d = X.shape
    eta = as_positive_real(lr, "lr")
    epochs = as_nonnegative_int(epochs, "epochs")
    batch_size = as_positive_int(batch_size, "batch_size")
    if batch_size > n:
        raise ValueError(f"batch_size must lie in [1, N] = [1, {n}], got {batch_size}")
    rng = as_generator(rng)
    w_start = np.zeros(d) if w0 is None else _check_weights(w0, "w0", d)

    order = np.empty((epochs, n), dtype=np.int64)
    for e in range(epochs):
        order[e] = _epoch_order(n, rng, shuffle)
    steps_per_epoch = -(-n // batch_size)
    total = epochs * steps_per_epoch
    weights = np.empty((total + 1, d))
    losses = np.empty(total + 1)
    batch_losses = np.empty(total)
    examples_seen = np.empty(total + 1, dtype=np.int64)
    # Overflow of a diverging run is detected by the kernel (plain-Python mode warns).
    with np.errstate(over="ignore", invalid="ignore"):
        done = _sgd_kernel(X, y, w_start, eta, order, batch_size,
                           weights, losses, batch_losses, examples_seen)
    if done < 0:
        diverged_at = -done
        kept = diverged_at
    else:
        diverged_at = None
        kept = done + 1
    return SGDHistory(weights[:kept].copy(), losses[:kept].copy(),
                      batch_losses[:kept - 1].copy(), examples_seen[:kept].copy(),
                      steps_per_epoch, diverged_at is not None, diverged_at)
