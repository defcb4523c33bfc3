r"""Gradient clipping: rescale or cut the gradients before the optimizer step.

Two functions, both taking a mapping name -> gradient array and returning a
**new** dict of new arrays (the incoming gradients are never modified; PyTorch's
``clip_grad_norm_``/``clip_grad_value_`` work in place instead):

* :func:`clip_grad_norm` rescales *all* gradients by one factor so that their
  global L2 norm is at most ``max_norm``: the direction of the full gradient is
  kept, only its length is limited (Pascanu, Mikolov & Bengio, 2013).
* :func:`clip_grad_value` clips every component to ``[-clip_value, clip_value]``,
  which changes the direction.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from companion._validate import as_float_array, as_real

__all__ = ["clip_grad_norm", "clip_grad_value", "global_norm"]


def _checked_grads(grads) -> dict[str, np.ndarray]:
    if not isinstance(grads, Mapping):
        raise TypeError(f"grads must be a mapping name -> array, got {type(grads).__name__}")
    return {key: as_float_array(g, f"grads[{key!r}]") for key, g in grads.items()}


def global_norm(grads: Mapping[str, np.ndarray]) -> float:
    r"""The L2 norm of all gradients taken together, computed in float64 without overflow.

    .. math:: \lVert g \rVert = \sqrt{\sum_k \lVert g_k \rVert_2^2}
              = \bigl\lVert (\lVert g_1 \rVert_2, \lVert g_2 \rVert_2, \dots) \bigr\rVert_2

    Parameters
    ----------
    grads : mapping str -> array_like
        Finite gradients, any shapes.

    Returns
    -------
    float
        ``0.0`` for an empty mapping.
    """
    checked = _checked_grads(grads)
    norms = [_l2_norm(g) for g in checked.values()]
    return _l2_norm(np.array(norms, dtype=np.float64))


def _l2_norm(x: np.ndarray) -> float:
    """``sqrt(sum(x**2))`` in float64, scaled by ``max|x|`` so that squares cannot overflow.

    Returns ``inf`` only when the norm itself exceeds the float64 range.
    """
    a = np.abs(x.astype(np.float64, copy=False)).reshape(-1)
    m = float(a.max()) if a.size else 0.0
    if m == 0.0 or not math.isfinite(m):
        return m
    with np.errstate(over="ignore"):
        return float(m * np.sqrt(np.sum((a / m) ** 2)))


def clip_grad_norm(grads: Mapping[str, np.ndarray],
                   max_norm: float) -> tuple[dict[str, np.ndarray], float]:
    r"""Rescale the gradients so that their global L2 norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_`` (L2 norm), but returning new arrays:

    .. math::

        c = \min\!\left(1,\ \frac{\text{max\_norm}}{\lVert g \rVert + 10^{-6}}\right),
        \qquad g_k \leftarrow c\, g_k \text{ for every } k

    The :math:`10^{-6}` (PyTorch's) keeps :math:`c` finite for a zero gradient and
    puts the clipped norm just below ``max_norm``.

    Parameters
    ----------
    grads : mapping str -> array_like
        Finite gradients, any shapes; float32 stays float32.
    max_norm : float, > 0

    Returns
    -------
    clipped : dict str -> ndarray
        New arrays, same keys, shapes and dtypes. Equal to the inputs when
        ``total_norm + 1e-6 <= max_norm``.
    total_norm : float
        The global norm *before* clipping (:func:`global_norm`), handy for logging.

    Raises
    ------
    ValueError
        ``max_norm`` not positive, a non-finite gradient (naming its key), or a
        global norm beyond the float64 range (about 1.8e308).
    """
    max_norm = as_real(max_norm, "max_norm", low=0.0, low_open=True)
    checked = _checked_grads(grads)
    total_norm = global_norm(checked)
    if not math.isfinite(total_norm):
        raise ValueError("the global norm of grads overflows float64; "
                         "the gradients are too large to clip meaningfully")
    coef = min(1.0, max_norm / (total_norm + 1e-6))
    return {key: g * coef for key, g in checked.items()}, total_norm


def clip_grad_value(grads: Mapping[str, np.ndarray], clip_value: float) -> dict[str, np.ndarray]:
    r"""Clip every gradient component to ``[-clip_value, clip_value]``.

    .. math:: g_{k,i} \leftarrow \max(-c, \min(c, g_{k,i}))

    As ``torch.nn.utils.clip_grad_value_``, but returning new arrays.

    Parameters
    ----------
    grads : mapping str -> array_like
        Finite gradients; float32 stays float32.
    clip_value : float, > 0

    Returns
    -------
    dict str -> ndarray
        New arrays, same keys, shapes and dtypes.
    """
    clip_value = as_real(clip_value, "clip_value", low=0.0, low_open=True)
    checked = _checked_grads(grads)
    return {key: np.clip(g, -clip_value, clip_value) for key, g in checked.items()}
