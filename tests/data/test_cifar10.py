"""CIFAR-10 reader: small fake batches written in the official format (pickled dicts with
bytes keys, uint8 rows of 3072 values), corrupt and malicious files, and a download of a
fake archive from an HTTP server on 127.0.0.1. No network and no real CIFAR-10 needed."""
import hashlib
import io
import os
import pickle
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from companion.data import CIFAR10_CLASSES, ChecksumError, Dataset, load_cifar10
from companion.data import (
    CIFAR10_FILES,
    CIFAR10_FOLDER,
    CIFAR10_MEAN,
    CIFAR10_STD,
    cifar10_data_dirs,
    read_cifar10_batch,
)


@pytest.fixture(autouse=True)
def isolated_env(isolated_data_env):
    return isolated_data_env


def fake_batch(n, seed, protocol=2):
    """(pickle bytes, rows uint8 (n, 3072), labels) in the layout of the official batches."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    rows[0, 0], rows[0, 1] = 0, 255
    labels = [int(v) for v in rng.integers(0, 10, n)]
    d = {b"batch_label": b"fake batch", b"labels": labels, b"data": rows,
         b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
    return pickle.dumps(d, protocol=protocol), rows, np.array(labels)


def write_folder(folder, sizes=(3, 2, 4, 1, 2), test_size=5, protocol=2):
    """Write data_batch_1..5, test_batch and batches.meta; return the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    names = list(CIFAR10_FILES["train"]) + ["test_batch"]
    for i, (name, n) in enumerate(zip(names, list(sizes) + [test_size])):
        data, rows, labels = fake_batch(n, seed=i, protocol=protocol)
        (folder / name).write_bytes(data)
        written[name] = (rows, labels)
    meta = {b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_cases_per_batch": 10000,
            b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return written


def test_layout_is_channels_first_rgb_planes(tmp_path):
    written = write_folder(tmp_path / CIFAR10_FOLDER)
    ds = load_cifar10("test", tmp_path, normalize=False)
    rows, labels = written["test_batch"]
    assert isinstance(ds, Dataset)
    assert ds.images.shape == (5, 3, 32, 32) and ds.images.dtype == np.float32
    assert ds.labels.dtype == np.int64
    np.testing.assert_array_equal(ds.labels, labels)
    for n in range(5):                     # row = 1024 red, 1024 green, 1024 blue, row-major
        for c, i, j in [(0, 0, 0), (1, 5, 7), (2, 31, 31), (2, 0, 31)]:
            assert ds.images[n, c, i, j] == rows[n, c * 1024 + i * 32 + j]


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_train_split_concatenates_five_batches_in_order(tmp_path, protocol):
    written = write_folder(tmp_path / CIFAR10_FOLDER, protocol=protocol)
    ds = load_cifar10("train", tmp_path / CIFAR10_FOLDER)          # the folder itself works too
    rows = np.concatenate([written[n][0] for n in CIFAR10_FILES["train"]])
    labels = np.concatenate([written[n][1] for n in CIFAR10_FILES["train"]])
    assert ds.images.shape == (12, 3, 32, 32)
    np.testing.assert_array_equal(ds.labels, labels)
    np.testing.assert_allclose(ds.images.reshape(12, -1), rows / np.float32(255), rtol=1e-7)
    assert ds.images.min() == 0.0 and ds.images.max() == 1.0


def test_standardize_and_dtype(tmp_path):
    write_folder(tmp_path / CIFAR10_FOLDER)
    raw = load_cifar10("test", tmp_path, normalize=False, dtype=np.float64)
    std = load_cifar10("test", tmp_path, standardize=True, dtype=np.float64)
    mean = np.array(CIFAR10_MEAN).reshape(1, 3, 1, 1)
    sd = np.array(CIFAR10_STD).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(std.images, (raw.images / 255 - mean) / sd, rtol=1e-12)
    assert std.images.dtype == np.float64
    with pytest.raises(ValueError, match="standardize=True needs normalize=True"):
        load_cifar10("test", tmp_path, normalize=False, standardize=True)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        load_cifar10("test", tmp_path, dtype=np.uint8)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_cifar10("valid", tmp_path)
    with pytest.raises(TypeError, match="normalize must be True or False"):
        load_cifar10("test", tmp_path, normalize=1)


def test_companion_data_and_cache_are_searched(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    write_folder(shared / "cifar10" / CIFAR10_FOLDER)
    monkeypatch.setenv("COMPANION_DATA", str(shared))
    dirs = cifar10_data_dirs()
    assert dirs.search[0] == shared / "cifar10" / CIFAR10_FOLDER
    assert dirs.search[1] == tmp_path / "xdg-cache" / "companion" / "cifar10" / CIFAR10_FOLDER
    assert load_cifar10("test").images.shape == (5, 3, 32, 32)
    monkeypatch.delenv("COMPANION_DATA")
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_cifar10("test")
    write_folder(tmp_path / "xdg-cache" / "companion" / "cifar10" / CIFAR10_FOLDER, test_size=2)
    assert load_cifar10("test").images.shape == (2, 3, 32, 32)


def test_missing_file_names_where_it_looked(tmp_path):
    folder = tmp_path / CIFAR10_FOLDER
    write_folder(folder)
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"data_batch_3.*not found in .*cifar-10-batches-py"):
        load_cifar10("train", tmp_path)
    assert load_cifar10("test", tmp_path).labels.shape == (5,)      # the test split is complete


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) // 2], "truncated or corrupt"),
    (lambda b: b[:10], "truncated or corrupt"),
    (lambda b: b"", "truncated or corrupt"),
    (lambda b: b"\x00garbage" * 40, "truncated or corrupt"),
])
def test_truncated_or_corrupt_file_raises_value_error_naming_it(tmp_path, damage, message):
    folder = tmp_path / CIFAR10_FOLDER
    write_folder(folder)
    path = folder / "test_batch"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=message) as info:
        load_cifar10("test", tmp_path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("contents, message", [
    ({b"labels": [1, 2]}, "no 'data' entry"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, "no 'labels' entry"),
    ({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]}, r"shape \(N, 3072\)"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [1, 2]}, "must be a uint8 array"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}, "1 labels for 2 images"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 10]}, r"labels must lie in \[0, 10\)"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", "b"]}, "list of integers"),
    ([1, 2, 3], "expected a pickled dict"),
])
def test_wrong_contents_are_rejected(tmp_path, contents, message):
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps(contents, protocol=2))
    with pytest.raises(ValueError, match=message):
        read_cifar10_batch(path)


class Exploit:
    """Unpickling this would create a directory (a stand-in for any code execution)."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_malicious_pickle_is_refused_and_not_run(tmp_path):
    target = str(tmp_path / "pwned")
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": Exploit(target), b"labels": []}, protocol=2))
    with pytest.raises(ValueError, match="refusing to load posix.mkdir|refusing to load os.mkdir"):
        read_cifar10_batch(path)
    assert not os.path.exists(target)


def test_verify_checks_published_md5(tmp_path):
    write_folder(tmp_path / CIFAR10_FOLDER)
    with pytest.raises(ChecksumError, match="test_batch"):
        load_cifar10("test", tmp_path, verify=True)


# ----------------------------------------------------------------------------- download
def fake_archive(extra_members=()):
    """A cifar-10-python.tar.gz holding a fake folder (and optional hostile members)."""
    folder_bytes = {}
    for i, name in enumerate(list(CIFAR10_FILES["train"]) + ["test_batch"]):
        folder_bytes[name] = fake_batch(2, seed=10 + i)[0]
    folder_bytes["batches.meta"] = pickle.dumps({b"label_names": []}, protocol=2)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in folder_bytes.items():
            info = tarfile.TarInfo(f"{CIFAR10_FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, data in extra_members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def server():
    files = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield files, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_download_unpacks_only_the_batch_files(tmp_path, server):
    files, base = server
    archive = fake_archive(extra_members=[("../escape.txt", b"x"), ("/tmp/abs.txt", b"x"),
                                          (f"{CIFAR10_FOLDER}/extra.py", b"print(1)")])
    files["/cifar-10-python.tar.gz"] = archive
    md5 = hashlib.md5(archive).hexdigest()
    data_dir = tmp_path / "data"
    ds = load_cifar10("train", data_dir, download=True, mirrors=[base], archive_md5=md5,
                      progress=False)
    assert ds.images.shape == (10, 3, 32, 32)
    folder = data_dir / CIFAR10_FOLDER
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        list(CIFAR10_FILES["train"]) + ["test_batch", "batches.meta"])
    assert not (tmp_path / "escape.txt").exists()
    # present now: read without the server
    files.clear()
    assert load_cifar10("test", data_dir).images.shape == (2, 3, 32, 32)


def test_download_with_a_wrong_checksum_fails(tmp_path, server):
    files, base = server
    files["/cifar-10-python.tar.gz"] = fake_archive()
    with pytest.raises(Exception, match="checksum mismatch"):
        load_cifar10("test", tmp_path / "d", download=True, mirrors=[base],
                     archive_md5="0" * 32, progress=False)
    assert not (tmp_path / "d" / CIFAR10_FOLDER).exists()


def test_corrupt_archive_on_disk_is_reported(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    bad = b"not a tarball"
    (root / "cifar-10-python.tar.gz").write_bytes(bad)
    with pytest.raises(ValueError, match="cannot unpack the CIFAR-10 archive"):
        load_cifar10("test", root, download=True, archive_md5=hashlib.md5(bad).hexdigest())
