"""Shared test configuration.

Hypothesis runs with ``deadline=None``: the first example of a test pays
Numba's compile time. ``HYPOTHESIS_PROFILE=thorough`` runs ten times more
examples than the default.

``run_cold``: runs a snippet in a new process with an empty Numba cache and
checks that compiling its kernels from scratch prints nothing (a Numba warning
that appears only on a cold cache would fail a chapter under nbval).

``isolated_data_env``: a data loader test's environment, with no
``COMPANION_DATA``, a private per-user cache and no proxy between the test and
its local HTTP server on 127.0.0.1.
"""
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=400,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


@pytest.fixture
def isolated_data_env(tmp_path, monkeypatch):
    """No COMPANION_DATA, a private cache (``XDG_CACHE_HOME``), no proxy; returns the cache."""
    monkeypatch.delenv("COMPANION_DATA", raising=False)
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return cache


@pytest.fixture
def run_cold(tmp_path):
    """``run_cold(code)``: run ``code`` in a fresh interpreter with an empty Numba
    cache and every warning shown; assert it succeeds and prints nothing."""
    def run(code: str) -> None:
        env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"),
                   PYTHONWARNINGS="always")
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert result.stdout == ""
    return run
