"""Export of Anomalous Moving MNIST: parquet rows, the seed's ``.npz`` layout, previews (PNG strip, GIF).

Parquet (layout ``published``, one row per sequence; format 2): ``frames`` is ``(T, H, W)`` uint8
pixels as nested fixed-size lists (``(T, C, H, W)`` when C > 1); ``frame_labels`` T bool flags;
``masks`` ``(T, H, W)`` bool (stored as bits); ``anomaly_kind`` int64 (0 normal, else 1 + the kind's
position in ``anomaly_lab.kinds``); ``anomalous`` bool; ``affected_digits`` (bool), ``digit_labels``
and ``clusters`` (int64), one per digit; ``positions`` ``(T, D, 2)`` int16, x then y; ``index``
int64. The file metadata records the shape ``T,1,H,W``, the number of digits, the kind names and
whether the generator gave uint8 or float frames. Format 1 stored ``frames``, ``masks`` and
``positions`` flat, ``frame_labels``, ``anomaly_kind`` and ``digit_labels`` as int8 and ``clusters``
as int16; both read back to the same tensors.

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
from anomaly_lab.io.arrow import (
    FORMAT_KEY,
    FORMAT_VERSION,
    check_columns,
    dense_array,
    scalar_array,
    tensor_array,
)
from anomaly_lab.io.codec import CodecBase
from anomaly_lab.modalities.moving_mnist.anomalies import KINDS
from anomaly_lab.viz.preview import frame_grid

LAYOUTS = ("published",)
OTHER_FORMATS = ("npz",)
NPZ_KEY = "anommnist"
COLUMNS = {
    "frames": ("number", True),
    "frame_labels": ("number", True),
    "masks": ("number", True),
    "anomaly_kind": ("integer", False),
    "anomalous": ("number", False),
    "affected_digits": ("number", True),
    "digit_labels": ("integer", True),
    "clusters": ("integer", True),
    "positions": ("integer", True),
    "index": ("integer", False),
}


def frames_uint8(frames: Tensor) -> Tensor:
    """uint8 pixels on the CPU from uint8 frames or float frames in [0, 1]."""
    frames = frames.detach().cpu()
    if frames.dtype == torch.uint8:
        return frames
    return (frames.to(torch.float32) * 255.0).round().clamp(0, 255).to(torch.uint8)


class MovingMnistCodec(CodecBase):
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
            FORMAT_KEY: str(FORMAT_VERSION),
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
        image = (b, t, h, w) if c == 1 else (b, t, c, h, w)  # a third-party reader sees (T, H, W)
        cols = {
            "frames": tensor_array(frames.numpy().reshape(image)),
            "frame_labels": tensor_array(labels.to(torch.bool).numpy()),
            "masks": tensor_array(batch["masks"].detach().cpu().to(torch.bool).numpy().reshape(image)),
            "anomaly_kind": pa.array(batch["anomaly_kind"].detach().cpu().to(torch.int64).numpy()),
            "anomalous": pa.array(labels.any(1).numpy()),
        }
        for key, dtype in (("affected_digits", torch.bool), ("digit_labels", torch.int64), ("clusters", torch.int64)):
            if key in batch:
                cols[key] = tensor_array(batch[key].detach().cpu().to(dtype).numpy().reshape(b, -1))
        if "positions" in batch:
            pos = batch["positions"].detach().cpu()
            cols["positions"] = tensor_array(pos.to(torch.int16).numpy().reshape(b, t, -1, 2))
        if "index" in batch:
            cols["index"] = pa.array(batch["index"].detach().cpu().to(torch.int64).numpy())
        table = pa.table(cols)
        return table.replace_schema_metadata({"anomaly_lab.shape": f"{t},{c},{h},{w}"})

    def from_table(self, table: pa.Table, metadata: dict[str, str] | None = None) -> dict[str, Tensor]:
        """Restore the batch dict (frames as uint8, or float32 when the generator gave floats)."""
        metadata, shape = self.read_header(table, metadata, "moving_mnist", 4)
        t, c, h, w = shape
        n = table.num_rows
        out = {
            "frames": torch.from_numpy(dense_array(table.column("frames"), "frames", np.uint8, (t, c, h, w))),
            "frame_labels": torch.from_numpy(dense_array(table.column("frame_labels"), "frame_labels", np.int64, (t,))),
            "masks": torch.from_numpy(dense_array(table.column("masks"), "masks", bool, (t, c, h, w))),
            "anomaly_kind": torch.from_numpy(scalar_array(table.column("anomaly_kind"), "anomaly_kind", np.int64)),
        }
        if metadata.get("anomaly_lab.output", self.output) == "float":
            out["frames"] = out["frames"].to(torch.float32) / 255.0
        for key in ("affected_digits", "digit_labels", "clusters"):
            if key in table.column_names:
                v = dense_array(table.column(key), key, bool if key == "affected_digits" else np.int64)
                out[key] = torch.from_numpy(v).reshape(n, -1)
        if "positions" in table.column_names:
            pos = dense_array(table.column("positions"), "positions", np.int64).reshape(n, -1)
            if pos.shape[1] % (2 * t):
                raise DataFileError(f"positions hold {pos.shape[1]} values a row, not (x, y) pairs for {t} frames")
            out["positions"] = torch.from_numpy(pos).reshape(n, t, -1, 2)
        if "index" in table.column_names:
            out["index"] = torch.from_numpy(scalar_array(table.column("index"), "index", np.int64))
        return out

    def check_schema(self, schema: pa.Schema) -> None:
        """Column names and types, before any row is read (one line if they are wrong)."""
        check_columns(schema, COLUMNS, "moving_mnist", required=("frames", "frame_labels", "masks"))

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


#: the codec ``anomaly_lab.io.registry`` finds for files of this dataset
CODEC = MovingMnistCodec
