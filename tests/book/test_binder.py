"""The Binder (repo2docker) contract of the repository.

repo2docker cannot run here (it needs Docker), so this checks what it relies on:

* the configuration files it reads at the root (``runtime.txt``,
  ``requirements.txt``, ``postBuild``, ``start``) exist, are executable where
  they must be, and nothing hides them (a ``binder/`` folder, a
  ``Dockerfile`` or ``environment.yml`` would replace them);
* ``runtime.txt`` names a Python that every pinned package accepts;
* end to end, as Binder runs them: ``./postBuild`` warms Numba's cache with
  ``NUMBA_CPU_NAME=generic``, and a session started through ``./start`` has
  the same setting and loads every kernel from that cache, compiling nothing.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")


def _runtime_python() -> str:
    text = (ROOT / "runtime.txt").read_text()
    match = re.fullmatch(r"python-(3\.\d+)\n?", text)
    assert match, f"runtime.txt must be one line 'python-3.X', got {text!r}"
    return match.group(1)


def _code_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_nothing_hides_or_replaces_the_root_configuration():
    for name in ("binder", ".binder"):
        assert not (ROOT / name).exists(), \
            f"a {name}/ folder makes repo2docker ignore the root's requirements.txt, postBuild, start"
    for name in ("Dockerfile", "environment.yml", "Pipfile", "Pipfile.lock", "setup.py"):
        assert not (ROOT / name).exists(), \
            f"{name} would change how repo2docker builds the image (requirements.txt is the spec)"


def test_runtime_txt_names_a_python_every_pin_accepts():
    python = Version(_runtime_python())
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert python in SpecifierSet(requires), \
        f"runtime.txt python-{python} is outside pyproject.toml requires-python {requires!r}"
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = PIN.match(line.strip())
        if m:
            pins[m.group(1)] = m.group(2)
    assert {"numba", "numpy", "llvmlite", "jupyter-book"} <= set(pins), pins
    checked = []
    for name, version in pins.items():
        try:
            meta = metadata.metadata(name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name}=={version} is pinned in requirements.txt but not installed here")
        if meta["Version"] != version:
            continue                        # another version installed: its metadata says nothing
        spec = meta.get("Requires-Python")
        if spec:
            assert python in SpecifierSet(spec), \
                f"runtime.txt python-{python}: {name}=={version} requires Python {spec}"
        # Compiled packages list the Pythons they ship wheels for as classifiers.
        listed = [c.rpartition(" :: ")[2] for c in meta.get_all("Classifier") or []
                  if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
        if listed:
            assert str(python) in listed, \
                f"runtime.txt python-{python}: {name}=={version} supports Python {listed} only"
        checked.append(name)
    assert {"numba", "numpy", "llvmlite"} <= set(checked), \
        f"the compiled pins were not checked (installed versions differ from the pins?): {checked}"


def test_requirements_install_the_package_editable():
    lines = _code_lines(ROOT / "requirements.txt")
    assert "-e ." in lines, ("requirements.txt must install the package with '-e .': postBuild warms "
                             "the Numba cache of ./companion, the copy the kernels must import")


@pytest.mark.parametrize("name", ["postBuild", "start"])
def test_scripts_are_executable_bash(name):
    path = ROOT / name
    assert path.is_file(), f"{name} is missing at the repository root"
    assert os.access(path, os.X_OK) and path.stat().st_mode & 0o111, \
        f"{name} must be executable (chmod +x {name}; git records the mode)"
    first = path.read_text().splitlines()[0]
    assert first == "#!/bin/bash", f"{name} must start with '#!/bin/bash', got {first!r}"


def test_postbuild_exports_generic_cpu_then_runs_the_warmup():
    lines = _code_lines(ROOT / "postBuild")
    assert any(re.match(r"set -[a-z]*e", line) for line in lines), \
        "postBuild must stop at the first error (set -e): repo2docker ignores errors otherwise"
    export = lines.index("export NUMBA_CPU_NAME=generic")
    warm = lines.index("python -m companion.precompile")
    assert export < warm, "NUMBA_CPU_NAME=generic must be exported before precompiling runs"


def test_start_exports_generic_cpu_and_ends_with_exec():
    lines = _code_lines(ROOT / "start")
    assert "export NUMBA_CPU_NAME=generic" in lines
    assert lines[-1] == 'exec "$@"', "repo2docker's start script must end with exec \"$@\""


_SESSION = """
import json
from numba import config
from companion.precompile import precompile
report = precompile()
print(json.dumps({"cpu": config.CPU_NAME, "compiled": report.compiled, "loaded": report.loaded,
                  "unreached": report.unreached, "kernels": len(report.kernels),
                  "jit": report.jit_enabled}))
"""


def test_postbuild_warms_the_cache_that_a_started_session_uses():
    """Run ``./postBuild``, then a "kernel" through ``./start``, as Binder does."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NUMBA_DISABLE_JIT")}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    build = subprocess.run(["./postBuild"], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=1800)
    assert build.returncode == 0, f"postBuild failed:\n{build.stdout}\n{build.stderr}"
    assert "NUMBA_CPU_NAME=generic" in build.stdout, build.stdout
    # the student notebooks that learners on Binder open
    sources = sorted(p.parent.name for p in (ROOT / "exercises" / "source").glob("*/*.ipynb"))
    assert sources, "no exercise sources"
    for a in sources:
        released = ROOT / "exercises" / "release" / a / f"{a}.ipynb"
        assert released.is_file(), f"postBuild did not release {a}"
        assert "BEGIN SOLUTION" not in released.read_text(encoding="utf-8"), a
    # A session: start -> (Jupyter ->) a kernel whose working directory is book/
    session = subprocess.run([str(ROOT / "start"), "python", "-c", _SESSION], cwd=ROOT / "book",
                             env=env, capture_output=True, text=True, timeout=600)
    assert session.returncode == 0, f"session failed:\n{session.stdout}\n{session.stderr}"
    result = json.loads(session.stdout.strip().splitlines()[-1])
    assert result["cpu"] == "generic", "start must export NUMBA_CPU_NAME=generic to the kernels"
    assert result["jit"] and result["unreached"] == []
    assert result["compiled"] == 0, \
        f"a session after postBuild compiled {result['compiled']} signatures: the cache missed"
    assert result["loaded"] >= result["kernels"] // 2, result
