"""Tests of companion.train.seeds: mean ± sd, paired differences, the verdict, over_seeds
(with a real training run), and bad input."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.nn import Dense, ReLU, Sequential
from companion.optim import SGD
from companion.train import (
    accuracy,
    fit,
    over_seeds,
    paired_difference,
    predict,
    seed_stats,
)
from helpers import assert_raises_naming


def test_stats_are_the_mean_and_the_sample_sd():
    s = seed_stats([1.0, 2.0, 4.0])
    assert s.mean == pytest.approx(7 / 3)
    assert s.sd == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert s.describe(scale=100, digits=1, unit=" %") == "233.3 ± 152.8 %"


def test_a_consistent_gain_is_clear_and_a_noisy_one_is_not():
    base = np.array([0.90, 0.95, 0.85, 0.92, 0.88])
    clear = paired_difference(base + [0.010, 0.012, 0.008, 0.011, 0.009], base)
    assert clear.clear and clear.wins == 5
    assert clear.verdict("A", "B") == "A better"
    assert clear.verdict("A", "B", higher_is_better=False) == "B better"
    assert clear.describe("dropout", "none", scale=100, digits=1, unit=" %") == (
        "dropout 91.0 ± 4.0 %, none 90.0 ± 3.8 %; paired difference +1.0 ± 0.2 % "
        "(higher on 5 of 5 seeds): dropout better")
    # the unpaired spreads (4.0, 3.8) hide a gain that the paired one (0.2) shows
    noisy = paired_difference(base + [0.02, -0.015, 0.01, -0.02, 0.01], base)
    assert not noisy.clear
    assert noisy.verdict("A", "B") == "no clear difference"
    assert noisy.describe("A", "B", digits=3).endswith("no clear difference")


@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=8),
       st.floats(-10, 10), st.integers(0, 2**32 - 1))
def test_the_verdict_is_whether_the_spread_covers_zero(b, shift, seed):
    b = np.array(b)
    a = b + shift + np.random.default_rng(seed).normal(0, 1, b.size)
    cmp = paired_difference(a, b)
    d = a - b
    assert cmp.diff.mean == pytest.approx(d.mean(), abs=1e-9)
    assert cmp.clear == (abs(cmp.diff.mean) > cmp.diff.sd)
    assert 0 <= cmp.wins <= cmp.n == b.size


def test_over_seeds_runs_both_settings_with_each_seed_on_a_real_model():
    """Two widths of a small network on a fixed problem, 3 seeds each, paired."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 4)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    seen = []

    def run(seed):
        seen.append(seed)
        out = {}
        for width in (2, 32):
            model = Sequential(Dense(4, width, rng=seed), ReLU(), Dense(width, 2, rng=seed + 1))
            fit(model, (x, y), optimizer=SGD(lr=0.1, momentum=0.9), epochs=15,
                batch_size=20, rng=seed, progress=False)
            out[f"width {width}"] = accuracy(predict(model, x), y)
        return out

    runs = over_seeds(run, [3, 1, 2], progress=False)
    assert seen == [3, 1, 2]
    assert set(runs) == {"width 2", "width 32"} and runs["width 2"].shape == (3,)
    cmp = paired_difference(runs["width 32"], runs["width 2"])
    assert cmp.verdict("width 32", "width 2") == "width 32 better"


def test_bad_input_is_named():
    assert_raises_naming(lambda: seed_stats([1.0]), ValueError, ["at least 2"])
    assert_raises_naming(lambda: seed_stats([1.0, np.nan]), ValueError, ["finite"])
    assert_raises_naming(lambda: seed_stats(["a", "b"]), TypeError, ["sequence of numbers"])
    assert_raises_naming(lambda: paired_difference([1, 2, 3], [1, 2]), ValueError,
                         ["same seeds", "3 and 2"])
    assert_raises_naming(lambda: over_seeds(lambda s: {"a": 1.0}, [1]), ValueError,
                         ["at least 2 distinct"])
    assert_raises_naming(lambda: over_seeds(lambda s: {"a": 1.0}, [1, 1]), ValueError,
                         ["distinct"])
    assert_raises_naming(lambda: over_seeds(lambda s: {"a": 1.0}, [1, 2.5]), TypeError,
                         ["integers"])
    assert_raises_naming(lambda: over_seeds(lambda s: 1.0, [1, 2]), TypeError,
                         ["run(1)", "dict"])
    assert_raises_naming(lambda: over_seeds(lambda s: {"a": float("nan")}, [1, 2]),
                         ValueError, ["run(1)['a']", "finite"])
    assert_raises_naming(lambda: over_seeds(lambda s: {str(s): 1.0}, [1, 2]), ValueError,
                         ["run(2)", "same names"])
    assert_raises_naming(lambda: over_seeds(3, [1, 2]), TypeError, ["run"])
