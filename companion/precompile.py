"""Compile every Numba kernel of the package once, so that a reader's first cell is fast.

    python -m companion.precompile            # compile (or load from the cache) every kernel
    python -m companion.precompile --check    # the same, then exit 1 if a kernel was not reached

Every kernel of the package is ``@njit(cache=True)``: its machine code is
written next to the source (``__pycache__``, or under ``NUMBA_CACHE_DIR``)
the first time it is compiled for a type signature, and later processes load
it from there instead of compiling again (a few milliseconds instead of
seconds). This module calls every public function that runs a kernel, on tiny
inputs, in float64 and float32 (the dtypes the chapters use), and every
algorithm and serial/parallel variant, so that all of them are in the cache.

Binder's ``postBuild`` runs it while the image is built. The machine that
builds the image may have another CPU than the machine that runs it, and Numba
compiles for the host CPU by default, so a cache made on one is not used on
the other; ``postBuild`` and ``start`` both set ``NUMBA_CPU_NAME=generic``, which
makes the cached code portable and keeps the cache valid.

The report lists, per kernel, how many type signatures were compiled in this
process and how many came from the cache: after one precompile run, a second run (or a
chapter) loads everything from the cache and compiles nothing.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

import companion

__all__ = ["KernelStatus", "PrecompileReport", "jitted_kernels", "precompile", "main"]

#: The dtypes every kernel is compiled for (the chapters use both).
DTYPES = (np.float64, np.float32)


class KernelStatus(NamedTuple):
    """What precompiling did for one ``@njit`` function of the package.

    Attributes
    ----------
    name : str
        ``"module.function"``, e.g. ``"companion.functional.conv._conv2d_forward_naive"``.
    signatures : int
        Type signatures the kernel has in this process (compiled or loaded).
    cache_hits : int
        Signatures loaded from Numba's on-disk cache.
    cache_misses : int
        Signatures compiled because the cache had no entry for them.
    reached : bool
        Whether precompiling ran it: directly (``signatures > 0``) or inside a
        kernel that calls it (a callee is compiled into its caller and cached
        with it, so a warm process never needs it on its own).
    """

    name: str
    signatures: int
    cache_hits: int
    cache_misses: int
    reached: bool


class PrecompileReport(NamedTuple):
    """Result of :func:`precompile`.

    Attributes
    ----------
    seconds : float
        Wall-clock time of precompiling (imports excluded).
    jit_enabled : bool
        ``False`` under ``NUMBA_DISABLE_JIT=1``: the calls ran as plain Python
        and nothing was compiled or cached.
    kernels : tuple of KernelStatus
        One entry per ``@njit`` function of the package, sorted by name
        (empty when ``jit_enabled`` is ``False``).
    """

    seconds: float
    jit_enabled: bool
    kernels: tuple[KernelStatus, ...]

    @property
    def unreached(self) -> list[str]:
        """Names of the kernels precompiling did not run (should be empty).

        The BLAS kernels of the ``"gemm"`` convolution are left out when no
        OpenBLAS was found (``companion._blas.BLAS_AVAILABLE`` is false): the
        package then runs ``"im2col"`` instead and never calls them.
        """
        skip = _unavailable()
        return [k.name for k in self.kernels if not k.reached and k.name not in skip]

    @property
    def compiled(self) -> int:
        """Signatures compiled in this process (0 when the cache was warm)."""
        return sum(k.cache_misses for k in self.kernels)

    @property
    def loaded(self) -> int:
        """Signatures loaded from the cache."""
        return sum(k.cache_hits for k in self.kernels)


# --------------------------------------------------------------------------
# Finding the kernels
# --------------------------------------------------------------------------

def _package_modules() -> Iterator[object]:
    """Import and yield every module of the package (subpackages included)."""
    yield companion
    for info in pkgutil.walk_packages(companion.__path__, prefix="companion."):
        if info.name == __name__:
            continue
        yield importlib.import_module(info.name)


def jitted_kernels() -> dict[str, object]:
    """Every ``@njit`` function defined in the package, imported.

    Returns
    -------
    dict
        ``"module.function"`` -> Numba dispatcher, sorted by name. Empty under
        ``NUMBA_DISABLE_JIT=1`` (``njit`` then returns the plain function).
    """
    from numba.core.dispatcher import Dispatcher

    found = {}
    for module in _package_modules():
        for attr, value in vars(module).items():
            if isinstance(value, Dispatcher) and value.py_func.__module__ == module.__name__:
                found[f"{module.__name__}.{attr}"] = value
    return dict(sorted(found.items()))


def _unavailable() -> set[str]:
    """Kernels that cannot run on this machine (see :attr:`PrecompileReport.unreached`)."""
    from companion import _blas
    if _blas.BLAS_AVAILABLE:
        return set()
    return {"companion.functional.conv_gemm._conv2d_forward_gemm",
            "companion.functional.conv_gemm._conv2d_backward_gemm"}


def _status(kernels: dict[str, object]) -> tuple[KernelStatus, ...]:
    direct = {name for name, disp in kernels.items() if disp.signatures}
    reached = set(direct)
    changed = True
    while changed:                      # callees of reached kernels, transitively
        changed = False
        for name, disp in kernels.items():
            if name in reached:
                continue
            module, _, attr = name.rpartition(".")
            for caller in reached.copy():
                caller_module, _, _ = caller.rpartition(".")
                code = kernels[caller].py_func.__code__
                if caller_module == module and attr in code.co_names + code.co_freevars:
                    reached.add(name)
                    changed = True
                    break
    out = []
    for name, disp in kernels.items():
        stats = disp.stats
        out.append(KernelStatus(name, len(disp.signatures), int(sum(stats.cache_hits.values())),
                                int(sum(stats.cache_misses.values())), name in reached))
    return tuple(out)


# --------------------------------------------------------------------------
# Calling them: one function per module, each in both dtypes
# --------------------------------------------------------------------------

def _images(rng, dtype, shape=(2, 3, 6, 6)) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def _warm_activations(rng, dtype) -> None:
    from companion.functional import activations as a
    x = _images(rng, dtype)
    dout = np.ones_like(x)
    for forward, backward in ((a.relu_forward, a.relu_backward),
                              (a.leaky_relu_forward, a.leaky_relu_backward),
                              (a.sigmoid_forward, a.sigmoid_backward),
                              (a.tanh_forward, a.tanh_backward)):
        _, cache = forward(x)
        backward(dout, cache)


def _run_batchnorm(rng, dtype, shape) -> None:
    from companion.functional import batchnorm_backward, batchnorm_forward
    x = rng.standard_normal(shape).astype(dtype)
    C = shape[1]
    gamma, beta = np.ones(C, dtype), np.zeros(C, dtype)
    mean, var = np.zeros(C, dtype), np.ones(C, dtype)
    for train in (True, False):
        out, cache, _ = batchnorm_forward(x, gamma, beta, mean, var, train=train)
        batchnorm_backward(np.ones_like(out), cache)


def _warm_batchnorm(rng, dtype) -> None:
    _run_batchnorm(rng, dtype, (4, 3))                  # the dense kernels


def _warm_batchnorm_spatial(rng, dtype) -> None:
    _run_batchnorm(rng, dtype, (2, 3, 4, 4))            # the per-channel kernels


def _run_conv(rng, dtype, algorithms) -> None:
    from companion.functional import conv2d_backward, conv2d_forward
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = np.zeros(4, dtype)
    # 2 images and 4: "gemm" has kernels for small batches and for larger ones
    for x in (_images(rng, dtype), _images(rng, dtype, (4, 3, 6, 6))):
        for algorithm in algorithms:
            out, cache = conv2d_forward(x, w, b, stride=1, padding=1, algorithm=algorithm)
            conv2d_backward(np.ones_like(out), cache)


def _warm_conv(rng, dtype) -> None:
    _run_conv(rng, dtype, ("naive",))


def _warm_conv_direct(rng, dtype) -> None:
    _run_conv(rng, dtype, ("direct",))


def _warm_conv_gemm(rng, dtype) -> None:
    _run_conv(rng, dtype, ("gemm", "im2col"))


def _warm_im2col(rng, dtype) -> None:
    from companion.functional import col2im, im2col
    x = _images(rng, dtype)
    cols = im2col(x, (3, 3), stride=1, padding=1)
    col2im(cols, x.shape, (3, 3), stride=1, padding=1)


def _warm_pooling(rng, dtype) -> None:
    from companion.functional import pooling as p
    x = _images(rng, dtype, (2, 3, 4, 4))
    for forward, backward in ((p.max_pool2d_forward, p.max_pool2d_backward),
                              (p.avg_pool2d_forward, p.avg_pool2d_backward)):
        out, cache = forward(x, size=2, stride=2)
        backward(np.ones_like(out), cache)


def _warm_dropout(rng, dtype) -> None:
    from companion.functional import dropout_backward, dropout_forward
    x = _images(rng, dtype)
    out, cache = dropout_forward(x, 0.5, rng=np.random.default_rng(0), train=True)
    dropout_backward(np.ones_like(out), cache)


def _step_each(optimizers, rng, dtype) -> None:
    for optimizer in optimizers:
        params = {"w": rng.standard_normal((3, 2)).astype(dtype)}
        grads = {"w": rng.standard_normal((3, 2)).astype(dtype)}
        optimizer.step(params, grads)


def _warm_sgd(rng, dtype) -> None:
    from companion.optim.sgd import SGD
    _step_each((SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4), SGD(lr=0.1)),
               rng, dtype)


def _warm_adaptive(rng, dtype) -> None:
    from companion.optim.adaptive import Adagrad, RMSprop
    _step_each((Adagrad(), RMSprop(momentum=0.9)), rng, dtype)


def _warm_adam(rng, dtype) -> None:
    from companion.optim.adam import Adam, AdamW
    _step_each((Adam(), AdamW()), rng, dtype)


def _warm_data(rng, dtype) -> None:
    from companion.data import pad_crop, rotate
    x = _images(rng, dtype)
    pad_crop(x, 2, np.zeros((x.shape[0], 2), dtype=np.int64))
    rotate(x, 15.0)


def _warm_regression(rng, dtype) -> None:
    if dtype is not np.float64:         # the regression helpers are float64 only
        return
    from companion.teaching import least_squares_loss_and_grad, sgd_linear_regression
    X = rng.standard_normal((8, 3))
    y = rng.standard_normal(8)
    least_squares_loss_and_grad(np.zeros(3), X, y)
    sgd_linear_regression(X, y, lr=0.1, epochs=2, batch_size=4, rng=np.random.default_rng(0))


def _warm_winograd(rng, dtype) -> None:
    from companion.teaching.winograd import winograd_conv2d
    x = rng.standard_normal((1, 2, 4, 4)).astype(dtype)
    w = rng.standard_normal((2, 2, 3, 3)).astype(dtype)
    winograd_conv2d(x, w, np.zeros(2, dtype), 1)


#: Module -> function that runs each of its kernels for one dtype.
def _warm_validate(rng, dtype) -> None:
    from companion._validate import all_finite
    all_finite(rng.standard_normal(4).astype(dtype))


RUNNERS: dict[str, Callable] = {
    "companion._validate": _warm_validate,
    "companion.functional.activations": _warm_activations,
    "companion.functional.batchnorm": _warm_batchnorm,
    "companion.functional.batchnorm_spatial": _warm_batchnorm_spatial,
    "companion.functional.conv": _warm_conv,
    "companion.functional.conv_direct": _warm_conv_direct,
    "companion.functional.conv_gemm": _warm_conv_gemm,
    "companion.functional.im2col_ops": _warm_im2col,
    "companion.functional.pooling": _warm_pooling,
    "companion.functional.dropout": _warm_dropout,
    "companion.optim.sgd": _warm_sgd,
    "companion.optim.adaptive": _warm_adaptive,
    "companion.optim.adam": _warm_adam,
    "companion.data.transforms": _warm_data,
    "companion.teaching.regression": _warm_regression,
    "companion.teaching.winograd": _warm_winograd,
}


def precompile() -> PrecompileReport:
    """Import every module of the package and run each of its kernels once.

    Tiny inputs (a few hundred elements), float64 and float32, every
    convolution algorithm, serial and parallel batch-norm drivers. Nothing
    is printed; compiled code goes to Numba's cache.

    Returns
    -------
    PrecompileReport
        Time taken and, per kernel, signatures compiled or loaded.
    """
    from numba import config

    kernels = jitted_kernels()          # imports every module first
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    for dtype in DTYPES:
        for warm in RUNNERS.values():
            warm(rng, dtype)
    seconds = time.perf_counter() - start
    if config.DISABLE_JIT:
        return PrecompileReport(seconds, False, ())
    return PrecompileReport(seconds, True, _status(kernels))


def _format(report: PrecompileReport) -> str:
    from numba import config

    if not report.jit_enabled:
        return (f"companion.precompile: NUMBA_DISABLE_JIT is set, ran every kernel as plain "
                f"Python in {report.seconds:.1f} s (nothing compiled or cached)")
    cpu = config.CPU_NAME or "host"
    lines = [f"companion.precompile: {len(report.kernels)} kernels, "
             f"{report.compiled} signatures compiled, {report.loaded} loaded from the cache, "
             f"in {report.seconds:.1f} s (NUMBA_CPU_NAME={cpu})"]
    if report.unreached:
        lines.append("not reached by precompiling (add them to companion/precompile.py): "
                     + ", ".join(report.unreached))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: warm the cache, print one summary line.

    ``--check`` exits with status 1 when a kernel of the package was not
    reached (a new kernel that :data:`RUNNERS` does not call yet).
    """
    parser = argparse.ArgumentParser(prog="python -m companion.precompile",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a kernel of the package was not reached")
    args = parser.parse_args(argv)
    report = precompile()
    print(_format(report))
    if args.check and report.unreached:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
