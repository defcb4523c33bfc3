"""The MNIST digits: find, download, verify and load them as NCHW arrays.

MNIST (LeCun, Cortes and Burges; CC BY-SA 3.0) has 60,000 training and 10,000
test images of handwritten digits, 28 x 28 grey levels 0-255, and their labels
0-9, in four gzip-compressed IDX files (see :mod:`companion.data.idx`).

Where the files are looked for
------------------------------
1. ``data_dir``, when given: the directory that holds the four ``.gz`` files.
   Downloads go there too.
2. Else ``$COMPANION_DATA/mnist`` when the environment variable
   ``COMPANION_DATA`` is set, then the per-user cache. A read-only
   ``COMPANION_DATA`` (a shared copy of the data, say) is only read; missing
   files are downloaded into the per-user cache.
3. Else the per-user cache: ``$XDG_CACHE_HOME/companion/mnist`` or
   ``~/.cache/companion/mnist``.

Every file is checked against its published MD5 before it is used; a file that
fails raises :class:`~companion.data.download.ChecksumError` naming it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from companion._validate import as_bool
from companion.data.download import (
    default_cache_dir,
    download_file,
    DownloadError,
    is_writable_dir,
    verify_md5,
)
from companion.data.idx import read_idx

__all__ = [
    "MNIST_FILES",
    "MNIST_MD5",
    "MNIST_MIRRORS",
    "Dataset",
    "DataDirs",
    "mnist_data_dirs",
    "load_mnist",
]

#: split -> (images file, labels file)
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

#: The published MD5 of each file.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

#: Mirrors tried in order (torchvision's first: LeCun's site often answers 403).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

IMAGE_SIZE = 28
NUM_CLASSES = 10


class Dataset(NamedTuple):
    """Images and their labels.

    Attributes
    ----------
    images : numpy.ndarray
        Shape ``(N, C, H, W)`` (N, channels, height, width): ``(N, 1, 28, 28)``
        from :func:`load_mnist`, ``(N, 3, 32, 32)`` from
        :func:`companion.data.cifar10.load_cifar10`.
    labels : numpy.ndarray
        Shape ``(N,)``, int64 class indices in ``[0, 10)``.
    """

    images: np.ndarray
    labels: np.ndarray


class DataDirs(NamedTuple):
    """Where the MNIST files are looked for, in order, and where downloads go."""

    search: tuple[Path, ...]
    download: Path


def mnist_data_dirs(data_dir=None) -> DataDirs:
    """Resolve the directories searched for the MNIST files and the download target.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        A directory holding the ``.gz`` files. When given it is the only place
        searched and the download target.

    Returns
    -------
    DataDirs
        ``search``: ``(data_dir,)``; else ``($COMPANION_DATA/mnist, cache)``
        when ``COMPANION_DATA`` is set; else ``(cache,)``, where cache is
        ``$XDG_CACHE_HOME/companion/mnist`` or ``~/.cache/companion/mnist``.
        ``download``: ``data_dir``; else ``$COMPANION_DATA/mnist`` if it is
        writable; else the cache.
    """
    if data_dir is not None:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise TypeError(f"data_dir must be a str or os.PathLike, got {type(data_dir).__name__}")
        path = Path(data_dir).expanduser()
        return DataDirs((path,), path)
    cache = default_cache_dir() / "mnist"
    shared = os.environ.get("COMPANION_DATA")
    if shared:
        shared_dir = Path(shared).expanduser() / "mnist"
        search = (shared_dir,) if shared_dir == cache else (shared_dir, cache)
        return DataDirs(search, shared_dir if is_writable_dir(shared_dir) else cache)
    return DataDirs((cache,), cache)


def _locate(filename: str, dirs: DataDirs, md5: str, download: bool, progress,
            mirrors, timeout: float) -> Path:
    """Return the verified path of ``filename``, downloading it when allowed."""
    for directory in dirs.search:
        candidate = directory / filename
        if candidate.is_file():
            return verify_md5(candidate, md5)  # a bad file raises; never skipped
    where = ", ".join(str(d) for d in dirs.search)
    if not download:
        raise FileNotFoundError(
            f"MNIST file {filename} not found in {where}. Call with download=True to fetch it, "
            "or set the environment variable COMPANION_DATA to a directory whose mnist/ "
            "folder holds the files."
        )
    try:
        return download_file(filename, dirs.download, md5=md5, mirrors=mirrors,
                             progress=progress, timeout=timeout)
    except DownloadError as exc:
        raise DownloadError(
            f"{exc}\nLooked for an existing copy in {where}. Offline, set the environment "
            "variable COMPANION_DATA to a directory whose mnist/ folder holds the MNIST "
            ".gz files, or pass data_dir=."
        ) from exc


def _check_split(split) -> str:
    if not isinstance(split, str):
        raise TypeError(f"split must be 'train' or 'test', got {split!r}")
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def _check_dtype(dtype, normalize: bool) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64 (or uint8 with normalize=False), "
                        f"got {dtype!r}") from None
    allowed = (np.float32, np.float64) if normalize else (np.float32, np.float64, np.uint8)
    if dt.type not in allowed:
        extra = " (uint8 needs normalize=False)" if dt.type is np.uint8 else ""
        raise ValueError(f"dtype must be float32 or float64 (or uint8 with normalize=False), "
                         f"got {dt}{extra}")
    return dt


def load_mnist(split: str = "train", data_dir=None, download: bool = True,
               normalize: bool = True, dtype=np.float32, *, progress=None,
               mirrors=MNIST_MIRRORS, checksums=None, timeout: float = 30.0) -> Dataset:
    """Load an MNIST split as NCHW images and integer labels.

    Parameters
    ----------
    split : {"train", "test"}
        60,000 training or 10,000 test digits.
    data_dir : str or os.PathLike, optional
        Directory holding the ``.gz`` files; see :func:`mnist_data_dirs` for
        the default (``$COMPANION_DATA/mnist``, then the per-user cache).
    download : bool
        Fetch missing files from ``mirrors`` (default ``True``). Files already
        present are never re-downloaded.
    normalize : bool
        Scale the pixels from 0..255 to ``x / 255`` in ``[0, 1]`` (default).
    dtype : numpy dtype
        float32 (default) or float64; uint8 (raw pixels) with
        ``normalize=False``.
    progress : bool or None
        Progress bar on ``sys.stderr`` while downloading; ``None`` (default):
        only when stderr is a terminal. Nothing is printed when the files are
        present.
    mirrors : sequence of str
        Base URLs tried in order (default :data:`MNIST_MIRRORS`).
    checksums : mapping, optional
        File name -> MD5, replacing :data:`MNIST_MD5` (for a private copy of
        the data or a test server; the published table is the default).
    timeout : float
        Seconds a silent mirror is given before the next one is tried.

    Returns
    -------
    Dataset
        ``images`` of shape ``(N, 1, 28, 28)`` and ``labels`` of shape
        ``(N,)``, int64 in ``[0, 10)``.

    Raises
    ------
    ChecksumError
        A file present on disk does not have its published MD5 (the message
        says which, the two checksums, and to delete it and download again).
    FileNotFoundError
        A file is missing and ``download=False``.
    DownloadError
        A file is missing and no mirror delivered it intact.
    ValueError
        Bad arguments, or verified files whose contents are not MNIST-shaped.
    """
    split = _check_split(split)
    download = as_bool(download, "download")
    normalize = as_bool(normalize, "normalize")
    dt = _check_dtype(dtype, normalize)
    table = MNIST_MD5 if checksums is None else checksums
    if not hasattr(table, "get"):
        raise TypeError(f"checksums must be a mapping of file name to MD5, got {checksums!r}")
    dirs = mnist_data_dirs(data_dir)

    names = MNIST_FILES[split]
    for name in names:
        if table.get(name) is None:
            raise ValueError(f"checksums must give an MD5 for {name!r}")
    paths = [_locate(name, dirs, table[name], download, progress, mirrors, timeout)
             for name in names]

    images = read_idx(paths[0])
    labels = read_idx(paths[1])
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"{paths[0]}: expected uint8 images of shape (N, 28, 28), "
                         f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{paths[1]}: expected uint8 labels of shape (N,), "
                         f"got {labels.dtype} {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{paths[1]} holds {labels.shape[0]} labels but {paths[0]} holds "
                         f"{images.shape[0]} images")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise ValueError(f"{paths[1]}: labels must lie in [0, {NUM_CLASSES}), "
                         f"found {int(labels.max())}")

    nchw = images.reshape(images.shape[0], 1, IMAGE_SIZE, IMAGE_SIZE)
    if dt.type is np.uint8:
        out = nchw
    else:
        out = nchw.astype(dt)
        if normalize:
            np.divide(out, dt.type(255), out=out)
    return Dataset(out, labels.astype(np.int64))
