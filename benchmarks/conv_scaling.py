"""``python -m benchmarks.conv_scaling``: how the time of a convolution grows with its work.

Times ``conv2d_forward`` (3 x 3 filters, padding 1, float32) as the image size,
the number of channels (``C = F``) and the batch grow from a base layer of 8
images, 16 channels and 32 x 32 pixels, and the rate of a 1024 x 1024 float32
matrix product on the same machine (:func:`companion.teaching.timing.measure_conv_scaling`).

Chapter 16 draws the result. Timings belong to a machine, so the chapter does
not measure them when it runs (its stored outputs must be the same everywhere):
it reads the file this module writes, ``book/data/conv_scaling.json`` by
default, which names the machine, the versions and the thread count. Run it on
a quiet machine, then re-execute the chapter::

    python -m benchmarks.conv_scaling
    python tools/execute_notebooks.py book/16_challenges.ipynb
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from companion.teaching import measure_conv_scaling

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "book" / "data" / "conv_scaling.json"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.conv_scaling", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    p.add_argument("--budget", type=float, default=0.3,
                   help="seconds spent timing each case (default 0.3)")
    args = p.parse_args(argv)
    result = measure_conv_scaling(rng=0, budget=args.budget, progress=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"matrix product: {result['matmul_1024_gflops']:.0f} GFLOP/s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
