"""What makes an exercise set worth doing, checked on every set's source notebook.

* Exercises are numbered per chapter and name their kind: ``## Exercise 8.1 · Derive:
  ...`` in the student notebook, and the book page's admonition carries the kind as
  its class.
* Every set mixes kinds and has at least one *derive* or *debug* exercise; a debug
  exercise gives the buggy implementation in a cell of its own.
* The set-up cell does not hand over the answers: it imports neither a function the
  student writes nor the companion function a check compares with.
* The visible checks of every function exercise run at least three cases, so that a
  student sees more than one input before grading.
"""
import ast
import sys
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import exercises  # noqa: E402
import grading_plan  # noqa: E402

ASSIGNMENTS = exercises.assignments()


def _source(a):
    return nbformat.read(ROOT / "exercises" / "source" / a / f"{a}.ipynb", as_version=4)


def _exercise_sections(nb):
    """[(heading, cells)] of the sections that hold a solution cell."""
    return [(h, cells) for h, cells in exercises._sections(nb.cells[1:])
            if h is not None and any(exercises._is_solution(c) for c in cells)]


def _gid(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_exercises_are_numbered_per_chapter_and_name_their_kind(a):
    sections = _exercise_sections(_source(a))
    assert sections, f"{a} has no exercise"
    for k, (heading, _) in enumerate(sections, start=1):
        parsed = exercises.parse_heading(heading)
        assert parsed, (f"{a}: heading {heading!r} is not 'Exercise {int(a[:2])}.{k} · "
                        f"<{'|'.join(exercises.KINDS)}>: <title>'")
        chapter, number, _, _ = parsed
        assert (chapter, number) == (int(a[:2]), k), \
            f"{a}: {heading!r} should be Exercise {int(a[:2])}.{k}"


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_every_set_mixes_kinds_with_a_derive_or_debug_exercise(a):
    kinds = [parsed[2] for h, _ in _exercise_sections(_source(a))
             for parsed in [exercises.parse_heading(h)] if parsed]
    assert {"Derive", "Debug"} & set(kinds), f"{a}: no Derive or Debug exercise ({kinds})"
    assert len(set(kinds)) >= 2, f"{a}: one kind only ({kinds})"


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_a_debug_exercise_gives_the_code_to_debug(a):
    for heading, cells in _exercise_sections(_source(a)):
        parsed = exercises.parse_heading(heading)
        if not parsed or parsed[2] != "Debug":
            continue
        given = [c for c in cells if c.cell_type == "code"
                 and not c.metadata.get("nbgrader", {}).get("solution")
                 and not c.metadata.get("nbgrader", {}).get("grade")
                 and any(isinstance(n, ast.FunctionDef) for n in ast.parse(c.source).body)]
        assert given, f"{a}: {heading!r} shows no implementation to debug in a cell of its own"


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_book_page_admonitions_carry_the_number_and_kind(a):
    page = exercises.build_page(a)
    starts = [c.source for c in page.cells if c.cell_type == "markdown"
              and c.source.startswith("```{exercise-start}")]
    sections = _exercise_sections(_source(a))
    assert len(starts) == len(sections)
    for start, (heading, _) in zip(starts, sections):
        chapter, number, kind, _ = exercises.parse_heading(heading)
        assert start.splitlines()[0] == f"```{{exercise-start}} {chapter}.{number} · {kind.lower()}"
        assert f":class: {kind.lower()}" in start and ":nonumber:" in start


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_the_setup_cell_hands_over_no_answer(a):
    nb = _source(a)
    plan = grading_plan.build_plan(nb)
    written = set().union(*(grading_plan.defined_names(c.source) for c in nb.cells
                            if exercises._is_solution(c)))
    setup = [c for c in nb.cells if c.cell_type == "code"
             and not c.metadata.get("nbgrader", {}).get("solution")
             and not c.metadata.get("nbgrader", {}).get("grade")][0]
    given = grading_plan.defined_names(setup.source)
    assert not given & written, f"{a}: the set-up cell defines {sorted(given & written)}"
    reference = given & (plan.reference_names - {"Case", "check_function", "check_answer"})
    assert not reference, (f"{a}: the set-up cell imports {sorted(reference)}, which the "
                           "checks compare with: import it inside the check cell")


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_visible_checks_run_at_least_three_cases(a):
    nb = _source(a)
    released = grading_plan.build_plan(exercises._released(nb))
    section_of = {}
    for heading, cells in _exercise_sections(nb):
        for c in cells:
            if _gid(c):
                section_of[_gid(c)] = heading
    cases = defaultdict(int)
    for check in released.checks:
        if isinstance(check, grading_plan.FunctionCheck):
            cases[section_of.get(check.grade_id)] += len(check.cases)
    for check in grading_plan.build_plan(nb).checks:
        if isinstance(check, grading_plan.FunctionCheck):
            heading = section_of.get(check.grade_id)
            assert cases[heading] >= 3, \
                f"{a}: the visible checks of {heading!r} run {cases[heading]} case(s)"


def test_a_heading_that_does_not_parse_is_refused_by_name():
    a = ASSIGNMENTS[0]
    src = _source(a)
    heading, _ = _exercise_sections(src)[0]
    cell = next(c for c in src.cells if c.cell_type == "markdown"
                and c.source.lstrip().startswith(f"## {heading}"))
    cell.source = cell.source.replace(f"## {heading}", "## Exercise one: a title", 1)
    with pytest.raises(ValueError, match="the exercise heading 'Exercise one: a title' must read"):
        exercises.build_page(a, source_nb=src)
