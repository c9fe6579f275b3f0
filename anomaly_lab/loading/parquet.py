"""A LightningDataModule over files written by ``generate.py``."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader

from anomaly_lab.core.errors import check_range
from anomaly_lab.io.reader import BlockShuffleSampler, ParquetDataset
from anomaly_lab.loading.indexed import passthrough_collate


class ParquetDataModule(L.LightningDataModule):
    """Train/validate/test splits read from ``path`` (``<split>-NNNNN.parquet`` files)."""

    def __init__(
        self,
        path: str,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        train_split: str = "train",
        val_split: str = "validate",
        test_split: str = "test",
    ):
        super().__init__()
        check_range("data.batch_size", batch_size, 1, integer=True)
        check_range("data.num_workers", num_workers, 0, integer=True)
        self.path, self.batch_size, self.num_workers, self.seed = str(path), batch_size, num_workers, seed
        self.split_names = {"train": train_split, "val": val_split, "test": test_split}
        self.datasets: dict[str, ParquetDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        for key, split in self.split_names.items():
            if key not in self.datasets:
                self.datasets[key] = ParquetDataset(self.path, split)

    def _loader(self, key: str, sampler=None) -> DataLoader:
        self.setup()
        return DataLoader(
            self.datasets[key],
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=passthrough_collate,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader("train", BlockShuffleSampler(self.datasets["train"].group_bounds, self.seed))

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
