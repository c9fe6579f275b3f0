"""Hydra callbacks of ``train.py`` and ``eval.py``: the run-directory check, and the table that
gathers every multirun job's ``metrics.json`` into one CSV."""

from __future__ import annotations

import csv
import glob
import json
import os
import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from anomaly_lab.core.errors import ConfigError


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


def check_output_dir(key: str, path: str) -> None:
    """Refuse an output directory that cannot be made: the path, or a folder above it, is a file
    (or is not writable)."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        where = "is a file" if probe == os.path.abspath(path) else f"lies under the file {probe!r}"
        raise ConfigError(f"{key}={path!r} {where}, not a directory; give a new or existing directory")
    if not os.access(probe, os.W_OK):
        raise ConfigError(f"{key}={path!r}: the directory {probe!r} is not writable")


class RunDirCheck(Callback):
    """Checks ``hydra.run.dir`` / ``hydra.sweep.dir`` before Hydra creates it (it would otherwise
    fail in ``mkdir`` with a traceback): one ``error:`` line and exit code 2."""

    def _check(self, key: str, path: str) -> None:
        try:
            check_output_dir(key, path)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check("hydra.run.dir", str(config.hydra.run.dir))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check("hydra.sweep.dir", str(config.hydra.sweep.dir))
