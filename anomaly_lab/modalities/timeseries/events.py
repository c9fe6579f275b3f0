"""Anomaly events of a batch of series: where each anomaly sits, what kind it is, which channel.

Events are fixed-width tensors ``(B, E)`` (E = the most events a series can hold); a slot with
``kind == -1`` is empty. ``start`` is the first step, ``length`` the number of steps, ``channel``
the channel it changes (-1: every selected channel), ``strength`` and ``sign`` its size and
direction. ``kind`` is the kind's id, its position in :data:`ALL_KINDS` (the registry in
:mod:`~anomaly_lab.modalities.timeseries.kinds`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_choice, check_interval, check_range
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.modalities.timeseries.kinds import (
    ALL_KINDS,
    DEFAULT_KINDS,
    KINDS,
    PATTERN_SHIFT_MIN_LENGTH,
    SEED_KINDS,
)

__all__ = ["ALL_KINDS", "DEFAULT_KINDS", "KINDS", "SEED_KINDS", "Events", "FixedPlacement", "RandomPlacement"]

CHANNEL_MODES = ("one", "all")
SIGNS = ("both", "p", "n")


@dataclass
class Events:
    """Per-series event table, every field ``(B, E)``."""

    start: Tensor
    length: Tensor
    kind: Tensor
    channel: Tensor
    strength: Tensor
    sign: Tensor

    @property
    def valid(self) -> Tensor:
        return self.kind >= 0

    @property
    def end(self) -> Tensor:
        return self.start + self.length

    @staticmethod
    def empty(b: int, device) -> Events:
        z = torch.zeros(b, 0, dtype=torch.int64, device=device)
        f = torch.zeros(b, 0, dtype=torch.float32, device=device)
        return Events(z, z, z, z, f, f)

    def as_dict(self) -> dict[str, Tensor]:
        """The batch fields ``event_start``, ``event_end``, ``event_kind``, ``event_channel`` (empty slots: -1)."""
        v = self.valid
        none = torch.full_like(self.start, -1)
        return {
            "event_start": torch.where(v, self.start, none),
            "event_end": torch.where(v, self.end, none),
            "event_kind": self.kind,
            "event_channel": torch.where(v, self.channel, none),
        }


_KIND_IDS = torch.tensor([ALL_KINDS.index(k) for k in KINDS], dtype=torch.int64)


def kind_weights(kinds) -> list[float]:
    """Probabilities over :data:`KINDS` (in its order) from a list of names (uniform) or ``{name: weight}``."""
    if isinstance(kinds, str):
        kinds = [kinds]
    if isinstance(kinds, Mapping):
        weights = {str(k): float(v) for k, v in kinds.items()}
    else:
        weights = {str(k): 1.0 for k in kinds}
    for name, w in weights.items():
        check_choice("anomaly kind", name, KINDS)
        if w < 0:
            raise ConfigError(f"weight of anomaly kind {name!r} is {w}; weights must be >= 0")
    total = sum(weights.values())
    if total <= 0:
        raise ConfigError(f"anomaly kinds {kinds!r} give no kind a positive weight; choose from {list(KINDS)}")
    return [weights.get(k, 0.0) / total for k in KINDS]


def int_pair(name: str, value, low: int = 0) -> tuple[int, int]:
    return check_interval(name, value, low, integer=True)


def _signs(rng: CounterRNG, stream: str, shape, sign: str) -> Tensor:
    if sign == "p":
        return torch.ones(len(rng), *shape, device=rng.device)
    if sign == "n":
        return -torch.ones(len(rng), *shape, device=rng.device)
    return torch.where(rng.bits(stream, shape) & 1 == 1, 1.0, -1.0)


class RandomPlacement:
    """Draws up to ``count`` non-overlapping events per series at random positions.

    Each series gets ``count`` (drawn in [low, high]) events of lengths drawn in ``length``
    (extremum events are one step), at least ``min_gap`` steps apart and from both ends; events
    that do not fit are dropped (never overlapped). Positions are uniform over the arrangements: the
    free steps are split at sorted uniform cut points (stars and bars), so the whole batch is placed
    with one sort and one cumulative sum.
    """

    def __init__(
        self,
        kinds=DEFAULT_KINDS,
        count=(1, 3),
        length=(8, 32),
        strength=(1.0, 2.0),
        channels: str = "one",
        sign: str = "both",
        min_gap: int = 8,
    ):
        self.weights = kind_weights(kinds)
        self.count = int_pair("anomalies.count", count)
        self.length = int_pair("anomalies.length", length, 1)
        s = [strength, strength] if isinstance(strength, (int, float)) else list(strength)
        if len(s) != 2 or not 0.0 <= float(s[0]) <= float(s[1]):
            raise ConfigError(f"anomalies.strength={strength!r} must be a number or [low, high] with 0 <= low <= high")
        self.strength = (float(s[0]), float(s[1]))
        self.channels = check_choice("anomalies.channels", channels, CHANNEL_MODES)
        self.sign = check_choice("anomalies.sign", sign, SIGNS)
        self.min_gap = check_range("anomalies.min_gap", min_gap, 0, integer=True)

    def config_dict(self) -> dict:
        return {
            "placement": "random",
            "kinds": {k: w for k, w in zip(KINDS, self.weights) if k in DEFAULT_KINDS or w > 0},
            "count": list(self.count),
            "length": list(self.length),
            "strength": list(self.strength),
            "channels": self.channels,
            "sign": self.sign,
            "min_gap": self.min_gap,
        }

    def place(self, rng: CounterRNG, steps: int, channels: int) -> Events:
        b, e, device = len(rng), self.count[1], rng.device
        if e == 0:
            return Events.empty(b, device)
        n = rng.integers("events/count", (), self.count[1] + 1, low=self.count[0])  # (B,)
        cum = torch.tensor(self.weights, dtype=torch.float64, device=device).cumsum(0)
        u = rng.uniform64("events/kind", (e,)).to(device) * (1 - 1e-12)
        last = max(i for i, w in enumerate(self.weights) if w > 0)
        drawn = torch.searchsorted(cum, u.contiguous(), right=True).clamp(max=last)
        kind = _KIND_IDS.to(device)[drawn]  # position in KINDS -> id (position in ALL_KINDS)
        length = rng.integers("events/length", (e,), self.length[1] + 1, low=self.length[0])
        length = torch.where(kind == ALL_KINDS.index("extremum"), torch.ones_like(length), length)
        length = torch.where(
            kind == ALL_KINDS.index("pattern_shift"), length.clamp(min=PATTERN_SHIFT_MIN_LENGTH), length
        )
        gap = self.min_gap
        avail = steps - 2 * gap + gap  # sum of (length + gap) over the events that fit
        need = (length + gap).cumsum(1)
        slot = torch.arange(e, device=device)[None, :]
        valid = (slot < n[:, None]) & (need <= avail)
        used = torch.where(valid, length + gap, torch.zeros_like(length))
        free = (avail - used.sum(1)).clamp(min=0)  # (B,)
        cuts = rng.integers("events/cuts", (e,), free[:, None] + 1)
        cuts = torch.where(valid, cuts, free[:, None].expand(b, e)).sort(1).values
        start = gap + cuts + used.cumsum(1) - used
        channel = rng.integers("events/channel", (e,), channels)
        if self.channels == "all":
            channel = torch.full_like(channel, -1)
        strength = rng.uniform("events/strength", (e,), *self.strength)
        sign = _signs(rng, "events/sign", (e,), self.sign)
        kind = torch.where(valid, kind, torch.full_like(kind, -1))
        return Events(start, length, kind, channel, strength, sign)


class FixedPlacement:
    """The same events, at exact positions, in every series.

    ``positions``: a list of ``{kind, start, length, channel, strength, sign}`` (``length`` defaults
    to 1, ``channel`` to -1 = all channels; ``strength`` (default: the middle of ``strength``) and
    ``sign`` (+1/-1; default drawn per series) optional). Events on a common channel must not overlap.
    """

    def __init__(self, positions: Sequence[Mapping], strength=(1.0, 2.0), sign: str = "both"):
        if not positions:
            raise ConfigError("anomalies.positions is empty; give a list of {kind, start, length, channel}")
        self.sign = check_choice("anomalies.sign", sign, SIGNS)
        s = [strength, strength] if isinstance(strength, (int, float)) else list(strength)
        self.strength = (float(s[0]), float(s[1]))
        rows = []
        for i, p in enumerate(positions):
            p = dict(p)
            unknown = set(p) - {"kind", "start", "length", "channel", "strength", "sign"}
            if unknown:
                raise ConfigError(
                    f"anomalies.positions[{i}] has unknown keys {sorted(unknown)}; "
                    "allowed: kind, start, length, channel, strength, sign"
                )
            kind = check_choice(f"anomalies.positions[{i}].kind", p.get("kind"), KINDS)
            start = check_range(f"anomalies.positions[{i}].start", p.get("start"), 0, integer=True)
            length = check_range(f"anomalies.positions[{i}].length", p.get("length", 1), 1, integer=True)
            if kind == "pattern_shift" and length < PATTERN_SHIFT_MIN_LENGTH:
                raise ConfigError(
                    f"anomalies.positions[{i}].length={length}: a pattern_shift needs at least "
                    f"{PATTERN_SHIFT_MIN_LENGTH} steps"
                )
            channel = p.get("channel", -1)
            channel = (
                -1
                if channel in ("all", None)
                else check_range(f"anomalies.positions[{i}].channel", channel, -1, integer=True)
            )
            sign_value = p.get("sign")
            if sign_value is not None and sign_value not in (1, -1):
                raise ConfigError(f"anomalies.positions[{i}].sign={sign_value!r} must be 1 or -1")
            rows.append(
                (
                    ALL_KINDS.index(kind),
                    start,
                    1 if kind == "extremum" else length,
                    channel,
                    float(p.get("strength", sum(self.strength) / 2)),
                    sign_value,
                )
            )
        order = sorted(range(len(rows)), key=lambda k: rows[k][1])
        for a_i, a in enumerate(order):
            for b_ in order[a_i + 1 :]:
                ra, rb = rows[a], rows[b_]
                share_channel = ra[3] == -1 or rb[3] == -1 or ra[3] == rb[3]
                if share_channel and rb[1] < ra[1] + ra[2]:
                    raise ConfigError(
                        f"anomalies.positions[{a}] (steps {ra[1]}..{ra[1] + ra[2] - 1}) and "
                        f"positions[{b_}] (from step {rb[1]}) overlap on a channel; move one of them"
                    )
        self.rows = rows

    def config_dict(self) -> dict:
        return {
            "placement": "fixed",
            "positions": [
                {"kind": ALL_KINDS[k], "start": s, "length": n, "channel": c, "strength": st, "sign": sg}
                for k, s, n, c, st, sg in self.rows
            ],
        }

    def place(self, rng: CounterRNG, steps: int, channels: int) -> Events:
        for i, (_, start, length, channel, _, _) in enumerate(self.rows):
            if start + length > steps:
                raise ConfigError(
                    f"anomalies.positions[{i}] ends at step {start + length - 1} but series have {steps} steps"
                )
            if channel >= channels:
                raise ConfigError(f"anomalies.positions[{i}].channel={channel} but series have {channels} channels")
        b, device = len(rng), rng.device

        def col(k, dtype):
            return torch.tensor([r[k] for r in self.rows], dtype=dtype, device=device).expand(b, -1).clone()

        drawn = _signs(rng, "events/sign", (len(self.rows),), self.sign)
        given = torch.tensor([0.0 if r[5] is None else float(r[5]) for r in self.rows], device=device)
        sign = torch.where(given != 0, given.expand(b, -1), drawn)
        return Events(
            col(1, torch.int64),
            col(2, torch.int64),
            col(0, torch.int64),
            col(3, torch.int64),
            col(4, torch.float32),
            sign,
        )
