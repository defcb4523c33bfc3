"""What the machine can do and how long the package takes to start.

:func:`matmul_peak` measures the float32 matrix-product rate of NumPy's BLAS
with the threads the benchmark uses: the "peak" that the benchmark's shares
are measured against (a convolution is matrix products plus data movement,
so a layer's FLOP/s over this rate says how close it comes to the machine).

:func:`startup_times` measures, in fresh interpreters, how long a learner
waits before the first LeNet-5 training step: once with an empty Numba cache
(every kernel the step uses is compiled: a first run on Binder or Colab) and
once more with the cache that run left (every later run).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

__all__ = ["matmul_peak", "startup_times"]


def matmul_peak(n: int = 2048, repeats: int = 7) -> float:
    """Median float32 GFLOP/s of an ``n x n`` NumPy matrix product (all BLAS threads)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    a @ b
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        samples.append(time.perf_counter() - start)
    return 2 * n ** 3 / float(np.median(samples)) / 1e9


_FIRST_STEP = """
import json, time
start = time.perf_counter()
import numpy as np
from companion.functional import cross_entropy_loss
from companion.nn.models import lenet5
from companion.optim import SGD
imported = time.perf_counter()
model, opt = lenet5(rng=0), SGD(lr=0.01, momentum=0.9)
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 1, 32, 32)).astype(np.float32)
y = rng.integers(0, 10, 64)
def step():
    loss, dlogits = cross_entropy_loss(model.forward(x), y)
    model.backward(dlogits, input_grad=False)
    opt.step(model.trainable_params(), model.trainable_grads())
step()
first = time.perf_counter()
step()
second = time.perf_counter()
print(json.dumps({"import": imported - start, "first_step": first - imported,
                  "second_step": second - first}))
"""


def startup_times() -> dict:
    """Seconds to import the package and run a first LeNet-5 step, cold and warm.

    Returns
    -------
    dict
        ``{"cold": {...}, "warm": {...}}``, each with ``import``,
        ``first_step`` (compiling or loading the kernels included) and
        ``second_step``, in seconds.
    """
    with tempfile.TemporaryDirectory(prefix="companion-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        result = {}
        for label in ("cold", "warm"):
            proc = subprocess.run([sys.executable, "-c", _FIRST_STEP], env=env, text=True,
                                  capture_output=True, timeout=1800, check=True)
            result[label] = json.loads(proc.stdout)
    return result
