"""CIFAR-10: read the official "python version" batches as NCHW arrays.

CIFAR-10 (Krizhevsky, 2009) has 60,000 colour images of 32 x 32 pixels in 10
classes (:data:`CIFAR10_CLASSES`), 50,000 for training in five batches and
10,000 for testing. Document 1's network for 32 x 32 x 3 input is sized for it.

The official archive ``cifar-10-python.tar.gz`` unpacks to a folder
``cifar-10-batches-py/`` holding ``data_batch_1`` ... ``data_batch_5``,
``test_batch`` and ``batches.meta``. Each batch is a Python **pickle** of a
dict with bytes keys: ``b"data"``, a uint8 array of shape ``(10000, 3072)``
whose rows are the 1024 red, then 1024 green, then 1024 blue values of an
image in row-major order (so a row reshapes to ``(3, 32, 32)``: channels
first), and ``b"labels"``, a list of 10,000 integers in ``[0, 10)``.

Pickle and safety
-----------------
Unpickling a file can run arbitrary code, so:

* pickles are only read from the files the user points to (``data_dir``,
  ``$COMPANION_DATA/cifar10`` or the per-user cache, see
  :func:`cifar10_data_dirs`) or from the archive this module downloaded and
  checked against its published MD5;
* and they are read with a **restricted unpickler** that only rebuilds the
  objects a CIFAR batch contains (dicts, lists, bytes, numbers and NumPy
  arrays): a pickle that names any other class or function (``os.system``,
  say) raises ``ValueError`` instead of running it.

Every problem with a file (missing, truncated, corrupt, wrong contents) raises
an error naming the file.
"""
from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from companion._validate import as_bool
from companion.data.download import default_cache_dir, download_file, verify_md5
from companion.data.mnist import Dataset

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR10_FOLDER",
    "CIFAR10_FILES",
    "CIFAR10_MD5",
    "CIFAR10_ARCHIVE",
    "CIFAR10_ARCHIVE_MD5",
    "CIFAR10_MIRRORS",
    "Cifar10Dirs",
    "cifar10_data_dirs",
    "read_cifar10_batch",
    "load_cifar10",
]

#: The ten classes, in label order (``batches.meta``'s ``label_names``).
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")

#: Per-channel mean and standard deviation of the 50,000 training images on the
#: [0, 1] scale (red, green, blue): the values commonly used to standardize CIFAR-10.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

CIFAR10_FOLDER = "cifar-10-batches-py"
#: split -> the batch files it is made of
CIFAR10_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
#: The published MD5 of every file of the folder (as torchvision checks them).
CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)

IMAGE_SHAPE = (3, 32, 32)
NUM_CLASSES = 10


# --------------------------------------------------------------------------- locations
class Cifar10Dirs(NamedTuple):
    """Folders searched for ``cifar-10-batches-py`` files, in order, and where downloads go."""

    search: tuple[Path, ...]
    download_root: Path


def cifar10_data_dirs(data_dir=None) -> Cifar10Dirs:
    """Where the CIFAR-10 batch files are looked for.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Either the ``cifar-10-batches-py`` folder itself or a folder containing
        it. When given, it is the only place searched (and where a download
        is unpacked).

    Returns
    -------
    Cifar10Dirs
        ``search``: the candidate ``cifar-10-batches-py`` folders:
        ``data_dir``'s; else ``$COMPANION_DATA/cifar10/cifar-10-batches-py``
        (when the variable is set) then the per-user cache's
        ``.../companion/cifar10/cifar-10-batches-py``. ``download_root``: the
        folder the archive is downloaded to and unpacked in.
    """
    if data_dir is not None:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise TypeError(f"data_dir must be a str or os.PathLike, got {type(data_dir).__name__}")
        path = Path(data_dir).expanduser()
        if path.name == CIFAR10_FOLDER:
            return Cifar10Dirs((path,), path.parent)
        return Cifar10Dirs((path / CIFAR10_FOLDER,), path)
    cache = default_cache_dir() / "cifar10"
    shared = os.environ.get("COMPANION_DATA")
    if shared:
        shared_root = Path(shared).expanduser() / "cifar10"
        if shared_root != cache:
            return Cifar10Dirs((shared_root / CIFAR10_FOLDER, cache / CIFAR10_FOLDER), cache)
    return Cifar10Dirs((cache / CIFAR10_FOLDER,), cache)


# --------------------------------------------------------------------------- reading
class _RestrictedUnpickler(pickle.Unpickler):
    """Rebuild only what a CIFAR batch holds: containers, bytes, numbers, NumPy arrays."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"): ("numpy", "ndarray"),
        ("numpy", "dtype"): ("numpy", "dtype"),
        ("_codecs", "encode"): ("_codecs", "encode"),  # bytes in protocol-2 pickles from Python 3
    }

    def find_class(self, module, name):
        target = self._ALLOWED.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a CIFAR-10 batch holds only "
                "dicts, lists, bytes, numbers and NumPy arrays")
        return super().find_class(*target)


def _load_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = _RestrictedUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, ImportError, MemoryError, OverflowError) as exc:
        raise ValueError(f"{path}: not a readable CIFAR-10 batch (truncated or corrupt "
                         f"file?): {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return obj


def _entry(d: dict, key: str, path: Path):
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    raise ValueError(f"{path}: the batch has no {key!r} entry (keys: {sorted(map(repr, d))})")


def read_cifar10_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file: ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``.

    Parameters
    ----------
    path : str or os.PathLike
        A ``data_batch_*`` or ``test_batch`` file (a pickle, read with the
        restricted unpickler described in the module docstring).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is truncated, corrupt, refers to anything but NumPy arrays, or
        its contents are not ``N`` rows of 3072 uint8 values with ``N`` labels
        in ``[0, 10)``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    d = _load_pickle(path)
    data = _entry(d, "data", path)
    labels = _entry(d, "labels", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:
        raise ValueError(f"{path}: 'data' must be a uint8 array of shape (N, 3072), got "
                         f"{getattr(data, 'dtype', type(data).__name__)} "
                         f"{getattr(data, 'shape', '')}")
    try:
        lab = np.asarray(labels)
    except (TypeError, ValueError):
        lab = np.asarray([], dtype=object)
    if lab.dtype.kind not in "iu" or lab.ndim != 1:
        raise ValueError(f"{path}: 'labels' must be a list of integers, got {lab.dtype} "
                         f"of shape {lab.shape}")
    if lab.shape[0] != data.shape[0]:
        raise ValueError(f"{path}: {lab.shape[0]} labels for {data.shape[0]} images")
    if lab.size and (lab.min() < 0 or lab.max() >= NUM_CLASSES):
        raise ValueError(f"{path}: labels must lie in [0, {NUM_CLASSES}), "
                         f"got values from {lab.min()} to {lab.max()}")
    return data.reshape((data.shape[0],) + IMAGE_SHAPE), lab.astype(np.int64)


# --------------------------------------------------------------------------- download
def _safe_extract(archive: Path, root: Path) -> None:
    """Unpack the batch files of ``archive`` into ``root / cifar-10-batches-py``.

    Only regular files named ``cifar-10-batches-py/<known name>`` are written;
    anything else in the archive (links, absolute paths, ``..``) is skipped.
    """
    wanted = {f"{CIFAR10_FOLDER}/{name}" for name in CIFAR10_MD5}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name in wanted]
            (root / CIFAR10_FOLDER).mkdir(parents=True, exist_ok=True)
            for m in members:
                source = tar.extractfile(m)
                target = root / m.name
                tmp = target.with_name(f".{target.name}.part")
                with source, open(tmp, "wb") as out:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        out.write(block)
                os.replace(tmp, target)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValueError(f"{archive}: cannot unpack the CIFAR-10 archive: "
                         f"{type(exc).__name__}: {exc}") from None


def _download(dirs: Cifar10Dirs, *, md5: str, mirrors, progress, timeout) -> Path:
    root = dirs.download_root
    archive = root / CIFAR10_ARCHIVE
    if archive.is_file():
        verify_md5(archive, md5)
    else:
        archive = download_file(CIFAR10_ARCHIVE, root, md5=md5, mirrors=mirrors,
                                progress=progress, timeout=timeout)
    _safe_extract(archive, root)
    return root / CIFAR10_FOLDER


# --------------------------------------------------------------------------- public loader
def load_cifar10(split: str = "train", data_dir=None, *, normalize: bool = True,
                 standardize: bool = False, dtype=np.float32, download: bool = False,
                 verify: bool = False, progress=None, mirrors=CIFAR10_MIRRORS,
                 archive_md5: str = CIFAR10_ARCHIVE_MD5, timeout: float = 30.0) -> Dataset:
    """Load a CIFAR-10 split as NCHW float images and int64 labels.

    Parameters
    ----------
    split : {"train", "test"}
        50,000 training images (``data_batch_1`` to ``_5``, in that order) or
        the 10,000 test images (``test_batch``).
    data_dir : str or os.PathLike, optional
        The ``cifar-10-batches-py`` folder or a folder containing it; default
        ``$COMPANION_DATA/cifar10``, then the per-user cache
        (:func:`cifar10_data_dirs`).
    normalize : bool
        Scale the pixels from 0..255 to ``[0, 1]`` (default). ``False`` keeps
        0..255 (as floats).
    standardize : bool
        Then subtract :data:`CIFAR10_MEAN` and divide by :data:`CIFAR10_STD`,
        channel by channel (needs ``normalize=True``).
    dtype : float32 or float64
    download : bool
        When a file is missing, download ``cifar-10-python.tar.gz`` (about
        170 MB) from ``mirrors``, check its MD5 and unpack the batch files.
        Off by default.
    verify : bool
        Check every batch file read against its published MD5
        (:data:`CIFAR10_MD5`) before unpickling it.
    progress : bool or None
        Download progress bar (see :func:`companion.data.download.download_file`).
    mirrors : sequence of str
        Base URLs of the archive.
    archive_md5 : str
        MD5 the archive must have (the published one by default).
    timeout : float
        Seconds a silent mirror is given.

    Returns
    -------
    Dataset
        ``images`` of shape ``(N, 3, 32, 32)`` (channels red, green, blue) and
        ``labels`` of shape ``(N,)``, int64 in ``[0, 10)``; class names in
        :data:`CIFAR10_CLASSES`.

    Raises
    ------
    FileNotFoundError
        A batch file is missing and ``download=False`` (the message says where
        it was looked for and how to get it).
    ValueError
        A truncated or corrupt batch file (naming it), or bad arguments.
    ChecksumError
        ``verify=True`` and a file differs from the published one, or a
        downloaded archive has the wrong MD5.
    """
    if not isinstance(split, str) or split not in CIFAR10_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    normalize = as_bool(normalize, "normalize")
    standardize = as_bool(standardize, "standardize")
    download = as_bool(download, "download")
    verify = as_bool(verify, "verify")
    if standardize and not normalize:
        raise ValueError("standardize=True needs normalize=True (the mean and std are "
                         "on the [0, 1] scale)")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt.type not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    dirs = cifar10_data_dirs(data_dir)
    names = CIFAR10_FILES[split]

    folder = next((d for d in dirs.search if all((d / n).is_file() for n in names)), None)
    if folder is None:
        if not download:
            where = ", ".join(str(d) for d in dirs.search)
            raise FileNotFoundError(
                f"CIFAR-10 {split} batches ({', '.join(names)}) not found in {where}. "
                f"Unpack {CIFAR10_ARCHIVE} from {CIFAR10_MIRRORS[0]} there, pass data_dir=, "
                "set COMPANION_DATA to a folder whose cifar10/ holds cifar-10-batches-py, "
                "or call with download=True.")
        folder = _download(dirs, md5=archive_md5, mirrors=mirrors, progress=progress,
                           timeout=timeout)

    images, labels = [], []
    for name in names:
        path = folder / name
        if verify:
            verify_md5(path, CIFAR10_MD5[name])
        x, y = read_cifar10_batch(path)
        images.append(x)
        labels.append(y)
    raw = images[0] if len(images) == 1 else np.concatenate(images)
    out = raw.astype(dt)
    if normalize:
        np.divide(out, dt.type(255), out=out)
    if standardize:
        mean = np.asarray(CIFAR10_MEAN, dtype=dt).reshape(1, 3, 1, 1)
        std = np.asarray(CIFAR10_STD, dtype=dt).reshape(1, 3, 1, 1)
        out -= mean
        out /= std
    return Dataset(out, labels[0] if len(labels) == 1 else np.concatenate(labels))
