"""The matrix-product algorithms of :mod:`companion.functional.conv`: ``"gemm"`` and ``"im2col"``.

Both rewrite the convolution as matrix products (read the formulas in
:mod:`companion.functional.conv`): im2col (:mod:`companion.functional.im2col_ops`)
unfolds the receptive fields of the padded input into the columns of a matrix
``cols`` (``K x positions``, ``K = C*KH*KW``), so that the forward pass is
``w.reshape(F, K) @ cols``, the weight gradient ``dout_rows @ cols.T`` and the
input gradient col2im of ``w.reshape(F, K).T @ dout_rows``.

``"gemm"``
    im2col + matrix products done per chunk of images inside one parallel
    Numba loop, each thread calling the single-threaded BLAS matrix product
    (:mod:`companion._blas`). One thread pool, BLAS-speed arithmetic,
    cache-sized buffers. Needs NumPy's bundled OpenBLAS. Partial weight
    gradients are computed per group of images (groups depend on the shapes
    only) and added in group order, so results do not depend on the number of
    threads. With fewer than 4 images, chunks of images would leave threads
    idle (one large image is one task): the forward pass then splits each
    image into bands of output rows and the backward pass the input channels
    into blocks, each block owning its rows of ``dw`` and its planes of
    ``dx`` (one 128 x 128 image with 64 channels: 2.15x PyTorch's time before,
    1.4x after, on 2 cores).
``"im2col"``
    im2col of the whole batch, one NumPy ``@`` per product, col2im: the
    textbook formulation, with whatever BLAS NumPy uses (MKL, Accelerate...;
    NumPy's OpenBLAS runs single-threaded here, see :mod:`companion._threads`),
    whose results may depend on its own thread count.

The four drivers (:func:`conv2d_forward_gemm`, :func:`conv2d_backward_gemm`,
:func:`conv2d_forward_im2col`, :func:`conv2d_backward_im2col`) take the
zero-padded input and arrays that :func:`~companion.functional.conv.conv2d_forward`
and :func:`~companion.functional.conv.conv2d_backward` have validated and
allocated, and fill the outputs; they check nothing themselves.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from companion._blas import gemm, single_threaded_blas
from companion._threads import apply_thread_policy, threads_for
from companion.functional.im2col_ops import (
    col2im_kernel,
    col2im_plane,
    im2col_kernel,
    im2col_plane,
)

apply_thread_policy()       # idle prange workers sleep (see companion._threads)

# The drivers are public names for companion.functional.conv, not API: they are
# not re-exported by companion.functional.
__all__: list[str] = []

# Floating-point flags of the backward kernel: allow reassociation (so a sum
# vectorizes) and fused multiply-add, in an order fixed by the compiled code.
_FASTMATH = {"reassoc", "contract"}

# A chunk of the "gemm" path holds at least this many output positions
# (images * H_out * W_out) so the matrix products are not too thin.
_GEMM_MIN_COLUMNS = 256
# Partial weight gradients of the "gemm" backward pass (see _gemm_group).
_GEMM_PARTIALS_BUDGET = 1 << 20
_GEMM_MIN_GROUPS = 16


# ---------------------------------------------------------------------------
# "gemm": im2col + BLAS per chunk of images, inside one parallel loop
# ---------------------------------------------------------------------------

@njit(cache=True, parallel=True)
def _conv2d_forward_gemm(xp, w2, b, KH, KW, sh, sw, chunk, out):
    """Forward pass; one task per chunk of ``chunk`` images.

    The task unfolds its images into ``cols`` (``K x chunk*P``, ``K = C*KH*KW``,
    ``P = Ho*Wo``), multiplies ``w2 @ cols`` (``w2 = w.reshape(F, K)``) with
    BLAS, and writes each image's ``F x P`` block, plus the bias, to ``out``
    (viewed as ``(N, F, P)``); a chunk of one image is multiplied straight
    into its block of ``out``. ``cols`` is small enough to stay in the cache
    between the copy and the product.
    """
    N, C = xp.shape[0], xp.shape[1]
    F, K = w2.shape
    P = out.shape[2]
    n_chunks = (N + chunk - 1) // chunk
    for t in prange(n_chunks):
        n0 = t * chunk
        nb = min(chunk, N - n0)
        cols = np.empty((K, nb * P), dtype=xp.dtype)
        for m in range(nb):
            for c in range(C):
                im2col_plane(xp, n0 + m, c, KH, KW, sh, sw, cols, m * P)
        if nb == 1:             # one image: the product goes straight into out
            prod = out[n0]
            gemm(False, False, 1.0, w2, cols, 0.0, prod)
            for f in range(F):
                bias = b[f]
                for p in range(np.uintp(P)):
                    prod[f, p] += bias
        else:
            prod = np.empty((F, nb * P), dtype=xp.dtype)
            gemm(False, False, 1.0, w2, cols, 0.0, prod)
            for m in range(nb):
                start = np.uintp(m * P)
                for f in range(F):
                    bias = b[f]
                    for p in range(np.uintp(P)):
                        out[n0 + m, f, p] = prod[f, start + p] + bias


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def _conv2d_backward_gemm(xp, w2, dout, KH, KW, sh, sw, ph, pw, chunk, group, need_dx,
                          dx, dw2, db):
    """Backward pass; one task per group of ``group`` chunks, then fixed-order sums.

    Per chunk: recompute ``cols`` (as in the forward pass), copy the chunk's
    ``dout`` (viewed as ``(N, F, P)``) into ``g`` (``F x chunk*P``), then with
    BLAS accumulate ``cols @ g.T`` (the transposed weight gradient, ``K x F``:
    a faster shape for BLAS than ``g @ cols.T`` when ``F`` is small) into the
    group's partial, and compute ``dcols = w2.T @ g``, which col2im adds into
    ``dx`` (skipped when ``need_dx`` is false). The groups' partial ``dw``/``db``
    are summed in group order afterwards: chunks and groups depend on the shapes
    only, so the result does not depend on the number of threads.
    """
    N, C = xp.shape[0], xp.shape[1]
    F, K = w2.shape
    P = dout.shape[2]
    n_chunks = (N + chunk - 1) // chunk
    n_groups = (n_chunks + group - 1) // group
    dwt_parts = np.empty((n_groups, K, F), dtype=xp.dtype)
    db_parts = np.zeros((n_groups, F), dtype=np.float64)
    for grp in prange(n_groups):
        for t in range(grp * group, min(n_chunks, (grp + 1) * group)):
            n0 = t * chunk
            nb = min(chunk, N - n0)
            cols = np.empty((K, nb * P), dtype=xp.dtype)
            for m in range(nb):
                for c in range(C):
                    im2col_plane(xp, n0 + m, c, KH, KW, sh, sw, cols, m * P)
            g = np.empty((F, nb * P), dtype=xp.dtype)
            for f in range(F):
                total = 0.0
                for m in range(nb):
                    start = np.uintp(m * P)
                    for p in range(np.uintp(P)):
                        value = dout[n0 + m, f, p]
                        g[f, start + p] = value
                        total += value
                db_parts[grp, f] += total
            beta = 0.0 if t == grp * group else 1.0
            gemm(False, True, 1.0, cols, g, beta, dwt_parts[grp])
            if need_dx:
                dcols = np.empty((K, nb * P), dtype=xp.dtype)
                gemm(True, False, 1.0, w2, g, 0.0, dcols)
                for m in range(nb):
                    for c in range(C):
                        col2im_plane(dcols, m * P, n0 + m, c, KH, KW, sh, sw, ph, pw, dx)
    for f in prange(F):
        for k in range(K):
            total = dwt_parts[0, k, f] if n_groups > 0 else 0.0
            for grp in range(1, n_groups):
                total += dwt_parts[grp, k, f]
            dw2[f, k] = total
        total = 0.0
        for grp in range(n_groups):
            total += db_parts[grp, f]
        db[f] = total


# ---------------------------------------------------------------------------
# "gemm" for a small batch: the work split inside each image
# ---------------------------------------------------------------------------
# With fewer images than _SMALL_BATCH, chunks of images leave threads idle (one
# image of 128 x 128 pixels is one task). The forward pass then splits each
# image into bands of output rows, the backward pass the channels into blocks.

@njit(cache=True, parallel=True)
def _conv2d_forward_gemm_bands(xp, w2, b, KH, KW, sh, sw, rows, out):
    """Forward pass; one task per band of ``rows`` output rows of one image.

    A band of output rows ``i0 <= i < i1`` reads the input rows ``i0*sh`` to
    ``(i1 - 1)*sh + KH - 1`` only: :func:`im2col_plane` of that slice of
    ``xp`` gives the band's columns, and ``w2 @ cols`` goes straight into the
    band's columns of ``out`` (viewed as ``(N, F, Ho, Wo)``).
    """
    N, C = xp.shape[0], xp.shape[1]
    F, K = w2.shape
    Ho, Wo = out.shape[2], out.shape[3]
    bands = (Ho + rows - 1) // rows
    flat = out.reshape((N, F, Ho * Wo))
    for t in prange(N * bands):
        n = t // bands
        i0 = (t - n * bands) * rows
        i1 = min(Ho, i0 + rows)
        cols = np.empty((K, (i1 - i0) * Wo), dtype=xp.dtype)
        band = xp[:, :, i0 * sh:(i1 - 1) * sh + KH, :]
        for c in range(C):
            im2col_plane(band, n, c, KH, KW, sh, sw, cols, 0)
        prod = flat[n, :, i0 * Wo:i1 * Wo]
        gemm(False, False, 1.0, w2, cols, 0.0, prod)
        for f in range(F):
            bias = b[f]
            for p in range(np.uintp((i1 - i0) * Wo)):
                prod[f, p] += bias


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def _conv2d_backward_gemm_channels(xp, w2, dout, KH, KW, sh, sw, ph, pw, channels,
                                   need_dx, dx, dw2, db):
    """Backward pass; one task per block of ``channels`` input channels, one for ``db``.

    The rows of ``cols``, of ``dw`` and of ``dx`` belong to one input channel
    each, so a block of channels needs no other block's results: per image,
    ``dw[:, block] += dout[n] @ cols_block.T`` and ``dx[n, block]`` is col2im
    of ``w2[:, block].T @ dout[n]``. Images are taken in order inside each
    task, so the result does not depend on the number of threads. ``dx`` is
    left alone when ``need_dx`` is false.
    """
    N, C = xp.shape[0], xp.shape[1]
    F = w2.shape[0]
    P = dout.shape[2]
    KK = KH * KW
    blocks = (C + channels - 1) // channels
    for t in prange(blocks + 1):
        if t == blocks:
            for f in range(F):
                total = 0.0
                for n in range(N):
                    for p in range(np.uintp(P)):
                        total += dout[n, f, p]
                db[f] = total
        else:
            c0 = t * channels
            c1 = min(C, c0 + channels)
            x_block = xp[:, c0:c1]
            dx_block = dx[:, c0:c1]
            w2_block = w2[:, c0 * KK:c1 * KK]
            dw2_block = dw2[:, c0 * KK:c1 * KK]
            cols = np.empty(((c1 - c0) * KK, P), dtype=xp.dtype)
            dcols = np.empty(((c1 - c0) * KK, P if need_dx else 0), dtype=xp.dtype)
            for n in range(N):
                for c in range(c1 - c0):
                    im2col_plane(x_block, n, c, KH, KW, sh, sw, cols, 0)
                g = dout[n]
                gemm(False, True, 1.0, g, cols, 0.0 if n == 0 else 1.0, dw2_block)
                if need_dx:
                    gemm(True, False, 1.0, w2_block, g, 0.0, dcols)
                    for c in range(c1 - c0):
                        col2im_plane(dcols, 0, n, c, KH, KW, sh, sw, ph, pw, dx_block)


_SMALL_BATCH = 4
_SMALL_BATCH_TASKS = 8


def _band_rows(Ho: int) -> int:
    """Output rows per band of :func:`_conv2d_forward_gemm_bands` (up to 8 bands)."""
    return -(-Ho // _SMALL_BATCH_TASKS)


def _block_channels(C: int) -> int:
    """Channels per block of :func:`_conv2d_backward_gemm_channels` (up to 8 blocks)."""
    return -(-C // _SMALL_BATCH_TASKS)


def _gemm_chunk(P: int) -> int:
    """Images per chunk of the ``"gemm"`` path: enough for ``_GEMM_MIN_COLUMNS`` columns."""
    return max(1, -(-_GEMM_MIN_COLUMNS // P))


# threads_for weighs work in units of about a nanosecond of one core (a pooling
# window element, a few elementwise operations); a BLAS product does about 32
# multiply-adds in that time here (35 GMAC/s on one AVX2 core).
_MACS_PER_WORK = 32


def _parallel_work(macs: int, N: int, images_per_task: int) -> int:
    """The work to weigh for :func:`~companion._threads.threads_for`: none with one task."""
    return macs // _MACS_PER_WORK if N > images_per_task else 0


def _gemm_group(N: int, chunk: int, n_weights: int) -> int:
    """Chunks per group in the backward pass of ``"gemm"``.

    Each group keeps a partial weight gradient (``n_weights`` numbers); the
    partials may use up to ``_GEMM_PARTIALS_BUDGET`` numbers, and at least
    ``_GEMM_MIN_GROUPS`` groups are kept for the threads to share.
    """
    n_chunks = -(-N // chunk)
    n_groups = max(_GEMM_MIN_GROUPS, _GEMM_PARTIALS_BUDGET // max(n_weights, 1))
    return max(1, -(-n_chunks // max(n_groups, 1)))


# ---------------------------------------------------------------------------
# Drivers called by companion.functional.conv (arrays already validated)
# ---------------------------------------------------------------------------

def conv2d_forward_gemm(xp, w, b, stride, out):
    """``"gemm"`` forward pass: fills ``out`` ``(N, F, H_out, W_out)`` from the
    padded input ``xp``, filters ``w`` and bias ``b`` (no validation)."""
    (sh, sw), (N, F, Ho, Wo), (KH, KW) = stride, out.shape, w.shape[2:]
    macs = out.size * w[0].size
    if N < _SMALL_BATCH:
        rows = _band_rows(Ho)
        with single_threaded_blas(), threads_for(_parallel_work(macs, N * Ho, rows)):
            _conv2d_forward_gemm_bands(xp, w.reshape(F, -1), b, KH, KW, sh, sw, rows, out)
        return
    chunk = _gemm_chunk(Ho * Wo)
    with single_threaded_blas(), threads_for(_parallel_work(macs, N, chunk)):
        _conv2d_forward_gemm(xp, w.reshape(F, -1), b, KH, KW, sh, sw,
                             chunk, out.reshape(N, F, Ho * Wo))


def conv2d_backward_gemm(xp, w, dout, stride, padding, dx, dw, db, need_dx=True):
    """``"gemm"`` backward pass: fills ``dx`` (unless ``need_dx`` is false), ``dw``
    and ``db`` (no validation; ``dout`` is C-contiguous and only read)."""
    (sh, sw), (ph, pw), (N, F, Ho, Wo) = stride, padding, dout.shape
    C, KH, KW = w.shape[1:]
    if N == 0:                      # no image: nothing flows back
        dw[...] = 0.0
        db[...] = 0.0
        return
    if N < _SMALL_BATCH:
        channels = _block_channels(C)
        with single_threaded_blas(), threads_for(_parallel_work(dout.size * w[0].size, C,
                                                                channels)):
            _conv2d_backward_gemm_channels(xp, w.reshape(F, -1), dout.reshape(N, F, Ho * Wo),
                                           KH, KW, sh, sw, ph, pw, channels,
                                           need_dx, dx, dw.reshape(F, -1), db)
        return
    chunk = _gemm_chunk(Ho * Wo)
    group = _gemm_group(N, chunk, F * C * KH * KW)
    with single_threaded_blas(), threads_for(_parallel_work(dout.size * w[0].size, N,
                                                            chunk * group)):
        _conv2d_backward_gemm(xp, w.reshape(F, -1), dout.reshape(N, F, Ho * Wo),
                              KH, KW, sh, sw, ph, pw, chunk, group,
                              need_dx, dx, dw.reshape(F, -1), db)


def conv2d_forward_im2col(xp, w, b, stride, out):
    """``"im2col"`` forward pass: fills ``out`` and returns the im2col matrix
    ``cols`` ``(C*KH*KW, N*H_out*W_out)`` for the backward pass."""
    (sh, sw), (N, F, Ho, Wo), (C, KH, KW) = stride, out.shape, w.shape[1:]
    cols = np.empty((C * KH * KW, N * Ho * Wo), dtype=xp.dtype)
    im2col_kernel(xp, KH, KW, sh, sw, cols)
    with single_threaded_blas():                       # see companion._threads
        prod = w.reshape(F, -1) @ cols                 # (F, N*Ho*Wo)
    out[...] = prod.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3)
    out += b.reshape(1, F, 1, 1)
    return cols


def conv2d_backward_im2col(cols, w, dout, stride, padding, dx, dw, db, need_dx=True):
    """``"im2col"`` backward pass from the forward pass's ``cols``: fills ``dx``
    (unless ``need_dx`` is false), ``dw``, ``db`` (no validation; ``dout`` is only
    read)."""
    (sh, sw), (ph, pw), (N, F, Ho, Wo) = stride, padding, dout.shape
    KH, KW = w.shape[2:]
    rows = dout.transpose(1, 0, 2, 3).reshape(F, N * Ho * Wo)
    with single_threaded_blas():
        dw[...] = (rows @ cols.T).reshape(w.shape)
        dcols = w.reshape(F, -1).T @ rows if need_dx else None
    db[...] = rows.sum(axis=1)
    if need_dx:
        col2im_kernel(dcols, KH, KW, sh, sw, ph, pw, dx)
