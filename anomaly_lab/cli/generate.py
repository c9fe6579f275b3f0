"""The body of ``generate.py``: export the configured dataset's splits."""

from __future__ import annotations

import os
import sys
import time

from omegaconf import DictConfig, OmegaConf

from anomaly_lab.core.errors import ConfigError, check_range
from anomaly_lab.io.writer import Exporter, ExportOptions, prepare_out_dir


def _split_plan(cfg: DictConfig) -> list[dict]:
    splits = cfg.export.get("splits")
    if splits:
        plan = [dict(s) for s in OmegaConf.to_container(splits, resolve=True)]
    else:
        plan = [{"split": cfg.split, "size": cfg.size, "start": cfg.get("start", 0)}]
    for entry in plan:
        if "split" not in entry or "size" not in entry:
            raise ConfigError(f"export.splits entry {entry} needs 'split' and 'size'")
        check_range(f"size (split {entry['split']})", entry["size"], 1, integer=True)
        entry.setdefault("start", 0)
    return plan


def run_generate(cfg: DictConfig) -> dict:
    """Validate everything, instantiate ``cfg.data.generator``, then stream each split to disk."""
    from hydra.utils import instantiate

    check_range("size", cfg.size, 1, integer=True)
    plan = _split_plan(cfg)
    from anomaly_lab.core.splits import split_offset

    for entry in plan:
        split_offset(entry["split"])
    if "generator" not in cfg.data:
        raise ConfigError(f"data config {list(cfg.data.keys())} has no 'generator' node; it cannot be exported")
    generator = instantiate(cfg.data.generator)
    codec = generator.codec()
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
    )
    if hasattr(codec, "configure"):
        codec.configure(frame_dtype=ex.get("frame_dtype"))
        options.extra["frame_dtype"] = ex.get("frame_dtype") if options.layout == "compact" else None
    out_dir = str(cfg.out_dir)
    # Validate options against the codec before anything touches the disk.
    options.validate(codec)
    prepare_out_dir(out_dir)
    exporter = Exporter(generator, out_dir, options, codec=codec)
    t0 = time.perf_counter()
    summary = {}
    for entry in plan:
        summary[entry["split"]] = exporter.export_split(entry["split"], entry["size"], entry["start"])
    preview = exporter.write_preview(plan[0]["split"], plan[0]["start"])
    wall = time.perf_counter() - t0
    rows = sum(s["size"] for s in summary.values())
    nbytes = sum(f["bytes"] for s in summary.values() for f in s["files"])
    files = sum(len(s["files"]) for s in summary.values())
    print(
        f"wrote {rows} rows in {files} file(s), {nbytes / 1e6:.1f} MB, to {os.path.abspath(out_dir)} in {wall:.1f} s"
        f" ({rows / max(wall, 1e-9):.0f} rows/s); manifest.json{', preview.png' if preview else ''}",
        file=sys.stderr,
    )
    return {"splits": summary, "wall_s": wall, "preview": preview}
