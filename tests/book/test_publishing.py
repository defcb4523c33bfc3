"""The GitHub Pages workflow (``.github/workflows/book.yml``) parses and does what it says.

It cannot run here; this checks its structure: triggered by pushes to the
branch named in ``_config.yml``, strict build with the reader's environment
and offline MathJax, official Pages actions, and the permissions they need.
Its branch guard (a shell step) is run for real.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


@pytest.fixture(scope="module")
def workflow():
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict), "book.yml must be a YAML mapping"
    return data


def _triggers(workflow):
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True
    return workflow.get("on", workflow.get(True))


def _steps(workflow, job):
    return workflow["jobs"][job]["steps"]


def _uses(workflow, job):
    return [s["uses"] for s in _steps(workflow, job) if "uses" in s]


def _runs(workflow, job):
    return [s["run"].strip() for s in _steps(workflow, job) if "run" in s]


def test_runs_on_every_push_to_the_configured_branch(workflow):
    branch = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["branch"]
    triggers = _triggers(workflow)
    assert triggers["push"]["branches"] == [branch], triggers


def test_builds_strictly_with_the_readers_environment(workflow):
    runs = _runs(workflow, "build")
    order = ["python -m pip install -r requirements.txt", "python tools/fetch_mathjax.py",
             "jupyter-book build . -W -n --keep-going"]
    positions = [runs.index(cmd) for cmd in order]
    assert positions == sorted(positions), f"expected in this order: {order}"
    makefile = (ROOT / "Makefile").read_text()
    assert "jupyter-book build . -W -n --keep-going" in makefile, \
        "the workflow's build command must be the Makefile's (make book)"


def test_python_version_is_runtime_txt(workflow):
    setup = [s for s in _steps(workflow, "build") if s.get("uses", "").startswith("actions/setup-python@")]
    assert len(setup) == 1
    assert setup[0]["with"]["python-version"] == "${{ steps.python.outputs.version }}"
    step = next(s for s in _steps(workflow, "build") if s.get("id") == "python")
    out = subprocess.run(["bash", "-c", step["run"]], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "GITHUB_OUTPUT": "/dev/stdout"})
    version = (ROOT / "runtime.txt").read_text().strip().removeprefix("python-")
    assert out.returncode == 0 and out.stdout.strip() == f"version={version}", out


def test_uses_the_official_pages_actions_with_current_versions(workflow):
    build, deploy = _uses(workflow, "build"), _uses(workflow, "deploy")
    expected_build = {"actions/checkout": 6, "actions/setup-python": 6,
                      "actions/configure-pages": 6, "actions/upload-pages-artifact": 5}
    for action, major in expected_build.items():
        found = [u for u in build if u.startswith(action + "@")]
        assert found, f"build job does not use {action}"
        assert re.fullmatch(rf"{action}@v(\d+)", found[0]) and \
            int(found[0].split("@v")[1]) >= major, f"{found[0]}: use v{major} or newer (Node 24)"
    assert len(deploy) == 1 and re.fullmatch(r"actions/deploy-pages@v(\d+)", deploy[0])
    assert int(deploy[0].split("@v")[1]) >= 5
    upload = next(s for s in _steps(workflow, "build")
                  if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"


def test_permissions_are_the_least_that_deploy_needs(workflow):
    assert workflow["permissions"] == {"contents": "read"}
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["environment"]["url"] == "${{ steps.deployment.outputs.page_url }}"
    assert _steps(workflow, "deploy")[0]["id"] == "deployment"
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_branch_guard_accepts_the_configured_branch_only(workflow):
    step = next(s for s in _steps(workflow, "build") if "GITHUB_REF_NAME" in s.get("run", ""))
    branch = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["branch"]
    env = dict(os.environ)
    ok = subprocess.run(["bash", "-c", step["run"]], cwd=ROOT, capture_output=True, text=True,
                        env={**env, "GITHUB_REF_NAME": branch})
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(["bash", "-c", step["run"]], cwd=ROOT, capture_output=True, text=True,
                         env={**env, "GITHUB_REF_NAME": branch + "-other"})
    assert bad.returncode == 1 and "launch buttons" in bad.stderr
