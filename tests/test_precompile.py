"""The warm-up (``python -m companion.precompile``) reaches every kernel of the package.

The Binder contract (postBuild warms the cache, ``start`` makes a session load
it) is tested end to end in ``tests/book/test_binder.py``.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numba import config, njit

from companion import precompile as pc


def test_finds_the_kernels_of_every_module_it_warms():
    kernels = pc.jitted_kernels()
    if config.DISABLE_JIT:
        assert kernels == {}, "under NUMBA_DISABLE_JIT there are no dispatchers"
        return
    modules = {name.rpartition(".")[0] for name in kernels}
    assert modules == set(pc.RUNNERS), (
        "modules with @njit kernels and modules precompiling calls differ: "
        f"only kernels {sorted(modules - set(pc.RUNNERS))}, "
        f"only warmers {sorted(set(pc.RUNNERS) - modules)}")
    assert "companion.functional.conv_direct.conv2d_forward_direct" in kernels
    assert "companion.functional.im2col_ops.im2col_plane" in kernels      # a callee of other kernels


def test_precompile_runs_every_kernel():
    report = pc.precompile()
    assert report.seconds > 0
    if config.DISABLE_JIT:
        assert not report.jit_enabled and report.kernels == ()
        return
    assert report.jit_enabled
    assert report.unreached == [], f"kernels precompiling never runs: {report.unreached}"
    names = [k.name for k in report.kernels]
    assert names == sorted(pc.jitted_kernels())
    for k in report.kernels:
        assert k.signatures >= 0 and k.cache_hits >= 0 and k.cache_misses >= 0
    # every driver called from Python has both dtypes
    conv = {k.name: k for k in report.kernels}["companion.functional.conv._conv2d_forward_naive"]
    assert conv.signatures >= 2


def test_reachability_counts_callees_of_reached_kernels_only():
    if config.DISABLE_JIT:
        pytest.skip("reachability is about Numba dispatchers (JIT disabled)")
    mod = importlib.import_module("companion.functional.pooling")      # any module: names are keys
    prefix = mod.__name__

    @njit
    def callee(x):
        return x + 1.0

    @njit
    def caller(x):
        return callee(x) * 2.0

    @njit
    def never_called(x):
        return x

    caller(np.float64(1.0))
    kernels = {f"{prefix}.callee": callee, f"{prefix}.caller": caller,
               f"{prefix}.never_called": never_called}
    status = {k.name.rpartition(".")[2]: k for k in pc._status(kernels)}
    assert status["caller"].reached and status["caller"].signatures == 1
    assert status["callee"].reached            # compiled into its caller
    assert not status["never_called"].reached and status["never_called"].signatures == 0
    report = pc.PrecompileReport(0.1, True, tuple(status.values()))
    assert report.unreached == [f"{prefix}.never_called"]


def test_main_prints_one_summary_and_check_passes(capsys):
    assert pc.main(["--check"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    if config.DISABLE_JIT:
        assert out == [out[0]] and "NUMBA_DISABLE_JIT" in out[0]
    else:
        assert len(out) == 1, out
        assert out[0].startswith(f"companion.precompile: {len(pc.jitted_kernels())} kernels")


def test_main_check_fails_when_a_kernel_is_unreached(monkeypatch, capsys):
    fake = pc.KernelStatus("companion.fake._kernel", 0, 0, 0, False)
    monkeypatch.setattr(pc, "precompile",
                        lambda: pc.PrecompileReport(0.5, True, (fake,)))
    assert pc.main(["--check"]) == 1
    assert "companion.fake._kernel" in capsys.readouterr().out
    assert pc.main([]) == 0            # without --check it only reports


def test_main_rejects_unknown_arguments():
    with pytest.raises(SystemExit) as exc:
        pc.main(["--frobnicate"])
    assert exc.value.code == 2
