"""Convolution and pooling layers over the range of shapes a learner meets.

The cases the network benchmark does not cover: batch 1 to 256, images of 16
to 128 pixels, 3 to 64 channels (float32, forward + backward). Each is
checked against PyTorch when it is installed (the NumPy reference would need
gigabytes for the largest), and only the companion package and PyTorch are
timed.
"""
from __future__ import annotations

import numpy as np

from benchmarks.cases import Case, Layer, conv_case, pool_case

__all__ = ["GRID", "grid_cases"]

# (batch, channels in, pixels, layer)
GRID = (
    (1, 32, 16, Layer("conv 32->64 3x3 p1", "conv", filters=64, kernel=3, padding=1)),
    (16, 32, 16, Layer("conv 32->64 3x3 p1", "conv", filters=64, kernel=3, padding=1)),
    (256, 32, 16, Layer("conv 32->64 3x3 p1", "conv", filters=64, kernel=3, padding=1)),
    (8, 64, 56, Layer("conv 64->64 3x3 p1", "conv", filters=64, kernel=3, padding=1)),
    (16, 3, 32, Layer("conv 3->32 3x3 p1", "conv", filters=32, kernel=3, padding=1)),
    (16, 3, 64, Layer("conv 3->32 3x3 p1", "conv", filters=32, kernel=3, padding=1)),
    (16, 3, 128, Layer("conv 3->32 3x3 p1", "conv", filters=32, kernel=3, padding=1)),
    (256, 3, 32, Layer("conv 3->16 5x5", "conv", filters=16, kernel=5)),
    (1, 64, 128, Layer("conv 64->64 3x3 p1", "conv", filters=64, kernel=3, padding=1)),
    (1, 16, 16, Layer("pool 2x2", "maxpool", kernel=2, stride=2)),
    (8, 64, 56, Layer("pool 2x2", "maxpool", kernel=2, stride=2)),
    (16, 32, 128, Layer("pool 2x2", "maxpool", kernel=2, stride=2)),
    (256, 3, 128, Layer("pool 2x2", "maxpool", kernel=2, stride=2)),
    (64, 64, 32, Layer("pool 3x3 s2", "maxpool", kernel=3, stride=2)),
)


def grid_cases(*, torch=None, seed: int = 0) -> list[Case]:
    """One :class:`Case` per entry of :data:`GRID`, grouped by batch and image size."""
    rng = np.random.default_rng(seed)
    cases = []
    for batch, channels, pixels, layer in GRID:
        x = rng.standard_normal((batch, channels, pixels, pixels)).astype(np.float32)
        group = f"N{batch} {channels}x{pixels}px"
        if layer.kind == "conv":
            case, _ = conv_case(group, layer, x, rng, np.float32, torch, numpy=False)
        else:
            case, _ = pool_case(group, layer, x, rng, np.float32, torch, numpy=False)
        cases.append(case)
    return cases
