"""The contract between a generator and the exporters.

A *generator* is any object with

- ``generate(indices) -> dict[str, Tensor]``: the whole batch for these global sample indices;
- ``config_dict() -> dict``: plain values that describe it (written to the manifest);
- ``codec() -> Codec``: how its batches become Arrow tables and files, and back.

A ``Codec`` turns batches into ``pyarrow.Table`` rows (``to_table``), restores batches from a
table (``from_table``), names the per-file metadata (``metadata``), draws a preview PNG
(``preview``), and may write formats other than parquet (``write_other``).

Parquet written through a codec is a public format (see ``docs/export.md``, "Reading exported
folders"): arrays as nested fixed-size lists in their own shape (``anomaly_lab.io.arrow.tensor_array``),
yes/no flags as bool, ids as int64, and ``anomaly_lab.format_version`` in ``metadata``. A codec may
also offer ``check_schema(schema)``, which the reader calls on every file before decoding a row
(column names and types, one ``DataFileError`` line if wrong); ``from_table`` must read every
format version up to ``anomaly_lab.io.arrow.FORMAT_VERSION`` and check sizes a file declares
against the data before allocating.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

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

    def check_schema(self, schema: pa.Schema) -> None: ...

    def configure(self, **options: Any) -> Codec: ...

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> Codec: ...

    def metadata(self, layout: str) -> dict[str, str]: ...

    def preview(self, batch: dict[str, Tensor], path: str) -> None: ...

    def write_other(self, fmt: str, batches: Iterable[dict[str, Tensor]], path: str) -> list[str]:
        """Write all ``batches`` (an iterator, in sample-index order) in format ``fmt``.

        ``path`` is the final file path with ``.tmp`` appended (e.g. ``out/test.npz.tmp``); write
        there, and write any companion file as ``<its final path>.tmp`` too (e.g.
        ``out/test.labels.npy.tmp``). Return every path written; the exporter renames each into
        place by dropping the ``.tmp`` suffix, and deletes them if anything fails."""
        ...


class CodecBase:
    """The defaults a codec inherits, so every codec has the whole protocol: no other formats, every
    schema accepted, export options ignored, rebuilt from metadata by its plain constructor."""

    layouts: tuple[str, ...] = ()
    other_formats: tuple[str, ...] = ()

    def check_schema(self, schema: pa.Schema) -> None:
        """Raise a one-line DataFileError for a file this codec cannot decode (before any row is read)."""

    def configure(self, **options: Any) -> CodecBase:
        """Apply the export options this codec takes (``export.frame_dtype`` for RandomAnomaly); the
        shared export config passes every codec the same options, so others are left alone."""
        return self

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> CodecBase:
        return cls()

    def read_header(
        self, table: pa.Table, metadata: dict[str, str] | None, what: str, dims: int
    ) -> tuple[dict[str, str], tuple[int, ...]]:
        """The decoding steps every shaped codec shares: the file's ``anomaly_lab.*`` metadata merged
        over ``metadata``, its format version and schema checked, and its declared ``anomaly_lab.shape``
        (``dims`` positive ints, checked against caps) returned with the merged metadata."""
        from anomaly_lab.core.errors import DataFileError
        from anomaly_lab.io.arrow import declared_ints, file_format

        own = {
            k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items() if k.startswith(b"anomaly_lab.")
        }
        merged = {**(metadata or {}), **own}
        file_format(merged)
        self.check_schema(table.schema)
        if not merged.get("anomaly_lab.shape"):
            raise DataFileError(f"{what} table has no 'anomaly_lab.shape' metadata; it was not written by this codec")
        return merged, tuple(declared_ints(merged, "anomaly_lab.shape", dims))

    def write_other(self, fmt: str, batches: Iterable[dict[str, Tensor]], path: str) -> list[str]:
        from anomaly_lab.core.errors import ConfigError

        raise ConfigError(f"export.format={fmt!r} is not written by {type(self).__name__}; use parquet")


@runtime_checkable
class Generator(Protocol):
    def generate(self, indices) -> dict[str, Tensor]: ...

    def config_dict(self) -> dict: ...

    def codec(self) -> Codec: ...
