"""The exercise sets: their nbgrader sources, and the book pages generated from them."""
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import exercises  # noqa: E402

ASSIGNMENTS = exercises.assignments()

# Chapters without an exercise set yet. The test below fails when a chapter is
# neither here nor has a set, and when a chapter listed here got one: keep the
# list exact, and empty it.
PENDING = set()

# Exercise sets written from the package before their chapter reached book/:
# their page links to the chapter, and is listed in _toc.yml with it.
UPCOMING: set = set()


def _source(a):
    return nbformat.read(ROOT / "exercises" / "source" / a / f"{a}.ipynb", as_version=4)


def _page(a):
    return nbformat.read(ROOT / "book" / "exercises" / f"{a}.ipynb", as_version=4)


def _hidden_regions(text):
    return re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", text, re.S)


def test_every_chapter_has_an_exercise_set():
    chapters = {p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb")}
    missing = chapters - set(ASSIGNMENTS) - PENDING
    assert not missing, f"chapters without exercises: {sorted(missing)}"
    done = PENDING & set(ASSIGNMENTS)
    assert not done, f"remove {sorted(done)} from PENDING: they have exercises now"
    orphans = set(ASSIGNMENTS) - chapters - UPCOMING
    assert not orphans, f"exercise sets not named like a chapter: {sorted(orphans)}"


def test_pages_are_in_sync_with_their_sources():
    assert exercises.out_of_sync() == []


def test_toc_lists_each_page_under_its_chapter():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entries = {}

    def walk(items):
        for item in items:
            if "file" in item:
                entries[item["file"]] = [s.get("file") for s in item.get("sections", [])]
            walk(item.get("chapters", []) + item.get("sections", []))

    walk(toc.get("parts", []))
    if "book/instructors" not in entries:
        pytest.skip("the exercise pages are not in _toc.yml yet")
    for a in ASSIGNMENTS:
        if f"book/{a}" in entries:
            assert f"book/exercises/{a}" in entries[f"book/{a}"], a


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_source_is_a_well_formed_nbgrader_notebook(a):
    nb = _source(a)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)) == len(nb.cells), "every cell has a unique grade_id"
    assert nb.cells[0].source.startswith("# Exercises: ")
    solutions = [c for c in nb.cells if c.metadata["nbgrader"]["solution"]]
    tests = [c for c in nb.cells if c.metadata["nbgrader"]["grade"]]
    assert len(solutions) >= 2 and len(tests) >= len(solutions)
    for c in solutions:
        assert c.cell_type == "code" and "### BEGIN SOLUTION" in c.source \
            and "### END SOLUTION" in c.source
    for c in tests:
        meta = c.metadata["nbgrader"]
        assert meta["locked"] and meta["points"] > 0
        visible = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", c.source, flags=re.S)
        calls = [ln for ln in visible.splitlines() if "check_function(" in ln or "check_answer(" in ln]
        assert calls, f"{meta['grade_id']}: the visible part must call a check (or it cannot fail)"


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_pages_hold_no_hidden_test_and_no_solution_marker(a):
    text = "\n".join(c.source for c in _page(a).cells)
    assert "HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    source = "\n".join(c.source for c in _source(a).cells)
    visible = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", source, flags=re.S)
    hidden_only = {ln.strip() for region in _hidden_regions(source) for ln in region.splitlines()
                   if len(ln.strip()) > 20 and ln.strip() not in visible}
    assert hidden_only
    for line in hidden_only:
        assert line not in text, line


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_pages_wrap_tasks_and_solutions_in_sphinx_exercise_directives(a):
    cells = _page(a).cells
    md = [c.source for c in cells if c.cell_type == "markdown"]
    starts = [re.search(r":label: (\S+)", s).group(1) for s in md if s.startswith("```{exercise-start}")]
    ends = [s for s in md if s.startswith("```{exercise-end}")]
    solutions = [s for s in md if s.startswith("````{solution}")]
    n_solution_cells = sum(1 for c in _source(a).cells if c.metadata["nbgrader"]["solution"])
    assert len(starts) == len(ends) == len(solutions) == n_solution_cells >= 2
    assert len(set(starts)) == len(starts)
    for label, sol in zip(starts, solutions):
        assert sol.startswith(f"````{{solution}} {label}\n:class: dropdown\n")
    assert exercises.setup_cell.problem(_page(a)) is None      # the book's set-up cell first
    hidden = [c for c in cells[1:]
              if c.cell_type == "code" and "remove-cell" in c.metadata.get("tags", [])]
    assert len(hidden) == n_solution_cells
    # the starter code shown in the exercise is the release's
    assert sum(s.count("raise NotImplementedError()") for s in md) >= n_solution_cells


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_pages_run_their_checks_against_the_solutions(a):
    outputs = "".join(o.get("text", "") for c in _page(a).cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    checks = sum(1 for c in _source(a).cells if c.metadata["nbgrader"]["grade"])
    assert outputs.count("✓ ") >= checks


def test_student_config_hides_the_solutions(tmp_path):
    out = tmp_path / "student.yml"
    assert exercises.main(["student-config", str(out)]) == 0
    cfg = yaml.safe_load(out.read_text())
    base = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["sphinx"]["config"]["hide_solutions"] is True
    assert cfg["sphinx"]["config"]["html_copy_source"] is False
    assert cfg["sphinx"]["config"]["html_theme_options"]["use_download_button"] is False
    assert cfg["exclude_patterns"] == base["exclude_patterns"]
    for folder in cfg["sphinx"].get("local_extensions", {}).values():
        assert Path(folder).is_absolute() and Path(folder).is_dir()


def test_the_course_folder_is_not_part_of_the_book():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "exercises" in cfg["exclude_patterns"]
