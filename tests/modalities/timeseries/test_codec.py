"""Time-series codec: parquet round trips, the reader through the registry, the long CSV, the
preview, and generate.py data=timeseries end to end."""

import json
import os
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from anomaly_lab.core.errors import ConfigError, DataFileError
from anomaly_lab.io.reader import ParquetDataset
from anomaly_lab.io.writer import Exporter, ExportOptions
from anomaly_lab.modalities.timeseries import ALL_KINDS, TimeSeriesGenerator
from anomaly_lab.modalities.timeseries.codec import TimeSeriesCodec
from tests import forkrun
from tests.conftest import REPO_ROOT


def gen(**kw):
    return TimeSeriesGenerator(length=64, channels=3, seed=5, device="cpu", **kw)


def batch_of(g, n=10):
    idx = torch.arange(n)
    b = g.generate(idx)
    b["index"] = idx
    return b


@pytest.mark.parametrize("layout", ["published", "with_clean"])
def test_table_round_trips_exactly(layout):
    g = gen()
    b = batch_of(g)
    codec = g.codec()
    table = codec.to_table(b, layout)
    # format 2: x and labels keep their (T, C) shape in the schema, flags are bool
    assert table.schema.field("x").type == pa.list_(pa.list_(pa.float32(), 3), 64)
    assert table.schema.field("labels").type == pa.list_(pa.list_(pa.bool_(), 3), 64)
    assert table.schema.field("anomalous").type == pa.bool_()
    kinds = table.column("event_kind").to_pylist()
    assert kinds[0] == [ALL_KINDS[k] for k in b["event_kind"][0].tolist() if k >= 0]
    back = codec.from_table(table, codec.metadata(layout))
    for key in (
        "x",
        "labels",
        "label",
        "anomalous",
        "event_start",
        "event_end",
        "event_kind",
        "event_channel",
        "index",
    ):
        assert torch.equal(back[key], b[key]), key
    assert ("clean" in back) == (layout == "with_clean")
    # x is step-major: x[t][c] (format 1 stored it flat as x[t * C + c])
    assert table.column("x")[0].as_py()[5][2] == pytest.approx(float(b["x"][0, 5, 2]))


def test_from_table_errors():
    g = gen()
    codec = g.codec()
    table = codec.to_table(batch_of(g, 2))
    with pytest.raises(DataFileError, match="also needs"):
        codec.from_table(table.drop(["labels"]))
    with pytest.raises(DataFileError, match="shape"):
        codec.from_table(table.replace_schema_metadata({}))
    with pytest.raises(ConfigError, match="layout"):
        codec.to_table(batch_of(g, 2), "compact")


def test_exported_files_read_back_through_the_registry(tmp_path):
    g = gen(anomalies={"mode": "seed", "ratio": 0.1, "noise": 0.2, "wave": True, "wave_length": 4})
    opts = ExportOptions(rows_per_file=8, batch_size=4, progress=False)
    Exporter(g, str(tmp_path), opts).export_split("test", 12)
    ds = ParquetDataset(str(tmp_path), "test")
    assert len(ds) == 12
    rows = ds.__getitems__(list(range(12)))
    from anomaly_lab.core.splits import split_offset

    fresh = g.generate(torch.arange(12) + split_offset("test"))
    assert torch.equal(rows["x"], fresh["x"]) and torch.equal(rows["labels"], fresh["labels"])
    assert torch.equal(rows["event_start"], fresh["event_start"])


def test_long_csv_and_preview(tmp_path):
    g = gen()
    b = batch_of(g, 3)
    path = str(tmp_path / "series.csv")
    g.codec().write_other("csv", [b], path)
    df = pd.read_csv(path)
    names = g.channel_names
    assert list(df.columns) == ["index", "step", *names, "label", *[f"label_{n}" for n in names]]
    assert len(df) == 3 * 64
    assert np.allclose(df[names[1]].to_numpy().reshape(3, 64), b["x"][..., 1].numpy(), rtol=1e-7)
    assert df["label"].to_numpy().reshape(3, 64).tolist() == b["label"].tolist()
    png = str(tmp_path / "p.png")
    g.codec().preview(b, png)
    assert os.path.getsize(png) > 10_000
    with pytest.raises(DataFileError, match="no rows"):
        TimeSeriesCodec(channel_names=["a"]).write_other("csv", [], str(tmp_path / "none.csv"))


def test_generate_py_data_timeseries(tmp_path):
    out = tmp_path / "ts"
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1"}
    res = forkrun.run(
        [
            sys.executable,
            os.path.join(REPO_ROOT, "generate.py"),
            "data=timeseries",
            "size=20",
            "batch_size=8",
            f"out_dir={out}",
            "device=cpu",
            "data.generator.length=100",
            "data.generator.channels=2",
            "seed=3",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(out)) == [
        "_manifest.json",
        "_preview",
        "train-00000.parquet",
    ]  # issue 13: readers skip _ names
    assert os.listdir(out / "_preview") == ["preview.png"]
    meta = pq.read_schema(out / "train-00000.parquet").metadata
    assert meta[b"anomaly_lab.dataset"] == b"timeseries" and meta[b"anomaly_lab.shape"] == b"100,2"
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["settings"]["generator"]["seed"] == 3
    rows = ParquetDataset(str(out), "train").__getitems__(list(range(20)))
    again = TimeSeriesGenerator(length=100, channels=2, seed=3, device="cpu").generate(torch.arange(20))
    assert torch.equal(rows["x"], again["x"]) and torch.equal(rows["labels"], again["labels"])
