"""Comparisons over seeds (多个随机种子): mean ± sd and the paired difference.

One training run is one draw: its initial weights, the order of its batches and
its dropout masks are random, and two settings compared on one seed differ by
that luck as much as by the setting. A claim that one setting beats another
therefore rests on several seeds, and on the **paired** difference: setting A
and setting B are run with the same seed (same initial weights, same batches),
the difference is taken seed by seed, and its mean and standard deviation say
whether the gap is larger than the seed-to-seed spread::

    runs = over_seeds(lambda seed: {"dropout": train(seed, p=0.5),
                                    "none": train(seed, p=0.0)}, seeds=range(5))
    cmp = paired_difference(runs["dropout"], runs["none"])
    print(cmp.describe("dropout", "none", scale=100, digits=1, unit=" %"))
    # dropout 97.1 ± 0.3 %, none 96.4 ± 0.5 %; paired difference +0.7 ± 0.2 %
    # (better on 5 of 5 seeds): dropout better

The verdict is *no clear difference* when the spread covers zero, that is when
``|mean difference| <= sd of the differences``; then the text must not call
either setting a win. Standard deviations are sample ones (``ddof=1``).
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, NamedTuple

import numpy as np

from companion._progress import ProgressBar

__all__ = ["SeedStats", "PairedDifference", "seed_stats", "over_seeds",
           "paired_difference"]


class SeedStats(NamedTuple):
    """The values of one setting over seeds, with their mean and sample sd."""
    values: np.ndarray
    mean: float
    sd: float

    def describe(self, *, scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
        """``"97.1 ± 0.3 %"``: mean ± sd times ``scale``, to ``digits`` decimals."""
        return f"{self.mean * scale:.{digits}f} ± {self.sd * scale:.{digits}f}{unit}"


class PairedDifference(NamedTuple):
    """Setting A against setting B, seed by seed (see the module docstring)."""
    a: SeedStats
    b: SeedStats
    diff: SeedStats          # a - b, per seed
    wins: int                # seeds on which a - b has the sign of the mean difference
    clear: bool              # the mean difference lies outside ± its sd

    @property
    def n(self) -> int:
        return len(self.diff.values)

    def verdict(self, name_a: str, name_b: str, *, higher_is_better: bool = True) -> str:
        """``"<a> better"``, ``"<b> better"`` or ``"no clear difference"``."""
        if not self.clear:
            return "no clear difference"
        a_higher = self.diff.mean > 0
        return f"{name_a if a_higher == higher_is_better else name_b} better"

    def describe(self, name_a: str, name_b: str, *, scale: float = 1.0, digits: int = 2,
                 unit: str = "", higher_is_better: bool = True) -> str:
        """One sentence: both settings' mean ± sd, the paired difference, the verdict."""
        d = self.diff
        sign = "+" if d.mean * scale >= 0 else "-"
        diff = f"{sign}{abs(d.mean * scale):.{digits}f} ± {d.sd * scale:.{digits}f}{unit}"
        higher = "higher" if d.mean > 0 else "lower"
        return (f"{name_a} {self.a.describe(scale=scale, digits=digits, unit=unit)}, "
                f"{name_b} {self.b.describe(scale=scale, digits=digits, unit=unit)}; "
                f"paired difference {diff} ({higher} on {self.wins} of {self.n} seeds): "
                f"{self.verdict(name_a, name_b, higher_is_better=higher_is_better)}")


def _values(values, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers, got {values!r}") from None
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(f"{name} must hold one number per seed, at least 2, got shape "
                         f"{arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    return arr


def seed_stats(values, name: str = "values") -> SeedStats:
    """Mean and sample standard deviation of one value per seed (at least 2)."""
    arr = _values(values, name)
    return SeedStats(arr, float(arr.mean()), float(arr.std(ddof=1)))


def paired_difference(a, b) -> PairedDifference:
    """Compare setting ``a`` with setting ``b``, both given as one value per seed, the
    seeds in the same order (``a[k]`` and ``b[k]`` ran with the same seed)."""
    a_arr, b_arr = _values(a, "a"), _values(b, "b")
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"a and b must have one value per seed each, the same seeds: "
                         f"got {a_arr.size} and {b_arr.size} values")
    d = seed_stats(a_arr - b_arr, "a - b")
    wins = int(np.sum(np.sign(d.values) == np.sign(d.mean))) if d.mean != 0 else 0
    clear = abs(d.mean) > d.sd
    return PairedDifference(seed_stats(a_arr, "a"), seed_stats(b_arr, "b"), d, wins, clear)


def over_seeds(run: Callable[[int], dict], seeds, *, progress="auto",
               desc: str = "seeds") -> dict[str, np.ndarray]:
    """Call ``run(seed)`` for every seed and gather its results by name.

    Parameters
    ----------
    run : callable ``seed -> {name: number}``
        One run per seed, returning a number per setting or measurement (the
        settings to compare should run inside it with the same seed).
    seeds : iterable of int
        At least 2 distinct seeds; the results keep their order.
    progress : {"auto", True, False}
        A progress bar over the seeds (see :mod:`companion._progress`).

    Returns
    -------
    dict name -> ndarray of float64, one value per seed
    """
    seeds = list(seeds)
    for s in seeds:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
            raise TypeError(f"seeds must be integers, got {s!r}")
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must hold at least 2 distinct integers, got {seeds}")
    if not callable(run):
        raise TypeError(f"run must be a callable seed -> dict, got {run!r}")
    out: dict[str, list] = {}
    with ProgressBar(total=len(seeds), desc=desc, progress=progress) as bar:
        for k, seed in enumerate(seeds):
            result = run(int(seed))
            if not isinstance(result, dict) or not result:
                raise TypeError(f"run({seed}) must return a non-empty dict name -> number, "
                                f"got {result!r}")
            if k and set(result) != set(out):
                raise ValueError(f"run({seed}) returned {sorted(result)}, the first seed "
                                 f"{sorted(out)}: every run must return the same names")
            for name, value in result.items():
                if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
                        or not math.isfinite(float(value)):
                    raise ValueError(f"run({seed})[{name!r}] must be a finite number, "
                                     f"got {value!r}")
                out.setdefault(name, []).append(float(value))
            bar.update(1)
    return {name: np.array(values) for name, values in out.items()}
