"""Tests of companion.functional.losses: MSE, smooth L1, cross-entropy, binary cross-entropy, log loss.

Values are compared with references written here (loops, or the naive
textbook formula in extended precision ``np.longdouble``, whose exponent range
holds ``exp(1e4)``); gradients with central differences plus one Richardson
step, ``(4 D(h) - D(2h)) / 3`` with ``h = 1e-3`` (truncation error O(h^4),
rounding about 1e-13; see tests/functional/test_dense.py). Data for gradient checks are
drawn so that no gradient entry is tiny (an elementwise relative error means
nothing at an entry that is 0 up to rounding): residuals at least 0.05 in
magnitude, smooth-L1 residuals at least 0.02 away from the kink ``|d| = beta``
(the differences reach 2h = 2e-3 across), logits in [-2, 2], targets at least
0.02 away from the predicted probability.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from helpers import assert_raises_naming
from companion.teaching import numerical_gradient, relative_error
from companion.functional.losses import (
    _as_class_target,
    _nll_of_probabilities,
    binary_cross_entropy_loss,
    cross_entropy_loss,
    log_loss,
    mse_loss,
    smooth_l1_loss,
)
from companion.functional import SoftmaxCache, softmax, softmax_backward

EXTENDED = np.finfo(np.longdouble).maxexp >= 16384
needs_extended = pytest.mark.skipif(not EXTENDED, reason="np.longdouble is float64 here")

seeds = st.integers(0, 2**32 - 1)
batch = st.integers(1, 5)
classes = st.integers(1, 6)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)




def residuals(rng, shape, lo=0.05, hi=3.0):
    """Values with random signs and magnitudes in [lo, hi]."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, size=shape)


def one_hot(labels, C):
    return np.eye(C)[labels]


# ------------------------------------------------ references, written independently

def ref_mse(pred, target):
    flat_p, flat_t = pred.ravel(), target.ravel()
    return sum((a - b) ** 2 for a, b in zip(flat_p, flat_t)) / flat_p.size


def ref_smooth_l1(pred, target, beta):
    total = 0.0
    for a, b in zip(pred.ravel(), target.ravel()):
        d = abs(a - b)
        total += 0.5 * d * d / beta if d < beta else d - 0.5 * beta
    return total / pred.size


def ref_cross_entropy(logits, y):
    """-mean sum y (z - log sum exp(z)), in extended precision and without any shift."""
    z = np.asarray(logits, dtype=np.longdouble)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-(np.asarray(y, dtype=np.longdouble) * log_p).sum() / z.shape[0])


def ref_bce(logits, t):
    """-mean(t log s + (1 - t) log(1 - s)), s = 1 / (1 + exp(-z)), naive, extended precision."""
    z = np.asarray(logits, dtype=np.longdouble)
    t = np.asarray(t, dtype=np.longdouble)
    s = 1 / (1 + np.exp(-z))
    one_minus_s = np.exp(-z) / (1 + np.exp(-z))      # 1 - s without cancellation
    return float(-(t * np.log(s) + (1 - t) * np.log(one_minus_s)).mean())


# ---------------------------------------------------------------------- MSE

@given(shape=shapes, seed=seeds)
def test_mse_value_and_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    target = rng.standard_normal(shape)
    pred = target + residuals(rng, shape)
    value, grad = mse_loss(pred, target)
    assert isinstance(value, float)
    assert grad.shape == pred.shape and grad.dtype == np.float64
    assert value == pytest.approx(ref_mse(pred, target), rel=1e-13)
    num = numerical_gradient(lambda x: mse_loss(x, target)[0], pred.copy(), richardson=True)
    assert relative_error(grad, num) < 1e-7


# ---------------------------------------------------------------- smooth L1

@given(shape=shapes, beta=st.floats(0.2, 2.0), seed=seeds)
def test_smooth_l1_value_and_gradient(shape, beta, seed):
    rng = np.random.default_rng(seed)
    target = rng.standard_normal(shape)
    d = residuals(rng, shape)
    d = np.where(np.abs(np.abs(d) - beta) < 0.02, d * 1.1, d)   # stay off the kink |d| = beta
    assume(np.min(np.abs(np.abs(d) - beta)) >= 0.02)
    pred = target + d
    value, grad = smooth_l1_loss(pred, target, beta=beta)
    assert isinstance(value, float) and grad.shape == pred.shape
    assert value == pytest.approx(ref_smooth_l1(pred, target, beta), rel=1e-13)
    num = numerical_gradient(lambda x: smooth_l1_loss(x, target, beta=beta)[0], pred.copy(), richardson=True)
    assert relative_error(grad, num) < 1e-7


def test_smooth_l1_is_quadratic_inside_and_linear_outside():
    d = np.array([-3.0, -0.5, 0.0, 0.25, 2.0])
    value, grad = smooth_l1_loss(d, np.zeros(5), beta=1.0)
    # per element: 2.5, 0.125, 0, 0.03125, 1.5; gradients: -1, -0.5, 0, 0.25, 1 (all / 5)
    assert value == pytest.approx((2.5 + 0.125 + 0 + 0.03125 + 1.5) / 5, rel=1e-15)
    np.testing.assert_allclose(grad, np.array([-1.0, -0.5, 0.0, 0.25, 1.0]) / 5, rtol=1e-15)


@given(beta=st.floats(0.05, 5.0))
def test_smooth_l1_is_continuous_with_its_slope_at_beta(beta):
    below = np.nextafter(beta, 0.0)
    v_in, g_in = smooth_l1_loss(np.array([below]), np.zeros(1), beta=beta)
    v_at, g_at = smooth_l1_loss(np.array([beta]), np.zeros(1), beta=beta)
    assert v_in == pytest.approx(v_at, rel=1e-12, abs=1e-300)
    assert g_in[0] == pytest.approx(g_at[0], rel=1e-12)


def test_smooth_l1_limits_mse_and_l1():
    rng = np.random.default_rng(5)
    pred, target = rng.standard_normal(20), rng.standard_normal(20)
    d = pred - target
    # beta above every residual: MSE / (2 beta); tiny beta: L1 - beta / 2
    big = 100.0
    assert smooth_l1_loss(pred, target, beta=big)[0] == pytest.approx(
        mse_loss(pred, target)[0] / (2 * big), rel=1e-13)
    tiny = 1e-9
    assert smooth_l1_loss(pred, target, beta=tiny)[0] == pytest.approx(
        np.mean(np.abs(d)) - tiny / 2, rel=1e-12)


# ------------------------------------------------------------- cross-entropy

@needs_extended
@given(N=batch, C=classes, seed=seeds)
def test_cross_entropy_with_labels(N, C, seed):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-2, 2, size=(N, C))
    labels = rng.integers(0, C, size=N)
    value, grad = cross_entropy_loss(z, labels)
    assert isinstance(value, float) and value >= 0
    assert grad.shape == (N, C) and grad.dtype == np.float64
    assert value == pytest.approx(ref_cross_entropy(z, one_hot(labels, C)), rel=1e-13, abs=1e-15)
    np.testing.assert_allclose(grad, (softmax(z) - one_hot(labels, C)) / N, rtol=1e-13, atol=1e-17)
    num = numerical_gradient(lambda x: cross_entropy_loss(x, labels)[0], z.copy(), richardson=True)
    assert relative_error(grad, num) < 1e-7


@needs_extended
@given(N=batch, C=st.integers(2, 6), seed=seeds)
def test_cross_entropy_with_probability_targets(N, C, seed):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-2, 2, size=(N, C))
    y = rng.dirichlet(np.ones(C), size=N)
    assume(np.min(np.abs(softmax(z) - y)) > 1e-3)      # no gradient entry near 0
    value, grad = cross_entropy_loss(z, y)
    assert value == pytest.approx(ref_cross_entropy(z, y), rel=1e-13)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)   # rows of p - y sum to 0
    num = numerical_gradient(lambda x: cross_entropy_loss(x, y)[0], z.copy(), richardson=True)
    assert relative_error(grad, num) < 1e-7


@given(N=batch, C=classes, seed=seeds)
def test_labels_and_one_hot_give_the_same_loss(N, C, seed):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-5, 5, size=(N, C))
    labels = rng.integers(0, C, size=N)
    v1, g1 = cross_entropy_loss(z, labels)
    v2, g2 = cross_entropy_loss(z, one_hot(labels, C))
    assert v1 == pytest.approx(v2, rel=1e-14, abs=1e-15)
    np.testing.assert_allclose(g1, g2, rtol=1e-14, atol=1e-17)
    # the mean over the batch is the mean of the per-sample losses
    singles = [cross_entropy_loss(z[i:i + 1], labels[i:i + 1])[0] for i in range(N)]
    assert v1 == pytest.approx(np.mean(singles), rel=1e-13, abs=1e-15)


@given(N=batch, C=classes, shift=st.floats(-1e3, 1e3), seed=seeds)
def test_cross_entropy_is_invariant_to_adding_a_constant_to_the_logits(N, C, shift, seed):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-5, 5, size=(N, C))
    labels = rng.integers(0, C, size=N)
    v1, g1 = cross_entropy_loss(z, labels)
    v2, g2 = cross_entropy_loss(z + shift, labels)
    assert v2 == pytest.approx(v1, rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(g2, g1, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_at_logits_of_magnitude_1e4(dtype):
    z = np.array([[1e4, 0.0, -1e4],
                  [1e4, 0.0, -1e4],
                  [-1e4, -1e4, -1e4],
                  [1e4, 1e4 - 2.0, 0.0]], dtype=dtype)
    labels = np.array([0, 2, 1, 1])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, grad = cross_entropy_loss(z, labels)
    assert np.isfinite(value) and np.all(np.isfinite(grad)) and grad.dtype == dtype
    # per sample: 0, 2e4, log 3, 2 + log(1 + e^-2) (analytic)
    expected = (0.0 + 2e4 + np.log(3.0) + 2.0 + np.log1p(np.exp(-2.0))) / 4
    assert value == pytest.approx(expected, rel=1e-6 if dtype == np.float32 else 1e-15)
    s = 1 / (1 + np.exp(-2.0))                                  # row 3: p = (s, 1 - s, 0)
    expected_grad = np.array([[0, 0, 0], [1, 0, -1], [1 / 3, -2 / 3, 1 / 3], [s, -s, 0]]) / 4
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=1e-7)


@needs_extended
def test_cross_entropy_at_1e4_matches_extended_precision():
    rng = np.random.default_rng(2)
    z = rng.uniform(-1e4, 1e4, size=(8, 5))
    labels = rng.integers(0, 5, size=8)
    value, grad = cross_entropy_loss(z, labels)
    assert value == pytest.approx(ref_cross_entropy(z, one_hot(labels, 5)), rel=1e-15)
    assert np.all(np.isfinite(grad))


def test_naive_cross_entropy_fails_where_the_package_does_not():
    z = np.array([[1e3, 0.0, -1e3]])
    with np.errstate(all="ignore"):
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        naive = -np.log(p[0, 2])
    assert not np.isfinite(naive)
    assert cross_entropy_loss(z, np.array([2]))[0] == pytest.approx(2e3, rel=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_with_logit_gaps_beyond_the_float_range(dtype):
    """Finite logits whose spread overflows: an exact value, inf or 0, never NaN."""
    big = np.finfo(dtype).max / 1.5
    z = np.array([[big, -big], [0.0, -big]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        v_right, g_right = cross_entropy_loss(z, np.array([[1.0, 0.0], [1.0, 0.0]]))
        v_wrong, g_wrong = cross_entropy_loss(z, np.array([1, 1]))
        v_soft, _ = cross_entropy_loss(z, np.array([[0.5, 0.5], [1.0, 0.0]]))
    # all mass on the largest logits: loss exactly 0 (not -0.0), gradient 0
    assert v_right == 0.0 and not np.signbit(v_right)
    np.testing.assert_array_equal(g_right, 0)
    # row 0 is wrong by 2 big > float max: the true loss is not representable
    assert v_wrong == np.inf and v_soft == np.inf
    np.testing.assert_array_equal(g_wrong, [[0.5, -0.5], [0.5, -0.5]])
    assert g_wrong.dtype == dtype
    # row 1 alone is wrong by big, which is representable: exact
    assert cross_entropy_loss(z[1:], np.array([1]))[0] == pytest.approx(float(big), rel=1e-6)


# ------------------------------------------------------ binary cross-entropy

def bce_data(rng, shape):
    """Logits with sigmoid in [0.05, 0.95] and targets at least 0.02 away from it."""
    q = rng.uniform(0.05, 0.95, size=shape)                  # sigmoid(z)
    z = np.log(q / (1 - q))
    below = rng.random(shape) < 0.5
    u = rng.random(shape)
    t = np.where(below, u * (q - 0.02), q + 0.02 + u * (1 - q - 0.02))
    return z, t


@needs_extended
@given(shape=shapes, seed=seeds)
def test_binary_cross_entropy_value_and_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    z, t = bce_data(rng, shape)
    value, grad = binary_cross_entropy_loss(z, t)
    assert isinstance(value, float) and grad.shape == z.shape and grad.dtype == np.float64
    assert value == pytest.approx(ref_bce(z, t), rel=1e-13)
    np.testing.assert_allclose(grad, (1 / (1 + np.exp(-z)) - t) / z.size, rtol=1e-13)
    num = numerical_gradient(lambda x: binary_cross_entropy_loss(x, t)[0], z.copy(), richardson=True)
    assert relative_error(grad, num) < 1e-7


@given(N=batch, seed=seeds)
def test_binary_cross_entropy_is_two_class_cross_entropy(N, seed):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-8, 8, size=N)
    t = rng.integers(0, 2, size=N)
    value, grad = binary_cross_entropy_loss(z, t)
    two = np.stack([np.zeros(N), z], axis=1)          # softmax([0, z]) = [1 - s, s]
    v2, g2 = cross_entropy_loss(two, t)
    assert value == pytest.approx(v2, rel=1e-13)
    np.testing.assert_allclose(grad, g2[:, 1], rtol=1e-12, atol=1e-17)
    # and the log loss of the probabilities [1 - s, s]
    assert log_loss(softmax(two), t)[0] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_cross_entropy_at_logits_of_magnitude_1e4(dtype):
    z = np.array([1e4, 1e4, -1e4, -1e4, 0.0], dtype=dtype)
    t = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, grad = binary_cross_entropy_loss(z, t)
    assert grad.dtype == dtype and np.all(np.isfinite(grad))
    assert value == pytest.approx((0 + 1e4 + 1e4 + 0 + np.log(2.0)) / 5, rel=1e-7)
    np.testing.assert_allclose(grad, np.array([0, 1, -1, 0, -0.5]) / 5, atol=1e-8)


# ----------------------------------------------------------------- log loss

@given(N=batch, C=classes, seed=seeds)
def test_log_loss_is_cross_entropy_of_the_logits(N, C, seed):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-5, 5, size=(N, C))
    labels = rng.integers(0, C, size=N)
    p = softmax(z)
    v_log, g_log = log_loss(p, labels)
    v_ce, g_ce = cross_entropy_loss(z, labels)
    assert v_log == pytest.approx(v_ce, rel=1e-12, abs=1e-15)
    # the chain rule through softmax turns -y / (N p) into (p - y) / N
    np.testing.assert_allclose(softmax_backward(g_log, SoftmaxCache(p)), g_ce, rtol=1e-10, atol=1e-16)
    y = rng.dirichlet(np.ones(C), size=N)
    assert log_loss(p, y)[0] == pytest.approx(cross_entropy_loss(z, y)[0], rel=1e-12, abs=1e-15)


@given(N=batch, C=st.integers(2, 6), seed=seeds)
def test_log_loss_gradient_matches_finite_differences(N, C, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, size=N)
    p = softmax(rng.uniform(-2, 2, size=(N, C)))
    # soft targets >= 0.5 / C: a target entry near 0 makes its gradient entry near 0,
    # where the differences' rounding error (~1e-11) is no longer relatively small
    y = 0.5 * rng.dirichlet(np.ones(C), size=N) + 0.5 / C
    eps = np.finfo(np.float64).eps
    for target, dense in ((labels, one_hot(labels, C)), (y, y)):
        value, grad = log_loss(p, target)
        assert value == pytest.approx(-np.sum(dense * np.log(p)) / N, rel=1e-13, abs=1e-16)
        np.testing.assert_allclose(grad, -dense / (N * p), rtol=1e-13)
        # finite differences move each entry of p on its own, off the simplex, which
        # log_loss rejects; differentiate the computation it runs after validating
        kind, yy = _as_class_target(target, p, "probs")
        # (-log q has large high derivatives for small q: a smaller step keeps the
        # O(h^4) truncation error far below the bound)
        num = numerical_gradient(lambda q: _nll_of_probabilities(q, kind, yy, eps)[0], p.copy(), h=1e-5, richardson=True)
        assert relative_error(grad, num) < 1e-7
    # along the simplex (through the softmax) the public function itself
    z = rng.uniform(-2, 2, size=(N, C))
    g_log = log_loss(softmax(z), labels)[1]
    num = numerical_gradient(lambda x: log_loss(softmax(x), labels)[0], z.copy(), richardson=True)
    assert relative_error(softmax_backward(g_log, SoftmaxCache(softmax(z))), num) < 1e-7


def test_log_loss_clips_zero_probabilities():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    value, grad = log_loss(p, np.array([1, 0]))
    eps = np.finfo(np.float64).eps
    assert value == pytest.approx((-np.log(eps) + np.log(2.0)) / 2, rel=1e-15)
    np.testing.assert_array_equal(grad[0], [0.0, 0.0])          # clipped: no gradient
    np.testing.assert_allclose(grad[1], [-1.0, 0.0], rtol=1e-15)  # -1 / (2 * 0.5)
    value, _ = log_loss(p, np.array([1, 0]), eps=1e-15)
    assert value == pytest.approx((-np.log(1e-15) + np.log(2.0)) / 2, rel=1e-15)
    p32 = p.astype(np.float32)
    value, grad = log_loss(p32, np.array([1, 0]))
    assert grad.dtype == np.float32
    assert value == pytest.approx((-np.log(np.finfo(np.float32).eps) + np.log(2.0)) / 2, rel=1e-6)


def test_log_loss_matches_scikit_learn_example():
    """scikit-learn's documented example, labels ham=0, spam=1: 0.21616..."""
    p = np.array([[.1, .9], [.9, .1], [.8, .2], [.35, .65]])
    value, _ = log_loss(p, np.array([1, 0, 0, 1]))
    expected = -(np.log(.9) + np.log(.9) + np.log(.8) + np.log(.65)) / 4
    assert value == pytest.approx(expected, rel=1e-15)
    assert round(value, 5) == 0.21616


# --------------------------------------------------- optional cross-check: torch

def test_matches_torch_losses():
    torch = pytest.importorskip("torch", reason="torch is not installed (optional): cross-check skipped")
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    x, t = rng.standard_normal((4, 3)) * 2, rng.standard_normal((4, 3))
    labels = rng.integers(0, 3, size=4)
    probs_t = rng.dirichlet(np.ones(3), size=4)
    tb = (t > 0) * 1.0
    cases = [   # (our loss, torch's loss, the prediction both differentiate)
        (lambda a: mse_loss(a, t), lambda a: F.mse_loss(a, torch.tensor(t)), x),
        (lambda a: smooth_l1_loss(a, t, beta=0.7),
         lambda a: F.smooth_l1_loss(a, torch.tensor(t), beta=0.7), x),
        (lambda a: cross_entropy_loss(a, labels),
         lambda a: F.cross_entropy(a, torch.tensor(labels)), x),
        (lambda a: cross_entropy_loss(a, probs_t),
         lambda a: F.cross_entropy(a, torch.tensor(probs_t)), x),
        (lambda a: binary_cross_entropy_loss(a, tb),
         lambda a: F.binary_cross_entropy_with_logits(a, torch.tensor(tb)), x * 50),
    ]
    for ours, theirs, pred in cases:
        value, grad = ours(pred)
        a = torch.tensor(pred, requires_grad=True)
        loss = theirs(a)
        loss.backward()
        assert value == pytest.approx(loss.item(), rel=1e-12)
        np.testing.assert_allclose(grad, a.grad.numpy(), rtol=1e-12, atol=1e-16)


# ---------------------------------------------------------- dtypes and inputs

def test_float32_stays_float32():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    t = rng.standard_normal((3, 4))                   # float64 target is converted
    labels = rng.integers(0, 4, size=3)
    for value, grad in (mse_loss(x, t), smooth_l1_loss(x, t), cross_entropy_loss(x, labels),
                        cross_entropy_loss(x, one_hot(labels, 4)),
                        binary_cross_entropy_loss(x, (t > 0).astype(np.float64)),
                        log_loss(softmax(x), labels)):
        assert isinstance(value, float) and np.isfinite(value)
        assert grad.dtype == np.float32 and grad.shape == x.shape
    v32, g32 = cross_entropy_loss(x, labels)
    v64, g64 = cross_entropy_loss(x.astype(np.float64), labels)
    assert v32 == pytest.approx(v64, rel=1e-6)
    np.testing.assert_allclose(g32, g64, rtol=1e-5, atol=1e-7)


def test_integer_inputs_become_float64():
    value, grad = mse_loss(np.array([1, 2, 3]), np.array([1, 1, 1]))
    assert grad.dtype == np.float64 and value == pytest.approx(5 / 3)
    _, grad = binary_cross_entropy_loss(np.array([0, 1]), np.array([0, 1]))
    assert grad.dtype == np.float64


def test_inputs_are_never_modified():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 4))
    t = rng.standard_normal((3, 4))
    labels = rng.integers(0, 4, size=3)
    y = one_hot(labels, 4)
    tb = (t > 0).astype(np.float64)
    p = softmax(x)
    originals = [a.copy() for a in (x, t, labels, y, tb, p)]
    mse_loss(x, t)
    smooth_l1_loss(x, t, beta=0.5)
    cross_entropy_loss(x, labels)
    cross_entropy_loss(x, y)
    binary_cross_entropy_loss(x, tb)
    log_loss(p, labels)
    log_loss(p, y)
    for a, a0 in zip((x, t, labels, y, tb, p), originals):
        np.testing.assert_array_equal(a, a0)


def test_gradients_do_not_alias_inputs():
    x = np.array([[0.5, -0.5]])
    y = np.array([[1.0, 0.0]])
    for _, grad in (mse_loss(x, y), smooth_l1_loss(x, y), cross_entropy_loss(x, y),
                    binary_cross_entropy_loss(x, y), log_loss(softmax(x), y)):
        assert not np.shares_memory(grad, x) and not np.shares_memory(grad, y)


# ---------------------------------------------------------------- bad input

Z = np.zeros((2, 3))
P = np.full((2, 3), 1 / 3)
LAB = np.array([0, 2])
BAD_CALLS = [
    # (call, exception, words the message must contain)
    (lambda: mse_loss(np.zeros(3), np.zeros(4)), ValueError, ["pred", "target", "(3,)", "(4,)"]),
    (lambda: mse_loss(np.float64(1.0), np.float64(1.0)), ValueError, ["pred", "dimension"]),
    (lambda: mse_loss(np.zeros(0), np.zeros(0)), ValueError, ["pred", "empty"]),
    (lambda: mse_loss(np.array([np.nan]), np.zeros(1)), ValueError, ["pred", "finite"]),
    (lambda: mse_loss(np.zeros(1), np.array([np.inf])), ValueError, ["target", "finite"]),
    (lambda: mse_loss("abc", np.zeros(1)), TypeError, ["pred"]),
    (lambda: mse_loss(np.zeros(2), np.array([1j, 0])), TypeError, ["target", "real"]),
    (lambda: smooth_l1_loss(np.zeros(2), np.zeros((2, 1))), ValueError, ["pred", "target"]),
    (lambda: smooth_l1_loss(np.zeros(2), np.zeros(2), beta=0.0), ValueError, ["beta", "> 0"]),
    (lambda: smooth_l1_loss(np.zeros(2), np.zeros(2), beta=-1.0), ValueError, ["beta", "> 0"]),
    (lambda: smooth_l1_loss(np.zeros(2), np.zeros(2), beta=np.inf), ValueError, ["beta"]),
    (lambda: smooth_l1_loss(np.zeros(2), np.zeros(2), beta="1"), TypeError, ["beta"]),
    (lambda: smooth_l1_loss(np.zeros(2), np.zeros(2), beta=True), TypeError, ["beta"]),
    (lambda: cross_entropy_loss(np.zeros(3), np.array([0])), ValueError, ["logits", "2 dimensions"]),
    (lambda: cross_entropy_loss(np.zeros((2, 3, 1)), LAB), ValueError, ["logits", "dimensions"]),
    (lambda: cross_entropy_loss(np.zeros((0, 3)), np.zeros(0, int)), ValueError, ["logits", "empty"]),
    (lambda: cross_entropy_loss(np.zeros((2, 0)), LAB), ValueError, ["logits"]),
    (lambda: cross_entropy_loss(Z, np.array([0, 1, 2])), ValueError, ["logits", "target", "2", "3"]),
    (lambda: cross_entropy_loss(Z, np.array([0, 3])), ValueError, ["target", "[0, 3)"]),
    (lambda: cross_entropy_loss(Z, np.array([-1, 0])), ValueError, ["target", "[0, 3)"]),
    (lambda: cross_entropy_loss(Z, np.array([0.0, 1.0])), TypeError, ["target", "integer"]),
    (lambda: cross_entropy_loss(Z, np.array([True, False])), TypeError, ["target", "integer"]),
    (lambda: cross_entropy_loss(Z, "ab"), TypeError, ["target"]),
    (lambda: cross_entropy_loss(Z, None), TypeError, ["target"]),
    (lambda: cross_entropy_loss(Z, np.zeros((2, 3, 1))), ValueError, ["target", "(N,)", "(N, C)"]),
    (lambda: cross_entropy_loss(Z, np.full((3, 3), 1 / 3)), ValueError, ["logits", "target", "(2, 3)", "(3, 3)"]),
    (lambda: cross_entropy_loss(Z, np.full((2, 4), 0.25)), ValueError, ["logits", "target"]),
    (lambda: cross_entropy_loss(Z, np.array([[1.5, -0.5, 0], [1, 0, 0]])), ValueError, ["target", "[0, 1]"]),
    (lambda: cross_entropy_loss(Z, np.array([[0.5, 0.4, 0], [1, 0, 0]])), ValueError, ["target", "sum to 1"]),
    (lambda: cross_entropy_loss(Z, np.array([[np.nan, 1, 0], [1, 0, 0]])), ValueError, ["target", "finite"]),
    (lambda: cross_entropy_loss(np.array([[np.inf, 0, 0], [0, 0, 0]]), LAB), ValueError, ["logits", "finite"]),
    (lambda: binary_cross_entropy_loss(np.zeros(3), np.array([0.0, 1.0, 1.5])), ValueError, ["target", "[0, 1]"]),
    (lambda: binary_cross_entropy_loss(np.zeros(2), np.array([-0.1, 1.0])), ValueError, ["target", "[0, 1]"]),
    (lambda: binary_cross_entropy_loss(np.zeros(3), np.zeros(2)), ValueError, ["logits", "target"]),
    (lambda: binary_cross_entropy_loss(np.array([np.nan]), np.zeros(1)), ValueError, ["logits", "finite"]),
    (lambda: binary_cross_entropy_loss(np.float64(0), np.float64(0)), ValueError, ["logits", "dimension"]),
    (lambda: log_loss(np.full(3, 1 / 3), np.array([0])), ValueError, ["probs", "2 dimensions"]),
    (lambda: log_loss(np.array([[1.2, -0.2], [0.5, 0.5]]), np.array([0, 1])), ValueError, ["probs", "[0, 1]"]),
    (lambda: log_loss(np.array([[0.6, 0.6], [0.5, 0.5]]), np.array([0, 1])), ValueError, ["probs", "sum to 1"]),
    (lambda: log_loss(np.array([[np.nan, 0.5], [0.5, 0.5]]), np.array([0, 1])), ValueError, ["probs", "finite"]),
    (lambda: log_loss(P, np.array([0, 1, 1])), ValueError, ["probs", "target", "2", "3"]),
    (lambda: log_loss(P, np.array([0, 5])), ValueError, ["target", "[0, 3)"]),
    (lambda: log_loss(P, np.array([0.0, 1.0])), TypeError, ["target", "integer"]),
    (lambda: log_loss(P, LAB, eps=0.0), ValueError, ["eps"]),
    (lambda: log_loss(P, LAB, eps=0.5), ValueError, ["eps", "(0, 0.5)"]),
    (lambda: log_loss(P, LAB, eps="tiny"), TypeError, ["eps"]),
    (lambda: log_loss(P, LAB, eps=None), TypeError, ["eps"]),
]


@pytest.mark.parametrize("call, exc, words", BAD_CALLS, ids=range(len(BAD_CALLS)))
def test_bad_input_raises_naming_the_argument(call, exc, words):
    assert_raises_naming(call, exc, words)
