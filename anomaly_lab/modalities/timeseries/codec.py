"""Export of labelled time series: parquet rows, a preview plot, and a long CSV.

Parquet, one row per series (layouts ``published``, and ``with_clean`` which adds the clean series;
format 2):

- ``x`` (and ``clean``): ``(T, C)`` float32 as nested fixed-size lists (``x[t][c]``);
- ``labels``: ``(T, C)`` bool (an anomaly changed channel c at step t); ``label``: ``T`` bool
  (any channel); ``anomalous``: bool;
- ``event_start``, ``event_end`` (one past the last step), ``event_channel`` (-1: all) as lists of
  int32 and ``event_kind`` as a list of kind names, one entry per anomaly;
- ``index``: the sample index.

The file metadata holds ``anomaly_lab.shape`` (``T,C``), ``anomaly_lab.events`` (E, the width the
event fields are padded back to, so every row group reads back alike), the channel names and the
kind names. Format 1 stored ``x``, ``clean`` and ``labels`` flat (``T*C``, step-major) and
``anomalous`` as int64; both read back to the same tensors. The reader takes E from the file only up
to what the data can hold (T*C events a series, and the decode cap), so a header cannot make it
allocate more than the rows it reads.
``write_other("csv", ...)`` writes one line per series and step: ``index, step``, each channel,
``label`` and a ``label_<channel>`` column per channel.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import torch
from torch import Tensor

from anomaly_lab.core.errors import DataFileError, check_choice
from anomaly_lab.io.arrow import (
    FORMAT_KEY,
    FORMAT_VERSION,
    check_allocation,
    check_columns,
    declared_ints,
    dense_array,
    scalar_array,
    tensor_array,
)
from anomaly_lab.io.codec import CodecBase
from anomaly_lab.modalities.timeseries.events import ALL_KINDS

LAYOUTS = ("published", "with_clean")
OTHER_FORMATS = ("csv",)
COLUMNS = {
    "x": ("float", True),
    "clean": ("float", True),
    "labels": ("number", True),
    "label": ("number", True),
    "anomalous": ("number", False),
    "event_start": ("integer", True),
    "event_end": ("integer", True),
    "event_channel": ("integer", True),
    "event_kind": ("string", True),
    "index": ("integer", False),
}


def _cpu(t: Tensor) -> Tensor:
    return t.detach().to("cpu")


def _event_lists(batch: dict[str, Tensor], field: str, valid: np.ndarray) -> pa.Array:
    values = _cpu(batch[field]).numpy()
    counts = valid.sum(1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values[valid].astype(np.int32)))


class TimeSeriesCodec(CodecBase):
    """Arrow tables, previews and CSV files for
    :class:`~anomaly_lab.modalities.timeseries.generator.TimeSeriesGenerator` batches."""

    layouts = LAYOUTS
    other_formats = OTHER_FORMATS

    def __init__(self, generator=None, channel_names: list[str] | None = None):
        self.generator = generator
        self.channel_names = list(getattr(generator, "channel_names", None) or channel_names or [])

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> TimeSeriesCodec:
        names = metadata.get("anomaly_lab.channels")
        return cls(channel_names=names.split(",") if names else None)

    def metadata(self, layout: str) -> dict[str, str]:
        check_choice("export.layout", layout, LAYOUTS)
        meta = {
            "anomaly_lab.dataset": "timeseries",
            FORMAT_KEY: str(FORMAT_VERSION),
            "anomaly_lab.layout": layout,
            "anomaly_lab.kinds": ",".join(ALL_KINDS),
            "anomaly_lab.channels": ",".join(self.channel_names),
        }
        if self.generator is not None:
            meta["anomaly_lab.shape"] = f"{self.generator.length},{self.generator.channels}"
            meta["anomaly_lab.events"] = str(self.generator.event_slots)
        return meta

    def to_table(self, batch: dict[str, Tensor], layout: str = "published") -> pa.Table:
        check_choice("export.layout", layout, LAYOUTS)
        x = _cpu(batch["x"]).to(torch.float32)
        b, t, c = x.shape
        labels = _cpu(batch["labels"]).to(torch.bool)
        kind = _cpu(batch["event_kind"]).numpy()
        valid = kind >= 0
        names = np.array(ALL_KINDS + ("",), dtype=object)[np.where(valid, kind, len(ALL_KINDS))]
        offsets = np.concatenate([[0], np.cumsum(valid.sum(1))]).astype(np.int32)
        cols = {"x": tensor_array(x.numpy())}
        if layout == "with_clean":
            cols["clean"] = tensor_array(_cpu(batch["clean"]).to(torch.float32).numpy())
        cols.update(
            {
                "labels": tensor_array(labels.numpy()),
                "label": tensor_array(labels.any(-1).numpy()),
                "anomalous": pa.array(labels.reshape(b, -1).any(1).numpy()),
                "event_start": _event_lists(batch, "event_start", valid),
                "event_end": _event_lists(batch, "event_end", valid),
                "event_channel": _event_lists(batch, "event_channel", valid),
                "event_kind": pa.ListArray.from_arrays(pa.array(offsets), pa.array(names[valid].tolist(), pa.string())),
            }
        )
        if "index" in batch:
            cols["index"] = pa.array(_cpu(batch["index"]).to(torch.int64).numpy())
        return pa.table(cols).replace_schema_metadata({"anomaly_lab.shape": f"{t},{c}"})

    def from_table(self, table: pa.Table, metadata: dict[str, str] | None = None) -> dict[str, Tensor]:
        """Restore ``x`` (and ``clean``) ``(B, T, C)``, ``labels``, ``label``, ``anomalous``, the event
        fields (padded with -1) and ``index``."""
        metadata, shape = self.read_header(table, metadata, "time-series", 2)
        t, c = shape
        n = table.num_rows
        out = {
            "x": torch.from_numpy(dense_array(table.column("x"), "x", np.float32, (t, c))),
            "labels": torch.from_numpy(dense_array(table.column("labels"), "labels", bool, (t, c))),
        }
        if "clean" in table.column_names:
            out["clean"] = torch.from_numpy(dense_array(table.column("clean"), "clean", np.float32, (t, c)))
        out["label"] = out["labels"].any(-1).to(torch.int64)
        out["anomalous"] = out["label"].any(-1).to(torch.int64)
        lists = {
            name: table.column(name).combine_chunks()
            for name in ("event_start", "event_end", "event_kind", "event_channel")
            if name in table.column_names
        }
        if any(arr.null_count for arr in lists.values()):
            raise DataFileError("the event columns have missing (null) rows")
        counts = np.diff(lists["event_start"].offsets.to_numpy())
        for name, arr in lists.items():
            if not np.array_equal(np.diff(arr.offsets.to_numpy()), counts):
                raise DataFileError(f"column {name!r} lists a different number of events than 'event_start'")
        held = int(counts.max()) if n else 0
        (declared,) = (
            declared_ints(metadata, "anomaly_lab.events", 1, low=0) if "anomaly_lab.events" in metadata else (0,)
        )
        if declared > max(held, t * c):
            raise DataFileError(
                f"anomaly_lab.events={declared} in the file metadata is more than a series of shape ({t}, {c}) "
                f"can hold ({t * c}) and than any row holds ({held}); the file is malformed"
            )
        e = max(declared, held)
        check_allocation("the event fields", (4, n, e), 8)
        slot = np.arange(e)[None, :] < counts[:, None]

        def padded(values: np.ndarray) -> Tensor:
            full = np.full((n, e), -1, dtype=np.int64)
            full[slot] = values
            return torch.from_numpy(full)

        lookup = {name: i for i, name in enumerate(ALL_KINDS)}
        kinds = [lookup.get(k, -1) for k in lists["event_kind"].flatten().to_pylist()]
        out["event_start"] = padded(lists["event_start"].flatten().to_numpy())
        out["event_end"] = padded(lists["event_end"].flatten().to_numpy())
        out["event_kind"] = padded(np.array(kinds, dtype=np.int64))
        out["event_channel"] = (
            padded(lists["event_channel"].flatten().to_numpy())
            if "event_channel" in lists
            else torch.full((n, e), -1, dtype=torch.int64)
        )
        if "index" in table.column_names:
            out["index"] = torch.from_numpy(scalar_array(table.column("index"), "index", np.int64))
        return out

    def check_schema(self, schema: pa.Schema) -> None:
        """Column names and types, before any row is read (one line if they are wrong)."""
        check_columns(
            schema, COLUMNS, "time-series", required=("x", "labels", "event_start", "event_end", "event_kind")
        )

    def preview(self, batch: dict[str, Tensor], path: str) -> None:
        """Plot up to 8 series, channels stacked, anomalous steps shaded and each event named."""
        plot_series(batch, path, self.channel_names)

    def write_other(self, fmt: str, batches: Iterable[dict[str, Tensor]], path: str) -> list[str]:
        check_choice("export.format", fmt, OTHER_FORMATS)
        with open(path, "w") as fh:
            header = None
            for batch in batches:
                x = _cpu(batch["x"]).to(torch.float64).numpy()
                labels = _cpu(batch["labels"]).numpy()
                b, t, c = x.shape
                names = self.channel_names or [f"ch{k}" for k in range(c)]
                if header is None:
                    header = ["index", "step", *names, "label", *[f"label_{n}" for n in names]]
                    fh.write(",".join(header) + "\n")
                index = _cpu(batch["index"]).numpy() if "index" in batch else np.arange(b)
                block = np.concatenate(
                    [
                        np.repeat(index, t)[:, None],
                        np.tile(np.arange(t), b)[:, None],
                        x.reshape(b * t, c),
                        labels.any(-1).reshape(b * t, 1),
                        labels.reshape(b * t, c),
                    ],
                    axis=1,
                )
                fmt_row = ["%d", "%d"] + ["%.9g"] * c + ["%d"] * (c + 1)
                np.savetxt(fh, block, fmt=fmt_row, delimiter=",")
        if header is None:
            raise DataFileError(f"no rows to write to {path}")
        return [path]


def plot_series(batch: dict[str, Tensor], path: str, channel_names: list[str] | None = None, rows: int = 8) -> None:
    """A figure of the first ``rows`` series of ``batch``: each channel (offset for legibility),
    anomalous steps shaded, event kinds written at their starts; saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = _cpu(batch["x"]).to(torch.float32).numpy()
    labels = _cpu(batch["labels"]).numpy()
    n = min(rows, x.shape[0])
    b, t, c = x.shape
    names = channel_names or [f"ch{k}" for k in range(c)]
    fig, axes = plt.subplots(n, 1, figsize=(11, 1.9 * n), squeeze=False)
    for r in range(n):
        ax = axes[r, 0]
        span = np.ptp(x[r], axis=0).max() if t > 1 else 1.0
        for k in range(c):
            shift = -k * 1.2 * max(span, 1e-6)
            ax.plot(x[r, :, k] + shift, lw=0.8, label=names[k] if r == 0 else None)
            hot = np.nonzero(labels[r, :, k])[0]
            ax.scatter(hot, x[r, hot, k] + shift, s=4, color="red", zorder=3)
        anomalous = labels[r].any(-1)
        ax.fill_between(
            np.arange(t), 0, 1, where=anomalous, color="red", alpha=0.12, transform=ax.get_xaxis_transform()
        )
        if "event_kind" in batch:
            kinds, starts = _cpu(batch["event_kind"])[r].tolist(), _cpu(batch["event_start"])[r].tolist()
            for kind, start in zip(kinds, starts):
                if kind >= 0:
                    ax.text(
                        start,
                        1.0,
                        ALL_KINDS[kind],
                        transform=ax.get_xaxis_transform(),
                        fontsize=7,
                        va="top",
                        color="darkred",
                    )
        index = int(_cpu(batch["index"])[r]) if "index" in batch else r
        ax.set_ylabel(f"#{index}", fontsize=8)
        ax.set_yticks([])
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=min(c, 6))
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


#: the codec ``anomaly_lab.io.registry`` finds for files of this dataset
CODEC = TimeSeriesCodec
