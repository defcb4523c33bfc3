"""companion: the NumPy + Numba implementation behind the course
*Backpropagation in Convolutional Neural Networks*.

Every chapter of the book imports this package; the book shows its code and
never copies it. Import from the modules, one per concept:

Losses and the output layer
    :mod:`companion.losses` (loss functions, each returning value and gradient),
    :mod:`companion.softmax` (softmax, its Jacobian and backward pass).
Layers, forward and backward (functional pairs returning ``(out, cache)`` and
taking ``(dout, cache)``)
    :mod:`companion.dense`, :mod:`companion.conv` (with :mod:`companion.im2col`),
    :mod:`companion.pooling`, :mod:`companion.activations`,
    :mod:`companion.batchnorm`, :mod:`companion.dropout`.
Networks
    :mod:`companion.layers` (layer objects), :mod:`companion.network`
    (``Sequential``), :mod:`companion.init` (He / Xavier),
    :mod:`companion.models` (the documents' LeNet-5 and 32x32x3 network),
    :mod:`companion.checkpoint`, :mod:`companion.finetune`.
Training
    :mod:`companion.optim` (SGD ... AdamW), :mod:`companion.schedules`,
    :mod:`companion.regularization`, :mod:`companion.clipping`,
    :mod:`companion.training` (``fit``, ``evaluate``, ``predict``),
    :mod:`companion.data` (mini-batches, splits, augmentation),
    :mod:`companion.metrics`, :mod:`companion.distillation`,
    :mod:`companion.progress`.
Data
    :mod:`companion.datasets` (MNIST with checksummed download and offline
    reading, CIFAR-10).
Teaching tools
    :mod:`companion.gradcheck` (finite-difference gradient checks),
    :mod:`companion.descent` and :mod:`companion.surfaces` (gradient descent
    on 2-D test functions), :mod:`companion.source` (show the package's code
    in a chapter), :mod:`companion.checks` (instant feedback for exercises),
    :mod:`companion.timing` (a convolution's time against its work).
"""
__version__ = "0.1.0"
