"""Malformed and hostile parquet files: wrong column types, nulls, ragged rows, implausible declared
sizes, unknown format versions, manifests naming files outside their folder. Each gives one
DataFileError line naming the file (at open, before any row is decoded, where the footer says
enough), never a pyarrow or numpy traceback and never a header-sized allocation.

The files are the format-1 fixtures (tests/io/data/format1) and format-2 exports, altered."""

import json
import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anomaly_lab.core.errors import DataFileError
from anomaly_lab.io.folder import MANIFEST_NAME
from anomaly_lab.io.reader import ParquetDataset

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "format1")


def table_of(kind: str) -> pa.Table:
    return pq.read_table(os.path.join(HERE, kind, "train-00000.parquet"))


def write(folder, table: pa.Table, metadata: dict | None = None, name="train-00000.parquet") -> str:
    os.makedirs(folder, exist_ok=True)
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    meta.update(metadata or {})
    path = os.path.join(folder, name)
    pq.write_table(table.replace_schema_metadata(meta), path)
    return path


def read_all(folder, split="train"):
    ds = ParquetDataset(str(folder), split)
    return ds.__getitems__(list(range(len(ds))))


def replace(table: pa.Table, name: str, column) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, column)


def strings_like(table, name):
    return pa.array([["a", "b"]] * table.num_rows)


# -- header-declared sizes ---------------------------------------------------------------------------
def test_time_series_events_declared_beyond_the_data_are_refused(tmp_path):
    """Issue 15: a 16 KB file declaring anomaly_lab.events=400000000 made the reader ask for 26 GB."""
    path = write(tmp_path, table_of("timeseries"), {"anomaly_lab.events": "400000000"})
    assert os.path.getsize(path) < 16_000
    with pytest.raises(DataFileError, match=r"train-00000.parquet.*anomaly_lab.events=400000000.*can hold \(32\)"):
        read_all(tmp_path)


def test_decode_cap_bounds_what_declared_sizes_can_ask_for(tmp_path, monkeypatch):
    write(tmp_path, table_of("timeseries"), {"anomaly_lab.events": "32"})  # plausible for (16, 2), but capped
    monkeypatch.setenv("ANOMALY_LAB_MAX_DECODE_BYTES", "1000")
    with pytest.raises(DataFileError, match="over the reader's cap"):
        read_all(tmp_path)
    monkeypatch.setenv("ANOMALY_LAB_MAX_DECODE_BYTES", str(1 << 30))
    assert read_all(tmp_path)["event_start"].shape == (2, 32)  # padded to the declared width, as before


@pytest.mark.parametrize(
    "kind,shape", [("timeseries", "abc"), ("timeseries", "-16,2"), ("timeseries", "16"), ("moving_mnist", "5,1,40")]
)
def test_malformed_declared_shapes_are_one_line(tmp_path, kind, shape):
    write(tmp_path, table_of(kind), {"anomaly_lab.shape": shape})
    with pytest.raises(DataFileError, match="anomaly_lab.shape=.* must be"):
        read_all(tmp_path)


@pytest.mark.parametrize("kind", ["timeseries", "moving_mnist", "spectrogram_published"])
def test_declared_shapes_that_disagree_with_the_data_are_refused(tmp_path, kind):
    shape = {"timeseries": "16,3", "moving_mnist": "5,1,40,41", "spectrogram_published": "4,8,9"}[kind]
    write(tmp_path, table_of(kind), {"anomaly_lab.shape": shape})
    with pytest.raises(DataFileError, match="declares"):
        read_all(tmp_path)


def test_row_groups_declaring_more_than_the_cap_are_refused_at_open(tmp_path, monkeypatch):
    write(tmp_path, table_of("random_anomaly_published"))
    monkeypatch.setenv("ANOMALY_LAB_MAX_DECODE_BYTES", "100")
    with pytest.raises(DataFileError, match="row group 0 declares 2 rows"):
        ParquetDataset(str(tmp_path), "train")


# -- wrong column types: one line at open --------------------------------------------------------------
WRONG_TYPES = [
    ("random_anomaly_published", "x", lambda t: strings_like(t, "x"), "column 'x'"),
    ("random_anomaly_published", "y", lambda t: pa.array([[0.5] * 6] * t.num_rows), "column 'y'"),
    ("random_anomaly_published", "x", lambda t: pa.array([1.0] * t.num_rows), "column 'x'"),
    ("random_anomaly_compact", "index", lambda t: pa.array(["0"] * t.num_rows), "column 'index'"),
    ("moving_mnist", "frames", lambda t: strings_like(t, "frames"), "column 'frames'"),
    ("moving_mnist", "anomaly_kind", lambda t: pa.array([0.5] * t.num_rows), "column 'anomaly_kind'"),
    ("spectrogram_published", "x", lambda t: pa.array([[1] * 256] * t.num_rows), "column 'x'"),
    ("spectrogram_published", "label", lambda t: pa.array([1] * t.num_rows), "column 'label'"),
    ("timeseries", "x", lambda t: strings_like(t, "x"), "column 'x'"),
    ("timeseries", "event_kind", lambda t: pa.array([[1]] * t.num_rows), "column 'event_kind'"),
    ("timeseries", "anomalous", lambda t: pa.array(["yes"] * t.num_rows), "column 'anomalous'"),
]


@pytest.mark.parametrize("kind,column,make,needle", WRONG_TYPES)
def test_wrong_column_types_fail_at_open_with_one_line(tmp_path, kind, column, make, needle):
    table = table_of(kind)
    write(tmp_path, replace(table, column, make(table)))
    with pytest.raises(DataFileError, match=f"train-00000.parquet: {needle} .*has type") as err:
        ParquetDataset(str(tmp_path), "train")
    assert "\n" not in str(err.value)


def test_missing_values_and_ragged_rows_are_refused(tmp_path):
    table = table_of("random_anomaly_published")
    x = table.column("x").to_pylist()
    write(tmp_path / "nulls", replace(table, "x", pa.array([None] + x[1:], table.schema.field("x").type)))
    with pytest.raises(DataFileError, match="'x' has missing"):
        read_all(tmp_path / "nulls")
    x[1] = x[1][:-1]  # one frame short
    write(tmp_path / "ragged", replace(table, "x", pa.array(x, table.schema.field("x").type)))
    with pytest.raises(DataFileError, match="'x' has rows of different lengths"):
        read_all(tmp_path / "ragged")
    spec = table_of("spectrogram_published")
    mask = spec.column("mask").combine_chunks()
    holed = pa.FixedSizeListArray.from_arrays(
        pa.array(np.zeros(len(mask.flatten()), bool), mask=np.eye(1, len(mask.flatten()), dtype=bool)[0]),
        mask.type.list_size,
    )
    write(tmp_path / "leaf", replace(spec, "mask", holed))
    with pytest.raises(DataFileError, match="'mask' has missing"):
        read_all(tmp_path / "leaf")


def test_event_columns_must_agree(tmp_path):
    table = table_of("timeseries")
    ends = table.column("event_end").to_pylist()
    ends[0] = ends[0] + [3]  # an end without a start
    write(tmp_path, replace(table, "event_end", pa.array(ends, pa.list_(pa.int32()))))
    with pytest.raises(DataFileError, match="'event_end' lists a different number of events"):
        read_all(tmp_path)


# -- versions, datasets, manifests ---------------------------------------------------------------------
def test_newer_format_versions_are_refused(tmp_path):
    write(tmp_path, table_of("timeseries"), {"anomaly_lab.format_version": "99"})
    with pytest.raises(DataFileError, match="format_version='99': this reader reads formats 1 to 2"):
        ParquetDataset(str(tmp_path), "train")


def test_one_split_of_two_datasets_is_refused(tmp_path):
    write(tmp_path, table_of("timeseries"), name="train-00000.parquet")
    write(tmp_path, table_of("spectrogram_published"), name="train-00001.parquet")
    with pytest.raises(DataFileError, match="train-00001.parquet: holds 'spectrogram' rows.*one split must be one"):
        ParquetDataset(str(tmp_path), "train")


@pytest.mark.parametrize("name", ["../outside.parquet", "/tmp/outside.parquet", "sub/train-00000.parquet", 7])
def test_manifest_names_outside_the_folder_are_refused(tmp_path, name):
    folder = tmp_path / "export"
    shutil.copytree(os.path.join(HERE, "timeseries"), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["splits"]["train"]["files"][0]["name"] = name
    os.remove(folder / "manifest.json")
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(DataFileError, match="plain file names inside the folder"):
        ParquetDataset(str(folder), "train")


def test_malformed_manifest_is_one_line(tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(os.path.join(HERE, "timeseries"), folder)
    (folder / "manifest.json").write_text(json.dumps({"splits": {"train": {"files": "x"}}}))
    with pytest.raises(DataFileError, match="unreadable or malformed"):
        ParquetDataset(str(folder), "train")


# -- random damage: a clear error or a correct read, nothing else ---------------------------------------
KINDS = sorted(os.listdir(HERE))
POOL = [
    pa.array([1.5, 2.5]),
    pa.array(["a", "b"]),
    pa.array([True, None]),
    pa.array([[1, 2], [3]]),
    pa.array([[1.0], [2.0]], pa.list_(pa.float32(), 1)),
    pa.array([[[True]], [[False]]]),
    pa.array([None, None], pa.int64()),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(KINDS),
    column=st.integers(0, 20),
    value=st.sampled_from(range(len(POOL))),
    meta=st.sampled_from([{}, {"anomaly_lab.shape": "0,0"}, {"anomaly_lab.events": "-1"}, {"anomaly_lab.layout": "x"}]),
)
def test_random_damage_gives_a_clear_error_or_a_read(tmp_path, kind, column, value, meta):
    table = table_of(kind).slice(0, 2)
    name = table.column_names[column % table.num_columns]
    damaged = replace(table, name, POOL[value])
    folder = tmp_path / f"{kind}-{name}-{value}-{len(meta)}"
    write(folder, damaged, meta)
    try:
        batch = read_all(folder)
    except DataFileError as err:
        assert "\n" not in str(err)
    else:
        assert all(len(v) == 2 for v in batch.values())
