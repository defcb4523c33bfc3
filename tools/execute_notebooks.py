"""Re-execute chapters and store their outputs in place.

    python tools/execute_notebooks.py                 # every notebook listed under book/
    python tools/execute_notebooks.py book/04_softmax.ipynb

Each notebook runs top to bottom in a fresh kernel whose working directory is
the notebook's folder (as in Jupyter and in nbval). A notebook that raises, or
that writes anything to stderr (a warning, a progress bar left in the output),
is reported and not saved: stored outputs must be exactly what nbval will see.
Run it whenever the companion package changes, then commit the notebooks.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def stderr_outputs(nb) -> list[tuple[int, str]]:
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append((i, out.get("text", "")[:300]))
    return found


def execute(path: Path, timeout: int) -> bool:
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    # record_timing=False: no execution timestamps in the stored cells (they
    # would change on every run and make every re-execution a diff).
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    except Exception as exc:  # report and keep the stored version
        print(f"FAILED  {path.relative_to(ROOT)}: {type(exc).__name__}: {str(exc)[-2000:]}")
        return False
    bad = stderr_outputs(nb)
    if bad:
        for i, text in bad:
            print(f"STDERR  {path.relative_to(ROOT)} cell {i}: {text!r}")
        return False
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    print(f"ok      {path.relative_to(ROOT)}  ({time.perf_counter() - start:.1f} s)")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "book").rglob("*.ipynb"))
    paths = [p.resolve() for p in paths if ".ipynb_checkpoints" not in p.parts]
    results = [execute(p, args.timeout) for p in paths]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
