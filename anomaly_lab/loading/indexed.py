"""A map-style Dataset over a generator: item ``i`` of a split is global sample index
``split_offset(split) + start + i``, made on demand.

``__getitems__`` makes a whole batch in one batched call, so a DataLoader with a batch size (and
``collate_fn=passthrough_collate``) receives ready batches with no per-sample loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from anomaly_lab.core.errors import check_range
from anomaly_lab.core.splits import split_indices


def passthrough_collate(batch):
    """Collate for datasets whose ``__getitems__`` already returns a batched dict."""
    return batch


class GeneratedDataset(Dataset):
    """Rows ``start .. start+size-1`` of ``split`` of ``generator``, synthesised on demand."""

    def __init__(self, generator, split: str = "train", size: int = 1000, start: int = 0):
        check_range("size", size, 1, integer=True)
        check_range("start", start, 0, integer=True)
        self.generator = generator
        self.split = split
        self.indices = split_indices(split, size, start)

    def __len__(self) -> int:
        return len(self.indices)

    def sample_indices(self, items: Sequence[int]) -> Tensor:
        n = len(self.indices)
        items = torch.as_tensor(list(items), dtype=torch.int64)
        if items.numel() and (int(items.min()) < -n or int(items.max()) >= n):
            raise IndexError(f"item out of range for a dataset of {n} rows")
        items = torch.where(items < 0, items + n, items)
        return items + self.indices.start

    @property
    def fills_out(self) -> bool:
        """Whether ``__getitems__`` can write into caller buffers (``out``): when the generator can."""
        return bool(getattr(self.generator, "fills_out", False))

    def __getitems__(self, items: Sequence[int], out: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        idx = self.sample_indices(items)
        batch = (
            self.generator.generate(idx, out=out)
            if out is not None and self.fills_out
            else self.generator.generate(idx)
        )
        batch.setdefault("index", idx.to(next(iter(batch.values())).device))
        return batch

    def __getitem__(self, item: int) -> dict[str, Tensor]:
        batch = self.__getitems__([item])
        return {k: v[0] for k, v in batch.items()}
