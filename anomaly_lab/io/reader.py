"""A map-style Dataset over exported parquet files (``generate.py`` output or the published files).

Rows are decoded a row group at a time through the file's codec and kept in a small cache, so
reading in file order (or in the block-shuffled order of :class:`BlockShuffleSampler`) decodes each
row group once. ``__getitems__`` returns the same batch dict the on-the-fly generator makes, so a
DataLoader over it needs ``collate_fn=passthrough_collate`` (``ParquetDataset.loader`` makes one).

Folders written before the manifest was renamed (``manifest.json``, ``preview.png``) read like
today's (``_manifest.json``, ``_preview/``: names that pyarrow, pandas and HF datasets skip), and so
do files of parquet format 1 (see :mod:`anomaly_lab.io.arrow`). Every file's schema, format version
and declared sizes are checked when the dataset is opened, so a malformed file fails at once with
one line, before any row is decoded.
"""

from __future__ import annotations

import glob
import json
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from anomaly_lab.core.errors import DataFileError
from anomaly_lab.io.arrow import file_format, max_decode_bytes
from anomaly_lab.io.folder import MANIFEST_NAME, check_member_name, find_manifest
from anomaly_lab.io.registry import codec_for

#: Names one split is written under: ``val``/``validate`` are one split (see core.splits), and
#: ``validation`` is the name HF datasets recognises.
SPLIT_ALIASES = {
    "val": ("val", "validate", "validation"),
    "validate": ("validate", "val", "validation"),
    "validation": ("validation", "validate", "val"),
}


def manifest_path(path: str) -> str | None:
    """The manifest of folder ``path``: ``_manifest.json``, else the older ``manifest.json``; a folder
    holding only shard manifests is an unfinished sharded export and is refused (its glob would
    silently read part of the data)."""
    found = find_manifest(path)
    if found is None and glob.glob(os.path.join(path, "_manifest.shard-*.json")):
        raise DataFileError(
            f"{path!r} is a sharded export whose shards have not all finished (no {MANIFEST_NAME}); "
            "run the missing shards, or the last one again, to merge them"
        )
    return found


def _inside(folder: str, name: object, manifest: str) -> str:
    """``folder/name`` for a file name from a manifest (plain names only: see check_member_name)."""
    return os.path.join(folder, check_member_name(name, manifest))


def find_split_files(path: str, split: str | None = None) -> list[str]:
    """The parquet files of ``split`` under ``path`` (manifest order when there is a manifest),
    or ``path`` itself when it is a file."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise DataFileError(f"parquet path {path!r} does not exist; run generate.py first or fix data.path")
    aliases = list(SPLIT_ALIASES.get(split, (split,))) if split else []
    manifest = manifest_path(path)
    if split is not None and manifest is not None:
        try:
            with open(manifest) as fh:
                recorded = json.load(fh).get("splits", {})
            entry = next((recorded[a] for a in aliases if a in recorded), None)
            names = [f["name"] for f in entry["files"]] if entry else []
        except (OSError, ValueError, AttributeError, KeyError, TypeError) as err:
            raise DataFileError(f"{manifest} is unreadable or malformed ({err!r})") from err
        if entry:
            files = [_inside(path, name, manifest) for name in names]
            files = [f for f in files if f.endswith(".parquet")]
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


def split_exists(path: str, split: str) -> bool:
    """Whether folder ``path`` holds files of ``split`` (under any of its names); a single file
    holds no named split."""
    try:
        return os.path.isdir(path) and bool(find_split_files(path, split))
    except DataFileError as err:
        if "no parquet files for split" in str(err):
            return False
        raise


class RowBatch(dict):
    """The batch dict ``ParquetDataset.__getitems__`` returns (key -> tensor of all rows).

    A DataLoader with torch's default collate reads it by position (``batch[0]``), which would be
    a bare ``KeyError: 0``; asking for a position says instead how to build the loader."""

    def __missing__(self, key):
        if isinstance(key, (int, np.integer)):
            raise TypeError(
                "ParquetDataset returns whole batches, which the default collate cannot take: build the "
                "DataLoader with collate_fn=anomaly_lab.loading.indexed.passthrough_collate, or use "
                "anomaly_lab.loading.parquet.parquet_loader(dataset, batch_size)"
            )
        raise KeyError(key)


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
        self.codec = None
        cap = max_decode_bytes()
        for fi, f in enumerate(self.files):
            try:
                meta = pq.ParquetFile(f).metadata
                schema = meta.schema.to_arrow_schema()
            except Exception as err:  # pyarrow raises ArrowInvalid / OSError on corrupt files
                raise DataFileError(f"{f} is not a readable parquet file ({err})") from err
            kv = {
                k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
                for k, v in (meta.metadata or {}).items()
                if not k.startswith(b"ARROW:")
            }
            self.metadata.append(kv)
            try:
                file_format(kv)
                codec = codec_for(kv)
                if self.codec is None:
                    self.codec, dataset = codec, kv.get("anomaly_lab.dataset", "random_anomaly")
                elif kv.get("anomaly_lab.dataset", "random_anomaly") != dataset:
                    raise DataFileError(
                        f"holds {kv.get('anomaly_lab.dataset', 'random_anomaly')!r} rows but "
                        f"{self.files[0]} holds {dataset!r}; one split must be one dataset"
                    )
                if hasattr(self.codec, "check_schema"):
                    self.codec.check_schema(schema)
            except DataFileError as err:
                raise DataFileError(f"{f}: {err}") from err
            for g in range(meta.num_row_groups):
                group = meta.row_group(g)
                if group.num_rows < 0 or group.total_byte_size > cap:
                    raise DataFileError(
                        f"{f}: row group {g} declares {group.num_rows} rows of {group.total_byte_size} bytes, "
                        f"over the reader's cap of {cap} bytes (ANOMALY_LAB_MAX_DECODE_BYTES)"
                    )
                self._groups.append((fi, g, group.num_rows))
        counts = np.array([g[2] for g in self._groups], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
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
        try:
            batch = self.codec.from_table(table, self.metadata[fi])
        except DataFileError as err:
            raise DataFileError(f"{self.files[fi]}: row group {rg}: {err}") from err
        except pa.ArrowException as err:  # a value pyarrow cannot convert: the file's fault, not ours
            raise DataFileError(f"{self.files[fi]}: row group {rg} cannot be decoded ({err})") from err
        got = len(next(iter(batch.values()))) if batch else 0
        if got != table.num_rows:
            raise DataFileError(f"{self.files[fi]}: row group {rg} decoded to {got} rows, not {table.num_rows}")
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
        return RowBatch({k: torch.cat(v)[inverse] for k, v in parts.items()})

    def __getitem__(self, item) -> dict[str, Tensor]:
        """One row (an int) or a batch of rows (a list, range, slice, array or tensor of ints)."""
        if isinstance(item, slice):
            return self.__getitems__(range(*item.indices(len(self))))
        if isinstance(item, (list, tuple, range, np.ndarray, Tensor)) and np.ndim(item) == 1:
            return self.__getitems__([int(i) for i in item])
        return {k: v[0] for k, v in self.__getitems__([int(item)]).items()}

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
