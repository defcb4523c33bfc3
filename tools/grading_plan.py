"""Trusted scoring: what each test cell checks, decided and judged in the grader's process.

A test cell of an exercise notebook calls ``check_function(student_fn, reference,
cases, ...)`` and ``check_answer(answer, digest, question=...)``. In a student's
kernel those calls could be replaced, or their verdict faked, by the student's
own code. So the grader never trusts a verdict from the kernel:

1. :func:`build_plan` runs the *source* notebook's set-up and test cells
   (hidden tests included) in the grader's process, with the two check
   functions replaced by recorders and every name that a solution cell defines
   bound to a placeholder. Each call is recorded with its cases, and the
   reference's outputs are computed here, from a copy of each case.
2. The sandbox calls the student's functions on those cases
   (``grading_harvest.py``) and writes back what they returned, as data
   (``grading_codec.py``).
3. :func:`judge` compares, here, with ``companion.teaching.checks.judge_call``
   and ``companion.teaching.answers.judge_answer``: the same verdicts and
   messages as the checks a student runs. A test cell earns its points when
   every check it holds passes.

The expected values and the digests of short answers never leave this process.
:func:`assemble` builds the notebook the sandbox runs (the student's cells,
the release's locked cells restored) and :func:`code_flags` lists what an
instructor may want to look at (the reference implementation called, the
checking code touched, code built at run time).
"""
from __future__ import annotations

import ast
import copy
import types
from pathlib import Path
from typing import NamedTuple, Optional

import nbformat

from companion.teaching.answers import judge_answer
from companion.teaching.checks import CheckFailure, Raised, Returned, as_case, judge_call
from companion.teaching.compare import argument_names, snapshot_arguments

import grading_codec

PLAN_MODULE = "__grading_checks__"      # __name__ of the namespace the test cells run in


class PlanError(Exception):
    """A test cell the grader cannot turn into a plan (a problem of the exercise)."""


class StudentName:
    """Stands for a name a solution cell defines, while the test cells are recorded."""

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr):
        raise PlanError(f"a test cell uses `{self._name}.{attr}`: a test cell may only pass "
                        "the student's names to check_function / check_answer")

    def __call__(self, *args, **kwargs):
        raise PlanError(f"a test cell calls `{self._name}` itself: pass it to check_function")

    def __repr__(self):
        return f"<student's {self._name}>"


class FunctionCheck(NamedTuple):
    grade_id: str
    name: str                    # the student's name, looked up in the kernel
    shown: str
    cases: list                  # of Case
    originals: list              # (args, kwargs) before the call, per case
    expected: list               # the reference's return value, per case
    arg_names: list
    output_names: tuple
    compared: tuple
    rtol: float
    atol: float
    hint: Optional[str]
    wrapper: Optional[object] = None   # a test cell's function that calls the student's
    refs: tuple = ()                   # the student's names the wrapper calls


class AnswerCheck(NamedTuple):
    grade_id: str
    name: str
    digest: Optional[str]
    question: str
    choices: Optional[list]
    kind: object
    hint: Optional[str]


class Plan(NamedTuple):
    checks: list                 # FunctionCheck and AnswerCheck, in notebook order
    points: dict                 # grade_id -> points of every test cell
    setup_names: dict            # name -> module, imported by the set-up cells from companion
    reference_names: frozenset   # companion names the set-up or test cells import, the
                                 # checks compare with and the solutions do not use: the
                                 # reference implementation


def _meta(cell) -> dict:
    m = cell.get("metadata", {}).get("nbgrader", {})
    return m if isinstance(m, dict) else {}


def defined_names(source: str) -> set:
    """The names a cell binds at its top level (functions, classes, assignments, imports)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def build_plan(source_nb) -> Plan:
    """Record every check of the source notebook's test cells (see the module's docstring)."""
    student, in_solutions, in_tests = set(), set(), set()
    for cell in source_nb.cells:
        if cell.cell_type == "code" and _meta(cell).get("solution"):
            student |= defined_names(cell.source)
            in_solutions |= used_names(cell.source)
        elif cell.cell_type == "code" and _meta(cell).get("grade"):
            in_tests |= used_names(cell.source)
    ns = {"__name__": PLAN_MODULE}
    checks, points, setup_names, test_imports = [], {}, {}, {}
    current = {"grade_id": None}

    def record_function(func, reference, cases, *, name=None, outputs=None, compare=None,
                        rtol=1e-7, atol=1e-12, hint=None, quiet=False):
        wrapper, refs = None, ()
        if isinstance(func, types.FunctionType):
            refs = tuple(sorted(_names_in(func.__code__) & student))
            wrapper = types.FunctionType(
                func.__code__, {k: v for k, v in func.__globals__.items()
                                if not isinstance(v, StudentName)},
                func.__name__, func.__defaults__, func.__closure__)
        if not isinstance(func, StudentName) and not refs:
            raise PlanError(f"check_function in {current['grade_id']} is given neither a "
                            "name that a solution cell defines nor a function calling one")
        if not callable(reference):
            raise PlanError(f"reference must be callable in {current['grade_id']}")
        cases = [as_case(c) for c in cases]
        if not cases:
            raise PlanError(f"check_function in {current['grade_id']} has no cases")
        output_names = tuple(outputs) if outputs else ("result",)
        if isinstance(compare, str):
            compare = (compare,)
        compared = tuple(compare) if compare else output_names
        originals, expected = [], []
        for case in cases:
            kwargs = dict(case.kwargs or {})
            originals.append(snapshot_arguments(case.args, kwargs))
            ref_args, ref_kwargs = snapshot_arguments(case.args, kwargs)
            expected.append(reference(*ref_args, **ref_kwargs))
        own = refs[0] if wrapper is not None else func._name
        checks.append(FunctionCheck(current["grade_id"], own, name or own, cases, originals,
                                    expected, argument_names(reference), output_names,
                                    compared, rtol, atol, hint, wrapper, refs))

    def record_answer(answer, digest=None, *, question, choices=None, kind=None, hint=None,
                      quiet=False):
        if not isinstance(answer, StudentName):
            raise PlanError(f"check_answer in {current['grade_id']} is not given a name "
                            "that a solution cell defines")
        checks.append(AnswerCheck(current["grade_id"], answer._name, digest, question,
                                  list(choices) if choices is not None else None, kind, hint))

    for cell in source_nb.cells:
        meta = _meta(cell)
        if cell.cell_type != "code" or meta.get("solution"):
            continue
        if not (meta.get("grade") or meta.get("locked")):
            continue
        gid = meta.get("grade_id", "?")
        if meta.get("grade"):
            points[gid] = float(meta.get("points", 0))
        before = len(checks)
        for n in student:
            ns[n] = StudentName(n)
        ns["check_function"], ns["check_answer"] = record_function, record_answer
        current["grade_id"] = gid
        try:
            exec(compile(cell.source, f"<test cell {gid}>", "exec"), ns)
        except PlanError:
            raise
        except Exception as exc:
            raise PlanError(f"cell {gid} fails in the grader: {type(exc).__name__}: {exc}") \
                from exc
        if not meta.get("grade"):
            setup_names.update(_companion_imports(cell.source))
        else:
            test_imports.update(_companion_imports(cell.source))
            if len(checks) == before:
                raise PlanError(f"test cell {gid} calls neither check_function nor "
                                "check_answer")
    # The reference implementation: what the checks import from the companion (in the
    # set-up cell or, as the exercises do, inside the check cell) and compare with, and
    # the solutions do not use.
    reference = frozenset(n for n in {**setup_names, **test_imports}
                          if n in in_tests and n not in in_solutions)
    return Plan(checks, points, setup_names, reference)


def used_names(source: str) -> set:
    """Every name and attribute a cell's code mentions."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
        {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}


def _names_in(code) -> set:
    """The global names a code object (and the functions nested in it) refers to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_in(const)
    return names


def _companion_imports(source: str) -> dict:
    """{name: module} of the names a cell imports from the companion package."""
    out = {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return out
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("companion"):
            for a in node.names:
                out[a.asname or a.name] = node.module
    return out


# --------------------------------------------------------------------------
# To the sandbox, and back
# --------------------------------------------------------------------------

def harvest_plan(plan: Plan) -> list:
    """What the sandbox gets: names and cases (pickled one by one), no expected values."""
    import cloudpickle
    out = []
    for check in plan.checks:
        if isinstance(check, AnswerCheck):
            out.append({"kind": "answer", "name": check.name})
        else:
            out.append({"kind": "function", "name": check.name,
                        "wrapper": (cloudpickle.dumps(check.wrapper)
                                    if check.wrapper is not None else None),
                        "refs": list(check.refs),
                        "cases": [cloudpickle.dumps(orig) for orig in check.originals]})
    return out


def n_calls(plan: Plan) -> int:
    return sum(len(c.cases) if isinstance(c, FunctionCheck) else 1 for c in plan.checks)


def _result(out_dir: Path, i: int, k: int):
    stem = out_dir / f"c{i}-{k}"
    if not (stem.with_suffix(".json")).is_file():
        started = (out_dir / f"c{i}-{k}.started").is_file()
        return {"absent": "started" if started else "never"}
    try:
        value = grading_codec.read(str(stem))
    except ValueError as exc:
        return {"unreadable": str(exc)}
    return value if isinstance(value, dict) else {"unreadable": "not a result"}


_DIED = {
    "timeout": "it did not return within the time limit of {t} s",
    "signal 9": "it was stopped (SIGKILL: the memory or time limit?)",
    "signal 11": "it crashed the process (a segmentation fault)",
    "signal 24": "it used up its CPU time",
    "signal 25": "it wrote a file larger than the limit",
}


def judge(plan: Plan, out_dir: Path, call_timeout: float) -> dict:
    """{grade_id: failure message or None} for every test cell, from the sandbox's results."""
    verdict = {gid: None for gid in plan.points}
    for i, check in enumerate(plan.checks):
        if verdict.get(check.grade_id) is not None:
            continue                               # the cell has failed already
        failure = _judge_check(check, i, out_dir, call_timeout)
        if failure is not None:
            verdict[check.grade_id] = str(failure)
    return verdict


def _judge_check(check, i: int, out_dir: Path, call_timeout: float) -> Optional[CheckFailure]:
    first = _result(out_dir, i, 0)
    if "missing" in first:
        what = "function" if isinstance(check, FunctionCheck) else "answer variable"
        return CheckFailure(f"`{check.name}` is not defined when the notebook ends.",
                            hint=f"Define the {what} in its cell and run the notebook from "
                                 "the top (Kernel > Restart & Run All) before you hand it in.")
    if isinstance(check, AnswerCheck):
        if "value" not in first:
            return _not_collected(check.name, first, call_timeout)
        return judge_answer(first["value"], check.digest, question=check.question,
                            choices=check.choices, kind=check.kind, hint=check.hint)
    names = check.arg_names
    for k, case in enumerate(check.cases):
        got = first if k == 0 else _result(out_dir, i, k)
        if "returned" in got:
            args, kwargs = got.get("args"), got.get("kwargs")
            if not isinstance(args, tuple) or not isinstance(kwargs, dict):
                args, kwargs = check.originals[k]
            outcome = Returned(got["returned"], args, kwargs)
        elif "raised" in got:
            outcome = Raised(str(got["raised"])[:100], str(got.get("message", ""))[:2000])
        else:
            return _not_collected(check.shown, got, call_timeout,
                                  f"case {k + 1} of {len(check.cases)} ({case.description})")
        failure = judge_call(check.shown, case, k + 1, len(check.cases), names,
                             check.output_names, check.compared, check.expected[k],
                             check.originals[k], outcome, rtol=check.rtol, atol=check.atol,
                             hint=check.hint)
        if failure is not None:
            return failure
    return None


def _not_collected(shown: str, got: dict, call_timeout: float, where: str = "") -> CheckFailure:
    where = f" in {where}" if where else ""
    if "died" in got:
        why = _DIED.get(got["died"], f"its process ended ({got['died']})")
        return CheckFailure(f"{shown} gave no result{where}: {why.format(t=call_timeout)}.")
    if got.get("absent") == "started":
        return CheckFailure(f"{shown} gave no result{where}: the grading stopped during "
                            "the call (the notebook's time or memory limit).")
    if got.get("absent") == "never":
        return CheckFailure(f"{shown} was not graded{where}: the notebook stopped before the "
                            "grader could call it (its time limit, or the kernel died).")
    return CheckFailure(f"{shown}: the grader could not read the result{where}.",
                        [("why", str(got.get("unreadable", got.get("unwritable", "?"))))])


# --------------------------------------------------------------------------
# The notebook the sandbox runs
# --------------------------------------------------------------------------

_KEYS = ("grade", "solution", "locked", "points", "grade_id", "task")


def assemble(release_nb, submitted_nb):
    """``(notebook, events, matched)``: the submission's cells in its order, with every
    locked cell (text, set-up, test) replaced by the release's, missing ones put back,
    and metadata restored; ``matched`` is the number of the release's nbgrader cells
    found in the submission."""
    release = [c for c in release_nb.cells]
    by_id = {_meta(c).get("grade_id"): i for i, c in enumerate(release) if _meta(c)}
    events, used, placed = [], set(), []       # placed: (release index or None, cell)
    for cell in submitted_nb.cells:
        raw = cell.get("metadata", {}).get("nbgrader")
        gid = raw.get("grade_id") if isinstance(raw, dict) else None
        if raw is not None and not (isinstance(raw, dict) and isinstance(gid, str)):
            events.append("a cell's nbgrader metadata is damaged: it ran as an ordinary cell")
            placed.append((None, _ordinary(cell)))
            continue
        if raw is None:
            placed.append((None, _ordinary(cell)))
            continue
        if gid not in by_id or gid in used:
            events.append(f"cell {gid} is {'not in the assignment' if gid not in by_id else 'duplicated'}"
                          ": it ran as an ordinary cell")
            placed.append((None, _ordinary(cell)))
            continue
        used.add(gid)
        ref = release[by_id[gid]]
        new = copy.deepcopy(ref)
        if {k: raw.get(k) for k in _KEYS} != {k: _meta(ref).get(k) for k in _KEYS}:
            events.append(f"cell {gid}: its nbgrader metadata was altered: restored")
        if _meta(ref).get("solution") and not _meta(ref).get("locked"):
            new.source = cell.get("source", "")
            if cell.get("cell_type") != ref.cell_type:
                events.append(f"cell {gid} changed type: it is graded as a {ref.cell_type} cell")
        elif _hidden_free(cell.get("source", "")) != _hidden_free(ref.source) \
                or cell.get("cell_type") != ref.cell_type:
            events.append(f"cell {gid} was edited: restored from the source")
        placed.append((by_id[gid], new))
    missing = [i for i, c in enumerate(release)
               if _meta(c).get("grade_id") and _meta(c)["grade_id"] not in used]
    for i in missing:
        gid = _meta(release[i])["grade_id"]
        meta = _meta(release[i])
        if meta.get("grade") or (meta.get("locked") and release[i].cell_type == "code"):
            events.append(f"cell {gid} was deleted: restored from the source")
        elif meta.get("solution"):
            events.append(f"answer cell {gid} was deleted: the release's stub ran instead")
        after = max((k for k, (j, _) in enumerate(placed) if j is not None and j < i),
                    default=-1)
        placed.insert(after + 1, (i, copy.deepcopy(release[i])))
    nb = copy.deepcopy(release_nb)
    nb.cells = [c for _, c in placed]
    return nb, list(dict.fromkeys(events)), len(used)


def _ordinary(cell):
    new = copy.deepcopy(cell)
    new.get("metadata", {}).pop("nbgrader", None)
    if new.get("cell_type") not in ("code", "markdown", "raw"):
        new = nbformat.v4.new_raw_cell(str(new.get("source", "")))
    return new


def _hidden_free(source: str) -> str:
    """A test cell's source without its hidden-test region (what students see)."""
    out, hidden = [], False
    for line in str(source).splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            out.append(line)
    return "\n".join(out).strip()


# --------------------------------------------------------------------------
# What the student's code does, for the integrity report
# --------------------------------------------------------------------------

_CHECKING = {"check_function", "check_answer", "judge_call", "judge_answer", "answer_digest",
             "Case", "compare_values", "CheckFailure"}
_DYNAMIC = {"__import__", "importlib", "exec", "eval", "compile", "ctypes", "builtins",
            "__builtins__", "sys.modules", "get_ipython", "subprocess", "os.system"}


def code_flags(nb, plan: Plan, release_nb) -> list[str]:
    """What the student's cells (answers and added cells) use that an instructor may want
    to look at: the companion's functions the set-up cell imports (the reference
    implementation: flagged, not blocked), the checking code, code built at run time.
    Cells as the release has them (its set-up cell) are not the student's."""
    given = {c.source for c in release_nb.cells if c.cell_type == "code"}
    flags = []
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type != "code" or meta.get("locked") or cell.source in given:
            continue
        label = meta.get("grade_id") or "an added cell"
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        used = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                used.add(node.id)
            elif isinstance(node, ast.Attribute):
                base = node.value.id if isinstance(node.value, ast.Name) else ""
                used.add(f"{base}.{node.attr}" if base else node.attr)
                used.add(node.attr)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                    [a.name for a in node.names]
                for m in mods:
                    if m.split(".")[0] == "companion":
                        flags.append(f"{label} imports {m} (the course's package)")
                    if m.split(".")[0] in ("importlib", "ctypes", "builtins", "subprocess"):
                        used.add(m.split(".")[0])
        reference = sorted(used & plan.reference_names - _CHECKING)
        if reference:
            flags.append(f"{label} calls the companion's {', '.join(reference)} "
                         "(the reference implementation)")
        checking = sorted(used & _CHECKING)
        if checking:
            flags.append(f"{label} uses the checking code: {', '.join(checking)}")
        dynamic = sorted(used & _DYNAMIC)
        if dynamic:
            flags.append(f"{label} runs code built at run time or low-level: "
                         f"{', '.join(dynamic)}")
    return list(dict.fromkeys(flags))


def audit_flags(out_dir: Path) -> list[str]:
    """The sandbox's notes of attempts outside it (``grading_audit.py``), summarized."""
    path = out_dir / "audit.log"
    if not path.is_file():
        return []
    with open(path, "rb") as fh:
        lines = fh.read(64 * 1024).decode("utf-8", "replace").splitlines()
    writes = sorted({ln.split(" ", 1)[1] for ln in lines
                     if " " in ln and not ln.startswith(("connect", "run"))})
    connects = sorted({ln.split(" ", 1)[1] for ln in lines if ln.startswith("connect ")})
    runs = [ln for ln in lines if ln.startswith("run ")]
    flags = []
    if writes:
        shown = ", ".join(writes[:3]) + (f" and {len(writes) - 3} more" if len(writes) > 3
                                         else "")
        flags.append(f"tried to change files outside its sandbox: {shown}")
    if connects:
        flags.append(f"tried to open network connections: {', '.join(connects[:3])}")
    if runs:
        flags.append(f"started {len(runs)} program(s)")
    return flags
