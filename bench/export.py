#!/usr/bin/env python
"""Export speed, size and memory: our streaming parquet writer against the notebook's way.

The notebook built a pandas DataFrame of lists (one float32 array per frame) and called
``DataFrame.to_parquet(compression="gzip")``. Both sides here write the same pre-made batches, so the
ratio measures the export path alone; end-to-end generate+write rows/s is reported beside it.
Peak memory is the maximum RSS of a fresh ``generate.py``-equivalent process exporting 10,000 and
50,000 rows (quick mode: 2,000 and 10,000).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import pandas as pd
import pyarrow.parquet as pq
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _batches(n_rows: int, batch: int = 256):
    from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator

    gen = RandomAnomalyGenerator(seed=0, device="cpu")
    return gen, [gen.generate(torch.arange(lo, min(n_rows, lo + batch))) for lo in range(0, n_rows, batch)]


def _ours(gen, batches, path, compression, layout="published") -> float:
    codec = gen.codec()
    t0 = time.perf_counter()
    writer = None
    for b in batches:
        table = codec.to_table(b, layout)
        if writer is None:
            writer = pq.ParquetWriter(
                path,
                table.schema.with_metadata(codec.metadata(layout)),
                compression=None if compression == "none" else compression,
            )
        writer.write_table(table.replace_schema_metadata(writer.schema.metadata))
    writer.close()
    return time.perf_counter() - t0


def _notebook(batches, path) -> float:
    t0 = time.perf_counter()
    rows = []
    for b in batches:
        x = b["x"].reshape(b["x"].shape[0], b["x"].shape[1], -1).numpy()
        y = b["y"].numpy()
        for i in range(x.shape[0]):
            rows.append({"x": [frame for frame in x[i]], "y": y[i]})
    pd.DataFrame(rows).to_parquet(path, compression="gzip")
    return time.perf_counter() - t0


_CHILD = r"""
import resource, sys, time
from hydra import compose, initialize_config_dir
from anomaly_lab.cli.generate import run_generate
with initialize_config_dir(config_dir=sys.argv[1], version_base="1.3"):
    cfg = compose("generate", overrides=[f"size={sys.argv[2]}", f"out_dir={sys.argv[3]}", "progress=false",
                                          "export.preview=false", "device=cpu", "export.rows_per_file=5000"])
t0 = time.perf_counter()
run_generate(cfg)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - t0)
"""


def _peak_rss_mb(rows: int, out_dir: str) -> tuple[float, float]:
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, os.path.join(ROOT, "conf"), str(rows), out_dir],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    rss, wall = res.stdout.strip().splitlines()[-1].split()
    return float(rss), float(wall)


def run(quick: bool = False) -> list[dict]:
    n_rows = 512 if quick else 2048
    n_base = 128 if quick else 256  # the notebook's path is slow; time it on fewer rows
    gen, batches = _batches(n_rows)
    _, base_batches = _batches(n_base)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        t_nb = _notebook(base_batches, os.path.join(tmp, "nb.parquet"))
        nb_rate = n_base / t_nb
        nb_bytes = os.path.getsize(os.path.join(tmp, "nb.parquet")) / n_base
        for comp, layout in (("zstd", "published"), ("gzip", "published"), ("zstd", "compact")):
            path = os.path.join(tmp, f"{comp}-{layout}.parquet")
            t = _ours(gen, batches, path, comp, layout)
            rate = n_rows / t
            size = os.path.getsize(path) / n_rows
            out.append(
                {
                    "name": f"write rows/s, {layout} layout, {comp}",
                    "ours": rate,
                    "baseline": nb_rate,
                    "unit": "rows/s",
                    "ratio": rate / nb_rate,
                    "notes": f"baseline: pandas DataFrame of lists + to_parquet(gzip), {n_base} rows",
                }
            )
            out.append(
                {
                    "name": f"bytes/row, {layout} layout, {comp}",
                    "ours": size,
                    "baseline": nb_bytes,
                    "unit": "bytes",
                    "ratio": nb_bytes / size,
                    "notes": "same frames; >1 means smaller than the notebook's gzip file",
                }
            )
        gen_t0 = time.perf_counter()
        for lo in range(0, n_rows, 256):
            gen.generate(torch.arange(lo, min(n_rows, lo + 256)))
        gen_rate = n_rows / (time.perf_counter() - gen_t0)
        sizes = (2000, 10000) if quick else (10000, 50000)
        peaks = {}
        for rows in sizes:
            peaks[rows] = _peak_rss_mb(rows, os.path.join(tmp, f"rss{rows}"))
        small, large = sizes
        out.append(
            {
                "name": f"peak RSS, export of {large:,} vs {small:,} rows",
                "ours": peaks[large][0],
                "baseline": peaks[small][0],
                "unit": "MB",
                "ratio": peaks[small][0] / peaks[large][0],
                "notes": "flat memory means ratio ~1; "
                f"end-to-end {large / peaks[large][1]:.0f} rows/s incl. generation "
                f"(generation alone {gen_rate:.0f} rows/s)",
            }
        )
    return out


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
