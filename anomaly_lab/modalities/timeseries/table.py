"""A user's own series from a CSV or parquet file: a key column (e.g. a date) and feature columns.

``columns: []`` (or None) takes every numeric column but the key (text columns are left out).
Named columns that are not numeric, and missing values, are an error by default that names the
column, the count and the first row; ``non_numeric: drop`` leaves such named columns out and
``missing`` (``drop`` rows, ``ffill``, ``interpolate``, ``zero``) fills or drops the gaps.
:func:`date_splits` cuts the table as the seed's ``dates`` pairs do: rows with key in
``(d1, d2]`` form the test slice, the rest the training rows.

TimeEval files (``timestamp, value-*, is_anomaly``) and TSB-AD files (values, then ``Label``) are
recognised (``label: auto``): their label column is the ground truth (:attr:`Table.labels`), never
a channel, and a TimeEval file's ``timestamp`` column is its key (the original timestamps are kept),
unless ``key`` names another column. ``label: <column>`` names the label column of any other file,
``label: null`` turns the recognition off.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from anomaly_lab.core.errors import ConfigError, DataFileError, check_choice

MISSING = ("error", "drop", "ffill", "interpolate", "zero")
NON_NUMERIC = ("error", "drop")


@dataclass
class Table:
    """The selected columns of a file: ``values`` ``(N, C)`` float64, the ``key`` values (a pandas
    Index, datetimes when they parse as such) and the column names."""

    values: np.ndarray
    key: pd.Index
    columns: list[str]
    path: str
    labels: np.ndarray | None = None  # (N,) int64 0/1 from the file's label column, if it has one
    label_column: str | None = None
    key_format: str | None = None  # the strftime format the key's dates were read with (explicit or inferred)
    key_problem: str | None = None  # why a text key is not dates (date_splits refuses to compare it)

    def __len__(self) -> int:
        return self.values.shape[0]


def _read(path: str, nrows: int | None) -> pd.DataFrame:
    if not os.path.isfile(path):
        raise DataFileError(f"data file {path!r} does not exist; give the path of a CSV or parquet file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            return frame.head(nrows) if nrows is not None else frame
        return pd.read_csv(path, nrows=nrows)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataFileError(
            f"cannot read {path!r} as {'parquet' if ext in ('.parquet', '.pq') else 'CSV'}: {str(err).splitlines()[0]}"
        ) from err


#: day-first and month-first layouts tried (in this order) for a key that is not ISO 8601; a key that
#: reads in more than one way with different dates is ambiguous and needs ``key_format``
DATE_FORMATS = (
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d-%m-%Y",
    "%d-%m-%Y %H:%M:%S",
)


def _dates(text: pd.Series, fmt: str) -> pd.DatetimeIndex | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.DatetimeIndex(pd.to_datetime(text, format=fmt))
    except (ValueError, TypeError):
        return None


def _as_key(series: pd.Series, key_format: str | None = None) -> tuple[pd.Index, str | None, str | None]:
    """The key as an Index, the date format it was read with, and (for a text key) why it is not dates."""
    if pd.api.types.is_numeric_dtype(series):
        return pd.Index(series), None, None
    text = series.astype(str)
    name = series.name
    if key_format is not None:
        parsed = _dates(text, key_format)
        if parsed is None:
            bad = next(v for v in text if _dates(pd.Series([v]), key_format) is None)
            raise DataFileError(f"key column {name!r} value {bad!r} does not match key_format={key_format!r}")
        return parsed, key_format, None
    iso = _dates(text, "ISO8601")
    if iso is not None:
        return iso, None, None
    readings = [(fmt, parsed) for fmt in DATE_FORMATS if (parsed := _dates(text, fmt)) is not None]
    if readings:
        fmt, parsed = readings[0]
        other = next((f for f, p in readings[1:] if not p.equals(parsed)), None)
        if other is None:
            return parsed, fmt, None
        problem = (
            f"key column {name!r} reads as dates both as {fmt!r} and as {other!r} (e.g. {text.iloc[0]!r}); "
            "give key_format to say which"
        )
        return pd.Index(text), None, problem
    try:  # any other layout pandas infers from the first value (and then finds in every value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.DatetimeIndex(pd.to_datetime(text)), None, None
    except (ValueError, TypeError):
        problem = (
            f"key column {name!r} values like {text.iloc[0]!r} are neither numbers nor dates in a known layout; "
            "give key_format (a strftime format such as %d/%m/%Y)"
        )
        return pd.Index(text), None, problem


#: label column names recognised by ``label: auto``: TimeEval's (anywhere) and TSB-AD's (the last column)
TIMEEVAL_LABEL, TSB_AD_LABEL = "is_anomaly", "Label"


def _label_column(frame: pd.DataFrame, label: str | None, path: str) -> str | None:
    if label is None:
        return None
    if label != "auto":
        if label not in frame.columns:
            raise DataFileError(f"label column {label!r} is not in {path!r}; its columns are {list(frame.columns)}")
        return label
    if TIMEEVAL_LABEL in frame.columns:
        return TIMEEVAL_LABEL
    if len(frame.columns) > 1 and frame.columns[-1] == TSB_AD_LABEL:
        return TSB_AD_LABEL
    return None


def _labels(series: pd.Series, path: str) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna() | ~values.isin([0, 1])
    if bool(bad.any()):
        first = int(np.argmax(bad.values))
        raise DataFileError(
            f"label column {series.name!r} of {path!r} must hold 0 or 1 on every row; row {first} has "
            f"{str(series.iloc[first])!r}"
        )
    return values.to_numpy().astype(np.int64)


def load_table(
    path: str,
    key: str | None = None,
    columns: Sequence[str] | None = (),
    nrows: int | None = None,
    missing: str = "error",
    non_numeric: str = "error",
    label: str | None = "auto",
    key_format: str | None = None,
) -> Table:
    """Read ``path`` and select ``columns`` (see the module docstring)."""
    check_choice("missing", missing, MISSING)
    check_choice("non_numeric", non_numeric, NON_NUMERIC)
    if nrows is not None and (isinstance(nrows, bool) or not isinstance(nrows, int) or nrows < 1):
        raise ConfigError(f"nrows={nrows!r} must be a positive integer or null")
    if isinstance(columns, str):  # one column name, not a sequence of one-letter names
        columns = [columns]
    if label is not None and not isinstance(label, str):
        raise ConfigError(f"label={label!r} must be auto, a column name or null")
    frame = _read(str(path), nrows)
    label_col = _label_column(frame, label, str(path))
    if key is None and label_col == TIMEEVAL_LABEL and "timestamp" in frame.columns:
        key = "timestamp"  # TimeEval's layout: keep the original timestamps as the key, not as a channel
    if key is not None and key not in frame.columns:
        raise DataFileError(f"key column {key!r} is not in {path!r}; its columns are {list(frame.columns)}")
    if label_col is not None and label_col in (columns or ()):
        raise ConfigError(f"column {label_col!r} of {path!r} is its label column; it cannot also be a channel")
    features = [
        c
        for c in frame.columns
        if c not in (key, label_col)
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]
    if columns:
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise DataFileError(f"columns {absent} are not in {path!r}; its columns are {list(frame.columns)}")
        features = [str(c) for c in columns]
    bad = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])]
    if bad:
        if non_numeric == "error":
            raise DataFileError(
                f"columns {bad} of {path!r} are not numeric; set non_numeric: drop to leave them out, "
                "or list numeric columns only"
            )
        warnings.warn(f"leaving out non-numeric columns {bad} of {path}", stacklevel=2)
        features = [c for c in features if c not in bad]
    if not features:
        raise DataFileError(f"{path!r} has no numeric feature column to use (key {key!r})")
    data = frame[features].astype(np.float64)
    nan = data.isna()
    if bool(nan.values.any()):
        if missing == "error":
            col = next(c for c in features if nan[c].any())
            raise DataFileError(
                f"column {col!r} of {path!r} has {int(nan[col].sum())} missing values (first at data row "
                f"{int(np.argmax(nan[col].values))}); set missing: drop, ffill, interpolate or zero"
            )
        if missing == "drop":
            keep = ~nan.any(axis=1)
            data, frame = data[keep], frame[keep]
        elif missing == "ffill":
            data = data.ffill().bfill()
        elif missing == "interpolate":
            data = data.interpolate(limit_direction="both")
        else:
            data = data.fillna(0.0)
    if len(data) == 0:
        raise DataFileError(f"{path!r} has no rows left to use")
    if key_format is not None and not isinstance(key_format, str):
        raise ConfigError(f"key_format={key_format!r} must be a strftime format such as %d/%m/%Y")
    if key is not None:
        key_index, key_format, key_problem = _as_key(frame[key], key_format)
    else:
        key_index, key_format, key_problem = pd.Index(np.arange(len(data))), None, None
    labels = _labels(frame[label_col], str(path)) if label_col is not None else None
    return Table(
        np.ascontiguousarray(data.values, dtype=np.float64),
        key_index,
        [str(c) for c in features],
        str(path),
        labels,
        label_col,
        key_format,
        key_problem,
    )


def _bound(table: Table, value, name: str):
    if isinstance(table.key, pd.DatetimeIndex):
        if table.key_format is not None and isinstance(value, str):  # the key's own layout, then ISO 8601
            for fmt in (table.key_format, "ISO8601"):
                parsed = _dates(pd.Series([value]), fmt)
                if parsed is not None:
                    return parsed[0]
            raise ConfigError(f"{name}={value!r} is not a date in the key's layout {table.key_format!r} or ISO 8601")
        try:
            return pd.Timestamp(value)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{name}={value!r} is not a date like the key column's values") from err
    if pd.api.types.is_numeric_dtype(table.key.dtype):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}={value!r} must be a number like the key column's values")
        return value
    return str(value)


def date_splits(table: Table, dates: Sequence[Sequence]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each pair ``(d1, d2)``: (training row numbers, test row numbers), test = key in ``(d1, d2]``."""
    if not dates:
        raise ConfigError("dates is empty; give at least one [start, end] pair (test rows: start < key <= end)")
    if table.key_problem is not None:  # text compared as text would select the wrong rows
        raise DataFileError(f"cannot select dates: {table.key_problem}")
    if not isinstance(dates, (list, tuple)):
        raise ConfigError(f"dates={dates!r} must be a list of [start, end] pairs")
    out = []
    for i, pair in enumerate(dates):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ConfigError(f"dates[{i}]={pair!r} must be a pair [start, end]")
        lo, hi = _bound(table, pair[0], f"dates[{i}][0]"), _bound(table, pair[1], f"dates[{i}][1]")
        if not lo < hi:
            raise ConfigError(f"dates[{i}]={list(pair)}: start must come before end")
        test = np.asarray((table.key > lo) & (table.key <= hi))
        if not test.any():
            raise ConfigError(
                f"dates[{i}]={list(pair)} selects no row; the key runs from {table.key.min()} to {table.key.max()}"
            )
        out.append((np.nonzero(~test)[0], np.nonzero(test)[0]))
    return out
