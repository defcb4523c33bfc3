"""Tests of companion.optim.regularization: L2/L1 penalties, their gradients, and weight decay."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from companion.teaching import numerical_gradient, relative_error
from companion.optim import SGD, Adam
from companion.optim import l1_penalty, l2_penalty, weight_keys

PENALTIES = {"l2": l2_penalty, "l1": l1_penalty}


@st.composite
def model_params(draw, away_from_zero=False):
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    params = {}
    for layer in range(draw(st.integers(1, 3), label="layers")):
        shape = draw(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4),
                     label=f"weight shape {layer}")
        w = rng.standard_normal(shape)
        b = rng.standard_normal(shape[0])
        if away_from_zero:   # keep |w| > 1e-2: |w| is then linear within the FD step
            w = np.where(np.abs(w) < 1e-2, 0.5, w)
            b = np.where(np.abs(b) < 1e-2, 0.5, b)
        params[f"layer{layer}.w"] = w
        params[f"layer{layer}.b"] = b
    return params


@pytest.mark.parametrize("kind", ["l2", "l1"])
@pytest.mark.parametrize("keys", [None, "all"])
@given(params=model_params(away_from_zero=True), lam=st.floats(1e-3, 10.0))
def test_penalty_gradient_matches_finite_differences(kind, keys, params, lam):
    penalty = PENALTIES[kind]
    selected = list(params) if keys == "all" else None
    _, grads = penalty(params, lam, keys=selected)
    assert set(grads) == set(params)
    # Both penalties are polynomials of degree <= 2 between kinks, where central
    # differences have no truncation error: h = 1e-3 (not 1e-6) keeps the round-off
    # of f(x +- h) small next to tiny gradient components such as lam * 1e-2.
    for k in params:
        num = numerical_gradient(lambda _: penalty(params, lam, keys=selected)[0], params[k],
                                 h=1e-3)
        assert relative_error(grads[k], num) < 1e-7, k
        if keys is None and k.endswith(".b"):
            np.testing.assert_array_equal(grads[k], 0.0)   # biases are not penalized


@given(params=model_params(), lam=st.floats(0.0, 10.0))
def test_penalty_values_match_their_formulas(params, lam):
    weights = [params[k] for k in params if k.endswith(".w")]
    value2, grads2 = l2_penalty(params, lam)
    value1, grads1 = l1_penalty(params, lam)
    assert value2 == pytest.approx(0.5 * lam * sum(np.sum(w**2) for w in weights), rel=1e-12)
    assert value1 == pytest.approx(lam * sum(np.sum(np.abs(w)) for w in weights), rel=1e-12)
    for k, p in params.items():
        if k.endswith(".w"):
            np.testing.assert_array_equal(grads2[k], lam * p)
            np.testing.assert_array_equal(grads1[k], lam * np.sign(p))
        else:
            np.testing.assert_array_equal(grads2[k], np.zeros_like(p))


def test_l1_subgradient_is_zero_at_zero():
    value, grads = l1_penalty({"w": np.array([-2.0, 0.0, 3.0])}, 0.5)
    assert value == 2.5
    np.testing.assert_array_equal(grads["w"], [-0.5, 0.0, 0.5])


def test_weight_keys_and_explicit_keys():
    params = {"conv1.w": np.ones(2), "conv1.b": np.ones(2), "w": np.ones(1),
              "fc.raw": np.ones(1), "bn.gamma": np.ones(1)}
    assert weight_keys(params) == ["conv1.w", "w"]
    assert l2_penalty(params, 2.0)[0] == 3.0
    assert l2_penalty(params, 2.0, keys=["conv1.b"])[0] == 2.0
    assert l2_penalty(params, 2.0, keys=[])[0] == 0.0
    assert l1_penalty(params, 1.0, keys=tuple(params))[0] == 7.0


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_inputs_untouched_and_dtypes_kept(kind):
    rng = np.random.default_rng(0)
    params = {"a.w": rng.standard_normal((3, 2)).astype(np.float32),
              "a.b": rng.standard_normal(2)}
    before = {k: v.copy() for k, v in params.items()}
    for v in params.values():
        v.flags.writeable = False
    value, grads = PENALTIES[kind](params, 0.1)
    assert type(value) is float
    assert grads["a.w"].dtype == np.float32 and grads["a.b"].dtype == np.float64
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
        assert not np.shares_memory(grads[k], params[k])


# --------------------------------------------------------------------------- weight decay
@pytest.mark.parametrize("cls, kwargs", [(SGD, dict(lr=0.1)), (SGD, dict(lr=0.05, momentum=0.9)),
                                         (SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
                                         (Adam, dict(lr=0.01))],
                         ids=["SGD", "SGD-momentum", "SGD-nesterov", "Adam"])
def test_l2_penalty_gradient_is_coupled_weight_decay(cls, kwargs):
    # Adding grad(1/2 lam |w|^2) = lam w to the gradient is what weight_decay=lam does.
    rng = np.random.default_rng(1)
    lam = 0.03
    start = {"a.w": rng.standard_normal((3, 4)), "a.b": rng.standard_normal(4)}
    data_grads = [{k: rng.standard_normal(v.shape) for k, v in start.items()} for _ in range(5)]
    decayed = {k: v.copy() for k, v in start.items()}
    penalized = {k: v.copy() for k, v in start.items()}
    opt_decay = cls(weight_decay=lam, **kwargs)
    opt_plain = cls(**kwargs)
    for g in data_grads:
        opt_decay.step(decayed, g)
        _, pg = l2_penalty(penalized, lam, keys=list(penalized))   # weight_decay hits all
        opt_plain.step(penalized, {k: g[k] + pg[k] for k in g})
    for k in start:
        np.testing.assert_allclose(penalized[k], decayed[k], rtol=1e-14, atol=1e-15)


def test_weights_only_decay_with_two_optimizers_equals_default_penalty():
    rng = np.random.default_rng(2)
    lam = 0.1
    start = {"a.w": rng.standard_normal((3, 4)), "a.b": rng.standard_normal(4)}
    g = {k: rng.standard_normal(v.shape) for k, v in start.items()}
    split = {k: v.copy() for k, v in start.items()}
    SGD(lr=0.1, weight_decay=lam).step({"a.w": split["a.w"]}, {"a.w": g["a.w"]})
    SGD(lr=0.1).step({"a.b": split["a.b"]}, {"a.b": g["a.b"]})
    penalized = {k: v.copy() for k, v in start.items()}
    _, pg = l2_penalty(penalized, lam)
    SGD(lr=0.1).step(penalized, {k: g[k] + pg[k] for k in g})
    for k in start:
        np.testing.assert_allclose(penalized[k], split[k], rtol=1e-14)
    np.testing.assert_array_equal(penalized["a.b"], start["a.b"] - 0.1 * g["a.b"])


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kind", ["l2", "l1"])
@pytest.mark.parametrize("call, error, match", [
    (lambda f: f({"a.w": np.ones(2)}, -0.1), ValueError, r"lam must be a finite number in \[0.0, inf\)"),
    (lambda f: f({"a.w": np.ones(2)}, float("nan")), ValueError, "lam must be"),
    (lambda f: f({"a.w": np.ones(2)}, "0.1"), TypeError, "lam must be a real number"),
    (lambda f: f([np.ones(2)], 0.1), TypeError, "params must be a mapping"),
    (lambda f: f({"a.w": np.array([1.0, np.inf])}, 0.1), ValueError, r"params\['a.w'\] must be finite"),
    (lambda f: f({"a.w": np.ones(2)}, 0.1, keys="a.w"), TypeError, "keys must be a list"),
    (lambda f: f({"a.w": np.ones(2)}, 0.1, keys=["a.b"]), ValueError, "keys names 'a.b', which is not in params"),
])
def test_bad_input_raises(kind, call, error, match):
    with pytest.raises(error, match=match):
        call(PENALTIES[kind])
