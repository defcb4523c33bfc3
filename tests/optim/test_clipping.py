"""Tests of companion.optim.clipping: global-norm and value clipping."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from companion.optim import clip_grad_norm, clip_grad_value, global_norm


@st.composite
def grad_dicts(draw, dtype=np.float64):
    n = draw(st.integers(1, 4), label="number of gradients")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    scale = draw(st.sampled_from([1e-8, 1e-3, 1.0, 1e3, 1e8]), label="scale")
    rng = np.random.default_rng(seed)
    grads = {}
    for i in range(n):
        shape = draw(array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=5),
                     label=f"shape {i}")
        grads[f"layer{i}.w"] = np.asarray(scale * rng.standard_normal(shape), dtype=dtype)
    return grads


def _frozen_copy(grads):
    before = {k: g.copy() for k, g in grads.items()}
    for g in grads.values():
        g.flags.writeable = False
    return before


@given(grads=grad_dicts(), max_norm=st.floats(1e-6, 1e6))
def test_clip_grad_norm_properties(grads, max_norm):
    before = _frozen_copy(grads)
    clipped, total = clip_grad_norm(grads, max_norm)
    flat = np.concatenate([g.ravel() for g in before.values()])
    assert total == pytest.approx(np.sqrt(np.sum(flat**2)), rel=1e-12)
    new = np.concatenate([clipped[k].ravel() for k in before])
    assert np.linalg.norm(new) <= max_norm * (1 + 1e-12)
    coef = min(1.0, max_norm / (total + 1e-6))
    for k, g in before.items():
        assert clipped[k].shape == g.shape and clipped[k].dtype == g.dtype
        assert not np.shares_memory(clipped[k], grads[k])
        np.testing.assert_array_equal(grads[k], g)               # input untouched
        np.testing.assert_allclose(clipped[k], coef * g, rtol=1e-15, atol=0)
    # one common factor: the direction of the whole gradient is kept
    cosine = new @ flat / (np.linalg.norm(new) * np.linalg.norm(flat))
    assert cosine == pytest.approx(1.0, abs=1e-12)
    if total + 1e-6 <= max_norm:
        for k, g in before.items():
            np.testing.assert_array_equal(clipped[k], g)
    elif total > 1.0:   # clipped onto the sphere, up to PyTorch's 1e-6 in the denominator
        assert np.linalg.norm(new) == pytest.approx(max_norm, rel=1e-6)


@given(grads=grad_dicts(dtype=np.float32), max_norm=st.floats(1e-3, 1e3))
def test_clip_grad_norm_keeps_float32(grads, max_norm):
    clipped, total = clip_grad_norm(grads, max_norm)
    assert type(total) is float
    new = np.concatenate([c.ravel().astype(np.float64) for c in clipped.values()])
    assert all(c.dtype == np.float32 for c in clipped.values())
    assert np.linalg.norm(new) <= max_norm * (1 + 1e-6)


def test_clip_grad_norm_small_cases():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    clipped, total = clip_grad_norm(g, 1.0)
    assert total == 5.0
    np.testing.assert_allclose(clipped["a"], [0.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(clipped["b"], [[0.8]], rtol=1e-6)
    same, total = clip_grad_norm(g, 10.0)
    np.testing.assert_array_equal(same["a"], g["a"])
    zero, total = clip_grad_norm({"a": np.zeros(3)}, 1.0)
    assert total == 0.0 and np.all(zero["a"] == 0.0)
    assert clip_grad_norm({}, 1.0) == ({}, 0.0)
    assert global_norm(g) == 5.0
    huge, total = clip_grad_norm({"a": np.full(4, 1e300), "b": np.full(1, -1e300)}, 1.0)
    assert total == pytest.approx(np.sqrt(5) * 1e300, rel=1e-15)   # no overflow in the squares
    np.testing.assert_allclose(huge["a"], 1 / np.sqrt(5), rtol=1e-15)


@given(grads=grad_dicts(), clip=st.floats(1e-6, 1e6))
def test_clip_grad_value_properties(grads, clip):
    before = _frozen_copy(grads)
    clipped = clip_grad_value(grads, clip)
    for k, g in before.items():
        c = clipped[k]
        assert c.shape == g.shape and c.dtype == g.dtype
        assert np.all(np.abs(c) <= clip)
        inside = np.abs(g) <= clip
        np.testing.assert_array_equal(c[inside], g[inside])
        np.testing.assert_array_equal(c[~inside], np.sign(g[~inside]) * clip)
        np.testing.assert_array_equal(grads[k], g)


def test_matches_torch_clip_functions():
    torch = pytest.importorskip(
        "torch", reason="torch is not installed (optional): cross-check skipped")
    rng = np.random.default_rng(3)
    grads = {"a.w": rng.standard_normal((3, 4)), "a.b": rng.standard_normal(4),
             "b.w": 5 * rng.standard_normal((2, 2, 3))}
    for max_norm in (0.5, 3.0, 100.0):
        tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
                   for g in grads.values()]
        for t, g in zip(tensors, grads.values()):
            t.grad = torch.tensor(g)
        ttotal = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
        clipped, total = clip_grad_norm(grads, max_norm)
        assert total == pytest.approx(float(ttotal), rel=1e-14)
        for t, k in zip(tensors, grads):
            np.testing.assert_allclose(clipped[k], t.grad.numpy(), rtol=1e-14)
        for t, g in zip(tensors, grads.values()):
            t.grad = torch.tensor(g)
        torch.nn.utils.clip_grad_value_(tensors, max_norm)
        clipped = clip_grad_value(grads, max_norm)
        for t, k in zip(tensors, grads):
            np.testing.assert_array_equal(clipped[k], t.grad.numpy())


@pytest.mark.parametrize("call, error, match", [
    (lambda: clip_grad_norm({"a": np.ones(2)}, 0.0), ValueError, r"max_norm must be .* \(0.0, inf\)"),
    (lambda: clip_grad_norm({"a": np.ones(2)}, float("nan")), ValueError, "max_norm must be"),
    (lambda: clip_grad_norm({"a": np.ones(2)}, None), TypeError, "max_norm must be a real number"),
    (lambda: clip_grad_norm([np.ones(2)], 1.0), TypeError, "grads must be a mapping"),
    (lambda: clip_grad_norm({"a.b": np.array([1.0, np.inf])}, 1.0), ValueError,
     r"grads\['a.b'\] must be finite"),
    (lambda: clip_grad_norm({"a": np.full(4, 1e308)}, 1.0), ValueError, "overflows float64"),
    (lambda: clip_grad_value({"a": np.ones(2)}, -1.0), ValueError, "clip_value must be"),
    (lambda: clip_grad_value({"a.w": np.array([np.nan])}, 1.0), ValueError,
     r"grads\['a.w'\] must be finite"),
    (lambda: global_norm({"a": np.array(["x"])}), TypeError, r"grads\['a'\] must be an array"),
])
def test_bad_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()
