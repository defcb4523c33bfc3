"""Winograd's minimal filtering: a 3 x 3 convolution with fewer multiplications.

A convolution layer computes every output as a dot product of a filter with a
window of the input: ``K_H * K_W`` multiplications per output, input channel
and filter. Winograd's minimal filtering algorithm ``F(m, 3)`` computes ``m``
neighbouring outputs of a 3-tap filter with ``m + 2`` multiplications instead
of ``3 m`` (Lavin and Gray, 2016). With ``B^T`` (``(m+2) x (m+2)``), ``G``
(``(m+2) x 3``) and ``A^T`` (``m x (m+2)``), the outputs of an input slice
``d`` (``m + 2`` values) and a filter ``g`` (3 values) are

    y = A^T [(G g) * (B^T d)]             (* elementwise: m + 2 products)

and nesting the 1-D algorithm gives the 2-D ``F(m x m, 3 x 3)`` of a tile of
``m x m`` outputs from a ``(m+2) x (m+2)`` input tile:

    Y = A^T [(G g G^T) * (B^T d B)] A     ((m+2)^2 products instead of 9 m^2)

In a layer the filter transform ``U = G g G^T`` is computed once per filter
and channel, the input transform ``V = B^T d B`` once per tile and channel,
and the sum over the input channels is taken in the transformed domain,
``M = sum_c U[f, c] * V[c]``, before the one output transform per tile and
filter. ``F(2 x 2, 3 x 3)`` takes 16 products per 4 outputs (2.25 times fewer
than 36), ``F(4 x 4, 3 x 3)`` 36 per 16 (4 times fewer); the price is in the
transforms' additions (and multiplications by small constants) and in
rounding: for ``m = 2`` every entry of the matrices is 0, +-1/2 or +-1, for
``m = 4`` they range from 1/24 (in ``G``) to 5 (in ``B^T``) and 8 (in
``A^T``), and the float32 error grows with them.

:func:`winograd_conv2d` is a readable reference (stride 1, 3 x 3 filters, any
padding): one Numba kernel of plain loops, computing in the input's dtype in
a fixed order, so that its rounding error can be measured and is the same on
every CPU. It is not the package's convolution: on the CPUs the course was
measured on, the ``"gemm"`` path was faster (see the README's "Speed").
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from companion._validate import (
    NonFiniteError,
    all_finite,
    as_float_array,
    as_float_dtype,
    as_nonnegative_int,
    check_same_dtype,
)

__all__ = ["WinogradTransforms", "winograd_transforms", "winograd_conv2d",
           "winograd_multiplications"]


class WinogradTransforms(NamedTuple):
    """The matrices of ``F(m, 3)``: ``y = AT @ ((G @ g) * (BT @ d))``."""

    m: int
    """Outputs per tile (per side in 2-D)."""
    BT: np.ndarray
    """Input transform ``B^T``, ``(m+2, m+2)``."""
    G: np.ndarray
    """Filter transform, ``(m+2, 3)``."""
    AT: np.ndarray
    """Output transform ``A^T``, ``(m, m+2)``."""


# Lavin and Gray (2016), interpolation points 0, 1, -1 (and infinity) for F(2, 3),
# 0, 1, -1, 2, -2 (and infinity) for F(4, 3); written for correlation, as the layer.
_MATRICES = {
    2: ([[1, 0, -1, 0],
         [0, 1, 1, 0],
         [0, -1, 1, 0],
         [0, 1, 0, -1]],
        [[1, 0, 0],
         [1 / 2, 1 / 2, 1 / 2],
         [1 / 2, -1 / 2, 1 / 2],
         [0, 0, 1]],
        [[1, 1, 1, 0],
         [0, 1, -1, -1]]),
    4: ([[4, 0, -5, 0, 1, 0],
         [0, -4, -4, 1, 1, 0],
         [0, 4, -4, -1, 1, 0],
         [0, -2, -1, 2, 1, 0],
         [0, 2, -1, -2, 1, 0],
         [0, 4, 0, -5, 0, 1]],
        [[1 / 4, 0, 0],
         [-1 / 6, -1 / 6, -1 / 6],
         [-1 / 6, 1 / 6, -1 / 6],
         [1 / 24, 1 / 12, 1 / 6],
         [1 / 24, -1 / 12, 1 / 6],
         [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0],
         [0, 1, -1, 2, -2, 0],
         [0, 1, 1, 4, 4, 0],
         [0, 1, -1, 8, -8, 1]]),
}


def winograd_transforms(m: int = 2, dtype=np.float64) -> WinogradTransforms:
    """The matrices of ``F(m, 3)`` for ``m`` = 2 or 4, as arrays of ``dtype``
    (float32 or float64).

    Raises ``ValueError`` for another ``m`` or dtype (``TypeError`` if ``m`` is
    not an int or ``dtype`` is not a dtype).
    """
    m = _as_tile(m)
    dtype = as_float_dtype(dtype)
    BT, G, AT = (np.array(a, dtype=dtype) for a in _MATRICES[m])
    return WinogradTransforms(m, BT, G, AT)


def winograd_multiplications(m: int) -> tuple[int, int]:
    """Multiplications per ``m x m`` tile of outputs, per channel and filter:
    ``(direct, Winograd)`` = ``(9 m^2, (m + 2)^2)`` (the transforms' additions
    and their multiplications by constants not counted)."""
    m = _as_tile(m)
    return 9 * m * m, (m + 2) ** 2


def _as_tile(m) -> int:
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)):
        raise TypeError(f"m must be 2 or 4, got {m!r}")
    if int(m) not in _MATRICES:
        raise ValueError(f"m must be 2 or 4 (the tile sizes of F(2x2, 3x3) and "
                         f"F(4x4, 3x3)), got {m}")
    return int(m)


@njit(cache=True)
def _filter_transform(w, G, U):
    """``U[f, c] = G @ w[f, c] @ G.T`` for every filter and channel, in ``w``'s dtype."""
    F, C = w.shape[0], w.shape[1]
    a = G.shape[0]
    tmp = np.empty((a, 3), dtype=w.dtype)
    for f in range(F):
        for c in range(C):
            for r in range(a):                     # tmp = G @ g
                for v in range(3):
                    acc = G[r, 0] * w[f, c, 0, v]
                    for k in range(1, 3):
                        acc += G[r, k] * w[f, c, k, v]
                    tmp[r, v] = acc
            for r in range(a):                     # U = tmp @ G.T
                for s in range(a):
                    acc = tmp[r, 0] * G[s, 0]
                    for k in range(1, 3):
                        acc += tmp[r, k] * G[s, k]
                    U[f, c, r, s] = acc


@njit(cache=True)
def _winograd_conv2d_kernel(xp, U, BT, AT, b, out):
    """``out[n, f]``, tile by tile; ``xp`` is padded to whole tiles.

    For a tile at ``(i0, j0)``: ``V[c] = BT @ d_c @ BT.T`` for every channel
    ``c`` (``d_c``: the ``(m+2) x (m+2)`` input tile), then for every filter
    ``M = sum_c U[f, c] * V[c]`` (the only products of data and filter
    values: ``(m+2)^2`` per channel and filter) and ``Y = AT @ M @ AT.T`` plus
    the bias. Neighbouring input tiles overlap by 2 (tiles start every ``m``
    rows and columns).
    """
    N, C = xp.shape[0], xp.shape[1]
    F = U.shape[0]
    m, a = AT.shape
    Ho, Wo = out.shape[2], out.shape[3]
    V = np.empty((C, a, a), dtype=xp.dtype)
    tmp = np.empty((a, a), dtype=xp.dtype)
    M = np.empty((a, a), dtype=xp.dtype)
    Z = np.empty((m, a), dtype=xp.dtype)
    for n in range(N):
        for i0 in range(0, Ho, m):
            for j0 in range(0, Wo, m):
                for c in range(C):
                    for r in range(a):             # tmp = BT @ d
                        for s in range(a):
                            acc = BT[r, 0] * xp[n, c, i0, j0 + s]
                            for k in range(1, a):
                                acc += BT[r, k] * xp[n, c, i0 + k, j0 + s]
                            tmp[r, s] = acc
                    for r in range(a):             # V[c] = tmp @ BT.T
                        for s in range(a):
                            acc = tmp[r, 0] * BT[s, 0]
                            for k in range(1, a):
                                acc += tmp[r, k] * BT[s, k]
                            V[c, r, s] = acc
                for f in range(F):
                    for r in range(a):             # M = sum_c U[f, c] * V[c]
                        for s in range(a):
                            acc = U[f, 0, r, s] * V[0, r, s]
                            for c in range(1, C):
                                acc += U[f, c, r, s] * V[c, r, s]
                            M[r, s] = acc
                    for i in range(m):             # Z = AT @ M
                        for s in range(a):
                            acc = AT[i, 0] * M[0, s]
                            for k in range(1, a):
                                acc += AT[i, k] * M[k, s]
                            Z[i, s] = acc
                    for i in range(min(m, Ho - i0)):   # Y = Z @ AT.T, + bias
                        for j in range(min(m, Wo - j0)):
                            acc = Z[i, 0] * AT[j, 0]
                            for k in range(1, a):
                                acc += Z[i, k] * AT[j, k]
                            out[n, f, i0 + i, j0 + j] = acc + b[f]


def winograd_conv2d(x, w, b, padding=0, *, m=2):
    """Forward pass of a 3 x 3 convolution layer, stride 1, by ``F(m x m, 3 x 3)``.

    The output is that of ``conv2d_forward(x, w, b, 1, padding)`` up to
    rounding. The input is zero-padded to whole tiles; the outputs of the
    extra rows and columns are not kept.

    Parameters
    ----------
    x : array (N, C, H, W)
        float32 and float64 are kept, other real input is converted to float64.
    w : array (F, C, 3, 3) of x's (converted) dtype
    b : array (F,) of x's (converted) dtype
    padding : int >= 0
        Zero padding on each side.
    m : 2 or 4
        Outputs per tile side: ``F(2x2, 3x3)`` or ``F(4x4, 3x3)``.

    Returns
    -------
    out : array (N, F, H_out, W_out) of x's dtype
        ``H_out = H + 2 padding - 2``, ``W_out = W + 2 padding - 2``.

    Raises
    ------
    ValueError
        Wrong shapes or dtypes, non-finite values, filters other than 3 x 3,
        an input smaller than the filter, ``m`` not 2 or 4; an output that
        overflowed (the transforms scale values by up to about 100, so float32
        input near 1e36 overflows where the direct convolution would not).
    TypeError
        Non-numeric input, ``padding`` or ``m`` not an int.
    """
    x = as_float_array(x, "x", ndim=4, contiguous=True)
    w = as_float_array(w, "w", ndim=4, contiguous=True)
    b = as_float_array(b, "b", ndim=1, contiguous=True)
    check_same_dtype(w, "w", x, "x")
    check_same_dtype(b, "b", x, "x")
    p = as_nonnegative_int(padding, "padding")
    t = winograd_transforms(m, x.dtype)
    N, C, H, W = x.shape
    F = w.shape[0]
    if w.shape[1:] != (C, 3, 3):
        raise ValueError(f"w must have shape (F, C, 3, 3) = (F, {C}, 3, 3) for x with "
                         f"{C} channels, got {w.shape}")
    if b.shape != (F,):
        raise ValueError(f"b must have shape (F,) = ({F},), got {b.shape}")
    Ho, Wo = H + 2 * p - 2, W + 2 * p - 2
    if C == 0 or Ho < 1 or Wo < 1:
        raise ValueError(f"x must have channels and be at least 3 x 3 after padding, "
                         f"got shape {x.shape} with padding {p}")
    th, tw = -(-Ho // t.m), -(-Wo // t.m)        # tiles per column and per row
    xp = np.zeros((N, C, th * t.m + 2, tw * t.m + 2), dtype=x.dtype)
    xp[:, :, p:p + H, p:p + W] = x
    U = np.empty((F, C, t.m + 2, t.m + 2), dtype=x.dtype)
    _filter_transform(w, t.G, U)
    out = np.empty((N, F, Ho, Wo), dtype=x.dtype)
    _winograd_conv2d_kernel(xp, U, t.BT, t.AT, b, out)
    if not all_finite(out):
        advice = "use float64 or conv2d_forward" if x.dtype == np.float32 \
            else "scale the input down"
        raise NonFiniteError(f"winograd_conv2d overflowed in {x.dtype} (the output or "
                             f"the transforms, which scale values by up to about "
                             f"100); {advice}")
    return out
