import numpy as np
import pytest

from companion.teaching import (
    numerical_gradient,
    numerical_gradient_array,
    relative_error,
)


def test_numerical_gradient_of_quadratic_matches_analytic():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    q = a @ a.T
    x = rng.standard_normal(4)
    x0 = x.copy()
    g = numerical_gradient(lambda z: 0.5 * z @ q @ z, x)
    assert relative_error(g, q @ x0) < 1e-8
    np.testing.assert_array_equal(x, x0)  # the point is restored


def test_numerical_gradient_array_is_vector_jacobian_product():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5))
    dout = rng.standard_normal((3, 5))
    g = numerical_gradient_array(np.tanh, x, dout)
    assert relative_error(g, dout * (1 - np.tanh(x) ** 2)) < 1e-8


def test_relative_error_detects_a_wrong_gradient():
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error([0.0], [0.0]) == 0.0
    assert relative_error([1.0, 2.0], [1.0, 2.02]) > 1e-3


def test_bad_input_is_rejected():
    with pytest.raises(TypeError, match="x must be a float ndarray"):
        numerical_gradient(lambda z: 0.0, np.arange(3))
    with pytest.raises(ValueError, match="same shape"):
        relative_error(np.zeros(2), np.zeros(3))


def test_richardson_extrapolation_is_more_accurate_than_central_differences():
    # f(x) = sum(exp(3x)): large third derivative, so plain central differences with a
    # step far from round-off are off by O(h^2); Richardson's error is O(h^4).
    x = np.linspace(-1.0, 1.0, 7)
    exact = 3 * np.exp(3 * x)
    plain = relative_error(numerical_gradient(lambda z: np.sum(np.exp(3 * z)), x, 1e-3), exact)
    rich = relative_error(numerical_gradient(lambda z: np.sum(np.exp(3 * z)), x, 1e-3,
                                             richardson=True), exact)
    assert plain > 1e-7
    assert rich < 1e-10
    assert rich < plain / 1000


def test_richardson_option_of_numerical_gradient_array():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3))
    dout = rng.standard_normal((2, 3))
    g = numerical_gradient_array(np.sin, x, dout, richardson=True)
    assert relative_error(g, dout * np.cos(x)) < 1e-10


@pytest.mark.parametrize("h", [0.0, -1e-3, float("nan"), "1e-3", True])
def test_bad_step_is_rejected(h):
    with pytest.raises(ValueError, match="h must be a positive finite number"):
        numerical_gradient(lambda z: float(np.sum(z)), np.zeros(2), h)
