"""Fetch MathJax 3 so that the built book renders math with no network.

Runs ``npm pack mathjax@VERSION`` (npm's own registry client, no other host),
checks the tarball against the integrity hash pinned below, and unpacks its
``es5/`` folder into ``_mathjax/_static/mathjax/``. Sphinx copies ``_mathjax/``
into the HTML output (``html_extra_path``), so the pages load
``_static/mathjax/tex-chtml.js`` from the book itself.

Without npm the script says so and exits 0: the book then loads MathJax from
its CDN (see ``tools/offline_mathjax.py``), which needs a network to view.

Usage: ``python tools/fetch_mathjax.py``  (idempotent; ``--force`` re-fetches)
"""
from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "3.2.2"
INTEGRITY = "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / "_mathjax" / "_static" / "mathjax"
STAMP = DEST / ".version"


def main(argv: list[str]) -> int:
    force = "--force" in argv
    if not force and STAMP.is_file() and STAMP.read_text().strip() == VERSION:
        print(f"MathJax {VERSION} already in {DEST.relative_to(ROOT)}")
        return 0
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: the book will load MathJax from its CDN "
              "(install Node.js and re-run for offline math)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", f"mathjax@{VERSION}", "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        tarball = Path(tmp) / f"mathjax-{VERSION}.tgz"
        algo, expected = INTEGRITY.split("-", 1)
        digest = base64.b64encode(hashlib.new(algo, tarball.read_bytes()).digest()).decode()
        if digest != expected:
            print(f"mathjax-{VERSION}.tgz failed its integrity check "
                  f"(expected {expected}, got {digest}); not used", file=sys.stderr)
            return 1
        if DEST.exists():
            shutil.rmtree(DEST)
        DEST.mkdir(parents=True)
        with tarfile.open(tarball) as tar:
            members = [m for m in tar.getmembers()
                       if m.name.startswith("package/es5/") or m.name == "package/LICENSE"]
            for m in members:
                m.name = m.name.removeprefix("package/es5/").removeprefix("package/")
            tar.extractall(DEST, members=members, filter="data")
    STAMP.write_text(VERSION + "\n")
    print(f"MathJax {VERSION} unpacked into {DEST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
