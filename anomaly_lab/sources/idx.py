"""Readers for the IDX files of MNIST, FashionMNIST and KMNIST (plain or ``.gz``)."""

from __future__ import annotations

import gzip
import math
import os
import zlib

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


#: the largest IDX payload read (bytes): MNIST-like sets are tens of MB (EMNIST ByClass, the largest,
#: is 0.55 GB), so a header that declares more is refused before anything is allocated
MAX_IDX_BYTES = 1 << 31
#: deflate cannot expand data by more than about 1032 : 1, so a ``.gz`` whose header declares more
#: than this many bytes per compressed byte cannot hold what it claims
_MAX_DEFLATE_RATIO = 1100
_READ_CHUNK = 1 << 22


def _read_exactly(fh, size: int, path: str) -> bytearray:
    """``size`` bytes from ``fh`` into one buffer filled chunk by chunk (so a file shorter than
    its header says costs no more memory than the header's size, already checked against caps)."""
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = fh.readinto(view[got : got + _READ_CHUNK])
        if not n:
            break
        got += n
    if got != size:
        raise DataFileError(f"{path} is truncated: the header needs {size} bytes of data, the file has {got}")
    return buf


def read_idx(path: str, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) into a numpy array.

    The header is read first (a ``.gz`` is decompressed as a stream, never whole): the magic
    number, then the declared shape, whose size is checked against ``max_bytes``, the file's
    size (for a ``.gz``: its compressed size times deflate's largest ratio, and the size its
    trailer records) before the data buffer is allocated. Every problem is one
    :class:`DataFileError` that names the file."""
    compressed = path.endswith(".gz")
    try:
        file_size = os.path.getsize(path)
        with (gzip.open if compressed else open)(path, "rb") as fh:
            magic = fh.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _DTYPES:
                raise DataFileError(f"{path} is not an IDX file (bad magic number {magic.hex() or 'empty'})")
            ndim = magic[3]
            dims = fh.read(4 * ndim)
            header = 4 + 4 * ndim
            if len(dims) < 4 * ndim:
                raise DataFileError(f"{path} is truncated: header needs {header} bytes, file has {4 + len(dims)}")
            shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
            dtype = np.dtype(_DTYPES[magic[2]])
            size = math.prod(shape) * dtype.itemsize
            _check_declared_size(path, shape, header, size, file_size, compressed, max_bytes)
            data = _read_exactly(fh, size, path)
            if fh.read(1):
                raise DataFileError(
                    f"{path} is corrupt: header says shape {shape} ({header + size} bytes), the file has more"
                )
    except DataFileError:
        raise
    except (OSError, EOFError, zlib.error) as err:  # a broken .gz: bad header, bad CRC, cut short
        kind = "gzip file" if compressed else "IDX file"
        raise DataFileError(f"cannot read {kind} {path}: {err}") from err
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _check_declared_size(
    path: str, shape: tuple[int, ...], header: int, size: int, file_size: int, compressed: bool, max_bytes: int
) -> None:
    """Refuse a declared payload that the file cannot hold or that exceeds the cap, before allocating it."""
    declared = f"header says shape {shape} ({header + size} bytes)"
    if size > max_bytes:
        raise DataFileError(f"{path}: {declared}, more than the {max_bytes}-byte limit for an IDX file")
    if not compressed:
        if header + size != file_size:
            raise DataFileError(f"{path} is corrupt: {declared}, file has {file_size} bytes")
        return
    if header + size > _MAX_DEFLATE_RATIO * file_size:
        raise DataFileError(f"{path} is corrupt: {declared}, more than a {file_size}-byte .gz can hold")
    if file_size >= 18:  # gzip's trailer records the uncompressed size modulo 2**32 (one member)
        with open(path, "rb") as raw:
            raw.seek(-4, os.SEEK_END)
            recorded = int.from_bytes(raw.read(4), "little")
        if recorded != (header + size) & 0xFFFFFFFF:
            raise DataFileError(f"{path} is corrupt: {declared}, its gzip trailer records {recorded} bytes")


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
