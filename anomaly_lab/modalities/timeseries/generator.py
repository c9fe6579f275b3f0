"""The time-series generator: sample ``i`` is one multichannel series with anomalies and labels.

The clean series comes from :class:`~anomaly_lab.modalities.timeseries.base.BaseSeries` (synthetic) or,
with ``source``, from a window of a user's CSV/parquet series; anomalies are then injected by
the configured mode. Every draw comes from ``CounterRNG(seed, i)``, so a sample is the same in
any batch, worker or device, and a batch is made with tensor ops (no loop over samples).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from anomaly_lab.core.config import to_plain
from anomaly_lab.core.device import resolve_device
from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.core.rng import MAX_SEED, CounterRNG, as_sample_indices
from anomaly_lab.modalities.timeseries.base import BaseSeries
from anomaly_lab.modalities.timeseries.events import ALL_KINDS, Events, FixedPlacement, RandomPlacement
from anomaly_lab.modalities.timeseries.injectors import SeedNoise, apply_events
from anomaly_lab.modalities.timeseries.table import load_table

MODES = ("kinds", "seed", "none")


def make_injector(anomalies: Mapping | None):
    """The injector an ``anomalies`` config describes: ``{mode: kinds, ...}`` (random or exact
    ``positions``), ``{mode: seed, ...}`` (see :class:`SeedNoise`) or ``{mode: none}``."""
    cfg = to_plain(anomalies) if anomalies is not None else {"mode": "kinds"}
    mode = check_choice("anomalies.mode", cfg.pop("mode", "kinds"), MODES)
    try:
        if mode == "none":
            if cfg:
                raise ConfigError(f"anomalies.mode=none takes no other options; got {sorted(cfg)}")
            return None
        if mode == "seed":
            return SeedNoise(**cfg)
        if cfg.get("positions"):
            keep = {k: cfg[k] for k in ("positions", "strength", "sign") if k in cfg}
            return FixedPlacement(**keep)
        cfg.pop("positions", None)
        return RandomPlacement(**cfg)
    except TypeError as err:
        raise ConfigError(f"anomalies (mode {mode}): {err}") from err


#: integer types as wide as 2, 4 and 8 bools
_WIDE = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def any_channel(labels: Tensor) -> Tensor:
    """``labels.any(-1)`` of ``(B, T, C)`` bool labels, without torch's reduction where it is slow:
    one channel is its own labels (any() over a size-1 dimension is a slow reduction on CPU), and
    2, 4 or 8 channels are one integer of that many bytes per step, nonzero where any is True
    (2.5 ms -> about 0.3 ms for 64 x 10,000 x 4)."""
    c = labels.shape[-1]
    if c == 1:
        return labels[..., 0]
    wide = _WIDE.get(c)
    if wide is None or not labels.is_contiguous():
        return labels.any(-1)
    return labels.view(wide)[..., 0] != 0


class TableWindows:
    """Clean series cut from a file's series: windows of ``length`` rows at a per-sample start
    (the whole series when ``length`` is None or longer), optionally z-scored per column.

    A file with a label column (TimeEval's ``is_anomaly``, TSB-AD's ``Label``, or ``label: <name>``)
    keeps it as ground truth: :attr:`labels` ``(N,)``, which the generator adds to every window's
    labels on all channels; the key column's values (a TimeEval file's timestamps) are :attr:`key`.
    """

    def __init__(
        self,
        path: str,
        key: str | None = None,
        columns=(),
        nrows: int | None = None,
        missing: str = "error",
        non_numeric: str = "error",
        normalize: bool = False,
        rows: Sequence[int] | None = None,
        label: str | None = "auto",
    ):
        table = load_table(path, key, columns, nrows, missing, non_numeric, label)
        values, labels, keys = table.values, table.labels, table.key
        if rows is not None:
            if len(rows) != 2 or not 0 <= rows[0] < rows[1] <= len(values):
                raise ConfigError(f"source.rows={list(rows)} must be [first, end) within the file's {len(values)} rows")
            values, keys = values[rows[0] : rows[1]], keys[rows[0] : rows[1]]
            labels = labels[rows[0] : rows[1]] if labels is not None else None
        if normalize:
            sd = values.std(0, ddof=1) if len(values) > 1 else np.ones(values.shape[1])
            values = (values - values.mean(0)) / np.where(sd > 0, sd, 1.0)
        self.values = values
        self.labels = labels
        self.key = keys
        self.columns = table.columns
        self.options = {
            "path": str(path),
            "key": key,
            "columns": table.columns,
            "nrows": nrows,
            "missing": missing,
            "non_numeric": non_numeric,
            "normalize": bool(normalize),
            "rows": list(rows) if rows else None,
        }
        if label != "auto":
            self.options["label"] = label
        if table.label_column is not None:  # only then, so a file without one describes itself as before
            self.options["label_column"] = table.label_column

    def steps(self, rng: CounterRNG, length: int) -> Tensor | None:
        """``(B, length)`` row numbers of each sample's window (None: the whole file)."""
        n = self.values.shape[0]
        if length >= n:
            return None
        start = rng.integers("source/start", (), n - length + 1)
        return start[:, None] + torch.arange(length, device=rng.device)[None, :]

    def make(self, rng: CounterRNG, length: int, series: Tensor) -> Tensor:
        steps = self.steps(rng, length)
        if steps is None:
            return series.expand(len(rng), series.shape[0], series.shape[1]).clone()
        return series[steps]


class TimeSeriesGenerator:
    """Batches of labelled multichannel series for any sample indices.

    ``generate(indices)`` returns

    - ``x``: ``(B, T, C)`` float32, the series with anomalies; ``clean``: the same series without;
    - ``labels``: ``(B, T, C)`` bool, True where an anomaly changed a channel at a step;
      ``label``: ``(B, T)`` int64, 1 where any channel is anomalous; ``anomalous``: ``(B,)`` int64;
    - events ``(B, E)`` int64: ``event_start``, ``event_end`` (one past the last step),
      ``event_kind`` (index into :data:`ALL_KINDS`, -1 for an empty slot), ``event_channel``
      (-1: all channels).

    Args:
        length, channels, shapes, period, amplitude, offset, noise, shape_options: the synthetic
            base series (see :class:`BaseSeries`); ignored but ``length`` when ``source`` is given.
        source: ``{path, key, columns, nrows, missing, non_numeric, normalize, rows}``: cut the
            clean series from a file instead (``length: null`` = the whole file).
        anomalies: ``{mode: kinds | seed | none, ...}`` (see :func:`make_injector`).
        seed: the random seed. device: ``auto``, ``cpu``, ``cuda`` ...
    """

    def __init__(
        self,
        length: int | None = 512,
        channels: int = 4,
        shapes: Sequence[str] = ("sine", "ecg", "square", "sawtooth"),
        period=(24.0, 64.0),
        amplitude=(0.8, 1.2),
        offset=(-0.5, 0.5),
        noise=(0.02, 0.05),
        shape_options: Mapping | None = None,
        source: Mapping | None = None,
        anomalies: Mapping | None = None,
        seed: int = 0,
        device: str | torch.device = "auto",
    ):
        check_range("seed", seed, 0, MAX_SEED, integer=True)
        self.seed = seed
        self.device = resolve_device(device)
        self.table = None
        if source is not None:
            src = to_plain(source)
            try:
                self.table = TableWindows(**src)
            except TypeError as err:
                raise ConfigError(f"source: {err}") from err
            n = self.table.values.shape[0]
            self.length = n if length is None else min(check_range("length", length, 2, integer=True), n)
            self.channels = len(self.table.columns)
            self.channel_names = list(self.table.columns)
            self._series = torch.as_tensor(self.table.values, dtype=torch.float32, device=self.device)
            self._file_labels = (
                torch.as_tensor(self.table.labels, dtype=torch.bool, device=self.device)
                if self.table.labels is not None
                else None
            )
            self.base = None
        else:
            if length is None:
                raise ConfigError("length=null needs a source file; give the number of steps of synthetic series")
            options = to_plain(shape_options) if shape_options is not None else None
            self.base = BaseSeries(shapes, channels, length, period, amplitude, offset, noise, options)
            self.length, self.channels = length, channels
            self.channel_names = [f"{s}{c}" for c, s in enumerate(self.base.channel_shapes)]
        self.anomalies = to_plain(anomalies) if anomalies is not None else {"mode": "kinds"}
        self.injector = make_injector(self.anomalies)

    kinds = ALL_KINDS

    def config_dict(self) -> dict:
        out = {
            "dataset": "timeseries",
            "length": self.length,
            "channels": self.channels,
            "channel_names": self.channel_names,
            "seed": self.seed,
            "kinds": list(ALL_KINDS),
            "anomalies": self.injector.config_dict() if self.injector is not None else {"mode": "none"},
        }
        out["source"] = self.table.options if self.table is not None else None
        if self.base is not None:
            out["base"] = self.base.config_dict()
        return out

    @property
    def event_slots(self) -> int:
        """E, the width of the event fields of every batch (the most events a series can hold)."""
        inj = self.injector
        if inj is None:
            return 0
        if isinstance(inj, SeedNoise):
            return inj.count(self.length)
        if isinstance(inj, FixedPlacement):
            return len(inj.rows)
        return inj.count[1]

    def timestamps(self, indices) -> list[list | None]:
        """Each sample's step stamps: a source file's key values of its window (a TimeEval file's
        original timestamps), None for synthetic series (their steps are 0 .. T-1)."""
        idx = as_sample_indices(indices).reshape(-1)
        if self.table is None:
            return [None] * len(idx)
        steps = self.table.steps(CounterRNG(self.seed, idx.to(self.device)), self.length)
        keys = self.table.key
        if steps is None:
            return [list(keys)] * len(idx)
        return [list(keys[row]) for row in steps.cpu().numpy()]

    def codec(self):
        from anomaly_lab.modalities.timeseries.codec import TimeSeriesCodec

        return TimeSeriesCodec(self)

    def clean(self, rng: CounterRNG) -> Tensor:
        """The clean ``(B, T, C)`` series of the indices of ``rng``."""
        if self.table is not None:
            return self.table.make(rng, self.length, self._series)
        return self.base.make(rng)

    def generate(self, indices, inject: bool = True) -> dict[str, Tensor]:
        """The batch for these sample indices; ``inject=False`` gives clean series with empty labels."""
        idx = as_sample_indices(indices).reshape(-1).to(self.device)
        rng = CounterRNG(self.seed, idx)
        clean = self.clean(rng)
        b, t, c = clean.shape
        if not inject or self.injector is None:
            x, labels, events = (
                clean.clone(),
                torch.zeros(b, t, c, dtype=torch.bool, device=self.device),
                Events.empty(b, self.device),
            )
        elif isinstance(self.injector, SeedNoise):
            x, labels, events = self.injector.apply(clean, rng)
        else:
            events = self.injector.place(rng, t, c)
            x, labels = apply_events(clean, events, rng)
        if self.table is not None and self._file_labels is not None:  # the file's own anomalies, all channels
            steps = self.table.steps(rng, self.length)
            file_labels = self._file_labels[steps] if steps is not None else self._file_labels.expand(b, t)
            labels = labels | file_labels[:, :, None]
        label = any_channel(labels)
        return {
            "x": x,
            "clean": clean,
            "labels": labels,
            "label": label.to(torch.int64),
            "anomalous": label.any(-1).to(torch.int64),
            **events.as_dict(),
        }
