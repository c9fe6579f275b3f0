"""Sample-index ranges of the splits.

Each split starts at its own offset in the sample-index space, so train, validation and test never
share a sample index (and never share random draws), whether the data is made on the fly or exported.
"""

from __future__ import annotations

from anomaly_lab.core.errors import check_choice

_STRIDE = 1_000_000_000
SPLIT_OFFSETS = {"train": 0, "validate": _STRIDE, "val": _STRIDE, "test": 2 * _STRIDE}
SPLITS = tuple(SPLIT_OFFSETS)


def split_offset(split: str) -> int:
    """First sample index of ``split`` (``val`` and ``validate`` are the same split)."""
    check_choice("split", split, SPLITS)
    return SPLIT_OFFSETS[split]


def split_indices(split: str, size: int, start: int = 0) -> range:
    """The sample indices of rows ``start .. start+size-1`` of ``split``."""
    if size > _STRIDE:
        raise ValueError(f"split size {size} exceeds the {_STRIDE} indices a split has")
    base = split_offset(split) + start
    return range(base, base + size)
