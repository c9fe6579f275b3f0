import pytest
import torch

from anomaly_lab.core.errors import DataFileError
from anomaly_lab.sources import load_source
from tests.sources.test_idx import make_mnist_folder


def test_torchvision_mnist_reads_raw_files(tmp_path):
    arrays = make_mnist_folder(str(tmp_path), n_train=20)
    src = load_source("torchvision", split="train", root=str(tmp_path))
    imgs, labs = arrays["train-images-idx3-ubyte"]
    assert torch.equal(src.images, torch.from_numpy(imgs))
    assert src.labels.tolist() == labs.astype(int).tolist()


def test_torchvision_missing_without_download_is_clear(tmp_path):
    with pytest.raises(DataFileError, match="download=true"):
        load_source("torchvision", split="train", root=str(tmp_path))
