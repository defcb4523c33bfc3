"""Tests of companion.optim.schedules: formulas (Hypothesis over parameters), warm-up, validation."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.optim import (
    Schedule,
    Constant,
    CosineAnnealing,
    ExponentialDecay,
    LinearDecay,
    StepDecay,
    LinearWarmup,
)

lrs = st.floats(1e-6, 10.0)
steps = st.integers(1, 500)
times = st.integers(0, 2000)
factors = st.floats(0.01, 1.0)


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


@given(lr=lrs, t=times)
def test_constant(lr, t):
    assert Constant(lr)(t) == lr


@given(base=lrs, size=steps, gamma=factors, t=times)
def test_step_decay_formula(base, size, gamma, t):
    s = StepDecay(base, size, gamma)
    assert close(s(t), base * gamma ** math.floor(t / size))
    # piecewise constant: unchanged inside a block, multiplied by gamma across a boundary
    block_start = (t // size) * size
    assert s(block_start) == s(t)
    assert close(s(block_start + size), s(t) * gamma)


@given(base=lrs, gamma=factors, t=times)
def test_exponential_decay_formula(base, gamma, t):
    s = ExponentialDecay(base, gamma)
    assert close(s(t), base * math.exp(t * math.log(gamma))) or s(t) < 1e-300
    assert s(t + 1) <= s(t)


@given(base=lrs, frac=st.floats(0.0, 1.0), total=steps, t=times)
def test_linear_decay_formula(base, frac, total, t):
    end = base * frac
    s = LinearDecay(base, end, total)
    expected = end if t >= total else base - (base - end) * t / total
    assert close(s(t), expected)
    assert s(0) == base and close(s(total), end)
    if t <= total:   # symmetric about the midpoint
        assert math.isclose(s(t) + s(total - t), base + end, rel_tol=1e-12)


@given(base=lrs, frac=st.floats(0.0, 1.0), total=steps, t=times)
def test_cosine_annealing_formula(base, frac, total, t):
    low = base * frac
    s = CosineAnnealing(base, total, min_lr=low)
    tt = min(t, total)
    assert close(s(t), low + (base - low) * (1 + math.cos(math.pi * tt / total)) / 2)
    assert close(s(0), base) and close(s(total), low)
    assert low * (1 - 1e-15) <= s(t) <= base * (1 + 1e-15)
    assert s(t + 1) <= s(t) + 1e-15 * base           # non-increasing
    if t <= total:
        assert math.isclose(s(t) + s(total - t), base + low, rel_tol=1e-12)


@given(base=lrs, total=st.integers(2, 500))
def test_cosine_annealing_midpoint_and_values(base, total):
    s = CosineAnnealing(base, total)
    values = np.array([s(t) for t in range(total + 1)])
    assert np.all(np.diff(values) <= 1e-15 * base)
    if total % 2 == 0:
        assert close(s(total // 2), base / 2)


def test_cosine_annealing_matches_torch_closed_form():
    torch = pytest.importorskip(
        "torch", reason="torch is not installed (optional): cross-check skipped")
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20, eta_min=0.01)
    ours = CosineAnnealing(0.1, 20, min_lr=0.01)
    for t in range(21):
        assert math.isclose(opt.param_groups[0]["lr"], ours(t), rel_tol=1e-12), t
        opt.step()
        sched.step()


def test_step_decay_matches_torch_step_lr():
    torch = pytest.importorskip(
        "torch", reason="torch is not installed (optional): cross-check skipped")
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.5)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    ours = StepDecay(0.5, 3, 0.5)
    for t in range(12):
        assert math.isclose(opt.param_groups[0]["lr"], ours(t), rel_tol=1e-12), t
        opt.step()
        sched.step()


def test_warmup_matches_torch_linear_lr_then_inner_schedule():
    torch = pytest.importorskip(
        "torch", reason="torch is not installed (optional): cross-check skipped")
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.2)
    lin = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=4)
    exp = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [lin, exp], milestones=[4])
    ours = LinearWarmup(ExponentialDecay(0.2, 0.9), warmup_steps=4, start_factor=0.25)
    for t in range(12):
        assert math.isclose(opt.param_groups[0]["lr"], ours(t), rel_tol=1e-12), t
        opt.step()
        sched.step()


inner_schedules = st.one_of(
    st.builds(Constant, lrs),
    st.builds(StepDecay, lrs, steps, factors),
    st.builds(ExponentialDecay, lrs, factors),
    st.builds(CosineAnnealing, lrs, steps),
)


@given(inner=inner_schedules, w=st.integers(1, 100), f=factors, t=times)
def test_warmup_formula_and_continuity(inner, w, f, t):
    s = LinearWarmup(inner, w, start_factor=f)
    peak = inner(0)
    if t < w:
        assert close(s(t), peak * (f + (1 - f) * t / w))
    else:
        assert s(t) == inner(t - w)
    assert close(s(0), f * peak)
    assert s(w) == peak
    ramp = [s(i) for i in range(w + 1)]
    increments = np.diff(ramp)
    # a straight line that lands on the wrapped schedule at t = W: no jump
    np.testing.assert_allclose(increments, (1 - f) * peak / w, rtol=1e-9, atol=1e-14 * peak)
    assert np.all(increments >= 0)


def test_warmup_of_a_plain_function_and_repr():
    s = LinearWarmup(lambda t: 0.1, warmup_steps=2, start_factor=0.5)
    np.testing.assert_allclose([s(t) for t in range(4)], [0.05, 0.075, 0.1, 0.1], rtol=1e-15)
    inner = CosineAnnealing(0.1, 10, min_lr=0.001)
    assert repr(LinearWarmup(inner, 5, 0.25)) == (
        "LinearWarmup(schedule=CosineAnnealing(base_lr=0.1, total_steps=10, min_lr=0.001), "
        "warmup_steps=5, start_factor=0.25)")
    assert repr(StepDecay(0.1, 30)) == "StepDecay(base_lr=0.1, step_size=30, gamma=0.1)"
    assert repr(Constant(0.5)) == "Constant(lr=0.5)"
    assert isinstance(inner, Schedule)


def test_schedules_return_python_floats_for_numpy_integers():
    s = ExponentialDecay(0.1, 0.5)
    value = s(np.int64(3))
    assert type(value) is float and value == 0.1 * 0.5**3


@pytest.mark.parametrize("make, error, match", [
    (lambda: Constant(0.0), ValueError, r"lr must be a finite number > 0"),
    (lambda: Constant(float("inf")), ValueError, "lr must be"),
    (lambda: Constant("0.1"), TypeError, "lr must be a real number"),
    (lambda: StepDecay(-0.1, 10), ValueError, "base_lr must be"),
    (lambda: StepDecay(0.1, 0), ValueError, "step_size must be a positive integer"),
    (lambda: StepDecay(0.1, 2.5), TypeError, "step_size must be an integer"),
    (lambda: StepDecay(0.1, 10, gamma=0.0), ValueError, r"gamma must be a finite number in \(0.0, 1.0\]"),
    (lambda: StepDecay(0.1, 10, gamma=1.5), ValueError, "gamma must be"),
    (lambda: ExponentialDecay(0.1, float("nan")), ValueError, "gamma must be"),
    (lambda: LinearDecay(0.1, 0.2, 10), ValueError, r"end_lr must be a finite number in \[0.0, 0.1\]"),
    (lambda: LinearDecay(0.1, -0.01, 10), ValueError, "end_lr must be"),
    (lambda: LinearDecay(0.1, 0.0, 0), ValueError, "total_steps must be a positive integer"),
    (lambda: CosineAnnealing(0.1, 10, min_lr=0.5), ValueError, "min_lr must be"),
    (lambda: CosineAnnealing(0.1, -1), ValueError, "total_steps must be"),
    (lambda: LinearWarmup(0.1, 5), TypeError, "schedule must be a callable"),
    (lambda: LinearWarmup(Constant(0.1), 0), ValueError, "warmup_steps must be a positive integer"),
    (lambda: LinearWarmup(Constant(0.1), 5, start_factor=0.0), ValueError, "start_factor must be"),
    (lambda: LinearWarmup(Constant(0.1), 5, start_factor=1.5), ValueError, "start_factor must be"),
])
def test_invalid_arguments_raise_naming_them(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_invalid_step_index_and_inner_value_raise():
    s = Constant(0.1)
    with pytest.raises(ValueError, match="t must be a non-negative integer"):
        s(-1)
    with pytest.raises(TypeError, match="t must be an integer"):
        s(1.0)
    bad = LinearWarmup(lambda t: float("nan"), 3)
    with pytest.raises(ValueError, match=r"schedule\(0\) \(the wrapped schedule's learning rate\)"):
        bad(0)
