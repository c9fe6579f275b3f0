"""Arrow columns to and from dense arrays, and the checks that keep a malformed file from crashing
or over-allocating the readers.

Writing: ``tensor_array`` stores an array ``(rows, *shape)`` as nested fixed-size lists, so any
parquet reader (pandas, polars, DuckDB, HF datasets) sees each row's shape without our metadata.

Reading: ``dense_array`` accepts any nesting of (fixed-size or variable) lists whose lengths are
the same in every row, so files written flat (format 1) and nested (format 2) read alike; ragged
rows, missing values and columns of the wrong type raise a one-line :class:`DataFileError`.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anomaly_lab.core.errors import DataFileError

#: The parquet layout written today. Format 1 (before) stored every array as one flat list per
#: row (frames flattened, shapes only in ``anomaly_lab.shape``) and some flags as int8 or int64;
#: format 2 nests fixed-size lists in the array's shape and stores yes/no flags as bool.
FORMAT_VERSION = 2
FORMAT_KEY = "anomaly_lab.format_version"

#: The most bytes a reader allocates for one decoded row group (a cap on header-declared sizes).
#: Overridable with ``ANOMALY_LAB_MAX_DECODE_BYTES``.
DEFAULT_MAX_DECODE_BYTES = 4 << 30

_LEAF_KINDS = {
    "float": pa.types.is_floating,
    "integer": pa.types.is_integer,
    "bool": pa.types.is_boolean,
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "number": lambda t: pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t),
}


def max_decode_bytes() -> int:
    raw = os.environ.get("ANOMALY_LAB_MAX_DECODE_BYTES")
    if raw is None:
        return DEFAULT_MAX_DECODE_BYTES
    try:
        return max(1, int(raw))
    except ValueError:
        return DEFAULT_MAX_DECODE_BYTES


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_large_list(t)


# -- writing ---------------------------------------------------------------------------------------
def tensor_array(values: np.ndarray) -> pa.Array:
    """``values`` of shape ``(rows, *shape)`` as nested fixed-size lists (innermost: the last axis).

    One flat buffer wrapped once per axis: no copy beyond making it contiguous."""
    arr = pa.array(np.ascontiguousarray(values).reshape(-1))
    for size in reversed(values.shape[1:]):
        arr = pa.FixedSizeListArray.from_arrays(arr, int(size))
    return arr


def nested_list_array(values: np.ndarray, leading: int, inner: int, fixed: bool = False) -> pa.Array:
    """``values`` of shape ``(rows, leading, inner)`` as ``list<list<T>>`` (or fixed-size lists).

    Built from one flat buffer and two offset arrays, so it costs one copy at most.
    """
    rows = values.shape[0]
    flat = pa.array(np.ascontiguousarray(values).reshape(-1))
    if fixed:
        return pa.FixedSizeListArray.from_arrays(pa.FixedSizeListArray.from_arrays(flat, inner), leading)
    inner_offsets = pa.array(np.arange(0, rows * leading + 1, dtype=np.int32) * inner)
    outer_offsets = pa.array(np.arange(0, rows + 1, dtype=np.int32) * leading)
    return pa.ListArray.from_arrays(outer_offsets, pa.ListArray.from_arrays(inner_offsets, flat))


def list_array(values: np.ndarray, fixed: bool = False) -> pa.Array:
    """``values`` of shape ``(rows, n)`` as ``list<T>`` (or a fixed-size list)."""
    rows, n = values.shape
    flat = pa.array(np.ascontiguousarray(values).reshape(-1))
    if fixed:
        return pa.FixedSizeListArray.from_arrays(flat, n)
    return pa.ListArray.from_arrays(pa.array(np.arange(0, rows + 1, dtype=np.int32) * n), flat)


# -- schema checks ---------------------------------------------------------------------------------
def leaf_type(t: pa.DataType) -> pa.DataType:
    """The element type under every list level of ``t``."""
    while _is_list(t):
        t = t.value_type
    return t


def list_depth(t: pa.DataType) -> int:
    depth = 0
    while _is_list(t):
        t, depth = t.value_type, depth + 1
    return depth


def check_columns(schema: pa.Schema, spec: dict[str, tuple[str, bool]], dataset: str, required=()) -> None:
    """Check the columns named in ``spec`` (``name -> (leaf kind, is a list)``) that ``schema`` has,
    and that every ``required`` one is there; one line naming the column, its type and what is allowed.

    Leaf kinds: ``float``, ``integer``, ``bool``, ``string``, ``number`` (any of the first three)."""
    missing = [name for name in required if name not in schema.names]
    if missing:
        raise DataFileError(f"table has columns {schema.names}; a {dataset} file also needs {missing}")
    for name, (kind, is_list) in spec.items():
        if name not in schema.names:
            continue
        t = schema.field(name).type
        ok = _LEAF_KINDS[kind](leaf_type(t)) and (list_depth(t) > 0) == is_list
        if not ok:
            want = f"a list of {kind} values" if is_list else f"a {kind} value per row"
            raise DataFileError(f"column {name!r} of a {dataset} file has type {t}; it must hold {want}")


def file_format(metadata: dict[str, str]) -> int:
    """The format version a file declares (1 when it declares none, as format-1 files did)."""
    raw = metadata.get(FORMAT_KEY, "1")
    try:
        version = int(raw)
    except ValueError:
        version = -1
    if not 1 <= version <= FORMAT_VERSION:
        raise DataFileError(
            f"{FORMAT_KEY}={raw!r}: this reader reads formats 1 to {FORMAT_VERSION}; "
            "a newer anomaly_lab wrote it, or it is not ours"
        )
    return version


def declared_ints(metadata: dict[str, str], key: str, count: int, low: int = 1) -> tuple[int, ...]:
    """``count`` comma-separated integers ``>= low`` from ``metadata[key]`` (one line if not)."""
    raw = metadata.get(key)
    if raw is None:
        raise DataFileError(f"the file metadata has no {key!r}; it was not written by this codec")
    try:
        values = tuple(int(v) for v in raw.split(","))
    except ValueError:
        values = ()
    if len(values) != count or any(v < low for v in values):
        raise DataFileError(f"{key}={raw!r} in the file metadata must be {count} integers >= {low}")
    return values


def check_allocation(what: str, shape: tuple[int, ...], itemsize: int) -> None:
    """Refuse to allocate an array of ``shape`` whose size came from a header beyond the cap."""
    nbytes = math.prod(shape) * itemsize
    cap = max_decode_bytes()
    if nbytes > cap:
        raise DataFileError(
            f"{what} would need {nbytes / 2**30:.1f} GiB for shape {shape}, over the reader's cap of "
            f"{cap / 2**30:.1f} GiB (ANOMALY_LAB_MAX_DECODE_BYTES); the file's sizes are not plausible"
        )


# -- reading ---------------------------------------------------------------------------------------
def _combined(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks()
    return column


def row_shape(column: pa.ChunkedArray | pa.Array, name: str = "column") -> tuple[tuple[int, ...], pa.Array]:
    """The per-row shape of a list column (the same lengths in every row at every level) and its
    leaf values; ragged rows or missing values are a DataFileError."""
    arr = _combined(column)
    rows = len(arr)
    shape: list[int] = []
    while _is_list(arr.type):
        if arr.null_count:
            raise DataFileError(f"column {name!r} has missing (null) entries")
        if pa.types.is_fixed_size_list(arr.type):
            size = arr.type.list_size
        else:
            lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
            size = int(lengths[0]) if len(lengths) else 0
            if len(lengths) and (lengths != size).any():
                raise DataFileError(f"column {name!r} has rows of different lengths ({size} and more)")
        shape.append(size)
        arr = arr.flatten()
    if arr.null_count:
        raise DataFileError(f"column {name!r} has missing (null) values")
    if len(arr) != rows * math.prod(shape):
        raise DataFileError(f"column {name!r} holds {len(arr)} values for {rows} rows of shape {tuple(shape)}")
    return tuple(shape), arr


def dense_array(
    column: pa.ChunkedArray | pa.Array,
    name: str,
    dtype=None,
    shape: tuple[int, ...] | None = None,
    found: tuple[tuple[int, ...], pa.Array] | None = None,
) -> np.ndarray:
    """A list column as a writable ``(rows, *shape)`` array of ``dtype`` (``None``: as stored).

    ``shape`` is the expected per-row shape; the column may hold it nested to any depth (or flat),
    as long as the number of values per row agrees. ``found`` is ``row_shape(column)`` when the
    caller has it already."""
    rows = len(column)
    found_shape, leaves = found if found is not None else row_shape(column, name)
    if shape is None:
        shape = found_shape
    elif math.prod(found_shape) != math.prod(shape):
        raise DataFileError(f"column {name!r} holds rows of shape {found_shape}; the file declares {tuple(shape)}")
    values = np.asarray(leaves.to_numpy(zero_copy_only=False), dtype=dtype)
    if not values.flags.writeable:  # a view of Arrow's (immutable) buffer: tensors made from it are written to
        values = values.copy()
    return values.reshape(rows, *shape)


def scalar_array(column: pa.ChunkedArray | pa.Array, name: str, dtype) -> np.ndarray:
    """A one-value-per-row column as a writable array of ``dtype`` (nulls are a DataFileError)."""
    arr = _combined(column)
    if arr.null_count:
        raise DataFileError(f"column {name!r} has missing (null) values")
    values = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=dtype)
    return values if values.flags.writeable else values.copy()
