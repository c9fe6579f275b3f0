"""TimeEval and TSB-AD files: written one CSV a series, read back exactly, and read as sources with
their label column as ground truth (not a channel) and their original timestamps kept."""

import numpy as np
import pandas as pd
import pytest
import torch

from anomaly_lab.core.errors import ConfigError, DataFileError
from anomaly_lab.modalities.timeseries import TimeSeriesGenerator
from anomaly_lab.modalities.timeseries.formats import export_series_files, write_series_file
from anomaly_lab.modalities.timeseries.table import load_table


def synthetic(**kw):
    return TimeSeriesGenerator(length=300, channels=3, seed=4, device="cpu", **kw)


@pytest.mark.parametrize("fmt", ["timeeval", "tsb_ad"])
def test_export_then_read_back_exactly(tmp_path, fmt):
    gen = synthetic(anomalies={"mode": "kinds", "count": [2, 3]})
    summary = export_series_files(gen, str(tmp_path), fmt, split="test", size=3, start=5, batch_size=2)
    assert summary["rows"] == 3 and len(summary["files"]) == 3
    batch = gen.generate(torch.as_tensor(list(range(5, 8))) + _test_offset())
    for row, name in enumerate(summary["files"]):
        frame = pd.read_csv(tmp_path / name)
        if fmt == "timeeval":
            assert list(frame.columns) == ["timestamp", "value-0", "value-1", "value-2", "is_anomaly"]
            assert frame["timestamp"].tolist() == list(range(300))
        else:  # TSB-AD's own reading: every column but the last is data, "Label" the labels
            assert list(frame.columns) == ["value-0", "value-1", "value-2", "Label"]
            data, label = frame.iloc[:, 0:-1].values.astype(float), frame["Label"].astype(int).to_numpy()
            assert np.array_equal(data.astype(np.float32), batch["x"][row].numpy())
            assert np.array_equal(label, batch["label"][row].numpy())
        table = load_table(str(tmp_path / name))
        assert table.columns == ["value-0", "value-1", "value-2"]  # the label column is no channel
        assert np.array_equal(table.values.astype(np.float32), batch["x"][row].numpy())  # %.17g: exact
        assert np.array_equal(table.labels, batch["label"][row].numpy())
        assert table.labels.sum() > 0


def _test_offset() -> int:
    from anomaly_lab.core.splits import split_offset

    return split_offset("test")


def test_timeeval_source_keeps_labels_and_timestamps(tmp_path):
    t = 200
    values = np.stack([np.sin(np.arange(t) / 7), np.cos(np.arange(t) / 11)], 1)
    label = np.zeros(t, dtype=np.int64)
    label[50:60] = 1
    stamps = pd.date_range("2021-03-01", periods=t, freq="min").strftime("%Y-%m-%d %H:%M:%S")
    path = write_series_file(str(tmp_path / "s.csv"), "timeeval", values, label, list(stamps))
    gen = TimeSeriesGenerator(length=None, source={"path": path}, anomalies={"mode": "none"}, device="cpu")
    assert gen.channel_names == ["value-0", "value-1"] and gen.channels == 2  # no is_anomaly, no timestamp channel
    b = gen.generate([0, 1])
    assert torch.allclose(b["x"][0].double(), torch.as_tensor(values), atol=1e-7)
    assert b["label"][0].tolist() == label.tolist()  # the file's labels are the ground truth
    assert bool(b["labels"][0, 50:60].all()) and not bool(b["labels"][0, :50].any())
    assert gen.timestamps([0])[0][0] == pd.Timestamp("2021-03-01 00:00:00")  # original timestamps kept
    # windows of a labelled file carry their part of the labels, and injected anomalies add to them
    win = TimeSeriesGenerator(
        length=40,
        source={"path": path},
        anomalies={"mode": "kinds", "positions": [{"kind": "level_shift", "start": 5, "length": 3, "channel": 1}]},
        device="cpu",
    )
    idx = list(range(16))
    b = win.generate(idx)
    stamps_of = win.timestamps(idx)
    for row in range(16):
        first = stamps.get_loc(stamps_of[row][0].strftime("%Y-%m-%d %H:%M:%S"))
        expected = label[first : first + 40].astype(bool)
        expected[5:8] = True
        assert b["label"][row].numpy().tolist() == expected.tolist()


def test_tsb_ad_source_and_label_options(tmp_path):
    flags = [0, 1] * 15
    frame = pd.DataFrame({"a": np.arange(30.0), "b": flags, "Label": [0] * 25 + [1] * 5})
    frame.to_csv(tmp_path / "u.csv", index=False)
    table = load_table(str(tmp_path / "u.csv"))
    assert table.columns == ["a", "b"] and table.labels.tolist() == [0] * 25 + [1] * 5
    off = load_table(str(tmp_path / "u.csv"), label=None)  # recognition off: Label is a channel again
    assert off.columns == ["a", "b", "Label"] and off.labels is None
    named = load_table(str(tmp_path / "u.csv"), label="b", columns="a")  # a single column name, not letters
    assert named.columns == ["a"] and named.label_column == "b" and named.labels.tolist() == flags
    with pytest.raises(DataFileError, match="must hold 0 or 1"):
        load_table(str(tmp_path / "u.csv"), label="a")
    with pytest.raises(DataFileError, match="label column 'nosuch'"):
        load_table(str(tmp_path / "u.csv"), label="nosuch")
    with pytest.raises(ConfigError, match="label column"):
        load_table(str(tmp_path / "u.csv"), columns=["a", "Label"])
    with pytest.raises(ConfigError, match="data=timeseries"):
        export_series_files(object(), str(tmp_path / "o"), "timeeval")
    with pytest.raises(ConfigError, match="time-series file format"):
        write_series_file(str(tmp_path / "x.csv"), "hdf5", np.zeros((3, 1)), np.zeros(3))
