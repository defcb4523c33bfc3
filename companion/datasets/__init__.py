"""Datasets of the course: the MNIST digits (and the IDX file format they use), CIFAR-10.

* :mod:`companion.datasets.idx` – read and write IDX files (gzip or plain)
* :mod:`companion.datasets.download` – download, checksum, cache
* :mod:`companion.datasets.mnist` – :func:`load_mnist`
* :mod:`companion.datasets.transforms` – :func:`pad_to_32` for LeNet-5
* :mod:`companion.datasets.cifar10` – :func:`load_cifar10`, :data:`CIFAR10_CLASSES`
"""
from companion.datasets.cifar10 import CIFAR10_CLASSES, load_cifar10
from companion.datasets.download import ChecksumError, DownloadError
from companion.datasets.idx import read_idx, write_idx
from companion.datasets.mnist import Dataset, load_mnist, mnist_data_dirs
from companion.datasets.transforms import pad_to_32

__all__ = [
    "CIFAR10_CLASSES",
    "ChecksumError",
    "Dataset",
    "DownloadError",
    "load_cifar10",
    "load_mnist",
    "mnist_data_dirs",
    "pad_to_32",
    "read_idx",
    "write_idx",
]
