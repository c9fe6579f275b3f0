"""Export of synthetic spectrograms: parquet rows, a labelled preview, and ``.h5`` files in ROAD's layout.

Parquet layouts (one row per spectrogram; format 2):

- ``published``: ``x`` is ``(4, T, F)`` float32 (polarisation, time, frequency) as nested
  fixed-size lists, the precision of ROAD's own file;
- ``compact``: float16 values of each plane divided by its largest magnitude, with those
  per-plane factors in ``x_scale`` (4 float32 per row), so raw magnitudes (about 1e8, beyond
  float16's range) keep a relative error below 1e-3 in half the bytes: ``x * x_scale[:, None, None]``.

Both hold ``y`` (class id, int64), ``label`` (class name, ``''`` for normal, as in ROAD),
``anomalous`` (bool), ``mask`` (``(T, F)`` bool, stored as bits) and ``index`` (int64). The file
metadata records the shape, the class names and the scaling. Format 1 stored ``x`` and ``mask``
flat and ``anomalous`` as int64; both read back to the same tensors.

``write_other("h5", ...)`` writes ROAD's layout, so :mod:`anomaly_lab.modalities.spectrogram.road` reads synthetic
and real files alike: groups ``train_data``, ``test_data`` and ``anomaly_data/<class>``, each with
``data`` (N, T, F, 4) float32, ``labels``, ``source``, ``ids`` (S100), ``frequency_band``
(N, T, F, 1) float32 in MHz, and, beyond ROAD's layout, ``mask`` (N, T, F) uint8. A ``test`` split
goes whole into ``test_data`` (like ROAD's test set); other splits put normal spectrograms in
``train_data`` and each anomaly in ``anomaly_data/<its class>``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from anomaly_lab.core.errors import DataFileError, check_choice
from anomaly_lab.io.arrow import (
    FORMAT_KEY,
    FORMAT_VERSION,
    check_columns,
    dense_array,
    scalar_array,
    tensor_array,
)
from anomaly_lab.io.codec import CodecBase
from anomaly_lab.modalities.spectrogram.classes import ANOMALY_CLASSES, CLASS_NAMES, NUM_CLASSES
from anomaly_lab.modalities.spectrogram.scaling import percentile_scale
from anomaly_lab.viz.preview import frame_grid

LAYOUTS = ("published", "compact")
OTHER_FORMATS = ("h5",)
ROAD_STRING = "S100"
COLUMNS = {
    "x": ("float", True),
    "x_scale": ("float", True),
    "y": ("integer", False),
    "label": ("string", False),
    "anomalous": ("number", False),
    "mask": ("number", True),
    "index": ("integer", False),
}
_ROAD_LABELS = np.array([b""] + [c.encode() for c in ANOMALY_CLASSES], dtype=ROAD_STRING)


class SpectrogramCodec(CodecBase):
    """Arrow tables, previews and ROAD-layout ``.h5`` files for
    :class:`~anomaly_lab.modalities.spectrogram.SpectrogramGenerator` batches (``x`` (B, 4, T, F),
    ``y``, ``anomalous`` (B,), ``mask`` (B, T, F))."""

    layouts = LAYOUTS
    other_formats = OTHER_FORMATS

    def __init__(self, generator=None, band_mhz: tuple[float, float] = (110.0, 190.0), scale: str = "percentile"):
        self.generator = generator
        self.band_mhz = tuple(getattr(generator, "band_mhz", band_mhz))
        self.scale = getattr(generator, "scale", scale)

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> SpectrogramCodec:
        band = metadata.get("anomaly_lab.band_mhz")
        return cls(
            band_mhz=tuple(float(v) for v in band.split(",")) if band else (110.0, 190.0),
            scale=metadata.get("anomaly_lab.scale", "percentile"),
        )

    # -- parquet -------------------------------------------------------------------------------
    def metadata(self, layout: str) -> dict[str, str]:
        check_choice("export.layout", layout, LAYOUTS)
        meta = {
            "anomaly_lab.dataset": "spectrogram",
            FORMAT_KEY: str(FORMAT_VERSION),
            "anomaly_lab.layout": layout,
            "anomaly_lab.classes": ",".join(CLASS_NAMES),
            "anomaly_lab.polarisations": "XX,XY,YX,YY",
            "anomaly_lab.scale": str(self.scale),
            "anomaly_lab.band_mhz": ",".join(repr(b) for b in self.band_mhz),
        }
        if self.generator is not None:
            meta["anomaly_lab.shape"] = f"4,{self.generator.time_bins},{self.generator.freq_bins}"
        return meta

    def to_table(self, batch: dict[str, Tensor], layout: str = "published") -> pa.Table:
        check_choice("export.layout", layout, LAYOUTS)
        x = batch["x"].detach().to("cpu")
        b, c, t, f = x.shape
        extra = {}
        if layout == "published":
            values = x.to(torch.float32).numpy()
        else:
            peak = x.abs().amax((2, 3)).to(torch.float32)
            peak = torch.where(peak > 0, peak, torch.ones_like(peak))
            values = (x / peak[:, :, None, None]).to(torch.float16).numpy()
            extra["x_scale"] = tensor_array(peak.numpy())
        y = batch["y"].detach().to("cpu", torch.int64).numpy()
        mask = batch["mask"].detach().to("cpu", torch.bool).numpy()
        cols = {
            "x": tensor_array(values),
            **extra,
            "y": pa.array(y),
            "label": pa.array(_ROAD_LABELS[y].astype(str)),
            "anomalous": pa.array(y > 0),
            "mask": tensor_array(mask),
        }
        if "index" in batch:
            cols["index"] = pa.array(batch["index"].detach().to("cpu", torch.int64).numpy())
        table = pa.table(cols)
        return table.replace_schema_metadata({"anomaly_lab.shape": f"{c},{t},{f}"})

    def from_table(self, table: pa.Table, metadata: dict[str, str] | None = None) -> dict[str, Tensor]:
        """Restore ``x`` (B, 4, T, F) float32, ``y``, ``anomalous``, ``mask`` and ``index``."""
        metadata, shape = self.read_header(table, metadata, "spectrogram", 3)
        c, t, f = shape
        out = {
            "x": torch.from_numpy(dense_array(table.column("x"), "x", np.float32, (c, t, f))),
            "y": torch.from_numpy(scalar_array(table.column("y"), "y", np.int64)),
            "mask": torch.from_numpy(dense_array(table.column("mask"), "mask", bool, (t, f))),
        }
        if "x_scale" in table.column_names:
            peak = dense_array(table.column("x_scale"), "x_scale", np.float32, (c,))
            out["x"] *= torch.from_numpy(peak).reshape(-1, c, 1, 1)
        out["anomalous"] = (out["y"] > 0).to(torch.int64)
        if "index" in table.column_names:
            out["index"] = torch.from_numpy(scalar_array(table.column("index"), "index", np.int64))
        return out

    def check_schema(self, schema: pa.Schema) -> None:
        """Column names and types, before any row is read (one line if they are wrong)."""
        check_columns(schema, COLUMNS, "spectrogram", required=("x", "y", "mask"))

    # -- preview -------------------------------------------------------------------------------
    def preview(self, batch: dict[str, Tensor], path: str) -> None:
        """One spectrogram per class a row (XX, XY, YX, YY and the anomaly mask), labelled.

        With the generator at hand, each class is made afresh at the batch's first indices;
        otherwise the first example of each class present in ``batch`` is drawn."""
        if self.generator is not None:
            base = int(batch["index"].min()) if "index" in batch else 0
            idx = torch.arange(base, base + NUM_CLASSES, dtype=torch.int64)
            rows = self.generator.generate(idx, classes=torch.arange(NUM_CLASSES))
        else:
            y = batch["y"].detach().to("cpu")
            first = [int(torch.nonzero(y == k)[0]) for k in range(NUM_CLASSES) if bool((y == k).any())]
            rows = {k: batch[k].detach().to("cpu")[first] for k in ("x", "y", "mask")}
        labelled_grid(rows["x"], rows["mask"], [CLASS_NAMES[int(k)] for k in rows["y"].tolist()]).save(path)

    # -- ROAD-layout h5 ------------------------------------------------------------------------
    def write_other(self, fmt: str, batches: Iterable[dict[str, Tensor]], path: str) -> list[str]:
        check_choice("export.format", fmt, OTHER_FORMATS)
        split = os.path.basename(path).split(".")[0]
        write_road_h5(path, batches, band_mhz=self.band_mhz, all_to_test=split == "test")
        return [path]


def display_planes(x: Tensor) -> np.ndarray:
    """``(B, C, T, F)`` spectrograms as uint8 planes for pictures: each plane scaled by its
    1st-99th percentiles (a no-op on data already scaled so), time running downwards."""
    scaled = percentile_scale(x.detach().to("cpu", torch.float32))
    return (scaled * 255).round().to(torch.uint8).numpy()


def labelled_grid(x: Tensor, mask: Tensor, labels: list[str]) -> Image.Image:
    """A grid, one spectrogram a row, columns XX, XY, YX, YY and the mask, with row labels and
    column titles. ``x`` (B, 4, T, F), ``mask`` (B, T, F)."""
    planes = display_planes(x)
    masks = mask.detach().to("cpu", torch.uint8).numpy()[:, None] * 255
    frames = np.concatenate([planes, masks], axis=1)
    t = frames.shape[2]
    scale = max(1, 128 // t)
    grid = frame_grid(frames, row_labels=labels, scale=scale)
    label_width = 8 + 6 * max(len(s) for s in labels)
    header = 14
    canvas = Image.new("RGB", (grid.width, grid.height + header), (255, 255, 255))
    canvas.paste(grid, (0, header))
    draw = ImageDraw.Draw(canvas)
    cell = frames.shape[3] * scale + 4
    for k, title in enumerate(("XX", "XY", "YX", "YY", "mask")):
        draw.text((label_width + k * cell + cell // 2 - 3 * len(title), 2), title, fill=(0, 0, 0))
    return canvas


def _append(group, name: str, values: np.ndarray) -> None:
    ds = group[name]
    n = ds.shape[0]
    ds.resize(n + len(values), axis=0)
    ds[n:] = values


def _road_groups(h5, t: int, f: int) -> dict[str, object]:
    """Create every group of ROAD's layout with empty, growable datasets."""
    groups = {"train_data": h5.create_group("train_data"), "test_data": h5.create_group("test_data")}
    anomaly = h5.create_group("anomaly_data")
    for name in ANOMALY_CLASSES:
        groups[name] = anomaly.create_group(name)
    for grp in groups.values():
        grp.create_dataset("data", shape=(0, t, f, 4), maxshape=(None, t, f, 4), dtype="float32", chunks=(1, t, f, 4))
        grp.create_dataset(
            "frequency_band", shape=(0, t, f, 1), maxshape=(None, t, f, 1), dtype="float32", chunks=(1, t, f, 1)
        )
        grp.create_dataset("mask", shape=(0, t, f), maxshape=(None, t, f), dtype="uint8", chunks=(1, t, f))
        for key in ("labels", "source", "ids"):
            grp.create_dataset(key, shape=(0,), maxshape=(None,), dtype=ROAD_STRING, chunks=(1024,))
    return groups


def write_road_h5(
    path: str,
    batches: Iterable[dict[str, Tensor]],
    band_mhz: tuple[float, float] = (110.0, 190.0),
    all_to_test: bool = False,
) -> None:
    """Write ``batches`` to ``path`` in ROAD's ``.h5`` layout (see the module docstring)."""
    import h5py

    with h5py.File(path, "w") as h5:
        h5.attrs["anomaly_lab.dataset"] = "spectrogram"
        h5.attrs["anomaly_lab.classes"] = ",".join(CLASS_NAMES)
        groups = None
        for batch in batches:
            x = batch["x"].detach().to("cpu", torch.float32)
            b, _, t, f = x.shape
            if groups is None:
                groups = _road_groups(h5, t, f)
                lo, hi = band_mhz
                channel_mhz = lo + (hi - lo) * (np.arange(f, dtype=np.float32) + 0.5) / f
                band_plane = np.broadcast_to(channel_mhz[None, None, :, None], (1, t, f, 1))
            data = x.permute(0, 2, 3, 1).contiguous().numpy()
            y = batch["y"].detach().to("cpu", torch.int64).numpy()
            mask = batch["mask"].detach().to("cpu", torch.uint8).numpy()
            index = batch["index"].detach().to("cpu", torch.int64).numpy() if "index" in batch else np.full(b, -1)
            ids = np.char.add(b"anomaly_lab-", index.astype(ROAD_STRING)).astype(ROAD_STRING)
            destination = np.zeros(b, dtype=np.int64) if all_to_test else y
            names = ["test_data"] if all_to_test else ["train_data", *ANOMALY_CLASSES]
            for k, name in enumerate(names):  # a loop over groups, not samples
                rows = np.nonzero(destination == k)[0]
                if rows.size == 0:
                    continue
                grp = groups[name]
                _append(grp, "data", data[rows])
                _append(grp, "frequency_band", np.broadcast_to(band_plane, (rows.size, t, f, 1)))
                _append(grp, "mask", mask[rows])
                _append(grp, "labels", _ROAD_LABELS[y[rows]])
                _append(grp, "source", np.full(rows.size, b"anomaly_lab.spectrogram", dtype=ROAD_STRING))
                _append(grp, "ids", ids[rows])
        if groups is None:
            raise DataFileError(f"no rows to write to {path}")


#: the codec ``anomaly_lab.io.registry`` finds for files of this dataset
CODEC = SpectrogramCodec
