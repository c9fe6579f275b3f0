"""A Hydra callback that gathers every multirun job's ``metrics.json`` into one CSV table."""

from __future__ import annotations

import csv
import glob
import json
import os
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


def collect_sweep(sweep_dir: str) -> list[dict]:
    rows = []
    for path in sorted(glob.glob(os.path.join(sweep_dir, "*", "metrics.json")), key=lambda p: (len(p), p)):
        with open(path) as fh:
            m = json.load(fh)
        row = {"job": os.path.basename(os.path.dirname(path))}
        row.update({f"choice:{k}": v for k, v in m.get("choices", {}).items()})
        row.update({f"override:{k}": v for k, v in m.get("overrides", {}).items()})
        row.update({k: v for k, v in m.items() if not isinstance(v, (dict, list))})
        rows.append(row)
    return rows


def write_sweep_table(sweep_dir: str, name: str = "sweep_results.csv") -> str | None:
    rows = collect_sweep(sweep_dir)
    if not rows:
        return None
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    path = os.path.join(sweep_dir, name)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    return path


class SweepTable(Callback):
    """After a multirun, write ``<sweep dir>/sweep_results.csv``: one row per job with its config
    choices, overrides and final metrics."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        path = write_sweep_table(str(config.hydra.sweep.dir))
        if path:
            print(f"sweep table: {path}")
