"""Stochastic and minibatch gradient descent (随机/小批量梯度下降) on
linear least squares.

They replace :math:`\\nabla L` by the gradient of the loss on a random batch
:math:`B` of examples. They are shown on the simplest model where full-batch,
stochastic and minibatch gradient descent can be compared, linear least squares

.. math::

    L(w) = \\frac{1}{2N} \\sum_{i=1}^{N} (x_i^\\top w - y_i)^2, \\qquad
    \\nabla L(w) = \\frac{1}{N} \\sum_{i=1}^{N} (x_i^\\top w - y_i)\\, x_i,

(:func:`least_squares_loss_and_grad`, :func:`sgd_linear_regression`,
:func:`minibatch_indices`). ``batch_size = N`` is full-batch gradient descent,
``batch_size = 1`` is stochastic gradient descent.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple, Optional

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
    "least_squares_loss_and_grad",
    "minibatch_indices",
    "SGDHistory",
    "sgd_linear_regression",
]


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
def _sgd_kernel(X, y, w0, lr, order, batch_size, weights, losses, batch_losses,
                examples_seen):
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
        raise ValueError(f"X must have shape (N, D) with N >= 1 and D >= 1, "
                         f"got {X.shape}")
    y = as_float_array(y, "y", ndim=1, dtype=np.float64, contiguous=True)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    return X, y


def _check_weights(w, name: str, d: int) -> np.ndarray:
    w = as_float_array(w, name, ndim=1, dtype=np.float64, contiguous=True)
    if w.shape != (d,):
        raise ValueError(f"{name} must have shape ({d},) to match X's {d} columns, "
                         f"got {w.shape}")
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
