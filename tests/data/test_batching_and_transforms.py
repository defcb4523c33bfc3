"""Mini-batching, the train/validation split and the augmentation transforms.

Every transform is compared with an independent NumPy reference (``np.pad`` and
slicing for the crop, coordinate grids and gathers for the rotation, exact
``np.rot90`` for right angles), over random shapes with Hypothesis.
"""
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.data import (
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    RandomRotation,
    Split,
    as_generator,
    minibatches,
    num_batches,
    pad_crop,
    random_crop,
    random_horizontal_flip,
    random_rotation,
    rotate,
    train_val_split,
)


def images(n=3, c=2, h=5, w=6, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)


# ----------------------------------------------------------------------------- as_generator
def test_as_generator_accepts_generator_seed_and_none():
    g = np.random.default_rng(1)
    assert as_generator(g) is g
    assert as_generator(5).integers(1000) == np.random.default_rng(5).integers(1000)
    assert isinstance(as_generator(None), np.random.Generator)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        as_generator("seed")
    with pytest.raises(ValueError, match="rng must be a non-negative"):
        as_generator(-1)
    with pytest.raises(TypeError, match="rng"):
        as_generator(True)


# ----------------------------------------------------------------------------- minibatches
@given(n=st.integers(1, 40), batch_size=st.integers(1, 50), seed=st.integers(0, 2**32 - 1),
       drop_last=st.booleans())
def test_minibatches_visit_every_example_once(n, batch_size, seed, drop_last):
    x = np.arange(n, dtype=np.float64)[:, None] * np.ones((1, 3))
    y = np.arange(n)
    batches = list(minibatches(x, y, batch_size, rng=seed, drop_last=drop_last))
    assert len(batches) == num_batches(n, batch_size, drop_last)
    sizes = [len(yb) for _, yb in batches]
    if drop_last:
        assert all(s == batch_size for s in sizes)
        assert sum(sizes) == n - n % batch_size
    else:
        assert all(s == batch_size for s in sizes[:-1]) and 1 <= sizes[-1] <= batch_size
        assert sum(sizes) == n
    seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], int)
    assert len(set(seen.tolist())) == len(seen)                  # no repeats
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], yb)               # x and y stay paired
    if not drop_last:
        np.testing.assert_array_equal(np.sort(seen), np.arange(n))


def test_minibatches_are_reproducible_and_reshuffled():
    x = np.arange(50.0)[:, None]
    y = np.arange(50)
    a = [yb for _, yb in minibatches(x, y, 8, rng=3)]
    b = [yb for _, yb in minibatches(x, y, 8, rng=np.random.default_rng(3))]
    c = [yb for _, yb in minibatches(x, y, 8, rng=4)]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))
    rng = np.random.default_rng(0)                    # one generator, two epochs: two orders
    e1 = np.concatenate([yb for _, yb in minibatches(x, y, 8, rng=rng)])
    e2 = np.concatenate([yb for _, yb in minibatches(x, y, 8, rng=rng)])
    assert not np.array_equal(e1, e2)
    np.testing.assert_array_equal(e1, np.random.default_rng(0).permutation(50))


def test_minibatches_in_order_are_views():
    x = np.arange(10.0).reshape(5, 2)
    batches = list(minibatches(x, None, 2, shuffle=False))
    assert [xb.shape[0] for xb, _ in batches] == [2, 2, 1]
    assert all(yb is None for _, yb in batches)
    assert all(np.shares_memory(xb, x) for xb, _ in batches)
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in batches]), x)


class Targets(NamedTuple):
    labels: np.ndarray
    extra: np.ndarray


def test_minibatches_cut_tuples_of_targets_together():
    x = np.arange(7.0)[:, None]
    y = Targets(np.arange(7), np.arange(7.0) * 10)
    for xb, yb in minibatches(x, y, 3, rng=1):
        assert isinstance(yb, Targets)
        np.testing.assert_array_equal(yb.labels, xb[:, 0].astype(int))
        np.testing.assert_array_equal(yb.extra, xb[:, 0] * 10)
    for xb, yb in minibatches(x, (np.arange(7), np.arange(7)), 3, rng=1):
        assert type(yb) is tuple and len(yb) == 2


def test_minibatches_do_not_modify_inputs():
    x = images(9)
    y = np.arange(9)
    x0, y0 = x.copy(), y.copy()
    for xb, yb in minibatches(x, y, 4, rng=0):
        pass
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(batch_size=0), ValueError, "batch_size must be a positive integer"),
    (dict(batch_size=2.5), TypeError, "batch_size must be an integer"),
    (dict(y=np.arange(4)), ValueError, r"y must have one entry per example of x \(5\)"),
    (dict(y=(np.arange(5), np.arange(3))), ValueError, r"y\[1\] must have one entry"),
    (dict(y=()), ValueError, "y must not be an empty tuple"),
    (dict(x=np.array([[1.0], [np.nan]])), ValueError, "x must be finite"),
    (dict(x=np.zeros((0, 2))), ValueError, "x must hold at least one example"),
    (dict(x=np.float64(3.0)), ValueError, "x must have a leading axis"),
    (dict(x="abc"), TypeError, "x must be an array"),
    (dict(shuffle=1), TypeError, "shuffle must be True or False"),
    (dict(drop_last=None), TypeError, "drop_last must be True or False"),
    (dict(rng="0"), TypeError, "rng must be"),
])
def test_minibatches_reject_bad_arguments_at_call_time(kwargs, exc, message):
    args = dict(x=np.ones((5, 2)), y=None, batch_size=2, rng=0)
    args.update(kwargs)
    x, y, bs = args.pop("x"), args.pop("y"), args.pop("batch_size")
    with pytest.raises(exc, match=message):
        minibatches(x, y, bs, **args)               # raises before the first next()


def test_num_batches():
    assert num_batches(10, 3) == 4 and num_batches(10, 3, True) == 3
    assert num_batches(2, 5) == 1 and num_batches(2, 5, True) == 0
    with pytest.raises(ValueError, match="n must be a positive integer"):
        num_batches(0, 3)


# ----------------------------------------------------------------------------- train_val_split
@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=5),
       frac=st.floats(0.05, 0.95), seed=st.integers(0, 2**32 - 1))
def test_stratified_split_keeps_class_proportions(sizes, frac, seed):
    y = np.repeat(np.arange(len(sizes)), sizes)
    n = y.size
    n_val = round(frac * n)
    if not 1 <= n_val <= n - 1:
        with pytest.raises(ValueError, match="both sets must be non-empty"):
            train_val_split(np.zeros((n, 2)), y, frac, rng=seed)
        return
    x = np.arange(n, dtype=np.float64)[:, None] * np.ones((1, 2))
    s = train_val_split(x, y, frac, rng=seed)
    assert isinstance(s, Split)
    assert len(s.y_val) == n_val and len(s.y_train) == n - n_val
    ids_train, ids_val = s.x_train[:, 0].astype(int), s.x_val[:, 0].astype(int)
    assert not set(ids_train) & set(ids_val)
    np.testing.assert_array_equal(np.sort(np.concatenate([ids_train, ids_val])), np.arange(n))
    np.testing.assert_array_equal(y[ids_val], s.y_val)         # labels follow their images
    assert np.all(np.diff(ids_train) > 0) and np.all(np.diff(ids_val) > 0)  # original order
    for c, size in enumerate(sizes):                # largest remainder: within 1 of the quota
        quota = n_val * size / n
        assert abs(np.count_nonzero(s.y_val == c) - quota) < 1


def test_split_is_reproducible_and_unstratified_works():
    x = np.arange(40.0)[:, None]
    y = np.repeat([0, 1], [30, 10])
    a = train_val_split(x, y, 0.25, rng=7)
    b = train_val_split(x, y, 0.25, rng=np.random.default_rng(7))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert np.count_nonzero(a.y_val == 1) in (2, 3)          # 10 * 0.25 = 2.5
    assert np.count_nonzero(a.y_val == 0) in (7, 8)          # 30 * 0.25 = 7.5
    u = train_val_split(x, y, 0.25, rng=7, stratify=False)
    assert len(u.y_val) == 10 and len(u.y_train) == 30


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(val_fraction=0.0), ValueError, "val_fraction must lie in"),
    (dict(val_fraction=1.0), ValueError, "val_fraction must lie in"),
    (dict(rng=None), TypeError, "rng must be a numpy.random.Generator or an integer seed"),
    (dict(y=np.arange(9.0)), TypeError, "y must be integer class labels"),
    (dict(y=np.arange(8)), ValueError, r"y must have shape \(10,\)"),
    (dict(y=np.arange(10) - 1), ValueError, "y must hold class labels >= 0"),
    (dict(stratify="yes"), TypeError, "stratify must be True or False"),
])
def test_split_rejects_bad_arguments(kwargs, exc, message):
    args = dict(x=np.zeros((10, 1)), y=np.arange(10) % 2, val_fraction=0.3, rng=0)
    args.update(kwargs)
    with pytest.raises(exc, match=message):
        train_val_split(**args)


# ----------------------------------------------------------------------------- crop
def reference_pad_crop(x, ph, pw, offsets):
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    H, W = x.shape[2:]
    return np.stack([padded[n, :, dy:dy + H, dx:dx + W] for n, (dy, dx) in enumerate(offsets)])


@given(n=st.integers(1, 4), c=st.integers(1, 3), h=st.integers(1, 7), w=st.integers(1, 7),
       ph=st.integers(0, 4), pw=st.integers(0, 4), seed=st.integers(0, 2**32 - 1))
def test_pad_crop_matches_numpy_pad_and_slice(n, c, h, w, ph, pw, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    offsets = np.stack([rng.integers(0, 2 * ph + 1, n), rng.integers(0, 2 * pw + 1, n)], axis=1)
    x0 = x.copy()
    out = pad_crop(x, (ph, pw), offsets)
    np.testing.assert_array_equal(out, reference_pad_crop(x, ph, pw, offsets))
    np.testing.assert_array_equal(x, x0)
    centre = pad_crop(x, (ph, pw), np.tile([ph, pw], (n, 1)))
    np.testing.assert_array_equal(centre, x)                     # offset (p, p) is the identity


def test_random_crop_draws_documented_offsets_and_keeps_dtype():
    x = images(6, dtype=np.float32)
    out = random_crop(x, 2, rng=11)
    rng = np.random.default_rng(11)
    offsets = np.stack([rng.integers(0, 5, 6), rng.integers(0, 5, 6)], axis=1)
    np.testing.assert_array_equal(out, reference_pad_crop(x, 2, 2, offsets))
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_array_equal(random_crop(x, 0, rng=3), x)
    assert random_crop(np.ones((1, 1, 2, 2), dtype=np.int64), 1, rng=0).dtype == np.float64


def test_pad_crop_rejects_bad_arguments():
    x = images(2)
    with pytest.raises(ValueError, match=r"offsets must have shape \(2, 2\)"):
        pad_crop(x, 1, np.zeros((3, 2), int))
    with pytest.raises(ValueError, match=r"offsets must lie in \[0, 2\] x \[0, 2\]"):
        pad_crop(x, 1, np.array([[0, 3], [0, 0]]))
    with pytest.raises(ValueError, match="offsets must lie in"):
        pad_crop(x, 1, np.array([[-1, 0], [0, 0]]))
    with pytest.raises(TypeError, match="offsets must be integers"):
        pad_crop(x, 1, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="padding must be >= 0"):
        random_crop(x, -1, rng=0)
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        random_crop(x[0], 1, rng=0)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="x must be finite"):
        random_crop(bad, 1, rng=0)


# ----------------------------------------------------------------------------- flip
def test_horizontal_flip_extremes_and_mixture():
    x = images(40)
    x0 = x.copy()
    np.testing.assert_array_equal(random_horizontal_flip(x, rng=0, p=0.0), x)
    np.testing.assert_array_equal(random_horizontal_flip(x, rng=0, p=1.0), x[..., ::-1])
    out = random_horizontal_flip(x, rng=5, p=0.5)
    flipped = np.random.default_rng(5).random(40) < 0.5
    for n in range(40):
        np.testing.assert_array_equal(out[n], x[n, ..., ::-1] if flipped[n] else x[n])
    assert 0 < flipped.sum() < 40
    np.testing.assert_array_equal(x, x0)
    assert random_horizontal_flip(x.astype(np.float32), rng=0).dtype == np.float32
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
        random_horizontal_flip(x, rng=0, p=1.5)


# ----------------------------------------------------------------------------- rotation
def reference_rotate(x, degrees):
    """Bilinear rotation with zero fill, written with coordinate grids (independent code)."""
    N, C, H, W = x.shape
    out = np.zeros_like(x, dtype=np.float64)
    cy, cx = (H - 1) / 2, (W - 1) / 2
    ii, jj = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 2), (1, 2)))  # zero ring
    for n in range(N):
        t = np.deg2rad(degrees[n])
        u, v = jj - cx, cy - ii
        src_col = cx + (np.cos(t) * u + np.sin(t) * v)
        src_row = cy - (-np.sin(t) * u + np.cos(t) * v)
        r0, c0 = np.floor(src_row).astype(int), np.floor(src_col).astype(int)
        fr, fc = src_row - r0, src_col - c0
        for dr, wr in ((0, 1 - fr), (1, fr)):
            for dc, wc in ((0, 1 - fc), (1, fc)):
                r, c = r0 + dr, c0 + dc
                inside = (r >= 0) & (r < H) & (c >= 0) & (c < W)
                rr, cc = np.where(inside, r, -1) + 1, np.where(inside, c, -1) + 1
                vals = padded[n][:, rr, cc]                   # (C, H, W); -1 -> the zero ring
                out[n] += np.where(inside, wr * wc, 0.0) * vals
    return out


@given(n=st.integers(1, 3), c=st.integers(1, 2), h=st.integers(1, 8), w=st.integers(1, 8),
       seed=st.integers(0, 2**32 - 1))
def test_rotate_matches_reference(n, c, h, w, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    degrees = rng.uniform(-180, 180, n)
    x0 = x.copy()
    np.testing.assert_allclose(rotate(x, degrees), reference_rotate(x, degrees),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(x, x0)


@given(k=st.integers(1, 3), size=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_right_angle_rotations_are_rot90(k, size, seed):
    x = np.random.default_rng(seed).standard_normal((2, 2, size, size))
    np.testing.assert_allclose(rotate(x, 90.0 * k), np.rot90(x, k, axes=(2, 3)), atol=1e-12)


def test_rotate_identity_and_zero_fill():
    x = images(2, 3, 6, 4)
    np.testing.assert_array_equal(rotate(x, 0.0), x)
    np.testing.assert_allclose(rotate(x, 360.0), x, atol=1e-12)
    ones = np.ones((1, 1, 9, 9))
    r = rotate(ones, 45.0)
    assert r[0, 0, 4, 4] == pytest.approx(1.0)                  # the centre stays
    assert r[0, 0, 0, 0] == 0.0                                  # corners come from outside
    assert np.all(r >= 0) and np.all(r <= 1 + 1e-12)
    assert rotate(x.astype(np.float32), 30.0).dtype == np.float32


def test_random_rotation_uses_documented_angles():
    x = images(5)
    np.testing.assert_array_equal(random_rotation(x, 0.0, rng=1), x)
    angles = np.random.default_rng(4).uniform(-15, 15, 5)
    np.testing.assert_array_equal(random_rotation(x, 15, rng=4), rotate(x, angles))
    with pytest.raises(ValueError, match=r"max_degrees must lie in \[0, 180\]"):
        random_rotation(x, -1, rng=0)
    with pytest.raises(TypeError, match="max_degrees must be a number"):
        random_rotation(x, "10", rng=0)
    with pytest.raises(ValueError, match=r"degrees must be a number or have shape \(5,\)"):
        rotate(x, np.zeros(4))
    with pytest.raises(ValueError, match="degrees must be finite"):
        rotate(x, np.nan)


# ----------------------------------------------------------------------------- Compose
def test_compose_chains_with_one_generator():
    x = images(6, dtype=np.float32)
    chain = Compose(RandomCrop(2), RandomHorizontalFlip(0.5), RandomRotation(10))
    out = chain(x, 9)
    rng = np.random.default_rng(9)
    expected = random_rotation(random_horizontal_flip(random_crop(x, 2, rng=rng), rng=rng, p=0.5), 10, rng=rng)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(chain(x, 9), out)               # reproducible
    listed = Compose([RandomCrop(2), RandomHorizontalFlip(0.5), RandomRotation(10)])
    np.testing.assert_array_equal(listed(x, 9), out)            # a list works as well
    assert "RandomCrop(padding=(2, 2))" in repr(chain)
    assert out.dtype == np.float32


def test_compose_rejects_bad_transforms():
    with pytest.raises(TypeError, match=r"transforms\[1\] must be a callable"):
        Compose(RandomCrop(1), 3)
    shrink = Compose(lambda x, rng: x[:, :, :2])
    with pytest.raises(ValueError, match=r"transforms\[0\] .* must return an array of shape"):
        shrink(images(2), 0)
