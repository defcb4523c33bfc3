"""Two-dimensional test functions for pictures of optimization.

Each surface is a small class with the same interface:

* ``value(xy)`` – :math:`f` at points ``xy`` of shape ``(..., 2)``; returns
  shape ``(...)`` (a float for a single point of shape ``(2,)``);
* ``gradient(xy)`` – :math:`\\nabla f` at ``xy``; returns shape ``(..., 2)``;
* ``value_and_grad(xy)`` – both at once, the callable that
  :func:`companion.teaching.descent.gradient_descent` takes;
* ``grid(xlim, ylim, num)`` – coordinates and values on a grid, ready for
  ``plt.contour(X, Y, Z)``.

Everything is vectorized over the leading axes of ``xy``, so one call
evaluates a whole contour grid. The surfaces:

* :class:`QuadraticBowl` – :math:`f(p) = \\tfrac12 (p-c)^\\top A (p-c)` with
  chosen eigenvalues (conditioning) and orientation; minimum at ``c``.
* :class:`Rosenbrock` – :math:`(a-x)^2 + b\\,(y-x^2)^2`, a curved valley;
  minimum at :math:`(a, a^2)`.
* :class:`DoubleWell` – :math:`(x^2-1)^2 + t\\,x + \\tfrac{k}{2} y^2`, two
  local minima and a saddle point between them.
"""
from __future__ import annotations

import numbers
from abc import ABC, abstractmethod

import numpy as np

from companion._validate import as_float_array, as_real

__all__ = ["Surface", "QuadraticBowl", "Rosenbrock", "DoubleWell"]


def _as_limits(value, name: str) -> tuple[float, float]:
    """Return ``(low, high)`` floats with ``low < high``, else raise."""
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a pair (low, high), got {value!r}") from None
    if len(items) != 2:
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}")
    low, high = as_real(items[0], name), as_real(items[1], name)
    if not low < high:
        raise ValueError(f"{name} must satisfy low < high, got {value!r}")
    return low, high


class Surface(ABC):
    """Base class: a scalar function of two variables with its gradient.

    Subclasses implement ``_value(x, y)`` and ``_gradient(x, y)`` on
    coordinate arrays of any (common) shape; the public methods validate
    ``xy`` and split it into ``x = xy[..., 0]`` and ``y = xy[..., 1]``.

    Attributes
    ----------
    plot_limits : tuple of two (low, high) pairs
        A view of the interesting region, ``(xlim, ylim)``, for contour plots.
    """

    plot_limits: tuple[tuple[float, float], tuple[float, float]] = ((-2.0, 2.0), (-2.0, 2.0))

    # -- what a subclass defines: the formulas, on coordinate arrays --------
    @abstractmethod
    def _value(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """:math:`f(x, y)`, elementwise over arrays ``x`` and ``y`` of one shape."""

    @abstractmethod
    def _gradient(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`(\\partial_x f, \\partial_y f)`, elementwise."""

    # -- public interface ---------------------------------------------
    @staticmethod
    def _points(xy) -> np.ndarray:
        arr = as_float_array(xy, "xy", dtype=np.float64)
        if arr.ndim == 0 or arr.shape[-1] != 2:
            raise ValueError(f"xy must have shape (..., 2) (points of the plane), got {arr.shape}")
        return arr

    def value(self, xy):
        """:math:`f` at ``xy`` (shape ``(..., 2)``); shape ``(...)``, a float for one point."""
        p = self._points(xy)
        out = np.asarray(self._value(p[..., 0], p[..., 1]), dtype=np.float64)
        return float(out) if out.ndim == 0 else out

    def gradient(self, xy) -> np.ndarray:
        """:math:`\\nabla f` at ``xy`` (shape ``(..., 2)``); returns shape ``(..., 2)``."""
        p = self._points(xy)
        gx, gy = self._gradient(p[..., 0], p[..., 1])
        return np.stack([np.asarray(gx, dtype=np.float64), np.asarray(gy, dtype=np.float64)],
                        axis=-1)

    def value_and_grad(self, xy):
        """``(value(xy), gradient(xy))``: the callable gradient descent takes."""
        return self.value(xy), self.gradient(xy)

    def grid(self, xlim=None, ylim=None, num: int = 201):
        """Values on a ``num`` x ``num`` grid, for ``contour(X, Y, Z)``.

        Parameters
        ----------
        xlim, ylim : (low, high), optional
            The ranges; default :attr:`plot_limits`.
        num : int
            Points per axis (>= 2).

        Returns
        -------
        X, Y, Z : ndarray, each of shape ``(num, num)``
            ``X[i, j]`` and ``Y[i, j]`` are the coordinates of the point whose
            value is ``Z[i, j]`` (``np.meshgrid`` "xy" indexing).
        """
        xlim = self.plot_limits[0] if xlim is None else _as_limits(xlim, "xlim")
        ylim = self.plot_limits[1] if ylim is None else _as_limits(ylim, "ylim")
        if isinstance(num, (bool, np.bool_)) or not isinstance(num, numbers.Integral):
            raise TypeError(f"num must be an integer, got {num!r}")
        if num < 2:
            raise ValueError(f"num must be >= 2, got {num}")
        X, Y = np.meshgrid(np.linspace(*xlim, int(num)), np.linspace(*ylim, int(num)))
        return X, Y, self._value(X, Y)


class QuadraticBowl(Surface):
    """Quadratic bowl :math:`f(p) = \\tfrac12 (p-c)^\\top A (p-c)`.

    :math:`A = R(\\theta)\\,\\mathrm{diag}(\\lambda_1, \\lambda_2)\\,R(\\theta)^\\top`
    is symmetric positive definite, so the gradient is
    :math:`\\nabla f(p) = A (p - c)`, the unique minimizer is :math:`c` and the
    minimum value is 0. The gradient is Lipschitz with constant
    :math:`L = \\lambda_{\\max}`, the function is :math:`\\mu`-strongly convex
    with :math:`\\mu = \\lambda_{\\min}`, and the condition number is
    :math:`\\kappa = L / \\mu`: the ratio of the ellipses' axes is
    :math:`\\sqrt{\\kappa}`.

    Parameters
    ----------
    eigenvalues : pair of positive floats
        :math:`(\\lambda_1, \\lambda_2)`, the curvatures along the two axes of
        the ellipses. ``(1, 1)`` is a round bowl; ``(1, 25)`` has
        :math:`\\kappa = 25`.
    angle : float
        :math:`\\theta`, rotation of the first axis from the x-axis, radians.
    center : pair of floats
        :math:`c`, the minimizer.
    """

    def __init__(self, eigenvalues=(1.0, 10.0), angle: float = 0.0, center=(0.0, 0.0)):
        lam = as_float_array(eigenvalues, "eigenvalues", ndim=1, dtype=np.float64)
        if lam.shape != (2,):
            raise ValueError(f"eigenvalues must have shape (2,), got {lam.shape}")
        if np.any(lam <= 0):
            raise ValueError(f"eigenvalues must be positive (a bowl), got {lam.tolist()}")
        theta = as_real(angle, "angle")
        c = as_float_array(center, "center", ndim=1, dtype=np.float64)
        if c.shape != (2,):
            raise ValueError(f"center must have shape (2,), got {c.shape}")
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        self._A = rot @ np.diag(lam) @ rot.T
        self._A = 0.5 * (self._A + self._A.T)  # exactly symmetric
        self._eigenvalues = lam.copy()
        self._center = c.copy()
        half = 1.5 * np.sqrt(2.0 * 1.0 / lam.min())  # the level set f = 1 fits inside
        self.plot_limits = ((c[0] - half, c[0] + half), (c[1] - half, c[1] + half))

    @classmethod
    def from_matrix(cls, matrix, center=(0.0, 0.0)) -> "QuadraticBowl":
        """A bowl with a given symmetric positive definite 2 x 2 matrix ``matrix``."""
        A = as_float_array(matrix, "matrix", ndim=2, dtype=np.float64)
        if A.shape != (2, 2):
            raise ValueError(f"matrix must have shape (2, 2), got {A.shape}")
        if not np.allclose(A, A.T, rtol=1e-12, atol=1e-12 * np.abs(A).max()):
            raise ValueError("matrix must be symmetric")
        lam, vecs = np.linalg.eigh(A)
        if lam[0] <= 0:
            raise ValueError(f"matrix must be positive definite, got eigenvalues {lam.tolist()}")
        angle = float(np.arctan2(vecs[1, 0], vecs[0, 0]))
        bowl = cls(lam, angle=angle, center=center)
        bowl._A = 0.5 * (A + A.T)
        return bowl

    @property
    def matrix(self) -> np.ndarray:
        """:math:`A`, shape ``(2, 2)`` (a copy)."""
        return self._A.copy()

    @property
    def eigenvalues(self) -> np.ndarray:
        """:math:`(\\lambda_1, \\lambda_2)` as given (a copy)."""
        return self._eigenvalues.copy()

    @property
    def lipschitz(self) -> float:
        """:math:`L = \\lambda_{\\max}`, the Lipschitz constant of the gradient."""
        return float(self._eigenvalues.max())

    @property
    def strong_convexity(self) -> float:
        """:math:`\\mu = \\lambda_{\\min}`."""
        return float(self._eigenvalues.min())

    @property
    def condition_number(self) -> float:
        """:math:`\\kappa = L / \\mu`."""
        return self.lipschitz / self.strong_convexity

    @property
    def minimizer(self) -> np.ndarray:
        """:math:`c`, shape ``(2,)`` (a copy)."""
        return self._center.copy()

    @property
    def min_value(self) -> float:
        """The minimum value, 0."""
        return 0.0

    def _value(self, x, y):
        dx, dy = x - self._center[0], y - self._center[1]
        A = self._A
        return 0.5 * (A[0, 0] * dx * dx + 2.0 * A[0, 1] * dx * dy + A[1, 1] * dy * dy)

    def _gradient(self, x, y):
        dx, dy = x - self._center[0], y - self._center[1]
        A = self._A
        return A[0, 0] * dx + A[0, 1] * dy, A[1, 0] * dx + A[1, 1] * dy

    def __repr__(self) -> str:
        return (f"QuadraticBowl(eigenvalues={self._eigenvalues.tolist()}, "
                f"center={self._center.tolist()})")


class Rosenbrock(Surface):
    """Rosenbrock's function :math:`f(x, y) = (a - x)^2 + b\\,(y - x^2)^2`.

    A narrow curved valley along :math:`y = x^2`; the minimizer is
    :math:`(a, a^2)` with value 0. The gradient is

    .. math::

        \\partial_x f = -2 (a - x) - 4 b x (y - x^2), \\qquad
        \\partial_y f = 2 b (y - x^2).

    Parameters
    ----------
    a : float
    b : float, positive
        Steepness of the valley's walls (100 is the classic value).
    """

    def __init__(self, a: float = 1.0, b: float = 100.0):
        self.a = as_real(a, "a")
        self.b = as_real(b, "b")
        if self.b <= 0:
            raise ValueError(f"b must be positive, got {b!r}")
        reach = abs(self.a) + 1.0
        self.plot_limits = ((-reach, reach), (-1.0, self.a ** 2 + 2.0))

    @property
    def minimizer(self) -> np.ndarray:
        """:math:`(a, a^2)`."""
        return np.array([self.a, self.a ** 2])

    @property
    def min_value(self) -> float:
        """The minimum value, 0."""
        return 0.0

    def _value(self, x, y):
        return (self.a - x) ** 2 + self.b * (y - x * x) ** 2

    def _gradient(self, x, y):
        gx = -2.0 * (self.a - x) - 4.0 * self.b * x * (y - x * x)
        gy = 2.0 * self.b * (y - x * x)
        return gx, gy

    def __repr__(self) -> str:
        return f"Rosenbrock(a={self.a}, b={self.b})"


class DoubleWell(Surface):
    """Two wells and a saddle: :math:`f(x, y) = (x^2 - 1)^2 + t\\,x + \\tfrac{k}{2} y^2`.

    The critical points lie on :math:`y = 0` at the three real roots of
    :math:`\\partial_x f = 4x^3 - 4x + t = 0`, which exist when
    :math:`|t| < 8 / (3\\sqrt3) \\approx 1.54`: the outer two are local minima
    (:math:`\\partial_x^2 f = 12x^2 - 4 > 0`), the middle one is a saddle point.
    With :math:`t = 0` the minima are :math:`(\\pm 1, 0)`, equally deep, and
    the saddle is the origin; a tilt :math:`t > 0` makes the left well the
    global minimum and the right one a merely local minimum.

    Parameters
    ----------
    tilt : float
        :math:`t`, with :math:`|t| < 8/(3\\sqrt3)`.
    y_curvature : float, positive
        :math:`k`, the curvature across the wells.
    """

    MAX_TILT = 8.0 / (3.0 * np.sqrt(3.0))

    def __init__(self, tilt: float = 0.0, y_curvature: float = 1.0):
        self.tilt = as_real(tilt, "tilt")
        if not abs(self.tilt) < self.MAX_TILT:
            raise ValueError(f"tilt must lie in (-{self.MAX_TILT:.4f}, {self.MAX_TILT:.4f}) "
                             f"so that there are two wells, got {tilt!r}")
        self.y_curvature = as_real(y_curvature, "y_curvature")
        if self.y_curvature <= 0:
            raise ValueError(f"y_curvature must be positive, got {y_curvature!r}")
        self.plot_limits = ((-2.0, 2.0), (-1.5, 1.5))
        roots = np.sort(np.roots([4.0, 0.0, -4.0, self.tilt]).real)
        for _ in range(3):  # polish with Newton's method
            roots = roots - (4 * roots ** 3 - 4 * roots + self.tilt) / (12 * roots ** 2 - 4)
        self._roots = roots

    @property
    def minima(self) -> np.ndarray:
        """The two local minimizers, shape ``(2, 2)``, the deeper (global) one first."""
        pts = np.array([[self._roots[0], 0.0], [self._roots[2], 0.0]])
        vals = self.value(pts)
        return pts[np.argsort(vals, kind="stable")]

    @property
    def saddle(self) -> np.ndarray:
        """The saddle point between the wells, shape ``(2,)``."""
        return np.array([self._roots[1], 0.0])

    @property
    def minimizer(self) -> np.ndarray:
        """The global minimizer (the left well when ``tilt >= 0``)."""
        return self.minima[0]

    @property
    def min_value(self) -> float:
        """The global minimum value."""
        return float(self.value(self.minimizer))

    def _value(self, x, y):
        return (x * x - 1.0) ** 2 + self.tilt * x + 0.5 * self.y_curvature * y * y

    def _gradient(self, x, y):
        gx = 4.0 * x * (x * x - 1.0) + self.tilt
        gy = self.y_curvature * y
        return gx, gy

    def __repr__(self) -> str:
        return f"DoubleWell(tilt={self.tilt}, y_curvature={self.y_curvature})"
