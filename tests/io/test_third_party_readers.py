"""Every data kind, exported small, read by the libraries users bring (pandas, pyarrow.dataset,
polars, DuckDB, HF datasets) without our code or metadata: each gets the rows, their array shapes
((T, H, W) frames, (4, T, F) spectrograms, (T, C) series) and the generator's values.

The compact RandomAnomaly layout is checked through the recipe its file metadata states
(``stored * x_scale + x_offset``, then a blank frame), and the compact spectrogram through
``x * x_scale``. The folder has the manifest as ``_manifest.json`` and pictures under
``_preview/`` (the writer's names; moved here when the writer at hand still uses the old ones)."""

import glob
import os
import shutil

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import torch
from datasets import load_dataset

from anomaly_lab.core.splits import split_offset
from anomaly_lab.io.folder import LEGACY_MANIFEST_NAME, MANIFEST_NAME, PREVIEW_DIR
from anomaly_lab.io.reader import ParquetDataset
from anomaly_lab.io.writer import Exporter, ExportOptions
from anomaly_lab.modalities.moving_mnist import KINDS, MovingMnistGenerator
from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator
from anomaly_lab.modalities.spectrogram import SpectrogramGenerator
from anomaly_lab.modalities.timeseries.generator import TimeSeriesGenerator

SPLITS = (("train", 3), ("test", 2))  # train in two files (rows_per_file=2)
READERS = ("pandas", "pyarrow", "polars", "duckdb", "hf")


def in_file_order(generator) -> dict[str, np.ndarray]:
    """The generator's rows in the order of the sorted file names (test-00000, train-00000, train-00001)."""
    idx = torch.cat([torch.arange(n) + split_offset(s) for s, n in sorted(SPLITS)])
    batch = generator.generate(idx)
    batch.setdefault("index", idx)
    return {k: v.cpu().numpy() for k, v in batch.items()}


def export(generator, folder, layout, **codec_options):
    codec = generator.codec()
    if codec_options:
        codec.configure(**codec_options)
    os.makedirs(folder, exist_ok=True)
    ex = Exporter(generator, str(folder), ExportOptions(layout=layout, rows_per_file=2, batch_size=2, progress=False))
    for split, n in SPLITS:
        ex.export_split(split, n)
    ex.write_preview("train")
    # today's names: the manifest as _manifest.json, pictures under _preview/
    if os.path.exists(os.path.join(folder, LEGACY_MANIFEST_NAME)):
        os.replace(os.path.join(folder, LEGACY_MANIFEST_NAME), os.path.join(folder, MANIFEST_NAME))
    os.makedirs(os.path.join(folder, PREVIEW_DIR), exist_ok=True)
    for path in glob.glob(os.path.join(folder, "*")):
        if os.path.isfile(path) and not path.endswith(".parquet") and os.path.basename(path) != MANIFEST_NAME:
            shutil.move(path, os.path.join(folder, PREVIEW_DIR, os.path.basename(path)))
    return folder


# -- how each library gives a column as one array (rows, *shape) -----------------------------------
def _nested(value):
    """pandas gives nested lists as object arrays of arrays: stack them back."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return np.stack([_nested(v) for v in value])
    return np.asarray(value)


def read(reader: str, folder: str, columns: list[str], cache: str) -> dict[str, np.ndarray]:
    if reader == "pandas":
        df = pd.read_parquet(folder)
        return {
            c: np.stack([_nested(v) for v in df[c]]) if df[c].dtype == object else df[c].to_numpy() for c in columns
        }
    if reader == "pyarrow":
        table = pads.dataset(folder, format="parquet").to_table()
        out = {}
        for c in columns:
            col = table.column(c).combine_chunks()
            shape, t = [], col.type
            while pa.types.is_fixed_size_list(t) or pa.types.is_list(t):
                shape.append(t.list_size if pa.types.is_fixed_size_list(t) else None)
                t = t.value_type
            if None in shape:  # variable lists (the released RandomAnomaly layout): as Python lists
                out[c] = np.array(col.to_pylist())
                continue
            values = col.flatten(recursive=True) if shape else col
            out[c] = np.asarray(values.to_numpy(zero_copy_only=False)).reshape(len(col), *shape)
        return out
    if reader == "polars":
        df = pl.scan_parquet(os.path.join(folder, "*.parquet")).collect()
        # Array columns come out shaped; variable lists (the released layout) as objects, so via lists
        return {c: df[c].to_numpy() if df[c].dtype != pl.List else np.array(df[c].to_list()) for c in columns}
    if reader == "duckdb":
        rows = duckdb.sql(
            f"SELECT {', '.join(columns)} FROM read_parquet('{folder}/*.parquet', filename=true, file_row_number=true) "
            "ORDER BY filename, file_row_number"
        ).fetchall()
        return {c: np.array([r[k] for r in rows]) for k, c in enumerate(columns)}
    if reader == "hf":
        splits = load_dataset("parquet", data_dir=folder, cache_dir=cache)
        parts = [splits[s].with_format("numpy")[:] for s, _ in sorted(SPLITS)]
        return {c: np.concatenate([p[c] for p in parts]) for c in columns}
    raise AssertionError(reader)


def metadata_of(folder) -> dict[str, str]:
    meta = pq.read_schema(sorted(glob.glob(os.path.join(folder, "*.parquet")))[0]).metadata
    return {k.decode(): v.decode() for k, v in meta.items() if k.startswith(b"anomaly_lab.")}


# -- the data kinds --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folders(tmp_path_factory, mnist_train):
    root = tmp_path_factory.mktemp("exports")
    ra = RandomAnomalyGenerator(seed=2, device="cpu", image_size=16, seq_len=5)
    mm = MovingMnistGenerator(
        source=mnist_train,
        seq_len=5,
        frame_size=40,
        seed=1,
        device="cpu",
        kinds={k: 1.0 for k in KINDS},
        anomaly_fraction=0.5,
        similarity={"method": "pca_kmeans", "n_init": 1, "cache_dir": str(root / "sim")},
    )
    sp = SpectrogramGenerator(time_bins=8, freq_bins=12, seed=2, device="cpu")
    ts = TimeSeriesGenerator(length=16, channels=3, seed=5, device="cpu")
    made = {
        "random_anomaly_published": (ra, "published", {}),
        "random_anomaly_compact": (ra, "compact", {"frame_dtype": "uint8"}),
        "moving_mnist": (mm, "published", {}),
        "spectrogram_published": (sp, "published", {}),
        "spectrogram_compact": (sp, "compact", {}),
        "timeseries": (ts, "with_clean", {}),
    }
    return {
        name: (export(g, str(root / name), layout, **opts), in_file_order(g))
        for name, (g, layout, opts) in made.items()
    }


def expectations(name: str, b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each column a third-party reader should see, as (rows, *shape) with its dtype."""
    n = len(b["index"])
    if name == "random_anomaly_published":  # the released files' layout: T+1 flat frames
        return {"x": b["x"].reshape(n, b["x"].shape[1], -1), "y": b["y"]}
    if name == "random_anomaly_compact":
        return {"y": b["y"], "index": b["index"], "digit": b["digit"]}
    if name == "moving_mnist":
        return {
            "frames": b["frames"][:, :, 0],
            "masks": b["masks"][:, :, 0],
            "frame_labels": b["frame_labels"].astype(bool),
            "anomalous": b["frame_labels"].any(1),
            "anomaly_kind": b["anomaly_kind"],
            "positions": b["positions"].astype(np.int16),
            "index": b["index"],
        }
    if name.startswith("spectrogram"):
        out = {"mask": b["mask"], "y": b["y"], "anomalous": b["y"] > 0, "index": b["index"]}
        if name == "spectrogram_published":
            out["x"] = b["x"]
        return out
    if name == "timeseries":
        return {
            "x": b["x"],
            "clean": b["clean"],
            "labels": b["labels"],
            "label": b["labels"].any(-1),
            "anomalous": b["labels"].any((1, 2)),
            "index": b["index"],
        }
    raise AssertionError(name)


FLAG_COLUMNS = {"masks", "frame_labels", "anomalous", "mask", "labels", "label"}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    "name",
    [
        "random_anomaly_published",
        "random_anomaly_compact",
        "moving_mnist",
        "spectrogram_published",
        "spectrogram_compact",
        "timeseries",
    ],
)
def test_reader_sees_shapes_and_values(folders, name, reader, tmp_path):
    folder, batch = folders[name]
    want = expectations(name, batch)
    extra = {"random_anomaly_compact": ["x"], "spectrogram_compact": ["x", "x_scale"]}.get(name, [])
    got = read(reader, folder, sorted(want) + extra, str(tmp_path / "hf"))
    for col, expected in want.items():
        assert got[col].shape == expected.shape, (col, got[col].shape, expected.shape)
        if col in FLAG_COLUMNS:
            assert got[col].dtype == np.bool_, (col, got[col].dtype)  # flags are bool in every modality
        np.testing.assert_array_equal(got[col], expected.astype(got[col].dtype), err_msg=col)
    meta = metadata_of(folder)
    if name == "random_anomaly_compact":  # the decoding recipe in the metadata gives the frames back
        x = got["x"]
        steps, side = batch["x"].shape[1] - 1, batch["x"].shape[-1]
        assert x.shape == (len(batch["index"]), steps, side, side)
        # stored as uint8 (DuckDB's Python lists and HF's numpy format widen it to int64)
        assert x.dtype == np.uint8 or (reader in ("duckdb", "hf") and x.dtype.kind == "i")
        frames = x * float(meta["anomaly_lab.x_scale"]) + float(meta["anomaly_lab.x_offset"])
        restored = np.concatenate([frames, np.zeros_like(frames[:, :1])], axis=1)
        std = float(meta["anomaly_lab.std"])
        np.testing.assert_allclose(restored, batch["x"][:, :, 0], atol=0.5 / 255 / std + 1e-5)
    if name == "spectrogram_compact":
        x = got["x"].astype(np.float32) * got["x_scale"][:, :, None, None]
        assert x.shape == batch["x"].shape
        np.testing.assert_allclose(x, batch["x"], rtol=1e-3, atol=1e-6 * np.abs(batch["x"]).max())
    assert meta["anomaly_lab.format_version"] == "2"


def test_folder_has_only_parquet_beside_the_underscore_names(folders):
    folder, _ = folders["moving_mnist"]
    names = sorted(os.listdir(folder))
    assert names == [MANIFEST_NAME, PREVIEW_DIR, "test-00000.parquet", "train-00000.parquet", "train-00001.parquet"]


@pytest.mark.parametrize("name", ["random_anomaly_published", "moving_mnist", "spectrogram_published", "timeseries"])
def test_our_reader_reads_the_folder_with_the_new_names(folders, name):
    folder, batch = folders[name]
    test = ParquetDataset(folder, "test")
    train = ParquetDataset(folder, "train")
    assert len(test) == 2 and len(train) == 3
    keys = ["frames", "masks", "frame_labels"] if name == "moving_mnist" else ["x"]
    keys += [] if name == "random_anomaly_published" else ["index"]  # the released layout has no index
    for key in keys:
        rows = torch.cat([test.__getitems__(range(2))[key], train.__getitems__(range(3))[key]]).numpy()
        np.testing.assert_array_equal(rows, batch[key], err_msg=key)
