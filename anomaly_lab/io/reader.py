"""A map-style Dataset over exported parquet files (``generate.py`` output or the published files).

Rows are decoded a row group at a time through the file's codec and kept in a small cache, so
reading in file order (or in the block-shuffled order of :class:`BlockShuffleSampler`) decodes each
row group once. ``__getitems__`` returns the same batch dict the on-the-fly generator makes.
"""

from __future__ import annotations

import glob
import json
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow.parquet as pq
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from anomaly_lab.core.errors import DataFileError
from anomaly_lab.io.registry import codec_for


def find_split_files(path: str, split: str | None = None) -> list[str]:
    """The parquet files of ``split`` under ``path`` (manifest order when there is a manifest),
    or ``path`` itself when it is a file."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise DataFileError(f"parquet path {path!r} does not exist; run generate.py first or fix data.path")
    aliases = [split, {"val": "validate", "validate": "val"}.get(split, split)] if split else []
    manifest = os.path.join(path, "manifest.json")
    if split is not None and os.path.exists(manifest):
        try:
            with open(manifest) as fh:
                recorded = json.load(fh).get("splits", {})
        except (OSError, json.JSONDecodeError) as err:
            raise DataFileError(f"{manifest} is unreadable ({err})") from err
        entry = next((recorded[a] for a in aliases if a in recorded), None)
        if entry:
            files = [os.path.join(path, f["name"]) for f in entry["files"] if f["name"].endswith(".parquet")]
            missing = [f for f in files if not os.path.exists(f)]
            if missing:
                raise DataFileError(
                    f"manifest lists {missing[0]} but it is missing; re-run the same generate.py command to finish it"
                )
            return files
    files = [] if split else sorted(glob.glob(os.path.join(path, "*.parquet")))
    for name in aliases:
        files = sorted(glob.glob(os.path.join(path, f"{name}-*.parquet")))
        if files:
            break
    if not files:
        raise DataFileError(
            f"no parquet files for split {split!r} under {path!r} (expected {split}-00000.parquet, ...)"
        )
    return files


class ParquetDataset(Dataset):
    """Rows of one split of exported parquet files, decoded to tensors.

    Args:
        path: a folder written by ``generate.py`` (or one ``.parquet`` file).
        split: ``train`` / ``validate`` (``val``) / ``test``; ``None`` reads every file in the folder.
        cache_groups: how many decoded row groups to keep.
    """

    def __init__(self, path: str, split: str | None = None, cache_groups: int = 16):
        self.files = find_split_files(str(path), split)
        self._groups: list[tuple[int, int, int]] = []  # (file, row group, rows)
        self.metadata: list[dict[str, str]] = []
        for fi, f in enumerate(self.files):
            try:
                meta = pq.ParquetFile(f).metadata
            except Exception as err:  # pyarrow raises ArrowInvalid / OSError on corrupt files
                raise DataFileError(f"{f} is not a readable parquet file ({err})") from err
            kv = {k.decode(): v.decode() for k, v in (meta.metadata or {}).items() if not k.startswith(b"ARROW:")}
            self.metadata.append(kv)
            for g in range(meta.num_row_groups):
                self._groups.append((fi, g, meta.row_group(g).num_rows))
        counts = np.array([g[2] for g in self._groups], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
        self.codec = codec_for(self.metadata[0]) if self.metadata else None
        self._cache: OrderedDict[int, dict[str, Tensor]] = OrderedDict()
        self._cache_groups = cache_groups
        self._handles: dict[int, pq.ParquetFile] = {}

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def group_bounds(self) -> np.ndarray:
        """Row offsets of the row groups (``len = groups + 1``)."""
        return self._starts

    def _group(self, g: int) -> dict[str, Tensor]:
        if g in self._cache:
            self._cache.move_to_end(g)
            return self._cache[g]
        fi, rg, _ = self._groups[g]
        handle = self._handles.get(fi)
        if handle is None:
            handle = self._handles[fi] = pq.ParquetFile(self.files[fi])
        try:
            table = handle.read_row_group(rg)
        except Exception as err:
            raise DataFileError(f"{self.files[fi]}: row group {rg} is unreadable ({err})") from err
        batch = self.codec.from_table(table, self.metadata[fi])
        self._cache[g] = batch
        if len(self._cache) > self._cache_groups:
            self._cache.popitem(last=False)
        return batch

    def __getitems__(self, items: Sequence[int]) -> dict[str, Tensor]:
        rows = np.asarray(list(items), dtype=np.int64)
        n = len(self)
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"row out of range for a dataset of {n} rows")
        rows = np.where(rows < 0, rows + n, rows)
        groups = np.searchsorted(self._starts, rows, side="right") - 1
        parts: dict[str, list[Tensor]] = {}
        order = []
        for g in np.unique(groups):  # loop over row groups, not samples
            sel = np.nonzero(groups == g)[0]
            batch = self._group(int(g))
            local = torch.from_numpy(rows[sel] - self._starts[g])
            for k, v in batch.items():
                parts.setdefault(k, []).append(v[local])
            order.append(sel)
        inverse = (
            torch.from_numpy(np.argsort(np.concatenate(order), kind="stable"))
            if order
            else torch.zeros(0, dtype=torch.int64)
        )
        return {k: torch.cat(v)[inverse] for k, v in parts.items()}

    def __getitem__(self, item: int) -> dict[str, Tensor]:
        return {k: v[0] for k, v in self.__getitems__([item]).items()}

    def __getstate__(self):  # file handles do not travel to workers
        state = self.__dict__.copy()
        state["_handles"] = {}
        state["_cache"] = OrderedDict()
        return state


class BlockShuffleSampler(Sampler[int]):
    """Shuffles row groups, then rows within each group: random enough for SGD, and each row group
    is decoded once per epoch. Seeded by ``(seed, epoch)``; call ``set_epoch`` between epochs."""

    def __init__(self, bounds: np.ndarray, seed: int = 0):
        self.bounds = np.asarray(bounds)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return int(self.bounds[-1])

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1
        for grp in torch.randperm(len(self.bounds) - 1, generator=g).tolist():
            lo, hi = int(self.bounds[grp]), int(self.bounds[grp + 1])
            yield from (lo + torch.randperm(hi - lo, generator=g)).tolist()
