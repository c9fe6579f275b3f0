import gzip
import os

import numpy as np
import pytest
import torch

from anomaly_lab.core.errors import DataFileError
from anomaly_lab.sources import load_source, read_idx


def write_idx(path, array: np.ndarray, compress=False):
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as fh:
        fh.write(data)


def make_mnist_folder(root, n_train=12, n_test=5, compress=False, layout="MNIST/raw"):
    folder = os.path.join(root, layout) if layout else root
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for stem_img, stem_lab, n in (
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", n_train),
        ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", n_test),
    ):
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labs = (np.arange(n) % 10).astype(np.uint8)
        ext = ".gz" if compress else ""
        write_idx(os.path.join(folder, stem_img + ext), imgs, compress)
        write_idx(os.path.join(folder, stem_lab + ext), labs, compress)
        arrays[stem_img] = (imgs, labs)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("layout", ["MNIST/raw", "", "raw"])
def test_idx_round_trip(tmp_path, compress, layout):
    arrays = make_mnist_folder(str(tmp_path), compress=compress, layout=layout)
    train = load_source("idx", split="train", root=str(tmp_path))
    test = load_source("idx", split="test", root=str(tmp_path))
    imgs, labs = arrays["train-images-idx3-ubyte"]
    assert torch.equal(train.images, torch.from_numpy(imgs))
    assert train.labels.tolist() == labs.astype(int).tolist()
    assert len(test) == 5


def test_fashion_mnist_folder_and_class_names(tmp_path):
    make_mnist_folder(str(tmp_path), layout="FashionMNIST/raw")
    src = load_source("idx", split="train", root=str(tmp_path), dataset="fashion_mnist")
    assert src.classes[9] == "Ankle boot" and len(src) == 12


def test_missing_file_names_the_file(tmp_path):
    make_mnist_folder(str(tmp_path))
    os.remove(os.path.join(tmp_path, "MNIST/raw/t10k-labels-idx1-ubyte"))
    with pytest.raises(DataFileError, match="t10k-labels-idx1-ubyte.*not found"):
        load_source("idx", split="test", root=str(tmp_path))


def test_missing_root_is_clear(tmp_path):
    with pytest.raises(DataFileError, match="is not a folder"):
        load_source("idx", root=str(tmp_path / "nowhere"))


def test_corrupt_files_are_reported(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x56\x78garbage")
    with pytest.raises(DataFileError, match="bad magic"):
        read_idx(str(bad))
    make_mnist_folder(str(tmp_path / "t"))
    path = tmp_path / "t/MNIST/raw/train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataFileError, match="corrupt"):
        load_source("idx", root=str(tmp_path / "t"))


def test_label_count_mismatch(tmp_path):
    make_mnist_folder(str(tmp_path))
    write_idx(os.path.join(tmp_path, "MNIST/raw/train-labels-idx1-ubyte"), np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataFileError, match="3 labels for 12 images"):
        load_source("idx", root=str(tmp_path))
