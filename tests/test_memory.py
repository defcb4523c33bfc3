"""The memory policy (companion._memory): on glibc, importing the layers keeps large
freed arrays for reuse, so a step that allocates the same arrays again takes no page
faults; the user's own allocator settings, or COMPANION_DEFAULT_MALLOC, leave glibc alone.

Each case runs in a fresh interpreter: the thresholds are process-wide and set once.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

GLIBC = sys.platform.startswith("linux") and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")

# Three 8 MB arrays allocated, touched and freed together, as a training step does;
# the minor page faults of one such round after two warm-up rounds.
PROBE = textwrap.dedent("""
    import json, resource
    import numpy as np
    import companion.functional
    from companion._memory import memory_policy_status

    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    def one_round():
        arrays = [np.ones(2 << 20, np.float32) for _ in range(3)]
        del arrays

    one_round(); one_round()
    before = faults()
    for _ in range(10):
        one_round()
    print(json.dumps({"status": memory_policy_status(),
                      "faults_per_round": (faults() - before) / 10}))
""")


def _probe(**variables):
    env = {k: v for k, v in os.environ.items()
           if k not in ("COMPANION_DEFAULT_MALLOC", "MALLOC_MMAP_THRESHOLD_",
                        "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")}
    env.update(variables)
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)


@pytest.mark.skipif(not GLIBC, reason="the policy applies to glibc only")
def test_large_arrays_are_reused_without_page_faults():
    result = _probe()
    status = result["status"]
    assert status["applied"] is True, status
    assert status["mmap_threshold"] >= 32 << 20
    assert status["trim_threshold"] == 128 << 20
    # 3 x 8 MB is 6,144 pages; reused memory takes (almost) none.
    assert result["faults_per_round"] < 100, result


@pytest.mark.skipif(not GLIBC, reason="the policy applies to glibc only")
def test_without_the_policy_each_round_maps_fresh_pages():
    # The contrast that shows the probe can fail: glibc's own defaults.
    result = _probe(COMPANION_DEFAULT_MALLOC="1")
    assert result["status"] == {"applied": False, "reason": "COMPANION_DEFAULT_MALLOC is set",
                                "mmap_threshold": None, "trim_threshold": None}
    assert result["faults_per_round"] > 500, result


@pytest.mark.parametrize("variables, reason", [
    ({"MALLOC_MMAP_THRESHOLD_": "131072"}, "MALLOC_MMAP_THRESHOLD_ is set"),
    ({"MALLOC_TRIM_THRESHOLD_": "131072"}, "MALLOC_TRIM_THRESHOLD_ is set"),
    ({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072"},
     "GLIBC_TUNABLES sets glibc.malloc"),
])
def test_the_users_allocator_settings_win(variables, reason):
    status = _probe(**variables)["status"]
    assert status["applied"] is False
    assert status["reason"] == reason


def test_status_in_this_process_is_consistent():
    import importlib

    from companion._memory import apply_memory_policy, memory_policy_status

    importlib.import_module("companion.functional")          # applies the policy

    status = memory_policy_status()
    assert apply_memory_policy() is status["applied"]       # a second call changes nothing
    assert memory_policy_status() == status
    assert (status["mmap_threshold"] is None) is (not status["applied"])
