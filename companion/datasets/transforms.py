"""Image transforms for the datasets.

LeNet-5 (LeCun et al., 1998) takes 32 x 32 inputs: the 28 x 28 MNIST digits
are centred in a 32 x 32 field by two rows/columns of zeros on every side,
so that strokes reach the centre of the first layer's 5 x 5 receptive fields.
"""
from __future__ import annotations

import numpy as np

from companion._validate import check_finite, check_ndim

__all__ = ["pad_to_32"]


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
