"""The stored notebooks are clean: executed top to bottom, deterministic, quiet.

nbval (run over ``book/`` by ``pytest``) re-executes every chapter and
compares outputs; these checks catch what it cannot: a notebook stored
without outputs, executed out of order, with a stderr or error output, with
memory addresses or timestamps that would change on the next run, or a
cell that nbval is told not to compare (every output must hold on any CPU;
see CONTRIBUTING.md).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb")
                   if "_build" not in p.parts and ".ipynb_checkpoints" not in p.parts)
ADDRESS = re.compile(r" at 0x[0-9a-f]{6,}")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _output_texts(output) -> list[str]:
    if "text" in output:
        return [_text(output["text"])]
    data = output.get("data", {})
    return [_text(data[k]) for k in ("text/plain", "text/html") if k in data]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_stored_clean(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", \
        "kernelspec must be python3 (nbval and Binder start that kernel)"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "a chapter notebook has code cells"
    counts = [c.get("execution_count") for c in code if _text(c["source"]).strip()]
    assert counts == list(range(1, len(counts) + 1)), \
        f"not executed top to bottom in one fresh kernel: execution counts {counts}"
    for i, cell in enumerate(code):
        skipped = {"nbval-ignore-output", "nbval-skip"} & set(cell.get("metadata", {}).get("tags", []))
        assert not skipped and "NBVAL_IGNORE_OUTPUT" not in _text(cell["source"]) \
            and "NBVAL_SKIP" not in _text(cell["source"]), \
            f"code cell {i} is not compared by nbval: print what holds on any CPU instead"
        assert "execution" not in cell.get("metadata", {}), \
            f"code cell {i} stores execution timestamps (re-execute with tools/execute_notebooks.py)"
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"code cell {i} stores an error"
            assert not (out["output_type"] == "stream" and out.get("name") == "stderr"), \
                f"code cell {i} writes to stderr: {_text(out.get('text', ''))[:200]!r}"
            for text in _output_texts(out):
                assert not ADDRESS.search(text), \
                    f"code cell {i} prints a memory address: {ADDRESS.search(text).group()!r}"


CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
EXERCISE_PAGES = sorted((ROOT / "book" / "exercises").glob("*.ipynb"))
PAGE_WIDTH = 88


def _code_lines(cell) -> list[str]:
    """The code a cell shows: a code cell's source, or the fenced blocks of a markdown
    cell (the exercise pages' starter code and solutions)."""
    text = _text(cell["source"])
    if cell["cell_type"] == "code":
        return text.splitlines()
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            lines.append(line)
    return lines


@pytest.mark.parametrize("path", CHAPTERS + EXERCISE_PAGES,
                         ids=lambda p: str(p.relative_to(ROOT / "book")))
def test_code_fits_the_page(path):
    """Code lines of at most 88 characters: longer ones scroll sideways in the book."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    long = [(i, line) for i, cell in enumerate(nb["cells"])
            for line in _code_lines(cell) if len(line) > PAGE_WIDTH]
    assert not long, (f"{len(long)} code line(s) over {PAGE_WIDTH} characters, the first in "
                      f"cell {long[0][0]}: {long[0][1]!r}")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_shown_package_source_fits_the_page(path):
    """The package code a chapter shows with ``show_source`` fits the page too."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    long = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code" or "show_source(" not in _text(cell["source"]):
            continue
        for out in cell.get("outputs", []):
            text = _text(out.get("data", {}).get("text/plain", ""))
            long += [(i, line) for line in text.splitlines() if len(line) > PAGE_WIDTH]
    assert not long, (f"{len(long)} line(s) of shown source over {PAGE_WIDTH} characters, "
                      f"the first in cell {long[0][0]}: {long[0][1]!r} (wrap it in companion/)")
