"""Downloading, verifying, caching and loading MNIST.

The machines that run these tests have no network: the download code is
exercised against a real HTTP server on 127.0.0.1 (``http.server`` in a
thread) that serves small IDX files written here, with their own checksums
passed through ``checksums=``/``md5=``; the published checksum table is never
changed. The real 10,000-image test split is read from ``$COMPANION_DATA``
(``/work/shared/data`` on the course machines).
"""
import gzip
import hashlib
import os
import re
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from companion.data import (
    ChecksumError,
    DownloadError,
    default_cache_dir,
    download_file,
    is_writable_dir,
    md5sum,
    verify_md5,
)
from companion.data import read_idx
from companion.data import (
    MNIST_FILES,
    MNIST_MD5,
    MNIST_MIRRORS,
    Dataset,
    load_mnist,
    mnist_data_dirs,
)

REAL_DATA_CANDIDATES = [p for p in (os.environ.get("COMPANION_DATA"), "/work/shared/data") if p]
@pytest.fixture(autouse=True)
def isolated_env(isolated_data_env):
    """The shared isolation (tests/conftest.py); returns the MNIST cache directory."""
    return isolated_data_env / "companion" / "mnist"


# ----------------------------------------------------------------------------- test data

def idx_gz(array, code):
    """Gzip-compressed IDX bytes, encoded by hand (independent of companion)."""
    arr = np.ascontiguousarray(array)
    header = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return gzip.compress(header + arr.tobytes(), mtime=0)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def fake_split(n, seed):
    """A tiny MNIST-shaped split: (images bytes, labels bytes, images, labels)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255  # the extremes are present
    labels = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(labels)
    return idx_gz(images, 0x08), idx_gz(labels, 0x08), images, labels


@pytest.fixture(scope="module")
def fake():
    """File name -> bytes for all four files, the matching checksums, the arrays."""
    train = fake_split(30, 1)
    test = fake_split(12, 2)
    files = {
        "train-images-idx3-ubyte.gz": train[0], "train-labels-idx1-ubyte.gz": train[1],
        "t10k-images-idx3-ubyte.gz": test[0], "t10k-labels-idx1-ubyte.gz": test[1],
    }
    return {"files": files, "md5": {k: md5(v) for k, v in files.items()},
            "train": train[2:], "test": test[2:]}


def put(directory, files, names):
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(files[name])


# ----------------------------------------------------------------------------- HTTP server

class Mirror:
    """A real HTTP server on 127.0.0.1 with scripted behaviour per path."""

    def __init__(self):
        self.routes = {}      # path -> (kind, payload)
        self.requests = []    # paths in the order they were asked for
        self.release = threading.Event()
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                mirror.requests.append(self.path)
                kind, body = mirror.routes.get(self.path, ("status", 404))
                if kind == "status":
                    self.send_error(body)
                    return
                if kind == "hang":               # never answers until the test ends
                    mirror.release.wait(30)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if kind != "no-length":
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # "truncated": announce the full length, send half, hang up
                self.wfile.write(body[: len(body) // 2] if kind == "truncated" else body)

            def log_message(self, *args):       # keep the test output clean
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass                              # a client that gave up is expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def base(self, name):
        return f"http://127.0.0.1:{self.port}/{name}/"

    def serve(self, name, filename, kind, payload=None):
        self.routes[f"/{name}/{filename}"] = (kind, payload)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror():
    m = Mirror()
    yield m
    m.close()


def closed_port_url():
    """A URL on a port where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone/"


def no_partial_files(directory):
    return not any(p.name.endswith(".part") for p in Path(directory).iterdir())


# ----------------------------------------------------------------------------- download_file

PAYLOAD = bytes(range(256)) * 400          # 102,400 bytes
PAYLOAD_MD5 = md5(PAYLOAD)


def test_download_from_the_first_mirror(mirror, tmp_path):
    mirror.serve("a", "blob.bin", "ok", PAYLOAD)
    mirror.serve("b", "blob.bin", "ok", PAYLOAD)
    dest = download_file("blob.bin", tmp_path / "new" / "dir", md5=PAYLOAD_MD5,
                         mirrors=[mirror.base("a"), mirror.base("b")], progress=False)
    assert dest == tmp_path / "new" / "dir" / "blob.bin"
    assert dest.read_bytes() == PAYLOAD
    assert mirror.requests == ["/a/blob.bin"]  # the second mirror is never asked
    assert no_partial_files(dest.parent)


@pytest.mark.parametrize("first, reason", [
    (("status", 404), "HTTP 404"),
    (("status", 403), "HTTP 403"),                       # what yann.lecun.com often answers
    (("truncated", PAYLOAD), "truncated|IncompleteRead"),  # hangs up half-way
    (("ok", PAYLOAD[:-7] + b"garbage"), "checksum mismatch"),  # same length, wrong bytes
    (("ok", PAYLOAD[: len(PAYLOAD) // 2]), "checksum mismatch"),  # short file, honest length
    (("no-length", PAYLOAD[:1000]), "checksum mismatch"),  # short file, no Content-Length
])
def test_a_failing_mirror_is_skipped_for_the_next(mirror, tmp_path, capsys, first, reason):
    mirror.serve("bad", "blob.bin", *first)
    mirror.serve("good", "blob.bin", "ok", PAYLOAD)
    dest = download_file("blob.bin", tmp_path, md5=PAYLOAD_MD5,
                         mirrors=[mirror.base("bad"), mirror.base("good")], progress=True)
    assert dest.read_bytes() == PAYLOAD
    assert mirror.requests == ["/bad/blob.bin", "/good/blob.bin"]
    assert no_partial_files(tmp_path)
    err = capsys.readouterr().err
    assert re.search(reason, err) and "trying the next mirror" in err


def test_unreachable_and_silent_mirrors_are_skipped(mirror, tmp_path):
    mirror.serve("slow", "blob.bin", "hang")
    mirror.serve("good", "blob.bin", "ok", PAYLOAD)
    dest = download_file("blob.bin", tmp_path, md5=PAYLOAD_MD5, timeout=0.5, progress=False,
                         mirrors=[closed_port_url(), mirror.base("slow"), mirror.base("good")])
    assert dest.read_bytes() == PAYLOAD
    assert mirror.requests == ["/slow/blob.bin", "/good/blob.bin"]


def test_all_mirrors_failing_lists_every_attempt(mirror, tmp_path):
    mirror.serve("b", "blob.bin", "truncated", PAYLOAD)
    mirror.serve("c", "blob.bin", "ok", b"not the file")
    urls = [mirror.base("a"), mirror.base("b"), mirror.base("c")]
    with pytest.raises(DownloadError) as info:
        download_file("blob.bin", tmp_path, md5=PAYLOAD_MD5, mirrors=urls, progress=False)
    msg = str(info.value)
    lines = msg.splitlines()
    for url, why in zip(urls, ["HTTP 404", "truncated|IncompleteRead", "checksum mismatch"]):
        assert any(line.startswith(f"  - {url}blob.bin: ") and re.search(why, line)
                   for line in lines)
    assert PAYLOAD_MD5 in msg
    assert not (tmp_path / "blob.bin").exists()
    assert no_partial_files(tmp_path)


def test_progress_bar_only_when_asked_or_on_a_terminal(mirror, tmp_path, capsys):
    mirror.serve("a", "blob.bin", "ok", PAYLOAD)
    download_file("blob.bin", tmp_path / "1", md5=PAYLOAD_MD5, mirrors=[mirror.base("a")],
                  progress=True)
    out = capsys.readouterr()
    assert "blob.bin" in out.err and "100.0%" in out.err and "0.1/0.1 MB" in out.err
    assert out.out == ""
    # progress=None: stderr is captured here, not a terminal -> silence
    download_file("blob.bin", tmp_path / "2", md5=PAYLOAD_MD5, mirrors=[mirror.base("a")])
    download_file("blob.bin", tmp_path / "3", md5=PAYLOAD_MD5, mirrors=[mirror.base("a")],
                  progress=False)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(mirrors="http://x/"), TypeError, "mirrors must be a sequence"),
    (dict(mirrors=[]), ValueError, "mirrors must name at least one"),
    (dict(mirrors=["ftp://x/"]), ValueError, "mirrors must be http"),
    (dict(mirrors=[b"http://x/"]), TypeError, "mirrors must hold URL strings"),
    (dict(md5="abc"), ValueError, "md5 must be 32 hex digits"),
    (dict(md5=None), TypeError, "md5 must be a string"),
    (dict(filename="../blob.bin"), ValueError, "filename must be a plain file name"),
    (dict(timeout=0), ValueError, "timeout must be a positive number"),
    (dict(progress="yes"), TypeError, "progress must be True, False or None"),
    (dict(dest_dir=5), TypeError, "dest_dir must be"),
])
def test_download_file_rejects_bad_arguments(tmp_path, kwargs, exc, message):
    args = dict(filename="blob.bin", dest_dir=tmp_path, md5=PAYLOAD_MD5,
                mirrors=["http://127.0.0.1:9/"], progress=False)
    args.update(kwargs)
    filename = args.pop("filename")
    dest_dir = args.pop("dest_dir")
    with pytest.raises(exc, match=message):
        download_file(filename, dest_dir, **args)


def test_read_only_destination_is_never_written(mirror, tmp_path, fake):
    mirror.serve("a", "blob.bin", "ok", PAYLOAD)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="read-only"):
            download_file("blob.bin", ro, md5=PAYLOAD_MD5, mirrors=[mirror.base("a")])
        with pytest.raises(PermissionError, match=str(ro)):   # explicit data_dir too
            load_mnist("test", data_dir=ro, checksums=fake["md5"], mirrors=[mirror.base("a")])
        assert list(ro.iterdir()) == [] and mirror.requests == []
    finally:
        ro.chmod(0o755)


# ----------------------------------------------------------------------------- checksums, dirs

def test_md5sum_and_verify(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(PAYLOAD)
    assert md5sum(path) == PAYLOAD_MD5
    assert verify_md5(path, PAYLOAD_MD5.upper()) == path
    with pytest.raises(ChecksumError) as info:
        verify_md5(path, "0" * 32)
    msg = str(info.value)
    assert str(path) in msg and "0" * 32 in msg and PAYLOAD_MD5 in msg
    assert "delete it" in msg and "download=True" in msg
    assert path.read_bytes() == PAYLOAD  # reported, not deleted
    assert isinstance(info.value, ValueError)


def test_is_writable_dir_respects_read_only_bits_even_for_root(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    assert is_writable_dir(ro)
    assert is_writable_dir(ro / "not" / "yet")  # would be created inside a writable dir
    ro.chmod(0o555)
    try:
        assert not is_writable_dir(ro)
        assert not is_writable_dir(ro / "mnist")
    finally:
        ro.chmod(0o755)
    (tmp_path / "file").write_bytes(b"x")
    assert not is_writable_dir(tmp_path / "file")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "companion"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "companion"


def test_mnist_data_dirs_resolution(monkeypatch, tmp_path, isolated_env):
    cache = isolated_env
    assert mnist_data_dirs() == ((cache,), cache)
    assert mnist_data_dirs(tmp_path / "d") == ((tmp_path / "d",), tmp_path / "d")
    assert mnist_data_dirs(str(tmp_path / "d")).download == tmp_path / "d"
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv("COMPANION_DATA", str(shared))
    assert mnist_data_dirs() == ((shared / "mnist", cache), shared / "mnist")
    shared.chmod(0o555)
    try:
        assert mnist_data_dirs() == ((shared / "mnist", cache), cache)
    finally:
        shared.chmod(0o755)
    with pytest.raises(TypeError, match="data_dir must be"):
        mnist_data_dirs(3)


def test_published_checksums_and_mirrors():
    assert MNIST_MD5 == {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    assert MNIST_MIRRORS[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert MNIST_MIRRORS[1] == "http://yann.lecun.com/exdb/mnist/"
    assert sorted(sum(MNIST_FILES.values(), ())) == sorted(MNIST_MD5)


# ----------------------------------------------------------------------------- load_mnist on small files

def test_load_mnist_from_data_dir(tmp_path, fake):
    put(tmp_path, fake["files"], fake["files"])
    for split in ("train", "test"):
        images, labels = fake[split]
        ds = load_mnist(split, data_dir=tmp_path, download=False, checksums=fake["md5"])
        assert isinstance(ds, Dataset)
        assert ds.images.shape == (len(labels), 1, 28, 28) and ds.images.dtype == np.float32
        assert ds.labels.shape == (len(labels),) and ds.labels.dtype == np.int64
        np.testing.assert_array_equal(ds.labels, labels)
        np.testing.assert_array_equal(ds.images[:, 0], (images / np.float32(255)).astype(np.float32))
        assert ds.images.min() == 0.0 and ds.images.max() == 1.0
    ds = load_mnist("test", data_dir=tmp_path, download=False, checksums=fake["md5"],
                    dtype=np.float64)
    assert ds.images.dtype == np.float64
    np.testing.assert_array_equal(ds.images[:, 0], fake["test"][0] / 255.0)
    raw = load_mnist("test", data_dir=tmp_path, download=False, checksums=fake["md5"],
                     normalize=False, dtype=np.uint8)
    assert raw.images.dtype == np.uint8
    np.testing.assert_array_equal(raw.images[:, 0], fake["test"][0])
    unscaled = load_mnist("test", data_dir=tmp_path, download=False, checksums=fake["md5"],
                          normalize=False)
    assert unscaled.images.dtype == np.float32 and unscaled.images.max() == 255.0


def test_load_mnist_downloads_once_then_reads_silently(tmp_path, fake, mirror, capsys):
    mirror.serve("m", "t10k-images-idx3-ubyte.gz", "ok", fake["files"]["t10k-images-idx3-ubyte.gz"])
    mirror.serve("m", "t10k-labels-idx1-ubyte.gz", "ok", fake["files"]["t10k-labels-idx1-ubyte.gz"])
    args = dict(data_dir=tmp_path / "d", mirrors=[mirror.base("dead"), mirror.base("m")],
                checksums=fake["md5"], progress=True)
    first = load_mnist("test", **args)
    assert mirror.requests == ["/dead/t10k-images-idx3-ubyte.gz", "/m/t10k-images-idx3-ubyte.gz",
                               "/dead/t10k-labels-idx1-ubyte.gz", "/m/t10k-labels-idx1-ubyte.gz"]
    assert "100.0%" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    second = load_mnist("test", **args)
    assert len(mirror.requests) == 4                 # nothing fetched again
    assert capsys.readouterr() == ("", "")            # and nothing printed, even with progress=True
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(second.labels, fake["test"][1])


def test_read_only_companion_data_is_read_and_downloads_go_to_the_cache(
        tmp_path, fake, mirror, monkeypatch, isolated_env):
    shared = tmp_path / "shared"
    put(shared / "mnist", fake["files"], MNIST_FILES["test"])   # like /work/shared/data
    for p in (shared / "mnist", shared):
        p.chmod(0o555)
    monkeypatch.setenv("COMPANION_DATA", str(shared))
    for name in MNIST_FILES["train"]:
        mirror.serve("m", name, "ok", fake["files"][name])
    try:
        test = load_mnist("test", checksums=fake["md5"], mirrors=[mirror.base("m")])
        assert mirror.requests == []
        np.testing.assert_array_equal(test.labels, fake["test"][1])
        with pytest.raises(FileNotFoundError) as info:
            load_mnist("train", download=False, checksums=fake["md5"])
        assert str(shared / "mnist") in str(info.value) and "COMPANION_DATA" in str(info.value)
        train = load_mnist("train", checksums=fake["md5"], mirrors=[mirror.base("m")],
                           progress=False)
        np.testing.assert_array_equal(train.labels, fake["train"][1])
        assert sorted(p.name for p in (shared / "mnist").iterdir()) == sorted(MNIST_FILES["test"])
        assert sorted(p.name for p in isolated_env.iterdir()) == sorted(MNIST_FILES["train"])
    finally:
        for p in (shared, shared / "mnist"):
            p.chmod(0o755)


def test_writable_companion_data_receives_downloads(tmp_path, fake, mirror, monkeypatch, isolated_env):
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path / "data"))
    for name in MNIST_FILES["test"]:
        mirror.serve("m", name, "ok", fake["files"][name])
    load_mnist("test", checksums=fake["md5"], mirrors=[mirror.base("m")], progress=False)
    assert sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir()) == sorted(MNIST_FILES["test"])
    assert not isolated_env.exists()


def test_a_file_in_the_cache_is_found_when_companion_data_lacks_it(tmp_path, fake, monkeypatch,
                                                                    isolated_env, mirror):
    put(isolated_env, fake["files"], MNIST_FILES["train"])
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path / "empty"))
    ds = load_mnist("train", checksums=fake["md5"], mirrors=[mirror.base("m")])
    np.testing.assert_array_equal(ds.labels, fake["train"][1])
    assert mirror.requests == []


def test_a_corrupt_file_is_reported_never_used_or_replaced(tmp_path, fake, mirror):
    put(tmp_path, fake["files"], MNIST_FILES["test"])
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    corrupt = bytearray(bad.read_bytes())
    corrupt[-9] ^= 1
    bad.write_bytes(bytes(corrupt))
    mirror.serve("m", bad.name, "ok", fake["files"][bad.name])
    with pytest.raises(ChecksumError) as info:
        load_mnist("test", data_dir=tmp_path, checksums=fake["md5"], mirrors=[mirror.base("m")])
    msg = str(info.value)
    assert str(bad) in msg and fake["md5"][bad.name] in msg and md5(bytes(corrupt)) in msg
    assert "delete" in msg
    assert bad.read_bytes() == bytes(corrupt)  # left alone
    assert mirror.requests == []               # and not silently re-downloaded


def test_all_mirrors_failing_suggests_companion_data(tmp_path, fake, mirror):
    with pytest.raises(DownloadError) as info:
        load_mnist("test", data_dir=tmp_path, checksums=fake["md5"],
                   mirrors=[mirror.base("a"), closed_port_url()], progress=False)
    msg = str(info.value)
    assert mirror.base("a") + "t10k-images-idx3-ubyte.gz" in msg and "HTTP 404" in msg
    assert "COMPANION_DATA" in msg
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mutate, message", [
    (lambda im, lb: (im[:, :27], lb), r"uint8 images of shape \(N, 28, 28\)"),
    (lambda im, lb: (im.astype(np.int16), lb), r"uint8 images"),
    (lambda im, lb: (im, lb[:-1]), "holds 11 labels but"),
    (lambda im, lb: (im, lb.reshape(12, 1)), r"uint8 labels of shape \(N,\)"),
    (lambda im, lb: (im, np.where(lb == 3, 10, lb).astype(np.uint8)), r"labels must lie in \[0, 10\)"),
])
def test_verified_files_with_wrong_contents_are_rejected(tmp_path, fake, mutate, message):
    images, labels = mutate(*fake["test"])
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int16): 0x0B}
    files = {"t10k-images-idx3-ubyte.gz": idx_gz(images.astype(images.dtype.newbyteorder(">")),
                                                 code[images.dtype]),
             "t10k-labels-idx1-ubyte.gz": idx_gz(labels, 0x08)}
    put(tmp_path, files, files)
    with pytest.raises(ValueError, match=message):
        load_mnist("test", data_dir=tmp_path, download=False,
                   checksums={k: md5(v) for k, v in files.items()})


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(split="val"), ValueError, "split must be 'train' or 'test'"),
    (dict(split=1), TypeError, "split must be 'train' or 'test'"),
    (dict(dtype=np.int32), ValueError, "dtype must be float32 or float64"),
    (dict(dtype=np.uint8), ValueError, "uint8 needs normalize=False"),
    (dict(dtype="not a dtype"), TypeError, "dtype must be float32 or float64"),
    (dict(download="yes"), TypeError, "download must be True or False"),
    (dict(normalize=1), TypeError, "normalize must be True or False"),
    (dict(data_dir=3), TypeError, "data_dir must be"),
    (dict(checksums=["x"]), TypeError, "checksums must be a mapping"),
    (dict(checksums={"t10k-images-idx3-ubyte.gz": "0" * 32}), ValueError,
     "checksums must give an MD5 for 't10k-labels-idx1-ubyte.gz'"),
])
def test_load_mnist_rejects_bad_arguments(tmp_path, fake, kwargs, exc, message):
    put(tmp_path, fake["files"], MNIST_FILES["test"])
    args = dict(split="test", data_dir=tmp_path, download=False, checksums=fake["md5"])
    args.update(kwargs)
    with pytest.raises(exc, match=message):
        load_mnist(**args)


# ----------------------------------------------------------------------------- the real test split

# Published facts about the MNIST test split (t10k): class counts 0..9, first labels.
TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TEST_FIRST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def _has_test_split(root):
    d = Path(root) / "mnist"
    return all((d / name).is_file() for name in MNIST_FILES["test"])


@pytest.fixture
def real_test_dir(monkeypatch, isolated_env):
    """The directory holding the real t10k files: $COMPANION_DATA/mnist or a download."""
    for root in REAL_DATA_CANDIDATES:
        if _has_test_split(root):
            monkeypatch.setenv("COMPANION_DATA", root)
            return Path(root) / "mnist"
    try:  # no local copy: fetch it (into the test's private cache) if there is a network
        load_mnist("test", progress=False, timeout=10)
    except DownloadError as exc:
        pytest.skip("the real MNIST test split is not available: no COMPANION_DATA with "
                    f"mnist/t10k-*.gz and no network to download it ({exc})")
    return isolated_env


def test_real_test_split(real_test_dir):
    ds = load_mnist("test")
    assert ds.images.shape == (10000, 1, 28, 28) and ds.images.dtype == np.float32
    assert ds.labels.shape == (10000,) and ds.labels.dtype == np.int64
    counts = np.bincount(ds.labels, minlength=10)
    assert counts.sum() == 10000 and counts.tolist() == TEST_CLASS_COUNTS
    assert all(800 <= c <= 1200 for c in counts)
    assert ds.labels[:10].tolist() == TEST_FIRST_LABELS
    assert ds.images.min() == 0.0 and ds.images.max() == 1.0
    assert 0.13 < ds.images.mean() < 0.135           # 0.1325: the usual MNIST pixel mean
    raw = load_mnist("test", normalize=False, dtype=np.uint8)
    np.testing.assert_array_equal(ds.images, (raw.images / np.float32(255)).astype(np.float32))
    assert raw.images.dtype == np.uint8
    assert (raw.images.reshape(10000, -1).max(axis=1) > 0).all()  # every image has ink
    assert raw.images[:, :, 0, :].max() == 0                     # the top row is always blank


def test_real_files_truncated_or_flipped_copies_fail(real_test_dir, tmp_path):
    for name in MNIST_FILES["test"]:
        good = (real_test_dir / name).read_bytes()
        flipped = bytearray(good)
        flipped[len(good) // 2] ^= 0x55
        for how, data in (("cut", good[: len(good) - 100]), ("flip", bytes(flipped))):
            copy = tmp_path / f"{how}-{name}"     # the other file of the split stays good
            copy.mkdir()
            for other in MNIST_FILES["test"]:
                (copy / other).write_bytes((real_test_dir / other).read_bytes())
            bad = copy / name
            bad.write_bytes(data)
            with pytest.raises(ValueError, match=str(bad)):
                read_idx(bad)                                  # the parser alone catches it
            with pytest.raises(ChecksumError, match=f"{bad}: expected MD5 {MNIST_MD5[name]}"):
                load_mnist("test", data_dir=copy, download=False)   # checksum first
    for name in MNIST_FILES["test"]:                           # the real files are untouched
        assert md5sum(real_test_dir / name) == MNIST_MD5[name]


def test_real_shared_data_with_train_split_from_a_mirror(real_test_dir, fake, mirror, isolated_env):
    """A read-only shared copy of the test split (like /work/shared/data) plus a train
    split fetched into the per-user cache. Fake train files are never written into a
    real data directory: the test stops unless that directory is read-only and the
    resolved download target is the private cache."""
    if os.stat(real_test_dir).st_mode & 0o222:
        pytest.skip(f"{real_test_dir} is writable; this test only runs on a read-only copy")
    assert mnist_data_dirs().download == isolated_env      # checked before any download
    before = sorted(os.listdir(real_test_dir))
    for name in MNIST_FILES["train"]:
        mirror.serve("m", name, "ok", fake["files"][name])
    checksums = {**MNIST_MD5, **{n: fake["md5"][n] for n in MNIST_FILES["train"]}}
    test = load_mnist("test", checksums=checksums, mirrors=[mirror.base("m")])
    train = load_mnist("train", checksums=checksums, mirrors=[mirror.base("m")], progress=False)
    assert len(test.labels) == 10000 and len(train.labels) == 30
    assert mirror.requests == [f"/m/{n}" for n in MNIST_FILES["train"]]
    assert sorted(os.listdir(isolated_env)) == sorted(MNIST_FILES["train"])
    assert sorted(os.listdir(real_test_dir)) == before
