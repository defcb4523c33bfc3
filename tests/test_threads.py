"""companion._threads.threads_for: small work runs on the calling thread, large work on
Numba's whole pool, and the layers give the same bits either way."""
import numba
import numpy as np
import pytest

from companion import _threads
from companion._threads import PARALLEL_MIN_WORK, threads_for
from companion.functional import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    conv2d_backward,
    conv2d_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)


def test_small_work_on_the_calling_thread_then_restored():
    before = numba.get_num_threads()
    with threads_for(PARALLEL_MIN_WORK - 1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with threads_for(PARALLEL_MIN_WORK):
        assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError, match="inside"):
        with threads_for(0):
            raise RuntimeError("inside")
    assert numba.get_num_threads() == before


def _layers(x, w, b, dout_conv, dout_pool):
    out, cache = conv2d_forward(x, w, b, 1, 1)
    results = [out, *conv2d_backward(dout_conv, cache)]
    for forward, backward in ((max_pool2d_forward, max_pool2d_backward),
                              (avg_pool2d_forward, avg_pool2d_backward)):
        out, cache = forward(x, 2)
        results += [out, backward(dout_pool, cache)]
    for forward, backward in ((relu_forward, relu_backward),
                              (leaky_relu_forward, leaky_relu_backward),
                              (sigmoid_forward, sigmoid_backward),
                              (tanh_forward, tanh_backward)):
        out, cache = forward(x - 0.5)
        results += [out, backward(x, cache)]
    return results


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_on_one_thread_and_on_the_pool(monkeypatch, batch, dtype):
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, 3, 12, 12)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    dout_conv = rng.standard_normal((batch, 4, 12, 12)).astype(dtype)
    dout_pool = rng.standard_normal((batch, 3, 6, 6)).astype(dtype)
    small = _layers(x, w, b, dout_conv, dout_pool)            # below the threshold
    monkeypatch.setattr(_threads, "PARALLEL_MIN_WORK", 0)     # everything on the pool
    pooled = _layers(x, w, b, dout_conv, dout_pool)
    for a, c in zip(small, pooled):
        assert a.dtype == c.dtype and np.array_equal(a, c)
