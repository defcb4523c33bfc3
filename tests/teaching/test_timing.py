"""companion.teaching.timing: the measurements chapter 16 draws (values are never asserted: timings
belong to the machine; only their structure and the counted work are)."""
import json

import numpy as np
import pytest

from companion.teaching import (
    CONV_SCALING_CASES,
    best_time,
    cpu_name,
    measure_conv_scaling,
)


def test_best_time_is_the_shortest_positive_run():
    calls = []
    t = best_time(lambda: calls.append(1), budget=1e-3, max_repeats=5)
    assert t >= 0.0
    assert 2 <= len(calls) <= 6                      # one warm-up run, then at most 5


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_best_time_rejects_a_bad_budget(bad):
    with pytest.raises(ValueError, match="budget must be a finite number > 0"):
        best_time(lambda: None, budget=bad)


def test_measure_conv_scaling_counts_the_work_of_every_case():
    result = measure_conv_scaling(rng=0, budget=1e-4)
    json.dumps(result)                               # ready to be stored
    assert result["machine"]["cpu"] == cpu_name() and result["machine"]["numba_threads"] >= 1
    assert np.isfinite(result["matmul_1024_gflops"]) and result["matmul_1024_gflops"] > 0
    assert len(result["cases"]) == len(CONV_SCALING_CASES)
    for row, (kind, shape) in zip(result["cases"], CONV_SCALING_CASES):
        assert (row["varied"], row["N"], row["C"], row["H"]) == (kind, shape["N"], shape["C"],
                                                                 shape["H"])
        assert row["flops"] == 2 * row["N"] * row["C"] ** 2 * 9 * row["H"] ** 2
        assert row["seconds"] > 0
