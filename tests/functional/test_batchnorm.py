"""Tests of companion.functional.batchnorm, dense ``(N, D)`` and spatial ``(N, C, H, W)``.

Forward passes are compared with a NumPy reference written here, backward
passes with finite differences (central differences from companion.teaching.gradcheck
plus one Richardson extrapolation step, see tests/functional/test_dense.py for why) and
with the staged chain rule through mean and variance (CS231n's computational
graph). Finite differences through batch statistics are kept well-conditioned:
every channel has at least 3 values (with 2 values :math:`\\hat x = \\pm 1`
whatever ``x``, so the true ``dx`` is nearly 0 and only rounding is measured),
every channel of ``x`` has batch standard deviation in [0.5, 2] (so the
difference step 1e-3 stays small against it), ``gamma`` lies in [0.5, 2].
"""
import warnings

import numba
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from companion._threads import PARALLEL_MIN_WORK
from companion.functional import batchnorm_spatial as bns
from companion.functional import (
    BatchNormCache,
    RunningStats,
    batchnorm_backward,
    batchnorm_forward,
)
from companion.teaching import numerical_gradient_array, relative_error

seeds = st.integers(0, 2**32 - 1)




def axes_of(x):
    return (0,) if x.ndim == 2 else (0, 2, 3)


def per_channel(v, x):
    """Broadcast a (C,) vector against x."""
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def reference_forward(x, gamma, beta, running_mean, running_var, momentum, eps, train):
    axes = axes_of(x)
    if train:
        mean = x.mean(axis=axes)
        var = ((x - per_channel(mean, x)) ** 2).mean(axis=axes)
        new_rm = momentum * running_mean + (1 - momentum) * mean
        new_rv = momentum * running_var + (1 - momentum) * var
    else:
        mean, var = running_mean, running_var
        new_rm, new_rv = running_mean, running_var
    xhat = (x - per_channel(mean, x)) / np.sqrt(per_channel(var, x) + eps)
    return per_channel(gamma, x) * xhat + per_channel(beta, x), new_rm, new_rv


def reference_backward_train(dout, x, gamma, eps):
    """Staged chain rule through mean and variance (not the compact formula)."""
    axes = axes_of(x)
    m = x.size // x.shape[1]
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    var = (xc ** 2).mean(axis=axes, keepdims=True)
    std = np.sqrt(var + eps)
    xhat = xc / std
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    dxhat = dout * per_channel(gamma, x)
    dxc = dxhat / std
    dstd = -(dxhat * xc).sum(axis=axes, keepdims=True) / std ** 2
    dvar = dstd / (2 * std)
    dxc = dxc + 2 * xc * dvar / m
    dmu = -dxc.sum(axis=axes, keepdims=True)
    return dxc + dmu / m, dgamma, dbeta


def make(rng, shape, dtype=np.float64):
    """x, gamma, beta, running_mean, running_var; every channel of x has batch
    standard deviation in [0.5, 2] (when it holds 2 values or more)."""
    C = shape[1]
    z = rng.standard_normal(shape)
    axes = axes_of(z)
    z = z - z.mean(axis=axes, keepdims=True)
    z = z / np.maximum(z.std(axis=axes, keepdims=True), 1e-300)
    x = (z * per_channel(rng.uniform(0.5, 2.0, C), z)
         + per_channel(rng.uniform(-2.0, 2.0, C), z)).astype(dtype)
    gamma = rng.uniform(0.5, 2.0, C).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    rm = rng.standard_normal(C).astype(dtype)
    rv = rng.uniform(0.5, 2.0, C).astype(dtype)
    return x, gamma, beta, rm, rv


@st.composite
def bn_shapes(draw):
    """(N, D) with N >= 3, or (N, C, H, W) with N*H*W >= 3."""
    if draw(st.booleans()):
        return (draw(st.integers(3, 7)), draw(st.integers(1, 4)))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)),
             draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    assume(shape[0] * shape[2] * shape[3] >= 3)
    return shape


# ---------------------------------------------------------------- forward

@pytest.mark.parametrize("train", [True, False])
@given(shape=bn_shapes(), seed=seeds, momentum=st.floats(0.0, 0.99))
def test_forward_matches_reference(train, shape, seed, momentum):
    x, gamma, beta, rm, rv = make(np.random.default_rng(seed), shape)
    out, cache, running = batchnorm_forward(x, gamma, beta, rm, rv, momentum=momentum,
                                            eps=1e-5, train=train)
    ref, ref_rm, ref_rv = reference_forward(x, gamma, beta, rm, rv, momentum, 1e-5, train)
    assert isinstance(cache, BatchNormCache) and cache.train is train
    assert isinstance(running, RunningStats)
    assert out.shape == x.shape and out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(running.mean, ref_rm, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(running.var, ref_rv, rtol=1e-13, atol=1e-14)


@given(shape=bn_shapes(), seed=seeds)
def test_train_output_is_standardized_per_channel(shape, seed):
    rng = np.random.default_rng(seed)
    x = 5 * rng.standard_normal(shape) + 3
    C = shape[1]
    out, cache, _ = batchnorm_forward(x, np.ones(C), np.zeros(C), np.zeros(C), np.ones(C),
                                      eps=1e-12)
    axes = axes_of(x)
    np.testing.assert_allclose(out.mean(axis=axes), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=axes), 1.0, rtol=1e-9)
    np.testing.assert_allclose(cache.mean, x.mean(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(cache.var, x.var(axis=axes), rtol=1e-12)


def test_running_statistics_are_returned_not_written():
    x, gamma, beta, rm, rv = make(np.random.default_rng(1), (8, 3, 4, 4))
    rm0, rv0 = rm.copy(), rv.copy()
    _, cache, (new_rm, new_rv) = batchnorm_forward(x, gamma, beta, rm, rv, momentum=0.9)
    np.testing.assert_array_equal(rm, rm0)                 # caller's arrays untouched
    np.testing.assert_array_equal(rv, rv0)
    assert not np.shares_memory(new_rm, rm) and not np.shares_memory(new_rv, rv)
    np.testing.assert_allclose(new_rm, 0.9 * rm + 0.1 * x.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(new_rv, 0.9 * rv + 0.1 * x.var(axis=(0, 2, 3)))
    # the cache holds only what the backward pass needs
    assert not hasattr(cache, "running_mean") and not hasattr(cache, "running_var")
    # momentum 0: the running statistics become the batch statistics
    _, _, running0 = batchnorm_forward(x, gamma, beta, rm, rv, momentum=0.0)
    np.testing.assert_allclose(running0.mean, x.mean(axis=(0, 2, 3)), rtol=1e-12)
    # evaluation mode hands the running statistics back unchanged
    _, _, running_eval = batchnorm_forward(x, gamma, beta, rm, rv, train=False)
    np.testing.assert_array_equal(running_eval.mean, rm0)
    np.testing.assert_array_equal(running_eval.var, rv0)


def test_forward_returns_three_values_and_takes_options_by_keyword():
    x, gamma, beta, rm, rv = make(np.random.default_rng(13), (6, 3))
    result = batchnorm_forward(x, gamma, beta, rm, rv)
    assert len(result) == 3
    out, cache, running = result
    assert isinstance(running, RunningStats) and running._fields == ("mean", "var")
    # momentum, eps and train are keyword-only: the old positional call fails loudly
    with pytest.raises(TypeError):
        batchnorm_forward(x, gamma, beta, rm, rv, 0.9, 1e-5, True)


def test_running_statistics_converge_to_the_data_statistics():
    rng = np.random.default_rng(2)
    C = 3
    rm, rv = np.zeros(C), np.ones(C)
    gamma, beta = np.ones(C), np.zeros(C)
    for _ in range(200):
        x = rng.normal(loc=[4.0, -1.0, 0.0], scale=[2.0, 0.5, 1.0], size=(256, C))
        _, _, (rm, rv) = batchnorm_forward(x, gamma, beta, rm, rv, momentum=0.9)
    np.testing.assert_allclose(rm, [4.0, -1.0, 0.0], atol=0.1)
    np.testing.assert_allclose(rv, [4.0, 0.25, 1.0], rtol=0.1)


@pytest.mark.parametrize("shape", [(16, 5), (4, 3, 6, 6)])
def test_float32_stays_float32_and_is_accurate(shape):
    x, gamma, beta, rm, rv = make(np.random.default_rng(3), shape, np.float32)
    for train in (True, False):
        out, cache, running = batchnorm_forward(x, gamma, beta, rm, rv, train=train)
        assert out.dtype == running.mean.dtype == running.var.dtype == np.float32
        as64 = (a.astype(np.float64) for a in (x, gamma, beta, rm, rv))
        ref, ref_rm, _ = reference_forward(*as64, 0.9, 1e-5, train)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(running.mean, ref_rm, rtol=1e-5, atol=1e-6)
        dout = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
        dx, dgamma, dbeta = batchnorm_backward(dout, cache)
        assert dx.dtype == dgamma.dtype == dbeta.dtype == np.float32
        if train:
            ref_dx, ref_dg, ref_db = reference_backward_train(
                dout.astype(np.float64), x.astype(np.float64), gamma.astype(np.float64), 1e-5)
            np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(dgamma, ref_dg, rtol=1e-4, atol=1e-4)


def test_integer_input_is_converted_to_float64():
    x = np.arange(12).reshape(4, 3)
    out, cache, _ = batchnorm_forward(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match=r"gamma must have the dtype of x \(float64\)"):
        batchnorm_forward(x, np.ones(3, np.float32), np.zeros(3), np.zeros(3), np.ones(3))


def test_batch_of_one_gives_beta_and_zero_dx():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 4))
    gamma, beta = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, cache, _ = batchnorm_forward(x, gamma, beta, np.zeros(4), np.ones(4))
        dx, dgamma, dbeta = batchnorm_backward(rng.standard_normal((1, 4)), cache)
    np.testing.assert_array_equal(out, beta[None, :])
    np.testing.assert_array_equal(cache.var, 0.0)
    np.testing.assert_array_equal(dx, 0.0)
    np.testing.assert_array_equal(dgamma, 0.0)


# ---------------------------------------------------------------- backward

@given(shape=bn_shapes(), seed=seeds)
def test_train_backward_matches_finite_differences(shape, seed):
    rng = np.random.default_rng(seed)
    x, gamma, beta, rm, rv = make(rng, shape)
    dout = rng.standard_normal(shape)
    _, cache, _ = batchnorm_forward(x, gamma, beta, rm, rv)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)

    def fwd(x_, gamma_, beta_):
        return batchnorm_forward(x_, gamma_, beta_, rm, rv)[0]

    assert relative_error(dx, numerical_gradient_array(lambda z: fwd(z, gamma, beta), x, dout, richardson=True)) < 1e-7
    assert relative_error(dgamma, numerical_gradient_array(lambda z: fwd(x, z, beta), gamma, dout, richardson=True)) < 1e-7
    assert relative_error(dbeta, numerical_gradient_array(lambda z: fwd(x, gamma, z), beta, dout, richardson=True)) < 1e-7


@given(shape=bn_shapes(), seed=seeds)
def test_train_backward_matches_staged_chain_rule(shape, seed):
    rng = np.random.default_rng(seed)
    x, gamma, beta, rm, rv = make(rng, shape)
    dout = rng.standard_normal(shape)
    _, cache, _ = batchnorm_forward(x, gamma, beta, rm, rv, eps=1e-3)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    ref_dx, ref_dgamma, ref_dbeta = reference_backward_train(dout, x, gamma, 1e-3)
    scale = np.abs(ref_dx).max()
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-10, atol=1e-12 * scale)
    np.testing.assert_allclose(dgamma, ref_dgamma, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dbeta, ref_dbeta, rtol=1e-12, atol=1e-12)
    # the batch statistics constrain dx in every channel: sum dx = 0 (shifting a
    # channel does not change the output), and
    # sum dx * xhat = gamma * inv_std * dgamma * eps / (var + eps)
    # (0 for eps = 0: scaling a channel does not change the output either)
    axes = axes_of(x)
    tol = 1e-10 * max(scale, 1)
    np.testing.assert_allclose(dx.sum(axis=axes), 0.0, atol=tol)
    expected = gamma * cache.inv_std * dgamma * 1e-3 / (cache.var + 1e-3)
    np.testing.assert_allclose((dx * cache.xhat).sum(axis=axes), expected, rtol=1e-8, atol=tol)


@given(shape=bn_shapes(), seed=seeds)
def test_eval_backward_matches_finite_differences(shape, seed):
    rng = np.random.default_rng(seed)
    x, gamma, beta, rm, rv = make(rng, shape)
    dout = rng.standard_normal(shape)
    _, cache, _ = batchnorm_forward(x, gamma, beta, rm, rv, train=False)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)

    def fwd(x_, gamma_, beta_):
        return batchnorm_forward(x_, gamma_, beta_, rm, rv, train=False)[0]

    assert relative_error(dx, numerical_gradient_array(lambda z: fwd(z, gamma, beta), x, dout, richardson=True)) < 1e-7
    assert relative_error(dgamma, numerical_gradient_array(lambda z: fwd(x, z, beta), gamma, dout, richardson=True)) < 1e-7
    assert relative_error(dbeta, numerical_gradient_array(lambda z: fwd(x, gamma, z), beta, dout, richardson=True)) < 1e-7
    inv_std = 1 / np.sqrt(rv + 1e-5)
    np.testing.assert_allclose(dx, dout * per_channel(gamma * inv_std, x), rtol=1e-13)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4, 5)])
def test_inputs_are_not_modified(train, shape):
    rng = np.random.default_rng(6)
    arrays = make(rng, shape)
    dout = rng.standard_normal(shape)
    copies = [a.copy() for a in arrays + (dout,)]
    out, cache, _ = batchnorm_forward(*arrays, train=train)
    batchnorm_backward(dout, cache)
    for a, c in zip(arrays + (dout,), copies):
        np.testing.assert_array_equal(a, c)
    assert not np.shares_memory(out, arrays[0])


@pytest.mark.parametrize("shape", [(64, 6, 14, 14), (3, 2, 150, 150)])
def test_results_do_not_depend_on_the_number_of_threads(shape):
    # enough work for the whole pool (see companion._threads.threads_for)
    assert bns.WORK_PER_ELEMENT * np.prod(shape) >= PARALLEL_MIN_WORK
    x, gamma, beta, rm, rv = make(np.random.default_rng(7), shape)
    dout = np.random.default_rng(8).standard_normal(shape)
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba may use only one thread here (NUMBA_NUM_THREADS=1)")
    before = numba.get_num_threads()
    results = {}
    try:
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            results[threads] = []
            for train in (True, False):
                out, cache, running = batchnorm_forward(x, gamma, beta, rm, rv, train=train)
                results[threads].append((out,) + tuple(running)
                                        + batchnorm_backward(dout, cache))
    finally:
        numba.set_num_threads(before)
    one, many = results[1], results[numba.config.NUMBA_NUM_THREADS]
    for first, last in zip(one, many):
        for a, b in zip(first, last):
            assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_agree_bit_for_bit_on_one_thread_and_on_all(dtype):
    # the kernels themselves, below the drivers' size threshold too;
    # L = 17 * 23 = 391: vectorized sums plus a scalar remainder
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba may use only one thread here (NUMBA_NUM_THREADS=1)")
    x, gamma, beta, rm, rv = make(np.random.default_rng(9), (5, 4, 17, 23), dtype)
    x3 = x.reshape(5, 4, 391)
    dout = np.random.default_rng(10).standard_normal(x3.shape).astype(dtype)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            out, xhat, out_e, xhat_e, dx = (np.empty_like(x3) for _ in range(5))
            mean, var, inv_std, dgamma, dbeta = (np.empty(4, dtype) for _ in range(5))
            bns._spatial_train(x3, gamma, beta, 1e-5, out, xhat, mean, var, inv_std)
            bns._spatial_eval(x3, gamma, beta, rm, inv_std, out_e, xhat_e)
            bns._spatial_backward(dout, xhat, gamma, inv_std, True, dx, dgamma, dbeta)
            results.append((out, xhat, mean, var, inv_std, out_e, xhat_e, dx, dgamma,
                            dbeta))
    finally:
        numba.set_num_threads(before)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("train", [True, False])
def test_read_only_and_non_contiguous_inputs(train):
    x, gamma, beta, rm, rv = make(np.random.default_rng(12), (3, 4, 5, 6))
    for a in (x, gamma, beta, rm, rv):
        a.flags.writeable = False
    xt = x.transpose(0, 1, 3, 2)                          # non-contiguous view
    out, cache, _ = batchnorm_forward(xt, gamma, beta, rm, rv, train=train)
    ref, _, _ = reference_forward(np.array(xt), gamma, beta, rm, rv, 0.9, 1e-5, train)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    dx, dgamma, dbeta = batchnorm_backward(np.broadcast_to(1.0, out.shape), cache)
    np.testing.assert_allclose(dbeta, np.full(4, 3 * 5 * 6.0))
    x2 = np.broadcast_to(np.arange(4.0), (6, 4))           # read-only, stride 0 over the batch
    out2, cache2, _ = batchnorm_forward(x2, gamma, beta, rm, rv, train=train)
    batchnorm_backward(np.broadcast_to(1.0, (6, 4)), cache2)


# ---------------------------------------------------------------- validation

def test_shape_errors_name_the_argument():
    x, gamma, beta, rm, rv = make(np.random.default_rng(9), (4, 3, 2, 2))
    with pytest.raises(ValueError, match=r"x must have 2 dimensions \(N, D\) or 4 dimensions"):
        batchnorm_forward(x[:, :, 0], gamma, beta, rm, rv)
    for i, name in enumerate(["gamma", "beta", "running_mean", "running_var"]):
        args = [x, gamma, beta, rm, rv]
        args[i + 1] = np.ones(4)
        with pytest.raises(ValueError, match=rf"{name} must have shape \(C,\) = \(3,\)"):
            batchnorm_forward(*args)
    with pytest.raises(ValueError, match=r"gamma must have shape \(D,\) = \(2,\)"):
        batchnorm_forward(np.ones((5, 2)), np.ones(3), np.zeros(2), np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="x must hold at least one value per channel"):
        batchnorm_forward(np.ones((0, 3)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))


def test_value_errors_name_the_argument():
    x, gamma, beta, rm, rv = make(np.random.default_rng(10), (4, 3))
    for i, name in enumerate(["x", "gamma", "beta", "running_mean", "running_var"]):
        args = [a.copy() for a in (x, gamma, beta, rm, rv)]
        args[i].flat[0] = np.nan
        with pytest.raises(ValueError, match=f"{name} must be finite"):
            batchnorm_forward(*args)
    with pytest.raises(ValueError, match="running_var must be >= 0"):
        batchnorm_forward(x, gamma, beta, rm, -rv)
    for momentum in (1.0, -0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\)"):
            batchnorm_forward(x, gamma, beta, rm, rv, momentum=momentum)
    for eps in (0.0, -1e-5, np.inf, np.nan):
        with pytest.raises(ValueError, match="eps must be a finite number > 0"):
            batchnorm_forward(x, gamma, beta, rm, rv, eps=eps)
    with pytest.raises(TypeError, match="eps must be a real number"):
        batchnorm_forward(x, gamma, beta, rm, rv, eps="1e-5")
    with pytest.raises(TypeError, match="train must be True or False"):
        batchnorm_forward(x, gamma, beta, rm, rv, train="yes")
    with pytest.raises(ValueError, match=r"beta must have the dtype of x \(float64\), got float32"):
        batchnorm_forward(x, gamma, beta.astype(np.float32), rm, rv)


def test_backward_validates_dout_and_cache():
    x, gamma, beta, rm, rv = make(np.random.default_rng(11), (4, 3, 2, 2))
    out, cache, _ = batchnorm_forward(x, gamma, beta, rm, rv)
    with pytest.raises(ValueError,
                       match=r"dout must have the shape of the forward output \(4, 3, 2, 2\)"):
        batchnorm_backward(np.ones((4, 3, 2, 1)), cache)
    with pytest.raises(ValueError, match="dout must have 4 dimensions"):
        batchnorm_backward(np.ones((4, 3)), cache)
    with pytest.raises(ValueError,
                       match=r"dout must have the dtype of the forward pass \(float64\)"):
        batchnorm_backward(out.astype(np.float32), cache)
    bad = out.copy()
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="dout must be finite"):
        batchnorm_backward(bad, cache)
    with pytest.raises(TypeError, match="cache must be the BatchNormCache"):
        batchnorm_backward(out, tuple(cache))


# ---------------------------------------------------------------- Numba

def test_cold_compile_writes_nothing_to_stderr(run_cold):
    """Compiling the parallel kernels from an empty cache prints no warning
    (e.g. no NumbaPerformanceWarning)."""
    code = (
        "import numpy as np\n"
        "from companion.functional.batchnorm import batchnorm_forward, batchnorm_backward\n"
        "for dt in (np.float32, np.float64):\n"
        "    for shape in ((4, 3), (2, 3, 4, 4), (4, 4, 128, 128)):\n"
        "        x = np.linspace(-2, 2, int(np.prod(shape)), dtype=dt).reshape(shape)\n"
        "        C = shape[1]\n"
        "        for train in (True, False):\n"
        "            out, cache, _ = batchnorm_forward(x, np.ones(C, dt), np.zeros(C, dt),\n"
        "                                              np.zeros(C, dt), np.ones(C, dt),\n"
        "                                              train=train)\n"
        "            batchnorm_backward(out, cache)\n"
    )
    run_cold(code)
