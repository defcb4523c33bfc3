"""The set-up cell (``tools/setup_cell.py``) that makes every notebook run on Colab."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import setup_cell  # noqa: E402

NOTEBOOKS = setup_cell.book_notebooks()
FIX = "python tools/setup_cell.py {path} && python tools/execute_notebooks.py {path}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_book_notebook_starts_with_the_current_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    why = setup_cell.problem(nb)
    rel = path.relative_to(ROOT)
    assert why is None, f"{rel}: {why}; fix: {FIX.format(path=rel)}"
    cell = nb.cells[0]
    assert cell.get("outputs") == [], \
        f"{rel}: the set-up cell prints something in this environment: {cell.outputs}"


def _settings():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"], config["repository"]["branch"]


def test_cell_names_the_repository_of_config_and_the_version_of_pyproject():
    import tomllib
    url, branch = _settings()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    source = setup_cell.setup_source()
    assert f'source="git+{url}@{branch}"' in source
    assert f'version="{version}"' in source
    compile(source, "<setup cell>", "exec")
    cell = setup_cell.setup_cell()
    assert cell.metadata["tags"] == ["remove-cell"] and cell.id == setup_cell.CELL_ID


def _fake_root(tmp_path, config: str, version='version = "9.8.7"') -> Path:
    (tmp_path / "_config.yml").write_text(config)
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "companion"\n{version}\n')
    return tmp_path


def test_settings_come_from_the_given_files_and_bad_ones_are_named(tmp_path):
    root = _fake_root(tmp_path, "repository:\n  url: https://example.org/a/b/\n  branch: dev\n")
    source = setup_cell.setup_source(root)
    assert 'source="git+https://example.org/a/b@dev"' in source and 'version="9.8.7"' in source
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://example.org/a/b\n")
    assert "@master" in setup_cell.setup_source(root)       # Jupyter Book's default branch
    (tmp_path / "_config.yml").write_text("title: x\n")
    with pytest.raises(ValueError, match="repository.url"):
        setup_cell.setup_source(root)
    _fake_root(tmp_path, "repository:\n  url: https://example.org/a/b\n", version="")
    with pytest.raises(ValueError, match="project.version"):
        setup_cell.setup_source(root)


def _notebook(*cells):
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_apply_inserts_refreshes_and_moves_the_cell(tmp_path):
    root = _fake_root(tmp_path, "repository:\n  url: https://example.org/a/b\n  branch: main\n")
    title, code = new_markdown_cell("# Title"), new_code_cell("x = 1")
    nb = _notebook(title, code)
    assert setup_cell.problem(nb, root) == "no set-up cell"
    assert setup_cell.apply(nb, root) is True
    assert setup_cell.problem(nb, root) is None
    assert [c.source for c in nb.cells[1:]] == ["# Title", "x = 1"]
    assert setup_cell.apply(nb, root) is False                 # idempotent
    # stale: the version changed
    _fake_root(tmp_path, "repository:\n  url: https://example.org/a/b\n  branch: main\n",
               version='version = "9.9.9"')
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="old")]
    assert "stale" in setup_cell.problem(nb, root)
    assert setup_cell.apply(nb, root) is True
    assert 'version="9.9.9"' in nb.cells[0].source and nb.cells[0].outputs == []
    assert len(nb.cells) == 3
    # misplaced: moved back to the top, not duplicated
    nb.cells = [nb.cells[1], nb.cells[0], nb.cells[2]]
    assert setup_cell.problem(nb, root) == "the set-up cell is cell 1, not the first cell"
    setup_cell.apply(nb, root)
    assert setup_cell.problem(nb, root) is None and len(nb.cells) == 3
    # untagged
    nb.cells[0].metadata["tags"] = []
    assert "tagged" in setup_cell.problem(nb, root)
    nbformat.validate(nb)


def test_command_line_check_and_apply(tmp_path):
    path = tmp_path / "chapter.ipynb"
    nbformat.write(_notebook(new_markdown_cell("# T"), new_code_cell("x = 1")), path)
    tool = [sys.executable, str(ROOT / "tools" / "setup_cell.py")]
    check = subprocess.run(tool + ["--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 1 and "chapter.ipynb: no set-up cell" in check.stdout
    applied = subprocess.run(tool + [str(path)], capture_output=True, text=True)
    assert applied.returncode == 0 and "re-execute" in applied.stdout
    check = subprocess.run(tool + ["--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    bad = subprocess.run(tool + [str(tmp_path / "missing.ipynb")], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a notebook file" in bad.stderr


def _run_cell(source: str, *, only_path=None, hide_companion=False):
    """Run the cell's code in a fresh Python.

    ``only_path``: a folder that replaces site-packages (``python -S``, so the
    editable install of the real package is not seen). ``hide_companion``:
    ``companion`` cannot be imported (as on Colab).
    """
    prelude = "import sys\nsys.modules['companion'] = None\n" if hide_companion else ""
    env = dict(os.environ)
    flags = []
    if only_path:
        env["PYTHONPATH"] = str(only_path)
        flags = ["-S"]
    return subprocess.run([sys.executable, *flags, "-c", prelude + source], capture_output=True,
                          text=True, env=env, timeout=300, cwd=only_path or ROOT / "book")


def test_cell_prints_nothing_in_a_correct_environment():
    result = _run_cell(setup_cell.setup_source())
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


def test_cell_explains_a_version_mismatch(tmp_path):
    (tmp_path / "companion").mkdir()
    (tmp_path / "companion" / "__init__.py").write_text('__version__ = "0.0.1"\n')
    result = _run_cell(setup_cell.setup_source(), only_path=tmp_path)
    assert result.returncode == 0, result.stderr
    url, branch = _settings()
    version = setup_cell.book_settings()["version"]
    out = result.stdout
    assert f"needs version {version}" in out and "version 0.0.1 is installed" in out
    assert f'%pip install --force-reinstall "git+{url}@{branch}"' in out
    assert "restart the kernel" in out


def test_cell_reports_a_failed_install():
    source = setup_cell._TEMPLATE.format(marker=setup_cell.MARKER, version="0.1.0",
                                         source="git+file:///nonexistent/course@main")
    result = _run_cell(source, hide_companion=True)
    assert result.returncode != 0
    assert "RuntimeError: could not install the companion package" in result.stderr
    assert 'pip install "git+file:///nonexistent/course@main"' in result.stderr


def test_repository_url_lives_in_config_only():
    url, _ = _settings()
    places = [ROOT / p for p in ("tools", "tests", "companion", ".github", ".ci")] + \
        [ROOT / p for p in ("Makefile", "postBuild", "start", "pyproject.toml", "requirements.txt")]
    found = []
    for place in places:
        files = [place] if place.is_file() else (
            sorted(f for f in place.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
            if place.is_dir() else [])
        for f in files:
            try:
                if url in f.read_text(encoding="utf-8"):
                    found.append(str(f.relative_to(ROOT)))
            except UnicodeDecodeError:
                continue
    assert found == [], f"the repository URL is written outside _config.yml: {found}"
    assert url in (ROOT / "_config.yml").read_text()
