"""Streaming export of a generator's splits to sharded parquet (or a codec's own format).

Memory stays bounded whatever the size: rows are made ``batch_size`` at a time and written as row
groups. Each file is written under a temporary name and renamed when complete; ``manifest.json``
records the configuration, the files, their rows and SHA-256 checksums. Running the same export
again skips the files that are already complete, and never leaves a partial one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow.parquet as pq
import torch

from anomaly_lab import __version__
from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.core.splits import split_indices, split_offset

COMPRESSIONS = ("zstd", "gzip", "snappy", "none")
MANIFEST = "manifest.json"


@dataclass
class ExportOptions:
    """How to write: format, layout, shard size, compression, batch size, progress, preview."""

    format: str = "parquet"
    layout: str | None = None
    rows_per_file: int = 10000
    compression: str = "zstd"
    compression_level: int | None = None
    batch_size: int = 256
    progress: bool = True
    preview: bool = True
    preview_rows: int = 8
    extra: dict = field(default_factory=dict)

    def validate(self, codec) -> None:
        check_choice("export.format", self.format, ("parquet", *getattr(codec, "other_formats", ())))
        if self.layout is None:
            self.layout = codec.layouts[0]
        check_choice("export.layout", self.layout, codec.layouts)
        check_range("export.rows_per_file", self.rows_per_file, 1, integer=True)
        check_choice("export.compression", self.compression, COMPRESSIONS)
        if self.compression_level is not None:
            check_range("export.compression_level", self.compression_level, integer=True)
        check_range("batch_size", self.batch_size, 1, integer=True)
        check_range("export.preview_rows", self.preview_rows, 1, integer=True)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _write_json_atomic(path: str, payload: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(payload, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
    os.replace(tmp, path)


def prepare_out_dir(out_dir: str) -> None:
    """Create ``out_dir`` and check it is writable (a ConfigError otherwise, leaving nothing)."""
    existed = os.path.isdir(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
        probe = os.path.join(out_dir, f".write-probe-{os.getpid()}")
        with open(probe, "w") as fh:
            fh.write("ok")
        os.remove(probe)
    except OSError as err:
        if not existed and os.path.isdir(out_dir) and not os.listdir(out_dir):
            os.rmdir(out_dir)
        raise ConfigError(
            f"out_dir={out_dir!r} is not writable ({err.strerror or err}); choose a folder you can write to"
        ) from err


def _batches(generator, split: str, start: int, rows: int, batch_size: int, bar=None) -> Iterator[dict]:
    indices = split_indices(split, rows, start)
    for lo in range(0, rows, batch_size):
        idx = torch.arange(indices.start + lo, indices.start + min(rows, lo + batch_size), dtype=torch.int64)
        batch = generator.generate(idx)
        batch.setdefault("index", idx)
        yield batch
        if bar is not None:
            bar.update(len(idx))


class Exporter:
    """Write splits of ``generator`` into ``out_dir`` through its codec (see ``export/codec.py``)."""

    def __init__(self, generator, out_dir: str, options: ExportOptions, codec=None):
        self.generator = generator
        self.codec = codec if codec is not None else generator.codec()
        self.out_dir = str(out_dir)
        self.options = options
        options.validate(self.codec)
        self.manifest_path = os.path.join(self.out_dir, MANIFEST)
        self.settings = {
            "generator": generator.config_dict(),
            "format": options.format,
            "layout": options.layout,
            "rows_per_file": options.rows_per_file,
            "compression": options.compression,
            "compression_level": options.compression_level,
            **options.extra,
        }
        self.fingerprint = _fingerprint(self.settings)

    # -- manifest ----------------------------------------------------------------------------
    def _load_manifest(self) -> dict:
        if not os.path.exists(self.manifest_path):
            return {
                "anomaly_lab_version": __version__,
                "fingerprint": self.fingerprint,
                "settings": self.settings,
                "splits": {},
            }
        try:
            with open(self.manifest_path) as fh:
                manifest = json.load(fh)
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(
                f"{self.manifest_path} is unreadable ({err}); delete it or choose another out_dir"
            ) from err
        if manifest.get("fingerprint") != self.fingerprint:
            raise ConfigError(
                f"out_dir={self.out_dir!r} already holds an export made with other settings "
                f"(fingerprint {manifest.get('fingerprint')} != {self.fingerprint}); "
                "choose another out_dir or delete it"
            )
        return manifest

    # -- one parquet shard -------------------------------------------------------------------
    def _write_parquet(self, final: str, split: str, start: int, rows: int, bar) -> dict:
        opts = self.options
        tmp = final + ".tmp"
        compression = None if opts.compression == "none" else opts.compression
        writer = None
        try:
            for batch in _batches(self.generator, split, start, rows, opts.batch_size, bar):
                table = self.codec.to_table(batch, opts.layout)
                if writer is None:
                    schema = table.schema.with_metadata(
                        {
                            **self.codec.metadata(opts.layout),
                            "anomaly_lab.split": split,
                            "anomaly_lab.fingerprint": self.fingerprint,
                        }
                    )
                    writer = pq.ParquetWriter(
                        tmp, schema, compression=compression, compression_level=opts.compression_level
                    )
                writer.write_table(table.replace_schema_metadata(writer.schema.metadata))
            writer.close()
            writer = None
            os.replace(tmp, final)
        finally:
            if writer is not None:
                writer.close()
            if os.path.exists(tmp):
                os.remove(tmp)
        return {
            "name": os.path.basename(final),
            "rows": rows,
            "first_index": split_offset(split) + start,
            "bytes": os.path.getsize(final),
            "sha256": sha256_file(final),
        }

    def _write_other(self, final: str, split: str, start: int, rows: int, bar) -> list[dict]:
        written: list[str] = []
        try:
            written = list(
                self.codec.write_other(
                    self.options.format,
                    _batches(self.generator, split, start, rows, self.options.batch_size, bar),
                    final + ".tmp",
                )
            )
            entries = []
            for path in written:
                if not path.endswith(".tmp"):
                    raise RuntimeError(f"codec wrote {path!r}, which does not end in .tmp")
                os.replace(path, path[:-4])
                entries.append(
                    {
                        "name": os.path.basename(path[:-4]),
                        "rows": rows,
                        "first_index": split_offset(split) + start,
                        "bytes": os.path.getsize(path[:-4]),
                        "sha256": sha256_file(path[:-4]),
                    }
                )
            written = []
            return entries
        finally:
            for path in written:
                if os.path.exists(path):
                    os.remove(path)

    # -- whole splits ------------------------------------------------------------------------
    def export_split(self, split: str, size: int, start: int = 0) -> dict:
        """Write ``size`` rows of ``split`` from row ``start``; returns the split's manifest entry."""
        check_range("size", size, 1, integer=True)
        check_range("start", start, 0, integer=True)
        split_offset(split)  # validates the name
        opts = self.options
        manifest = self._load_manifest()
        previous = {f["name"]: f for f in manifest["splits"].get(split, {}).get("files", [])}
        if opts.format == "parquet":
            n_files = math.ceil(size / opts.rows_per_file)
            plan = [
                (
                    os.path.join(self.out_dir, f"{split}-{k:05d}.parquet"),
                    start + k * opts.rows_per_file,
                    min(opts.rows_per_file, size - k * opts.rows_per_file),
                )
                for k in range(n_files)
            ]
        else:
            plan = [(os.path.join(self.out_dir, f"{split}.{opts.format}"), start, size)]
        from tqdm.auto import tqdm

        bar = tqdm(total=size, unit="row", desc=f"{split}", disable=not opts.progress, dynamic_ncols=True)
        files = []
        try:
            for final, first, rows in plan:
                done = previous.get(os.path.basename(final))
                if (
                    done is not None
                    and done["rows"] == rows
                    and done["first_index"] == split_offset(split) + first
                    and os.path.exists(final)
                    and os.path.getsize(final) == done["bytes"]
                    and sha256_file(final) == done["sha256"]
                ):
                    files.append(done)
                    bar.update(rows)
                    bar.set_postfix_str("skipped finished file")
                    continue
                if opts.format == "parquet":
                    files.append(self._write_parquet(final, split, first, rows, bar))
                else:
                    files.extend(self._write_other(final, split, first, rows, bar))
                manifest["splits"][split] = {
                    "size": size,
                    "start": start,
                    "files": files + [previous[k] for k in previous if k not in {f["name"] for f in files}],
                }
                _write_json_atomic(self.manifest_path, manifest)
        finally:
            bar.close()
        manifest["splits"][split] = {
            "size": size,
            "start": start,
            "first_index": split_offset(split) + start,
            "files": files,
        }
        manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        _write_json_atomic(self.manifest_path, manifest)
        return manifest["splits"][split]

    def write_preview(self, split: str, start: int = 0) -> str | None:
        """Draw the first ``preview_rows`` rows of ``split`` with the codec's ``preview``."""
        if not self.options.preview:
            return None
        idx = torch.tensor(list(split_indices(split, self.options.preview_rows, start)), dtype=torch.int64)
        batch = self.generator.generate(idx)
        batch.setdefault("index", idx)
        path = os.path.join(self.out_dir, "preview.png")
        self.codec.preview(batch, path)
        return path
