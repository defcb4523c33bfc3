r"""Weight initialization (权重初始化): He (Kaiming) and Xavier (Glorot), normal and uniform.

A layer's weights start random, with a variance chosen so that the signal
neither dies out nor blows up from layer to layer. Both rules depend on the
**fan-in** (how many inputs feed one output) and the **fan-out** (how many
outputs one input feeds) of the weight array:

==============================  ===========================  ===========================
weight shape                    fan_in                       fan_out
==============================  ===========================  ===========================
dense ``(D, M)``                :math:`D`                    :math:`M`
conv ``(F, C, KH, KW)``         :math:`C \cdot K_H K_W`      :math:`F \cdot K_H K_W`
==============================  ===========================  ===========================

(A dense layer here stores ``w`` as ``(D, M)``, inputs by outputs, see
:mod:`companion.functional.dense`; PyTorch stores the transpose ``(M, D)``, with the same
fan-in :math:`D`.)

The rules (each draws every weight independently):

* ``he_normal``: :math:`N(0, 2/\text{fan\_in})`, for ReLU networks (He et al., 2015);
* ``he_uniform``: :math:`U(-a, a)` with :math:`a = \sqrt{6/\text{fan\_in}}`, the same variance;
* ``xavier_normal`` (Glorot): :math:`N(0, 2/(\text{fan\_in} + \text{fan\_out}))`, for tanh,
  sigmoid or linear units (Glorot & Bengio, 2010);
* ``xavier_uniform``: :math:`U(-a, a)` with :math:`a = \sqrt{6/(\text{fan\_in} + \text{fan\_out})}`;
* ``normal``: :math:`N(0, \text{std}^2)` with a fixed ``std``, document 1's ``weight_variable``;
* ``zeros``: for biases.

*Why these variances.* An output of a layer is a sum of ``fan_in`` products
:math:`w_i x_i`; with independent zero-mean weights its variance is
:math:`\text{fan\_in}\,\text{Var}(w)\,\mathbb E[x^2]`. Keeping it equal to the
input's needs :math:`\text{Var}(w) = 1/\text{fan\_in}` for a linear unit, and
twice that behind a ReLU, which zeroes half of its inputs (He). Xavier
compromises between the forward pass (fan-in) and the backward pass
(fan-out). Document 1's fixed ``stddev=0.02`` ignores the fan-in: for its
``(4096, 128)`` dense layer the He standard deviation is
:math:`\sqrt{2/4096} \approx 0.022`, close, but for the first ``3x3x3``
convolution it is :math:`\sqrt{2/27} \approx 0.27`, so ``0.02`` shrinks the
signal by a factor of about 14 in that layer alone.

**Biases start at zero.** Document 1's ``bias_variable`` draws biases from
:math:`N(0, 1)`. Randomness is needed only to break symmetry: units with
equal weights would compute equal outputs and receive equal gradients
forever. The random weights already break it, so random biases add nothing;
they only do harm: a bias of :math:`\pm 1` next to pre-activations of typical
size 1 shifts every ReLU unit, switching some of them off for almost every
input (dead from the start, they receive no gradient) and others on for
almost every input (linear, no longer a nonlinearity), and it adds an offset of
variance 1 to every logit. Zero biases let the data set them.

Randomness comes only from the generator passed in (``rng``): a
``numpy.random.Generator``, or an int seed, or ``None`` for fresh entropy from
the operating system (not reproducible). Values are drawn in float64 and then
rounded to ``dtype``, so one seed gives the same weights in float32 and
float64 (up to rounding).
"""
from __future__ import annotations

import math
import numbers
from typing import Callable

import numpy as np

from companion._validate import as_float_dtype, as_generator, as_positive_real

__all__ = [
    "fan_in_fan_out",
    "he_normal",
    "he_uniform",
    "xavier_normal",
    "xavier_uniform",
    "glorot_normal",
    "glorot_uniform",
    "normal",
    "zeros",
    "INITIALIZERS",
    "get_initializer",
]


# --------------------------------------------------------------------------
# Helpers shared with the layer modules of companion.nn and companion.nn.models
# --------------------------------------------------------------------------

def _as_shape(shape, name: str = "shape") -> tuple[int, ...]:
    """A tuple of positive ints (a single int is a 1-d shape)."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    try:
        items = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of ints, got {shape!r}") from None
    out = []
    for s in items:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
            raise TypeError(f"{name} must be a tuple of ints, got {shape!r}")
        if s < 1:
            raise ValueError(f"{name} must have positive sizes, got {tuple(items)}")
        out.append(int(s))
    return tuple(out)


def fan_in_fan_out(shape) -> tuple[int, int]:
    """Fan-in and fan-out of a weight array.

    Parameters
    ----------
    shape : tuple of int
        ``(D, M)`` for a dense layer (``D`` inputs, ``M`` outputs) or
        ``(F, C, KH, KW)`` for a convolution (``F`` filters over ``C``
        channels).

    Returns
    -------
    fan_in, fan_out : int
        ``(D, M)`` for a dense weight; ``(C*KH*KW, F*KH*KW)`` for a
        convolution weight.

    Raises
    ------
    ValueError
        Any other number of dimensions (a bias has no fan-in: use :func:`zeros`).
    """
    shape = _as_shape(shape)
    if len(shape) == 2:
        D, M = shape
        return D, M
    if len(shape) == 4:
        F, C, KH, KW = shape
        return C * KH * KW, F * KH * KW
    raise ValueError(f"shape must be a dense weight (D, M) or a convolution weight "
                     f"(F, C, KH, KW), got {shape}")


def _finish(values: np.ndarray, dtype) -> np.ndarray:
    return values.astype(as_float_dtype(dtype), copy=False)


# --------------------------------------------------------------------------
# Initializers: f(shape, *, rng, dtype) -> new array
# --------------------------------------------------------------------------

def he_normal(shape, *, rng=None, dtype=np.float32) -> np.ndarray:
    """He (Kaiming) normal initialization: :math:`w \\sim N(0, 2/\\text{fan\\_in})`.

    Parameters
    ----------
    shape : tuple of int
        ``(D, M)`` or ``(F, C, KH, KW)`` (see :func:`fan_in_fan_out`).
    rng : numpy.random.Generator, int seed or None
        Source of randomness.
    dtype : float32 or float64

    Returns
    -------
    ndarray of ``shape``, standard deviation :math:`\\sqrt{2/\\text{fan\\_in}}`.
    """
    fan_in, _ = fan_in_fan_out(shape)
    rng = as_generator(rng)
    dtype = as_float_dtype(dtype)
    return _finish(rng.standard_normal(_as_shape(shape)) * math.sqrt(2.0 / fan_in), dtype)


def he_uniform(shape, *, rng=None, dtype=np.float32) -> np.ndarray:
    """He (Kaiming) uniform initialization: :math:`U(-a, a)`, :math:`a = \\sqrt{6/\\text{fan\\_in}}`.

    Same variance as :func:`he_normal` (:math:`a^2/3 = 2/\\text{fan\\_in}`).
    Parameters as :func:`he_normal`.
    """
    fan_in, _ = fan_in_fan_out(shape)
    rng = as_generator(rng)
    dtype = as_float_dtype(dtype)
    a = math.sqrt(6.0 / fan_in)
    return _finish(rng.uniform(-a, a, _as_shape(shape)), dtype)


def xavier_normal(shape, *, rng=None, dtype=np.float32) -> np.ndarray:
    """Xavier (Glorot) normal initialization: :math:`N(0, 2/(\\text{fan\\_in} + \\text{fan\\_out}))`.

    Parameters as :func:`he_normal`.
    """
    fan_in, fan_out = fan_in_fan_out(shape)
    rng = as_generator(rng)
    dtype = as_float_dtype(dtype)
    std = math.sqrt(2.0 / (fan_in + fan_out))
    return _finish(rng.standard_normal(_as_shape(shape)) * std, dtype)


def xavier_uniform(shape, *, rng=None, dtype=np.float32) -> np.ndarray:
    """Xavier (Glorot) uniform initialization: :math:`U(-a, a)`, :math:`a = \\sqrt{6/(\\text{fan\\_in} + \\text{fan\\_out})}`.

    Parameters as :func:`he_normal`.
    """
    fan_in, fan_out = fan_in_fan_out(shape)
    rng = as_generator(rng)
    dtype = as_float_dtype(dtype)
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return _finish(rng.uniform(-a, a, _as_shape(shape)), dtype)


glorot_normal = xavier_normal
glorot_uniform = xavier_uniform


def normal(shape, *, rng=None, dtype=np.float32, std: float = 0.02) -> np.ndarray:
    """Normal initialization with a fixed standard deviation: :math:`N(0, \\text{std}^2)`.

    Document 1's ``weight_variable(shape, stddev=0.02)``; kept to show what
    ignoring the fan-in does (see the module docstring). Any shape.
    """
    shape = _as_shape(shape)
    std = as_positive_real(std, "std")
    rng = as_generator(rng)
    dtype = as_float_dtype(dtype)
    return _finish(rng.standard_normal(shape) * float(std), dtype)


def zeros(shape, *, rng=None, dtype=np.float32) -> np.ndarray:
    """All zeros (biases; see the module docstring for why). ``rng`` is accepted and unused."""
    return np.zeros(_as_shape(shape), dtype=as_float_dtype(dtype))


INITIALIZERS: dict[str, Callable] = {
    "he": he_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "kaiming_normal": he_normal,
    "kaiming_uniform": he_uniform,
    "xavier": xavier_normal,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "glorot": xavier_normal,
    "glorot_normal": xavier_normal,
    "glorot_uniform": xavier_uniform,
    "normal": normal,
    "zeros": zeros,
}
"""Names accepted by the ``init`` argument of :class:`companion.nn.linear.Dense` and
:class:`companion.nn.conv.Conv2d`: ``"he"`` is :func:`he_normal`, ``"xavier"`` and
``"glorot"`` are :func:`xavier_normal`."""


def get_initializer(init) -> Callable:
    """The initializer for a name of :data:`INITIALIZERS`, or ``init`` itself if callable.

    A callable must have the signature ``init(shape, *, rng, dtype) -> ndarray``.
    """
    if callable(init):
        return init
    if isinstance(init, str) and init in INITIALIZERS:
        return INITIALIZERS[init]
    raise ValueError(f"init must be one of {sorted(INITIALIZERS)} or a callable "
                     f"init(shape, *, rng, dtype), got {init!r}")
