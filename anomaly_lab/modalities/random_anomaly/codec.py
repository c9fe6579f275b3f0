"""Parquet rows of RandomAnomaly sequences, in the published layout or a compact one.

``published``: the columns of the released files, ``x: list<list<float32>>`` (T+1 frames of S*S
values, row-major) and ``y: list<int64>`` (T+1 labels), so ``pandas.read_parquet`` gives the same row
shape as the published files. This layout is the released files' own, so it is unchanged in
format 2 (its frames stay flat: S = sqrt of a frame's length).

``compact`` (format 2): ``x: fixed_size_list<fixed_size_list<fixed_size_list<uint8|float16, S>, S>, T>``
holds the T content frames as ``(T, S, S)`` in pixel space [0, 1] (uint8: x*255 rounded; float16:
as is); the blank frame is not stored (it is all zeros in normalised space by definition). The
file metadata states the recipe: ``normalised = stored * anomaly_lab.x_scale + anomaly_lab.x_offset``
(the reader computes it as ``(stored / 255 - mean) / std``), then one frame of zeros appended.
``y`` is a fixed-size int64 list of T+1 (T per-frame flags, then the anomalous frame's slot), plus
``index``, ``digit``, ``recipe_a`` and ``recipe_b`` int64 columns. Format 1 stored each compact frame
flat (S*S); both read back alike. uint8 frames are about 4x smaller than float32 before
compression and restore to within 0.5/255 of the pixel value.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import torch
from torch import Tensor

from anomaly_lab.core.errors import DataFileError, check_choice
from anomaly_lab.io.arrow import (
    FORMAT_KEY,
    FORMAT_VERSION,
    check_columns,
    dense_array,
    file_format,
    list_array,
    nested_list_array,
    row_shape,
    scalar_array,
    tensor_array,
)
from anomaly_lab.io.codec import CodecBase
from anomaly_lab.viz.preview import frame_grid

LAYOUTS = ("published", "compact")
FRAME_DTYPES = ("uint8", "float16")
EXTRA_COLUMNS = ("index", "digit", "recipe_a", "recipe_b")
COLUMNS = {
    "x": ("number", True),
    "y": ("integer", True),
    **{key: ("integer", False) for key in EXTRA_COLUMNS},
}


class RandomAnomalyCodec(CodecBase):
    """Arrow tables and previews for :class:`~anomaly_lab.modalities.random_anomaly.generator.RandomAnomalyGenerator`
    batches (``x`` (B, T+1, 1, S, S) float32, ``y`` (B, T+1) int64)."""

    layouts = LAYOUTS
    other_formats: tuple[str, ...] = ()

    def __init__(
        self,
        generator=None,
        frame_dtype: str = "uint8",
        mean: float = 0.1307,
        std: float = 0.3081,
        recipe_names: list[str] | None = None,
    ):
        check_choice("export.frame_dtype", frame_dtype, FRAME_DTYPES)
        self.frame_dtype = frame_dtype
        self.mean = float(getattr(generator, "mean", mean))
        self.std = float(getattr(generator, "std", std))
        self.recipe_names = list(getattr(generator, "recipe_names", recipe_names or []))

    def configure(self, frame_dtype: str | None = None, **_: object) -> RandomAnomalyCodec:
        """Apply export options (``export.frame_dtype``); unknown options are ignored."""
        if frame_dtype is not None:
            check_choice("export.frame_dtype", frame_dtype, FRAME_DTYPES)
            self.frame_dtype = frame_dtype
        return self

    # -- writing -----------------------------------------------------------------------------
    def metadata(self, layout: str) -> dict[str, str]:
        check_choice("export.layout", layout, LAYOUTS)
        meta = {
            "anomaly_lab.dataset": "random_anomaly",
            FORMAT_KEY: str(FORMAT_VERSION),
            "anomaly_lab.layout": layout,
            "anomaly_lab.mean": repr(self.mean),
            "anomaly_lab.std": repr(self.std),
        }
        if layout == "compact":
            divisor = 255.0 if self.frame_dtype == "uint8" else 1.0
            meta["anomaly_lab.frame_dtype"] = self.frame_dtype
            meta["anomaly_lab.recipes"] = ",".join(self.recipe_names)
            meta["anomaly_lab.x_scale"] = repr(1.0 / (divisor * self.std))
            meta["anomaly_lab.x_offset"] = repr(-self.mean / self.std)
            meta["anomaly_lab.decode"] = (
                f"x holds the first T of T+1 frames, (T, S, S) {self.frame_dtype} in pixel space; "
                "normalised = x * anomaly_lab.x_scale + anomaly_lab.x_offset "
                f"(= (x / {divisor:g} - mean) / std); frame T, not stored, is all zeros once normalised; "
                "y holds T+1 int64: T per-frame flags (1: the anomalous frame), then the anomalous frame's slot"
            )
        return meta

    def to_table(self, batch: dict[str, Tensor], layout: str = "published") -> pa.Table:
        check_choice("export.layout", layout, LAYOUTS)
        x = batch["x"].detach().to("cpu", torch.float32)
        y = batch["y"].detach().to("cpu", torch.int64).numpy()
        b, steps = x.shape[0], x.shape[1]
        pixels = x.shape[-1] * x.shape[-2]
        if layout == "published":
            xa = nested_list_array(x.reshape(b, steps, pixels).numpy(), steps, pixels)
            return pa.table({"x": xa, "y": list_array(y)})
        content = (x[:, :-1].reshape(b, steps - 1, pixels) * self.std + self.mean).clamp_(0.0, 1.0)
        if self.frame_dtype == "uint8":
            frames = torch.round(content * 255.0).to(torch.uint8).numpy()
        else:
            frames = content.to(torch.float16).numpy()
        side = x.shape[-1]
        cols = {"x": tensor_array(frames.reshape(b, steps - 1, x.shape[-2], side)), "y": list_array(y, fixed=True)}
        for key in EXTRA_COLUMNS:
            if key in batch:
                cols[key] = pa.array(batch[key].detach().to("cpu", torch.int64).numpy())
        return pa.table(cols)

    # -- reading -----------------------------------------------------------------------------
    def check_schema(self, schema: pa.Schema) -> None:
        """Column names and types, before any row is read (one line if they are wrong)."""
        if "x" not in schema.names or "y" not in schema.names:
            raise DataFileError(f"table has columns {schema.names}; a RandomAnomaly file needs 'x' and 'y'")
        check_columns(schema, COLUMNS, "RandomAnomaly")

    def from_table(self, table: pa.Table, metadata: dict[str, str] | None = None) -> dict[str, Tensor]:
        """Restore ``{"x", "y"}`` (plus any extra int columns) from a table of either layout, written in
        format 1 (flat compact frames) or 2 (``(T, S, S)`` compact frames)."""
        metadata = metadata or {}
        file_format(metadata)
        self.check_schema(table.schema)
        layout = metadata.get("anomaly_lab.layout", "published")
        n = table.num_rows
        if n == 0:
            return {"x": torch.zeros(0, 0, 1, 0, 0), "y": torch.zeros(0, 0, dtype=torch.int64)}
        y = dense_array(table.column("y"), "y", np.int64)
        steps = y.shape[1]
        stored_frames = steps - 1 if layout == "compact" else steps
        if stored_frames < 1:
            raise DataFileError(f"y holds {steps} labels a row; a {layout} RandomAnomaly row needs at least 2")
        found = row_shape(table.column("x"), "x")
        values_per_row = int(np.prod(found[0]))
        if values_per_row % stored_frames:
            raise DataFileError(f"x holds {values_per_row} values a row, not a whole number of {stored_frames} frames")
        pixels = values_per_row // stored_frames
        side = int(round(pixels**0.5))
        if side * side != pixels:
            raise DataFileError(f"frames of {pixels} values are not square images")
        # stored as uint8, float16 or float32: kept as stored until decoded below
        frames = torch.from_numpy(dense_array(table.column("x"), "x", None, (stored_frames, 1, side, side), found))
        if layout == "compact":
            mean = float(metadata.get("anomaly_lab.mean", self.mean))
            std = float(metadata.get("anomaly_lab.std", self.std))
            pix = frames.to(torch.float32)
            if frames.dtype == torch.uint8:
                pix = pix / 255.0
            content = (pix - mean) / std
            frames = torch.cat([content, torch.zeros(n, 1, 1, side, side)], dim=1)
        out = {"x": frames.to(torch.float32).contiguous(), "y": torch.from_numpy(y)}
        for key in EXTRA_COLUMNS:
            if key in table.column_names:
                out[key] = torch.from_numpy(scalar_array(table.column(key), key, np.int64))
        return out

    # -- preview -----------------------------------------------------------------------------
    def preview(self, batch: dict[str, Tensor], path: str) -> None:
        """One sequence a row (T frames and the blank), the anomalous frame boxed in red."""
        x = batch["x"].detach().to("cpu", torch.float32)
        y = batch["y"].detach().to("cpu", torch.int64)
        pix = ((x[:, :, 0] * self.std + self.mean).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        steps = x.shape[1]
        boxed = np.zeros(pix.shape[:2], dtype=bool)
        boxed[:, : steps - 1] = y[:, : steps - 1].numpy() == 1
        labels = None
        if "recipe_a" in batch and self.recipe_names:
            a, b = batch["recipe_a"].tolist(), batch["recipe_b"].tolist()
            labels = [f"{self.recipe_names[i]} / {self.recipe_names[j]}" for i, j in zip(a, b)]
        frame_grid(pix, boxed, labels).save(path)

    def write_other(self, fmt, batches, path):  # pragma: no cover - no other formats
        raise NotImplementedError(f"random_anomaly has no export format {fmt!r}")


#: the codec ``anomaly_lab.io.registry`` finds for files of this dataset
CODEC = RandomAnomalyCodec
