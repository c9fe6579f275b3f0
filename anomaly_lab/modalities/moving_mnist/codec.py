"""Export of Anomalous Moving MNIST: parquet rows, the seed's ``.npz`` layout, previews (PNG strip, GIF).

Parquet (layout ``published``, one row per sequence): ``frames`` is a fixed-size list of T*H*W
uint8 pixels (frame, row, column); ``frame_labels`` T int8 flags; ``masks`` T*H*W booleans (stored
as bits); ``anomaly_kind`` (0 normal, else 1 + the kind's position in ``anomaly_lab.kinds``);
``anomalous``; ``affected_digits``, ``digit_labels``, ``clusters`` (one per digit); ``positions``
(T*D*2 int16, x then y); ``index``. The file metadata records the shape ``T,1,H,W``, the number of
digits, the kind names and whether the generator gave uint8 or float frames.

``write_other("npz", ...)`` writes the notebook's file: ``<split>.npz`` holding one array
``anommnist`` (N, T, 1, H, W) uint8 (``numpy.load(f)["anommnist"]``), streamed batch by batch so
memory stays bounded, and the per-frame labels the notebook never saved beside it as
``<split>.labels.npy`` (N, T) uint8.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import torch
from PIL import Image
from torch import Tensor

from anomaly_lab.core.errors import DataFileError, check_choice
from anomaly_lab.modalities.moving_mnist.anomalies import KINDS
from anomaly_lab.viz.preview import frame_grid

LAYOUTS = ("published",)
OTHER_FORMATS = ("npz",)
NPZ_KEY = "anommnist"


def _fixed(values: np.ndarray, width: int) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(values).reshape(-1)), width)


def _column(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name).combine_chunks()
    if pa.types.is_fixed_size_list(col.type):
        col = col.flatten()
    return col.to_numpy(zero_copy_only=False)


def frames_uint8(frames: Tensor) -> Tensor:
    """uint8 pixels on the CPU from uint8 frames or float frames in [0, 1]."""
    frames = frames.detach().cpu()
    if frames.dtype == torch.uint8:
        return frames
    return (frames.to(torch.float32) * 255.0).round().clamp(0, 255).to(torch.uint8)


class MovingMnistCodec:
    """Arrow tables, ``.npz`` files and previews for
    :class:`~anomaly_lab.modalities.moving_mnist.MovingMnistGenerator` batches (``frames`` (B, T, 1, H, W),
    ``frame_labels`` (B, T), ``masks`` (B, T, 1, H, W), ...)."""

    layouts = LAYOUTS
    other_formats = OTHER_FORMATS

    def __init__(self, generator=None, output: str = "uint8"):
        self.generator = generator
        self.output = getattr(generator, "output", output)

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> MovingMnistCodec:
        return cls(output=metadata.get("anomaly_lab.output", "uint8"))

    # -- parquet -------------------------------------------------------------------------------
    def metadata(self, layout: str = "published") -> dict[str, str]:
        check_choice("export.layout", layout, LAYOUTS)
        meta = {
            "anomaly_lab.dataset": "moving_mnist",
            "anomaly_lab.layout": layout,
            "anomaly_lab.kinds": ",".join(KINDS),
            "anomaly_lab.output": self.output,
        }
        g = self.generator
        if g is not None:
            meta["anomaly_lab.shape"] = f"{g.seq_len},1,{g.frame_size},{g.frame_size}"
            meta["anomaly_lab.num_digits"] = str(g.num_digits)
        return meta

    def to_table(self, batch: dict[str, Tensor], layout: str = "published") -> pa.Table:
        check_choice("export.layout", layout, LAYOUTS)
        frames = frames_uint8(batch["frames"])
        b, t, c, h, w = frames.shape
        labels = batch["frame_labels"].detach().cpu()
        cols = {
            "frames": _fixed(frames.numpy(), t * c * h * w),
            "frame_labels": _fixed(labels.to(torch.int8).numpy(), t),
            "masks": _fixed(batch["masks"].detach().cpu().to(torch.bool).numpy(), t * c * h * w),
            "anomaly_kind": pa.array(batch["anomaly_kind"].detach().cpu().to(torch.int8).numpy()),
            "anomalous": pa.array(labels.any(1).numpy()),
        }
        for key, dtype in (("affected_digits", torch.bool), ("digit_labels", torch.int8), ("clusters", torch.int16)):
            if key in batch:
                cols[key] = _fixed(batch[key].detach().cpu().to(dtype).numpy(), batch[key].shape[1])
        if "positions" in batch:
            pos = batch["positions"].detach().cpu()
            cols["positions"] = _fixed(pos.to(torch.int16).numpy(), pos[0].numel())
        if "index" in batch:
            cols["index"] = pa.array(batch["index"].detach().cpu().to(torch.int64).numpy())
        table = pa.table(cols)
        return table.replace_schema_metadata({"anomaly_lab.shape": f"{t},{c},{h},{w}"})

    def from_table(self, table: pa.Table, metadata: dict[str, str] | None = None) -> dict[str, Tensor]:
        """Restore the batch dict (frames as uint8, or float32 when the generator gave floats)."""
        metadata = {
            **(metadata or {}),
            **{
                k.decode(): v.decode()
                for k, v in (table.schema.metadata or {}).items()
                if k.startswith(b"anomaly_lab.")
            },
        }
        missing = [c for c in ("frames", "frame_labels", "masks") if c not in table.column_names]
        if missing:
            raise DataFileError(f"table has columns {table.column_names}; a moving_mnist file also needs {missing}")
        shape = metadata.get("anomaly_lab.shape")
        if not shape:
            raise DataFileError(
                "moving_mnist table has no 'anomaly_lab.shape' metadata; it was not written by this codec"
            )
        t, c, h, w = (int(v) for v in shape.split(","))
        n = table.num_rows
        frames = _column(table, "frames")
        if frames.size != n * t * c * h * w:
            raise DataFileError(f"frames hold {frames.size} values for {n} rows of shape {(t, c, h, w)}")
        out = {
            "frames": torch.from_numpy(np.array(frames, dtype=np.uint8)).reshape(n, t, c, h, w),
            "frame_labels": torch.from_numpy(_column(table, "frame_labels").astype(np.int64)).reshape(n, t),
            "masks": torch.from_numpy(np.array(_column(table, "masks"), dtype=bool)).reshape(n, t, c, h, w),
            "anomaly_kind": torch.from_numpy(_column(table, "anomaly_kind").astype(np.int64)),
        }
        if metadata.get("anomaly_lab.output", self.output) == "float":
            out["frames"] = out["frames"].to(torch.float32) / 255.0
        for key in ("affected_digits", "digit_labels", "clusters"):
            if key in table.column_names:
                v = _column(table, key)
                v = np.array(v, dtype=bool) if key == "affected_digits" else v.astype(np.int64)
                out[key] = torch.from_numpy(v).reshape(n, -1)
        if "positions" in table.column_names:
            out["positions"] = torch.from_numpy(_column(table, "positions").astype(np.int64)).reshape(n, t, -1, 2)
        if "index" in table.column_names:
            out["index"] = torch.from_numpy(_column(table, "index").astype(np.int64))
        return out

    # -- previews ------------------------------------------------------------------------------
    def preview(self, batch: dict[str, Tensor], path: str) -> None:
        """A strip per sequence at ``path`` (anomalous frames boxed in red, the kind written on the
        left) and an animation of all sequences at ``<path without extension>.gif``.

        A batch without any anomalous sequence (a training split) is shown with the generator at
        hand as pairs: each of its first sequences, then the same sequence made anomalous."""
        if self.generator is not None and "index" in batch and not bool(batch["frame_labels"].any()):
            idx = batch["index"].detach().to("cpu", torch.int64)[: max(1, len(batch["index"]) // 2)]
            anomalous = self.generator.with_anomaly_fraction(1.0).generate(idx)
            batch = {
                key: torch.stack([batch[key][: len(idx)].detach().cpu(), anomalous[key].detach().cpu()], 1).flatten(
                    0, 1
                )
                for key in ("frames", "frame_labels", "anomaly_kind")
            }
        frames = frames_uint8(batch["frames"])[:, :, 0].numpy()
        boxed = batch["frame_labels"].detach().cpu().numpy() > 0
        kinds = batch["anomaly_kind"].detach().cpu().tolist() if "anomaly_kind" in batch else [0] * len(frames)
        names = ["normal" if k == 0 else KINDS[k - 1] for k in kinds]
        frame_grid(frames, boxed, names).save(path)
        write_gif(frames, boxed, os.path.splitext(path)[0] + ".gif")

    # -- the seed's npz ------------------------------------------------------------------------
    def write_other(self, fmt: str, batches: Iterable[dict[str, Tensor]], path: str) -> list[str]:
        check_choice("export.format", fmt, OTHER_FORMATS)
        if not path.endswith(".tmp"):
            raise ValueError(f"write_other expects a path ending in .tmp, got {path!r}")
        final = path[:-4]
        stem = final[:-4] if final.endswith(".npz") else final
        labels_path = f"{stem}.labels.npy.tmp"
        return write_npz(batches, path, labels_path)


def write_npz(batches: Iterable[dict[str, Tensor]], npz_path: str, labels_path: str) -> list[str]:
    """Stream ``batches`` into ``npz_path`` (one array ``anommnist`` (N, T, 1, H, W) uint8, as
    ``numpy.savez`` writes it) and their frame labels into ``labels_path`` ((N, T) uint8 ``.npy``).

    Pixels go to a scratch file first (the row count is known only at the end), then into the
    archive behind an ``.npy`` header; memory holds one batch and the labels."""
    written = [npz_path, labels_path]
    scratch_dir = os.path.dirname(os.path.abspath(npz_path))
    shape = None
    labels = []
    with tempfile.TemporaryFile(dir=scratch_dir) as raw:
        for batch in batches:
            frames = frames_uint8(batch["frames"])
            if shape is not None and tuple(frames.shape[1:]) != shape:
                raise ValueError(f"batches have frames of shape {tuple(frames.shape[1:])} and {shape}")
            shape = tuple(frames.shape[1:])
            raw.write(frames.contiguous().numpy().tobytes())
            labels.append(batch["frame_labels"].detach().cpu().to(torch.uint8).numpy())
        if shape is None:
            raise ValueError("no batches to write")
        n = sum(len(x) for x in labels)
        raw.seek(0)
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
            "fortran_order": False,
            "shape": (n, *shape),
        }
        with zipfile.ZipFile(npz_path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            with zf.open(f"{NPZ_KEY}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(member, header)
                shutil.copyfileobj(raw, member, 1 << 20)
    with open(labels_path, "wb") as fh:
        np.save(fh, np.concatenate(labels))
    return written


def write_gif(frames: np.ndarray, boxed: np.ndarray, path: str, scale: int = 2, duration_ms: int = 150) -> None:
    """Animate ``frames`` ``(rows, T, H, W)`` uint8: GIF frame ``t`` shows every sequence's frame
    ``t`` side by side, boxed in red where ``boxed`` ``(rows, T)`` is set."""
    rows, steps = frames.shape[:2]
    cols = min(rows, 8)
    pictures = []
    for t in range(steps):  # one picture per time step
        tiles = np.zeros((-(-rows // cols) * cols,) + frames.shape[2:], dtype=np.uint8)
        tiles[:rows] = frames[:, t]
        marks = np.zeros(len(tiles), dtype=bool)
        marks[:rows] = boxed[:, t]
        grid = frame_grid(tiles.reshape(-1, cols, *frames.shape[2:]), marks.reshape(-1, cols), scale=scale)
        pictures.append(grid.convert("P", palette=Image.ADAPTIVE, colors=64))
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=duration_ms, loop=0)
