"""Sample-index ranges of the splits.

Each split starts at its own offset in the sample-index space, so train, validation and test never
share a sample index (and never share random draws), whether the data is made on the fly or exported.
A split therefore holds at most ``SPLIT_ROWS`` rows: rows past that would be another split's.
"""

from __future__ import annotations

from anomaly_lab.core.errors import ConfigError, check_choice

_STRIDE = 1_000_000_000
#: rows a split can hold (the distance between two splits' first sample indices)
SPLIT_ROWS = _STRIDE
SPLIT_OFFSETS = {"train": 0, "validate": _STRIDE, "val": _STRIDE, "test": 2 * _STRIDE}
SPLITS = tuple(SPLIT_OFFSETS)


def split_offset(split: str) -> int:
    """First sample index of ``split`` (``val`` and ``validate`` are the same split)."""
    check_choice("split", split, SPLITS)
    return SPLIT_OFFSETS[split]


def check_split_rows(split: str, size: int, start: int = 0) -> None:
    """Refuse rows ``start .. start+size-1`` unless they lie inside ``split``'s index range (so an export
    never writes rows that belong to the next split)."""
    split_offset(split)
    if start < 0:
        raise ConfigError(f"start={start!r} is out of range; allowed: [0, {_STRIDE - 1}]")
    if size > _STRIDE:
        raise ConfigError(f"size={size} is more rows than a split has; allowed: [1, {_STRIDE}]")
    if start + size > _STRIDE:
        raise ConfigError(
            f"split={split} start={start} size={size} would end at row {start + size - 1}, past the last row "
            f"of the split ({_STRIDE - 1}; later rows are the next split's); start + size must be at most {_STRIDE}"
        )


def split_indices(split: str, size: int, start: int = 0) -> range:
    """The sample indices of rows ``start .. start+size-1`` of ``split``."""
    if size > _STRIDE:
        raise ValueError(f"split size {size} exceeds the {_STRIDE} indices a split has")
    base = split_offset(split) + start
    return range(base, base + size)
