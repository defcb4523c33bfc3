r"""Knowledge distillation (知识蒸馏, Hinton, Vinyals & Dean, 2015): a student
learns from a teacher.

A large trained *teacher* network's logits :math:`t` carry more than its top
class: the relative sizes of the wrong classes ("a 7 looks a bit like a 1")
are "dark knowledge". A small *student* with logits :math:`s` is trained to
match the teacher's **softened** distribution at a temperature :math:`T > 1`,

.. math::

    q^{t} = \operatorname{softmax}(t / T), \qquad q^{s} = \operatorname{softmax}(s / T),

together with the ordinary cross-entropy on the true labels :math:`y`:

.. math::

    L = \alpha\, T^2\, \frac1N \sum_{i=1}^{N}
        \mathrm{KL}\!\left(q^{t}_i \,\middle\|\, q^{s}_i\right)
        + (1 - \alpha)\, \frac1N \sum_{i=1}^{N} -\log \operatorname{softmax}(s_i)_{y_i},

with :math:`\mathrm{KL}(q^t \| q^s) = \sum_c q^t_c (\log q^t_c - \log q^s_c)`.
Its gradient with respect to the student's logits is

.. math::

    \frac{\partial L}{\partial s_i}
        = \frac{\alpha\, T}{N}\,\bigl(q^{s}_i - q^{t}_i\bigr)
        + \frac{1 - \alpha}{N}\,
        \bigl(\operatorname{softmax}(s_i) - \mathrm{onehot}(y_i)\bigr).

The soft term's gradient carries a factor :math:`1/T` (from :math:`s / T`), so
its size shrinks like :math:`1/T^2` for large :math:`T`; multiplying by
:math:`T^2` keeps the balance between the two terms when the temperature
changes (Hinton et al., §2). The KL divergence and the soft cross-entropy
:math:`-\sum_c q^t_c \log q^s_c` differ by the teacher's entropy, a constant
for the student, so they have the same gradient; the KL form is used because
it is 0 when the student matches the teacher. This is the usual PyTorch
recipe (``KLDivLoss(reduction="batchmean")`` on log-softmaxes times
:math:`T^2`, plus ``CrossEntropyLoss``).

Everything works from log-softmaxes
(:func:`companion.functional.softmax_ops.log_softmax`), so logits of magnitude
:math:`10^4` give finite, exact values.

Training with :func:`companion.train.loop.fit`
---------------------------------------------
Compute the teacher's logits on the training set once
(:func:`companion.train.evaluate.predict`), pass the targets as
:class:`DistillationTargets` and the loss as :class:`DistillationLoss`::

    teacher_logits = predict(teacher, x_train)
    targets = DistillationTargets(y_train, teacher_logits)
    fit(student, (x_train, targets),
        loss=DistillationLoss(temperature=4.0, alpha=0.9), ...)

The batches then carry the teacher's logits of the same examples. (Do not
combine that with ``augment``: the stored logits are those of the
un-augmented images.)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from companion._validate import (
    as_float_array,
    as_labels,
    as_positive_real,
    as_probability,
    check_same_shape,
)
from companion.functional import log_softmax

__all__ = ["distillation_loss", "DistillationTargets", "DistillationLoss"]


def distillation_loss(student_logits, teacher_logits, labels, *,
                      temperature: float = 4.0, alpha: float = 0.9):
    r"""Hinton et al.'s distillation loss and its gradient with respect to the
    student's logits.

    .. math::

        L = \alpha T^2 \frac1N \sum_i \mathrm{KL}\bigl(\operatorname{softmax}(t_i/T)
            \,\|\, \operatorname{softmax}(s_i/T)\bigr)
            + (1-\alpha)\,\frac1N\sum_i -\log\operatorname{softmax}(s_i)_{y_i}

    Parameters
    ----------
    student_logits : array_like, shape ``(N, C)``
        :math:`s`, finite.
    teacher_logits : array_like, shape ``(N, C)``
        :math:`t`, finite; converted to the dtype of ``student_logits``. It is a
        constant here: no gradient flows to the teacher.
    labels : array_like of int, shape ``(N,)``
        True classes in ``[0, C)``.
    temperature : float, > 0
        :math:`T` (Hinton et al. used values from 2 to 20).
    alpha : float in [0, 1]
        Weight :math:`\alpha` of the soft-target term; ``1 - alpha`` weights the
        hard-label cross-entropy.

    Returns
    -------
    value : float
        :math:`L \ge 0`.
    grad : ndarray, shape ``(N, C)``, dtype of ``student_logits``
        :math:`\frac{\alpha T}{N}(q^s - q^t)
        + \frac{1-\alpha}{N}(p - \mathrm{onehot}(y))` with
        :math:`p = \operatorname{softmax}(s)`.
    """
    s = as_float_array(student_logits, "student_logits", ndim=2)
    n, c = s.shape
    if n == 0 or c == 0:
        raise ValueError(f"student_logits must have at least one example and one "
                         f"class, got shape {s.shape}")
    t = as_float_array(teacher_logits, "teacher_logits", ndim=2)
    check_same_shape(t, "teacher_logits", s, "student_logits")
    t = t.astype(s.dtype, copy=False)
    y = as_labels(labels, "labels", n=n, num_classes=c)
    T = as_positive_real(temperature, "temperature")
    alpha = as_probability(alpha, "alpha", allow_one=True)

    log_qs = log_softmax(s / T, axis=1)                 # log q^s
    log_qt = log_softmax(t / T, axis=1)                 # log q^t
    qt = np.exp(log_qt)
    qs = np.exp(log_qs)
    # KL(q^t || q^s) per row
    kl = np.sum(qt * (log_qt - log_qs), axis=1, dtype=np.float64)
    soft_value = T * T * float(np.sum(kl)) / n

    log_p = log_softmax(s, axis=1)                      # hard-label cross-entropy
    rows = np.arange(n)
    hard_value = -float(np.sum(log_p[rows, y], dtype=np.float64)) / n
    hard_grad = np.exp(log_p)
    hard_grad[rows, y] -= 1

    value = alpha * soft_value + (1.0 - alpha) * hard_value
    grad = (alpha * T / n) * (qs - qt) + ((1.0 - alpha) / n) * hard_grad
    # KL >= 0 exactly; rounding can leave -1e-17 when the student matches the teacher
    return max(value, 0.0), grad.astype(s.dtype, copy=False)


class DistillationTargets(NamedTuple):
    """Targets of a distillation run: the true labels and the teacher's logits, row
    by row.

    :func:`companion.data.minibatches` and :func:`companion.train.loop.fit`
    index both arrays together; the labels (the first field) give the accuracy.

    Attributes
    ----------
    labels : ndarray of int, shape ``(N,)``
    teacher_logits : ndarray, shape ``(N, C)``
    """

    labels: np.ndarray
    teacher_logits: np.ndarray


class DistillationLoss:
    """``DistillationLoss(T, alpha)(student_logits, targets)`` is
    :func:`distillation_loss`.

    A loss callable ``(logits, targets) -> (value, grad)`` for
    :func:`companion.train.loop.fit` and :func:`companion.train.evaluate.evaluate`,
    whose targets are :class:`DistillationTargets`.

    Parameters
    ----------
    temperature : float, > 0
    alpha : float in [0, 1]
    """

    def __init__(self, temperature: float = 4.0, alpha: float = 0.9):
        self.temperature = as_positive_real(temperature, "temperature")
        self.alpha = as_probability(alpha, "alpha", allow_one=True)

    def __call__(self, student_logits, targets):
        if not isinstance(targets, tuple) or len(targets) != 2:
            raise TypeError("targets must be DistillationTargets(labels, "
                            f"teacher_logits), got {type(targets).__name__}")
        labels, teacher_logits = targets
        return distillation_loss(student_logits, teacher_logits, labels,
                                 temperature=self.temperature, alpha=self.alpha)

    def __repr__(self):
        return f"DistillationLoss(temperature={self.temperature}, alpha={self.alpha})"
