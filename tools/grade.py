"""Instructor commands for the exercises: release, validate, autograde, export, feedback.

    python tools/grade.py release   [ASSIGNMENT ...]   student versions -> exercises/release/
    python tools/grade.py validate  [ASSIGNMENT ...]   solutions pass every test, releases fail every check
    python tools/grade.py autograde [ASSIGNMENT ...]   grade exercises/submitted/<student>/<assignment>/
                                    [--force] [--timeout S] [--notebook-timeout S]
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
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import NamedTuple, Optional

import nbformat

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_COURSE = ROOT / "exercises"
COURSE_ID = "cnn-backprop"

# error names that the grading machinery writes into a cell's outputs
_SPECIAL_ERRORS = {
    "DeadKernelError": "the kernel died (os._exit, a segfault...)",
    "CellTimeoutError": "timed out",
    "GradingTimeLimit": "not run: notebook time limit reached",
}


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
    import nbformat
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # JSON errors, encoding errors, wrong structure
        raise ValueError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    try:
        nbformat.validate(nb)
    except Exception as exc:
        raise ValueError(f"not a valid notebook: {str(exc).splitlines()[0]}")
    return nb


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


def _validate_all(course: Course, paths: list[Path], invert: bool, success: str) -> dict:
    """``nbgrader validate [--invert] PATHS`` in one process: {path: (ok, its output)}."""
    args = ["validate", *(["--invert"] if invert else []), *map(str, paths)]
    proc = _nbgrader(course, *args, log=course.root / "logs" / "validate.log")
    parts = _VALIDATING.split(proc.stdout)          # [preamble, path, text, path, text, ...]
    found = {Path(path).resolve(): text for path, text in zip(parts[1::2], parts[2::2])}
    return {p: (success in found.get(p.resolve(), ""), found.get(p.resolve(), proc.stdout))
            for p in paths}


def cmd_validate(course: Course, assignments: list[str]) -> int:
    """The source (with solutions) passes every test; the release (made again from the
    source) fails every check."""
    status = cmd_release(course, assignments)
    sources = _validate_all(course, [course.source(a) for a in assignments], False,
                            "Success! Your notebook passes all the tests.")
    releases = _validate_all(course, [course.release(a) for a in assignments], True,
                             "Success! The notebook does not pass any tests.")
    for a in assignments:
        (ok_src, out_src), (ok_rel, out_rel) = sources[course.source(a)], \
            releases[course.release(a)]
        print(f"{a}: solutions {'pass every test' if ok_src else 'FAIL'}; "
              f"release {'fails every check' if ok_rel else 'PASSES SOME CHECK'}")
        for ok, text in ((ok_src, out_src), (ok_rel, out_rel)):
            if not ok:
                print(text[-4000:])
                status = 1
    return status


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


def _register_zero(course: Course, a: str, s: str) -> None:
    """Make sure the student and a (zero) submission of ``a`` exist in the gradebook."""
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


def _locked_cells(nb) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("locked") and "grade_id" in c.metadata["nbgrader"]}


def _hidden_free(source: str) -> str:
    """A test cell's source without its hidden-test region (what students see)."""
    out, hidden = [], False
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            out.append(line)
    return "\n".join(out).strip()


def _cell_events(course: Course, a: str, submitted_nb, graded_nb) -> list[str]:
    """What happened to a submission's cells, in words."""
    events = []
    source_nb = _read_notebook(course.source(a))
    released = {k: _hidden_free(c.source) for k, c in _locked_cells(source_nb).items()}
    sub_cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in submitted_nb.cells}
    for grade_id, text in released.items():
        if grade_id not in sub_cells:
            events.append(f"cell {grade_id} was deleted: restored from the source")
        elif _hidden_free(sub_cells[grade_id].source) != text:
            events.append(f"cell {grade_id} was edited: restored from the source")
    if graded_nb is not None:
        for cell in graded_nb.cells:
            if cell.cell_type != "code":
                continue
            gid = cell.metadata.get("nbgrader", {}).get("grade_id", "?")
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and out.get("ename") in _SPECIAL_ERRORS:
                    events.append(f"cell {gid}: {_SPECIAL_ERRORS[out['ename']]}")
                elif out.get("output_type") == "error" and out.get("ename") in (
                        "SyntaxError", "IndentationError", "TabError"):
                    events.append(f"cell {gid}: {out['ename']}")
                text = json.dumps(out)
                if "Output truncated" in text:
                    events.append(f"cell {gid}: output truncated")
    return list(dict.fromkeys(events))


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


def result_of(course: Course, a: str, s: str) -> Result:
    """Score and status of student ``s`` on assignment ``a``, from the files and the gradebook."""
    folder = course.root / "submitted" / s / a
    if not folder.is_dir():
        score, max_score, _ = _scores(course, a, s)
        return Result(s, a, 0.0, max_score, "no submission", "nothing was handed in")
    path = course.submitted(s, a)
    score, max_score, _ = _scores(course, a, s)
    if not path.is_file():
        found = sorted(p.name for p in folder.iterdir())
        what = ", ".join(found) if found else "an empty folder"
        return Result(s, a, 0.0, max_score, "missing notebook",
                      f"no {path.name} in the submission (found: {what})")
    try:
        submitted_nb = _read_notebook(path)
    except ValueError as exc:
        return Result(s, a, 0.0, max_score, "invalid notebook",
                      f"{path.name} cannot be read: {exc}")
    graded = course.autograded(s, a)
    if not graded.is_file():
        return Result(s, a, 0.0, max_score, "grading failed",
                      "nbgrader could not grade it: see logs/autograde.log")
    events = _cell_events(course, a, submitted_nb, _read_notebook(graded))
    return Result(s, a, score, max_score, "graded", "; ".join(events))


def _needs_grading(course: Course, a: str, s: str) -> bool:
    """Whether the submission has no graded notebook yet, or one older than the submission
    or than the assignment's source notebook (its tests may have changed)."""
    graded = course.autograded(s, a)
    if not graded.is_file():
        return True
    done = graded.stat().st_mtime
    return any(p.is_file() and p.stat().st_mtime > done
               for p in (course.submitted(s, a), course.source(a)))


def cmd_autograde(course: Course, assignments: list[str], timeout: Optional[int],
                  notebook_timeout: Optional[int], force: bool = False) -> int:
    """Grade the submissions that are new or changed since they were last graded (all of
    them with ``force``), then report every submission of ``assignments``."""
    env = {}
    if timeout is not None:
        env["COURSE_CELL_TIMEOUT"] = str(timeout)
    if notebook_timeout is not None:
        env["COURSE_NOTEBOOK_TIMEOUT"] = str(notebook_timeout)
    missing = [a for a in assignments if not _assignment_in_gradebook(course, a)]
    status = cmd_release(course, missing) if missing else 0
    students = {a: course.students_with(a) for a in assignments}
    todo = {a: [s for s in students[a] if force or _needs_grading(course, a, s)]
            for a in assignments}
    for a in assignments:
        for s in todo[a]:
            # a stale result must not survive a failed re-grade
            shutil.rmtree(course.root / "autograded" / s / a, ignore_errors=True)
    log = course.root / "logs" / "autograde.log"
    to_grade = [a for a in assignments if todo[a]]
    if to_grade:
        count = sum(len(todo[a]) for a in to_grade)
        print(f"grading {count} submission(s) of {len(to_grade)} assignment(s) ... "
              f"(log: {log.relative_to(course.root)})", flush=True)
        # without --force nbgrader skips the submissions that still have a graded notebook
        for arg in _each(course, to_grade):
            _nbgrader(course, "autograde", arg, env=env, log=log)
    # nbgrader exits with 1 when some submission could not be graded; each one is
    # accounted for below, and every student gets a gradebook entry.
    for a in assignments:
        if not students[a]:
            print(f"{a}: no submissions in {course.root / 'submitted'}/*/{a}/")
            continue
        for s in students[a]:
            _register_zero(course, a, s)
        print(f"{a}:")
        _print_results([result_of(course, a, s) for s in students[a]],
                       regraded=set(todo[a]))
    return status


def _print_results(results: list[Result], regraded: Optional[set] = None) -> None:
    width = max([len(r.student) for r in results] + [7])
    for r in results:
        line = f"  {r.student:<{width}}  {r.score:5g} / {r.max_score:<5g} {r.status}"
        line += f": {r.details}" if r.details else ""
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
    """One row per (assignment, student) for every released assignment and every student
    known from ``submitted/`` or the gradebook; a per-cell table next to it."""
    out = Path(to) if to else course.root / "grades.csv"
    by_cell = out.with_name(out.stem + "_by_cell.csv")
    assignments = _released_assignments(course)
    students = sorted(set(course.all_students()) | set(_gradebook_students(course)))
    rows = cell_rows = 0
    with open(out, "w", newline="", encoding="utf-8") as fh, \
            open(by_cell, "w", newline="", encoding="utf-8") as fc:
        w = csv.writer(fh)
        wc = csv.writer(fc)
        w.writerow(["assignment", "student_id", "score", "max_score", "status", "details"])
        wc.writerow(["assignment", "student_id", "cell", "points", "max_points"])
        for a in assignments:
            for s in students:
                r = result_of(course, a, s)
                w.writerow([a, s, f"{r.score:g}", f"{r.max_score:g}", r.status, r.details])
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


def cmd_feedback(course: Course, assignments: list[str]) -> int:
    """nbgrader's feedback page for every graded submission; a page of ours for the others."""
    students = {a: course.students_with(a) for a in assignments}
    with_graded = [a for a in assignments
                   if any(course.autograded(s, a).is_file() for s in students[a])]
    log = course.root / "logs" / "feedback.log"
    procs = [_nbgrader(course, "generate_feedback", arg, "--force", log=log)
             for arg in _each(course, with_graded)]
    status = 0
    for a in assignments:
        if not students[a]:
            continue
        failed = []
        for s in students[a]:
            r = result_of(course, a, s)
            page = course.feedback(s, a)
            if r.status == "graded":
                if not page.is_file():
                    failed.append(s)
                continue
            shutil.rmtree(page.parent, ignore_errors=True)
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(_PAGE.format(
                title=html.escape(f"{a} — feedback for {s}"), score=r.score,
                max_score=r.max_score, status=html.escape(r.status.capitalize()),
                details=html.escape(r.details),
                advice=_ADVICE.get(r.status, "").format(nb=html.escape(f"{a}.ipynb"))),
                encoding="utf-8")
        if failed:
            print("\n".join(p.stdout[-3000:] for p in procs))
            print(f"  FAILED: no feedback for {', '.join(failed)} (see logs/feedback.log)")
            status = 1
        done = sum(course.feedback(s, a).is_file() for s in students[a])
        print(f"{a}: feedback for {done} of {len(students[a])} student(s) in "
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
    p = sub.add_parser("export")
    p.add_argument("--to", type=Path, default=None, help="CSV file (default: exercises/grades.csv)")
    args = parser.parse_args(argv)
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
                             args.force)
    status = cmd_release(course, assignments)
    status |= cmd_autograde(course, assignments, args.timeout, args.notebook_timeout,
                            args.force)
    status |= cmd_export(course, None)
    status |= cmd_feedback(course, assignments)
    return status


if __name__ == "__main__":
    sys.exit(main())
