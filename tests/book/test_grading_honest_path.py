"""The instructor's honest path through ``tools/grade.py``, on a small course.

Two of three assignments are handed out (``release 01_background 04_softmax``);
``validate`` then checks the third, and must leave the course as it was. Two
students hand in ``01_background``: ``solution`` (every answer right) and
``damaged`` (the same answers, with the nbgrader metadata of one answer cell
broken and a test cell's points raised to 100). Then ``autograde``, ``export``
and ``feedback`` run; then ``autograde`` again where no sandbox can be made
(it must refuse), and with ``--unsafe`` (it must grade, and say so).
"""
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import sandbox  # noqa: E402

A, B, C = "01_background", "04_softmax", "03_gradient_descent"


def _grade(root, *args, env=None):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "grade.py"), "--course",
                           str(root), *args], capture_output=True, text=True, timeout=1800,
                          env=env)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def _without_sandbox_tools() -> dict:
    """The environment with a PATH on which bwrap cannot be found."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent)
    return env


def _strip(source: str) -> str:
    return "\n".join(ln for ln in source.splitlines() if "SOLUTION" not in ln)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("honest") / "course"
    (root / "source").mkdir(parents=True)
    for a in (A, B, C):
        shutil.copytree(ROOT / "exercises" / "source" / a, root / "source" / a)
    for name in ("nbgrader_config.py", "nbgrader_plugins.py"):
        shutil.copy(ROOT / "exercises" / name, root / name)
    out = {"release": _grade(root, "release", A, B)}
    released = {p: _digest(p) for p in sorted((root / "release").rglob("*.ipynb"))}
    out["validate"] = _grade(root, "validate", C)
    out["released_after_validate"] = {p: _digest(p)
                                      for p in sorted((root / "release").rglob("*.ipynb"))}
    source = nbformat.read(root / "source" / A / f"{A}.ipynb", as_version=4)
    release = nbformat.read(root / "release" / A / f"{A}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: _strip(c.source) for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}

    def filled():
        nb = nbformat.from_dict(json.loads(nbformat.writes(release)))
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution"):
                cell.source = answers[meta["grade_id"]]
        return nb

    damaged = filled()
    for cell in damaged.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "params_solution":
            cell.metadata["nbgrader"] = "broken"           # unreadable metadata
        elif meta.get("grade_id") == "chain_dw_check":
            meta["points"] = 100                              # altered metadata
    for student, nb in (("solution", filled()), ("damaged", damaged)):
        folder = root / "submitted" / student / A
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{A}.ipynb")
    out["autograde"] = _grade(root, "autograde", A)
    out["export"] = _grade(root, "export")
    out["feedback"] = _grade(root, "feedback", A)
    records = {s: _digest(root / "autograded" / s / A / "result.json")
               for s in ("solution", "damaged")}
    out["refused"] = _grade(root, "autograde", A, "--force", env=_without_sandbox_tools())
    out["records_after_refusal"] = {s: _digest(root / "autograded" / s / A / "result.json")
                                    for s in ("solution", "damaged")}
    with open(root / "grades.csv", newline="") as fh:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(fh)}
    with open(root / "grades_by_cell.csv", newline="") as fh:
        cells = {}
        for r in csv.DictReader(fh):
            cells.setdefault((r["assignment"], r["student_id"]), {})[r["cell"]] = \
                (float(r["points"]), float(r["max_points"]))
    out["unsafe"] = _grade(root, "autograde", A, "--force", "--unsafe",
                           env=_without_sandbox_tools())
    return {"root": root, "out": out, "released": released, "records": records,
            "rows": rows, "cells": cells}


def test_release_export_and_feedback_succeed(course):
    for name in ("release", "validate", "autograde", "export", "feedback", "unsafe"):
        proc = course["out"][name]
        assert proc.returncode == 0, f"{name}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def test_validate_checks_the_assignment_and_leaves_the_course_alone(course):
    assert f"{C}: solutions pass every test; release fails every check" \
        in course["out"]["validate"].stdout
    assert course["out"]["released_after_validate"] == course["released"]
    assert not (course["root"] / "release" / C).exists()


def test_export_lists_only_the_assignments_handed_out(course):
    assert {a for a, _ in course["rows"]} == {A, B}
    row = course["rows"][(B, "solution")]
    assert (row["status"], float(row["score"])) == ("no submission", 0)


@pytest.mark.skipif(sandbox.problem() is not None, reason="no sandbox on this machine")
def test_damaged_metadata_is_restored_and_reported(course):
    solution, damaged = course["rows"][(A, "solution")], course["rows"][(A, "damaged")]
    assert float(solution["score"]) == float(solution["max_score"]) > 0
    assert solution["integrity"] == ""
    # the cell whose metadata cannot be read ran as an ordinary cell: its answers are
    # still defined, so nothing is lost; the altered points are ignored
    assert damaged["status"] == "graded"
    assert course["cells"][(A, "damaged")] == course["cells"][(A, "solution")]
    assert float(damaged["max_score"]) == float(solution["max_score"])
    assert "metadata is damaged" in damaged["integrity"]
    assert "cell chain_dw_check: its nbgrader metadata was altered: restored" \
        in damaged["integrity"]


def test_autograde_refuses_without_a_sandbox_and_changes_nothing(course):
    proc = course["out"]["refused"]
    assert proc.returncode == 1
    assert "bwrap is not installed" in proc.stdout and "--unsafe" in proc.stdout
    assert course["out"]["records_after_refusal"] == course["records"]


def test_unsafe_grades_and_says_so(course):
    proc = course["out"]["unsafe"]
    assert "WARNING: --unsafe: student code runs without a sandbox" in proc.stdout
    record = json.loads((course["root"] / "autograded" / "solution" / A / "result.json")
                        .read_text())
    assert record["sandboxed"] is False
    assert sum(record["scores"].values()) == float(course["rows"][(A, "solution")]["max_score"])


def test_the_feedback_page_renders_math_and_shows_no_internal_frames(course):
    page = (course["root"] / "feedback" / "damaged" / A / f"{A}.html").read_text()
    assert "window.MathJax" in page and "tex-chtml.js" in page
    assert "MathJax.Hub.Config" not in page            # MathJax 2's configuration is gone
    assert "$$" in page                                  # display math left for MathJax
    local = ROOT / "_mathjax" / "_static" / "mathjax" / "tex-chtml.js"
    if local.is_file():                                  # offline: a copy next to the pages
        assert 'src="../../_mathjax/tex-chtml.js"' in page
        assert (course["root"] / "feedback" / "_mathjax" / "tex-chtml.js").is_file()
    assert "Score: " in page
    for internal in ("companion/teaching/checks.py", str(ROOT), str(course["root"])):
        assert internal not in page, internal


@pytest.mark.parametrize("args, message", [
    (("--jobs", "-1"), "--jobs must be 0"),
    (("--memory", "12"), "--memory: a memory limit of at least 64M"),
    (("--memory", "lots"), "--memory: a size such as 2G"),
])
def test_bad_options_are_refused_with_a_clear_message(course, args, message):
    proc = _grade(course["root"], "autograde", A, *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
