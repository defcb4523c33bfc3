import numpy as np
import pytest

from companion.gradcheck import numerical_gradient, numerical_gradient_array, relative_error


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
