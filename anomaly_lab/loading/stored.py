"""Shared loader plumbing for data modules over stored data (files read in batches)."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, RandomSampler

from anomaly_lab.loading.indexed import passthrough_collate


class StoredDataModule(L.LightningDataModule):
    """Train/val/test loaders over ``self.datasets[split]`` (map-style datasets with
    ``__getitems__``), after ``setup()``. Subclasses set ``datasets``, ``batch_size``,
    ``num_workers`` and ``seed``; the training order is a seeded shuffle, and a dataset on CUDA
    is read in the main process. ``predict_dataloader`` reads ``datasets["predict"]`` when a subclass
    sets one, else the test split, in order (``Trainer.predict`` had no loader before)."""

    def setup(self, stage: str | None = None) -> None:
        """Build ``self.datasets`` (once) in a subclass; called before every loader is made."""

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        if split == "predict" and "predict" not in self.datasets:
            split = "test"
        ds = self.datasets[split]
        device = getattr(ds, "device", None)
        workers = 0 if getattr(device, "type", "cpu") == "cuda" else self.num_workers
        sampler = RandomSampler(ds, generator=torch.Generator().manual_seed(self.seed)) if shuffle else None
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=workers,
            collate_fn=passthrough_collate,
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict", False)
