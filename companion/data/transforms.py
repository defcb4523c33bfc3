r"""Transforms of NCHW image batches: data augmentation, and padding to 32 x 32.

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
:func:`companion.train.loop.fit`'s ``augment`` expects::

    augment = Compose(RandomCrop(4), RandomHorizontalFlip(), RandomRotation(10))
    xb = augment(xb, rng)

Padding
-------
LeNet-5 (LeCun et al., 1998) takes 32 x 32 inputs: :func:`pad_to_32` centres the
28 x 28 MNIST digits in a 32 x 32 field by two rows/columns of zeros on every
side, so that strokes reach the centre of the first layer's 5 x 5 receptive
fields.

Inputs are never modified. Float32 and float64 batches keep their dtype;
integer or boolean batches are converted to float64; NaN or infinity raises
``ValueError``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
from numba import njit

from companion._validate import (
    as_float_array,
    as_generator,
    as_pair,
    as_probability,
    check_finite,
    check_ndim,
)

__all__ = [
    "pad_to_32",
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


def random_crop(x, padding, *, rng) -> np.ndarray:
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


def random_horizontal_flip(x, *, rng, p: float = 0.5) -> np.ndarray:
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


def random_rotation(x, max_degrees: float, *, rng) -> np.ndarray:
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
        return random_crop(x, self.padding, rng=rng)

    def __repr__(self):
        return f"RandomCrop(padding={self.padding})"


class RandomHorizontalFlip:
    """``RandomHorizontalFlip(p)(x, rng)`` is :func:`random_horizontal_flip` ``(x, rng, p)``."""

    def __init__(self, p: float = 0.5):
        self.p = as_probability(p, "p", allow_one=True)

    def __call__(self, x, rng):
        return random_horizontal_flip(x, rng=rng, p=self.p)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class RandomRotation:
    """``RandomRotation(d)(x, rng)`` is :func:`random_rotation` ``(x, d, rng)``."""

    def __init__(self, max_degrees: float):
        self.max_degrees = _as_max_degrees(max_degrees)

    def __call__(self, x, rng):
        return random_rotation(x, self.max_degrees, rng=rng)

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


# --------------------------------------------------------------------------- padding
def pad_to_32(images) -> np.ndarray:
    """Zero-pad 28 x 28 images to 32 x 32 (2 pixels on each side).

    Parameters
    ----------
    images : array_like, shape (N, C, 28, 28)
        NCHW images (MNIST gives ``C = 1``), any real dtype. Float values
        must be finite.

    Returns
    -------
    numpy.ndarray, shape (N, C, 32, 32)
        A new array of the same dtype with
        ``out[n, c, i + 2, j + 2] = images[n, c, i, j]`` and zeros on the
        border. ``images`` is not modified.
    """
    if isinstance(images, (str, bytes)) or images is None:
        raise TypeError(f"images must be an array of numbers, got {type(images).__name__}")
    arr = np.asarray(images)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"images must be an array of real numbers, got dtype {arr.dtype}")
    check_ndim(arr, "images", 4)
    if arr.shape[2:] != (28, 28):
        raise ValueError(f"images must have shape (N, C, 28, 28), got {arr.shape}")
    if arr.dtype.kind == "f":
        check_finite(arr, "images")
    out = np.zeros(arr.shape[:2] + (32, 32), dtype=arr.dtype)
    out[:, :, 2:30, 2:30] = arr
    return out
