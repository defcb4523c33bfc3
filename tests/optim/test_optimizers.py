"""Tests of companion.optim: update equations, convergence, state dicts, validation.

The reference updates below are written from the equations of PyTorch's
documentation, vectorized in NumPy, independently of the package's kernels
(e.g. the SGD buffer is created as a copy of the first gradient, as PyTorch does,
and Adam uses the bias-corrected moments explicitly).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from companion.optim import SGD, Adagrad, Adam, AdamW, RMSprop
from companion.optim import CosineAnnealing

CLASSES = {"SGD": SGD, "Adagrad": Adagrad, "RMSprop": RMSprop, "Adam": Adam, "AdamW": AdamW}

SHAPES = {"conv.w": (2, 3, 3, 3), "conv.b": (2,), "fc.w": (4, 5), "fc.b": (5,)}

# (class name, constructor keywords): every option of every optimizer is used somewhere.
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.02)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.7, nesterov=True, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.3)),
    ("Adagrad", dict(lr=0.3, eps=1e-6, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.05)),
    ("RMSprop", dict(lr=0.01, momentum=0.8)),
    ("RMSprop", dict(lr=0.01, alpha=0.95, momentum=0.5, weight_decay=0.02)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.3)),
]
CONFIG_IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CONFIGS]


# --------------------------------------------------------------------------- reference
def reference_step(name, hp, theta, grad, state, t):
    """One update of one parameter from the equations; returns the new parameter."""
    lr = hp.get("lr")
    wd = hp.get("weight_decay", 0.0)
    if name == "SGD":
        mu = hp.get("momentum", 0.0)
        g = grad + wd * theta
        if mu > 0:
            state["b"] = g.copy() if "b" not in state else mu * state["b"] + g
            d = g + mu * state["b"] if hp.get("nesterov", False) else state["b"]
        else:
            d = g
        return theta - lr * d
    if name == "Adagrad":
        eps = hp.get("eps", 1e-10)
        g = grad + wd * theta
        state["s"] = state.get("s", 0.0) + g**2
        return theta - lr * g / (np.sqrt(state["s"]) + eps)
    if name == "RMSprop":
        alpha, eps, mu = hp.get("alpha", 0.99), hp.get("eps", 1e-8), hp.get("momentum", 0.0)
        g = grad + wd * theta
        state["v"] = alpha * state.get("v", 0.0) + (1 - alpha) * g**2
        avg = np.sqrt(state["v"]) + eps
        if mu > 0:
            state["b"] = mu * state.get("b", 0.0) + g / avg
            return theta - lr * state["b"]
        return theta - lr * g / avg
    if name in ("Adam", "AdamW"):
        b1, b2 = hp.get("betas", (0.9, 0.999))
        eps = hp.get("eps", 1e-8)
        if name == "AdamW":
            wd = hp.get("weight_decay", 0.01)
            theta = theta * (1 - lr * wd)
            g = grad
        else:
            g = grad + wd * theta
        state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g**2
        m_hat = state["m"] / (1 - b1**t)
        v_hat = state["v"] / (1 - b2**t)
        return theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    raise AssertionError(name)


class Problem:
    """A separable quadratic, sum_k 1/2 a_k (theta_k - c_k)^2, plus fixed per-step noise."""

    def __init__(self, seed, shapes=SHAPES, steps=12, noise=0.3, dtype=np.float64):
        rng = np.random.default_rng(seed)
        self.center = {k: rng.standard_normal(s) for k, s in shapes.items()}
        self.curv = {k: rng.uniform(0.5, 2.0, s) for k, s in shapes.items()}
        self.start = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
        self.noise = [{k: noise * rng.standard_normal(s) for k, s in shapes.items()}
                      for _ in range(steps)]

    def params(self):
        return {k: v.copy() for k, v in self.start.items()}

    def grads(self, params, t):
        return {k: (self.curv[k] * (params[k] - self.center[k])
                    + self.noise[t % len(self.noise)][k]).astype(params[k].dtype)
                for k in params}


def run(opt, problem, steps, params=None, start=0):
    params = problem.params() if params is None else params
    trajectory = []
    for t in range(start, start + steps):
        opt.step(params, problem.grads(params, t))
        trajectory.append({k: v.copy() for k, v in params.items()})
    return params, trajectory


# --------------------------------------------------------------------------- equations
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_updates_match_reference_equations(name, kwargs):
    problem = Problem(seed=3)
    opt = CLASSES[name](**kwargs)
    params = problem.params()
    ref = problem.params()
    ref_state = {k: {} for k in ref}
    for t in range(1, 9):
        opt.step(params, problem.grads(params, t - 1))
        g = problem.grads(ref, t - 1)
        ref = {k: reference_step(name, kwargs, ref[k], g[k], ref_state[k], t) for k in ref}
        for k in ref:
            np.testing.assert_allclose(params[k], ref[k], rtol=1e-12, atol=1e-14,
                                       err_msg=f"{name} step {t} {k}")
    assert opt.step_count == 8


HYPER = {
    "SGD": st.fixed_dictionaries({
        "lr": st.floats(1e-4, 1.0), "momentum": st.sampled_from([0.0, 0.5, 0.9]),
        "weight_decay": st.sampled_from([0.0, 1e-3, 0.1])}),
    "Adagrad": st.fixed_dictionaries({
        "lr": st.floats(1e-4, 1.0), "eps": st.sampled_from([1e-10, 1e-6, 0.1]),
        "weight_decay": st.sampled_from([0.0, 0.1])}),
    "RMSprop": st.fixed_dictionaries({
        "lr": st.floats(1e-4, 0.1), "alpha": st.floats(0.0, 0.999),
        "eps": st.sampled_from([1e-8, 1e-3]), "momentum": st.sampled_from([0.0, 0.9]),
        "weight_decay": st.sampled_from([0.0, 0.1])}),
    "Adam": st.fixed_dictionaries({
        "lr": st.floats(1e-4, 0.1), "betas": st.tuples(st.floats(0.0, 0.99), st.floats(0.0, 0.9999)),
        "eps": st.sampled_from([1e-8, 1e-3]), "weight_decay": st.sampled_from([0.0, 0.1])}),
    "AdamW": st.fixed_dictionaries({
        "lr": st.floats(1e-4, 0.1), "betas": st.tuples(st.floats(0.0, 0.99), st.floats(0.0, 0.9999)),
        "eps": st.sampled_from([1e-8, 1e-3]), "weight_decay": st.sampled_from([0.0, 0.01, 0.5])}),
}


@pytest.mark.parametrize("name", list(CLASSES))
@given(data=st.data())
def test_updates_match_reference_on_random_shapes(name, data):
    hp = data.draw(HYPER[name], label="hyperparameters")
    if name == "SGD":
        hp["nesterov"] = hp["momentum"] > 0 and data.draw(st.booleans(), label="nesterov")
    shapes = {f"p{i}": data.draw(array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=5),
                                 label=f"shape {i}")
              for i in range(data.draw(st.integers(1, 3), label="number of parameters"))}
    problem = Problem(seed=data.draw(st.integers(0, 2**32 - 1), label="seed"), shapes=shapes)
    opt = CLASSES[name](**hp)
    params, ref = problem.params(), problem.params()
    ref_state = {k: {} for k in ref}
    for t in range(1, 5):
        opt.step(params, problem.grads(params, t - 1))
        g = problem.grads(ref, t - 1)
        ref = {k: reference_step(name, hp, ref[k], g[k], ref_state[k], t) for k in ref}
    for k in ref:
        assert params[k].shape == shapes[k]
        np.testing.assert_allclose(params[k], ref[k], rtol=1e-11, atol=1e-13)


def test_changing_lr_between_steps_takes_effect():
    problem = Problem(seed=5)
    schedule = CosineAnnealing(0.05, total_steps=10, min_lr=0.001)
    opt = SGD(lr=1.0, momentum=0.9)
    params, ref = problem.params(), problem.params()
    ref_state = {k: {} for k in ref}
    for t in range(10):
        opt.lr = schedule(t)
        opt.step(params, problem.grads(params, t))
        g = problem.grads(ref, t)
        hp = {"lr": schedule(t), "momentum": 0.9}
        ref = {k: reference_step("SGD", hp, ref[k], g[k], ref_state[k], t + 1) for k in ref}
    for k in ref:
        np.testing.assert_allclose(params[k], ref[k], rtol=1e-12, atol=1e-14)


def test_zero_lr_from_a_schedule_leaves_sgd_parameters_unchanged():
    problem = Problem(seed=6)
    opt = SGD(lr=0.1)
    params = problem.params()
    opt.lr = 0.0
    opt.step(params, problem.grads(params, 0))
    for k in params:
        np.testing.assert_array_equal(params[k], problem.start[k])


def test_adamw_without_decay_is_adam():
    problem = Problem(seed=7)
    a, _ = run(Adam(lr=0.01), problem, 6)
    b, _ = run(AdamW(lr=0.01, weight_decay=0.0), problem, 6)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_adamw_decay_differs_from_adam_coupled_decay():
    problem = Problem(seed=7)
    a, _ = run(Adam(lr=0.01, weight_decay=0.1), problem, 6)
    b, _ = run(AdamW(lr=0.01, weight_decay=0.1), problem, 6)
    assert max(np.abs(a[k] - b[k]).max() for k in a) > 1e-6


# --------------------------------------------------------------------------- convergence
CONVERGENCE = [
    (SGD, dict(lr=0.1), 300, False),
    (SGD, dict(lr=0.05, momentum=0.9), 300, False),
    (SGD, dict(lr=0.05, momentum=0.9, nesterov=True), 300, False),
    (Adagrad, dict(lr=0.5), 1000, False),
    (RMSprop, dict(lr=0.03), 1000, True),
    (RMSprop, dict(lr=0.01, momentum=0.5), 1000, True),
    (Adam, dict(lr=0.05), 1000, True),
    (AdamW, dict(lr=0.05, weight_decay=0.0), 1000, True),
]


@pytest.mark.parametrize("cls, kwargs, steps, anneal", CONVERGENCE,
                         ids=[f"{c.__name__}-{kw}" for c, kw, _, _ in CONVERGENCE])
def test_converges_to_the_minimum_of_a_quadratic(cls, kwargs, steps, anneal):
    # Adaptive methods take steps of about lr near the minimum: anneal lr to 0.
    problem = Problem(seed=11, noise=0.0)
    opt = cls(**kwargs)
    schedule = CosineAnnealing(kwargs["lr"], total_steps=steps)
    params = problem.params()
    for t in range(steps):
        if anneal:
            opt.lr = schedule(t)
        opt.step(params, problem.grads(params, t))
    for k in params:
        np.testing.assert_allclose(params[k], problem.center[k], atol=1e-6)


@pytest.mark.parametrize("cls, kwargs", [(SGD, dict(lr=0.1, weight_decay=0.3)),
                                         (SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.3)),
                                         (Adam, dict(lr=0.05, weight_decay=0.3))],
                         ids=["SGD", "SGD-momentum", "Adam"])
def test_coupled_weight_decay_converges_to_the_shifted_minimum(cls, kwargs):
    # grad of 1/2 a (theta - c)^2 + 1/2 lam theta^2 vanishes at theta = a c / (a + lam).
    problem = Problem(seed=12, noise=0.0)
    opt = cls(**kwargs)
    schedule = CosineAnnealing(kwargs["lr"], total_steps=1000)
    params = problem.params()
    for t in range(1000):
        if cls is Adam:
            opt.lr = schedule(t)
        opt.step(params, problem.grads(params, t))
    lam = kwargs["weight_decay"]
    for k in params:
        a, c = problem.curv[k], problem.center[k]
        np.testing.assert_allclose(params[k], a * c / (a + lam), atol=1e-6)


# --------------------------------------------------------------------------- torch
def _torch():
    return pytest.importorskip(
        "torch", reason="torch is not installed (optional): the cross-check against "
                        "torch.optim is skipped; `pip install torch` to run it")


TORCH_CONFIGS = CONFIGS + [("Adagrad", dict()), ("RMSprop", dict()), ("Adam", dict()),
                           ("AdamW", dict()), ("SGD", dict(momentum=0.9, nesterov=True))]


@pytest.mark.parametrize("name, kwargs", TORCH_CONFIGS,
                         ids=CONFIG_IDS + ["Adagrad-defaults", "RMSprop-defaults",
                                           "Adam-defaults", "AdamW-defaults", "SGD-nesterov"])
def test_trajectory_matches_torch_optim(name, kwargs):
    torch = _torch()
    problem = Problem(seed=21, steps=30, noise=1.0)
    opt = CLASSES[name](**kwargs)
    params = problem.params()
    tparams = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
               for k, v in problem.start.items()}
    topt = getattr(torch.optim, name)(list(tparams.values()), **{"lr": opt.lr, **kwargs})
    for t in range(30):
        opt.step(params, problem.grads(params, t))
        tg = problem.grads({k: v.detach().numpy() for k, v in tparams.items()}, t)
        for k, v in tparams.items():
            v.grad = torch.from_numpy(tg[k])
        topt.step()
        for k in params:
            np.testing.assert_allclose(params[k], tparams[k].detach().numpy(),
                                       rtol=1e-10, atol=1e-12, err_msg=f"step {t} {k}")


def test_float32_trajectory_matches_torch_optim():
    torch = _torch()
    problem = Problem(seed=22, steps=20, dtype=np.float32)
    opt = Adam(lr=0.01, weight_decay=0.01)
    params = problem.params()
    tparams = [torch.tensor(problem.start[k], requires_grad=True) for k in params]
    topt = torch.optim.Adam(tparams, lr=0.01, weight_decay=0.01)
    for t in range(20):
        opt.step(params, problem.grads(params, t))
        tg = problem.grads({k: v.detach().numpy() for k, v in zip(params, tparams)}, t)
        for k, v in zip(params, tparams):
            v.grad = torch.from_numpy(tg[k])
        topt.step()
    for k, v in zip(params, tparams):
        assert params[k].dtype == np.float32
        np.testing.assert_allclose(params[k], v.detach().numpy(), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- state dicts
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_state_dict_roundtrip_through_savez_continues_identically(name, kwargs, dtype, tmp_path):
    problem = Problem(seed=31, dtype=dtype)
    straight, _ = run(CLASSES[name](**kwargs), problem, 10)

    first = CLASSES[name](**kwargs)
    params, _ = run(first, problem, 4)
    path = tmp_path / "opt.npz"
    np.savez(path, **first.state_dict())
    fresh = CLASSES[name]()             # other hyperparameters: load must restore them
    with np.load(path) as saved:
        fresh.load_state_dict(saved)
    assert repr(fresh) == repr(first)
    assert fresh.step_count == 4
    params, _ = run(fresh, problem, 6, params=params, start=4)
    for k in params:
        assert params[k].dtype == dtype
        np.testing.assert_array_equal(params[k], straight[k])


def test_state_dict_holds_copies_and_plain_values():
    problem = Problem(seed=32)
    opt = SGD(lr=0.1, momentum=0.9)
    run(opt, problem, 2)
    d = opt.state_dict()
    assert d["optimizer"] == "SGD" and d["step_count"] == 2
    assert isinstance(d["lr"], float) and d["nesterov"] is False
    assert sorted(d["param_names"]) == sorted(SHAPES)
    assert d["momentum_buffer:fc.w"].shape == SHAPES["fc.w"]
    d["momentum_buffer:fc.w"][...] = 1e6   # must not reach the optimizer
    np.testing.assert_array_equal(opt.state_dict()["momentum_buffer:fc.w"] == 1e6, False)


def test_fresh_state_dict_roundtrips():
    opt = Adam(lr=0.02)
    fresh = Adam()
    fresh.load_state_dict(opt.state_dict())
    assert repr(fresh) == repr(opt) and fresh.step_count == 0


def test_load_state_dict_rejects_bad_dicts():
    problem = Problem(seed=33)
    opt = Adam(lr=0.01)
    run(opt, problem, 2)
    good = opt.state_dict()
    with pytest.raises(ValueError, match="'Adam', cannot load it into SGD"):
        SGD().load_state_dict(good)
    with pytest.raises(ValueError, match="no entry 'eps'"):
        Adam().load_state_dict({k: v for k, v in good.items() if k != "eps"})
    with pytest.raises(ValueError, match="unexpected entry 'momentum_buffer:fc.w'"):
        Adam().load_state_dict({**good, "momentum_buffer:fc.w": np.zeros((4, 5))})
    with pytest.raises(ValueError, match="unexpected entry 'exp_avg:other'"):
        Adam().load_state_dict({**good, "exp_avg:other": np.zeros(3)})
    with pytest.raises(ValueError, match="betas\\[0\\] must lie in"):
        Adam().load_state_dict({**good, "betas": np.array([1.5, 0.9])})
    with pytest.raises(ValueError, match="must be finite"):
        Adam().load_state_dict({**good, "exp_avg:fc.w": np.full((4, 5), np.nan)})
    with pytest.raises(ValueError, match="buffers of 'fc.w' disagree"):
        Adam().load_state_dict({**good, "exp_avg:fc.w": np.zeros((5, 4))})
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        Adam().load_state_dict([1, 2])
    target = Adam(lr=0.5)
    with pytest.raises(ValueError):
        target.load_state_dict({**good, "lr": -1.0})
    assert target.lr == 0.5 and target.step_count == 0      # left as it was


def test_loaded_state_must_match_the_parameter_shapes():
    problem = Problem(seed=34)
    opt = Adam()
    run(opt, problem, 1)
    d = opt.state_dict()
    d["exp_avg:fc.w"] = np.zeros((5, 4))
    d["exp_avg_sq:fc.w"] = np.zeros((5, 4))
    fresh = Adam()
    fresh.load_state_dict(d)
    params = problem.params()
    with pytest.raises(ValueError, match=r"params\['fc.w'\] is float64\(4, 5\) but"):
        fresh.step(params, problem.grads(params, 0))


# --------------------------------------------------------------------------- in place, dtypes
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_params_updated_in_place_and_grads_untouched(name, kwargs):
    problem = Problem(seed=41)
    opt = CLASSES[name](**kwargs)
    params = problem.params()
    arrays = dict(params)
    grads = problem.grads(params, 0)
    before = {k: g.copy() for k, g in grads.items()}
    for g in grads.values():
        g.flags.writeable = False       # any write would raise
    opt.step(params, grads)
    for k in params:
        assert params[k] is arrays[k]
        assert not np.array_equal(params[k], problem.start[k])
        np.testing.assert_array_equal(grads[k], before[k])


def test_gradient_sharing_memory_with_its_parameter_is_read_before_the_update():
    rng = np.random.default_rng(42)
    w = rng.standard_normal((3, 4))
    expected = {"w": w.copy()}
    Adam(lr=0.1).step(expected, {"w": w.copy()})
    params = {"w": w}
    Adam(lr=0.1).step(params, {"w": w})          # grad is the parameter itself
    np.testing.assert_array_equal(params["w"], expected["w"])


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_float32_stays_float32_and_tracks_float64(name, kwargs):
    p64 = Problem(seed=43)
    p32 = Problem(seed=43, dtype=np.float32)
    opt32 = CLASSES[name](**kwargs)
    a, _ = run(CLASSES[name](**kwargs), p64, 5)
    b, _ = run(opt32, p32, 5)
    for k in a:
        assert b[k].dtype == np.float32
        np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-5)
    for key, value in opt32.state_dict().items():
        if ":" in key:
            assert value.dtype == np.float32, key


def test_float64_gradient_for_float32_parameter_is_cast():
    params = {"w": np.ones(3, dtype=np.float32)}
    SGD(lr=0.5).step(params, {"w": np.array([1.0, 2.0, 4.0])})
    assert params["w"].dtype == np.float32
    np.testing.assert_array_equal(params["w"], np.float32([0.5, 0.0, -1.0]))


def test_non_contiguous_parameter_is_updated_in_place():
    problem = Problem(seed=44, shapes={"w": (4, 3)})
    big = np.zeros((4, 6))
    view = big[:, ::2]
    view[...] = problem.start["w"]
    expected, _ = run(Adam(lr=0.1), problem, 3)
    run(Adam(lr=0.1), problem, 3, params={"w": view})
    np.testing.assert_array_equal(big[:, ::2], expected["w"])
    np.testing.assert_array_equal(big[:, 1::2], 0.0)


# --------------------------------------------------------------------------- validation
def _params():
    return {"a.w": np.ones((2, 3)), "a.b": np.zeros(3)}


def _grads():
    return {"a.w": np.full((2, 3), 0.5), "a.b": np.full(3, 0.5)}


@pytest.mark.parametrize("name", list(CLASSES))
def test_bad_keys_and_shapes_raise_naming_the_key(name):
    opt = CLASSES[name]()
    params = _params()
    with pytest.raises(ValueError, match="grads has no entry for parameter 'a.b'"):
        opt.step(params, {"a.w": _grads()["a.w"]})
    with pytest.raises(ValueError, match="grads has an entry 'c.w' that is not in params"):
        opt.step(params, {**_grads(), "c.w": np.zeros(1)})
    with pytest.raises(ValueError, match=r"grads\['a.b'\] must have the shape of params\['a.b'\]"):
        opt.step(params, {**_grads(), "a.b": np.zeros(4)})
    for bad in (np.nan, np.inf, -np.inf):
        g = _grads()
        g["a.b"] = np.array([0.0, bad, 0.0])
        with pytest.raises(ValueError, match=r"grads\['a.b'\] must be finite"):
            opt.step(params, g)
    with pytest.raises(ValueError, match="params must hold at least one parameter"):
        opt.step({}, {})
    np.testing.assert_array_equal(params["a.w"], 1.0)    # nothing was updated
    np.testing.assert_array_equal(params["a.b"], 0.0)
    assert opt.step_count == 0 and opt.state_dict()["param_names"].size == 0


def test_error_on_a_later_key_updates_nothing():
    opt = SGD(lr=0.1, momentum=0.9)
    params, grads = _params(), _grads()
    opt.step(params, grads)
    snapshot = {k: v.copy() for k, v in params.items()}
    state = opt.state_dict()
    grads["a.b"] = np.array([1.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="a.b"):
        opt.step(params, grads)
    for k in params:
        np.testing.assert_array_equal(params[k], snapshot[k])
    after = opt.state_dict()
    assert after["step_count"] == 1
    np.testing.assert_array_equal(after["momentum_buffer:a.w"], state["momentum_buffer:a.w"])


def test_the_set_of_names_is_fixed_by_the_first_step():
    opt = Adam()
    opt.step(_params(), _grads())
    with pytest.raises(ValueError, match="no entry 'a.b', which this optimizer updated"):
        opt.step({"a.w": np.ones((2, 3))}, {"a.w": np.ones((2, 3))})
    with pytest.raises(ValueError, match="entry 'z.w' that this optimizer did not update"):
        opt.step({**_params(), "z.w": np.ones(2)}, {**_grads(), "z.w": np.ones(2)})


def test_bad_parameter_arrays_are_rejected():
    opt = SGD()
    with pytest.raises(TypeError, match=r"params\['a.w'\] must be a NumPy array"):
        opt.step({"a.w": [[1.0, 2.0]]}, {"a.w": [[1.0, 2.0]]})
    with pytest.raises(TypeError, match=r"params\['a.w'\] must have dtype float32 or float64"):
        opt.step({"a.w": np.arange(3)}, {"a.w": np.ones(3)})
    ro = np.ones(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\['a.w'\] must be writable"):
        opt.step({"a.w": ro}, {"a.w": np.ones(3)})
    with pytest.raises(ValueError, match=r"params\['a.w'\] must be finite"):
        opt.step({"a.w": np.array([1.0, np.nan])}, {"a.w": np.ones(2)})
    with pytest.raises(TypeError, match="params must be a mapping"):
        opt.step([np.ones(3)], {"a.w": np.ones(3)})
    with pytest.raises(TypeError, match="grads keys must be str"):
        opt.step({"a.w": np.ones(3)}, {0: np.ones(3)})
    with pytest.raises(TypeError, match=r"grads\['a.w'\] must be real-valued"):
        opt.step({"a.w": np.ones(3)}, {"a.w": np.ones(3, dtype=complex)})


@pytest.mark.parametrize("cls, kwargs, error, match", [
    (SGD, dict(lr=0.0), ValueError, r"lr must be a finite number in \(0.0, inf\)"),
    (SGD, dict(lr=-0.1), ValueError, "lr must be"),
    (SGD, dict(lr=float("nan")), ValueError, "lr must be"),
    (SGD, dict(lr=float("inf")), ValueError, "lr must be"),
    (SGD, dict(lr="0.1"), TypeError, "lr must be a real number"),
    (SGD, dict(lr=True), TypeError, "lr must be a real number"),
    (SGD, dict(momentum=1.0), ValueError, r"momentum must lie in \[0, 1\)"),
    (SGD, dict(momentum=-0.1), ValueError, "momentum must lie in"),
    (SGD, dict(nesterov=True), ValueError, "nesterov=True requires momentum > 0"),
    (SGD, dict(momentum=0.9, nesterov=1), TypeError, "nesterov must be True or False"),
    (SGD, dict(weight_decay=-1e-4), ValueError, "weight_decay must be"),
    (Adagrad, dict(eps=0.0), ValueError, r"eps must be a finite number in \(0.0, inf\)"),
    (Adagrad, dict(weight_decay=float("nan")), ValueError, "weight_decay must be"),
    (RMSprop, dict(alpha=1.0), ValueError, "alpha must lie in"),
    (RMSprop, dict(momentum=1.5), ValueError, "momentum must lie in"),
    (RMSprop, dict(eps=-1.0), ValueError, "eps must be"),
    (Adam, dict(betas=(0.9, 1.0)), ValueError, r"betas\[1\] must lie in \[0, 1\)"),
    (Adam, dict(betas=(-0.1, 0.9)), ValueError, r"betas\[0\] must lie in"),
    (Adam, dict(betas=(0.9,)), ValueError, "betas must be a pair"),
    (Adam, dict(betas=0.9), TypeError, "betas must be a pair"),
    (AdamW, dict(weight_decay=-0.01), ValueError, "weight_decay must be"),
    (AdamW, dict(lr=0.0), ValueError, "lr must be"),
])
def test_invalid_hyperparameters_raise_naming_them(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


def test_hyperparameters_are_checked_again_at_each_step():
    opt = SGD(lr=0.1, momentum=0.9)
    params, grads = _params(), _grads()
    opt.lr = -0.1
    with pytest.raises(ValueError, match="lr must be"):
        opt.step(params, grads)
    opt.lr = 0.1
    opt.momentum = 1.0
    with pytest.raises(ValueError, match="momentum must lie in"):
        opt.step(params, grads)
    np.testing.assert_array_equal(params["a.w"], 1.0)


def test_momentum_switched_on_later_starts_a_zero_buffer():
    # b_0 = 0 makes b_1 = g_1: the first momentum step is a plain SGD step, as in PyTorch.
    params, grads = _params(), _grads()
    opt = SGD(lr=0.1)
    opt.step(params, grads)
    opt.momentum = 0.9
    opt.step(params, grads)
    np.testing.assert_allclose(params["a.w"], 1.0 - 2 * 0.1 * 0.5, rtol=1e-15)
    opt.step(params, grads)
    np.testing.assert_allclose(params["a.w"], 1.0 - 2 * 0.05 - 0.1 * (0.9 * 0.5 + 0.5),
                               rtol=1e-15)


def test_repr_shows_hyperparameters():
    assert repr(SGD(lr=0.1, momentum=0.9, nesterov=True)) == \
        "SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.0)"
    assert repr(AdamW()) == "AdamW(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01)"
