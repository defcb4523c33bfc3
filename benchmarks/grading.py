"""``python -m benchmarks.grading``: how many submissions a minute ``autograde`` grades.

A temporary course releases one assignment (``01_background`` by default) and
``--students`` synthetic students hand it in (100 by default), a fixed mix
drawn with a seeded generator: all answers right, one or two answers wrong,
the release untouched, an answer that raises, an added scratch cell. They are
graded with the documented command,

    python tools/grade.py --course DIR autograde ASSIGNMENT --jobs N

each submission in its own sandbox, ``N`` at a time (default: every core). The
report gives submissions per minute and, as references measured in the same
run on the first ``--reference`` students (20 by default):

* the same command with ``--jobs 1`` (the speed-up of grading in parallel);
* the same command with ``--unsafe`` and ``--jobs N`` (what the sandbox costs).

The Numba cache the sandboxes share is compiled before the timed runs (it is
kept between runs of the grader, so only a first run on a machine pays it).
Timings depend on the machine: the ratios are what to compare.
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GRADE = ROOT / "tools" / "grade.py"

# {answer cell: a wrong answer}, per assignment the benchmark knows
WRONG = {
    "01_background": {
        "conv_side_solution": "def conv_output_side(n, k, p=0, s=1):\n"
                              "    return (n + 2 * p - k) / s + 1",
        "chain_solution": "dL_dw = 12\ndL_db = 3",
        "neuron_solution": "def linear_neuron_loss_and_grad(w, X, y):\n"
                           "    raise ValueError('not finished')",
    },
}
KINDS = ("right", "one wrong", "two wrong", "blank", "raises", "scratch cell")
WEIGHTS = (0.4, 0.2, 0.1, 0.1, 0.1, 0.1)


def _answers(source) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: "\n".join(
        ln for ln in c.source.splitlines() if "SOLUTION" not in ln)
        for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}


def _student(release, answers: dict, wrong: dict, kind: str, rng):
    nb = copy.deepcopy(release)
    mine = dict(answers)
    names = sorted(wrong)
    if kind == "one wrong":
        mine.update({k: wrong[k] for k in rng.choice(names, 1, replace=False)})
    elif kind == "two wrong":
        mine.update({k: wrong[k] for k in rng.choice(names, 2, replace=False)})
    elif kind == "raises":
        key = "neuron_solution" if "neuron_solution" in wrong else names[0]
        mine[key] = wrong[key]
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and kind != "blank":
            cell.source = mine[meta["grade_id"]]
    if kind == "scratch cell":
        nb.cells.insert(2, nbformat.v4.new_code_cell("scratch = [i * i for i in range(1000)]"))
    return nb


def _grade(course: Path, assignment: str, *extra: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(GRADE), "--course", str(course), "autograde",
                           assignment, "--force", *extra], text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"autograde failed:\n{proc.stdout[-3000:]}")
    return elapsed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.grading", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", type=int, default=100)
    p.add_argument("--reference", type=int, default=20,
                   help="students of the --jobs 1 and --unsafe references (default 20)")
    p.add_argument("--assignment", default="01_background", choices=sorted(WRONG))
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.students < 1 or not 1 <= args.reference <= args.students:
        p.error("need --students >= 1 and 1 <= --reference <= --students")
    a = args.assignment
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        course = Path(tmp) / "course"
        (course / "source").mkdir(parents=True)
        shutil.copytree(ROOT / "exercises" / "source" / a, course / "source" / a)
        for name in ("nbgrader_config.py", "nbgrader_plugins.py"):
            shutil.copy(ROOT / "exercises" / name, course / name)
        subprocess.run([sys.executable, str(GRADE), "--course", str(course), "release", a],
                       check=True, stdout=subprocess.DEVNULL)
        source = nbformat.read(course / "source" / a / f"{a}.ipynb", as_version=4)
        release = nbformat.read(course / "release" / a / f"{a}.ipynb", as_version=4)
        answers = _answers(source)
        kinds = rng.choice(len(KINDS), size=args.students, p=WEIGHTS)
        for i, k in enumerate(kinds):
            folder = course / "submitted" / f"student{i:03d}" / a
            folder.mkdir(parents=True)
            nbformat.write(_student(release, answers, WRONG[a], KINDS[k], rng),
                           folder / f"{a}.ipynb")
        print(f"{args.students} synthetic students on {a}: "
              + ", ".join(f"{int((kinds == j).sum())} {KINDS[j]}" for j in range(len(KINDS))),
              flush=True)
        # warm-up: one student (compiles the shared Numba cache on a first run)
        warm = Path(tmp) / "warm"
        shutil.copytree(course, warm, ignore=shutil.ignore_patterns("submitted"))
        shutil.copytree(course / "submitted" / "student000", warm / "submitted" / "student000")
        _grade(warm, a)
        print(f"grading {args.students} submissions, --jobs {args.jobs} ...", flush=True)
        whole = _grade(course, a, "--jobs", str(args.jobs))
        ref = Path(tmp) / "reference"
        shutil.copytree(course, ref, ignore=shutil.ignore_patterns("submitted", "autograded"))
        for i in range(args.reference):
            name = f"student{i:03d}"
            shutil.copytree(course / "submitted" / name, ref / "submitted" / name)
        print(f"references on {args.reference} of them ...", flush=True)
        sandboxed = _grade(ref, a, "--jobs", str(args.jobs))
        serial = _grade(ref, a, "--jobs", "1")
        unsafe = _grade(ref, a, "--jobs", str(args.jobs), "--unsafe")
    rate = args.students / whole * 60
    print(f"\n{args.students} submissions in {whole:.0f} s with --jobs {args.jobs}: "
          f"{rate:.1f} submissions per minute ({os.cpu_count()} cores)")
    print(f"on {args.reference} submissions: --jobs {args.jobs} {sandboxed:.0f} s, "
          f"--jobs 1 {serial:.0f} s (parallel speed-up x{serial / sandboxed:.2f}); "
          f"--unsafe {unsafe:.0f} s (the sandbox costs x{sandboxed / unsafe:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
