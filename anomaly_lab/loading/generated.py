"""A LightningDataModule that synthesises every batch on the fly from a generator."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader

from anomaly_lab.core.errors import check_range
from anomaly_lab.loading.indexed import GeneratedDataset, passthrough_collate
from anomaly_lab.loading.ring_loader import RingDataLoader


class GeneratorDataModule(L.LightningDataModule):
    """Disjoint train/val/test index ranges of one generator (see ``anomaly_lab.core.splits``).

    Batches are dicts of tensors made by ``generator.generate``; with a CUDA generator keep
    ``num_workers=0`` (the batch is made on the GPU in the main process). With ``num_workers > 0``
    on CPU, worker processes make the batches into reused shared-memory slots (``RingDataLoader``).
    """

    def __init__(
        self,
        generator,
        batch_size: int = 16,
        train_size: int = 30000,
        val_size: int = 1000,
        test_size: int = 1000,
        num_workers: int = 0,
        shuffle: bool = True,
    ):
        super().__init__()
        check_range("data.batch_size", batch_size, 1, integer=True)
        check_range("data.num_workers", num_workers, 0, integer=True)
        for name, value in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
            check_range(f"data.{name}", value, 1, integer=True)
        self.generator = generator
        self.batch_size = batch_size
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.num_workers = num_workers
        self.shuffle = shuffle
        self.datasets = {split: GeneratedDataset(generator, split, size) for split, size in self.sizes.items()}

    def _loader(self, split: str, shuffle: bool) -> RingDataLoader:
        on_cuda = getattr(getattr(self.generator, "device", None), "type", "cpu") == "cuda"
        return RingDataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            collate_fn=passthrough_collate,
            workers=0 if on_cuda else self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.shuffle)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)
