"""Building nested Arrow columns from dense tensors without a per-row loop."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


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


def flat_values(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """All leaf values of a (possibly nested, possibly chunked) list column as one numpy array."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    while (
        pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type) or pa.types.is_large_list(column.type)
    ):
        column = column.flatten()
    return column.to_numpy(zero_copy_only=False)


def list_lengths(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Lengths of the outer lists of a list column."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_fixed_size_list(column.type):
        return np.full(len(column), column.type.list_size)
    import pyarrow.compute as pc

    return pc.list_value_length(column).to_numpy(zero_copy_only=False)
