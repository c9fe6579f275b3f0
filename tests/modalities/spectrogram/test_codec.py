"""Spectrogram codec: parquet round trips, the labelled preview, ROAD-layout .h5 read back by the
ROAD loader, and generate.py data=spectrogram end to end."""

import os

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

from anomaly_lab.core.errors import ConfigError, DataFileError
from anomaly_lab.modalities.spectrogram import CLASS_NAMES, SpectrogramGenerator
from anomaly_lab.modalities.spectrogram.codec import SpectrogramCodec, write_road_h5
from anomaly_lab.modalities.spectrogram.road import RoadDataset, RoadFile
from tests.conftest import REPO_ROOT


def gen(**kw):
    return SpectrogramGenerator(time_bins=16, freq_bins=12, seed=2, device="cpu", **kw)


def batch_of(g, n=30, start=0):
    idx = torch.arange(start, start + n)
    b = g.generate(idx)
    b["index"] = idx
    return b


def test_published_layout_round_trips_exactly():
    g = gen()
    b = batch_of(g)
    codec = g.codec()
    table = codec.to_table(b, "published")
    assert table.column_names == ["x", "y", "label", "anomalous", "mask", "index"]
    # format 2: x keeps its (4, T, F) shape in the schema, the mask (T, F), anomalous is bool
    assert table.schema.field("x").type == pa.list_(pa.list_(pa.list_(pa.float32(), 12), 16), 4)
    assert table.schema.field("mask").type == pa.list_(pa.list_(pa.bool_(), 12), 16)
    assert table.schema.field("anomalous").type == pa.bool_()
    labels = table.column("label").to_pylist()
    assert all(lab == ("" if y == 0 else CLASS_NAMES[y]) for lab, y in zip(labels, b["y"].tolist()))
    back = codec.from_table(table, codec.metadata("published"))
    for key in ("x", "y", "anomalous", "mask", "index"):
        assert torch.equal(back[key], b[key]), key


def test_compact_layout_is_half_the_bytes_and_close():
    g = gen(scale="none")
    b = batch_of(g)
    codec = g.codec()
    full, compact = codec.to_table(b, "published"), codec.to_table(b, "compact")
    assert compact.column("x").nbytes * 2 == full.column("x").nbytes
    assert float(b["x"].max()) > 1e6  # raw magnitudes: beyond float16's range without the per-plane factor
    back = codec.from_table(compact, codec.metadata("compact"))
    lost = b["x"] == 0
    assert torch.equal(back["x"] == 0, lost)  # lost data stays exactly zero
    rel = ((back["x"] - b["x"]).abs() / b["x"].abs())[~lost].max()
    assert float(rel) < 1e-3 and torch.equal(back["mask"], b["mask"])


def test_table_errors_and_metadata():
    g = gen()
    codec = g.codec()
    meta = codec.metadata("published")
    assert meta["anomaly_lab.dataset"] == "spectrogram" and meta["anomaly_lab.shape"] == "4,16,12"
    assert SpectrogramCodec.from_metadata(meta).band_mhz == (110.0, 190.0)
    table = codec.to_table(batch_of(g, 4), "published")
    with pytest.raises(DataFileError, match="also needs \\['mask'\\]"):
        codec.from_table(table.drop(["mask"]), meta)
    with pytest.raises(DataFileError, match="anomaly_lab.shape"):
        codec.from_table(table.replace_schema_metadata({}), {})
    with pytest.raises(ConfigError, match="export.layout='tiny'"):
        codec.to_table(batch_of(g, 2), "tiny")
    with pytest.raises(ConfigError, match="export.format='npz'"):
        codec.write_other("npz", [], "x.npz.tmp")


def test_preview_has_one_labelled_row_per_class(tmp_path):
    g = SpectrogramGenerator(time_bins=32, freq_bins=32, seed=2, device="cpu")
    path = tmp_path / "preview.png"
    g.codec().preview(batch_of(g, 4), str(path))
    img = np.asarray(Image.open(path).convert("L"))
    cell = 32 * 4 + 4  # 128 // 32 = 4x magnified, 2 px padding each side
    assert img.shape[0] == 14 + 10 * cell
    label_width = 8 + 6 * max(len(c) for c in CLASS_NAMES)
    assert img.shape[1] == label_width + 5 * cell
    for r in range(10):  # each row's label margin holds text (dark pixels)
        margin = img[14 + r * cell : 14 + (r + 1) * cell, :label_width]
        assert (margin < 128).sum() > 20
    mask_col = img[14:, label_width + 4 * cell :]
    assert mask_col[:cell].max() < 255 or (mask_col[:cell] == 255).mean() < 0.6  # the normal row has an empty mask
    # without a generator, the first example of each class present is drawn
    codec = SpectrogramCodec()
    b = batch_of(gen(), 40)
    codec.preview(b, str(tmp_path / "p2.png"))
    rows = len(set(b["y"].tolist()))
    assert Image.open(tmp_path / "p2.png").height == 14 + rows * (16 * 8 + 4)


def test_h5_in_road_layout_reads_back_through_the_road_loader(tmp_path):
    g = gen(scale="none", mixture="uniform")
    batches = [batch_of(g, 25, 0), batch_of(g, 25, 25)]
    path = str(tmp_path / "train.h5.tmp")
    assert g.codec().write_other("h5", iter(batches), path) == [path]
    with h5py.File(path, "r") as h5:
        assert set(h5) == {"train_data", "test_data", "anomaly_data"}
        assert set(h5["anomaly_data"]) == set(CLASS_NAMES[1:])
        assert h5["train_data/data"].shape[1:] == (16, 12, 4) and h5["train_data/labels"].dtype == np.dtype("S100")
        assert h5["test_data/data"].shape[0] == 0
        band = h5["train_data/frequency_band"][0, 0, :, 0]
        assert 110 < band[0] < band[-1] < 190
        assert h5["anomaly_data/lightning/mask"].dtype == np.uint8
    road = RoadFile(path)
    rows, summary = road.catalogue()
    y = torch.cat([b["y"] for b in batches])
    assert summary["classes"] == {c: int((y == k).sum()) for k, c in enumerate(CLASS_NAMES)}
    ids = {}
    for gi, name in enumerate(road.groups):
        for r, raw in enumerate(road.ids(name)):
            ids[(gi, r)] = int(raw.decode().rsplit("-", 1)[1])
    x = road.read(rows.group, rows.row)
    index = torch.tensor([ids[(g_, r_)] for g_, r_ in zip(rows.group.tolist(), rows.row.tolist())])
    made = g.generate(index)
    assert torch.equal(x, made["x"]) and torch.equal(torch.from_numpy(rows.y), made["y"])
    # the loader's percentile scaling of the raw file equals the generator's own scaling
    scaled = RoadDataset(road, rows, scale="percentile").__getitems__(range(len(rows)))["x"]
    assert torch.allclose(scaled, gen(mixture="uniform").generate(index)["x"], atol=1e-5)


def test_h5_test_split_goes_whole_into_test_data(tmp_path):
    g = gen(scale="none")
    path = str(tmp_path / "test.h5.tmp")
    g.codec().write_other("h5", iter([batch_of(g, 20)]), path)
    road = RoadFile(path)
    rows, _ = road.catalogue(groups=["test_data"])
    assert len(rows) == 20 and RoadFile(path).catalogue()[1]["rows"] == 0
    with pytest.raises(DataFileError, match="no rows"):
        write_road_h5(str(tmp_path / "empty.h5"), iter([]))


def compose_generate(tmp_path, *overrides):
    with initialize_config_dir(config_dir=os.path.join(REPO_ROOT, "conf"), version_base="1.3"):
        return compose(
            "generate",
            overrides=[
                "data=spectrogram",
                "device=cpu",
                "progress=false",
                "batch_size=8",
                "data.generator.time_bins=16",
                "data.generator.freq_bins=16",
                f"out_dir={tmp_path}",
                *overrides,
            ],
        )


def test_generate_py_writes_parquet_and_preview(tmp_path):
    from anomaly_lab.cli.generate import run_generate

    out = tmp_path / "pq"
    run_generate(compose_generate(out, "size=20", "export.layout=compact"))
    assert sorted(os.listdir(out)) == [
        "_manifest.json",
        "_preview",
        "train-00000.parquet",
    ]  # issue 13: readers skip _ names
    assert os.listdir(out / "_preview") == ["preview.png"]
    table = pq.read_table(out / "train-00000.parquet")
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items() if k.startswith(b"anomaly_lab.")}
    assert meta["anomaly_lab.layout"] == "compact" and meta["anomaly_lab.shape"] == "4,16,16"
    back = SpectrogramCodec.from_metadata(meta).from_table(table, meta)
    made = SpectrogramGenerator(16, 16, seed=0, device="cpu").generate(torch.arange(20))
    assert torch.equal(back["y"], made["y"]) and torch.allclose(back["x"], made["x"], atol=1e-3)
    # the parquet reader finds this codec from the file's metadata
    from anomaly_lab.io.reader import ParquetDataset

    rows = ParquetDataset(str(out), "train").__getitems__([3, 17])
    assert torch.equal(rows["y"], made["y"][[3, 17]]) and torch.equal(rows["mask"], made["mask"][[3, 17]])
    assert torch.equal(rows["index"], torch.tensor([3, 17]))


def test_generate_py_writes_road_layout_h5(tmp_path):
    from anomaly_lab.cli.generate import run_generate

    out = tmp_path / "h5"
    run_generate(
        compose_generate(
            out,
            "export.format=h5",
            "export.preview=false",
            "data.generator.scale=none",
            "export.splits=[{split: train, size: 24}, {split: test, size: 8}]",
        )
    )
    assert sorted(os.listdir(out)) == ["_manifest.json", "test.h5", "train.h5"]
    train = RoadFile(str(out / "train.h5")).catalogue()[1]
    test = RoadFile(str(out / "test.h5")).catalogue(groups=["test_data"])[1]
    assert train["rows"] == 24 and test["rows"] == 8
