"""Data: datasets, mini-batches, splits and transforms (PyTorch's ``torch.utils.data``).

* :mod:`~companion.data.mnist` – :func:`load_mnist` (checksummed download or offline)
* :mod:`~companion.data.cifar10` – :func:`load_cifar10`, :data:`CIFAR10_CLASSES`
* :mod:`~companion.data.idx` – read and write IDX files (gzip or plain)
* :mod:`~companion.data.download` – download, checksum, cache
* :mod:`~companion.data.batching` – mini-batches, train/validation splits
* :mod:`~companion.data.transforms` – augmentation, padding to 32x32
"""

from companion.data.idx import (
    IDX_DTYPES,
    read_idx,
    write_idx,
)
from companion.data.download import (
    ChecksumError,
    DownloadError,
    default_cache_dir,
    md5sum,
    verify_md5,
    is_writable_dir,
    download_file,
)
from companion.data.mnist import (
    MNIST_FILES,
    MNIST_MD5,
    MNIST_MIRRORS,
    Dataset,
    DataDirs,
    mnist_data_dirs,
    load_mnist,
)
from companion.data.cifar10 import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR10_FOLDER,
    CIFAR10_FILES,
    CIFAR10_MD5,
    CIFAR10_ARCHIVE,
    CIFAR10_ARCHIVE_MD5,
    CIFAR10_MIRRORS,
    Cifar10Dirs,
    cifar10_data_dirs,
    read_cifar10_batch,
    load_cifar10,
)
from companion.data.batching import (
    as_generator,
    num_batches,
    minibatches,
    Split,
    train_val_split,
)
from companion.data.transforms import (
    pad_to_32,
    pad_crop,
    random_crop,
    random_horizontal_flip,
    rotate,
    random_rotation,
    RandomCrop,
    RandomHorizontalFlip,
    RandomRotation,
    Compose,
)

__all__ = [
    "CIFAR10_ARCHIVE",
    "CIFAR10_ARCHIVE_MD5",
    "CIFAR10_CLASSES",
    "CIFAR10_FILES",
    "CIFAR10_FOLDER",
    "CIFAR10_MD5",
    "CIFAR10_MEAN",
    "CIFAR10_MIRRORS",
    "CIFAR10_STD",
    "ChecksumError",
    "Cifar10Dirs",
    "Compose",
    "DataDirs",
    "Dataset",
    "DownloadError",
    "IDX_DTYPES",
    "MNIST_FILES",
    "MNIST_MD5",
    "MNIST_MIRRORS",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomRotation",
    "Split",
    "as_generator",
    "cifar10_data_dirs",
    "default_cache_dir",
    "download_file",
    "is_writable_dir",
    "load_cifar10",
    "load_mnist",
    "md5sum",
    "minibatches",
    "mnist_data_dirs",
    "num_batches",
    "pad_crop",
    "pad_to_32",
    "random_crop",
    "random_horizontal_flip",
    "random_rotation",
    "read_cifar10_batch",
    "read_idx",
    "rotate",
    "train_val_split",
    "verify_md5",
    "write_idx",
]
