"""BLAS matrix products inside Numba's parallel loops, and BLAS's thread count.

Two thread pools fight on a small machine: after a ``prange`` region Numba's
OpenMP workers stay awake for a while, and a multi-threaded OpenBLAS matrix
product called next from NumPy runs at a fraction of its speed (the reverse
happens too: OpenBLAS's idle workers poll for work and slow down the next
Numba region). On 2 cores an im2col convolution alternating Numba kernels and
``np.matmul`` ran several times slower than either part alone.

The ``"gemm"`` convolution of :mod:`companion.functional.conv` therefore uses **one**
pool: a Numba ``prange`` loop over chunks of images, where each thread calls
the *single-threaded* BLAS matrix product (``cblas_sgemm``/``cblas_dgemm``)
of the OpenBLAS library that NumPy ships. While such a kernel runs, OpenBLAS's
own thread count is set to 1 (:func:`single_threaded_blas`) and restored
after. A product computed by one thread in a fixed way does not depend on how
many threads run the loop, so results are bit-identical for any
``NUMBA_NUM_THREADS``. (SciPy would give Numba's own ``np.dot`` in jitted
code, but SciPy is not a dependency of the package.)

**Where it works, and the fallback.** The library is looked up among the
shared libraries NumPy's wheels bundle (``numpy.libs`` on Linux and Windows,
``numpy/.dylibs`` on macOS), by the names of its 64-bit-integer builds
(``scipy_cblas_sgemm64_`` in NumPy >= 2, ``cblas_sgemm64_`` before). At import
a 2x2 product through the found functions is compared with NumPy's. If
anything fails -- NumPy built against MKL, Apple's Accelerate or a system
BLAS (conda, macOS arm64 wheels, Linux distributions), a library that will not
load, a wrong result -- or when the environment variable
``COMPANION_DISABLE_BLAS_KERNELS`` is set (non-empty), :data:`BLAS_AVAILABLE`
is ``False``: the callers then use code that needs no BLAS symbols
(:mod:`companion.functional.conv` falls back to NumPy's ``@``), :func:`single_threaded_blas`
does nothing, and compiling a call to :func:`gemm` raises a ``TypingError``
(never a crash).

:func:`gemm` is an ordinary Python function (NumPy's ``@``), which is what
runs under ``NUMBA_DISABLE_JIT=1``; inside jitted code it compiles to the BLAS
call (``numba.extending.overload``).
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading

import numpy as np
from numba import types
from numba.core.errors import TypingError
from numba.extending import overload

__all__ = ["BLAS_AVAILABLE", "BLAS_LIBRARY", "gemm", "single_threaded_blas", "blas_num_threads"]

DISABLE_VARIABLE = "COMPANION_DISABLE_BLAS_KERNELS"

# Names in NumPy's bundled OpenBLAS builds (all with 64-bit integers):
# NumPy >= 2 ships scipy-openblas64 (``scipy_`` prefix), NumPy 1.2x shipped
# openblas64_ (no prefix). Each entry: sgemm, dgemm, set threads, get threads.
_CANDIDATE_SYMBOLS = (
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_",
     "scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("cblas_sgemm64_", "cblas_dgemm64_",
     "openblas_set_num_threads64_", "openblas_get_num_threads64_"),
)
# The names the jitted code links against (registered with llvmlite below).
_SGEMM = "companion_cblas_sgemm_ilp64"
_DGEMM = "companion_cblas_dgemm_ilp64"

_ROW_MAJOR = 101
_NO_TRANS = 111
_TRANS = 112


def _numpy_library_files():
    """Shared libraries bundled with NumPy's wheels whose name mentions OpenBLAS."""
    root = os.path.dirname(os.path.abspath(np.__file__))
    patterns = [os.path.join(root, os.pardir, "numpy.libs", "*openblas*"),
                os.path.join(root, ".dylibs", "*openblas*")]
    files = []
    for pattern in patterns:
        files.extend(sorted(glob.glob(pattern)))
    return files


def _declare(funcs):
    """Set the ctypes signatures of ``(sgemm, dgemm, set_threads, get_threads)``."""
    sgemm, dgemm, set_threads, get_threads = funcs
    i32, i64, ptr = ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p
    for fn, real in ((sgemm, ctypes.c_float), (dgemm, ctypes.c_double)):
        fn.argtypes = [i32, i32, i32, i64, i64, i64, real, ptr, i64, ptr, i64, real, ptr, i64]
        fn.restype = None
    set_threads.argtypes = [ctypes.c_int]
    set_threads.restype = None
    get_threads.argtypes = []
    get_threads.restype = ctypes.c_int


def _self_test(funcs) -> bool:
    """A small product through ``sgemm`` and ``dgemm`` agrees with NumPy's."""
    sgemm, dgemm = funcs[0], funcs[1]
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    b = np.array([[1.0, -1.0], [2.0, 0.5], [-3.0, 4.0]])
    for fn, dtype in ((sgemm, np.float32), (dgemm, np.float64)):
        aa, bb = a.astype(dtype), b.astype(dtype)
        cc = np.full((2, 2), 7.0, dtype=dtype)
        fn(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, 2, 2, 3, 1.0, aa.ctypes.data, 3,
           bb.ctypes.data, 2, 0.0, cc.ctypes.data, 2)
        if not np.array_equal(cc, aa @ bb):
            return False
    return True


def _load_openblas():
    """Return ``(path, (sgemm, dgemm, set_threads, get_threads))``, or ``None``.

    Never raises: any failure means "not available".
    """
    if os.environ.get(DISABLE_VARIABLE):
        return None
    for path in _numpy_library_files():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for names in _CANDIDATE_SYMBOLS:
            try:
                funcs = tuple(getattr(lib, name) for name in names)
            except AttributeError:
                continue
            try:
                _declare(funcs)
                if _self_test(funcs):
                    return path, funcs
            except Exception:  # pragma: no cover - an unusable library
                continue
    return None


def _register(funcs) -> bool:
    """Make the gemm functions known to LLVM under the names the kernels link against."""
    try:
        import llvmlite.binding as llvm

        llvm.add_symbol(_SGEMM, ctypes.cast(funcs[0], ctypes.c_void_p).value)
        llvm.add_symbol(_DGEMM, ctypes.cast(funcs[1], ctypes.c_void_p).value)
    except Exception:  # pragma: no cover - llvmlite without add_symbol
        return False
    return True


_found = _load_openblas()
if _found is not None and not _register(_found[1]):  # pragma: no cover
    _found = None

BLAS_AVAILABLE: bool = _found is not None
"""Whether the BLAS kernels (``algorithm="gemm"`` of :mod:`companion.functional.conv`) can run."""

BLAS_LIBRARY: str | None = os.path.basename(_found[0]) if _found else None
"""File name of the OpenBLAS library the kernels call, or ``None``."""

_get_threads_c = _found[1][3] if _found else None
_set_threads_c = _found[1][2] if _found else None


def _cblas_signature(ftype):
    # cblas_?gemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
    i32, i64, ptr = types.int32, types.int64, types.CPointer(ftype)
    return types.void(i32, i32, i32, i64, i64, i64, ftype, ptr, i64, ptr, i64, ftype, ptr, i64)


_cblas_sgemm = types.ExternalFunction(_SGEMM, _cblas_signature(types.float32))
_cblas_dgemm = types.ExternalFunction(_DGEMM, _cblas_signature(types.float64))

_lock = threading.Lock()
_depth = 0
_saved_threads = 1


def blas_num_threads() -> int | None:
    """OpenBLAS's current thread count, or ``None`` if the library was not found."""
    return int(_get_threads_c()) if BLAS_AVAILABLE else None


@contextlib.contextmanager
def single_threaded_blas():
    """Run the block with OpenBLAS limited to one thread, then restore its count.

    Used around the Numba kernels that call :func:`gemm` from every thread:
    there, parallelism comes from Numba's ``prange``, and a multi-threaded
    BLAS would oversubscribe the cores. Nested and concurrent uses are safe
    (a counter restores the count when the last one leaves). Does nothing
    when :data:`BLAS_AVAILABLE` is ``False``.
    """
    global _depth, _saved_threads
    if not BLAS_AVAILABLE:
        yield
        return
    with _lock:
        if _depth == 0:
            _saved_threads = int(_get_threads_c())
            if _saved_threads != 1:
                _set_threads_c(1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_threads != 1:
                _set_threads_c(_saved_threads)


def gemm(trans_a, trans_b, alpha, a, b, beta, c):
    """``c[...] = alpha * op(a) @ op(b) + beta * c`` for 2-D arrays, in place in ``c``.

    ``op(a)`` is ``a.T`` when ``trans_a`` is true, else ``a`` (same for ``b``).
    Shapes: ``op(a)`` is ``(m, k)``, ``op(b)`` is ``(k, n)``, ``c`` is
    ``(m, n)``. All three arrays share one dtype (float32 or float64), and
    their last axis is contiguous. ``beta = 0`` ignores the old content of
    ``c``.

    This Python version (NumPy's ``@``) runs when Numba's JIT is disabled; in
    jitted code the call compiles to single-threaded ``cblas_sgemm`` /
    ``cblas_dgemm`` (no bounds checks there: callers pass matching shapes),
    and only when :data:`BLAS_AVAILABLE` (otherwise compiling it raises
    ``TypingError``).
    """
    op_a = a.T if trans_a else a
    op_b = b.T if trans_b else b
    if beta == 0.0:
        c[...] = alpha * (op_a @ op_b)
    else:
        c[...] = alpha * (op_a @ op_b) + beta * c


@overload(gemm, jit_options={"cache": True})
def _gemm_overload(trans_a, trans_b, alpha, a, b, beta, c):
    if not BLAS_AVAILABLE:
        raise TypingError("companion._blas.gemm needs NumPy's bundled OpenBLAS, which was not "
                          "found (BLAS_AVAILABLE is False); use a code path without it")
    if not isinstance(c, types.Array):
        return None
    if c.dtype == types.float32:
        cblas, ftype = _cblas_sgemm, np.float32
    elif c.dtype == types.float64:
        cblas, ftype = _cblas_dgemm, np.float64
    else:
        return None

    def impl(trans_a, trans_b, alpha, a, b, beta, c):
        size = c.itemsize
        m, n = c.shape
        k = a.shape[0] if trans_a else a.shape[1]
        ta = _TRANS if trans_a else _NO_TRANS
        tb = _TRANS if trans_b else _NO_TRANS
        cblas(_ROW_MAJOR, ta, tb, m, n, k, ftype(alpha),
              a.ctypes, a.strides[0] // size,
              b.ctypes, b.strides[0] // size,
              ftype(beta), c.ctypes, c.strides[0] // size)

    return impl
