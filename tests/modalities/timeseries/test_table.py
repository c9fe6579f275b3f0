"""A user's CSV/parquet: key column, column selection, missing/non-numeric policies, date splits."""

import numpy as np
import pandas as pd
import pytest

from anomaly_lab.core.errors import ConfigError, DataFileError
from anomaly_lab.modalities.timeseries.table import date_splits, load_table


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "date": pd.date_range("2015-02-04 17:51:00", periods=10, freq="min").strftime("%Y-%m-%d %H:%M:%S"),
            "Temperature": np.arange(10, dtype=float) + 20,
            "Humidity": np.arange(10, dtype=float) * 2,
            "Occupancy": np.arange(10) % 2,
            "Room": ["a"] * 10,
        }
    )


@pytest.fixture
def csv(tmp_path, frame):
    path = tmp_path / "occ.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_empty_columns_mean_every_numeric_column_but_the_key(csv):
    table = load_table(csv, key="date", columns=[])
    assert table.columns == ["Temperature", "Humidity", "Occupancy"]
    assert table.values.shape == (10, 3) and table.values.dtype == np.float64
    assert isinstance(table.key, pd.DatetimeIndex) and str(table.key[0]) == "2015-02-04 17:51:00"
    assert len(load_table(csv, key="date", columns=None, nrows=4)) == 4


def test_parquet_reads_the_same(tmp_path, frame, csv):
    path = tmp_path / "occ.parquet"
    frame.to_parquet(path)
    a, b = load_table(csv, "date", ["Humidity"]), load_table(str(path), "date", ["Humidity"])
    assert np.array_equal(a.values, b.values) and list(a.key) == list(b.key)


def test_named_non_numeric_column_is_an_error_or_dropped(csv):
    with pytest.raises(DataFileError, match=r"\['Room'\].*not numeric.*non_numeric: drop"):
        load_table(csv, "date", ["Temperature", "Room"])
    with pytest.warns(UserWarning, match="Room"):
        table = load_table(csv, "date", ["Temperature", "Room"], non_numeric="drop")
    assert table.columns == ["Temperature"]


def test_missing_values_policies(tmp_path, frame):
    frame.loc[3, "Temperature"] = np.nan
    frame.loc[4, "Temperature"] = np.nan
    path = str(tmp_path / "gaps.csv")
    frame.to_csv(path, index=False)
    with pytest.raises(DataFileError, match="'Temperature'.* 2 missing values \\(first at data row 3\\)"):
        load_table(path, "date", ["Temperature"])
    t = load_table(path, "date", ["Temperature"], missing="drop")
    assert len(t) == 8 and str(t.key[3]) == "2015-02-04 17:56:00"
    assert load_table(path, "date", ["Temperature"], missing="ffill").values[3:5, 0].tolist() == [22.0, 22.0]
    assert load_table(path, "date", ["Temperature"], missing="interpolate").values[3:5, 0].tolist() == [23.0, 24.0]
    assert load_table(path, "date", ["Temperature"], missing="zero").values[3:5, 0].tolist() == [0.0, 0.0]
    with pytest.raises(ConfigError, match="missing"):
        load_table(path, "date", missing="guess")


def test_file_and_column_errors(tmp_path, csv):
    with pytest.raises(DataFileError, match="does not exist"):
        load_table(str(tmp_path / "nope.csv"))
    with pytest.raises(DataFileError, match="key column 'time'"):
        load_table(csv, key="time")
    with pytest.raises(DataFileError, match=r"columns \['CO2'\] are not in"):
        load_table(csv, "date", ["CO2"])
    with pytest.raises(ConfigError, match="nrows"):
        load_table(csv, nrows=0)
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataFileError, match="cannot read"):
        load_table(str(bad))


def test_date_pairs_split_test_rows_in_the_half_open_interval(csv):
    table = load_table(csv, "date", [])
    splits = date_splits(
        table, [["2015-02-04 17:53:00", "2015-02-04 17:56:00"], ["2015-02-04 17:58:00", "2015-02-04 18:00:00"]]
    )
    (train0, test0), (train1, test1) = splits
    assert test0.tolist() == [3, 4, 5]  # 17:54, 17:55, 17:56: after d1, up to and including d2
    assert train0.tolist() == [0, 1, 2, 6, 7, 8, 9]
    assert test1.tolist() == [8, 9]
    with pytest.raises(ConfigError, match="selects no row"):
        date_splits(table, [["2016-01-01", "2016-01-02"]])
    with pytest.raises(ConfigError, match="start must come before end"):
        date_splits(table, [["2015-02-04 18:00:00", "2015-02-04 17:00:00"]])
    with pytest.raises(ConfigError, match="pair"):
        date_splits(table, [["2015-02-04 18:00:00"]])
    with pytest.raises(ConfigError, match="dates is empty"):
        date_splits(table, [])


def test_numeric_key_splits(tmp_path):
    path = tmp_path / "n.csv"
    pd.DataFrame({"t": range(6), "v": [1.0, 2, 3, 4, 5, 6]}).to_csv(path, index=False)
    table = load_table(str(path), "t")
    assert date_splits(table, [[1, 3]])[0][1].tolist() == [2, 3]
    with pytest.raises(ConfigError, match="must be a number"):
        date_splits(table, [["a", "b"]])
