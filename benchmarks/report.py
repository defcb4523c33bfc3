"""The benchmark table: medians in milliseconds and ratios against the baselines."""
from __future__ import annotations

import math

__all__ = ["format_table"]


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1e3:8.3f}"


def _ratio(a: float, b: float) -> str:
    if math.isnan(a) or math.isnan(b) or b == 0:
        return "-"
    return f"{a / b:5.2f}"


def _share(flops: float, seconds: float, peak_gflops) -> str:
    if not peak_gflops or not flops or math.isnan(seconds) or seconds == 0:
        return "     -"
    return f"{flops / seconds / 1e9 / peak_gflops:6.0%}"


def format_table(cases, timings, *, reference="companion", baselines=("numpy", "torch"),
                 peak_gflops=None) -> str:
    """A text table: one row per case and one sum row per group.

    ``timings[case.name, case.group]`` maps implementation names to
    :class:`~benchmarks.timing.Timing`. A ratio is ``reference / baseline``
    of the medians: below 1.0 the companion package is faster. With
    ``peak_gflops`` (the measured matrix-product rate), the column ``peak``
    is the ``reference``'s FLOP/s as a share of it, for cases that count
    their FLOPs.
    """
    names = []
    for case in cases:
        for name in case.implementations:
            if name not in names:
                names.append(name)
    baselines = [b for b in baselines if b in names]
    head = (f"{'group':<19} {'layer':<18} {'algorithm':<9} "
            + " ".join(f"{n:>{max(len(n), 8)}}" for n in names)
            + "".join(f"  {reference[:4]}/{b:<6}" for b in baselines) + "  noise"
            + ("    peak" if peak_gflops else ""))
    lines = ["median time of forward + backward (a training step: forward, loss, backward, "
             "update), ms; ratio < 1: companion faster", head,
             "-" * len(head)]
    groups = []
    for case in cases:
        if case.group not in groups:
            groups.append(case.group)
    for group in groups:
        sums = {n: 0.0 for n in names}
        flops = 0.0
        for case in (c for c in cases if c.group == group):
            t = timings[case.name, case.group]
            med = {n: (t[n].median if n in t else math.nan) for n in names}
            for n in names:
                sums[n] += med[n]
            flops += case.flops
            noise = max((t[n].spread for n in t), default=math.nan)
            lines.append(f"{group:<19} {case.name:<18} {case.note:<9} "
                         + " ".join(f"{_ms(med[n]):>{max(len(n), 8)}}" for n in names)
                         + "".join(f"  {_ratio(med[reference], med[b]):>11}" for b in baselines)
                         + ("      -" if math.isnan(noise) else f"  {noise:5.0%}")
                         + (f"  {_share(case.flops, med[reference], peak_gflops)}"
                            if peak_gflops else ""))
        members = [c for c in cases if c.group == group]
        if len(members) == 1 or not all(c.summed for c in members):
            lines.append("")
            continue
        lines.append(f"{group:<19} {'SUM':<18} {'':<9} "
                     + " ".join(f"{_ms(sums[n]):>{max(len(n), 8)}}" for n in names)
                     + "".join(f"  {_ratio(sums[reference], sums[b]):>11}" for b in baselines)
                     + (f"         {_share(flops, sums[reference], peak_gflops)}"
                        if peak_gflops and all(c.flops for c in cases if c.group == group)
                        else ""))
        lines.append("")
    return "\n".join(lines)
