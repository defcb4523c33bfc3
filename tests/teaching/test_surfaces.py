"""Tests of companion.teaching.surfaces: gradients against finite differences, known
minima and saddle points, vectorization over grids, and input validation."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from companion.teaching import numerical_gradient, relative_error
from companion.teaching import DoubleWell, QuadraticBowl, Rosenbrock

coord = st.floats(-4.0, 4.0, allow_nan=False)
bowls = st.builds(QuadraticBowl,
                  eigenvalues=st.tuples(st.floats(0.1, 50.0), st.floats(0.1, 50.0)),
                  angle=st.floats(-np.pi, np.pi),
                  center=st.tuples(st.floats(-3.0, 3.0), st.floats(-3.0, 3.0)))
rosenbrocks = st.builds(Rosenbrock, a=st.floats(-2.0, 2.0), b=st.floats(1.0, 300.0))
wells = st.builds(DoubleWell, tilt=st.floats(-1.5, 1.5), y_curvature=st.floats(0.5, 5.0))
surfaces = st.one_of(bowls, rosenbrocks, wells)


def finite_difference_hessian(surface, p, h=1e-5):
    """Central differences of the analytic gradient: a 2 x 2 Hessian."""
    H = np.empty((2, 2))
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        H[:, j] = (surface.gradient(p + e) - surface.gradient(p - e)) / (2 * h)
    return 0.5 * (H + H.T)


@given(surface=surfaces, x=coord, y=coord)
def test_gradient_matches_central_differences(surface, x, y):
    p = np.array([x, y])
    grad = surface.gradient(p)
    value = surface.value(p)
    # Central differences lose about eps*|f|/h to rounding: the relative check
    # is meaningful where no gradient component is tiny next to |f|. Points
    # near critical points are covered by the tests of the minima below.
    assume(np.all(np.abs(grad) > 1e-2 * (1.0 + abs(value))))
    numeric = numerical_gradient(surface.value, p.copy())
    assert relative_error(grad, numeric) < 1e-7


@given(surface=surfaces, seed=st.integers(0, 2**32 - 1),
       shape=st.lists(st.integers(1, 4), min_size=0, max_size=3))
def test_value_and_gradient_are_vectorized_pointwise(surface, seed, shape):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-3, 3, size=(*shape, 2))
    xy_before = xy.copy()
    values = surface.value(xy)
    grads = surface.gradient(xy)
    np.testing.assert_array_equal(xy, xy_before)  # input not modified
    assert np.shape(values) == tuple(shape)
    assert grads.shape == (*shape, 2)
    flat = xy.reshape(-1, 2)
    expect_v = np.array([surface.value(p) for p in flat]).reshape(shape)
    expect_g = np.array([surface.gradient(p) for p in flat]).reshape(*shape, 2)
    np.testing.assert_allclose(values, expect_v, rtol=1e-15, atol=0)
    np.testing.assert_allclose(grads, expect_g, rtol=1e-15, atol=0)
    v, g = surface.value_and_grad(xy)
    np.testing.assert_array_equal(v, values)
    np.testing.assert_array_equal(g, grads)


def test_single_point_returns_float_and_vector():
    for surface in (QuadraticBowl(), Rosenbrock(), DoubleWell()):
        v, g = surface.value_and_grad([0.3, -0.2])
        assert isinstance(v, float)
        assert g.shape == (2,) and g.dtype == np.float64


@given(surface=surfaces, num=st.integers(2, 30))
def test_grid_matches_value_on_meshgrid(surface, num):
    X, Y, Z = surface.grid(num=num)
    assert X.shape == Y.shape == Z.shape == (num, num)
    (x0, x1), (y0, y1) = surface.plot_limits
    assert X[0, 0] == x0 and X[0, -1] == x1 and Y[0, 0] == y0 and Y[-1, 0] == y1
    np.testing.assert_allclose(Z, surface.value(np.stack([X, Y], axis=-1)), rtol=1e-15)


def test_grid_with_explicit_limits():
    X, Y, Z = Rosenbrock().grid((-1, 1), (0, 2), num=3)
    np.testing.assert_array_equal(X[0], [-1, 0, 1])
    np.testing.assert_array_equal(Y[:, 0], [0, 1, 2])
    assert Z[1, 2] == Rosenbrock().value([1.0, 1.0]) == 0.0


# --- the quadratic bowl ------------------------------------------------------

@given(bowl=bowls)
def test_bowl_matrix_has_the_requested_conditioning(bowl):
    A = bowl.matrix
    np.testing.assert_array_equal(A, A.T)
    lam = np.linalg.eigvalsh(A)
    np.testing.assert_allclose(lam, np.sort(bowl.eigenvalues), rtol=1e-12)
    assert bowl.lipschitz == max(bowl.eigenvalues)
    assert bowl.strong_convexity == min(bowl.eigenvalues)
    assert bowl.condition_number == pytest.approx(lam[1] / lam[0], rel=1e-12)


@given(bowl=bowls, x=coord, y=coord)
def test_bowl_is_half_quadratic_form_with_minimum_at_center(bowl, x, y):
    p = np.array([x, y])
    d = p - bowl.minimizer
    assert bowl.value(p) == pytest.approx(0.5 * d @ bowl.matrix @ d, rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(bowl.gradient(p), bowl.matrix @ d, rtol=1e-12, atol=1e-13)
    assert bowl.value(p) >= bowl.min_value
    assert bowl.value(bowl.minimizer) == 0.0
    np.testing.assert_array_equal(bowl.gradient(bowl.minimizer), [0.0, 0.0])


def test_bowl_from_matrix_round_trip():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    bowl = QuadraticBowl.from_matrix(A, center=(1.0, -1.0))
    np.testing.assert_array_equal(bowl.matrix, A)
    np.testing.assert_allclose(bowl.eigenvalues, [(5 - np.sqrt(5)) / 2, (5 + np.sqrt(5)) / 2])
    np.testing.assert_allclose(bowl.gradient([2.0, 0.0]), A @ [1.0, 1.0])
    again = QuadraticBowl(bowl.eigenvalues, angle=np.arctan2(*np.linalg.eigh(A)[1][::-1, 0]))
    np.testing.assert_allclose(again.matrix, A, rtol=1e-12)


def test_bowl_rejects_bad_parameters():
    with pytest.raises(ValueError, match="eigenvalues must be positive"):
        QuadraticBowl((1.0, 0.0))
    with pytest.raises(ValueError, match=r"eigenvalues must have shape \(2,\)"):
        QuadraticBowl((1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="eigenvalues must be finite"):
        QuadraticBowl((1.0, np.inf))
    with pytest.raises(ValueError, match=r"center must have shape \(2,\)"):
        QuadraticBowl(center=(0.0,))
    with pytest.raises(TypeError, match="angle must be a real number"):
        QuadraticBowl(angle="north")
    with pytest.raises(ValueError, match="angle must be finite"):
        QuadraticBowl(angle=np.nan)
    with pytest.raises(ValueError, match="matrix must be symmetric"):
        QuadraticBowl.from_matrix([[1.0, 2.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="matrix must be positive definite"):
        QuadraticBowl.from_matrix([[1.0, 0.0], [0.0, -1.0]])
    with pytest.raises(ValueError, match=r"matrix must have shape \(2, 2\)"):
        QuadraticBowl.from_matrix(np.eye(3))


# --- Rosenbrock --------------------------------------------------------------

@given(surface=rosenbrocks)
def test_rosenbrock_minimum(surface):
    m = surface.minimizer
    np.testing.assert_array_equal(m, [surface.a, surface.a ** 2])
    assert surface.value(m) == 0.0 == surface.min_value
    np.testing.assert_array_equal(surface.gradient(m), [0.0, 0.0])
    H = finite_difference_hessian(surface, m)
    expected = np.array([[2 + 8 * surface.b * surface.a ** 2, -4 * surface.b * surface.a],
                         [-4 * surface.b * surface.a, 2 * surface.b]])
    np.testing.assert_allclose(H, expected, rtol=1e-7, atol=1e-7 * np.abs(expected).max())
    assert np.all(np.linalg.eigvalsh(H) > 0)


def test_rosenbrock_classic_values():
    f = Rosenbrock()
    assert f.value([0.0, 0.0]) == 1.0
    assert f.value([-1.0, 1.0]) == 4.0
    np.testing.assert_array_equal(f.gradient([0.0, 0.0]), [-2.0, 0.0])
    with pytest.raises(ValueError, match="b must be positive"):
        Rosenbrock(b=0.0)


# --- the double well ---------------------------------------------------------

@given(surface=wells)
def test_double_well_critical_points(surface):
    minima, saddle = surface.minima, surface.saddle
    assert minima.shape == (2, 2)
    for p in (*minima, saddle):
        np.testing.assert_allclose(surface.gradient(p), [0.0, 0.0], atol=1e-12)
    # two minima (positive definite Hessian), one saddle (indefinite)
    for p in minima:
        assert np.all(np.linalg.eigvalsh(finite_difference_hessian(surface, p)) > 0)
    lam = np.linalg.eigvalsh(finite_difference_hessian(surface, saddle))
    assert lam[0] < 0 < lam[1]
    # the saddle lies between the wells and above both; the global one is first
    assert min(minima[:, 0]) < saddle[0] < max(minima[:, 0])
    values = surface.value(minima)
    assert values[0] <= values[1] < surface.value(saddle)
    assert surface.min_value == values[0]
    np.testing.assert_array_equal(surface.minimizer, minima[0])


def test_double_well_symmetric_case():
    f = DoubleWell()
    np.testing.assert_allclose(np.sort(f.minima[:, 0]), [-1.0, 1.0], atol=1e-15)
    np.testing.assert_allclose(f.saddle, [0.0, 0.0], atol=1e-15)
    tilted = DoubleWell(tilt=0.5)
    assert tilted.minimizer[0] < 0  # a positive tilt lowers the left well


def test_double_well_rejects_bad_parameters():
    with pytest.raises(ValueError, match="tilt must lie in"):
        DoubleWell(tilt=1.6)
    with pytest.raises(ValueError, match="y_curvature must be positive"):
        DoubleWell(y_curvature=-1.0)
    with pytest.raises(TypeError, match="tilt must be a real number"):
        DoubleWell(tilt=None)


# --- validation of points and grids -----------------------------------------

@pytest.mark.parametrize("surface", [QuadraticBowl(), Rosenbrock(), DoubleWell()])
def test_bad_points_are_rejected(surface):
    with pytest.raises(ValueError, match=r"xy must have shape \(\.\.\., 2\)"):
        surface.value([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"xy must have shape \(\.\.\., 2\)"):
        surface.gradient(np.float64(1.0))
    with pytest.raises(ValueError, match="xy must be finite"):
        surface.value([np.nan, 0.0])
    with pytest.raises(ValueError, match="xy must be finite"):
        surface.value_and_grad([np.inf, 0.0])
    with pytest.raises(TypeError, match="xy must be"):
        surface.gradient("origin")
    with pytest.raises(TypeError, match="xy must be real-valued"):
        surface.value(np.array([1 + 1j, 0]))
    with pytest.raises(ValueError, match="num must be >= 2"):
        surface.grid(num=1)
    with pytest.raises(TypeError, match="num must be an integer"):
        surface.grid(num=2.5)
    with pytest.raises(ValueError, match="xlim must satisfy low < high"):
        surface.grid(xlim=(1, -1))
    with pytest.raises(ValueError, match=r"ylim must be a pair \(low, high\)"):
        surface.grid(ylim=(0, 1, 2))


def test_surface_base_class_is_abstract():
    from companion.teaching import Surface
    with pytest.raises(TypeError):
        Surface()
