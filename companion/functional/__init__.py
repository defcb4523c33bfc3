"""Forward/backward pairs and their Numba kernels (PyTorch's ``torch.nn.functional``).

Every layer of the course is a pair of plain functions on NumPy arrays, in
NCHW layout: ``*_forward(x, ...) -> (out, cache)`` and
``*_backward(dout, cache) -> gradients``, each proven against finite
differences; caches are NamedTuples and ``dout`` is never modified. A public
wrapper validates its arguments and allocates; a private ``@njit(cache=True)``
kernel fills the output with readable loops. One documented extension:
:func:`batchnorm_forward` returns ``(out, cache, running)``, its updated
running statistics being a third, explicit return value.

* :mod:`~companion.functional.dense` – fully connected layer
* :mod:`~companion.functional.conv` – 2-D convolution: definition, naive
  kernels, the wrappers of every algorithm
* :mod:`~companion.functional.conv_direct` – its ``"direct"`` kernels
* :mod:`~companion.functional.conv_gemm` – its ``"gemm"`` and ``"im2col"`` paths
* :mod:`~companion.functional.im2col_ops` – im2col / col2im, padding, output size
* :mod:`~companion.functional.pooling` – max and average pooling
* :mod:`~companion.functional.activations` – ReLU, leaky ReLU, sigmoid, tanh
* :mod:`~companion.functional.batchnorm` – batch normalization (dense kernels,
  wrappers)
* :mod:`~companion.functional.batchnorm_spatial` – its ``(N, C, H, W)`` kernels
* :mod:`~companion.functional.dropout` – inverted dropout
* :mod:`~companion.functional.softmax_ops` – softmax (plain and as a layer),
  log-softmax, Jacobian
* :mod:`~companion.functional.losses` – losses returning value and gradient
  (classification; re-exports the regression ones)
* :mod:`~companion.functional.regression_losses` – MSE and smooth L1

This package re-exports every name in the ``__all__`` of these modules. The
kernel modules (``conv_direct``, ``conv_gemm``, ``batchnorm_spatial``) and the
batch kernels of ``im2col_ops`` have public names only so that other modules
may call them; they are not part of the API (their ``__all__`` leaves them out).
"""

from companion._memory import apply_memory_policy
from companion.functional.im2col_ops import (
    conv_output_size,
    pad_images,
    im2col,
    col2im,
)
from companion.functional.conv import (
    Conv2dCache,
    conv2d_forward,
    conv2d_backward,
    ALGORITHMS,
    choose_algorithm,
)
from companion.functional.dense import (
    DenseCache,
    dense_forward,
    dense_backward,
)
from companion.functional.pooling import (
    MaxPool2dCache,
    AvgPool2dCache,
    max_pool2d_forward,
    max_pool2d_backward,
    avg_pool2d_forward,
    avg_pool2d_backward,
)
from companion.functional.activations import (
    ReluCache,
    relu_forward,
    relu_backward,
    LeakyReluCache,
    leaky_relu_forward,
    leaky_relu_backward,
    SigmoidCache,
    sigmoid_forward,
    sigmoid_backward,
    TanhCache,
    tanh_forward,
    tanh_backward,
)
from companion.functional.batchnorm import (
    BatchNormCache,
    RunningStats,
    batchnorm_forward,
    batchnorm_backward,
)
from companion.functional.dropout import (
    DropoutCache,
    dropout_forward,
    dropout_backward,
)
from companion.functional.softmax_ops import (
    softmax,
    log_softmax,
    softmax_jacobian,
    SoftmaxCache,
    softmax_forward,
    softmax_backward,
)
from companion.functional.regression_losses import (
    mse_loss,
    smooth_l1_loss,
)
from companion.functional.losses import (
    cross_entropy_loss,
    binary_cross_entropy_loss,
    log_loss,
)

__all__ = [
    "ALGORITHMS",
    "AvgPool2dCache",
    "BatchNormCache",
    "Conv2dCache",
    "DenseCache",
    "DropoutCache",
    "LeakyReluCache",
    "MaxPool2dCache",
    "ReluCache",
    "RunningStats",
    "SigmoidCache",
    "SoftmaxCache",
    "TanhCache",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "batchnorm_backward",
    "batchnorm_forward",
    "binary_cross_entropy_loss",
    "choose_algorithm",
    "col2im",
    "conv2d_backward",
    "conv2d_forward",
    "conv_output_size",
    "cross_entropy_loss",
    "dense_backward",
    "dense_forward",
    "dropout_backward",
    "dropout_forward",
    "im2col",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "log_loss",
    "log_softmax",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "mse_loss",
    "pad_images",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "smooth_l1_loss",
    "softmax",
    "softmax_backward",
    "softmax_forward",
    "softmax_jacobian",
    "tanh_backward",
    "tanh_forward",
]

# Large arrays are reused between steps instead of mapped afresh (companion._memory).
apply_memory_policy()
