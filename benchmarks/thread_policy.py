"""``python -m benchmarks.thread_policy``: why the package makes idle threads sleep.

Times a few workloads (forward + backward of LeNet-5's conv1 and pool1, and
the whole training steps of LeNet-5 and of the 32x32x3 network with
``companion.nn``, batch 64, float32) in fresh processes under
three thread policies, on an idle machine and with one core kept busy by a
spinning process this script starts (a shared server, a laptop running a
browser, Binder):

``spinning``
    OpenMP's default: idle workers poll for work for a while before they
    sleep (GNU OpenMP: 300,000 polls). (Emulated by starting Numba's pool
    before the package is imported, so the package cannot set its policy.)
``spin 30k``
    The same with ``GOMP_SPINCOUNT=30000``: a tenth of the default polling,
    a middle way between spinning and sleeping.
``passive``
    ``OMP_WAIT_POLICY=PASSIVE``, what :mod:`companion._threads` sets.
``workqueue``
    Numba's own thread pool (``NUMBA_THREADING_LAYER=workqueue``) instead of
    OpenMP.

Configurations are run in alternation, ``--rounds`` times each; the table
shows the median over rounds of each process's median, in milliseconds.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

POLICIES = {
    "spinning": ({}, True),
    "spin 30k": ({"GOMP_SPINCOUNT": "30000"}, True),
    "passive": ({}, False),
    "workqueue": ({"NUMBA_THREADING_LAYER": "workqueue"}, False),
}

WORKER = r"""
import json, sys, time
import numpy as np
if sys.argv[1] == "1":
    import numba
    numba.get_num_threads()          # start Numba's pool first: the package's policy is too late
from companion.functional import conv2d_backward, conv2d_forward
from companion.functional import max_pool2d_backward, max_pool2d_forward
from benchmarks.models import training_step_cases
from benchmarks.training import lenet5_training_case

rng = np.random.default_rng(0)
x = rng.standard_normal((64, 1, 32, 32)).astype(np.float32)
w = rng.standard_normal((6, 1, 5, 5)).astype(np.float32)
b = rng.standard_normal(6).astype(np.float32)
d = rng.standard_normal((64, 6, 28, 28)).astype(np.float32)
a = rng.standard_normal((64, 6, 28, 28)).astype(np.float32)
dp = rng.standard_normal((64, 6, 14, 14)).astype(np.float32)

def conv():
    out, cache = conv2d_forward(x, w, b)
    conv2d_backward(d, cache)

def pool():
    out, cache = max_pool2d_forward(a)
    max_pool2d_backward(dp, cache)

step = lenet5_training_case(torch=None).implementations["companion"]
step32 = training_step_cases(batch=64)[1].implementations["companion"]
result = {}
for name, fn in (("conv1", conv), ("pool1", pool), ("train step", step),
                 ("32x32x3 step", step32)):
    for _ in range(3):
        fn()
    times = []
    for _ in range(int(sys.argv[2])):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    result[name] = float(np.median(times))
print(json.dumps(result))
"""


def _run(policy: str, calls: int) -> dict:
    extra, prestart = POLICIES[policy]
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(extra)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", WORKER, "1" if prestart else "0", str(calls)],
                          env=env, cwd=root, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.thread_policy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--calls", type=int, default=20, help="timed calls per workload per process")
    args = p.parse_args(argv)
    rows = []
    for scenario in ("idle", "one core busy"):
        samples = {policy: [] for policy in POLICIES}
        for _ in range(args.rounds):
            for policy in POLICIES:
                hog = None
                if scenario != "idle":
                    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                try:
                    samples[policy].append(_run(policy, args.calls))
                finally:
                    if hog is not None:
                        hog.kill()
                        hog.wait()
        for policy, runs in samples.items():
            medians = {k: np.median([r[k] for r in runs]) * 1e3 for k in runs[0]}
            rows.append((scenario, policy, medians))
    names = list(rows[0][2])
    print(f"median ms over {args.rounds} processes ({args.calls} calls each); "
          f"load average now {os.getloadavg()[0]:.2f}")
    print(f"{'machine':<14} {'policy':<10} " + " ".join(f"{n:>12}" for n in names))
    for scenario, policy, medians in rows:
        print(f"{scenario:<14} {policy:<10} " + " ".join(f"{medians[n]:12.3f}" for n in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
