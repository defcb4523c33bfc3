"""companion: the NumPy + Numba implementation behind the course
*Backpropagation in Convolutional Neural Networks*.

Every chapter of the book imports this package; the book shows its code and
never copies it. Its layout mirrors PyTorch's, where learners go next; imports
point down only (each subpackage uses those listed before it):

``companion.functional``
    forward/backward pairs and their Numba kernels: dense, convolution
    (with im2col), pooling, activations, batch norm, dropout, softmax, losses.
``companion.nn``
    layer objects, ``Sequential``, initialization, the documents' models,
    checkpoints, fine-tuning.
``companion.optim``
    optimizers (SGD ... AdamW), learning-rate schedules, gradient clipping,
    weight penalties.
``companion.data``
    MNIST and CIFAR-10 (checksummed download, offline reading), mini-batches,
    splits, augmentation.
``companion.train``
    ``fit`` with its callbacks, ``evaluate``, ``predict``, metrics,
    distillation.
``companion.teaching``
    gradient checks, gradient descent on 2-D surfaces, exercise checks,
    showing the package's code, timing.
``companion.precompile``
    compiles every Numba kernel once (``python -m companion.precompile``).

Underscore modules (``_validate``, ``_blas``, ``_threads``, ``_memory``, ``_progress``) are
the plumbing below all of them.

``import companion`` is cheap: a subpackage is imported the first time it is
used (``companion.functional.conv2d_forward`` works after ``import companion``).
"""
import importlib

__version__ = "0.1.0"

SUBPACKAGES = ("functional", "nn", "optim", "data", "train", "teaching", "precompile")

__all__ = ["SUBPACKAGES", "__version__", *SUBPACKAGES]


def __getattr__(name: str):
    # PEP 562: import a subpackage on first access, so `import companion` stays fast.
    if name in SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(SUBPACKAGES))
