"""Grade one submission in a sandbox, score it in this process (used by ``tools/grade.py``).

For each assignment, :class:`Assignment` holds what the grader decides once:
the release notebook (locked cells, stubs) and the plan of checks
(``grading_plan.build_plan``: cases and expected values, computed here). For
each submission, :func:`grade_submission`

1. reads the submitted notebook as data and builds the notebook to run: the
   student's answers and added cells, the release's locked cells (hidden tests
   are not in it);
2. runs it in a sandbox of its own (``sandbox.py``): a private copy, no access
   to the course, no network, limits; the last cell collects what the
   student's functions return on the plan's cases;
3. scores every test cell here (``grading_plan.judge``), builds the graded
   notebook (test cells show this process's verdict, never the kernel's) and
   the integrity report.

It touches nothing in the course folder: ``grade.py`` writes the results, the
gradebook and the logs from its main thread.
"""
from __future__ import annotations

import copy
import hashlib
import json
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple, Optional

import nbformat

import grading_codec
import grading_plan
import sandbox

TOOLS = Path(__file__).resolve().parent
RUNNER_FILES = ("grading_runner.py", "grading_harvest.py", "grading_audit.py",
                "grading_codec.py")
MAX_NOTEBOOK_BYTES = 20 * 2 ** 20
SAFE_MIME = ("text/plain", "image/png", "image/jpeg")

# error names the grading machinery writes into a cell's outputs
SPECIAL_ERRORS = {
    "DeadKernelError": "the kernel died (os._exit, a segfault, the memory limit...)",
    "CellTimeoutError": "timed out",
    "GradingTimeLimit": "not run: notebook time limit reached",
}


class Settings(NamedTuple):
    cell_timeout: int = 300
    notebook_timeout: int = 1800
    max_restarts: int = 10
    max_lines: int = 1000
    max_traceback: int = 100
    max_chars: int = 20000
    limits: sandbox.Limits = sandbox.Limits()
    unsafe: bool = False


class Assignment(NamedTuple):
    name: str
    release: object              # the release notebook
    plan: grading_plan.Plan
    plan_bytes: bytes            # the sandbox's part of the plan, pickled
    plugins: Path                # the course's nbgrader_plugins.py


class Graded(NamedTuple):
    """The outcome of one submission (all of it decided in the grader's process)."""

    student: str
    assignment: str
    status: str                  # graded, missing notebook, invalid notebook, grading failed
    details: str
    scores: dict                 # grade_id -> points
    notebook: Optional[object]   # the graded notebook
    integrity: dict
    log: str


def load_assignment(name: str, source: Path, release: Path, plugins: Path) -> Assignment:
    source_nb = nbformat.read(source, as_version=4)
    release_nb = nbformat.read(release, as_version=4)
    plan = grading_plan.build_plan(source_nb)
    return Assignment(name, release_nb, plan,
                      pickle.dumps(grading_plan.harvest_plan(plan)), plugins)


def sha256(path: Path) -> Optional[str]:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def read_notebook(path: Path):
    """The notebook at ``path``, or ``ValueError`` saying why it is not one."""
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"larger than {MAX_NOTEBOOK_BYTES // 2 ** 20} MB")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # JSON errors, encoding errors, wrong structure
        raise ValueError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    try:
        nbformat.validate(nb)
    except Exception as exc:
        raise ValueError(f"not a valid notebook: {str(exc).splitlines()[0]}")
    return nb


# --------------------------------------------------------------------------
# One submission
# --------------------------------------------------------------------------

def grade_submission(assignment: Assignment, student: str, path: Path, settings: Settings,
                     *, slot: int, numba_cache: Optional[Path], scratch: Path) -> Graded:
    a = assignment.name
    zero = {gid: 0.0 for gid in assignment.plan.points}
    before = sha256(path)
    integrity = {"sha256_before": before}
    try:
        submitted = read_notebook(path)
    except ValueError as exc:
        return Graded(student, a, "invalid notebook", f"{path.name} cannot be read: {exc}",
                      zero, None, _finish(integrity, path), "")
    nb, events, matched = grading_plan.assemble(assignment.release, submitted)
    integrity["cells"] = events
    if matched == 0:
        return Graded(student, a, "grading failed",
                      "the notebook holds none of the assignment's cells (answers pasted "
                      "into a new notebook?): hand in the released notebook; see "
                      "logs/autograde.log", zero, None, _finish(integrity, path),
                      "none of the assignment's nbgrader cells were found\n")
    integrity["code"] = grading_plan.code_flags(nb, assignment.plan, assignment.release)
    tmp = Path(tempfile.mkdtemp(prefix=f"{a}-", dir=scratch))
    try:
        out, proc_log = _run_in_sandbox(assignment, nb, settings, tmp, slot, numba_cache)
        executed = _read_executed(out / "executed.ipynb")
        if executed is None:
            executed = copy.deepcopy(nb)
            events.append("the notebook could not be run to the end: see logs/autograde.log")
        verdict = grading_plan.judge(assignment.plan, out, settings.cell_timeout)
        run_events = execution_events(executed)
        integrity["limits"] = _limits_hit(executed, out, proc_log)
        integrity["outside"] = grading_plan.audit_flags(out) + _refusals(executed)
        harvest_error = out / "harvest_error.txt"
        if harvest_error.is_file():
            integrity["limits"].append("the grader's last cell failed: "
                                       + harvest_error.read_text(errors="replace")[:300])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    points = assignment.plan.points
    scores = {gid: (points[gid] if verdict.get(gid) is None else 0.0) for gid in points}
    graded = graded_notebook(executed, verdict, points, settings.max_chars)
    details = "; ".join(dict.fromkeys(events + run_events))
    return Graded(student, a, "graded", details, scores, graded, _finish(integrity, path),
                  proc_log)


def _finish(integrity: dict, path: Path) -> dict:
    integrity["sha256_after"] = sha256(path)
    for key in ("cells", "limits", "outside", "code"):
        integrity.setdefault(key, [])
    return integrity


def _run_in_sandbox(assignment: Assignment, nb, settings: Settings, tmp: Path, slot: int,
                    numba_cache: Optional[Path]):
    grading, work = tmp / "grading", tmp / "work"
    grading.mkdir()
    (work / "out").mkdir(parents=True)
    for name in RUNNER_FILES:
        shutil.copy(TOOLS / name, grading / name)
    shutil.copy(assignment.plugins, grading / "nbgrader_plugins.py")
    (grading / "plan.pkl").write_bytes(assignment.plan_bytes)
    nbformat.write(nb, grading / "notebook.ipynb")
    n_calls = grading_plan.n_calls(assignment.plan)
    call_timeout = settings.cell_timeout
    job = {"notebook": f"{sandbox.GRADING}/notebook.ipynb", "plan": f"{sandbox.GRADING}/plan.pkl",
           "out": f"{sandbox.HOME}/out", "cell_timeout": settings.cell_timeout,
           "notebook_timeout": settings.notebook_timeout, "max_restarts": settings.max_restarts,
           "call_timeout": call_timeout, "n_calls": n_calls, "max_lines": settings.max_lines,
           "max_traceback": settings.max_traceback, "max_chars": settings.max_chars}
    (grading / "job.json").write_text(json.dumps(job))
    sandbox.prepare(grading)
    tmp.chmod(0o755)
    if numba_cache is not None and numba_cache.is_dir():
        shutil.copytree(numba_cache, work / ".numba")
    argv = [sandbox.python_in_sandbox(), f"{sandbox.GRADING}/grading_runner.py",
            f"{sandbox.GRADING}/job.json"]
    wall = settings.notebook_timeout + call_timeout * (len(assignment.plan.checks) + 1) + 300
    if settings.unsafe:
        proc = _run_unsafe(work, grading, wall)
    else:
        proc = sandbox.run(work, grading, argv, limits=settings.limits, slot=slot, timeout=wall)
    log = proc.stdout[-20000:]
    if proc.returncode == -9:
        log += f"\n[grader] the sandbox was stopped after {wall} s\n"
    elif proc.returncode != 0:
        log += f"\n[grader] the sandbox exited with status {proc.returncode}\n"
    return work / "out", log


def _run_unsafe(work: Path, grading: Path, wall: float):
    """``--unsafe``: the same run as the instructor's user, without isolation."""
    import os
    import subprocess
    import sys
    job = json.loads((grading / "job.json").read_text())
    job.update(notebook=str(grading / "notebook.ipynb"), plan=str(grading / "plan.pkl"),
               out=str(work / "out"))
    (grading / "job.json").write_text(json.dumps(job))
    env = dict(os.environ, GRADING_OUT=str(work / "out"), NUMBA_NUM_THREADS="1",
               NUMBA_THREADING_LAYER="workqueue", OPENBLAS_NUM_THREADS="1")
    # the kernel is started as `python`: this Python's, activated environment or not
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [sys.executable, str(grading / "grading_runner.py"), str(grading / "job.json")]
    try:
        return subprocess.run(cmd, cwd=work, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=wall)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return subprocess.CompletedProcess(cmd, -9, out)


def _read_executed(path: Path):
    try:
        return read_notebook(path)
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------
# Reading the run
# --------------------------------------------------------------------------

def _errors(nb):
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "an added cell")
        for out in cell.get("outputs", []):
            yield gid, out


def execution_events(nb) -> list[str]:
    """What happened to cells when they ran, in words (from the sandbox's notebook)."""
    events = []
    for gid, out in _errors(nb):
        if out.get("output_type") == "error" and out.get("ename") in SPECIAL_ERRORS:
            events.append(f"cell {gid}: {SPECIAL_ERRORS[out['ename']]}")
        elif out.get("output_type") == "error" and out.get("ename") in (
                "SyntaxError", "IndentationError", "TabError"):
            events.append(f"cell {gid}: {out['ename']}")
        if "Output truncated" in json.dumps(out):
            events.append(f"cell {gid}: output truncated")
    return list(dict.fromkeys(events))


def _limits_hit(nb, out: Path, log: str) -> list[str]:
    hits = []
    for gid, o in _errors(nb):
        if o.get("output_type") != "error":
            continue
        name = o.get("ename")
        if name == "MemoryError":
            hits.append(f"cell {gid}: the memory limit (MemoryError)")
        elif name in SPECIAL_ERRORS:
            hits.append(f"cell {gid}: {SPECIAL_ERRORS[name]}")
        elif name == "OSError" and "File too large" in str(o.get("evalue", "")):
            hits.append(f"cell {gid}: the file size limit")
        elif name == "BlockingIOError" or "Resource temporarily unavailable" in str(
                o.get("evalue", "")):
            hits.append(f"cell {gid}: the process limit")
    for stem in sorted(out.glob("c*-*.json")):
        try:
            got = grading_codec.read(str(stem.with_suffix("")))
        except ValueError:
            continue
        if isinstance(got, dict) and "died" in got:
            hits.append(f"a call of the student's function was stopped ({got['died']})")
    if "[grader] the sandbox was stopped" in log:
        hits.append("the whole run was stopped at its time limit")
    return list(dict.fromkeys(hits))


def _refusals(nb) -> list[str]:
    found = []
    for gid, o in _errors(nb):
        text = f"{o.get('ename', '')}: {o.get('evalue', '')}" if o.get("output_type") == "error" \
            else str(o.get("text", ""))
        for marker, what in (("Read-only file system", "a write to a read-only folder"),
                             ("Network is unreachable", "a network connection")):
            if marker in text:
                found.append(f"cell {gid}: refused {what}")
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------------
# The graded notebook
# --------------------------------------------------------------------------

def _safe_outputs(outputs, max_chars: int) -> list:
    """Outputs with only plain text and images: a student's HTML or script never reaches
    a feedback page."""
    safe = []
    for o in outputs:
        kind = o.get("output_type")
        if kind in ("execute_result", "display_data"):
            data = {k: v for k, v in o.get("data", {}).items() if k in SAFE_MIME}
            if not data:
                continue
            o = copy.deepcopy(o)
            o["data"] = data
            o["metadata"] = {}
        elif kind == "stream":
            o = copy.deepcopy(o)
            text = str(o.get("text", ""))
            if len(text) > max_chars + 200:      # the sandbox already cut it, with a note
                text = text[:max_chars] + f"\n... Output truncated ({len(text)} characters)\n"
            o["text"] = text
        elif kind == "error":
            o = copy.deepcopy(o)
            o["traceback"] = [str(t)[:max_chars] for t in o.get("traceback", [])][:100]
        else:
            continue
        safe.append(o)
    return safe


def graded_notebook(executed, verdict: dict, points: dict, max_chars: int):
    """The executed notebook with each test cell's outputs replaced by the grader's verdict."""
    nb = copy.deepcopy(executed)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in points:
            failure = verdict.get(gid)
            if failure is None:
                cell.outputs = [nbformat.v4.new_output(
                    "stream", name="stdout",
                    text=f"✓ {gid}: every check passes, {points[gid]:g} of {points[gid]:g} "
                         "point(s)\n")]
            else:
                cell.outputs = [nbformat.v4.new_output(
                    "error", ename="CheckFailure", evalue=failure,
                    traceback=[f"CheckFailure: {failure}",
                               f"{gid}: 0 of {points[gid]:g} point(s)"])]
        else:
            cell.outputs = _safe_outputs(cell.get("outputs", []), max_chars)
    return nb
