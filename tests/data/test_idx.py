"""IDX reading/writing and the LeNet padding transform.

IDX bytes are built here with ``struct`` independently of
``companion.data.idx``, so the reader is checked against a second
implementation of the format, not only against its own writer.
"""
import gzip
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from companion.data import IDX_DTYPES, read_idx, write_idx
from companion.data import pad_to_32

CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
         np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(array, code=None, ndim=None, dims=None):
    """IDX encoding of ``array`` written by hand (big-endian header and payload)."""
    arr = np.asarray(array)
    code = CODES[arr.dtype] if code is None else code
    dims = arr.shape if dims is None else dims
    ndim = len(dims) if ndim is None else ndim
    header = bytes([0, 0, code, ndim]) + b"".join(struct.pack(">I", d) for d in dims)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


# ----------------------------------------------------------------------------- reading

def test_reads_hand_made_mnist_like_file(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    path = tmp_path / "imgs-idx3-ubyte"
    path.write_bytes(idx_bytes(images))
    assert path.read_bytes()[:4] == b"\x00\x00\x08\x03"  # MNIST images magic 0x00000803
    out = read_idx(path)
    assert out.shape == (2, 28, 28) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, images)
    assert out.flags.writeable


def test_multibyte_values_are_big_endian_and_returned_native(tmp_path):
    path = tmp_path / "x.idx"
    # 0x0102 = 258 as int16, 1.5 as big-endian float32 = 3f c0 00 00
    path.write_bytes(bytes([0, 0, 0x0B, 1]) + struct.pack(">I", 2) + b"\x01\x02\xff\xfe")
    out = read_idx(path)
    assert out.dtype == np.dtype(np.int16) and out.dtype.isnative
    assert out.tolist() == [258, -2]
    path.write_bytes(bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 1) + b"\x3f\xc0\x00\x00")
    out = read_idx(path)
    assert out.dtype == np.float32 and out.tolist() == [1.5]


def test_gzip_is_detected_by_content_not_name(tmp_path):
    labels = np.array([7, 2, 1, 0, 4], dtype=np.uint8)
    zipped = tmp_path / "labels.idx"            # gzip data, no .gz suffix
    zipped.write_bytes(gzip.compress(idx_bytes(labels)))
    plain = tmp_path / "labels.gz"              # plain data, misleading suffix
    plain.write_bytes(idx_bytes(labels))
    np.testing.assert_array_equal(read_idx(zipped), labels)
    np.testing.assert_array_equal(read_idx(plain), labels)


def test_write_idx_matches_the_hand_made_encoding(tmp_path):
    a = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    assert write_idx(tmp_path / "a.idx", a).read_bytes() == idx_bytes(a)
    gz = write_idx(tmp_path / "a.idx.gz", a)
    assert gzip.decompress(gz.read_bytes()) == idx_bytes(a)
    # deterministic: the same array gives the same compressed bytes
    assert write_idx(tmp_path / "b.idx.gz", a).read_bytes() == gz.read_bytes()


@given(arr=hnp.arrays(dtype=st.sampled_from(sorted(CODES, key=str)),
                      shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6)),
       compress=st.booleans())
def test_round_trip_over_random_shapes_and_dtypes(tmp_path_factory, arr, compress):
    path = tmp_path_factory.mktemp("idx") / "r.idx"
    write_idx(path, arr, compress=compress)
    out = read_idx(path)
    assert out.shape == arr.shape and out.dtype == arr.dtype
    np.testing.assert_array_equal(out, arr)  # NaN compares equal in array_equal positions
    assert path.read_bytes() == (gzip.compress(idx_bytes(arr), mtime=0) if compress
                                 else idx_bytes(arr))


def test_idx_dtype_table_is_the_published_one():
    assert {c: d.str for c, d in IDX_DTYPES.items()} == {
        0x08: "|u1", 0x09: "|i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# ----------------------------------------------------------------------------- corrupt files

GOOD = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)


@pytest.mark.parametrize("payload, message", [
    (b"", "not an IDX file"),
    (b"\x00\x00\x08", "not an IDX file"),
    (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "two zero bytes"),
    (b"\x00\x00\x0a\x01" + struct.pack(">I", 1) + b"\x00", "unknown IDX type code 0x0A"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "header cut short"),
    (idx_bytes(GOOD)[:-1], "truncated"),
    (idx_bytes(GOOD) + b"\x00", "longer than its header says"),
    (idx_bytes(GOOD, dims=(2, 3, 5)), "truncated"),
    # a corrupt header announcing 2**93 bytes: an error, not a MemoryError
    (idx_bytes(GOOD, dims=(2**31, 2**31, 2**31)), "truncated"),
])
def test_malformed_files_raise_value_error_naming_the_file(tmp_path, payload, message):
    for name, data in (("bad.idx", payload), ("bad.idx.gz", gzip.compress(payload))):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError, match=message) as info:
            read_idx(path)
        assert str(path) in str(info.value)


def test_truncated_gzip_stream_is_an_error(tmp_path):
    big = np.arange(5000, dtype=np.int32)
    data = gzip.compress(idx_bytes(big))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_flipped_byte_in_gzip_stream_is_an_error(tmp_path):
    rng = np.random.default_rng(0)
    data = bytearray(gzip.compress(idx_bytes(rng.integers(0, 256, 4000, dtype=np.uint8))))
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "flip.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=str(path)):
        read_idx(path)


def test_missing_file_and_wrong_argument_types(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.idx"):
        read_idx(tmp_path / "nope.idx")
    with pytest.raises(TypeError, match="path must be"):
        read_idx(3)
    with pytest.raises(TypeError, match="array must have dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="array must have 1 to 255 dimensions"):
        write_idx(tmp_path / "x", np.float32(1.0))


# ----------------------------------------------------------------------------- pad_to_32

def test_pad_to_32_centres_the_digit():
    rng = np.random.default_rng(1)
    images = rng.random((3, 1, 28, 28), dtype=np.float32)
    before = images.copy()
    out = pad_to_32(images)
    assert out.shape == (3, 1, 32, 32) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :, 2:30, 2:30], images)
    border = out.copy()
    border[:, :, 2:30, 2:30] = 0
    assert not border.any()
    np.testing.assert_array_equal(images, before)  # input untouched
    assert not np.shares_memory(out, images)


@given(n=st.integers(0, 3), c=st.integers(1, 3),
       dtype=st.sampled_from([np.uint8, np.int32, np.float32, np.float64]))
def test_pad_to_32_property(n, c, dtype):
    images = (np.arange(n * c * 28 * 28) % 251 + 1).astype(dtype).reshape(n, c, 28, 28)
    out = pad_to_32(images)
    assert out.shape == (n, c, 32, 32) and out.dtype == images.dtype
    np.testing.assert_array_equal(out[:, :, 2:30, 2:30], images)
    assert out.sum() == images.sum()  # the border adds nothing


@pytest.mark.parametrize("bad, exc, message", [
    (np.zeros((1, 28, 28)), ValueError, "images must have 4 dimensions"),
    (np.zeros((1, 1, 27, 28)), ValueError, r"images must have shape \(N, C, 28, 28\)"),
    (np.full((1, 1, 28, 28), np.nan), ValueError, "images must be finite"),
    (np.zeros((1, 1, 28, 28), dtype=complex), TypeError, "real numbers"),
    ("images", TypeError, "images must be an array"),
    (None, TypeError, "images must be an array"),
])
def test_pad_to_32_rejects_bad_input(bad, exc, message):
    with pytest.raises(exc, match=message):
        pad_to_32(bad)
