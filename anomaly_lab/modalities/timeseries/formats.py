"""Time-series files in the layouts detectors' benchmarks read: TimeEval and TSB-AD.

- ``timeeval`` (TimeEval's canonical format): one CSV a series, columns
  ``timestamp,value-0,...,value-{C-1},is_anomaly`` (``is_anomaly`` 0/1 per step);
- ``tsb_ad`` (TSB-AD's ``TSB-AD-U``/``TSB-AD-M`` files): one CSV a series, the value columns
  then ``Label`` (0/1), which TSB-AD reads as ``df.iloc[:, :-1]`` and ``df["Label"]``.

A step's label is 1 where any channel is anomalous (the batch's ``label``). Values are written with
17 significant digits, so a float32 series reads back exactly. :func:`export_series_files` writes
one file per sample for a split (``{split}-{index:09d}.csv``, ``index`` the sample index); the
reading side is :func:`~anomaly_lab.modalities.timeseries.table.load_table`, which recognises
both layouts and takes their label column as ground truth, not as a channel.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.core.registry import Registry

SeriesWriter = Callable[[np.ndarray, np.ndarray, Sequence], pd.DataFrame]
SERIES_FORMATS: Registry[SeriesWriter] = Registry("time-series file format")

#: label columns of the layouts (the reader drops them from the channels and keeps them as labels)
TIMEEVAL_LABEL, TSB_AD_LABEL = "is_anomaly", "Label"


@SERIES_FORMATS.register("timeeval")
def timeeval_frame(values: np.ndarray, label: np.ndarray, timestamps: Sequence) -> pd.DataFrame:
    """TimeEval: ``timestamp, value-0 .. value-{C-1}, is_anomaly``."""
    frame = pd.DataFrame(values, columns=[f"value-{c}" for c in range(values.shape[1])])
    frame.insert(0, "timestamp", list(timestamps))
    frame[TIMEEVAL_LABEL] = label.astype(np.int64)
    return frame


@SERIES_FORMATS.register("tsb_ad")
def tsb_ad_frame(values: np.ndarray, label: np.ndarray, timestamps: Sequence) -> pd.DataFrame:
    """TSB-AD: the value columns, then ``Label`` (no timestamp column: TSB-AD reads every column but
    the last as data)."""
    frame = pd.DataFrame(values, columns=[f"value-{c}" for c in range(values.shape[1])])
    frame[TSB_AD_LABEL] = label.astype(np.int64)
    return frame


def write_series_file(path: str, fmt: str, values, label, timestamps: Sequence | None = None) -> str:
    """Write one series ``values`` ``(T, C)`` with step labels ``(T,)`` as ``fmt``; returns ``path``."""
    writer = SERIES_FORMATS[fmt].obj
    values = np.asarray(values, dtype=np.float64)
    label = np.asarray(label)
    if values.ndim != 2 or label.shape != (values.shape[0],):
        raise ConfigError(f"a series file needs values (T, C) and labels (T,); got {values.shape} and {label.shape}")
    steps = range(values.shape[0]) if timestamps is None else timestamps
    writer(values, label, steps).to_csv(path, index=False, float_format="%.17g")
    return path


def export_series_files(
    generator,
    out_dir: str,
    fmt: str,
    split: str = "train",
    size: int = 1,
    start: int = 0,
    batch_size: int = 64,
) -> dict:
    """Write rows ``start .. start + size - 1`` of ``split`` from ``generator`` (a
    :class:`~anomaly_lab.modalities.timeseries.TimeSeriesGenerator`) as one ``fmt`` CSV a series
    into ``out_dir``; returns ``{"files": [...], "rows": size}``. A source file's original
    timestamps (its key column) are kept in TimeEval's ``timestamp`` column."""
    from anomaly_lab.core.splits import split_indices
    from anomaly_lab.modalities.timeseries.generator import TimeSeriesGenerator

    SERIES_FORMATS[fmt]  # an unknown format: one line naming the known ones
    if not isinstance(generator, TimeSeriesGenerator):
        raise ConfigError(
            f"export.format={fmt} writes time series; use it with data=timeseries (got {type(generator).__name__})"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r} must be a positive integer")
    os.makedirs(out_dir, exist_ok=True)
    indices = list(split_indices(split, size, start))
    files = []
    for lo in range(0, len(indices), batch_size):  # a loop over batches; each batch is made at once
        chunk = indices[lo : lo + batch_size]
        batch = generator.generate(torch.as_tensor(chunk))
        x, label = batch["x"].cpu().numpy(), batch["label"].cpu().numpy()
        stamps = generator.timestamps(chunk)
        for row, index in enumerate(chunk):  # one file a series: the file writes are the per-sample work
            path = os.path.join(out_dir, f"{split}-{index:09d}.csv")
            files.append(os.path.basename(write_series_file(path, fmt, x[row], label[row], stamps[row])))
    with open(os.path.join(out_dir, f"_series-{split}.json"), "w") as fh:  # a leading _: readers skip it
        json.dump({"format": fmt, "split": split, "start": start, "size": size, "files": files}, fh)
    return {"files": files, "rows": size}
