"""Anomaly kinds of Anomalous Moving MNIST: one registered function each, and their shared draws.

Each anomalous sequence has one kind, drawn from the configured mixture weights, applied to one
digit (or both) in its anomalous frames. A kind is a function of a :class:`Scene` (the batch's
normal paths and digits, the planned frames, the random streams) that returns a :class:`Change`:
the path its digits take, what an affected digit looks like in its anomalous frames, or both. The
generator draws everything else (which sequences, which digits, which frames) and the labels.

Adding a kind (the walk-through in CONTRIBUTING): write its function below the others, with the
decorator line naming it and its parameters, and its row in docs/video.md (a test checks the docs
against this registry). Kinds are appended, never inserted: a kind's id in exported data is 1 + its
position here. Register kinds in this module only, so that positions never depend on import order.
Parameters are ``[low, high]`` spans (a :class:`Span` gives the default and the allowed bounds);
the generator accepts each as a keyword argument (``jump_distance=(12, 12)``), validates it, and
passes it to the kind.

Anomalous frames are a fixed list for every sequence, or a run of ``run_length`` consecutive frames
that never includes the first or the last frame (a change of motion needs a frame before it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_range
from anomaly_lab.core.registry import Registry
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.modalities.moving_mnist.motion import trajectories
from anomaly_lab.modalities.moving_mnist.similarity import SimilarityTable
from anomaly_lab.synth.filters import gaussian_blur


@dataclass(frozen=True)
class Span:
    """A kind's ``[low, high]`` parameter: its default, the least value allowed and (optionally)
    the most, with a hint the error message gives for the upper bound."""

    default: tuple[float, float]
    least: float
    most: float | None = None
    hint: str = ""
    integer: bool = False


@dataclass(frozen=True)
class Scene:
    """What a kind sees of a batch of ``B`` sequences of ``T`` frames with ``D`` digits of side ``S``.

    Paths and the plan are on the CPU in float64 (positions never depend on the device's
    arithmetic); digits and the similarity table are on the generator's device.
    """

    rng: CounterRNG  #: the batch's counter-based streams (purposes of kinds start with ``anomaly/``)
    path: Tensor  #: ``(B, T, D, 2)`` float64: the normal float positions (x, y)
    start: Tensor  #: ``(B, D, 2)`` float64: the paths' starts
    velocity: Tensor  #: ``(B, D, 2)`` float64: the paths' first velocities
    changed: Tensor  #: ``(B, T, D)`` bool: the planned anomalous frames of the affected digits
    lim: int  #: frame side minus digit side (a start lies in ``[0, lim)``)
    margin: int  #: digits bounce off ``[-margin, lim + margin]``
    sprites: Tensor  #: ``(B, D, S, S)`` uint8: the normal digits
    bank: Tensor  #: ``(N, S, S)`` uint8: every source digit at the drawn size
    table: SimilarityTable  #: clusters, members and candidates of the source
    cluster: Tensor  #: ``(B, D)`` int64: the cluster of each normal digit


@dataclass(frozen=True)
class Change:
    """What a kind changes; None leaves that part normal.

    ``path`` ``(B, T, D, 2)`` float64 on the CPU: the positions in every frame of a sequence of
    this kind (a kind restricts itself to ``scene.changed`` where only those frames move; ``speed``
    also moves the frames after them). ``sprites`` ``(B, D, S, S)`` uint8: what an affected digit
    looks like in its anomalous frames.
    """

    path: Tensor | None = None
    sprites: Tensor | None = None


Kind = Callable[..., Change]
#: the registered kinds in id order (``anomaly_kind`` = 1 + position); each entry's ``defaults``
#: maps its parameter names to :class:`Span`
ANOMALY_KINDS: Registry[Kind] = Registry("Moving MNIST anomaly kind")


class _KindNames(Sequence):
    """The kind names by position, read from :data:`ANOMALY_KINDS` (a tuple-like view, so exporters
    can write ``KINDS[kind - 1]`` and ``",".join(KINDS)``)."""

    def __getitem__(self, i):
        return ANOMALY_KINDS.names[i]

    def __len__(self) -> int:
        return len(ANOMALY_KINDS)

    def __repr__(self) -> str:
        return repr(ANOMALY_KINDS.names)


KINDS: Sequence[str] = _KindNames()


def kind(name: str, summary: str, **params: Span) -> Callable[[Kind], Kind]:
    """Decorator registering a kind under ``name`` with its docs ``summary`` and its parameters."""
    return ANOMALY_KINDS.register(name, defaults=params, summary=summary)


# -- the kinds (append new ones at the end) ----------------------------------------------------


@kind("replace", "the digit becomes one candidate of its cluster (drawn once per sequence, same path)")
def replace(scene: Scene) -> Change:
    """The seed's anomaly: a same-cluster digit of another label, drawn once per sequence and digit."""
    d = scene.cluster.shape[1]
    pick = (scene.rng.bits("anomaly/candidate", (d,)) * scene.table.candidate_counts[scene.cluster]) >> 32
    return Change(sprites=scene.bank[scene.table.candidates[scene.cluster, pick]])


@kind(
    "jump",
    "the digit is displaced `jump_distance` = [10, 20] pixels in a random direction, then back on its path",
    jump_distance=Span((10.0, 20.0), least=1.0),
)
def jump(scene: Scene, jump_distance: tuple[float, float]) -> Change:
    """The digit is displaced off its path in its anomalous frames only."""
    low, high = -float(scene.margin), float(scene.lim + scene.margin)
    jumped = displaced(scene.path, jump_offsets(scene.rng, scene.path.shape[2], jump_distance), low, high)
    return Change(path=torch.where(scene.changed[..., None], jumped, scene.path))


@kind(
    "speed",
    "the steps into the anomalous frames are `speed_factor` = [3, 4] times longer; afterwards the digit"
    " carries on at its normal speed from where it got to",
    speed_factor=Span((3.0, 4.0), least=0.0),
)
def speed(scene: Scene, speed_factor: tuple[float, float]) -> Change:
    """Sudden longer steps (one factor per sequence); the path after them follows the normal law."""
    factor = scene.rng.uniform("anomaly/speed_factor", (), *speed_factor).cpu().to(torch.float64)
    scale = torch.where(scene.changed, factor[:, None, None], torch.ones((), dtype=torch.float64))
    t = scene.path.shape[1]
    return Change(path=trajectories(scene.start, scene.velocity, t, scene.lim, scene.margin, scale))


@kind("vanish", "the digit is not drawn")
def vanish(scene: Scene) -> Change:
    """The digit is not drawn."""
    return Change(sprites=torch.zeros_like(scene.sprites))


@kind(
    "blur",
    "the digit is Gaussian-blurred, sigma in `blur_sigma` = [1.5, 3] pixels",
    blur_sigma=Span((1.5, 3.0), least=0.1),
)
def blur(scene: Scene, blur_sigma: tuple[float, float]) -> Change:
    """The digit is Gaussian-blurred (one sigma per sequence)."""
    return Change(sprites=blurred(scene.sprites, scene.rng, blur_sigma))


@kind(
    "erase",
    "a box of `erase_size` = [0.4, 0.6] of the digit's side is blanked inside its ink",
    erase_size=Span((0.4, 0.6), least=0.05, most=1.0, hint="a share of the digit's side"),
)
def erase(scene: Scene, erase_size: tuple[float, float]) -> Change:
    """A box inside the digit's ink is blanked."""
    return Change(sprites=erased(scene.sprites, scene.rng, erase_size))


@kind("flip", "the digit is drawn mirrored left to right (same ink, same place)")
def flip(scene: Scene) -> Change:
    """A mirror image keeps the digit's ink and position, so only its shape tells: detectors that
    count ink or track motion cannot see it, one that knows what digits look like can."""
    return Change(sprites=scene.sprites.flip(-1))


# -- mixture, plan and the kernels the kinds share ------------------------------------------------


def kind_weights(kinds: Mapping[str, float] | Sequence[str] | str) -> Tensor:
    """Mixture weights ``(len(KINDS),)`` float64 summing to 1, from ``{kind: weight}``, a list of
    kinds (equal weights) or one kind name."""
    if isinstance(kinds, str):
        kinds = {kinds: 1.0}
    elif not isinstance(kinds, Mapping):
        kinds = {k: 1.0 for k in kinds}
    weights = torch.zeros(len(ANOMALY_KINDS), dtype=torch.float64)
    for name, w in kinds.items():
        position = ANOMALY_KINDS.index(name)  # ConfigError naming the kinds allowed
        check_range(f"kinds.{name}", w, 0.0)
        weights[position] = float(w)
    if weights.sum() <= 0:
        raise ConfigError(f"kinds={dict(kinds)} gives no kind a positive weight; give at least one kind a weight > 0")
    return weights / weights.sum()


def kind_parameters() -> dict[str, tuple[str, Span]]:
    """``{parameter: (kind, span)}`` over every registered kind, in registration order."""
    out: dict[str, tuple[str, Span]] = {}
    for name, entry in ANOMALY_KINDS.items():
        for param, span in entry.defaults.items():
            if param in out:
                raise ValueError(f"kinds {out[param][0]!r} and {name!r} both declare the parameter {param!r}")
            out[param] = (name, span)
    return out


def apply_kind(name: str, scene: Scene, params: Mapping[str, Any]) -> Change:
    """Run kind ``name`` on ``scene`` with its (validated) parameters taken from ``params``."""
    entry = ANOMALY_KINDS[name]
    return entry.obj(scene, **{p: params[p] for p in entry.defaults})


def draw_kind(rng: CounterRNG, weights: Tensor) -> Tensor:
    """Kind id ``(B,)`` in ``[0, len(KINDS))`` by inverse CDF of one uniform per sequence."""
    cdf = torch.cumsum(weights.to(torch.float64), 0)[:-1].to(rng.device)  # float64: a zero weight is never drawn
    return torch.searchsorted(cdf, rng.uniform("anomaly/kind", ()).to(torch.float64), right=True)


def anomalous_frames(rng: CounterRNG, steps: int, frames: Sequence[int] | None, run_length: tuple[int, int]) -> Tensor:
    """``(B, T)`` bool: the fixed ``frames`` for every sequence, or a random run of consecutive frames
    of length in ``run_length`` (inclusive) starting in ``[1, T - length - 1]``."""
    b = len(rng)
    t = torch.arange(steps, device=rng.device)
    if frames is not None:
        plan = torch.zeros(steps, dtype=torch.bool, device=rng.device)
        plan[torch.as_tensor(list(frames), dtype=torch.int64, device=rng.device)] = True
        return plan.expand(b, steps).clone()
    length = rng.integers("anomaly/run_length", (), high=run_length[1] + 1, low=run_length[0])
    start = rng.integers("anomaly/run_start", (), high=steps - length, low=1)
    return (t[None, :] >= start[:, None]) & (t[None, :] < (start + length)[:, None])


def blurred(sprites: Tensor, rng: CounterRNG, sigma: tuple[float, float]) -> Tensor:
    """``sprites`` ``(B, D, S, S)`` uint8 blurred with a per-sequence sigma (shared by its digits)."""
    b, d, s, _ = sprites.shape
    sig = rng.uniform("anomaly/blur_sigma", (), sigma[0], sigma[1])
    kernel = min(2 * math.ceil(3 * sigma[1]) + 1, 2 * ((s - 1) // 2) + 1)  # reflect padding needs kernel <= 2S-1
    x = sprites.reshape(b, d, s, s).to(torch.float32)
    out = gaussian_blur(x, sig, kernel_size=kernel)
    return out.round().clamp(0, 255).to(torch.uint8)


def erased(sprites: Tensor, rng: CounterRNG, size: tuple[float, float]) -> Tensor:
    """``sprites`` ``(B, D, S, S)`` with a box blanked inside each digit's ink bounding box.

    The box's side is ``U(size) * S`` (one draw per sequence and digit); its centre is uniform in
    the ink's bounding box, and it is clipped to the sprite."""
    b, d, s, _ = sprites.shape
    dev = sprites.device
    ink = sprites > 0
    idx = torch.arange(s, device=dev)
    rows_any, cols_any = ink.any(dim=3), ink.any(dim=2)  # (B, D, S)
    big = torch.full_like(idx, s)
    top = torch.where(rows_any, idx, big).amin(-1)
    bottom = torch.where(rows_any, idx, -1).amax(-1)
    left = torch.where(cols_any, idx, big).amin(-1)
    right = torch.where(cols_any, idx, -1).amax(-1)
    empty = bottom < 0
    top, left = torch.where(empty, 0, top), torch.where(empty, 0, left)
    bottom, right = torch.where(empty, s - 1, bottom), torch.where(empty, s - 1, right)
    side = (rng.uniform("anomaly/erase_size", (d,), size[0], size[1]) * s).round().clamp(min=1).to(torch.int64)
    u = rng.uniform("anomaly/erase_centre", (d, 2))
    cy = top + (u[..., 0] * (bottom - top + 1)).to(torch.int64)
    cx = left + (u[..., 1] * (right - left + 1)).to(torch.int64)
    y0, x0 = cy - side // 2, cx - side // 2
    inside_r = (idx >= y0[..., None]) & (idx < (y0 + side)[..., None])  # (B, D, S)
    inside_c = (idx >= x0[..., None]) & (idx < (x0 + side)[..., None])
    box = inside_r[..., :, None] & inside_c[..., None, :]
    return torch.where(box, torch.zeros_like(sprites), sprites)


def jump_offsets(rng: CounterRNG, num_digits: int, distance: tuple[float, float]) -> Tensor:
    """``(B, D, 2)`` float64 displacements on the CPU: length ``U(distance)``, uniform direction."""
    length = rng.uniform("anomaly/jump_distance", (num_digits,), distance[0], distance[1]).cpu().to(torch.float64)
    angle = rng.uniform("anomaly/jump_angle", (num_digits,)).cpu().to(torch.float64) * (2 * math.pi)
    return length[..., None] * torch.stack([torch.cos(angle), torch.sin(angle)], -1)


def displaced(positions: Tensor, offset: Tensor, low: float, high: float) -> Tensor:
    """``positions`` ``(B, T, D, 2)`` moved by ``offset`` ``(B, D, 2)``; an axis that would leave
    ``[low, high]`` is moved the other way instead (then clamped)."""
    off = offset[:, None]
    ahead = positions + off
    back = positions - off
    out_of = (ahead < low) | (ahead > high)
    return torch.where(out_of, back, ahead).clamp(low, high)
