"""``python -m benchmarks``: time the package's layers and networks against NumPy and PyTorch.

Cases (``--cases``, default all): ``layers`` (the conv and pool layers of both
networks), ``train`` (a LeNet-5 step with the functional API), ``models``
(both networks' whole training steps with ``companion.nn``), ``predict`` (one
image, evaluation mode), ``grid`` (conv and pool layers over batch 1-256,
16-128 px, 3-64 channels) and ``startup`` (import and first step with an
empty and a warm Numba cache).

Prints one table: the median time of each case per implementation, the
ratios companion / NumPy reference and companion / PyTorch (below 1: the
package is faster), and companion's FLOP/s as a share of the measured
matrix-product peak. See ``python -m benchmarks --help``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np

# Imported before torch on purpose: the package sets OMP_WAIT_POLICY=PASSIVE
# (companion._threads) before any OpenMP runtime is loaded. PyTorch's libgomp,
# loaded next, is then also the runtime Numba's pool uses (same library name),
# so both libraries run under the same policy.
from benchmarks.cases import NETWORKS, network_cases
from benchmarks.grid import grid_cases
from benchmarks.machine import matmul_peak, startup_times
from benchmarks.models import predict_one_cases, training_step_cases
from benchmarks.report import format_table
from benchmarks.timing import time_interleaved
from benchmarks.torch_layers import load_torch
from benchmarks.training import lenet5_training_case
from companion import _blas
from companion._memory import memory_policy_status
from companion._threads import thread_policy_status

CASES = ("layers", "train", "models", "predict", "grid", "startup")


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--cases", default=",".join(CASES),
                   help="comma-separated, from: " + ", ".join(CASES) + " (default: all)")
    p.add_argument("--networks", default="lenet,net32",
                   help="layer cases of these networks, comma-separated, from: "
                        + ", ".join(NETWORKS))
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    p.add_argument("--per-round", type=int, default=3, help="timed calls per round (default 3)")
    p.add_argument("--algorithms", default="",
                   help="also time the companion convolution with these fixed algorithms, "
                        "comma-separated (direct, gemm, im2col, naive)")
    p.add_argument("--no-torch", action="store_true", help="do not compare with PyTorch")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = _parse(argv)
    import numba

    threads = numba.get_num_threads()
    torch = None if args.no_torch else load_torch(threads)
    dtype = np.dtype(args.dtype)
    algorithms = [a for a in args.algorithms.split(",") if a]
    selected = [c for c in args.cases.split(",") if c]
    unknown = set(selected) - set(CASES)
    if unknown:
        raise SystemExit(f"unknown --cases {sorted(unknown)}; choose from {CASES}")
    policy = thread_policy_status()
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}"
          f" ({threads} threads, layer {policy['threading_layer']}, OMP_WAIT_POLICY="
          f"{policy['omp_wait_policy']}), "
          f"torch {torch.__version__ + f' ({torch.get_num_threads()} threads)' if torch else 'not used'}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    memory = memory_policy_status()
    print(f"memory policy: {'applied' if memory['applied'] else 'not applied'} "
          f"({memory['reason']})")
    print(f"OpenBLAS kernels for 'gemm': {_blas.BLAS_AVAILABLE} ({_blas.BLAS_LIBRARY}; "
          f"OpenBLAS threads outside them: {_blas.blas_num_threads()}); "
          f"batch {args.batch}, {dtype}, {args.rounds} rounds x {args.per_round} calls")
    peak = matmul_peak()
    print(f"measured float32 matrix-product peak (2048 x 2048, NumPy's BLAS): "
          f"{peak:.0f} GFLOP/s; the column 'peak' is companion's FLOP/s as a share of it")
    cases = []
    if "layers" in selected:
        for key in args.networks.split(","):
            cases += network_cases(NETWORKS[key], batch=args.batch, dtype=dtype, torch=torch,
                                   algorithms=algorithms)
    if "train" in selected:
        cases.append(lenet5_training_case(batch=args.batch, dtype=dtype, torch=torch))
    if "models" in selected:
        cases += training_step_cases(batch=args.batch, torch=torch)
    if "predict" in selected:
        cases += predict_one_cases(torch=torch)
    if "grid" in selected:
        cases += grid_cases(torch=torch)
    timings = {}
    for case in cases:
        timings[case.name, case.group] = time_interleaved(
            case.implementations, rounds=args.rounds, per_round=args.per_round)
    print()
    print(format_table(cases, timings, peak_gflops=peak))
    if "startup" in selected:
        start = startup_times()
        for label, what in (("cold", "empty Numba cache: every kernel compiled"),
                            ("warm", "the cache the cold run left")):
            t = start[label]
            print(f"start, {label} ({what}): import {t['import']:.2f} s, first LeNet-5 step "
                  f"{t['first_step']:.2f} s, second step {t['second_step'] * 1e3:.1f} ms")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
