"""Readers for the IDX files of MNIST, FashionMNIST and KMNIST (plain or ``.gz``)."""

from __future__ import annotations

import gzip
import os

import numpy as np
import torch

from anomaly_lab.core.errors import DataFileError, check_choice
from anomaly_lab.sources.base import ImageSource

IDX_DATASETS = {
    "mnist": ("MNIST", [str(i) for i in range(10)]),
    "fashion_mnist": (
        "FashionMNIST",
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    ),
    "kmnist": ("KMNIST", ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]),
}
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_HINT = "get the files from the dataset's site or use source=torchvision with download=true"


def read_idx(path: str) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) into a numpy array, checking its header and size."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except OSError as err:
        raise DataFileError(f"cannot read IDX file {path}: {err}") from err
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataFileError(f"{path} is not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFileError(f"{path} is truncated: header needs {header} bytes, file has {len(data)}")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise DataFileError(
            f"{path} is corrupt: header says shape {shape} ({expected} bytes), file has {len(data)} bytes"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def find_idx_file(root: str, dataset: str, stem: str) -> str:
    """Look for ``stem`` (or ``stem.gz``) in ``root``, ``root/raw`` and ``root/<Name>/raw``."""
    folder = IDX_DATASETS[dataset][0]
    candidates = [
        os.path.join(d, stem + ext)
        for d in (root, os.path.join(root, "raw"), os.path.join(root, folder, "raw"))
        for ext in ("", ".gz")
    ]
    for c in candidates:
        if os.path.isfile(c):
            return c
    raise DataFileError(f"IDX file {stem}[.gz] not found under {root} (looked in ., raw/, {folder}/raw/); {_HINT}")


def load_idx(
    root: str, split: str = "train", dataset: str = "mnist", device: str | torch.device = "cpu"
) -> ImageSource:
    """Images and labels of one split from a folder of IDX files (torchvision ``<Name>/raw`` layout or flat)."""
    check_choice("dataset", dataset, IDX_DATASETS)
    check_choice("split", split, _FILES)
    if not os.path.isdir(root):
        raise DataFileError(f"source root {root!r} is not a folder; {_HINT}")
    img_path = find_idx_file(root, dataset, _FILES[split][0])
    lab_path = find_idx_file(root, dataset, _FILES[split][1])
    images = read_idx(img_path)
    labels = read_idx(lab_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataFileError(f"{img_path} holds {images.dtype} of shape {images.shape}; expected uint8 (N, H, W)")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataFileError(
            f"{lab_path} holds {labels.shape[0] if labels.ndim else 0} labels for {len(images)} images in {img_path}"
        )
    classes = IDX_DATASETS[dataset][1]
    if len(labels) and int(labels.max()) >= len(classes):
        raise DataFileError(f"{lab_path} has label {int(labels.max())}; {dataset} has {len(classes)} classes")
    return ImageSource(
        torch.from_numpy(images.copy()).to(device),
        torch.from_numpy(labels.astype(np.int64)).to(device),
        name=f"{dataset}/{split}",
        classes=list(classes),
    )
