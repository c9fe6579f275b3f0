"""Batched anomaly injection with exact labels.

:func:`apply_events` writes non-overlapping events of the registered kinds (see
:mod:`~anomaly_lab.modalities.timeseries.kinds` for each kind's formula) into a batch of series
at once. Every kind is computed from the clean series, so no anomaly reads or overwrites another,
and only inside its events' windows: for each kind present, the windows of its events are gathered,
the kind's function runs on them, and the results are scattered back.

:class:`SeedNoise` reproduces the seed's modes (multiplicative points ``x(1 + noise)`` /
``x(1 - noise)`` on ``int(T * ratio)`` rows drawn without replacement, and boxes of
``wave_length`` rows that stack where they overlap) and its README's intent, additive Gaussian
noise scaled by each channel's standard deviation; every changed row is labelled.

Labels are each event's footprint: every (step, channel) an anomaly was applied to.
"""

from __future__ import annotations

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.modalities.timeseries.channelwise import channelwise_
from anomaly_lab.modalities.timeseries.events import ALL_KINDS, SIGNS, Events, _signs
from anomaly_lab.modalities.timeseries.kinds import KIND_REGISTRY, Window, normals_at

NOISE_KINDS = ("multiplicative", "gaussian")


#: elements of ``x`` a block of ``_std_over_time`` copies to double (2 MB of scratch, reused block
#: to block, instead of a fresh double copy of the whole batch: 20 MB and its page faults at 64 x 10,000 x 4)
STD_BLOCK = 1 << 18


def _std_over_time(x: Tensor) -> Tensor:
    """``x.std(1, keepdim=True)`` (sample sd over the steps of ``(B, T, C)``, ``T > 1``).

    On CPU torch accumulates a float32 std in double with Welford's update, a scalar loop along a
    strided axis: 14 ms for 64 series of 10,000 x 4, a fifth of a batch. Two passes in double (the
    mean, then the sum of squared deviations) give the same float32 values (every one of 102,400
    series tested, scales 1e-4 to 1e4, offsets up to 100x the scale: both are double results far
    inside a float32 rounding step) in 5.6 ms. They run over blocks of whole series (each series'
    sums are the same in any block: tested), so the double copy is a small reused scratch.
    Other devices and dtypes keep torch's std."""
    if x.device.type != "cpu" or x.dtype != torch.float32:
        return x.std(1, keepdim=True)
    b, t, c = x.shape
    rows = max(1, min(b, STD_BLOCK // (t * c)))
    scratch = torch.empty(rows, t, c, dtype=torch.float64)  # x itself is never written
    sums = torch.empty(b, 1, c, dtype=torch.float64)
    for r0 in range(0, b, rows):  # blocks of series, not a loop over samples
        d = scratch[: min(rows, b - r0)]
        d.copy_(x[r0 : r0 + rows])
        channelwise_("sub", d, d.mean(1, keepdim=True))
        torch.sum(d.mul_(d), 1, keepdim=True, out=sums[r0 : r0 + rows])
    return sums.div_(t - 1).sqrt_().to(x.dtype)


def channel_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per series and channel mean and standard deviation ``(B, 1, C)`` (sd 1 for a flat channel)."""
    mu = x.mean(1, keepdim=True)
    sd = _std_over_time(x) if x.shape[1] > 1 else torch.zeros_like(mu)
    return mu, torch.where(sd > 1e-8, sd, torch.ones_like(sd))


def event_map(events: Events, steps: int) -> Tensor:
    """``(B, T)`` int64: the slot of the event covering each step, -1 where none (events must not overlap)."""
    b, e = events.start.shape
    device = events.start.device
    width = steps + 1
    marks = torch.zeros(b * width + 1, dtype=torch.int64, device=device)
    v = events.valid & (events.length > 0)
    slot = torch.arange(e, device=device).expand(b, e) + 1
    base = torch.arange(b, device=device)[:, None] * width
    marks.index_add_(0, (base + events.start)[v], slot[v])
    marks.index_add_(0, (base + events.end.clamp(max=steps))[v], -slot[v])
    return marks.cumsum(0)[:-1].reshape(b, width)[:, :steps] - 1


def apply_events(x: Tensor, events: Tensor | Events, rng: CounterRNG) -> tuple[Tensor, Tensor]:
    """Inject ``events`` (non-overlapping in time) into clean ``x`` ``(B, T, C)``; returns the
    anomalous series and the labels ``(B, T, C)`` bool.

    Work is proportional to the events' steps, not to ``B T C``: the windows of every event are
    gathered once (events sorted by kind, so each kind's events are one slice), each kind present
    runs on its slice (a loop over kinds, not samples; a kind's windows are as wide as its own
    longest event), and the results are scattered back once.
    """
    b, t, c = x.shape
    device = x.device
    y = x.clone()
    labels = torch.zeros(b, t, c, dtype=torch.bool, device=device)
    if events.start.shape[1] == 0:
        return y, labels
    row, slot = torch.nonzero(events.valid & (events.length > 0), as_tuple=True)
    if row.numel() == 0:
        return y, labels
    order = torch.argsort(events.kind[row, slot], stable=True)  # by kind, then batch row and slot
    row, slot = row[order], slot[order]
    kind = events.kind[row, slot]
    start, length = events.start[row, slot], events.length[row, slot]
    written = torch.minimum(length, t - start)  # steps past the series end are not written
    kinds, counts = torch.unique_consecutive(kind, return_counts=True)
    group = torch.repeat_interleave(torch.arange(len(kinds), device=device), counts)
    widths = torch.zeros(len(kinds), dtype=written.dtype, device=device).scatter_reduce_(0, group, written, "amax")
    plan = torch.stack([kinds, counts, widths]).tolist()  # one transfer for the loop below
    width = max(plan[2])
    r_int = torch.arange(width, device=device)[None, :]
    steps = (start[:, None] + r_int).clamp(max=t - 1)  # (N, L)
    inside = r_int < written[:, None]  # (N, L)
    rows = row[:, None].expand_as(steps)
    gathered = x[rows, steps]  # (N, L, C)
    new = gathered.clone()
    mu, sd = channel_stats(x)
    mu, sd = mu[row], sd[row]
    strength, sign = events.strength[row, slot].to(x.dtype), events.sign[row, slot].to(x.dtype)
    chans = torch.arange(c, device=device)
    r_float = r_int.to(x.dtype)[:, :, None]

    lo = 0
    for k, n, w in zip(*plan, strict=True):  # a loop over anomaly kinds, not samples
        fn = KIND_REGISTRY[ALL_KINDS[k]].obj
        if fn is None:
            raise ValueError(f"anomaly kind {ALL_KINDS[k]!r} is not placed per event (it is made by SeedNoise)")
        part = slice(lo, lo + n)
        lo += n
        k_rows, k_steps = rows[part, :w], steps[part, :w]

        def normal(stream: str, rows=k_rows, steps=k_steps) -> Tensor:
            # the values of rng.normal(stream, (T, C)) at the window's cells, drawn for those cells only
            cells = steps[:, :, None] * c + chans
            flat_rows = rows[:, :, None].expand_as(cells)
            return normals_at(rng, stream, (t, c), flat_rows.reshape(-1), cells.reshape(-1)).view(cells.shape)

        window = Window(
            x=gathered[part, :w].contiguous(),  # the kind's own window shape, as if gathered alone
            r=r_float[:, :w].expand(n, w, 1),
            start=start[part, None, None],
            length=length[part, None, None],
            s=strength[part, None, None],
            g=sign[part, None, None],
            mu=mu[part],
            sd=sd[part],
            row=row[part],
            steps=k_steps.contiguous(),
            series=x,
            normal=normal,
        )
        new[part, :w] = fn(window)
    channel = events.channel[row, slot][:, None]
    cmask = (channel == -1) | (channel == chans[None, :])  # (N, C)
    keep = inside.reshape(-1)
    flat_rows, flat_steps = rows.reshape(-1)[keep], steps.reshape(-1)[keep]
    cm = cmask[:, None, :].expand(-1, width, -1).reshape(-1, c)[keep]
    y[flat_rows, flat_steps] = torch.where(cm, new.reshape(-1, c)[keep], gathered.reshape(-1, c)[keep])
    labels[flat_rows, flat_steps] = cm
    return y, labels


class SeedNoise:
    """The seed's noise modes, batched: ``int(T * ratio)`` anomalies per series.

    Args:
        ratio: anomalies per step (the seed's ``anomaly_normal_ratio``), in [0, 1].
        noise: the relative change (multiplicative: ``x (1 +- noise)``) or the scale in standard
            deviations (gaussian: ``x +- noise * sd * |n|``).
        direction: ``p`` (up), ``n`` (down) or ``both`` (a random sign per anomaly; for gaussian
            noise, the Gaussian's own sign).
        wave: boxes of ``wave_length`` consecutive rows instead of single rows; boxes may overlap
            and then stack (multiplicative: ``x (1 + k noise)`` under k boxes), as in the seed.
        kind: ``multiplicative`` (the seed's code) or ``gaussian`` (its README's intent).
        columns: channel indices that receive noise (None: all).
    """

    def __init__(
        self,
        ratio: float = 0.01,
        noise: float = 0.1,
        direction: str = "p",
        wave: bool = False,
        wave_length: int = 10,
        kind: str = "multiplicative",
        columns=None,
    ):
        self.ratio = check_range("anomaly_normal_ratio", ratio, 0.0, 1.0)
        self.noise = check_range("noise", noise, 0.0)
        self.direction = check_choice("noise_direction", direction, SIGNS)
        if not isinstance(wave, bool):
            raise ConfigError(f"wave={wave!r} must be true or false")
        self.wave = wave
        if wave:
            check_range("wave_length", wave_length, 1, integer=True)
        self.wave_length = int(wave_length)
        self.kind = check_choice("noise kind", kind, NOISE_KINDS)
        self.columns = None if columns is None else [int(c) for c in columns]

    def config_dict(self) -> dict:
        return {
            "mode": "seed",
            "ratio": self.ratio,
            "noise": self.noise,
            "direction": self.direction,
            "wave": self.wave,
            "wave_length": self.wave_length,
            "kind": self.kind,
            "columns": self.columns,
        }

    def kind_id(self) -> int:
        name = ("gaussian" if self.kind == "gaussian" else "seed") + ("_wave" if self.wave else "_point")
        return ALL_KINDS.index(name)

    def count(self, steps: int) -> int:
        return int(steps * self.ratio)

    def apply(self, x: Tensor, rng: CounterRNG) -> tuple[Tensor, Tensor, Events]:
        """Anomalous series, labels ``(B, T, C)`` and the events (one per row or box)."""
        b, t, c = x.shape
        device = x.device
        cols = torch.ones(c, dtype=torch.bool, device=device)
        if self.columns is not None:
            bad = [k for k in self.columns if not 0 <= k < c]
            if bad:
                raise ConfigError(f"noise columns {bad} are out of range for series of {c} channels")
            cols = torch.zeros(c, dtype=torch.bool, device=device)
            cols[self.columns] = True
        n = self.count(t)
        if n == 0:
            return x.clone(), torch.zeros(b, t, c, dtype=torch.bool, device=device), Events.empty(b, device)
        length = self.wave_length if self.wave else 1
        if length > t:
            raise ConfigError(f"wave_length={length} is longer than the series ({t} rows)")
        if self.wave:
            start = rng.integers("seed/wave_start", (n,), t - length + 1)  # (B, n)
        else:
            start = rng.permutation_keys("seed/rows", t)[:, :n].sort(1).values  # distinct rows
        sign = _signs(rng, "seed/sign", (n,), self.direction).to(x.dtype)  # per anomaly
        offsets = torch.arange(length, device=device)
        rows = (start[:, :, None] + offsets).reshape(b, n * length)  # (B, n*L)
        cover = torch.zeros(b, t, dtype=x.dtype, device=device)
        cover.scatter_add_(1, rows, torch.ones_like(rows, dtype=x.dtype))
        _, sd = channel_stats(x)
        if self.kind == "multiplicative":
            signed = torch.zeros(b, t, dtype=x.dtype, device=device)
            signed.scatter_add_(1, rows, sign[:, :, None].expand(b, n, length).reshape(b, -1))
            delta = (self.noise * signed)[:, :, None] * x
        else:
            gauss = rng.normal("seed/gauss", (n, length, c)).to(x.dtype)
            if self.direction != "both":
                gauss = gauss.abs() * sign[:, :, None, None]
            delta = torch.zeros_like(x)
            delta.scatter_add_(1, rows[:, :, None].expand(b, n * length, c), gauss.reshape(b, n * length, c))
            delta = self.noise * sd * delta
        y = torch.where(cols, x + delta, x)
        labels = (cover > 0)[:, :, None] & cols
        events = Events(
            start,
            torch.full_like(start, length),
            torch.full_like(start, self.kind_id()),
            torch.full_like(start, -1),
            torch.full((b, n), self.noise, device=device),
            sign.float(),
        )
        return y, labels, events
