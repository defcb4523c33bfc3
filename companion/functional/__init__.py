"""Forward/backward pairs and their Numba kernels (PyTorch's ``torch.nn.functional``).

Every layer of the course is a pair of plain functions on NumPy arrays, in
NCHW layout: ``*_forward(x, ...) -> (out, cache)`` and
``*_backward(dout, cache) -> gradients``, each proven against finite
differences. A public wrapper validates its arguments and allocates; a private
``@njit(cache=True)`` kernel fills the output with readable loops.

* :mod:`~companion.functional.dense` – fully connected layer
* :mod:`~companion.functional.conv` – 2-D convolution (direct, im2col, GEMM)
* :mod:`~companion.functional.im2col_ops` – im2col / col2im, padding, output size
* :mod:`~companion.functional.pooling` – max and average pooling
* :mod:`~companion.functional.activations` – ReLU, leaky ReLU, sigmoid, tanh
* :mod:`~companion.functional.batchnorm` – batch normalization
* :mod:`~companion.functional.dropout` – inverted dropout
* :mod:`~companion.functional.softmax_ops` – softmax, log-softmax, Jacobian
* :mod:`~companion.functional.losses` – losses returning value and gradient
"""

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
    softmax_backward,
)
from companion.functional.losses import (
    mse_loss,
    smooth_l1_loss,
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
    "SigmoidCache",
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
    "softmax_jacobian",
    "tanh_backward",
    "tanh_forward",
]
