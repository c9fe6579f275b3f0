"""MNIST-like sets through ``torchvision.datasets`` (with ``download`` for users who have a network)."""

from __future__ import annotations

import torch

from anomaly_lab.core.errors import DataFileError, check_choice
from anomaly_lab.sources.base import ImageSource
from anomaly_lab.sources.idx import IDX_DATASETS

_CLASSES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}


def load_torchvision(
    root: str, split: str = "train", dataset: str = "mnist", download: bool = False, device: str | torch.device = "cpu"
) -> ImageSource:
    check_choice("dataset", dataset, _CLASSES)
    check_choice("split", split, ("train", "test"))
    import torchvision.datasets as tvd

    cls = getattr(tvd, _CLASSES[dataset])
    try:
        ds = cls(root=root, train=(split == "train"), download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found. You can use download=True ..."
        raise DataFileError(
            f"torchvision {_CLASSES[dataset]} not found under {root!r} ({err}); "
            "set download=true with a network, or point source.root at the files"
        ) from err
    return ImageSource(
        ds.data.to(torch.uint8).contiguous().to(device),
        ds.targets.to(torch.int64).to(device),
        name=f"torchvision-{dataset}/{split}",
        classes=list(IDX_DATASETS[dataset][1]),
    )
