"""Instructor commands for the exercises: release, validate, autograde, export, feedback.

    python tools/grade.py release   [ASSIGNMENT ...]   student versions -> exercises/release/
    python tools/grade.py validate  [ASSIGNMENT ...]   solutions pass every test, releases fail every check
    python tools/grade.py autograde [ASSIGNMENT ...]   grade exercises/submitted/<student>/<assignment>/
                                    [--force] [--timeout S] [--notebook-timeout S]
                                    [--jobs N] [--memory 2G] [--unsafe]
    python tools/grade.py export                       -> exercises/grades.csv, exercises/grades_by_cell.csv
    python tools/grade.py feedback  [ASSIGNMENT ...]   -> exercises/feedback/<student>/<assignment>/*.html
    python tools/grade.py all       [ASSIGNMENT ...]   release, autograde, export, feedback

Everything runs offline with nbgrader (no JupyterHub, no exchange): the course
root is ``exercises/`` (``--course DIR`` for another one), configured by its
``nbgrader_config.py``. Without ASSIGNMENT, every assignment under
``source/`` is processed.

A submission is the notebook ``submitted/<student>/<assignment>/<assignment>.ipynb``.
Every student folder found there gets a result, whatever is in it: a missing
notebook or a file that is not a valid notebook scores 0 with a status saying
so; a notebook whose kernel dies, hangs, prints megabytes or lost its test
cells is graded cell by cell (see ``exercises/nbgrader_plugins.py``). The
status of each submission is printed by ``autograde`` and written to the
``status`` column of ``grades.csv``. Exit status: 0 when every submission
was processed (whatever its score), 1 when a command itself failed.

Student code is untrusted. ``autograde`` runs each submission in a sandbox of
its own (``tools/sandbox.py``: bubblewrap, no network, no access to the course
folder, limits on memory, CPU time, processes and file size), ``--jobs`` of
them at a time, and scores it in its own process: the checks a test cell
makes are recorded from the source notebook and judged here, on what the
student's functions returned in the sandbox (``tools/grading_plan.py``). Only
this process writes the gradebook and the course folder. Where no sandbox can
be made, ``autograde`` refuses and says why, unless ``--unsafe`` is given.
Each submission gets an integrity report (cells restored, limits hit, attempts
outside the sandbox, use of the reference implementation, the notebook's hash
before and after), in ``autograded/<student>/<assignment>/result.json``, the
``integrity`` column of ``grades.csv`` and ``logs/autograde.log``.

``autograde`` grades the submissions that are new, or changed (the notebook
or the assignment's source is newer than the graded notebook) since they were
graded; ``--force`` grades them all again. nbgrader's output is appended to
``logs/<command>.log`` in the course folder. The nbgrader tools are run with
this Python's ``bin/`` first on ``PATH``, so the commands work from
``.venv/bin/python tools/grade.py ...`` without an activated environment.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import NamedTuple, Optional

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
DEFAULT_COURSE = ROOT / "exercises"
COURSE_ID = "cnn-backprop"



# --------------------------------------------------------------------------
# Course layout
# --------------------------------------------------------------------------

class Course:
    """Paths of an nbgrader course folder laid out as ``exercises/``."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        if not (self.root / "nbgrader_config.py").is_file():
            raise SystemExit(f"error: {self.root} has no nbgrader_config.py: not a course folder")

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    def assignments(self) -> list[str]:
        src = self.root / "source"
        return sorted(p.name for p in src.iterdir()
                      if p.is_dir() and (p / f"{p.name}.ipynb").is_file())

    def source(self, a: str) -> Path:
        return self.root / "source" / a / f"{a}.ipynb"

    def release(self, a: str) -> Path:
        return self.root / "release" / a / f"{a}.ipynb"

    def submitted(self, s: str, a: str) -> Path:
        return self.root / "submitted" / s / a / f"{a}.ipynb"

    def autograded(self, s: str, a: str) -> Path:
        return self.root / "autograded" / s / a / f"{a}.ipynb"

    def feedback(self, s: str, a: str) -> Path:
        return self.root / "feedback" / s / a / f"{a}.html"

    def students_with(self, a: str) -> list[str]:
        """Students with a folder ``submitted/<student>/<a>/`` (whatever it holds)."""
        sub = self.root / "submitted"
        if not sub.is_dir():
            return []
        return sorted(p.name for p in sub.iterdir() if (p / a).is_dir())

    def all_students(self) -> list[str]:
        sub = self.root / "submitted"
        return sorted(p.name for p in sub.iterdir() if p.is_dir()) if sub.is_dir() else []


def _pick(course: Course, names: list[str]) -> list[str]:
    known = course.assignments()
    for n in names:
        if n not in known:
            raise SystemExit(f"error: no assignment {n!r} in {course.root / 'source'} "
                             f"(known: {', '.join(known)})")
    return names or known


def _tool_env(extra: Optional[dict] = None) -> dict:
    """The environment for nbgrader: this Python's ``bin/`` first on ``PATH``.

    nbgrader runs some tools by name (``alembic`` to create or upgrade the
    gradebook), found through ``PATH``: with ``.venv/bin/python tools/grade.py``
    and no activated environment they would be missing (or be another
    installation's). Putting the folder of ``sys.executable`` first makes the
    commands work whether or not the environment is activated.
    """
    env = dict(os.environ, **(extra or {}))
    bindir = str(Path(sys.executable).parent)
    path = env.get("PATH", "")
    if path.split(os.pathsep)[0] != bindir:
        env["PATH"] = bindir + (os.pathsep + path if path else "")
    return env


def _nbgrader(course: Course, *args: str, env: Optional[dict] = None,
              log: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course folder; its output is appended to ``log`` (and returned)."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    full_env = _tool_env(env)
    proc = subprocess.run(cmd, cwd=course.root, env=full_env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"==== {stamp}\n$ nbgrader {' '.join(args)}\n{proc.stdout}\n")
    return proc


def _each(course: Course, assignments: list[str]) -> list[str]:
    """The assignment arguments of the nbgrader calls for ``assignments``: one glob ``*``
    when they are all the course's assignments (one nbgrader process instead of one per
    assignment, which saves seconds of start-up each), else the names themselves."""
    if len(assignments) > 1 and sorted(assignments) == course.assignments():
        return ["*"]
    return list(assignments)


def _read_notebook(path: Path):
    """The notebook at ``path``, or raise ``ValueError`` saying why it is not one."""
    import grading
    return grading.read_notebook(path)


def _gradebook(course: Course):
    from nbgrader.api import Gradebook
    return Gradebook(course.db_url, COURSE_ID)


# --------------------------------------------------------------------------
# release / validate
# --------------------------------------------------------------------------

def _add_setup_cell(path: Path) -> None:
    """Put the book's set-up cell (``tools/setup_cell.py``) at the top of a student notebook.

    Students open the released notebooks on Colab too, where the cell installs
    the companion package; elsewhere it only checks the package's version and
    prints nothing. It is a plain cell, not an nbgrader one: grading ignores it.
    """
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import setup_cell
    finally:
        sys.path.pop(0)
    nb = nbformat.read(path, as_version=4)
    if setup_cell.apply(nb, ROOT):
        nbformat.write(nb, path)


def cmd_release(course: Course, assignments: list[str]) -> int:
    """``nbgrader generate_assignment``: solutions stubbed and hidden tests removed."""
    for a in assignments:
        shutil.rmtree(course.root / "release" / a, ignore_errors=True)   # no stale release
    log = course.root / "logs" / "release.log"
    procs = [_nbgrader(course, "generate_assignment", arg, "--force", log=log)
             for arg in _each(course, assignments)]
    status = 0
    for a in assignments:
        ok = course.release(a).is_file()
        if ok:
            _add_setup_cell(course.release(a))
        print(f"{'released' if ok else 'FAILED  '} {a} -> {course.release(a).relative_to(course.root)}")
        status |= not ok
    if status:
        print("\n".join(p.stdout[-3000:] for p in procs if p.returncode != 0))
    return int(status)


_VALIDATING = re.compile(r"^\[ValidateApp \| INFO\] Validating '([^']*)'$", re.M)


def _validate_all(course: Course, paths: list[Path], invert: bool, success: str,
                  log: Path) -> dict:
    """``nbgrader validate [--invert] PATHS`` in one process: {path: (ok, its output)}."""
    args = ["validate", *(["--invert"] if invert else []), *map(str, paths)]
    proc = _nbgrader(course, *args, log=log)
    parts = _VALIDATING.split(proc.stdout)          # [preamble, path, text, path, text, ...]
    found = {Path(path).resolve(): text for path, text in zip(parts[1::2], parts[2::2])}
    return {p: (success in found.get(p.resolve(), ""), found.get(p.resolve(), proc.stdout))
            for p in paths}


def cmd_validate(course: Course, assignments: list[str]) -> int:
    """The source (with solutions) passes every test; the release (made again from the
    source) fails every check; the grader can record every test cell's checks.

    It works in a temporary copy of the course: ``release/``, the gradebook and the
    students' folders are left as they are (only ``logs/validate.log`` grows)."""
    import grading_plan
    log = course.root / "logs" / "validate.log"
    with tempfile.TemporaryDirectory(prefix="cnn-validate-") as tmp:
        work_root = Path(tmp) / "course"
        (work_root / "source").mkdir(parents=True)
        for name in ("nbgrader_config.py", "nbgrader_plugins.py"):
            if (course.root / name).is_file():
                shutil.copy(course.root / name, work_root / name)
        for a in assignments:
            shutil.copytree(course.root / "source" / a, work_root / "source" / a)
        work = Course(work_root)
        status = cmd_release(work, assignments)
        sources = _validate_all(work, [work.source(a) for a in assignments], False,
                                "Success! Your notebook passes all the tests.", log)
        releases = _validate_all(work, [work.release(a) for a in assignments], True,
                                 "Success! The notebook does not pass any tests.", log)
        for a in assignments:
            (ok_src, out_src), (ok_rel, out_rel) = sources[work.source(a)], \
                releases[work.release(a)]
            try:
                grading_plan.build_plan(_read_notebook(work.source(a)))
                plan_problem = None
            except Exception as exc:
                plan_problem = f"{type(exc).__name__}: {exc}"
            print(f"{a}: solutions {'pass every test' if ok_src else 'FAIL'}; "
                  f"release {'fails every check' if ok_rel else 'PASSES SOME CHECK'}"
                  + (f"; the grader cannot record its checks: {plan_problem}"
                     if plan_problem else ""))
            status |= plan_problem is not None
            for ok, text in ((ok_src, out_src), (ok_rel, out_rel)):
                if not ok:
                    print(text[-4000:])
                    status = 1
    return int(status)


# --------------------------------------------------------------------------
# autograde
# --------------------------------------------------------------------------

class Result(NamedTuple):
    """The outcome of one submission."""

    student: str
    assignment: str
    score: float
    max_score: float
    status: str            # "graded", "missing notebook", "invalid notebook", "grading failed", "no submission"
    details: str           # what happened, for the instructor and the feedback page
    integrity: str = ""    # the integrity report in one line ("" when there is nothing to say)
    sha256_before: str = ""  # of the submitted notebook, before and after grading
    sha256_after: str = ""


def _register(course: Course, a: str, s: str, scores: Optional[dict] = None) -> None:
    """Make sure the student and a submission of ``a`` exist in the gradebook, and write
    ``scores`` ({grade cell: points}) when given. Only the grader's process calls this."""
    from nbgrader.api import MissingEntry
    with _gradebook(course) as gb:
        gb.update_or_create_student(s)
    with _gradebook(course) as gb, warnings.catch_warnings():
        # nbgrader 0.9.6's add_submission triggers SQLAlchemy 2's "not in session"
        # warnings; the submission and its (empty) grades are created all the same
        warnings.simplefilter("ignore")
        try:
            gb.find_submission(a, s)
        except MissingEntry:
            gb.add_submission(a, s)
        for grade_id, points in (scores or {}).items():
            grade = gb.find_grade(grade_id, a, a, s)
            grade.auto_score = float(points)
            grade.manual_score = None
        gb.db.commit()


def _assignment_in_gradebook(course: Course, a: str) -> bool:
    from nbgrader.api import MissingEntry
    if not (course.root / "gradebook.db").is_file():
        return False
    with _gradebook(course) as gb:
        try:
            gb.find_assignment(a)
        except MissingEntry:
            return False
    return True


def _scores(course: Course, a: str, s: str) -> tuple[float, float, dict]:
    """(score, max_score, {cell: (points, max)}) of a submission in the gradebook."""
    from nbgrader.api import MissingEntry
    with _gradebook(course) as gb:
        assignment = gb.find_assignment(a)
        max_score = float(assignment.max_score)
        try:
            sub = gb.find_submission(a, s)
        except MissingEntry:
            cells = {g.name: (0.0, float(g.max_score))
                     for nb in assignment.notebooks for g in nb.grade_cells}
            return 0.0, max_score, cells
        cells = {}
        for nb in sub.notebooks:
            for g in nb.grades:
                cells[g.name] = (float(g.score or 0.0), float(g.max_score))
        return float(sub.score or 0.0), max_score, cells


def _record(course: Course, s: str, a: str) -> Path:
    return course.root / "autograded" / s / a / "result.json"


def integrity_line(report: dict) -> str:
    """The integrity report in one line: what an instructor may want to look at."""
    parts = []
    for key, label in (("cells", "cells"), ("limits", "limits"), ("outside", "outside"),
                       ("code", "code")):
        for item in report.get(key, []):
            parts.append(f"{label}: {item}")
    if report.get("sha256_before") != report.get("sha256_after"):
        parts.append("the submitted notebook changed while it was graded")
    return "; ".join(parts)


def result_of(course: Course, a: str, s: str) -> Result:
    """Score and status of student ``s`` on assignment ``a``, from the grader's record."""
    folder = course.root / "submitted" / s / a
    score, max_score, _ = _scores(course, a, s)
    if not folder.is_dir():
        return Result(s, a, 0.0, max_score, "no submission", "nothing was handed in")
    path = course.submitted(s, a)
    if not path.is_file():
        found = sorted(p.name for p in folder.iterdir())
        what = ", ".join(found) if found else "an empty folder"
        return Result(s, a, 0.0, max_score, "missing notebook",
                      f"no {path.name} in the submission (found: {what})")
    record = _record(course, s, a)
    if not record.is_file():
        return Result(s, a, 0.0, max_score, "grading failed",
                      "not graded yet: run autograde (see logs/autograde.log)")
    data = json.loads(record.read_text(encoding="utf-8"))
    if data["status"] != "graded":
        score = 0.0
    report = data.get("integrity", {})
    return Result(s, a, score, max_score, data["status"], data["details"],
                  integrity_line(report), report.get("sha256_before") or "",
                  report.get("sha256_after") or "")


def _needs_grading(course: Course, a: str, s: str) -> bool:
    """Whether the submission has no result yet, or one older than the submission or
    than the assignment's source notebook (its tests may have changed)."""
    record = _record(course, s, a)
    if not record.is_file():
        return True
    done = record.stat().st_mtime
    return any(p.is_file() and p.stat().st_mtime > done
               for p in (course.submitted(s, a), course.source(a)))


def _numba_cache(settings, log: Path) -> Optional[Path]:
    """A warm Numba cache of the package, compiled once in a sandbox and copied into each
    submission's sandbox (a copy each: no submission can change another's). Kept between
    runs in the user's cache folder, keyed by the package's files."""
    import companion
    import sandbox
    pkg = Path(companion.__file__).resolve().parent
    stamp = hashlib.sha256()
    for f in sorted(pkg.rglob("*.py")):
        st = f.stat()
        stamp.update(f"{f.relative_to(pkg)}:{st.st_size}:{st.st_mtime_ns}".encode())
    stamp.update(sys.version.encode())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    dest = base / "cnn-backprop-grading" / f"numba-{stamp.hexdigest()[:16]}"
    if dest.is_dir():
        return dest
    if settings.unsafe:
        return None
    print("compiling the package's kernels once for the sandboxes (about a minute) ...",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="cnn-grade-numba-") as tmp:
        work, gdir = Path(tmp) / "work", Path(tmp) / "grading"
        work.mkdir()
        gdir.mkdir()
        sandbox.prepare(gdir)
        Path(tmp).chmod(0o755)
        proc = sandbox.run(work, gdir, [sandbox.python_in_sandbox(), "-m", "companion.precompile"],
                           limits=settings.limits, timeout=1200)
        _log(log, "numba warm-up", proc.stdout[-3000:])
        if proc.returncode != 0 or not (work / ".numba").is_dir():
            return None
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest.parent))
        shutil.copytree(work / ".numba", staging / "numba")
        try:
            (staging / "numba").rename(dest)
        except OSError:          # another run made it first
            pass
        shutil.rmtree(staging, ignore_errors=True)
    return dest if dest.is_dir() else None


def _log(log: Path, title: str, text: str) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"==== {stamp} {title}\n{text.rstrip()}\n")


def _save(course: Course, g, settings) -> None:
    """Write one submission's outcome: its record, its graded notebook, its scores in
    the gradebook (the grader's main thread only)."""
    folder = course.root / "autograded" / g.student / g.assignment
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if g.notebook is not None:
        nbformat.write(g.notebook, folder / f"{g.assignment}.ipynb")
    _register(course, g.assignment, g.student, g.scores)
    record = {"status": g.status, "details": g.details, "scores": g.scores,
              "integrity": g.integrity, "sandboxed": not settings.unsafe}
    _record(course, g.student, g.assignment).write_text(
        json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")


def cmd_autograde(course: Course, assignments: list[str], timeout: Optional[int],
                  notebook_timeout: Optional[int], force: bool = False, jobs: int = 0,
                  memory: Optional[str] = None, unsafe: bool = False) -> int:
    """Grade the submissions that are new or changed since they were last graded (all of
    them with ``force``), each in its own sandbox, ``jobs`` at a time; then report every
    submission of ``assignments``."""
    import concurrent.futures
    import grading
    import sandbox
    limits = sandbox.Limits()
    if memory is not None:
        limits = limits._replace(memory=sandbox.parse_size(memory))
    cell_timeout = timeout if timeout is not None else \
        int(os.environ.get("COURSE_CELL_TIMEOUT", "300"))
    nb_timeout = notebook_timeout if notebook_timeout is not None else \
        int(os.environ.get("COURSE_NOTEBOOK_TIMEOUT", "1800"))
    limits = limits._replace(cpu_seconds=nb_timeout + cell_timeout * 4)
    settings = grading.Settings(cell_timeout=cell_timeout, notebook_timeout=nb_timeout,
                                limits=limits, unsafe=unsafe)
    log = course.root / "logs" / "autograde.log"
    if unsafe:
        print("WARNING: --unsafe: student code runs without a sandbox, with your rights",
              flush=True)
    else:
        why = sandbox.problem()
        if why is not None:
            print(f"error: autograde runs every submission in a sandbox, and {why}.\n"
                  "Install bubblewrap (apt-get install bubblewrap), or pass --unsafe to "
                  "grade without isolation (student code then runs with your rights).")
            return 1
    missing = [a for a in assignments if not _assignment_in_gradebook(course, a)
               or not course.release(a).is_file()]
    status = cmd_release(course, missing) if missing else 0
    students = {a: course.students_with(a) for a in assignments}
    todo = [(a, s) for a in assignments for s in students[a]
            if force or _needs_grading(course, a, s)]
    jobs = jobs or os.cpu_count() or 1
    to_grade = sorted({a for a, _ in todo})
    if todo:
        print(f"grading {len(todo)} submission(s) of {len(to_grade)} assignment(s) in "
              f"{min(jobs, len(todo))} sandbox(es) at a time ... (log: "
              f"{log.relative_to(course.root)})", flush=True)
        _log(log, f"autograde {' '.join(to_grade)}: {len(todo)} submission(s), "
                  f"{'UNSAFE (no sandbox)' if unsafe else 'sandboxed'}, --jobs {jobs}", "")
        loaded = {}
        for a in to_grade:
            try:
                loaded[a] = grading.load_assignment(a, course.source(a), course.release(a),
                                                    course.root / "nbgrader_plugins.py")
            except Exception as exc:
                print(f"error: the checks of {a} cannot be recorded: {exc}")
                return 1
        cache = _numba_cache(settings, log)
        scratch = Path(tempfile.mkdtemp(prefix="cnn-grade-"))
        scratch.chmod(0o755)
        slots = list(range(jobs))
        lock = threading.Lock()

        def work(item):
            a, s = item
            with lock:
                slot = slots.pop()
            try:
                path = course.submitted(s, a)
                if not path.is_file():
                    return None
                return grading.grade_submission(loaded[a], s, path, settings, slot=slot,
                                                numba_cache=cache, scratch=scratch)
            finally:
                with lock:
                    slots.append(slot)

        done = 0
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(work, item): item for item in todo}
                for future in concurrent.futures.as_completed(futures):
                    a, s = futures[future]
                    done += 1
                    shutil.rmtree(course.root / "autograded" / s / a, ignore_errors=True)
                    try:
                        g = future.result()
                    except Exception as exc:    # a bug of the grader: say so, go on
                        _log(log, f"{a} {s}: grading failed", repr(exc))
                        continue
                    if g is None:
                        continue
                    _save(course, g, settings)
                    line = integrity_line(g.integrity)
                    _log(log, f"{a} {s}: {g.status}, {sum(g.scores.values()):g} point(s)",
                         f"details: {g.details or '-'}\nintegrity: {line or '-'}\n"
                         f"sha256 before/after: {g.integrity.get('sha256_before')} "
                         f"{g.integrity.get('sha256_after')}\n{g.log}")
                    print(f"graded {done} of {len(todo)}: {a} {s}", flush=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    for a in assignments:
        if not students[a]:
            print(f"{a}: no submissions in {course.root / 'submitted'}/*/{a}/")
            continue
        for s in students[a]:
            if not _record(course, s, a).is_file():
                _register(course, a, s)
        print(f"{a}:")
        todo_here = {s for b, s in todo if b == a}
        _print_results([result_of(course, a, s) for s in students[a]], regraded=todo_here)
    return status


def _print_results(results: list[Result], regraded: Optional[set] = None) -> None:
    width = max([len(r.student) for r in results] + [7])
    for r in results:
        line = f"  {r.student:<{width}}  {r.score:5g} / {r.max_score:<5g} {r.status}"
        line += f": {r.details}" if r.details else ""
        if r.integrity and (regraded is None or r.student in regraded):
            line += f" | integrity: {r.integrity}"
        if regraded is not None and r.student not in regraded:
            line += " (unchanged since it was graded)"
        print(line)


# --------------------------------------------------------------------------
# export / feedback
# --------------------------------------------------------------------------

def _released_assignments(course: Course) -> list[str]:
    if not (course.root / "gradebook.db").is_file():
        return []
    with _gradebook(course) as gb:
        return sorted(a.name for a in gb.assignments)


def _gradebook_students(course: Course) -> list[str]:
    if not (course.root / "gradebook.db").is_file():
        return []
    with _gradebook(course) as gb:
        return sorted(s.id for s in gb.students)


def cmd_export(course: Course, to: Optional[Path]) -> int:
    """One row per (assignment, student) for every assignment released with ``release``
    (``validate`` releases nothing in the course) and every student known from
    ``submitted/`` or the gradebook, with the integrity report; a per-cell table next
    to it."""
    out = Path(to) if to else course.root / "grades.csv"
    by_cell = out.with_name(out.stem + "_by_cell.csv")
    assignments = _released_assignments(course)
    students = sorted(set(course.all_students()) | set(_gradebook_students(course)))
    rows = cell_rows = 0
    with open(out, "w", newline="", encoding="utf-8") as fh, \
            open(by_cell, "w", newline="", encoding="utf-8") as fc:
        w = csv.writer(fh)
        wc = csv.writer(fc)
        w.writerow(["assignment", "student_id", "score", "max_score", "status", "details",
                    "integrity", "sha256_before", "sha256_after"])
        wc.writerow(["assignment", "student_id", "cell", "points", "max_points"])
        for a in assignments:
            for s in students:
                r = result_of(course, a, s)
                w.writerow([a, s, f"{r.score:g}", f"{r.max_score:g}", r.status, r.details,
                            r.integrity, r.sha256_before, r.sha256_after])
                rows += 1
                _, _, cells = _scores(course, a, s)
                if r.status in ("missing notebook", "invalid notebook", "grading failed",
                                "no submission"):
                    cells = {k: (0.0, m) for k, (_, m) in cells.items()}
                for cell, (pts, mx) in cells.items():
                    wc.writerow([a, s, cell, f"{pts:g}", f"{mx:g}"])
                    cell_rows += 1
    print(f"wrote {out} ({rows} rows) and {by_cell} ({cell_rows} rows)")
    return 0


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:48em;margin:2em auto}}
.score{{font-size:1.4em}} code{{background:#eee;padding:0 .2em}}</style></head>
<body><h1>{title}</h1>
<p class="score">Score: {score:g} / {max_score:g}</p>
<p><b>{status}</b>: {details}</p>
<p>{advice}</p>
</body></html>
"""

_ADVICE = {
    "missing notebook": "Hand in the notebook <code>{nb}</code> itself, in the folder of the "
                        "assignment, with its original name.",
    "invalid notebook": "The file is not a Jupyter notebook any more (it was edited as text or "
                        "truncated). Download the assignment again, copy your answers into it, "
                        "and hand in the notebook saved by Jupyter.",
    "grading failed": "Your instructor has the log of the grader; ask them.",
    "no submission": "Nothing was handed in for this assignment.",
}


MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3.2.2/es5/tex-chtml.js"
_MATHJAX = ("<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], "
            "displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true}};</script>\n"
            '<script id="MathJax-script" async src="{src}"></script>')
_SCORE = """<div style="max-width:60em;margin:1em auto;padding:.6em 1em;border:1px solid #bbb;
border-radius:6px;font-family:sans-serif"><h1 style="font-size:1.4em;margin:.2em 0">{title}</h1>
<p style="font-size:1.2em;margin:.2em 0">Score: {score:g} / {max_score:g}</p>
<p style="margin:.2em 0">{details}</p><p style="margin:.2em 0;color:#555">Each check cell
below shows the grader's verdict and its points. The grader ran more cases than the
visible checks: a failure may name a case you have not seen.</p></div>"""


def _feedback_mathjax(course: Course) -> str:
    """The MathJax 3 the feedback pages load: the book's local copy (made by
    ``tools/fetch_mathjax.py``), copied next to the pages, else its CDN."""
    local = ROOT / "_mathjax" / "_static" / "mathjax"
    if not (local / "tex-chtml.js").is_file():
        return MATHJAX_CDN
    dest = course.root / "feedback" / "_mathjax"
    if not (dest / "tex-chtml.js").is_file():
        fonts = Path("output") / "chtml" / "fonts" / "woff-v2"
        shutil.copytree(local / fonts, dest / fonts, dirs_exist_ok=True)
        shutil.copy(local / "tex-chtml.js", dest / "tex-chtml.js")
    return "../../_mathjax/tex-chtml.js"


def _feedback_page(nb, r: Result, mathjax: str) -> str:
    """A graded notebook as a page: math rendered, the score on top, no script of the
    student's (the graded notebook keeps only text and images from the student's cells)."""
    from nbconvert import HTMLExporter
    exporter = HTMLExporter(template_name="lab")
    title = f"{r.assignment} — feedback for {r.student}"
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    body = re.sub(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->",
                  lambda m: _MATHJAX.replace("{src}", mathjax), body, count=1, flags=re.S)
    details = html.escape(r.details) if r.details else "Graded."
    header = _SCORE.format(title=html.escape(title), score=r.score, max_score=r.max_score,
                           details=details)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + header, body, count=1)


def cmd_feedback(course: Course, assignments: list[str]) -> int:
    """A feedback page for every submission: the graded notebook with its verdicts, or a
    short page saying why there is none."""
    status = 0
    mathjax = None
    for a in assignments:
        students = course.students_with(a)
        if not students:
            continue
        made = 0
        for s in students:
            r = result_of(course, a, s)
            page = course.feedback(s, a)
            shutil.rmtree(page.parent, ignore_errors=True)
            page.parent.mkdir(parents=True, exist_ok=True)
            graded = course.autograded(s, a)
            if r.status == "graded" and graded.is_file():
                mathjax = mathjax or _feedback_mathjax(course)
                try:
                    text = _feedback_page(_read_notebook(graded), r, mathjax)
                except Exception as exc:
                    print(f"  FAILED: no feedback for {s}: {type(exc).__name__}: {exc}")
                    status = 1
                    continue
            else:
                text = _PAGE.format(
                    title=html.escape(f"{a} — feedback for {s}"), score=r.score,
                    max_score=r.max_score, status=html.escape(r.status.capitalize()),
                    details=html.escape(r.details),
                    advice=_ADVICE.get(r.status, "").format(nb=html.escape(f"{a}.ipynb")))
            page.write_text(text, encoding="utf-8")
            made += 1
        print(f"{a}: feedback for {made} of {len(students)} student(s) in "
              f"feedback/<student>/{a}/")
    return status


# --------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--course", type=Path, default=DEFAULT_COURSE,
                        help="the course folder (default: exercises/)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("release", "validate", "feedback"):
        p = sub.add_parser(name)
        p.add_argument("assignments", nargs="*")
    for name in ("autograde", "all"):
        p = sub.add_parser(name)
        p.add_argument("assignments", nargs="*")
        p.add_argument("--timeout", type=int, default=None,
                       help="seconds per cell (default: nbgrader_config.py's, 300)")
        p.add_argument("--notebook-timeout", type=int, default=None,
                       help="seconds per notebook (default: nbgrader_config.py's, 1800)")
        p.add_argument("--force", action="store_true",
                       help="grade every submission again, also those unchanged since they "
                            "were graded")
        p.add_argument("--jobs", type=int, default=0,
                       help="submissions graded at a time, each in its own sandbox "
                            "(default: one per CPU core)")
        p.add_argument("--memory", default=None,
                       help="memory limit of each process of a sandbox (default 2G)")
        p.add_argument("--unsafe", action="store_true",
                       help="grade WITHOUT a sandbox where none can be made: student code "
                            "then runs with your rights")
    p = sub.add_parser("export")
    p.add_argument("--to", type=Path, default=None, help="CSV file (default: exercises/grades.csv)")
    args = parser.parse_args(argv)
    if getattr(args, "jobs", 0) < 0:
        parser.error(f"--jobs must be 0 (one per core) or more, got {args.jobs}")
    if getattr(args, "memory", None) is not None:
        import sandbox
        try:
            sandbox.parse_size(args.memory)
        except ValueError as exc:
            parser.error(f"--memory: {exc}")
    course = Course(args.course)
    if args.command == "export":
        return cmd_export(course, args.to)
    assignments = _pick(course, args.assignments)
    if args.command == "release":
        return cmd_release(course, assignments)
    if args.command == "validate":
        return cmd_validate(course, assignments)
    if args.command == "feedback":
        return cmd_feedback(course, assignments)
    if args.command == "autograde":
        return cmd_autograde(course, assignments, args.timeout, args.notebook_timeout,
                             args.force, args.jobs, args.memory, args.unsafe)
    status = cmd_release(course, assignments)
    status |= cmd_autograde(course, assignments, args.timeout, args.notebook_timeout,
                            args.force, args.jobs, args.memory, args.unsafe)
    status |= cmd_export(course, None)
    status |= cmd_feedback(course, assignments)
    return status


if __name__ == "__main__":
    sys.exit(main())
