"""Streaming, pipelined export of a generator's splits to sharded parquet (or a codec's own format).

Memory stays bounded whatever the size: rows are made ``batch_size`` at a time and written as row
groups, with at most a few batches in flight. Generation runs on the calling thread while writer
threads build the Arrow tables and encode and compress them (pyarrow releases the GIL there), one
file per writer, so the two overlap and gzip can use every core.

What lands in ``out_dir``:

- the data files (``train-00000.parquet`` ...), each written in a per-process temporary folder and
  renamed into place only when complete;
- ``_manifest.json``: the configuration, the files, their rows and SHA-256 checksums. Names starting
  with ``_`` or ``.`` are skipped by pandas, pyarrow.dataset and the other parquet readers, so the
  folder opens as a dataset. Older folders used ``manifest.json`` and ``preview.png``; they are still
  resumed, and renamed on the first run that finishes in them;
- ``_preview/``: the codec's pictures;
- ``.export.lock``: an advisory lock held while a run writes, so two runs into one folder cannot
  interleave (the second is refused with one line).

Running the same export again skips the files that are already complete and never leaves a partial
one. A sharded run (``shard=i`` of ``num_shards=n``) writes a disjoint subset of the same files and
its own ``_manifest.shard-i-of-n.json``; the run that completes the last shard merges them into
``_manifest.json``, refusing gaps and overlaps.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import queue
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from anomaly_lab import __version__
from anomaly_lab.core.errors import ConfigError, DataFileError, check_choice, check_range
from anomaly_lab.core.splits import check_split_rows, split_indices, split_offset
from anomaly_lab.io.folder import (
    LEGACY_MANIFEST_NAME,
    MANIFEST_NAME,
    PREVIEW_DIR,
    check_member_name,
    find_manifest,
    shard_manifest_name,
)

try:  # advisory locks need POSIX; elsewhere the folder is not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

COMPRESSIONS = ("zstd", "gzip", "snappy", "none")
PREVIEW_NAME = "preview.png"
#: preview files older folders kept beside the data
LEGACY_PREVIEW_NAMES = ("preview.png", "preview.gif")
LOCK_NAME = ".export.lock"
#: 2: ``_manifest.json`` and ``_preview/`` (1, unrecorded: ``manifest.json`` and ``preview.png``)
FORMAT_VERSION = 2
#: files in an export folder that a glob or dataset reader would take for data
DATA_SUFFIXES = (".parquet", ".npz", ".npy", ".h5", ".csv")
#: gzip's level when none is given: level 1 writes these frames 7-8x faster than zlib's default 6
#: (pyarrow's 9) for about 3% more bytes
GZIP_DEFAULT_LEVEL = 1
_TMP_PREFIX = ".tmp-"


@dataclass
class ExportOptions:
    """How to write: format, layout, shard size, compression, batch size, writers, progress, preview."""

    format: str = "parquet"
    layout: str | None = None
    rows_per_file: int = 10000
    compression: str = "zstd"
    compression_level: int | None = None
    batch_size: int = 256
    progress: bool = True
    preview: bool = True
    preview_rows: int = 8
    #: writer threads (files written at once); None: one per core
    workers: int | None = None
    extra: dict = field(default_factory=dict)

    def validate(self, codec) -> None:
        check_choice("export.format", self.format, ("parquet", *getattr(codec, "other_formats", ())))
        if self.layout is None:
            self.layout = codec.layouts[0]
        check_choice("export.layout", self.layout, codec.layouts)
        check_range("export.rows_per_file", self.rows_per_file, 1, integer=True)
        check_choice("export.compression", self.compression, COMPRESSIONS)
        if self.compression_level is not None:
            if self.compression in ("snappy", "none"):
                raise ConfigError(
                    f"export.compression_level={self.compression_level!r} is given but "
                    f"export.compression={self.compression!r} has no levels; drop it or use zstd or gzip"
                )
            low = pa.Codec.minimum_compression_level(self.compression)
            high = pa.Codec.maximum_compression_level(self.compression)
            check_range(
                f"export.compression_level ({self.compression})", self.compression_level, low, high, integer=True
            )
        check_range("batch_size", self.batch_size, 1, integer=True)
        check_range("export.preview_rows", self.preview_rows, 1, integer=True)
        if self.workers is not None:
            check_range("export.workers", self.workers, 1, 256, integer=True)

    def effective_level(self) -> int | None:
        if self.compression_level is None and self.compression == "gzip":
            return GZIP_DEFAULT_LEVEL
        return self.compression_level


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _write_json_atomic(path: str, payload: dict) -> None:
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
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


# -- locking -----------------------------------------------------------------------------------
class FolderLock:
    """An advisory ``flock`` on a file in the export folder, taken without waiting.

    ``exclusive`` runs (a whole export) hold it alone and remove the file when done; sharded runs
    hold it shared (so shards of one export run side by side, but never beside a whole export) and
    leave it. A holder that finds the file replaced after locking (its previous holder removed it)
    locks the new one instead."""

    def __init__(self, path: str, exclusive: bool, what: str):
        self.path, self.exclusive, self.what = path, exclusive, what
        self.fd: int | None = None

    def acquire(self, wait: bool = False) -> FolderLock:
        if fcntl is None:  # pragma: no cover
            return self
        mode = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
        for _ in range(100):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, mode | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                holder = ""
                with contextlib.suppress(OSError):
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                os.close(fd)
                by = f" (pid {holder})" if holder.isdigit() else ""
                raise ConfigError(
                    f"{self.what} is being written by another export{by}; wait for it to finish or choose "
                    f"another out_dir (lock file {self.path})"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                if self.exclusive:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, str(os.getpid()).encode(), 0)
                return self
            os.close(fd)
        raise ConfigError(f"could not lock {self.path}: it keeps being replaced")  # pragma: no cover

    def release(self) -> None:
        if self.fd is None:
            return
        if self.exclusive:
            with contextlib.suppress(OSError):
                os.remove(self.path)
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


# -- the pipeline ------------------------------------------------------------------------------
_END = object()
_ABORT = object()


@dataclass
class _FileJob:
    """One file to write: its rows, the queue of batches to it and the writer working on it."""

    split: str
    final: str
    first: int  # first row of the split
    rows: int
    queue: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=2))
    ranges: Iterator | None = None
    future: object = None
    closed: bool = False
    base: int = 0  # sample index of the file's first row
    #: set by the main thread when the export stops: the writer drops its file
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def name(self) -> str:
        return os.path.basename(self.final)

    def first_index(self) -> int:
        return split_offset(self.split) + self.first


#: seconds a writer waits on an empty queue before it looks at its job's stop flag
_STOP_POLL_S = 0.25


def _queue_batches(job: _FileJob) -> Iterator[dict]:
    """The batches queued for ``job`` until its end marker. Besides the abort marker, the writer
    stops on ``job.stop``: a KeyboardInterrupt can land inside the main thread's ``Queue.put`` or
    between two of its steps, and a writer blocked on the queue for good would keep the export's
    thread pool, and so the process, from ever exiting (seen about once in 45 interrupts under load)."""
    while True:
        try:
            item = job.queue.get(timeout=_STOP_POLL_S)
        except queue.Empty:
            if job.stop.is_set():
                raise _Aborted from None
            continue
        if item is _END:
            return
        if item is _ABORT:
            raise _Aborted
        yield item


class _Aborted(Exception):
    """The main thread stopped the export; the writer drops its file."""


def _parquet_write_options(schema: pa.Schema) -> dict:
    """Parquet options that keep float leaves cheap: no dictionary (random-looking floats defeat it
    and it costs a hash per value) and no min/max statistics, which measured +35-50% write rate and
    smaller files. Other leaves (labels, indices) keep both."""
    buf = io.BytesIO()
    pq.write_table(schema.empty_table(), buf)
    pschema = pq.ParquetFile(pa.BufferReader(buf.getvalue())).schema
    others = []
    for i in range(len(pschema)):
        col = pschema.column(i)
        floating = col.physical_type in ("FLOAT", "DOUBLE") or col.logical_type.type == "FLOAT16"
        if not floating:
            others.append(col.path)
    return {"use_dictionary": others, "write_statistics": others}


class Exporter:
    """Write splits of ``generator`` into ``out_dir`` through its codec (see ``io/codec.py``).

    ``shard``/``num_shards`` select a disjoint subset of the files (file k of a split belongs to
    shard ``k * num_shards // files``), so n runs together write exactly the files one run would."""

    def __init__(
        self, generator, out_dir: str, options: ExportOptions, codec=None, shard: int = 0, num_shards: int = 1
    ):
        self.generator = generator
        self.codec = codec if codec is not None else generator.codec()
        self.out_dir = str(out_dir)
        self.options = options
        options.validate(self.codec)
        check_range("num_shards", num_shards, 1, integer=True)
        check_range("shard", shard, 0, num_shards - 1, integer=True)
        self.shard, self.num_shards = shard, num_shards
        self.sharded = num_shards > 1
        self.manifest_path = os.path.join(
            self.out_dir, shard_manifest_name(shard, num_shards) if self.sharded else MANIFEST_NAME
        )
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
        self._locks: list[FolderLock] = []
        self._tmp_dir: str | None = None
        self._write_options: dict | None = None
        self._done_before: dict[str, list[dict]] = {}
        self._all_jobs: list[_FileJob] = []
        self.messages: list[str] = []

    # -- messages ----------------------------------------------------------------------------
    def _say(self, line: str) -> None:
        """A notice the user must see whatever ``progress`` says (files removed from their folder)."""
        self.messages.append(line)
        print(line, file=sys.stderr)

    # -- manifests ---------------------------------------------------------------------------
    def _new_manifest(self) -> dict:
        manifest = {
            "format_version": FORMAT_VERSION,
            "anomaly_lab_version": __version__,
            "fingerprint": self.fingerprint,
            "settings": self.settings,
            "splits": {},
        }
        if self.sharded:
            manifest["shard"] = {"index": self.shard, "count": self.num_shards}
        return manifest

    def _read_manifest(self, path: str) -> dict:
        try:
            with open(path) as fh:
                manifest = json.load(fh)
            if not isinstance(manifest, dict) or not isinstance(manifest.get("splits", {}), dict):
                raise ValueError("not a manifest object")
            for entry in manifest.get("splits", {}).values():
                for f in entry.get("files", []):
                    check_member_name(f.get("name"), path)
        except DataFileError:
            raise
        except (OSError, ValueError, AttributeError, TypeError) as err:
            raise ConfigError(f"{path} is unreadable ({err}); delete it or choose another out_dir") from err
        if manifest.get("fingerprint") != self.fingerprint:
            raise ConfigError(
                f"out_dir={self.out_dir!r} already holds an export made with other settings "
                f"(fingerprint {manifest.get('fingerprint')} != {self.fingerprint}); "
                "choose another out_dir or delete it"
            )
        return manifest

    def _load_manifest(self) -> dict:
        """This run's manifest (a fresh one when the folder has none) after checking that every manifest
        already in the folder was made with the same settings."""
        main = find_manifest(self.out_dir)
        manifest = self._read_manifest(main) if main else None
        for other in self._shard_manifests():
            m = self._read_manifest(os.path.join(self.out_dir, other))
            if self.sharded and m.get("shard", {}).get("count") != self.num_shards:
                raise ConfigError(
                    f"out_dir={self.out_dir!r} holds {other}, shards of an export into "
                    f"{m.get('shard', {}).get('count')} parts, not num_shards={self.num_shards}; "
                    "use the same num_shards or another out_dir"
                )
        if self.sharded:
            mine = self.manifest_path if os.path.exists(self.manifest_path) else None
            manifest = self._read_manifest(mine) if mine else None
        if manifest is None:
            return self._new_manifest()
        manifest = {**manifest, "format_version": FORMAT_VERSION}
        manifest.pop("complete", None)
        return manifest

    def _shard_manifests(self) -> list[str]:
        return sorted(n for n in os.listdir(self.out_dir) if n.startswith("_manifest.shard-") and n.endswith(".json"))

    def _known_files(self) -> dict[str, dict]:
        """Every file some manifest in the folder (of these settings) records, by name."""
        known: dict[str, dict] = {}
        paths = [find_manifest(self.out_dir)] + [os.path.join(self.out_dir, n) for n in self._shard_manifests()]
        for path in paths:
            if path and os.path.exists(path):
                for split, entry in self._read_manifest(path).get("splits", {}).items():
                    for f in entry.get("files", []):
                        known[f["name"]] = {**f, "split": split}
        return known

    # -- planning ----------------------------------------------------------------------------
    def _file_plan(self, split: str, size: int, start: int) -> list[tuple[str, int, int]]:
        """(file name, first row, rows) of every file of the split, over all shards."""
        opts = self.options
        if opts.format != "parquet":
            return [(f"{split}.{opts.format}", start, size)]
        n_files = math.ceil(size / opts.rows_per_file)
        return [
            (
                f"{split}-{k:05d}.parquet",
                start + k * opts.rows_per_file,
                min(opts.rows_per_file, size - k * opts.rows_per_file),
            )
            for k in range(n_files)
        ]

    def _my_files(self, files: list) -> list:
        n = len(files)
        return [f for k, f in enumerate(files) if k * self.num_shards // max(n, 1) == self.shard]

    @staticmethod
    def check_plan(plan: list[dict]) -> list[dict]:
        """Each entry ``{split, size, start}`` valid and inside its split's index range; no split twice."""
        seen = set()
        out = []
        for entry in plan:
            split = entry["split"]
            split_offset(split)
            canonical = "validate" if split == "val" else split
            if canonical in seen:
                raise ConfigError(f"split {split!r} is listed twice in export.splits; give each split once")
            seen.add(canonical)
            size, start = entry["size"], entry.get("start", 0)
            check_range(f"size (split {split})", size, 1, integer=True)
            check_range(f"start (split {split})", start, 0, integer=True)
            check_split_rows(split, size, start)
            out.append({"split": split, "size": size, "start": start})
        return out

    # -- stale files -------------------------------------------------------------------------
    def _clean_folder(self, plan: list[dict], manifest: dict) -> None:
        """Remove what earlier runs left that would be read beside this export, or refuse.

        Temporary files of dead runs are removed. Files a manifest of these settings records for a
        split this run rewrites, but that the new plan no longer has (a smaller rerun), are removed
        and named. Data files no manifest records (from another run, or a deleted manifest) are
        refused before anything is written: they may not be ours to delete."""
        mine = _TMP_PREFIX + (f"shard{self.shard}of{self.num_shards}-" if self.sharded else "")
        for name in os.listdir(self.out_dir):
            path = os.path.join(self.out_dir, name)
            stale_tmp = (
                name.startswith(mine) if self.sharded else (name.startswith(_TMP_PREFIX) or name.endswith(".tmp"))
            )
            if stale_tmp:
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.remove(path)
        planned = {
            name for entry in plan for name, _, _ in self._file_plan(entry["split"], entry["size"], entry["start"])
        }
        rewritten = {"validate" if e["split"] == "val" else e["split"] for e in plan}
        known = self._known_files()
        if self.options.format != "parquet":
            # a codec's other formats write sibling files (npz + labels.npy): whatever a manifest lists
            planned |= {n for n, f in known.items() if f["split"] in {e["split"] for e in plan}}
        removable, unknown = [], []
        for name in sorted(os.listdir(self.out_dir)):
            if (
                not name.endswith(DATA_SUFFIXES)
                or name in planned
                or not os.path.isfile(os.path.join(self.out_dir, name))
            ):
                continue
            if name in known:
                split = known[name]["split"]
                if ("validate" if split == "val" else split) in rewritten:
                    removable.append(name)
            else:
                unknown.append(name)
        if unknown:
            shown = ", ".join(unknown[:4]) + (f" and {len(unknown) - 4} more" if len(unknown) > 4 else "")
            raise ConfigError(
                f"out_dir={self.out_dir!r} holds {len(unknown)} data file(s) that no manifest of this export "
                f"records ({shown}); readers would take them for part of it: delete them or choose another out_dir"
            )
        if self.sharded and self.shard != 0:
            removable = []  # shard 0 removes them (each shard sees the same folder)
        if removable:
            for name in removable:
                os.remove(os.path.join(self.out_dir, name))
            for entry in manifest["splits"].values():
                entry["files"] = [f for f in entry.get("files", []) if f["name"] not in removable]
            shown = ", ".join(removable[:4]) + (f" and {len(removable) - 4} more" if len(removable) > 4 else "")
            self._say(f"removed {len(removable)} file(s) an earlier, different run of this export left: {shown}")

    # -- one file ----------------------------------------------------------------------------
    def _tmp_path(self, name: str) -> str:
        return os.path.join(self._tmp_dir, name + ".tmp")

    def _make_tmp_dir(self) -> None:
        """This process's temporary folder (made before any writer thread starts)."""
        tag = f"shard{self.shard}of{self.num_shards}-" if self.sharded else ""
        self._tmp_dir = os.path.join(self.out_dir, f"{_TMP_PREFIX}{tag}{os.getpid()}")
        os.makedirs(self._tmp_dir, exist_ok=True)

    def _entry(self, job: _FileJob, final: str) -> dict:
        return {
            "name": os.path.basename(final),
            "rows": job.rows,
            "first_index": job.first_index(),
            "bytes": os.path.getsize(final),
            "sha256": sha256_file(final),
        }

    def _write_parquet(self, job: _FileJob) -> list[dict]:
        """Writer thread: tables from the job's batches into one parquet file."""
        opts = self.options
        tmp = self._tmp_path(job.name)
        compression = None if opts.compression == "none" else opts.compression
        writer = None
        try:
            for batch in _queue_batches(job):
                table = self.codec.to_table(batch, opts.layout)
                if writer is None:
                    schema = table.schema.with_metadata(
                        {
                            **self.codec.metadata(opts.layout),
                            "anomaly_lab.split": job.split,
                            "anomaly_lab.fingerprint": self.fingerprint,
                        }
                    )
                    if self._write_options is None:
                        self._write_options = _parquet_write_options(schema)
                    writer = pq.ParquetWriter(
                        tmp,
                        schema,
                        compression=compression,
                        compression_level=opts.effective_level() if compression else None,
                        **self._write_options,
                    )
                writer.write_table(table.replace_schema_metadata(writer.schema.metadata))
            writer.close()
            writer = None
            os.replace(tmp, job.final)
        except _Aborted:
            return []
        finally:
            if writer is not None:
                writer.close()
            if os.path.exists(tmp):
                os.remove(tmp)
        return [self._entry(job, job.final)]

    def _write_other(self, job: _FileJob) -> list[dict]:
        """Writer thread: the codec's own format (npz, h5, csv) from the job's batches."""
        written: list[str] = []
        try:
            written = list(self.codec.write_other(self.options.format, _queue_batches(job), self._tmp_path(job.name)))
            entries = []
            for path in written:
                if not path.endswith(".tmp"):
                    raise RuntimeError(f"codec wrote {path!r}, which does not end in .tmp")
                final = os.path.join(self.out_dir, os.path.basename(path)[:-4])
                os.replace(path, final)
                entries.append(self._entry(job, final))
            written = []
            return entries
        except _Aborted:
            return []
        finally:
            for path in written:
                if os.path.exists(path):
                    os.remove(path)

    # -- whole runs --------------------------------------------------------------------------
    def _workers(self, n_jobs: int) -> int:
        wanted = self.options.workers or usable_cores()
        return max(1, min(wanted, n_jobs))

    def _put(self, job: _FileJob, item) -> None:
        while True:
            try:
                job.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                if job.future.done():
                    job.future.result()  # re-raises the writer's error
                    raise RuntimeError(f"the writer of {job.name} stopped early")

    def _run_jobs(self, jobs: list[_FileJob], manifest: dict, plan: list[dict], bar) -> dict[str, list[dict]]:
        """Generate batches for up to ``workers`` files at once, round robin, while writer threads
        write them; returns the manifest entries of each file as it completes."""
        workers = self._workers(len(jobs))
        pending = deque(jobs)
        open_jobs: list[_FileJob] = []
        started: list[_FileJob] = []
        done: dict[str, list[dict]] = {}
        write = self._write_parquet if self.options.format == "parquet" else self._write_other
        pool = ThreadPoolExecutor(max_workers=2 * workers, thread_name_prefix="export-writer")
        try:
            while pending or open_jobs or any(j.name not in done for j in started):
                while pending and len(open_jobs) < workers:
                    job = pending.popleft()
                    indices = split_indices(job.split, job.rows, job.first)
                    bs = self.options.batch_size
                    job.ranges = iter([(lo, min(job.rows, lo + bs)) for lo in range(0, job.rows, bs)])
                    job.future = pool.submit(write, job)
                    job.base = indices.start
                    open_jobs.append(job)
                    started.append(job)
                for job in list(open_jobs):
                    step = next(job.ranges, None)
                    if step is None:
                        self._put(job, _END)
                        job.closed = True
                        open_jobs.remove(job)
                        continue
                    idx = torch.arange(job.base + step[0], job.base + step[1], dtype=torch.int64)
                    batch = self._owned(self.generator.generate(idx))
                    batch.setdefault("index", idx)
                    self._put(job, batch)
                    if bar is not None:
                        bar.update(len(idx))
                for job in started:
                    if job.name not in done and job.future.done():
                        done[job.name] = job.future.result()
                        self._record(manifest, plan, {**self._done_before, **done}, self._all_jobs)
                if not open_jobs and not pending:
                    waiting = [j for j in started if j.name not in done]
                    if waiting:
                        waiting[0].future.result()
        except BaseException:
            # Files still being fed are dropped; files whose rows are all queued are finished and
            # recorded, so the same command resumes after them.
            for job in jobs:  # first, so that no writer can wait for good (see _queue_batches)
                if not job.closed:
                    job.stop.set()
            for job in started:
                if not job.closed and not job.future.done():
                    with contextlib.suppress(queue.Empty):
                        while True:
                            job.queue.get_nowait()
                    with contextlib.suppress(queue.Full):
                        job.queue.put_nowait(_ABORT)
            for job in started:
                with contextlib.suppress(BaseException):
                    result = job.future.result()
                    if job.closed and job.name not in done:
                        done[job.name] = result
            with contextlib.suppress(BaseException):
                self._record(manifest, plan, {**self._done_before, **done}, self._all_jobs)
            raise
        finally:
            pool.shutdown(wait=True)
        return done

    @staticmethod
    def _owned(batch: dict) -> dict:
        """``batch`` copied to CPU memory of its own before it is queued: a generator may write its
        next batch into the same buffer (``out=``) while this one waits for a writer thread, and a GPU
        batch must reach the CPU anyway. One copy of each batch (a few percent of generation on CPU);
        detecting reuse instead would find it only after the batch in flight was overwritten."""
        return {k: v.detach().to("cpu", copy=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def _record(self, manifest: dict, plan: list[dict], done: dict, jobs: list[_FileJob]) -> None:
        """Write the manifest with the files finished so far (in file order), so a crash resumes."""
        for entry in plan:
            split = entry["split"]
            files = [f for job in jobs if job.split == split and job.name in done for f in done[job.name]]
            manifest["splits"][split] = {
                "size": entry["size"],
                "start": entry["start"],
                "first_index": split_offset(split) + entry["start"],
                "files": files,
            }
        _write_json_atomic(self.manifest_path, manifest)

    def export(self, plan: list[dict]) -> dict[str, dict]:
        """Write every ``{split, size, start}`` of ``plan`` (this shard's part of it); returns each
        split's manifest entry. Holds the folder's lock for the whole run."""
        plan = self.check_plan(plan)
        os.makedirs(self.out_dir, exist_ok=True)
        with self.locked():
            manifest = self._load_manifest()
            self._clean_folder(plan, manifest)
            previous = {name: {k: v for k, v in f.items() if k != "split"} for name, f in self._known_files().items()}
            from tqdm.auto import tqdm

            jobs, done = [], {}
            total = 0
            for entry in plan:
                for name, first, rows in self._my_files(self._file_plan(entry["split"], entry["size"], entry["start"])):
                    job = _FileJob(entry["split"], os.path.join(self.out_dir, name), first, rows)
                    jobs.append(job)
                    total += rows
            bar = tqdm(total=total, unit="row", desc="export", disable=not self.options.progress, dynamic_ncols=True)
            try:
                todo = []
                for job in jobs:
                    if self._finished(job, previous):
                        done[job.name] = [previous[job.name]] + [
                            f for n, f in previous.items() if n != job.name and self._sibling(n, job)
                        ]
                        bar.update(job.rows)
                    else:
                        todo.append(job)
                self._record(manifest, plan, done, jobs)
                self._done_before, self._all_jobs = done, jobs
                if todo:
                    self._make_tmp_dir()
                    done.update(self._run_jobs(todo, manifest, plan, bar))
            finally:
                bar.close()
                if self._tmp_dir is not None:
                    shutil.rmtree(self._tmp_dir, ignore_errors=True)
                    self._tmp_dir = None
            self._record(manifest, plan, done, jobs)
            manifest["complete"] = True
            manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            _write_json_atomic(self.manifest_path, manifest)
            if self.sharded:
                self.merge_shards()
            else:
                self._retire_legacy_names()
            return {e["split"]: manifest["splits"][e["split"]] for e in plan}

    def _retire_legacy_names(self) -> None:
        """A folder written before format_version 2: its manifest is superseded by ``_manifest.json``
        and its pictures move into ``_preview/``, so dataset readers no longer trip over them."""
        legacy = os.path.join(self.out_dir, LEGACY_MANIFEST_NAME)
        if os.path.exists(legacy):
            os.remove(legacy)
        for name in LEGACY_PREVIEW_NAMES:
            old = os.path.join(self.out_dir, name)
            if os.path.isfile(old):
                os.makedirs(os.path.join(self.out_dir, PREVIEW_DIR), exist_ok=True)
                os.replace(old, os.path.join(self.out_dir, PREVIEW_DIR, name))

    def _sibling(self, name: str, job: _FileJob) -> bool:
        """Whether ``name`` is another file the codec wrote with ``job``'s (``test.labels.npy`` beside
        ``test.npz``)."""
        return self.options.format != "parquet" and name.split(".")[0] == job.split and name != job.name

    def _finished(self, job: _FileJob, previous: dict) -> bool:
        done = previous.get(job.name)
        if done is None or done["rows"] != job.rows or done["first_index"] != job.first_index():
            return False
        names = [job.name] + [n for n in previous if self._sibling(n, job)]
        for name in names:
            f = previous[name]
            path = os.path.join(self.out_dir, name)
            if not os.path.exists(path) or os.path.getsize(path) != f["bytes"] or sha256_file(path) != f["sha256"]:
                return False
        return True

    def export_split(self, split: str, size: int, start: int = 0) -> dict:
        """Write ``size`` rows of ``split`` from row ``start``; returns the split's manifest entry."""
        return self.export([{"split": split, "size": size, "start": start}])[split]

    @contextlib.contextmanager
    def locked(self):
        """Hold the folder's lock (shared plus this shard's own when sharded); reentrant."""
        if self._locks:
            yield
            return
        what = f"out_dir={self.out_dir!r}"
        locks = [FolderLock(os.path.join(self.out_dir, LOCK_NAME), exclusive=not self.sharded, what=what)]
        if self.sharded:
            name = f".export.shard-{self.shard}-of-{self.num_shards}.lock"
            locks.append(FolderLock(os.path.join(self.out_dir, name), True, f"shard {self.shard} of {what}"))
        try:
            for lock in locks:
                lock.acquire()
                self._locks.append(lock)
            yield
        finally:
            for lock in reversed(self._locks):
                lock.release()
            self._locks = []

    # -- merging shards ----------------------------------------------------------------------
    def merge_shards(self) -> dict | None:
        """Merge the shard manifests into ``_manifest.json`` once every shard is complete (None before);
        refuses shards whose rows leave gaps or overlap."""
        return merge_shard_manifests(self.out_dir, self.num_shards)

    # -- preview -----------------------------------------------------------------------------
    def write_preview(self, split: str, start: int = 0) -> str | None:
        """Draw the first ``preview_rows`` rows of ``split`` with the codec's ``preview`` into
        ``_preview/`` (shard 0 only, in a sharded export)."""
        if not self.options.preview or self.shard != 0:
            return None
        with self.locked():
            idx = torch.tensor(list(split_indices(split, self.options.preview_rows, start)), dtype=torch.int64)
            batch = self.generator.generate(idx)
            batch.setdefault("index", idx)
            folder = os.path.join(self.out_dir, PREVIEW_DIR)
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, PREVIEW_NAME)
            self.codec.preview(batch, path)
            for name in LEGACY_PREVIEW_NAMES:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(self.out_dir, name))
            return path


def merge_shard_manifests(out_dir: str, num_shards: int) -> dict | None:
    """``_manifest.json`` from the ``num_shards`` shard manifests of ``out_dir``, written once all are
    complete (returns None while some are missing or running). The shards' files of each split must
    tile its rows exactly: a gap or an overlap is a DataFileError naming the rows."""
    names = [shard_manifest_name(i, num_shards) for i in range(num_shards)]
    paths = [os.path.join(out_dir, n) for n in names]
    lock = FolderLock(os.path.join(out_dir, ".export.merge.lock"), exclusive=True, what=f"out_dir={out_dir!r}")
    lock.acquire(wait=True)
    try:
        manifests = []
        for path in paths:
            if not os.path.exists(path):
                return None
            with open(path) as fh:
                try:
                    m = json.load(fh)
                except json.JSONDecodeError as err:
                    raise DataFileError(f"{path} is unreadable ({err})") from err
            if not m.get("complete"):
                return None
            for entry in m.get("splits", {}).values():
                for f in entry.get("files", []):
                    check_member_name(f.get("name"), path)
            manifests.append(m)
        first = manifests[0]
        for name, m in zip(names, manifests):
            if m.get("fingerprint") != first.get("fingerprint"):
                raise DataFileError(
                    f"{name} was made with other settings than {names[0]} "
                    f"(fingerprint {m.get('fingerprint')} != {first.get('fingerprint')}); rerun that shard"
                )
        splits: dict[str, dict] = {}
        for split in sorted({s for m in manifests for s in m["splits"]}):
            entries = [(name, m["splits"][split]) for name, m in zip(names, manifests) if split in m["splits"]]
            ranges = {(e["size"], e["start"]) for _, e in entries}
            if len(entries) != num_shards or len(ranges) != 1:
                raise DataFileError(
                    f"the shards of {out_dir!r} disagree on split {split!r} (rows {sorted(ranges)} in "
                    f"{len(entries)} of {num_shards} shards); rerun every shard with the same size and start"
                )
            size, start = ranges.pop()
            files = sorted((f for _, e in entries for f in e["files"]), key=lambda f: (f["first_index"], f["name"]))
            fmt = first["settings"].get("format", "parquet")
            # the files that hold the rows (a codec's sibling files, such as labels.npy, repeat them)
            primary = [f for f in files if f["name"].endswith(".parquet") or f["name"] == f"{split}.{fmt}"]
            expect = split_offset(split) + start
            for f in primary:
                if f["first_index"] > expect:
                    raise DataFileError(
                        f"the shards of {out_dir!r} leave rows {expect - split_offset(split)}.."
                        f"{f['first_index'] - split_offset(split) - 1} of split {split!r} unwritten"
                    )
                if f["first_index"] < expect:
                    raise DataFileError(
                        f"the shards of {out_dir!r} write rows {f['first_index'] - split_offset(split)}.."
                        f"{min(expect, f['first_index'] + f['rows']) - split_offset(split) - 1} of split "
                        f"{split!r} twice ({f['name']})"
                    )
                expect = f["first_index"] + f["rows"]
            if expect != split_offset(split) + start + size:
                raise DataFileError(
                    f"the shards of {out_dir!r} leave rows {expect - split_offset(split)}..{start + size - 1} "
                    f"of split {split!r} unwritten"
                )
            splits[split] = {"size": size, "start": start, "first_index": split_offset(split) + start, "files": files}
        merged = {
            "format_version": FORMAT_VERSION,
            "anomaly_lab_version": first.get("anomaly_lab_version", __version__),
            "fingerprint": first["fingerprint"],
            "settings": first["settings"],
            "splits": splits,
            "merged_from": names,
            "complete": True,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        _write_json_atomic(os.path.join(out_dir, MANIFEST_NAME), merged)
        return merged
    finally:
        lock.release()
