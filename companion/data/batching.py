r"""Mini-batches and a train/validation split.

Batching
--------
:func:`minibatches` walks through a data set in batches of ``batch_size``
examples, in a new random order every epoch when ``shuffle=True``. The order
comes only from the ``rng`` passed in (a ``numpy.random.Generator`` or a
seed), so the same seed gives the same batches, bit for bit.
:func:`train_val_split` holds out a (stratified) validation set.

Targets may be one array or a tuple of arrays (labels and, say, a teacher's
logits for :mod:`companion.train.distillation`): every array is indexed the same
way, as ``torch.utils.data.TensorDataset`` does.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from companion._validate import (
    as_bool,
    as_examples,
    as_generator,
    as_positive_int,
    as_probability,
    as_targets,
)

__all__ = [
    "as_generator",
    "num_batches",
    "minibatches",
    "Split",
    "train_val_split",
]


# --------------------------------------------------------------------------- helpers
def _take(y, index):
    """Index the target(s) ``y`` (an array, a tuple of arrays or None) by ``index``."""
    if y is None:
        return None
    if isinstance(y, tuple):
        parts = [_take(part, index) for part in y]
        return type(y)(*parts) if hasattr(y, "_fields") else tuple(parts)
    return y[index]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of batches :func:`minibatches` yields for ``n`` examples.

    ``ceil(n / batch_size)``, or ``floor(n / batch_size)`` with ``drop_last``.
    """
    n = as_positive_int(n, "n")
    batch_size = as_positive_int(batch_size, "batch_size")
    drop_last = as_bool(drop_last, "drop_last")
    return n // batch_size if drop_last else -(-n // batch_size)


# --------------------------------------------------------------------------- batching
def minibatches(x, y=None, batch_size: int = 64, *, shuffle: bool = True, rng=None,
                drop_last: bool = False) -> Iterator[tuple]:
    """Yield ``(xb, yb)`` mini-batches of ``batch_size`` examples.

    Parameters
    ----------
    x : array_like, shape ``(N, ...)``
        The inputs, ``N >= 1``; float values must be finite.
    y : array_like ``(N, ...)``, tuple of such arrays, or None
        The targets; a tuple is indexed element by element and yielded as a
        tuple of the same type. ``None`` yields ``yb = None``.
    batch_size : int, >= 1
        Examples per batch; the last batch is smaller when ``N`` is not a
        multiple (unless ``drop_last``).
    shuffle : bool
        Visit the examples in the order of ``rng.permutation(N)`` (one new
        permutation per call, i.e. per epoch). ``False``: in order.
    rng : numpy.random.Generator, int or None
        The source of the order (see :func:`as_generator`); ``None`` is an
        unseeded generator. Unused when ``shuffle=False``.
    drop_last : bool
        Skip the last, incomplete batch (with ``N < batch_size`` nothing is yielded).

    Yields
    ------
    xb : ndarray, shape ``(B, ...)``
        A view of ``x`` when ``shuffle=False`` (slices), a copy otherwise.
        Never write into it.
    yb : ndarray, tuple of ndarrays, or None
        The matching targets.

    Notes
    -----
    The arguments are validated and the permutation is drawn by the call
    itself (a bad argument raises at once, not at the first ``next()``).
    """
    x = as_examples(x, "x")
    n = x.shape[0]
    y = as_targets(y, n, "y")
    batch_size = as_positive_int(batch_size, "batch_size")
    shuffle = as_bool(shuffle, "shuffle")
    drop_last = as_bool(drop_last, "drop_last")
    order = as_generator(rng).permutation(n) if shuffle else None
    return _batches(x, y, batch_size, order, drop_last)


def _batches(x, y, batch_size, order, drop_last):
    n = x.shape[0]
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        end = min(start + batch_size, n)
        index = slice(start, end) if order is None else order[start:end]
        yield x[index], _take(y, index)


class Split(NamedTuple):
    """A training set and a validation set: ``x_train, y_train, x_val, y_val``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def _split_counts(class_sizes: np.ndarray, n_val: int) -> np.ndarray:
    """Validation examples per class, proportional to the class sizes, summing to ``n_val``.

    Largest-remainder (Hamilton) rounding of ``n_val * size / N``; ties go to
    the lower class index.
    """
    quota = n_val * class_sizes / class_sizes.sum()
    counts = np.floor(quota).astype(np.int64)
    remainder = quota - counts
    order = np.argsort(-remainder, kind="stable")
    counts[order[: n_val - counts.sum()]] += 1
    return counts


def train_val_split(x, y, val_fraction: float, *, rng, stratify: bool = True) -> Split:
    """Hold out a random fraction of the examples as a validation set.

    Parameters
    ----------
    x : array_like, shape ``(N, ...)``
    y : array_like of int, shape ``(N,)``
        Class labels (integers >= 0).
    val_fraction : float in (0, 1)
        The validation set gets ``round(val_fraction * N)`` examples; both sets
        must end up non-empty.
    rng : numpy.random.Generator or int
        Which examples go where.
    stratify : bool
        Keep the class proportions in both sets: class ``c`` with ``N_c``
        examples gives about ``val_fraction * N_c`` of them (largest-remainder
        rounding, so the total is exact). ``False``: a plain random subset.

    Returns
    -------
    Split
        ``(x_train, y_train, x_val, y_val)``, new arrays; each set keeps the
        original relative order of its examples.
    """
    x = as_examples(x, "x")
    n = x.shape[0]
    y_arr = np.asarray(y)
    if y_arr.dtype.kind not in "iu":
        raise TypeError(f"y must be integer class labels, got dtype {y_arr.dtype}")
    if y_arr.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match x, got {y_arr.shape}")
    if y_arr.min() < 0:
        raise ValueError(f"y must hold class labels >= 0, got {y_arr.min()}")
    val_fraction = as_probability(val_fraction, "val_fraction")
    if val_fraction == 0.0:
        raise ValueError("val_fraction must lie in (0, 1), got 0")
    if rng is None:
        raise TypeError("rng must be a numpy.random.Generator or an integer seed "
                        "(the split must be reproducible), got None")
    rng = as_generator(rng)
    stratify = as_bool(stratify, "stratify")
    n_val = int(round(val_fraction * n))
    if n_val < 1 or n_val > n - 1:
        raise ValueError(f"val_fraction={val_fraction} of {n} examples gives {n_val} "
                         "validation examples; both sets must be non-empty")
    is_val = np.zeros(n, dtype=bool)
    if stratify:
        classes, inverse, sizes = np.unique(y_arr, return_inverse=True, return_counts=True)
        counts = _split_counts(sizes, n_val)
        for k in range(classes.size):
            members = np.flatnonzero(inverse == k)
            is_val[rng.choice(members, size=counts[k], replace=False)] = True
    else:
        is_val[rng.choice(n, size=n_val, replace=False)] = True
    train = np.flatnonzero(~is_val)
    val = np.flatnonzero(is_val)
    return Split(x[train], y_arr[train], x[val], y_arr[val])


