"""Tests of companion.teaching.descent: gradient descent on surfaces with known
minima (convergence below the 2/L threshold, divergence above it), and
batch / minibatch / stochastic gradient descent on linear least squares."""
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from companion.teaching import (
    SGDHistory,
    Trajectory,
    gradient_descent,
    least_squares_loss_and_grad,
    minibatch_indices,
    sgd_linear_regression,
)
from companion.teaching import numerical_gradient, relative_error
from companion.teaching import QuadraticBowl, Rosenbrock

bowls = st.builds(QuadraticBowl,
                  eigenvalues=st.tuples(st.floats(0.2, 5.0), st.floats(0.2, 5.0)),
                  angle=st.floats(-np.pi, np.pi),
                  center=st.tuples(st.floats(-2.0, 2.0), st.floats(-2.0, 2.0)))
seeds = st.integers(0, 2**32 - 1)


def regression_data(seed, n, d, noise=0.1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w_true = rng.standard_normal(d)
    y = X @ w_true + noise * rng.standard_normal(n)
    return X, y


# --- gradient descent on a quadratic bowl ------------------------------------

@given(bowl=bowls, fraction=st.floats(0.2, 0.95), seed=seeds)
@example(bowl=QuadraticBowl((1.0, 1.0)), fraction=0.5, seed=0)  # lr = 1/L: one exact step
def test_gd_on_bowl_follows_closed_form_and_converges_below_2_over_L(bowl, fraction, seed):
    """On f = 1/2 (x-c)^T A (x-c), x_k - c = (I - lr A)^k (x_0 - c): the error
    shrinks by max_i |1 - lr lambda_i| < 1 per step exactly when lr < 2/L."""
    lr = fraction * 2.0 / bowl.lipschitz
    rate = max(abs(1 - lr * lam) for lam in bowl.eigenvalues)
    assert rate < 1
    x0 = np.random.default_rng(seed).uniform(-3, 3, size=2)
    # steps for the error bound rate^k to reach 1e-10 (rate = 0: one step is exact)
    steps = max(1, int(np.ceil(np.log(1e-10) / np.log(max(rate, 1e-12)))))
    traj = gradient_descent(bowl.value_and_grad, x0, lr, steps)
    assert not traj.diverged and traj.diverged_at is None
    assert traj.points.shape == (steps + 1, 2)
    M = np.eye(2) - lr * bowl.matrix
    for k in sorted({1, min(2, steps), max(1, steps // 2)}):
        expected = bowl.minimizer + np.linalg.matrix_power(M, k) @ (x0 - bowl.minimizer)
        np.testing.assert_allclose(traj.points[k], expected, rtol=1e-9, atol=1e-12)
    err0 = np.linalg.norm(x0 - bowl.minimizer)
    assert np.linalg.norm(traj.points[-1] - bowl.minimizer) <= 1.01e-10 * err0 + 1e-13
    assert traj.values[-1] <= traj.values[0]


@given(bowl=bowls, fraction=st.floats(1.05, 1.5), seed=seeds)
def test_gd_on_bowl_diverges_above_2_over_L(bowl, fraction, seed):
    lr = fraction * 2.0 / bowl.lipschitz
    growth = 2.0 * fraction - 1.0  # |1 - lr L| > 1 along the steepest axis
    rng = np.random.default_rng(seed)
    # start off the minimum along the steepest eigenvector (plus a random part)
    lam, vecs = np.linalg.eigh(bowl.matrix)
    x0 = bowl.minimizer + vecs[:, 1] + 0.5 * rng.uniform(-1, 1, size=2)
    steps = int(np.ceil(np.log(1e8) / np.log(growth))) + 10
    traj = gradient_descent(bowl.value_and_grad, x0, lr, steps, max_norm=1e6)
    assert traj.diverged
    assert traj.diverged_at == len(traj.points) <= steps
    assert np.all(np.isfinite(traj.points)) and np.all(np.isfinite(traj.values))
    assert np.all(np.linalg.norm(traj.points, axis=1) <= 1e6)
    assert traj.values[-1] > traj.values[0]


@pytest.mark.parametrize("bowl", [QuadraticBowl((1.0, 10.0)),
                                  QuadraticBowl((3.0, 0.5), angle=0.7, center=(1.0, -2.0))])
def test_the_threshold_is_2_over_L_on_both_sides(bowl):
    L = bowl.lipschitz
    x0 = bowl.minimizer + np.array([1.0, 1.0])
    below = gradient_descent(bowl.value_and_grad, x0, 0.99 * 2 / L, 3000)
    above = gradient_descent(bowl.value_and_grad, x0, 1.01 * 2 / L, 3000)
    assert not below.diverged
    assert np.linalg.norm(below.points[-1] - bowl.minimizer) < 1e-8
    assert not above.diverged  # it grows like 1.02^k: not yet overflowing...
    assert np.linalg.norm(above.points[-1] - bowl.minimizer) > 1e20  # ...but far away
    # left alone, it overflows and is stopped: no NaN or inf is returned
    runaway = gradient_descent(bowl.value_and_grad, x0, 3.0 / L, 5000)
    assert runaway.diverged and runaway.diverged_at < 5000
    assert np.all(np.isfinite(runaway.points)) and np.all(np.isfinite(runaway.values))


def test_update_rule_first_steps_by_hand():
    f = Rosenbrock()
    x0 = np.array([-1.2, 1.0])
    lr = 1e-3
    traj = gradient_descent(f.value_and_grad, x0, lr, 3)
    x = x0.copy()
    for k in range(4):
        np.testing.assert_array_equal(traj.points[k], x)
        assert traj.values[k] == f.value(x)
        assert traj.grad_norms[k] == np.linalg.norm(f.gradient(x))
        x = x - lr * f.gradient(x)
    assert isinstance(traj, Trajectory)


def test_small_steps_decrease_the_value_on_rosenbrock():
    f = Rosenbrock()
    traj = gradient_descent(f.value_and_grad, [-1.2, 1.0], 1e-3, 20000)
    assert np.all(np.diff(traj.values) <= 0)
    assert np.linalg.norm(traj.points[-1] - f.minimizer) < 1e-2


def test_zero_steps_and_inputs_untouched():
    f = QuadraticBowl()
    x0 = np.array([1.0, 2.0])
    seen = []

    def value_and_grad(w):
        seen.append(w)
        v, g = f.value_and_grad(w)
        w[:] = 99.0  # a callable that scribbles on its argument cannot hurt
        return v, g

    traj = gradient_descent(value_and_grad, x0, 0.1, 0)
    np.testing.assert_array_equal(traj.points, [[1.0, 2.0]])
    assert traj.values.shape == traj.grad_norms.shape == (1,)
    traj = gradient_descent(value_and_grad, x0, 0.1, 2)
    np.testing.assert_array_equal(x0, [1.0, 2.0])
    np.testing.assert_allclose(traj.points[1], x0 - 0.1 * f.gradient(x0))
    assert len(seen) == 4


def test_gd_accepts_any_dimension():
    rng = np.random.default_rng(3)
    B = rng.standard_normal((5, 5))
    A = B @ B.T + np.eye(5)
    L = np.linalg.eigvalsh(A).max()
    traj = gradient_descent(lambda w: (0.5 * w @ A @ w, A @ w), np.ones(5), 1.0 / L, 2000)
    assert traj.points.shape == (2001, 5)
    assert np.linalg.norm(traj.points[-1]) < 1e-8


def test_gd_rejects_bad_input():
    f = QuadraticBowl()
    vg = f.value_and_grad
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        gradient_descent(vg, [1.0, 1.0], 0.0, 5)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        gradient_descent(vg, [1.0, 1.0], -0.1, 5)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        gradient_descent(vg, [1.0, 1.0], np.nan, 5)
    with pytest.raises(TypeError, match="lr must be a real number"):
        gradient_descent(vg, [1.0, 1.0], "0.1", 5)
    with pytest.raises(TypeError, match="lr must be a real number"):
        gradient_descent(vg, [1.0, 1.0], True, 5)
    with pytest.raises(ValueError, match="num_steps must be a non-negative integer"):
        gradient_descent(vg, [1.0, 1.0], 0.1, -1)
    with pytest.raises(TypeError, match="num_steps must be an integer"):
        gradient_descent(vg, [1.0, 1.0], 0.1, 2.0)
    with pytest.raises(ValueError, match="x0 must have 1 dimensions"):
        gradient_descent(vg, [[1.0, 1.0]], 0.1, 5)
    with pytest.raises(ValueError, match="x0 must be finite"):
        gradient_descent(vg, [np.nan, 1.0], 0.1, 5)
    with pytest.raises(ValueError, match="x0 must have at least one element"):
        gradient_descent(lambda w: (0.0, w), [], 0.1, 5)
    with pytest.raises(TypeError, match="value_and_grad must be callable"):
        gradient_descent(None, [1.0, 1.0], 0.1, 5)
    with pytest.raises(TypeError, match="value_and_grad must return a pair"):
        gradient_descent(f.gradient, [1.0, 1.0], 0.1, 5)
    with pytest.raises(ValueError, match=r"value_and_grad must return a gradient of shape \(3,\)"):
        gradient_descent(lambda w: (0.0, np.zeros(2)), [1.0, 1.0, 1.0], 0.1, 5)
    with pytest.raises(ValueError, match="value_and_grad must return a real scalar value"):
        gradient_descent(lambda w: (w, w), [1.0, 1.0], 0.1, 5)
    with pytest.raises(ValueError, match="non-finite value or gradient at x0"):
        gradient_descent(lambda w: (np.inf, w), [1.0, 1.0], 0.1, 5)
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        gradient_descent(vg, [1.0, 1.0], 0.1, 5, max_norm=0.0)
    with pytest.raises(ValueError, match="x0 must lie within max_norm"):
        gradient_descent(vg, [10.0, 0.0], 0.1, 5, max_norm=1.0)


def test_gd_stops_when_the_function_turns_non_finite():
    # finite iterates, but the callable reports NaN from the third point on
    calls = []

    def value_and_grad(w):
        calls.append(1)
        v = np.nan if len(calls) >= 3 else float(w @ w)
        return v, 2 * w

    traj = gradient_descent(value_and_grad, [1.0], 0.1, 10)
    assert traj.diverged and traj.diverged_at == 2
    assert traj.points.shape == (2, 1) and np.all(np.isfinite(traj.values))


# --- linear least squares ----------------------------------------------------

@given(seed=seeds, n=st.integers(1, 20), d=st.integers(1, 5))
def test_least_squares_gradient_matches_central_differences(seed, n, d):
    X, y = regression_data(seed, n, d)
    w = np.random.default_rng(seed + 1).standard_normal(d)
    X0, y0, w0 = X.copy(), y.copy(), w.copy()
    loss, grad = least_squares_loss_and_grad(w, X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(w, w0)
    assert loss == pytest.approx(0.5 * np.mean((X @ w - y) ** 2), rel=1e-12)
    np.testing.assert_allclose(grad, X.T @ (X @ w - y) / n, rtol=1e-10, atol=1e-14)
    # L is quadratic in w, so central differences are exact for every step h
    # up to rounding (about eps*|L|/h): h = 1e-3 keeps the rounding ~1e-13.
    numeric = numerical_gradient(lambda v: least_squares_loss_and_grad(v, X, y)[0],
                                 w.copy(), h=1e-3)
    assert relative_error(grad, numeric) < 1e-7


@given(n=st.integers(1, 40), data=st.data(), seed=seeds, shuffle=st.booleans())
def test_minibatch_indices_partition_the_examples(n, data, seed, shuffle):
    batch_size = data.draw(st.integers(1, n))
    batches = list(minibatch_indices(n, batch_size, rng=np.random.default_rng(seed), shuffle=shuffle))
    assert len(batches) == -(-n // batch_size)
    assert all(len(b) == batch_size for b in batches[:-1])
    assert 1 <= len(batches[-1]) <= batch_size
    everything = np.concatenate(batches)
    np.testing.assert_array_equal(np.sort(everything), np.arange(n))
    if not shuffle:
        np.testing.assert_array_equal(everything, np.arange(n))
    again = list(minibatch_indices(n, batch_size, rng=np.random.default_rng(seed), shuffle=shuffle))
    for a, b in zip(batches, again):
        np.testing.assert_array_equal(a, b)


@given(seed=seeds, n=st.integers(1, 25), d=st.integers(1, 4), data=st.data(),
       epochs=st.integers(0, 4), shuffle=st.booleans())
def test_sgd_kernel_matches_a_plain_loop(seed, n, d, data, epochs, shuffle):
    """The jitted kernel takes exactly the steps of the textbook loop."""
    batch_size = data.draw(st.integers(1, n))
    X, y = regression_data(seed, n, d)
    w0 = np.random.default_rng(seed + 2).standard_normal(d)
    lr = 0.05
    hist = sgd_linear_regression(X, y, lr, epochs, batch_size, rng=np.random.default_rng(seed),
                                 w0=w0, shuffle=shuffle)
    assert isinstance(hist, SGDHistory)
    rng = np.random.default_rng(seed)
    w = w0.copy()
    expected_w, expected_loss, expected_batch, seen = [w.copy()], [], [], [0]
    expected_loss.append(least_squares_loss_and_grad(w, X, y)[0])
    for _ in range(epochs):
        for idx in minibatch_indices(n, batch_size, rng=rng, shuffle=shuffle):
            batch_loss, grad = least_squares_loss_and_grad(w, X[idx], y[idx])
            w = w - lr * grad
            expected_w.append(w.copy())
            expected_loss.append(least_squares_loss_and_grad(w, X, y)[0])
            expected_batch.append(batch_loss)
            seen.append(seen[-1] + len(idx))
    steps = epochs * -(-n // batch_size)
    assert hist.steps_per_epoch == -(-n // batch_size)
    assert hist.weights.shape == (steps + 1, d)
    np.testing.assert_allclose(hist.weights, expected_w, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hist.losses, expected_loss, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hist.batch_losses, expected_batch, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(hist.examples_seen, seen)
    assert not hist.diverged and hist.diverged_at is None


@given(seed=seeds, n=st.integers(2, 30), d=st.integers(1, 4), epochs=st.integers(0, 30))
def test_full_batch_sgd_is_plain_gradient_descent(seed, n, d, epochs):
    X, y = regression_data(seed, n, d)
    lr = 1.0 / np.linalg.eigvalsh(X.T @ X / n).max()
    hist = sgd_linear_regression(X, y, lr, epochs, n, rng=np.random.default_rng(seed))
    traj = gradient_descent(lambda w: least_squares_loss_and_grad(w, X, y), np.zeros(d),
                            lr, epochs)
    assert hist.steps_per_epoch == 1
    # only the order of the sums differs (the batch is shuffled)
    np.testing.assert_allclose(hist.weights, traj.points, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hist.losses, traj.values, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("batch_size, epochs", [(1, 20), (7, 60), (100, 1000)])
def test_sgd_without_noise_reaches_the_least_squares_solution(batch_size, epochs):
    """Consistent data (y = X w*): every example's gradient vanishes at w*,
    so even constant-step SGD converges to it."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.standard_normal((100, 2)), np.ones(100)])
    y = X @ np.array([2.0, -1.0, 0.5])
    w_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    hist = sgd_linear_regression(X, y, 0.05, epochs, batch_size, rng=np.random.default_rng(1))
    np.testing.assert_allclose(hist.weights[-1], w_ls, atol=1e-8)


@pytest.mark.parametrize("batch_size, epochs", [(1, 20), (10, 100)])
def test_sgd_with_noise_gets_close_to_the_least_squares_solution(batch_size, epochs):
    X, y = regression_data(5, 200, 3, noise=0.5)
    w_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    loss_ls = least_squares_loss_and_grad(w_ls, X, y)[0]
    hist = sgd_linear_regression(X, y, 0.01, epochs, batch_size, rng=np.random.default_rng(2))
    # constant-step SGD hovers in a small ball around w_ls
    assert np.linalg.norm(hist.weights[-1] - w_ls) < 0.05
    assert hist.losses[-1] < 1.01 * loss_ls
    assert hist.losses[-1] >= loss_ls  # nothing beats the least-squares solution
    assert hist.losses[0] > 2 * loss_ls
    # averaging the last epoch's iterates gets closer still
    tail = hist.weights[-hist.steps_per_epoch:].mean(axis=0)
    assert np.linalg.norm(tail - w_ls) < np.linalg.norm(hist.weights[0] - w_ls) / 50


def test_seeded_runs_are_reproducible():
    X, y = regression_data(7, 50, 3)
    a = sgd_linear_regression(X, y, 0.05, 5, 4, rng=np.random.default_rng(11))
    b = sgd_linear_regression(X, y, 0.05, 5, 4, rng=np.random.default_rng(11))
    c = sgd_linear_regression(X, y, 0.05, 5, 4, rng=np.random.default_rng(12))
    for field in ("weights", "losses", "batch_losses", "examples_seen"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.weights, c.weights)
    assert a.examples_seen[-1] == 5 * 50 and a.steps_per_epoch == 13


def test_sgd_threshold_and_divergence_report():
    X, y = regression_data(8, 40, 3)
    L = np.linalg.eigvalsh(X.T @ X / 40).max()
    below = sgd_linear_regression(X, y, 0.99 * 2 / L, 3000, 40, rng=np.random.default_rng(0))
    assert not below.diverged
    grad = least_squares_loss_and_grad(below.weights[-1], X, y)[1]
    assert np.linalg.norm(grad) < 1e-8
    above = sgd_linear_regression(X, y, 3.0 / L, 3000, 40, rng=np.random.default_rng(0))
    assert above.diverged and 1 < above.diverged_at < 3000
    assert above.weights.shape == (above.diverged_at, 3)
    assert above.losses.shape == (above.diverged_at,)
    assert above.batch_losses.shape == (above.diverged_at - 1,)
    for field in (above.weights, above.losses, above.batch_losses):
        assert np.all(np.isfinite(field))


def test_sgd_does_not_modify_its_inputs():
    X, y = regression_data(9, 20, 2)
    w0 = np.array([0.5, -0.5])
    copies = X.copy(), y.copy(), w0.copy()
    sgd_linear_regression(X, y, 0.1, 3, 5, rng=np.random.default_rng(0), w0=w0)
    for a, b in zip((X, y, w0), copies):
        np.testing.assert_array_equal(a, b)


def test_sgd_and_minibatches_reject_bad_input():
    X, y = regression_data(10, 10, 2)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"batch_size must lie in \[1, N\] = \[1, 10\]"):
        sgd_linear_regression(X, y, 0.1, 1, 11, rng=rng)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        sgd_linear_regression(X, y, 0.1, 1, 0, rng=rng)
    with pytest.raises(ValueError, match="epochs must be a non-negative integer"):
        sgd_linear_regression(X, y, 0.1, -1, 2, rng=rng)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        sgd_linear_regression(X, y, -0.1, 1, 2, rng=rng)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator, an integer seed"):
        sgd_linear_regression(X, y, 0.1, 1, 2, rng=np.random.RandomState(42))
    with pytest.raises(TypeError, match="positional"):
        sgd_linear_regression(X, y, 0.1, 1, 2, rng)         # rng is keyword-only
    seeded = sgd_linear_regression(X, y, 0.1, 1, 2, rng=42)  # a seed is a generator
    np.testing.assert_array_equal(
        seeded.weights, sgd_linear_regression(X, y, 0.1, 1, 2, rng=np.random.default_rng(42)).weights)
    sgd_linear_regression(X, y, 0.1, 1, 2, rng=None, shuffle=False)  # no rng needed
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        sgd_linear_regression(X[:, 0], y, 0.1, 1, 2, rng=rng)
    with pytest.raises(ValueError, match=r"X must have shape \(N, D\) with N >= 1"):
        sgd_linear_regression(np.zeros((0, 2)), np.zeros(0), 0.1, 1, 1, rng=rng)
    with pytest.raises(ValueError, match=r"y must have shape \(10,\) to match X"):
        sgd_linear_regression(X, y[:-1], 0.1, 1, 2, rng=rng)
    with pytest.raises(ValueError, match=r"w0 must have shape \(2,\)"):
        sgd_linear_regression(X, y, 0.1, 1, 2, rng=rng, w0=np.zeros(3))
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X must be finite"):
        sgd_linear_regression(bad, y, 0.1, 1, 2, rng=rng)
    with pytest.raises(ValueError, match="y must be finite"):
        least_squares_loss_and_grad(np.zeros(2), X, np.full(10, np.inf))
    with pytest.raises(ValueError, match=r"w must have shape \(2,\)"):
        least_squares_loss_and_grad(np.zeros(1), X, y)
    with pytest.raises(ValueError, match=r"batch_size must lie in \[1, n\] = \[1, 5\]"):
        minibatch_indices(5, 6, rng=rng)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        minibatch_indices(0, 1, rng=rng)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        minibatch_indices(5, 2, rng=np.random.RandomState(0))
