"""The ``"direct"`` algorithm of :mod:`companion.functional.conv`: reordered loops, in parallel.

The same sums as the naive kernels of :mod:`companion.functional.conv` (read
the formulas there), with the loops reordered so that the innermost loop runs
along a row of the image (it vectorizes), in parallel over independent
outputs: one task per output plane ``out[n, f]`` (forward), per filter-channel
pair ``(f, c)`` (weight gradient), per input plane ``dx[n, c]`` (input
gradient). No BLAS; 13-29 GFLOP/s on 2 cores.

Every task sums in a fixed order, so results are bit-identical whatever the
number of threads (``NUMBA_NUM_THREADS``). The kernels take the zero-padded
input and arrays that :func:`~companion.functional.conv.conv2d_forward` and
:func:`~companion.functional.conv.conv2d_backward` have validated and
allocated; they have public names so that module may call them, and check
nothing themselves.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from companion._threads import apply_thread_policy

apply_thread_policy()       # idle prange workers sleep (see companion._threads)

# The kernels are public names for companion.functional.conv, not API: they are
# not re-exported by companion.functional.
__all__: list[str] = []

# Floating-point flags: allow reassociation (so a sum vectorizes) and fused
# multiply-add. The order of operations is still fixed by the compiled code,
# independent of the thread count.
_FASTMATH = {"reassoc", "contract"}


# ---------------------------------------------------------------------------
# "direct": reordered loops, parallel over independent outputs
# ---------------------------------------------------------------------------
# The innermost loops run along an image row and index with unsigned integers
# (np.uintp): Numba adjusts every signed index for a possible negative value
# (a[-1] is the last element), which keeps a loop from vectorizing.

@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def conv2d_forward_direct(xp, w, b, sh, sw, out):
    """Forward pass, one task per output plane ``out[n, f]``.

    For each weight ``w[f, c, kh, kw]`` the task adds ``weight * (shifted
    input rows)`` to the plane; the innermost loop runs along a row.
    """
    N, F, Ho, Wo = out.shape
    C, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    step = np.uintp(sw)
    for task in prange(N * F):
        n = task // F
        f = task - n * F
        for i in range(Ho):
            for j in range(np.uintp(Wo)):
                out[n, f, i, j] = b[f]
        for c in range(C):
            for kh in range(KH):
                for kw in range(KW):
                    weight = w[f, c, kh, kw]
                    start = np.uintp(kw)
                    for i in range(Ho):
                        h = i * sh + kh
                        if sw == 1:
                            for j in range(np.uintp(Wo)):
                                out[n, f, i, j] += weight * xp[n, c, h, start + j]
                        else:
                            for j in range(np.uintp(Wo)):
                                out[n, f, i, j] += weight * xp[n, c, h, start + j * step]


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def conv2d_backward_weights_direct(xp, dout, sh, sw, dw, db):
    """``dw`` and ``db`` (overwritten); one task per filter-channel pair ``(f, c)``.

    ``dw[f, c, kh, kw]`` is the sum over ``n, i, j`` of ``dout[n, f, i, j] *
    xp[n, c, i*sh + kh, j*sw + kw]``; the task with ``c == 0`` also sums
    ``db[f]``.
    """
    N, F, Ho, Wo = dout.shape
    C, KH, KW = dw.shape[1], dw.shape[2], dw.shape[3]
    step = np.uintp(sw)
    for task in prange(F * C):
        f = task // C
        c = task - f * C
        for kh in range(KH):
            for kw in range(KW):
                start = np.uintp(kw)
                total = dw.dtype.type(0.0)
                for n in range(N):
                    for i in range(Ho):
                        h = i * sh + kh
                        if sw == 1:
                            for j in range(np.uintp(Wo)):
                                total += dout[n, f, i, j] * xp[n, c, h, start + j]
                        else:
                            for j in range(np.uintp(Wo)):
                                total += dout[n, f, i, j] * xp[n, c, h, start + j * step]
                dw[f, c, kh, kw] = total
        if c == 0:
            total = 0.0
            for n in range(N):
                for i in range(Ho):
                    for j in range(np.uintp(Wo)):
                        total += dout[n, f, i, j]
            db[f] = total


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def conv2d_backward_input_direct(dout, w, sh, sw, ph, pw, dx):
    """``dx`` (overwritten); one task per input plane ``dx[n, c]``.

    Accumulates ``w[f, c, kh, kw] * dout[n, f]`` onto the shifted rows of a
    zeroed padded plane, then drops the padding.
    """
    N, F, Ho, Wo = dout.shape
    C, KH, KW = w.shape[1], w.shape[2], w.shape[3]
    H, W = dx.shape[2], dx.shape[3]
    step = np.uintp(sw)
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        plane = np.zeros((H + 2 * ph, W + 2 * pw), dtype=dx.dtype)
        for f in range(F):
            for kh in range(KH):
                for kw in range(KW):
                    weight = w[f, c, kh, kw]
                    start = np.uintp(kw)
                    for i in range(Ho):
                        h = i * sh + kh
                        if sw == 1:
                            for j in range(np.uintp(Wo)):
                                plane[h, start + j] += weight * dout[n, f, i, j]
                        else:
                            for j in range(np.uintp(Wo)):
                                plane[h, start + j * step] += weight * dout[n, f, i, j]
        for h in range(H):
            for v in range(np.uintp(W)):
                dx[n, c, h, v] = plane[h + ph, np.uintp(pw) + v]
