r"""L2 and L1 penalties on the weights, each returning value and gradient.

A penalty is added to the data loss, its gradient to the data gradients::

    value, pgrads = l2_penalty(params, lam=1e-4)
    loss = data_loss + value
    grads = {k: grads[k] + pgrads[k] for k in grads}

Conventions
-----------
* **L2** is :math:`\tfrac12\lambda\lVert w\rVert_2^2`, with gradient :math:`\lambda w`.
  With the factor :math:`\tfrac12`, adding it to the loss is exactly what
  ``weight_decay=λ`` does in :class:`~companion.optim.SGD` and
  :class:`~companion.optim.Adam` (and in ``torch.optim``): the gradient gains
  :math:`\lambda w`. :class:`~companion.optim.AdamW`'s decoupled decay is *not*
  a penalty: it shrinks the weights outside the adaptive rescaling.
* **L1** is :math:`\lambda\lVert w\rVert_1`, with the subgradient
  :math:`\lambda\,\operatorname{sign}(w)`, taking 0 at :math:`w = 0`.
* **Weights only, by default.** The penalty applies to the parameters whose
  name is ``"w"`` or ends in ``".w"`` (``"conv1.w"``, ``"fc.w"``), not to biases.
  A weight multiplies an input, so its size sets how sharply the output reacts
  to the input, and shrinking it limits that; a bias only shifts a unit's
  output, there are few of them (one per unit or channel), and pulling them
  toward 0 mostly keeps a unit from centring its output, regularizing nothing
  (Goodfellow, Bengio & Courville, *Deep Learning*, §7.1). Pass ``keys`` to
  choose other parameters.
* The returned gradient dict has **every** key of ``params`` (zeros for the
  parameters not penalized), so it adds to a model's gradient dict key by key.
  Values are computed in float64; gradients keep each parameter's dtype.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from companion._blas import single_threaded_blas
from companion._validate import as_float_array, as_real

__all__ = ["l2_penalty", "l1_penalty", "weight_keys"]


def weight_keys(params: Mapping[str, object]) -> list[str]:
    """The names in ``params`` that are weights: ``"w"`` or ending in ``".w"``, in
    order."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping name -> array, "
                        f"got {type(params).__name__}")
    return [k for k in params if isinstance(k, str) and k.split(".")[-1] == "w"]


def _prepare(params, lam, keys):
    """Validate; return (params as float arrays, lam, the penalized keys)."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping name -> array, "
                        f"got {type(params).__name__}")
    lam = as_real(lam, "lam", low=0.0)
    arrays = {k: as_float_array(v, f"params[{k!r}]") for k, v in params.items()}
    if keys is None:
        selected = weight_keys(arrays)
    else:
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Iterable):
            raise TypeError(f"keys must be a list of parameter names (not a single "
                            f"str), got {keys!r}")
        selected = list(keys)
        for k in selected:
            if k not in arrays:
                raise ValueError(f"keys names {k!r}, which is not in params "
                                 f"(params has {list(arrays)})")
    return arrays, lam, set(selected)


def l2_penalty(params: Mapping[str, np.ndarray], lam: float,
               keys: Iterable[str] | None = None
               ) -> tuple[float, dict[str, np.ndarray]]:
    r"""The L2 penalty :math:`\tfrac12\lambda\sum_{k \in K}\lVert w_k\rVert_2^2` and
    its gradient.

    .. math::

        R = \frac{\lambda}{2} \sum_{k \in K} \sum_i w_{k,i}^2,
        \qquad \frac{\partial R}{\partial w_k} = \begin{cases}
            \lambda\, w_k & k \in K \\ 0 & k \notin K \end{cases}

    Parameters
    ----------
    params : mapping str -> array_like
        The parameters, finite, any shapes. Not modified.
    lam : float, >= 0
        :math:`\lambda`, the same number as an optimizer's ``weight_decay``.
    keys : iterable of str, optional
        The penalized names :math:`K`. Default: the weights (:func:`weight_keys`).

    Returns
    -------
    value : float
    grads : dict str -> ndarray
        One array per key of ``params``, shaped and typed as the parameter.
    """
    arrays, lam, selected = _prepare(params, lam, keys)
    value = 0.0
    grads = {}
    for k, w in arrays.items():
        if k in selected:
            w64 = w.astype(np.float64, copy=False).reshape(-1)
            # Single-threaded BLAS (the package's policy, companion._threads): the
            # same bytes on any thread count, and no stall behind idle BLAS threads.
            with single_threaded_blas():
                value += 0.5 * lam * float(w64 @ w64)
            grads[k] = lam * w
        else:
            grads[k] = np.zeros_like(w)
    return value, grads


def l1_penalty(params: Mapping[str, np.ndarray], lam: float,
               keys: Iterable[str] | None = None
               ) -> tuple[float, dict[str, np.ndarray]]:
    r"""The L1 penalty :math:`\lambda\sum_{k \in K}\lVert w_k\rVert_1` and its
    subgradient.

    .. math::

        R = \lambda \sum_{k \in K} \sum_i \lvert w_{k,i}\rvert,
        \qquad \frac{\partial R}{\partial w_k} = \begin{cases}
            \lambda\, \operatorname{sign}(w_k) & k \in K \\ 0 & k \notin K \end{cases}

    with :math:`\operatorname{sign}(0) = 0` (a valid subgradient: any value in
    :math:`[-\lambda, \lambda]` is one at :math:`w = 0`).

    Parameters
    ----------
    params : mapping str -> array_like
        The parameters, finite, any shapes. Not modified.
    lam : float, >= 0
        :math:`\lambda`.
    keys : iterable of str, optional
        The penalized names :math:`K`. Default: the weights (:func:`weight_keys`).

    Returns
    -------
    value : float
    grads : dict str -> ndarray
        One array per key of ``params``, shaped and typed as the parameter.
    """
    arrays, lam, selected = _prepare(params, lam, keys)
    value = 0.0
    grads = {}
    for k, w in arrays.items():
        if k in selected:
            value += lam * float(np.abs(w.astype(np.float64, copy=False)).sum())
            grads[k] = lam * np.sign(w)
        else:
            grads[k] = np.zeros_like(w)
    return value, grads
