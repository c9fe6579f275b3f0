"""The body of ``generate.py``: export the configured dataset's splits.

Everything that can be checked is checked before ``out_dir`` is created: the options, the split
ranges, the generator's configuration (by instantiating it) and a first row of every split (by
generating and encoding it), so a refused run leaves no folder behind.
"""

from __future__ import annotations

import os
import sys
import time

from omegaconf import DictConfig, OmegaConf

from anomaly_lab.core.errors import ConfigError, check_range
from anomaly_lab.io.folder import MANIFEST_NAME, shard_manifest_name
from anomaly_lab.io.writer import Exporter, ExportOptions, prepare_out_dir
from anomaly_lab.modalities.timeseries.formats import SERIES_FORMATS


def _split_plan(cfg: DictConfig) -> list[dict]:
    splits = cfg.export.get("splits")
    if splits:
        plan = OmegaConf.to_container(splits, resolve=True)
        if not isinstance(plan, list) or not all(isinstance(s, dict) for s in plan):
            raise ConfigError(f"export.splits={plan!r} must be a list of {{split, size}} entries")
        plan = [dict(s) for s in plan]
    else:
        plan = [{"split": cfg.split, "size": cfg.size, "start": cfg.get("start", 0)}]
    for entry in plan:
        if "split" not in entry or "size" not in entry:
            raise ConfigError(f"export.splits entry {entry} needs 'split' and 'size'")
        entry.setdefault("start", 0)
    return Exporter.check_plan(plan)


def _workers(value) -> int | None:
    if value is None or value == "auto":
        return None
    return check_range("export.workers", value, 1, 256, integer=True)


def _dry_run(generator, codec, options: ExportOptions, plan: list[dict]) -> None:
    """Make and encode the first row of each split, so errors that show only when data is made (a
    recipe parameter, a position past the series' end) are found before anything is written."""
    import torch

    from anomaly_lab.core.splits import split_indices

    for entry in plan:
        idx = torch.tensor([split_indices(entry["split"], 1, entry["start"]).start], dtype=torch.int64)
        batch = generator.generate(idx)
        batch.setdefault("index", idx)
        if options.format == "parquet":
            codec.to_table(batch, options.layout)


def _leave_a_core_to_the_writers(generator) -> None:
    """Generate on CPU with at most half the cores, so the writer threads have the rest: with every
    core busy, torch's intra-op threads wait on each other at every op and generation slows several
    times over (measured on 2 busy cores: 1 thread 233 rows/s, 2 threads 39 rows/s end to end)."""
    import torch

    from anomaly_lab.io.writer import usable_cores

    device = getattr(generator, "device", None)
    if device is not None and torch.device(device).type != "cpu":
        return
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(max(1, min(threads, usable_cores() // 2)))


def _export_series(generator, out_dir: str, fmt: str, plan: list[dict], batch_size: int) -> dict:
    """``export.format=timeeval|tsb_ad``: every split's series as CSV files of that tool's layout."""
    from anomaly_lab.modalities.timeseries.formats import export_series_files

    t0 = time.perf_counter()
    summary = {}
    for entry in plan:
        summary[entry["split"]] = export_series_files(
            generator, out_dir, fmt, entry["split"], entry["size"], entry["start"], batch_size
        )
    wall = time.perf_counter() - t0
    files = sum(len(s["files"]) for s in summary.values())
    print(f"wrote {files} {fmt} file(s) to {os.path.abspath(out_dir)} in {wall:.1f} s", file=sys.stderr)
    return {"splits": summary, "wall_s": wall, "preview": None}


def run_generate(cfg: DictConfig) -> dict:
    """Validate everything, instantiate ``cfg.data.generator``, then stream each split to disk."""
    from hydra.utils import instantiate

    check_range("size", cfg.size, 1, integer=True)
    check_range("start", cfg.get("start", 0), 0, integer=True)
    plan = _split_plan(cfg)
    num_shards = check_range("num_shards", cfg.get("num_shards", 1), 1, integer=True)
    shard = check_range("shard", cfg.get("shard", 0), 0, integer=True)
    if shard >= num_shards:
        raise ConfigError(f"shard={shard} is out of range for num_shards={num_shards}; allowed: [0, {num_shards - 1}]")
    if "generator" not in cfg.data:
        raise ConfigError(f"data config {list(cfg.data.keys())} has no 'generator' node; it cannot be exported")
    ex = cfg.export
    options = ExportOptions(
        format=ex.format,
        layout=ex.layout,
        rows_per_file=ex.rows_per_file,
        compression=str(ex.compression).lower(),
        compression_level=ex.get("compression_level"),
        batch_size=cfg.batch_size,
        progress=bool(cfg.progress),
        preview=bool(ex.preview),
        preview_rows=ex.preview_rows,
        workers=_workers(ex.get("workers")),
    )
    generator = instantiate(cfg.data.generator)
    out_dir = str(cfg.out_dir)
    if ex.format in SERIES_FORMATS:  # TimeEval / TSB-AD: one CSV a series, in those tools' own layout
        return _export_series(generator, out_dir, ex.format, plan, cfg.batch_size)
    codec = generator.codec()
    codec.configure(frame_dtype=ex.get("frame_dtype"))
    options.extra["frame_dtype"] = ex.get("frame_dtype") if options.layout == "compact" else None
    # Validate options against the codec, and make a first row, before anything touches the disk.
    options.validate(codec)
    _dry_run(generator, codec, options, plan)
    prepare_out_dir(out_dir)
    _leave_a_core_to_the_writers(generator)
    exporter = Exporter(generator, out_dir, options, codec=codec, shard=shard, num_shards=num_shards)
    t0 = time.perf_counter()
    summary = exporter.export(plan)
    preview = exporter.write_preview(plan[0]["split"], plan[0]["start"])
    wall = time.perf_counter() - t0
    rows = sum(
        f["rows"]
        for split, s in summary.items()
        for f in s["files"]
        if f["name"].endswith(".parquet") or f["name"] == f"{split}.{options.format}"
    )
    nbytes = sum(f["bytes"] for s in summary.values() for f in s["files"])
    files = sum(len(s["files"]) for s in summary.values())
    if num_shards > 1:
        merged = os.path.exists(os.path.join(out_dir, MANIFEST_NAME))
        manifest = shard_manifest_name(shard, num_shards) + (f", {MANIFEST_NAME} (all shards merged)" if merged else "")
        part = f"shard {shard} of {num_shards}: "
    else:
        manifest, part = MANIFEST_NAME, ""
    print(
        f"{part}wrote {rows} rows in {files} file(s), {nbytes / 1e6:.1f} MB, to {os.path.abspath(out_dir)} in "
        f"{wall:.1f} s ({rows / max(wall, 1e-9):.0f} rows/s); {manifest}{', _preview/' if preview else ''}",
        file=sys.stderr,
    )
    return {"splits": summary, "wall_s": wall, "preview": preview}
