"""The package's thread policy: one thread pool, whose idle threads sleep.

Numba runs ``prange`` loops on a pool of threads (OpenMP here; TBB or Numba's
own "workqueue" elsewhere), and NumPy's OpenBLAS has a pool of its own. On a
small machine two things go wrong:

* After a parallel region OpenMP's idle workers *spin* -- poll for new work
  at full speed -- for a while before they sleep (GNU OpenMP: 300,000 polls).
  When the cores are busy (a shared server, a laptop running a browser,
  Binder), spinning workers compete with the threads that have real work,
  and every parallel region may wait for a descheduled thread.
* OpenBLAS's idle workers also keep polling after a multi-threaded NumPy
  matrix product, and the two pools then fight for the same cores.

Measured with ``python -m benchmarks.thread_policy`` (2 cores, batch 64,
float32, median ms; "one core busy": a spinning process started by the
script; the machine was shared with other jobs, so only the orders of
magnitude matter):

==============  ==========  ==================  ===========  ===============
machine         policy      LeNet conv1 f+b     pool1 f+b    training step
==============  ==========  ==================  ===========  ===============
idle            spinning    0.7                 0.5          37
idle            passive     1.3                 0.8          9.4
idle            workqueue   2.3                 1.1          38
one core busy   spinning    37                  17           243
one core busy   passive     3.8                 2.6          80
one core busy   workqueue   1.7                 1.0          52
==============  ==========  ==================  ===========  ===============

A LeNet-5 training step whose dense layers call a 2-thread OpenBLAS took
15-120 ms on the loaded machine, 6 ms with OpenBLAS single-threaded during the
step.

Measured again after the package's BLAS calls became single-threaded (8
December 2026, same machine, median ms of 3 processes, whole training steps
with ``companion.nn``; "spin 30k" is ``GOMP_SPINCOUNT=30000``, a tenth of
GNU OpenMP's default polling):

==============  ==========  ==============  ================
machine         policy      LeNet-5 step    32x32x3 step
==============  ==========  ==============  ================
idle            spinning    9.1             48.8
idle            spin 30k    8.3             50.4
idle            passive     13.0            54.2
one core busy   spinning    15.9            102.0
one core busy   spin 30k    31.3            99.5
one core busy   passive     8.5             74.9
==============  ==========  ==============  ================

Spinning saves 10-30 % on an idle machine and costs 35-90 % on a busy one;
the shorter spin keeps most of the saving but costs as much or more when a
core is busy. The package keeps the
passive policy: a learner's machine is rarely idle (a browser, Binder's
neighbours), and a slow step there is worse than a slightly slower one here.

**The policy.**

1. :func:`apply_thread_policy` sets the standard OpenMP variable
   ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep at once) unless the user
   has set it. An OpenMP runtime reads it once, when it is loaded; Numba loads
   its pool at the first parallel call, so every module of the package with
   ``prange`` kernels calls :func:`apply_thread_policy` when it is imported.
   Waking a sleeping thread costs a few microseconds per parallel region;
   the stalls of the table disappear.
2. The package's own calls to BLAS run with OpenBLAS limited to one thread
   (:func:`single_threaded_blas`, from :mod:`companion._blas`): parallelism
   comes from Numba's pool only. The ``"gemm"`` convolution calls the
   single-threaded BLAS from inside its parallel loop; NumPy products inside
   the package (the ``"im2col"`` convolution, and dense layers should do the
   same) are wrapped in :func:`single_threaded_blas`.

3. Small work runs on the calling thread (:func:`threads_for`): waking the
   pool's sleeping threads costs tens of microseconds per parallel region
   (about 100 us here), more than a small layer's whole work. Predicting one
   LeNet-5 image: its first pooling layer took 150 us with the pool, 53 us on
   the calling thread; its first convolution 180 and 100 us.

Results do not change: the policy says what idle threads do and how many run
a product, not what is computed (every kernel gives each output element to one
thread, see :mod:`companion.functional.conv`). Numba's choice of threading layer and its
thread count (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``) are left
alone, and so is NumPy's BLAS outside the package's calls.
"""
from __future__ import annotations

import contextlib
import os

from companion._blas import single_threaded_blas

__all__ = ["PARALLEL_MIN_WORK", "WAIT_POLICY", "apply_thread_policy", "single_threaded_blas",
           "thread_policy_status", "threads_for"]

WAIT_POLICY = "PASSIVE"
"""The value :func:`apply_thread_policy` gives ``OMP_WAIT_POLICY``."""


def _numba_pool_started() -> bool:
    """Whether Numba's thread pool (and so its OpenMP runtime) is already running."""
    try:
        from numba.np.ufunc import parallel
    except ImportError:  # pragma: no cover - a Numba without the module
        return False
    return bool(getattr(parallel, "_is_initialized", False))


_OPENMP_LIBRARIES = ("libgomp", "libiomp", "libomp")


def _openmp_runtime_loaded() -> bool | None:
    """Whether an OpenMP runtime is already loaded in this process (``None``: cannot tell).

    Read from ``/proc/self/maps`` on Linux. PyTorch, for one, ships its own
    ``libgomp.so.1``; once loaded it is also the runtime Numba's pool uses (the
    same library name), and it has read its settings already.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            text = maps.read()
    except OSError:
        return None
    return any(name in text for name in _OPENMP_LIBRARIES)


def apply_thread_policy() -> bool:
    """Let idle OpenMP threads sleep: set ``OMP_WAIT_POLICY=PASSIVE`` unless already set.

    Call it before the first parallel Numba call of the process (the modules
    of the package with ``prange`` kernels call it on import). Calling it
    again does nothing.

    Returns
    -------
    bool
        ``True`` when the passive policy is in effect for Numba's pool: the
        variable holds ``PASSIVE`` (set here or by the user) and, if it was
        set here, no OpenMP runtime had been loaded before. ``False`` when the
        user chose another policy, or when Numba's pool or another OpenMP
        runtime (PyTorch's, say) was already running with the variable unset:
        a runtime reads the variable once, so it cannot change any more in
        this process (import the package first, or set the variable).
    """
    if "OMP_WAIT_POLICY" not in os.environ:
        if _numba_pool_started() or _openmp_runtime_loaded():
            return False
        os.environ["OMP_WAIT_POLICY"] = WAIT_POLICY
    return os.environ["OMP_WAIT_POLICY"].strip().upper() == WAIT_POLICY


def thread_policy_status() -> dict:
    """What the thread policy is, for reports and benchmarks.

    Returns
    -------
    dict
        ``omp_wait_policy`` (the variable's value or ``None``),
        ``numba_pool_started`` (bool), ``numba_threads`` (Numba's current
        thread count) and ``threading_layer`` (the layer Numba uses, or the
        configured choice when the pool has not started yet).
    """
    import numba

    started = _numba_pool_started()
    if started:
        try:
            layer = numba.threading_layer()
        except ValueError:  # pragma: no cover - not started after all
            layer = numba.config.THREADING_LAYER
    else:
        layer = numba.config.THREADING_LAYER
    return {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "numba_pool_started": started,
            "numba_threads": numba.get_num_threads() if started else numba.config.NUMBA_NUM_THREADS,
            "threading_layer": layer}


PARALLEL_MIN_WORK = 1 << 18
"""Work from which a kernel uses Numba's whole pool, in units of about a nanosecond
of one core.

Callers convert what they count into these units: a pooling window element
or a direct convolution's multiply-add is about one unit, a BLAS product does
about 32 multiply-adds per unit (``companion.functional.conv_gemm``), an
elementwise loop about 4 elements (``companion.functional.activations``),
batch normalization 4 units per element. Below the threshold
:func:`threads_for` runs the kernel on the calling thread: 2**18 units are
about 250 us of one core, and waking the pool costs about 100 us here, so
two threads only pay from about there on. Predicting one image of the
32x32x3 network: each of its two convolutions took about 110 us longer on
the pool than on the calling thread when their multiply-adds were counted as
units. Set it to 0 to always use the pool."""


@contextlib.contextmanager
def threads_for(work: int):
    """Run the block with Numba's whole pool, or on the calling thread when ``work`` is small.

    ``work`` below :data:`PARALLEL_MIN_WORK` sets Numba's thread count to 1 for
    the block (Numba's count is per calling thread, so other Python threads
    are not affected) and restores it after. Kernels give each output element
    to one thread, so results do not depend on the choice.
    """
    import numba

    threads = numba.get_num_threads()
    if work >= PARALLEL_MIN_WORK or threads == 1:
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(threads)
