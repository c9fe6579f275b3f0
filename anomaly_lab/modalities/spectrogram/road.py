"""LOFAR ROAD spectrograms (``ROAD_dataset.h5``): a lazy reader and the seed's preparation.

The file holds groups ``train_data``, ``test_data`` and ``anomaly_data/<class>``, each with ``data``
(N, 256, 256, 4) float32 (time x frequency x polarisation), ``labels`` (N,) byte strings and
``source``, ``ids``, ``frequency_band``. Only the labels (and ids) are read up front; spectrograms
are read row by row when a batch asks for them, so a 10 GB file needs little memory.

Labels: ``''`` is normal; ``'1'`` is dropped (the seed found it in ``train_data`` and could not tell
what it meant); anything else names anomaly classes joined by ``-``. Rows with several classes are
dropped, or kept under one class (the class of their ``anomaly_data`` group when it is among their
labels, else the first) with the full set in ``labels_multi``.

Preparation (:func:`prepare_road`): which rows to use (``all``; ``balanced``: ``n_per_class`` of each
of the ten classes, as the seed's 500 = 10 x 50; ``contamination``: ``n_normal`` normal rows plus
``ratio * n_normal`` rows of each anomaly class, ROAD's ratios by default), then a stratified
train/val/test split. Every random choice is a pure function of (seed, row number).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from anomaly_lab.core.device import resolve_device
from anomaly_lab.core.errors import ConfigError, DataFileError, check_choice, check_range
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.modalities.spectrogram.classes import ANOMALY_CLASSES, CLASS_NAMES, NUM_CLASSES, ROAD_CONTAMINATION
from anomaly_lab.modalities.spectrogram.scaling import SCALINGS, apply_scaling

GROUPS = ("train_data", "test_data", "anomaly_data")
MULTI_LABEL = ("drop", "keep")
UNKNOWN = ("drop", "error")
SELECTIONS = ("all", "balanced", "contamination")
SPLIT_NAMES = ("train", "val", "test")

#: caps on what a file's header may declare, checked before anything is allocated: a side of at most
#: 4096 bins (the generator's own limit; ROAD's is 256), a ``data`` dataset that either fits in
#: 64 GiB (six times ROAD's file; rows the file leaves unwritten read as its fill value) or is
#: backed by at least 1/1100 of its size on disk (deflate's largest ratio is about 1032 : 1), labels
#: and ids of at most 256 MiB, and at most 2 GiB of rows read in one batch
MAX_BINS = 4096
MAX_SPARSE_DATA_BYTES = 64 << 30
MAX_STORAGE_RATIO = 1100
MAX_LABEL_BYTES = 256 << 20
MAX_BATCH_BYTES = 2 << 30


def decode_label(raw: bytes | str) -> str:
    """A label as text: bytes decoded, trailing NULs and spaces removed."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, (bytes, np.bytes_)) else str(raw)
    return text.rstrip("\x00").strip()


@dataclass
class RoadRows:
    """A set of rows of a ROAD file: ``group`` (index into :attr:`RoadFile.groups`), ``row``
    within the group, ``y`` class id (0 normal) and ``labels_multi`` ``(N, 10)`` bool."""

    group: np.ndarray
    row: np.ndarray
    y: np.ndarray
    labels_multi: np.ndarray

    def __len__(self) -> int:
        return int(self.y.size)

    def take(self, which: np.ndarray) -> RoadRows:
        return RoadRows(self.group[which], self.row[which], self.y[which], self.labels_multi[which])

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=NUM_CLASSES)
        return {name: int(c) for name, c in zip(CLASS_NAMES, counts)}


class RoadFile:
    """Lazy access to a file in ROAD's layout.

    ``groups`` lists the data groups found (``train_data``, ``test_data``, ``anomaly_data/<name>``);
    ``shape`` is ``(T, F)``; :meth:`catalogue` decodes the labels of the chosen groups;
    :meth:`read` returns rows as ``(k, 4, T, F)`` float32 (channels first). The h5 handle is opened
    on first use in each process, so the object can go to DataLoader workers.
    """

    def __init__(self, path: str):
        self.path = str(path)
        if not os.path.isfile(self.path):
            raise DataFileError(
                f"ROAD file {self.path!r} does not exist; point data.path at ROAD_dataset.h5 "
                "(or a file written by `generate.py data=spectrogram export.format=h5`)"
            )
        import h5py

        try:
            h5 = h5py.File(self.path, "r")
        except OSError as err:
            raise DataFileError(f"{self.path!r} is not a readable HDF5 file ({err})") from err
        with h5:
            groups = [g for g in ("train_data", "test_data") if g in h5]
            if "anomaly_data" in h5:
                if not isinstance(h5["anomaly_data"], h5py.Group):
                    raise DataFileError(f"{self.path}: 'anomaly_data' is not a group of class groups")
                groups += [f"anomaly_data/{name}" for name in sorted(h5["anomaly_data"])]
            if not groups:
                raise DataFileError(f"{self.path} has none of ROAD's groups {list(GROUPS)}; found {sorted(h5)}")
            shape = None
            for g in groups:
                node = h5[g]
                if not isinstance(node, h5py.Group):
                    raise DataFileError(f"{self.path}: {g!r} is a dataset, not a group holding data and labels")
                for key in ("data", "labels"):
                    if key not in node:
                        raise DataFileError(f"{self.path}: group {g!r} has no {key!r} dataset (found {sorted(node)})")
                data, labels = node["data"], node["labels"]
                if data.ndim != 4 or data.shape[3] != 4:
                    raise DataFileError(f"{self.path}: {g}/data has shape {data.shape}; ROAD's layout is (N, T, F, 4)")
                if labels.shape != (data.shape[0],):
                    raise DataFileError(
                        f"{self.path}: {g}/labels has shape {labels.shape} for {data.shape[0]} spectrograms"
                    )
                _check_declared_sizes(self.path, g, data, labels, node.get("ids"))
                if data.shape[0] and shape is not None and data.shape[1:3] != shape:
                    raise DataFileError(f"{self.path}: {g}/data is {data.shape[1:3]}, other groups {shape}")
                if data.shape[0]:
                    shape = tuple(data.shape[1:3])
        self.groups: list[str] = groups
        self.shape: tuple[int, int] = shape or (0, 0)
        self.row_bytes = self.shape[0] * self.shape[1] * 4 * np.dtype(np.float32).itemsize
        self._handle = None
        self._pid = None

    # -- handles -------------------------------------------------------------------------------
    @property
    def h5(self):
        if self._handle is None or self._pid != os.getpid():
            import h5py

            self._handle = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._handle

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"], state["_pid"] = None, None
        return state

    # -- labels --------------------------------------------------------------------------------
    def labels(self, group: str) -> list[str]:
        """The decoded labels of a group."""
        return [decode_label(v) for v in self.h5[group]["labels"][()]]

    def ids(self, group: str) -> np.ndarray | None:
        node = self.h5[group]
        return node["ids"][()] if "ids" in node else None

    def catalogue(
        self,
        groups: Sequence[str] = ("train_data", "anomaly_data"),
        multi_label: str = "drop",
        drop_labels: Sequence[str] = ("1",),
        unknown: str = "drop",
        dedupe: bool = False,
    ) -> tuple[RoadRows, dict]:
        """Rows of the chosen groups (``anomaly_data`` means all its class groups) with decoded
        classes, and a summary of what was dropped and why. ``dedupe`` keeps only the first row of
        each ``ids`` value (use it when ids name one spectrogram, so a multi-label row that sits in
        two class groups is not counted twice)."""
        check_choice("data.multi_label", multi_label, MULTI_LABEL)
        check_choice("data.unknown_labels", unknown, UNKNOWN)
        for g in groups:
            check_choice("data.groups entry", g, GROUPS)
        chosen = [i for i, name in enumerate(self.groups) if name.split("/")[0] in groups]
        if not chosen:
            raise DataFileError(f"{self.path} has none of the groups {list(groups)}; it has {self.groups}")
        drop_set = {str(d) for d in drop_labels}
        parts, summary = (
            [],
            {
                "dropped_label": 0,
                "dropped_multi_label": 0,
                "dropped_unknown": 0,
                "dropped_duplicate": 0,
                "unknown_labels": [],
            },
        )
        seen_ids: set[bytes] = set()
        for gi in chosen:
            name = self.groups[gi]
            home = name.split("/", 1)[1] if name.startswith("anomaly_data/") else None
            labels = self.labels(name)
            ids = self.ids(name) if dedupe else None
            keep, ys, multis = [], [], []
            for r, text in enumerate(labels):  # label parsing: metadata only, once per file
                if text in drop_set:
                    summary["dropped_label"] += 1
                    continue
                names = [p for p in text.split("-") if p] if text else []
                bad = [p for p in names if p not in ANOMALY_CLASSES]
                if bad:
                    if unknown == "error":
                        raise DataFileError(
                            f"{self.path}: {name} row {r} has label {text!r}; known classes are "
                            f"{list(ANOMALY_CLASSES)} (set data.unknown_labels=drop to skip such rows)"
                        )
                    summary["dropped_unknown"] += 1
                    if text not in summary["unknown_labels"]:
                        summary["unknown_labels"].append(text)
                    continue
                if len(set(names)) > 1 and multi_label == "drop":
                    summary["dropped_multi_label"] += 1
                    continue
                if ids is not None:
                    key = bytes(ids[r])
                    if key in seen_ids:
                        summary["dropped_duplicate"] += 1
                        continue
                    seen_ids.add(key)
                multi = np.zeros(NUM_CLASSES, dtype=bool)
                if names:
                    main = home if home in names else names[0]
                    multi[[CLASS_NAMES.index(p) for p in names]] = True
                else:
                    main = "normal"
                    multi[0] = True
                keep.append(r)
                ys.append(CLASS_NAMES.index(main))
                multis.append(multi)
            n = len(keep)
            parts.append(
                RoadRows(
                    np.full(n, gi, dtype=np.int64),
                    np.asarray(keep, dtype=np.int64),
                    np.asarray(ys, dtype=np.int64),
                    np.asarray(multis, dtype=bool).reshape(n, NUM_CLASSES),
                )
            )
        rows = RoadRows(
            *(np.concatenate([getattr(p, k) for p in parts]) for k in ("group", "row", "y", "labels_multi"))
        )
        summary["rows"] = len(rows)
        summary["classes"] = rows.class_counts()
        return rows, summary

    # -- data ----------------------------------------------------------------------------------
    def read(self, group: np.ndarray, row: np.ndarray) -> Tensor:
        """Spectrograms of ``(group, row)`` pairs as ``(k, 4, T, F)`` float32 (one h5 read per group)."""
        t, f = self.shape
        if len(row) * self.row_bytes > MAX_BATCH_BYTES:
            raise DataFileError(
                f"{self.path}: a batch of {len(row)} rows of {t}x{f}x4 float32 is {len(row) * self.row_bytes} bytes, "
                f"more than the {MAX_BATCH_BYTES}-byte limit; lower data.batch_size"
            )
        out = np.empty((len(row), t, f, 4), dtype=np.float32)
        for gi in np.unique(group):  # a loop over groups
            where = np.nonzero(group == gi)[0]
            wanted = row[where]
            unique, inverse = np.unique(wanted, return_inverse=True)  # h5py wants increasing indices
            try:
                block = self.h5[self.groups[int(gi)]]["data"][unique]
            except (OSError, ValueError) as err:
                raise DataFileError(f"{self.path}: cannot read rows of {self.groups[int(gi)]}/data ({err})") from err
            out[where] = block[inverse.reshape(-1)]
        return torch.from_numpy(out).permute(0, 3, 1, 2)


def _check_declared_sizes(path: str, group: str, data, labels, ids) -> None:
    """Refuse a group whose header declares more than the caps allow (see :data:`MAX_BINS`), so a
    tiny file that claims terabytes gives one line instead of a huge allocation per batch."""
    n, t, f, _ = data.shape
    if data.dtype.kind not in "fiu":
        raise DataFileError(f"{path}: {group}/data holds {data.dtype}; ROAD's data is float32")
    if not (1 <= t <= MAX_BINS and 1 <= f <= MAX_BINS):
        raise DataFileError(
            f"{path}: {group}/data declares {t} x {f} bins per spectrogram; allowed: 1 to {MAX_BINS} each"
        )
    logical = n * t * f * 4 * data.dtype.itemsize
    stored = data.id.get_storage_size()
    if logical > MAX_SPARSE_DATA_BYTES and logical > MAX_STORAGE_RATIO * stored:
        raise DataFileError(
            f"{path}: {group}/data declares shape {data.shape} ({logical} bytes) but the file stores {stored} "
            f"bytes of it; a file must hold at least 1/{MAX_STORAGE_RATIO} of data beyond {MAX_SPARSE_DATA_BYTES} bytes"
        )
    for name, node in (("labels", labels), ("ids", ids)):
        if node is None:
            continue
        if node.dtype.kind not in "SUO":
            raise DataFileError(f"{path}: {group}/{name} holds {node.dtype}; ROAD's {name} are byte strings")
        size = node.size * node.dtype.itemsize
        if size > MAX_LABEL_BYTES:
            raise DataFileError(
                f"{path}: {group}/{name} declares {node.size} entries of {node.dtype.itemsize} bytes ({size} bytes); "
                f"allowed: at most {MAX_LABEL_BYTES} bytes"
            )


# -- preparation -------------------------------------------------------------------------------
def _order_keys(seed: int, n: int, stream: str) -> np.ndarray:
    """A random key per row (pure function of seed and row number)."""
    return CounterRNG(seed, torch.arange(n, dtype=torch.int64)).bits(stream, ()).numpy()


def select_rows(
    rows: RoadRows,
    selection: str = "all",
    n_per_class: int = 50,
    n_normal: int | None = None,
    contamination: Mapping[str, float] | None = None,
    seed: int = 0,
) -> tuple[RoadRows, dict]:
    """Choose the rows to use; returns them and ``{class: (wanted, taken)}`` for the report.

    A class with fewer rows than wanted gives all it has (the report says so)."""
    check_choice("data.selection", selection, SELECTIONS)
    if selection == "all":
        counts = rows.class_counts()
        return rows, {k: (v, v) for k, v in counts.items()}
    keys = _order_keys(seed, len(rows), "road/select")
    have = np.bincount(rows.y, minlength=NUM_CLASSES)
    if selection == "balanced":
        check_range("data.n_per_class", n_per_class, 1, integer=True)
        wanted = np.full(NUM_CLASSES, n_per_class)
    else:
        ratios = dict(ROAD_CONTAMINATION if contamination is None else contamination)
        unknown = [k for k in ratios if k not in ANOMALY_CLASSES]
        if unknown:
            raise ConfigError(f"data.contamination names unknown classes {unknown}; allowed: {list(ANOMALY_CLASSES)}")
        for k, v in ratios.items():
            check_range(f"data.contamination.{k}", v, 0.0)
        normal = int(have[0]) if n_normal is None else check_range("data.n_normal", n_normal, 1, integer=True)
        wanted = np.array([normal] + [int(round(ratios.get(c, 0.0) * normal)) for c in ANOMALY_CLASSES])
    picked = []
    for k in range(NUM_CLASSES):  # a loop over the ten classes
        members = np.nonzero(rows.y == k)[0]
        members = members[np.argsort(keys[members], kind="stable")]
        picked.append(members[: wanted[k]])
    which = np.sort(np.concatenate(picked))
    report = {CLASS_NAMES[k]: (int(wanted[k]), int(min(wanted[k], have[k]))) for k in range(NUM_CLASSES)}
    return rows.take(which), report


def split_rows(
    rows: RoadRows, val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0
) -> dict[str, RoadRows]:
    """A train/val/test split stratified by class (each class cut in the same proportions)."""
    check_range("data.val_fraction", val_fraction, 0.0, 1.0)
    check_range("data.test_fraction", test_fraction, 0.0, 1.0)
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"data.val_fraction + data.test_fraction = {val_fraction + test_fraction} leaves no "
            "training rows; their sum must be below 1"
        )
    keys = _order_keys(seed, len(rows), "road/split")
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLIT_NAMES}
    for k in range(NUM_CLASSES):
        members = np.nonzero(rows.y == k)[0]
        members = members[np.argsort(keys[members], kind="stable")]
        n = members.size
        n_test = int(round(test_fraction * n))
        n_val = int(round(val_fraction * n))
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    return {s: rows.take(np.sort(np.concatenate(p))) for s, p in parts.items()}


def prepare_road(
    road: RoadFile,
    groups: Sequence[str] = ("train_data", "anomaly_data"),
    multi_label: str = "drop",
    drop_labels: Sequence[str] = ("1",),
    unknown_labels: str = "drop",
    dedupe: bool = False,
    selection: str = "balanced",
    n_per_class: int = 50,
    n_normal: int | None = None,
    contamination: Mapping[str, float] | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[dict[str, RoadRows], dict]:
    """Catalogue, select and split a ROAD file; returns the three row sets and a summary."""
    rows, summary = road.catalogue(groups, multi_label, drop_labels, unknown_labels, dedupe)
    chosen, report = select_rows(rows, selection, n_per_class, n_normal, contamination, seed)
    if len(chosen) == 0:
        raise DataFileError(
            f"{road.path}: no rows left after selection={selection!r} (catalogue: {summary['classes']})"
        )
    splits = split_rows(chosen, val_fraction, test_fraction, seed)
    summary["selection"] = {"kind": selection, "per_class": report}
    summary["splits"] = {s: r.class_counts() for s, r in splits.items()}
    return splits, summary


class RoadDataset(torch.utils.data.Dataset):
    """Rows of a ROAD file as batches like the synthetic generator's: ``x`` (B, 4, T, F) float32
    (optionally area-resized to ``size`` x ``size``, then scaled per ``scale``), ``y``,
    ``anomalous``, ``labels_multi`` (B, 10) bool and ``index`` (the item numbers)."""

    def __init__(
        self,
        road: RoadFile,
        rows: RoadRows,
        scale: str = "percentile",
        scale_percentiles: Sequence[float] = (1.0, 99.0),
        size: int | None = None,
        device: str | torch.device = "cpu",
    ):
        check_choice("data.scale", scale, SCALINGS)
        if size is not None:
            check_range("data.size", size, 8, integer=True)
        self.road, self.rows = road, rows
        self.scale, self.scale_percentiles, self.size = scale, tuple(scale_percentiles), size
        self.device = resolve_device(device)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, items: Sequence[int]) -> dict[str, Tensor]:
        which = np.asarray(list(items), dtype=np.int64)
        n = len(self)
        if which.size and (which.min() < -n or which.max() >= n):
            raise IndexError(f"item out of range for a dataset of {n} rows")
        which = np.where(which < 0, which + n, which)
        x = self.road.read(self.rows.group[which], self.rows.row[which]).to(self.device)
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="area")
        x = apply_scaling(x, self.scale, self.scale_percentiles)
        y = torch.from_numpy(self.rows.y[which]).to(self.device)
        return {
            "x": x,
            "y": y,
            "anomalous": (y > 0).to(torch.int64),
            "labels_multi": torch.from_numpy(self.rows.labels_multi[which]).to(self.device),
            "index": torch.from_numpy(which).to(self.device),
        }

    def __getitem__(self, item: int) -> dict[str, Tensor]:
        return {k: v[0] for k, v in self.__getitems__([item]).items()}
