"""examples/cifar10_doc1.py end to end, on a tiny CIFAR-format folder this test writes.

The folder has the official layout (``cifar-10-batches-py/data_batch_1`` ...
``_5``, ``test_batch``: pickled dicts with ``b"data"`` (uint8, n x 3072, red then
green then blue planes) and ``b"labels"``), with images whose class is easy to
see (each class a colour), so that even a short run must learn something.
The script runs as a user runs it, in a subprocess, without network.
"""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "cifar10_doc1.py"


def write_batch(path: Path, n: int, rng) -> None:
    labels = rng.integers(0, 10, n)
    # class k: a plain colour from a fixed palette, plus noise
    palette = np.random.default_rng(123).integers(0, 256, (10, 3))
    images = palette[labels][:, :, None, None] + rng.normal(0, 20, (n, 3, 32, 32))
    data = np.clip(images, 0, 255).astype(np.uint8).reshape(n, 3072)
    with open(path, "wb") as fh:
        pickle.dump({b"batch_label": b"tiny", b"data": data,
                     b"labels": [int(v) for v in labels]}, fh)


def tiny_cifar(root: Path) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        write_batch(folder / f"data_batch_{i}", 40, rng)
    write_batch(folder / "test_batch", 60, rng)
    return root


def run(args, tmp_path):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_script_trains_reports_per_class_and_saves_the_filters(tmp_path):
    data = tiny_cifar(tmp_path / "data")
    out = tmp_path / "run"
    proc = run(["--data-dir", str(data), "--out", str(out), "--epochs", "3",
                "--batch-size", "20", "--lr", "3e-3", "--no-download", "--no-verify",
                "--no-augment", "--no-progress"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "training on 200 images, testing on 60" in proc.stdout
    for name in ("airplane", "automobile", "truck"):
        assert f"  {name}" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert set(results["per_class_accuracy"]) == {
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
        "truck"}
    assert results["test_accuracy"] > 0.5          # colours are easy: chance is 0.1
    png = (out / "conv1_filters.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    assert (out / "model.npz").is_file()
    assert len(results["val_acc_by_epoch"]) == 3


def test_the_published_checksums_are_checked(tmp_path):
    """Files that are not the published CIFAR-10 are refused unless --no-verify."""
    data = tiny_cifar(tmp_path / "data")
    proc = run(["--data-dir", str(data), "--out", str(tmp_path / "run"), "--epochs", "1",
                "--no-download", "--no-progress"], tmp_path)
    assert proc.returncode != 0
    assert "MD5" in proc.stderr or "md5" in proc.stderr.lower()


def test_missing_files_without_download_say_where_they_were_looked_for(tmp_path):
    proc = run(["--data-dir", str(tmp_path / "nothing"), "--no-download", "--epochs", "1",
                "--no-progress"], tmp_path)
    assert proc.returncode != 0
    assert "nothing" in proc.stderr and "FileNotFoundError" in proc.stderr


def test_bad_arguments_are_refused_by_name(tmp_path):
    proc = run(["--epochs", "0"], tmp_path)
    assert proc.returncode == 2 and "--epochs must be >= 1" in proc.stderr
