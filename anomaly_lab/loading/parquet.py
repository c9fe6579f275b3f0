"""A LightningDataModule over files written by ``generate.py``.

A folder written by plain ``python generate.py`` holds one split (``train``). Training from it
used to stop at the first validation with "no parquet files for split 'validate'": the data
module asked for a split the writer was never told to write. Now a missing validation or test
split is held out of the train split's last rows (``holdout``, 10% each by default), said in one
log line; ``holdout=0`` restores the strict behaviour and its one-line error.
"""

from __future__ import annotations

import logging

import numpy as np
from torch.utils.data import DataLoader, Dataset

from anomaly_lab.core.errors import ConfigError, DataFileError, check_range
from anomaly_lab.io.reader import BlockShuffleSampler, ParquetDataset, split_exists
from anomaly_lab.loading.indexed import passthrough_collate
from anomaly_lab.loading.stored import StoredDataModule

log = logging.getLogger(__name__)

STAGE_KEYS = {
    "fit": ("train", "val"),
    "validate": ("val",),
    "test": ("test",),
    "predict": ("predict",),
    None: ("train", "val", "test"),
}


class RowRange(Dataset):
    """Rows ``lo .. hi-1`` of a :class:`ParquetDataset`, batched like it (``__getitems__``)."""

    def __init__(self, base: ParquetDataset, lo: int, hi: int):
        self.base, self.lo, self.hi = base, int(lo), int(hi)

    def __len__(self) -> int:
        return self.hi - self.lo

    @property
    def group_bounds(self) -> np.ndarray:
        """The base's row-group bounds clipped to this range (so block shuffling still decodes each
        row group once an epoch)."""
        inner = self.base.group_bounds
        inner = inner[(inner > self.lo) & (inner < self.hi)]
        return np.concatenate([[0], inner - self.lo, [len(self)]]).astype(np.int64)

    def __getitems__(self, items):
        rows = np.asarray(list(items), dtype=np.int64)
        n = len(self)
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"row out of range for a dataset of {n} rows")
        return self.base.__getitems__((np.where(rows < 0, rows + n, rows) + self.lo).tolist())

    def __getitem__(self, item: int):
        return {k: v[0] for k, v in self.__getitems__([item]).items()}


def parquet_loader(
    dataset, batch_size: int = 16, shuffle: bool = False, seed: int = 0, num_workers: int = 0
) -> DataLoader:
    """A DataLoader over a :class:`ParquetDataset` (or a :class:`RowRange` of one) that hands on its
    ready batches: ``shuffle`` is the seeded row-group-then-row shuffle of ``BlockShuffleSampler``."""
    sampler = BlockShuffleSampler(dataset.group_bounds, seed) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=passthrough_collate,
        persistent_workers=num_workers > 0,
    )


class ParquetDataModule(StoredDataModule):
    """Train/validate/test (and predict) splits read from ``path`` (``<split>-NNNNN.parquet`` files).

    Args:
        holdout: for a validation or test split the folder does not hold, the fraction of the train
            split's rows held out for it (the last rows, so the choice is the same every run);
            ``0`` makes a missing split an error.
        predict_split: the split ``Trainer.predict`` reads (the held-out rows when it is the test
            split and that was held out).
    """

    def __init__(
        self,
        path: str,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        train_split: str = "train",
        val_split: str = "validate",
        test_split: str = "test",
        predict_split: str | None = None,
        holdout: float = 0.1,
    ):
        super().__init__()
        check_range("data.batch_size", batch_size, 1, integer=True)
        check_range("data.num_workers", num_workers, 0, integer=True)
        check_range("data.holdout", holdout, 0.0, 0.5, high_inclusive=False)
        self.path, self.batch_size, self.num_workers, self.seed = str(path), batch_size, num_workers, seed
        self.holdout = float(holdout)
        self.split_names = {
            "train": train_split,
            "val": val_split,
            "test": test_split,
            "predict": predict_split or test_split,
        }
        self.datasets: dict[str, Dataset] = {}
        self._held_out: list[str] | None = None

    # -- which splits come from where ----------------------------------------------------------
    def held_out(self) -> list[str]:
        """The keys (``val``, ``test``) served from rows of the train split, worked out once."""
        if self._held_out is None:
            missing = [k for k in ("val", "test") if not split_exists(self.path, self.split_names[k])]
            self._held_out = missing if self.holdout > 0 else []
        return self._held_out

    def _carve(self) -> None:
        base = ParquetDataset(self.path, self.split_names["train"])
        held = self.held_out()
        n = len(base)
        k = max(1, int(round(self.holdout * n)))
        keep = n - k * len(held)
        if keep < 1:
            raise ConfigError(
                f"data.path={self.path!r} has {n} train rows and no {'/'.join(self.split_names[h] for h in held)} "
                f"split; too few to hold out data.holdout={self.holdout} of them; export more rows or the splits"
            )
        self.datasets["train"] = RowRange(base, 0, keep)
        for j, key in enumerate(held):
            self.datasets[key] = RowRange(base, keep + j * k, keep + (j + 1) * k)
        log.warning(
            "data.path=%s has no %s split: using the last %d of the %d train rows for each (data.holdout=%s); "
            "training on the first %d",
            self.path,
            " or ".join(repr(self.split_names[h]) for h in held),
            k,
            n,
            self.holdout,
            keep,
        )

    def _dataset(self, key: str) -> Dataset:
        if key in self.datasets:
            return self.datasets[key]
        if key == "predict" and self.split_names["predict"] == self.split_names["test"]:
            self.datasets["predict"] = self._dataset("test")
        elif key in self.held_out() or (key == "train" and self.held_out()):
            self._carve()
        else:
            try:
                self.datasets[key] = ParquetDataset(self.path, self.split_names[key])
            except DataFileError as err:
                if "no parquet files for split" not in str(err) or key == "train":
                    raise
                raise DataFileError(
                    f"{err}; write them (python generate.py split={self.split_names[key]} size=N "
                    f"out_dir={self.path}) or set data.holdout to a fraction of the train split to hold out"
                ) from err
        return self.datasets[key]

    # -- Lightning -----------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        for key in STAGE_KEYS.get(stage, STAGE_KEYS[None]):
            self._dataset(key)

    def _loader(self, key: str, shuffle: bool = False) -> DataLoader:
        """Row groups read whole, shuffled by block (the base's train/val/test/predict call this)."""
        return parquet_loader(self._dataset(key), self.batch_size, shuffle, self.seed, self.num_workers)
