"""Interleaved timing: every implementation of a case is timed in the same rounds.

On a shared machine the load changes from second to second. Timing
implementation A for ten seconds and then B for ten seconds compares two
different machines; :func:`time_interleaved` instead runs rounds, and in each
round times a short block of calls of every implementation in turn.

Thread pools need a moment to go quiet: after a parallel region OpenMP's
workers spin for a while, and OpenBLAS's idle workers keep polling for up to
about 0.1 s; either slows down whatever runs next on the same cores. Each
block therefore starts after a short pause (``settle``) and with one untimed
call, so an implementation is not charged for the previous one's threads.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["Timing", "time_interleaved"]


@dataclass
class Timing:
    """Timings of one implementation, in seconds."""

    samples: list = field(default_factory=list)

    @property
    def median(self) -> float:
        return float(np.median(self.samples)) if self.samples else float("nan")

    @property
    def minimum(self) -> float:
        return float(np.min(self.samples)) if self.samples else float("nan")

    @property
    def spread(self) -> float:
        """Interquartile range divided by the median (0.1 = 10 % noise)."""
        if len(self.samples) < 4:
            return float("nan")
        q1, q3 = np.percentile(self.samples, [25, 75])
        return float((q3 - q1) / np.median(self.samples))


def time_interleaved(functions: dict[str, Callable[[], object]], *, rounds: int = 7,
                     per_round: int = 3, warmup: int = 2,
                     settle: float = 0.15) -> dict[str, Timing]:
    """Time every function of ``functions`` in interleaved rounds.

    Parameters
    ----------
    functions : dict name -> callable
        Callables without arguments; their results are discarded.
    rounds : int
        Number of rounds; each round times every function in turn.
    per_round : int
        Timed calls per function per round (after one untimed call).
    warmup : int
        Untimed calls of each function before the first round (compilation,
        caches, thread pools).
    settle : float
        Pause in seconds before each block, for the previous block's idle
        threads to stop spinning.

    Returns
    -------
    dict name -> Timing
        ``rounds * per_round`` samples each.
    """
    for fn in functions.values():
        for _ in range(warmup):
            fn()
    timings = {name: Timing() for name in functions}
    for _ in range(rounds):
        for name, fn in functions.items():
            time.sleep(settle)
            fn()  # untimed: brings this implementation's threads and caches back
            for _ in range(per_round):
                start = time.perf_counter()
                fn()
                timings[name].samples.append(time.perf_counter() - start)
    return timings
