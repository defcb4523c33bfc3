r"""Mini-batches, a train/validation split, and data augmentation for NCHW image batches.

Batching
--------
:func:`minibatches` walks through a data set in batches of ``batch_size``
examples, in a new random order every epoch when ``shuffle=True``. The order
comes only from the ``rng`` passed in (a ``numpy.random.Generator`` or a
seed), so the same seed gives the same batches, bit for bit.
:func:`train_val_split` holds out a (stratified) validation set.

Targets may be one array or a tuple of arrays (labels and, say, a teacher's
logits for :mod:`companion.distillation`): every array is indexed the same
way, as ``torch.utils.data.TensorDataset`` does.

Augmentation
------------
Each transform takes a batch ``x`` of shape ``(N, C, H, W)`` and a
``numpy.random.Generator`` and returns a **new** batch of the same shape and
dtype, drawing one random choice per image:

* :func:`random_crop`: pad by ``p`` zeros on every side, then cut an
  ``H x W`` window at a random offset (shifts of up to ``p`` pixels);
* :func:`random_horizontal_flip`: mirror an image left-right with probability ``p``;
* :func:`random_rotation`: rotate by an angle drawn uniformly from
  :math:`[-\theta_{\max}, \theta_{\max}]`, bilinear interpolation, zeros outside.

Their deterministic cores :func:`pad_crop` (given offsets) and :func:`rotate`
(given angles) are public too. :class:`RandomCrop`, :class:`RandomHorizontalFlip`,
:class:`RandomRotation` hold a transform's settings and :class:`Compose` chains
them; each is a callable ``(x, rng) -> x``, what
:func:`companion.training.fit`'s ``augment`` expects::

    augment = Compose(RandomCrop(4), RandomHorizontalFlip(), RandomRotation(10))
    xb = augment(xb, rng)

Inputs are never modified. Float32 and float64 batches keep their dtype;
integer or boolean batches are converted to float64; NaN or infinity raises
``ValueError``.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from numba import njit

from companion._validate import (
    as_bool,
    as_examples,
    as_float_array,
    as_generator,
    as_pair,
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
    "pad_crop",
    "random_crop",
    "random_horizontal_flip",
    "rotate",
    "random_rotation",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomRotation",
    "Compose",
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


def train_val_split(x, y, val_fraction: float, rng, stratify: bool = True) -> Split:
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


# --------------------------------------------------------------------------- augmentation
def _as_images(x, name: str = "x") -> np.ndarray:
    arr = as_float_array(x, name, ndim=4, contiguous=True)
    return arr


@njit(cache=True)
def _pad_crop_kernel(x, offsets, pad_h, pad_w, out):
    """``out[n, c, i, j] = xpad[n, c, i + dy, j + dx]`` with ``xpad`` = ``x`` padded by zeros.

    ``xpad[n, c, a, b] = x[n, c, a - pad_h, b - pad_w]`` inside the image, 0 outside;
    ``offsets[n] = (dy, dx)`` with ``0 <= dy <= 2 pad_h``, ``0 <= dx <= 2 pad_w``.
    """
    N, C, H, W = x.shape
    for n in range(N):
        dy = offsets[n, 0] - pad_h          # source row = i + dy
        dx = offsets[n, 1] - pad_w          # source column = j + dx
        for c in range(C):
            for i in range(H):
                si = i + dy
                for j in range(W):
                    sj = j + dx
                    if 0 <= si < H and 0 <= sj < W:
                        out[n, c, i, j] = x[n, c, si, sj]
                    else:
                        out[n, c, i, j] = 0.0


def pad_crop(x, padding, offsets) -> np.ndarray:
    """Pad every image with zeros, then cut an ``H x W`` window at a given offset.

    .. math::

        \\text{out}_{n,c,i,j} = \\tilde x_{n,c,\\,i + \\Delta y_n,\\, j + \\Delta x_n},

    where :math:`\\tilde x` is ``x`` padded by ``p_h`` rows and ``p_w`` columns
    of zeros on each side. Offset ``(p_h, p_w)`` gives the image back; ``(0, 0)``
    shifts its content ``p_h`` pixels down and ``p_w`` right.

    Parameters
    ----------
    x : array_like, shape ``(N, C, H, W)``
    padding : int or (int, int), >= 0
        ``p`` or ``(p_h, p_w)``.
    offsets : array_like of int, shape ``(N, 2)``
        ``(Δy_n, Δx_n)`` with ``0 <= Δy_n <= 2 p_h`` and ``0 <= Δx_n <= 2 p_w``.

    Returns
    -------
    ndarray, shape and dtype of ``x``
    """
    x = _as_images(x)
    pad_h, pad_w = as_pair(padding, "padding", minimum=0)
    off = np.asarray(offsets)
    if off.dtype.kind not in "iu":
        raise TypeError(f"offsets must be integers, got dtype {off.dtype}")
    if off.shape != (x.shape[0], 2):
        raise ValueError(f"offsets must have shape ({x.shape[0]}, 2), got {off.shape}")
    if off.size and (off.min() < 0 or off[:, 0].max() > 2 * pad_h or off[:, 1].max() > 2 * pad_w):
        raise ValueError(f"offsets must lie in [0, {2 * pad_h}] x [0, {2 * pad_w}] "
                         f"for padding ({pad_h}, {pad_w}), got values from {off.min()} "
                         f"to {off.max()}")
    out = np.empty_like(x)
    _pad_crop_kernel(x, np.ascontiguousarray(off, dtype=np.int64), pad_h, pad_w, out)
    return out


def random_crop(x, padding, rng) -> np.ndarray:
    """Random translation: pad by ``padding`` zeros, crop back to ``H x W`` at a random offset.

    Each image gets its own offsets ``Δy ~ U{0..2 p_h}``, ``Δx ~ U{0..2 p_w}``
    (drawn as ``rng.integers(0, 2p + 1, size=N)``, rows first), then
    :func:`pad_crop`. This is torchvision's ``RandomCrop(size, padding=p)``
    on whole batches.

    Parameters
    ----------
    x : array_like, shape ``(N, C, H, W)``
    padding : int or (int, int), >= 0
    rng : numpy.random.Generator or int

    Returns
    -------
    ndarray, shape and dtype of ``x``
    """
    x = _as_images(x)
    pad_h, pad_w = as_pair(padding, "padding", minimum=0)
    rng = as_generator(rng)
    n = x.shape[0]
    offsets = np.stack([rng.integers(0, 2 * pad_h + 1, size=n),
                        rng.integers(0, 2 * pad_w + 1, size=n)], axis=1)
    return pad_crop(x, (pad_h, pad_w), offsets)


def random_horizontal_flip(x, rng, p: float = 0.5) -> np.ndarray:
    """Mirror each image left-right with probability ``p``: ``out[n, c, i, j] = x[n, c, i, W-1-j]``.

    Parameters
    ----------
    x : array_like, shape ``(N, C, H, W)``
    rng : numpy.random.Generator or int
        One draw ``rng.random(N) < p`` decides which images flip.
    p : float in [0, 1]

    Returns
    -------
    ndarray, shape and dtype of ``x``, a new array
    """
    x = _as_images(x)
    rng = as_generator(rng)
    p = as_probability(p, "p", allow_one=True)
    flip = rng.random(x.shape[0]) < p
    out = x.copy()
    out[flip] = x[flip][..., ::-1]
    return out


@njit(cache=True)
def _rotate_kernel(x, cos_t, sin_t, out):
    """Rotate image ``n`` counter-clockwise by the angle whose cosine and sine are ``cos_t[n]``,
    ``sin_t[n]``.

    For every output pixel, the inverse rotation about the centre gives the
    source point; its value is interpolated bilinearly from the four
    neighbouring pixels, a neighbour outside the image counting as 0.
    """
    N, C, H, W = x.shape
    cy = (H - 1) / 2.0
    cx = (W - 1) / 2.0
    for n in range(N):
        c_ = cos_t[n]
        s_ = sin_t[n]
        for i in range(H):
            for j in range(W):
                u = j - cx                        # right of the centre
                v = cy - i                        # above the centre
                us = c_ * u + s_ * v              # rotate back by -theta
                vs = -s_ * u + c_ * v
                yi = cy - vs                      # source row (fractional)
                xj = cx + us                      # source column (fractional)
                i0 = math.floor(yi)
                j0 = math.floor(xj)
                fy = yi - i0
                fx = xj - j0
                for c in range(C):
                    acc = 0.0
                    for di in range(2):
                        ii = i0 + di
                        if ii < 0 or ii >= H:
                            continue
                        wy = fy if di == 1 else 1.0 - fy
                        for dj in range(2):
                            jj = j0 + dj
                            if jj < 0 or jj >= W:
                                continue
                            wx = fx if dj == 1 else 1.0 - fx
                            acc += wy * wx * x[n, c, ii, jj]
                    out[n, c, i, j] = acc


def rotate(x, degrees) -> np.ndarray:
    """Rotate every image counter-clockwise about its centre, bilinear, zeros outside.

    For output pixel :math:`(i, j)` with centred coordinates
    :math:`u = j - c_x`, :math:`v = c_y - i` (:math:`c_y = (H-1)/2`,
    :math:`c_x = (W-1)/2`), the source point is the inverse rotation

    .. math::

        u_s = u\\cos\\theta + v\\sin\\theta, \\qquad v_s = -u\\sin\\theta + v\\cos\\theta,

    at row :math:`c_y - v_s` and column :math:`c_x + u_s`, interpolated
    bilinearly; neighbours outside the image count as 0 (zero fill). Angle 0
    returns the images unchanged; 90 degrees on a square image is
    ``np.rot90(x, 1, axes=(2, 3))`` (to rounding).

    Parameters
    ----------
    x : array_like, shape ``(N, C, H, W)``
    degrees : float or array_like of shape ``(N,)``
        Angle per image, counter-clockwise, finite.

    Returns
    -------
    ndarray, shape and dtype of ``x``
    """
    x = _as_images(x)
    n = x.shape[0]
    angles = as_float_array(degrees, "degrees", ndim=(0, 1), dtype=np.float64)
    if angles.ndim == 0:
        angles = np.full(n, float(angles))
    elif angles.shape != (n,):
        raise ValueError(f"degrees must be a number or have shape ({n},), got {angles.shape}")
    theta = np.deg2rad(angles)
    out = np.empty_like(x)
    _rotate_kernel(x, np.cos(theta), np.sin(theta), out)
    return out


def _as_max_degrees(value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"max_degrees must be a number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and 0.0 <= v <= 180.0):
        raise ValueError(f"max_degrees must lie in [0, 180], got {value!r}")
    return v


def random_rotation(x, max_degrees: float, rng) -> np.ndarray:
    """Rotate each image by an angle drawn uniformly from ``[-max_degrees, max_degrees]``.

    One draw ``rng.uniform(-max_degrees, max_degrees, size=N)``, then :func:`rotate`.

    Parameters
    ----------
    x : array_like, shape ``(N, C, H, W)``
    max_degrees : float in [0, 180]
    rng : numpy.random.Generator or int

    Returns
    -------
    ndarray, shape and dtype of ``x``
    """
    x = _as_images(x)
    max_degrees = _as_max_degrees(max_degrees)
    rng = as_generator(rng)
    return rotate(x, rng.uniform(-max_degrees, max_degrees, size=x.shape[0]))


# --------------------------------------------------------------------------- transform objects
class RandomCrop:
    """``RandomCrop(padding)(x, rng)`` is :func:`random_crop` ``(x, padding, rng)``."""

    def __init__(self, padding):
        self.padding = as_pair(padding, "padding", minimum=0)

    def __call__(self, x, rng):
        return random_crop(x, self.padding, rng)

    def __repr__(self):
        return f"RandomCrop(padding={self.padding})"


class RandomHorizontalFlip:
    """``RandomHorizontalFlip(p)(x, rng)`` is :func:`random_horizontal_flip` ``(x, rng, p)``."""

    def __init__(self, p: float = 0.5):
        self.p = as_probability(p, "p", allow_one=True)

    def __call__(self, x, rng):
        return random_horizontal_flip(x, rng, self.p)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class RandomRotation:
    """``RandomRotation(d)(x, rng)`` is :func:`random_rotation` ``(x, d, rng)``."""

    def __init__(self, max_degrees: float):
        self.max_degrees = _as_max_degrees(max_degrees)

    def __call__(self, x, rng):
        return random_rotation(x, self.max_degrees, rng)

    def __repr__(self):
        return f"RandomRotation(max_degrees={self.max_degrees})"


class Compose:
    """Chain transforms: ``Compose(t1, t2, t3)(x, rng)`` is ``t3(t2(t1(x, rng), rng), rng)``.

    Parameters
    ----------
    *transforms : callables ``(x, rng) -> x``
        Applied in order, all drawing from the same generator (so one seed fixes
        the whole chain). A single list or tuple of transforms is accepted too.
    """

    def __init__(self, *transforms):
        if len(transforms) == 1 and isinstance(transforms[0], (list, tuple)):
            transforms = tuple(transforms[0])
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"transforms[{i}] must be a callable (x, rng) -> x, got {t!r}")
        self.transforms = tuple(transforms)

    def __call__(self, x, rng):
        x = _as_images(x)
        rng = as_generator(rng)
        for i, t in enumerate(self.transforms):
            out = t(x, rng)
            if not isinstance(out, np.ndarray) or out.shape != x.shape:
                raise ValueError(f"transforms[{i}] ({t!r}) must return an array of shape "
                                 f"{x.shape}, got {getattr(out, 'shape', type(out).__name__)}")
            x = out
        return x

    def __repr__(self):
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"
