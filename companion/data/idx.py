"""Read and write the IDX file format of the MNIST database.

An IDX file is a small header followed by a dense array in C order, every
number big-endian::

    byte 0-1   0x00 0x00                 (the magic number starts with two zeros)
    byte 2     type code                 0x08 uint8, 0x09 int8, 0x0B int16,
                                         0x0C int32, 0x0D float32, 0x0E float64
    byte 3     number of dimensions d
    4 .. 4d+3  d sizes, each a big-endian uint32
    then       prod(sizes) values of the type

MNIST images are ``0x00000803`` (uint8, 3 dimensions: N x 28 x 28) and labels
``0x00000801`` (uint8, 1 dimension: N). The published files are gzip-compressed;
:func:`read_idx` accepts compressed and plain files alike (it looks at the
first bytes, not at the name).

A file whose payload is shorter or longer than its header announces raises
``ValueError``: a truncated download never turns into a short array.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDX_DTYPES", "read_idx", "write_idx"]

#: IDX type code -> big-endian NumPy dtype of the payload.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # read the payload 1 MiB at a time


def _open(path: Path):
    """Open ``path`` for binary reading, decompressing when it is gzip data."""
    with open(path, "rb") as probe:
        head = probe.read(2)
    if head == _GZIP_MAGIC:
        return gzip.open(path, "rb")
    return open(path, "rb")


def _read_exactly(stream, n: int) -> bytes:
    """Read up to ``n`` bytes, fewer only at the end of the stream."""
    parts = []
    while n > 0:
        part = stream.read(min(n, _CHUNK))
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or plain) into a NumPy array.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Gzip data is recognised by its first two bytes
        (``1f 8b``), whatever the file's name.

    Returns
    -------
    numpy.ndarray
        A new, writable array of shape ``(d_1, ..., d_k)`` as given in the
        header, in native byte order, with the dtype of the header's type code
        (see :data:`IDX_DTYPES`).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not IDX data: a magic number that does not start with
        two zero bytes, an unknown type code, no dimensions, a header cut
        short, a payload shorter or longer than ``prod(d_i) * itemsize`` bytes,
        or a corrupt gzip stream. The message names the file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {str(path)!r} does not exist")
    try:
        with _open(path) as stream:
            magic = _read_exactly(stream, 4)
            if len(magic) < 4:
                raise ValueError(f"{path}: not an IDX file: {len(magic)} byte(s), "
                                 "a header needs at least 4")
            zero, code, ndim = struct.unpack(">HBB", magic)
            if zero != 0:
                raise ValueError(f"{path}: not an IDX file: magic number 0x{magic.hex()} "
                                 "must start with two zero bytes")
            if code not in IDX_DTYPES:
                known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
                raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}, "
                                 f"expected one of {known}")
            if ndim == 0:
                raise ValueError(f"{path}: IDX header declares 0 dimensions, expected at least 1")
            raw_dims = _read_exactly(stream, 4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise ValueError(f"{path}: IDX header cut short: {ndim} dimension sizes need "
                                 f"{4 * ndim} bytes, found {len(raw_dims)}")
            shape = struct.unpack(f">{ndim}I", raw_dims)
            dtype = IDX_DTYPES[code]
            expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
            # Read at most one byte more than announced: memory stays bounded by
            # the real data even when a corrupt header announces petabytes.
            payload = bytearray(_read_exactly(stream, expected + 1))
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    if len(payload) != expected:
        what = "truncated" if len(payload) < expected else "longer than its header says"
        got = f"{len(payload)}" if len(payload) <= expected else f"more than {expected}"
        raise ValueError(f"{path}: IDX payload {what}: header shape {shape} of {dtype.name} "
                         f"needs {expected} bytes, found {got}")
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)
    native = dtype.newbyteorder("=")
    if array.dtype != native:
        array = array.astype(native)
    return array


def write_idx(path, array, *, compress: bool | None = None) -> Path:
    """Write ``array`` to ``path`` in IDX format; the inverse of :func:`read_idx`.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file (overwritten).
    array : array_like
        At least one dimension, every size below ``2**32``, dtype one of
        uint8, int8, int16, int32, float32, float64.
    compress : bool, optional
        Gzip the file. By default, compress when the name ends in ``.gz``.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    arr = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = arr.dtype.newbyteorder("=")
    if native not in codes:
        names = ", ".join(dt.name for dt in codes)
        raise TypeError(f"array must have dtype {names}; got {arr.dtype}")
    if not 1 <= arr.ndim <= 255:
        raise ValueError(f"array must have 1 to 255 dimensions, got shape {arr.shape}")
    if max(arr.shape) >= 2**32:
        raise ValueError(f"array dimensions must be below 2**32, got shape {arr.shape}")
    big = native.newbyteorder(">")
    header = struct.pack(">HBB", 0, codes[native], arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + np.ascontiguousarray(arr, dtype=big).tobytes()
    if compress is None:
        compress = path.name.endswith(".gz")
    # mtime=0: the same array always gives the same bytes (and checksum).
    payload = gzip.compress(data, mtime=0) if compress else data
    path.write_bytes(payload)
    return path
