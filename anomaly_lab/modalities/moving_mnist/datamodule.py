"""LightningDataModules for video anomaly detection: Anomalous Moving MNIST made on the fly, and
UCSD-style folders of real video."""

from __future__ import annotations

import torch
from torch.utils.data import Subset

from anomaly_lab.core.errors import check_range
from anomaly_lab.core.rng import hash_bits
from anomaly_lab.loading.generated import GeneratorDataModule
from anomaly_lab.loading.stored import StoredDataModule
from anomaly_lab.modalities.moving_mnist.ucsd import UcsdClips


class MovingMnistDataModule(GeneratorDataModule):
    """Disjoint train/val/test index ranges of a
    :class:`~anomaly_lab.modalities.moving_mnist.MovingMnistGenerator`.

    The anomalous share of each split is the generator's ``anomaly_fraction`` (by default 0 for
    train, 0.5 for val and test: detectors learn from normal clips). ``setup`` builds or loads the
    similarity table once, before any DataLoader worker starts.
    """

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self.generator, "prepare"):
            self.generator.prepare()


class _Batched(Subset):
    """A Subset that passes whole batches to the dataset's ``__getitems__``."""

    def __getitems__(self, items):
        return self.dataset.__getitems__([self.indices[i] for i in items])


class UcsdDataModule(StoredDataModule):
    """Clips of a UCSD Ped1/Ped2-style folder (see :mod:`anomaly_lab.modalities.moving_mnist.ucsd`).

    train: the ``Train`` clips minus a held-out ``val_fraction`` (chosen by a hash of ``seed``, so
    fixed); val: those held-out normal clips; test: the ``Test`` clips with labels from the masks.
    The folders are scanned in :meth:`setup`, so the module can be built before the data exists.
    """

    def __init__(
        self,
        root: str,
        clip_len: int = 10,
        stride: int | None = None,
        size: int | None = 64,
        val_fraction: float = 0.1,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__()
        check_range("data.batch_size", batch_size, 1, integer=True)
        check_range("data.num_workers", num_workers, 0, integer=True)
        check_range("data.val_fraction", val_fraction, 0.0, 1.0, high_inclusive=False)
        check_range("data.clip_len", clip_len, 1, integer=True)
        self.root, self.clip_len, self.stride, self.size = str(root), clip_len, stride, size
        self.val_fraction, self.batch_size, self.num_workers, self.seed = val_fraction, batch_size, num_workers, seed
        self.datasets: dict = {}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        train = UcsdClips(self.root, "train", self.clip_len, self.stride, self.size)
        n = len(train)
        n_val = int(round(self.val_fraction * n)) if n > 1 else 0
        order = torch.argsort(hash_bits(self.seed, torch.arange(n), "ucsd/val", 1)[:, 0]).tolist()
        val_rows, train_rows = sorted(order[:n_val]), sorted(order[n_val:])
        self.datasets = {
            "train": _Batched(train, train_rows),
            "val": _Batched(train, val_rows or train_rows[:1]),
            "test": UcsdClips(self.root, "test", self.clip_len, self.stride, self.size),
        }
