"""The two networks of the source documents, as
:class:`~companion.nn.sequential.Sequential` models.

* :func:`lenet5`: document 2's PyTorch LeNet-5 for ``1 x 32 x 32`` images.
* :func:`cnn_32x32x3`: document 1's network for ``32 x 32 x 3`` images, with
  its code's errors corrected.

Both take their randomness from ``rng`` (a ``numpy.random.Generator``, an int
seed, or ``None`` for fresh entropy): the same seed builds the same model.
Inputs are NCHW (``(N, C, H, W)``), the outputs are **logits** (no softmax: the
loss :func:`companion.functional.losses.cross_entropy_loss` takes logits, as PyTorch's
``nn.CrossEntropyLoss``).
"""
from __future__ import annotations

import numpy as np

from companion._validate import as_float_dtype, as_generator
from companion.nn.activation import LeakyReLU, ReLU, Sigmoid, Tanh
from companion.nn.conv import Conv2d
from companion.nn.dropout import Dropout
from companion.nn.linear import Dense, Flatten
from companion.nn.pooling import MaxPool2d
from companion.nn.sequential import Sequential

__all__ = ["lenet5", "cnn_32x32x3", "ACTIVATIONS"]

ACTIVATIONS = {
    "relu": (ReLU, "he"),
    "leaky_relu": (LeakyReLU, "he"),
    "tanh": (Tanh, "xavier"),
    "sigmoid": (Sigmoid, "xavier"),
}
"""``activation`` names of :func:`lenet5`: the layer class and the weight initializer
that suits it (He for the ReLU family, Xavier for the saturating ones)."""


def lenet5(*, rng=None, dtype=np.float32, activation="relu") -> Sequential:
    """LeNet-5 as in document 2 (``class CNN(nn.Module)``), for ``(N, 1, 32, 32)``
    input.

    ========  ====================================  =================  ======
    name      layer                                 output (1 sample)  params
    ========  ====================================  =================  ======
    conv1     Conv2d(1, 6, 5)                       (6, 28, 28)        156
    relu1     ReLU                                  (6, 28, 28)
    pool1     MaxPool2d(2)                          (6, 14, 14)
    conv2     Conv2d(6, 16, 5)                      (16, 10, 10)       2,416
    relu2     ReLU                                  (16, 10, 10)
    pool2     MaxPool2d(2)                          (16, 5, 5)
    flatten1  Flatten (``x.view(-1, 16 * 5 * 5)``)  (400,)
    fc1       Dense(400, 120)                       (120,)             48,120
    relu3     ReLU                                  (120,)
    fc2       Dense(120, 84)                        (84,)              10,164
    relu4     ReLU                                  (84,)
    fc3       Dense(84, 10)                         (10,) logits       850
    ========  ====================================  =================  ======

    61,706 parameters in all. (``activation="tanh"`` names the activations
    ``tanh1`` ... ``tanh4``, and so on.)

    Parameters
    ----------
    rng : numpy.random.Generator, int seed or None
    dtype : float32 (default) or float64
    activation : {"relu", "leaky_relu", "tanh", "sigmoid"}, default "relu"
        Document 2 uses ReLU (``nn.functional.relu``) after both convolutions
        and the first two dense layers, and none after ``fc3``. The others are
        offered for comparison; LeCun et al.'s 1998 LeNet-5 used a scaled tanh.

    Returns
    -------
    Sequential

    Notes
    -----
    Document 2 follows the modern simplification of LeNet-5: max pooling and
    ReLU, a full connection from every ``conv1`` map to every ``conv2`` map
    and plain logits, where the 1998 network had trainable average
    subsampling, a squashing function, a sparse ``C3`` connection table and a
    Gaussian (RBF) output layer. Deviations of this function from document
    2's code:

    * Initialization: weights He-normal for the ReLU family (Xavier-normal for
      tanh/sigmoid), biases zero; PyTorch's default draws weights **and**
      biases from :math:`U(-1/\\sqrt{\\text{fan\\_in}}, 1/\\sqrt{\\text{fan\\_in}})`.
      The architecture and the parameter count are the same.
    * Document 2 applies one ``self.pool`` module twice; here there are two
      pooling layers ``pool1``, ``pool2`` (pooling has no parameters, so it is
      the same function) so that each keeps its own cache for the backward
      pass.
    * The training set-up of document 2 (``nn.CrossEntropyLoss``,
      ``optim.SGD(lr=0.001, momentum=0.9)``, batches of 4) is not part of the
      model: see :func:`companion.functional.losses.cross_entropy_loss` and
      :class:`companion.optim.SGD`.
    """
    rng = as_generator(rng)
    dtype = as_float_dtype(dtype)
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                         f"got {activation!r}")
    act, init = ACTIVATIONS[activation]
    kw = {"init": init, "rng": rng, "dtype": dtype}
    return Sequential(
        Conv2d(1, 6, 5, **kw), act(), MaxPool2d(2),
        Conv2d(6, 16, 5, **kw), act(), MaxPool2d(2),
        Flatten(),
        Dense(16 * 5 * 5, 120, **kw), act(),
        Dense(120, 84, **kw), act(),
        Dense(84, 10, **kw),
    )


def cnn_32x32x3(*, rng=None, dtype=np.float32, dropout=0.5) -> Sequential:
    """Document 1's convolutional network, corrected, for ``(N, 3, 32, 32)`` input.

    ========  =================================  =================  =======
    name      layer                              output (1 sample)  params
    ========  =================================  =================  =======
    conv1     Conv2d(3, 32, 3, padding="same")   (32, 32, 32)       896
    relu1     ReLU                               (32, 32, 32)
    pool1     MaxPool2d(2)                       (32, 16, 16)
    conv2     Conv2d(32, 64, 3, padding="same")  (64, 16, 16)       18,496
    relu2     ReLU                               (64, 16, 16)
    pool2     MaxPool2d(2)                       (64, 8, 8)
    flatten1  Flatten                            (4096,)
    fc1       Dense(4096, 128)                   (128,)             524,416
    relu3     ReLU                               (128,)
    dropout1  Dropout(p=dropout)                 (128,)
    fc2       Dense(128, 10)                     (10,) logits       1,290
    ========  =================================  =================  =======

    545,098 parameters in all.

    Parameters
    ----------
    rng : numpy.random.Generator, int seed or None
        Draws the weights, then the seed of the dropout layer's own generator.
    dtype : float32 (default) or float64
    dropout : float in [0, 1), default 0.5
        Probability of **dropping** a unit of ``fc1`` in training
        (document 1's ``keep_prob=0.5`` is ``1 - p``). ``0`` keeps the layer
        as the identity.

    Returns
    -------
    Sequential

    Notes
    -----
    Document 1's code (section 4) states this architecture (``input_shape =
    (32, 32, 3)``, ``filters = (3, 3, 32, 64)``, ``flatten_size = 64 * 8 *
    8``, ``num_fc_neurons = 128``, 10 classes) but does not run. Corrected here:

    * **ReLU on the output layer.** Its ``dense()`` applies ``np.nn.relu`` to
      every dense layer, the output one included, so the "logits" could never
      be negative, and every class whose pre-activation is negative gets zero
      gradient. Here ``fc2`` outputs plain logits.
    * **``keep_prob`` without dropout.** ``dense(x, W, b, keep_prob=0.5)``
      takes ``keep_prob`` and ignores it (and the call for the output layer
      passes an undefined ``keep_prob``). Here an inverted-dropout layer
      follows ``fc1``'s ReLU, active in training mode only; none is applied to
      the logits.
    * **Initialization.** ``weight_variable`` uses a fixed ``stddev=0.02`` and
      ``bias_variable`` draws biases from :math:`N(0, 1)`; here weights are
      He-normal and biases zero (see :mod:`companion.nn.init`).
    * **Pooling.** ``max_pool_2x2`` follows the pooling with ``np.max(...,
      axis=(1, 2))``, which would collapse the image to one value per channel;
      the ``64 * 8 * 8`` flatten size needs plain 2x2 max pooling, used here.
    * **Functions that do not exist.** ``np.nn.conv2d``, ``np.nn.max_pool`` and
      ``np.nn.relu`` are not NumPy (they imitate TensorFlow's ``tf.nn``);
      ``conv2d(input_shape, ...)`` convolves the *shape tuple* rather than the
      images. Here the package's own layers do the work.
    * **Layout.** Document 1 (TensorFlow style) uses NHWC images and
      ``(KH, KW, C, F)`` filters; the package uses NCHW and ``(F, C, KH, KW)``.
      ``padding='SAME'`` at stride 1 with a 3x3 kernel is ``padding=1``.
    """
    rng = as_generator(rng)
    dtype = as_float_dtype(dtype)
    kw = {"init": "he", "rng": rng, "dtype": dtype}
    conv1 = Conv2d(3, 32, 3, padding="same", **kw)
    conv2 = Conv2d(32, 64, 3, padding="same", **kw)
    fc1 = Dense(64 * 8 * 8, 128, **kw)
    fc2 = Dense(128, 10, **kw)
    drop = Dropout(dropout, rng=np.random.default_rng(rng.integers(2**63)))
    return Sequential(
        conv1, ReLU(), MaxPool2d(2),
        conv2, ReLU(), MaxPool2d(2),
        Flatten(),
        fc1, ReLU(), drop,
        fc2,
    )
