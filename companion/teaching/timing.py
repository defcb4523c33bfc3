"""Timing a convolution against its work (chapter 16), on the machine at hand.

Timings belong to a machine and to what else runs on it, so the book never
measures them while it is tested: ``python -m benchmarks.conv_scaling`` calls
:func:`measure_conv_scaling` and stores the result with the machine's name
(``book/data/conv_scaling.json``), and chapter 16 draws that file. A reader
without the repository (on Colab) measures their own machine with the same
function.
"""
from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

from companion._validate import as_generator, as_positive_real
from companion.functional import conv2d_forward

__all__ = ["CONV_SCALING_CASES", "best_time", "cpu_name", "measure_conv_scaling"]

_BASE = {"N": 8, "C": 16, "H": 32}
#: (what is varied, shape) of every timed layer: 3 x 3 filters, padding 1, C = F,
#: N images of H x H pixels, grown from 8 images, 16 channels and 32 x 32 pixels.
CONV_SCALING_CASES = tuple([("image size", dict(_BASE, H=h)) for h in (8, 16, 32, 64, 96)]
                           + [("channels", dict(_BASE, C=c)) for c in (2, 4, 8, 32, 64)]
                           + [("batch", dict(_BASE, N=n)) for n in (1, 2, 32, 64)])


def best_time(fn: Callable[[], object], budget: float = 0.3, max_repeats: int = 50) -> float:
    """Shortest of several runs of ``fn()`` (after one untimed warm-up run), in seconds.

    Runs until ``budget`` seconds are spent or ``max_repeats`` runs are done.
    The shortest run is the one least disturbed by the rest of the machine.
    """
    budget = as_positive_real(budget, "budget")
    fn()
    times: list[float] = []
    while sum(times) < budget and len(times) < max_repeats:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure_conv_scaling(*, rng=0, budget: float = 0.3, progress: bool = False) -> dict:
    """Time ``conv2d_forward`` on every shape of :data:`CONV_SCALING_CASES`.

    Returns a dict ready for JSON: ``"machine"`` (CPU, Numba threads,
    versions), ``"matmul_1024_gflops"`` (the rate of a 1024 x 1024 float32
    matrix product, the best before and after the convolutions) and
    ``"cases"``, one dict per layer with ``varied``, ``N``, ``C``, ``H``,
    ``flops`` (``2 N C^2 3^2 H^2``, counted from the shape) and ``seconds``.
    ``budget`` is the time spent on each case (see :func:`best_time`).
    """
    import numba

    rng = as_generator(rng)
    a = rng.standard_normal((1024, 1024)).astype(np.float32)
    matmul_seconds = best_time(lambda: a @ a, budget)
    rows = []
    for kind, s in CONV_SCALING_CASES:
        n, c, h = s["N"], s["C"], s["H"]
        x = rng.standard_normal((n, c, h, h)).astype(np.float32)
        w = rng.standard_normal((c, c, 3, 3)).astype(np.float32)
        b = np.zeros(c, dtype=np.float32)
        seconds = best_time(lambda: conv2d_forward(x, w, b, padding=1), budget)
        rows.append({"varied": kind, "N": n, "C": c, "H": h,
                     "flops": 2 * n * c * c * 3 * 3 * h * h, "seconds": seconds})
        if progress:
            print(f"{kind:11s} N={n:3d} C={c:3d} H={h:3d}: {seconds * 1e3:8.3f} ms", flush=True)
    matmul_seconds = min(matmul_seconds, best_time(lambda: a @ a, budget))
    return {
        "what": "conv2d_forward, 3x3 filters, padding 1, float32; shortest of repeated runs",
        "machine": {"cpu": cpu_name(), "numba_threads": numba.get_num_threads(),
                    "numpy": np.__version__, "numba": numba.__version__,
                    "python": platform.python_version()},
        "matmul_1024_gflops": 2 * 1024 ** 3 / matmul_seconds / 1e9,
        "cases": rows,
    }
