"""The contract between a generator and the exporters.

A *generator* is any object with

- ``generate(indices) -> dict[str, Tensor]``: the whole batch for these global sample indices;
- ``config_dict() -> dict``: plain values that describe it (written to the manifest);
- ``codec() -> Codec``: how its batches become Arrow tables and files, and back.

A ``Codec`` turns batches into ``pyarrow.Table`` rows (``to_table``), restores batches from a
table (``from_table``), names the per-file metadata (``metadata``), draws a preview PNG
(``preview``), and may write formats other than parquet (``write_other``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import pyarrow as pa
from torch import Tensor


@runtime_checkable
class Codec(Protocol):
    #: layouts ``to_table`` accepts; the first is the default
    layouts: tuple[str, ...]
    #: formats besides parquet that ``write_other`` writes (e.g. ``("npz",)``)
    other_formats: tuple[str, ...]

    def to_table(self, batch: dict[str, Tensor], layout: str) -> pa.Table: ...

    def from_table(self, table: pa.Table, metadata: dict[str, str]) -> dict[str, Tensor]: ...

    def metadata(self, layout: str) -> dict[str, str]: ...

    def preview(self, batch: dict[str, Tensor], path: str) -> None: ...

    def write_other(self, fmt: str, batches: Iterable[dict[str, Tensor]], path: str) -> list[str]:
        """Write all ``batches`` (an iterator, in sample-index order) in format ``fmt``.

        ``path`` is the final file path with ``.tmp`` appended (e.g. ``out/test.npz.tmp``); write
        there, and write any companion file as ``<its final path>.tmp`` too (e.g.
        ``out/test.labels.npy.tmp``). Return every path written; the exporter renames each into
        place by dropping the ``.tmp`` suffix, and deletes them if anything fails."""
        ...


@runtime_checkable
class Generator(Protocol):
    def generate(self, indices) -> dict[str, Tensor]: ...

    def config_dict(self) -> dict: ...

    def codec(self) -> Codec: ...
