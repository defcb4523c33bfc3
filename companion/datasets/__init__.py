"""Datasets of the course: the MNIST digits, and the IDX file format they use.

* :mod:`companion.datasets.idx` – read and write IDX files (gzip or plain)
* :mod:`companion.datasets.download` – download, checksum, cache
* :mod:`companion.datasets.mnist` – :func:`load_mnist`
* :mod:`companion.datasets.transforms` – :func:`pad_to_32` for LeNet-5
"""
from companion.datasets.download import ChecksumError, DownloadError
from companion.datasets.idx import read_idx, write_idx
from companion.datasets.mnist import Dataset, load_mnist, mnist_data_dirs
from companion.datasets.transforms import pad_to_32

__all__ = [
    "ChecksumError",
    "Dataset",
    "DownloadError",
    "load_mnist",
    "mnist_data_dirs",
    "pad_to_32",
    "read_idx",
    "write_idx",
]
