"""RandomAnomaly: sequences of one digit class where one image was made with another recipe.

Faithful to the released generator (see shared/spec/random_anomaly.md): T images of class c pass
through recipe A (fresh random draws per image), one slot p is replaced by a fresh class-c image
through recipe B != A, a blank frame (zeros in normalised space) is appended, and ``y`` holds T flags
followed by p. Unlike the original, every draw is a pure function of (seed, sample index), so the
data can be regenerated bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from anomaly_lab.core.device import resolve_device
from anomaly_lab.core.errors import check_choice, check_range
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.sources import ImageSource, load_source
from anomaly_lab.synth.geometry import resize
from anomaly_lab.synth.photometric import clamp_per_image
from anomaly_lab.synth.recipes import RANDOM_ANOMALY_RECIPES, make_recipes

CLASS_MODES = ("source_label", "uniform")


class RandomAnomalyGenerator:
    """Makes RandomAnomaly batches for any sample indices, on ``device``.

    ``generate(indices)`` returns ``x`` (B, T+1, 1, S, S) float32 (normalised with ``mean``/``std``;
    the last frame blank), ``y`` (B, T+1) int64 (T flags, then the anomaly slot, or T when the
    sequence has no anomaly), and ``recipe_a``, ``recipe_b``, ``digit`` (B,) int64.
    """

    def __init__(
        self,
        source: ImageSource | None = None,
        seq_len: int = 10,
        image_size: int = 50,
        recipes: Sequence = RANDOM_ANOMALY_RECIPES,
        anomaly_prob: float = 1.0,
        class_mode: str = "source_label",
        seed: int = 0,
        device: str | torch.device = "auto",
        mean: float = 0.1307,
        std: float = 0.3081,
    ):
        check_range("seq_len", seq_len, 2, integer=True)
        check_range("image_size", image_size, 8, integer=True)
        check_range("anomaly_prob", anomaly_prob, 0.0, 1.0)
        check_choice("class_mode", class_mode, CLASS_MODES)
        check_range("seed", seed, 0, integer=True)
        check_range("std", std, 0.0, low_inclusive=False)
        self.recipes = make_recipes(recipes)
        self.device = resolve_device(device)
        self.source = (source if source is not None else load_source("bundled", "train")).to(self.device)
        self.seq_len, self.image_size = seq_len, image_size
        self.anomaly_prob, self.class_mode, self.seed = float(anomaly_prob), class_mode, seed
        self.mean, self.std = float(mean), float(std)
        self._bank: tuple[Tensor, Tensor, Tensor] | None = None

    #: the resized source bank (float32) is kept when it is at most this many bytes
    bank_limit_bytes = 512 * 2**20

    def _baseline(self, src: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Resized [0, 1] images of source rows ``src`` with their min and max (the baseline recipe),
        as fresh tensors (safe to change in place).

        The resize is deterministic, so the whole source is resized once and kept when it fits."""
        s = self.image_size
        if self._bank is None and len(self.source) * s * s * 4 <= self.bank_limit_bytes:
            bank = resize(self.source.images.unsqueeze(1).to(torch.float32) / 255.0, s)
            self._bank = (bank, bank.amin(dim=(1, 2, 3)), bank.amax(dim=(1, 2, 3)))
        if self._bank is not None:
            bank, low, high = self._bank
            return bank.index_select(0, src), low.index_select(0, src), high.index_select(0, src)
        images = resize(self.source.images[src].unsqueeze(1).to(torch.float32) / 255.0, s)
        return images, images.amin(dim=(1, 2, 3)), images.amax(dim=(1, 2, 3))

    @property
    def recipe_names(self) -> list[str]:
        return [r.name for r in self.recipes]

    def config_dict(self) -> dict:
        return {
            "dataset": "random_anomaly",
            "source": self.source.name,
            "source_size": len(self.source),
            "seq_len": self.seq_len,
            "image_size": self.image_size,
            "recipes": [r.to_dict() for r in self.recipes],
            "anomaly_prob": self.anomaly_prob,
            "class_mode": self.class_mode,
            "seed": self.seed,
            "mean": self.mean,
            "std": self.std,
        }

    def codec(self):
        from anomaly_lab.modalities.random_anomaly.codec import RandomAnomalyCodec

        return RandomAnomalyCodec(self)

    #: ``generate`` can write ``x`` into a caller's buffer (``out``), as ``RingDataLoader`` workers do
    fills_out = True

    #: on CPU a large batch is made this many sequences at a time, each part written straight into
    #: its rows of ``x``: the intermediate tensors then stay small enough to be reused from the heap
    #: (and to fit the cache) instead of being freshly mapped, page by page, on every call
    cpu_chunk = 64

    def generate(self, indices: Tensor | Sequence[int], out: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """The batch of ``indices``; ``out["x"]``, when given with the right shape, dtype and device,
        receives ``x`` (saving a copy of the largest tensor), otherwise a new tensor is made."""
        idx = torch.as_tensor(indices, dtype=torch.int64).to(self.device).reshape(-1)
        b, t, s = idx.numel(), self.seq_len, self.image_size
        x = (out or {}).get("x")
        if x is None or x.shape != (b, t + 1, 1, s, s) or x.dtype != torch.float32 or x.device != self.device:
            x = torch.empty(b, t + 1, 1, s, s, dtype=torch.float32, device=self.device)
        # Inference mode skips autograd's bookkeeping on each of the many small ops (about 9% of a
        # batch of 32 on CPU). x is made outside it and written in place, and the small outputs are
        # copied out, so the batch holds ordinary tensors that training can use in its graph.
        with torch.inference_mode():
            if self.device.type != "cpu" or b <= self.cpu_chunk:
                parts = [self._generate(idx, x)]
            else:
                parts = [
                    self._generate(idx[i : i + self.cpu_chunk], x[i : i + self.cpu_chunk])
                    for i in range(0, b, self.cpu_chunk)
                ]  # a loop over parts of 64, not over samples
        return {
            "x": x,
            **{
                k: torch.cat([p[k] for p in parts]) if len(parts) > 1 else parts[0][k].clone()
                for k in parts[0]
                if k != "x"
            },
        }

    def _generate(self, idx: Tensor, x: Tensor) -> dict[str, Tensor]:
        """``generate`` for one part, written into ``x`` (B, T+1, 1, S, S)."""
        b, t, s = idx.numel(), self.seq_len, self.image_size
        rng = CounterRNG(self.seed, idx)

        # per sequence: class, recipes A != B, anomaly slot, whether it has an anomaly
        if self.class_mode == "source_label":
            digit = self.source.labels[idx % len(self.source)]
        else:
            present = self.source.present_classes()
            digit = present[rng.integers("digit", (), high=len(present))]
        rec_a, rec_b = rng.distinct_pair("recipes", len(self.recipes))
        slot = rng.integers("slot", (), high=t)
        if self.anomaly_prob >= 1.0:
            has = torch.ones(b, dtype=torch.bool, device=self.device)
        else:
            has = rng.uniform("has_anomaly", ()) < self.anomaly_prob

        # per frame: frame slot t draws under id idx*(T+1)+t; the anomaly's fresh image uses id idx*(T+1)+T
        steps = torch.arange(t, device=self.device)
        is_anom = has[:, None] & (steps[None, :] == slot[:, None])  # (B, T)
        draw = torch.where(is_anom, torch.full_like(is_anom, t, dtype=torch.int64), steps[None, :].expand(b, t))
        frame_id = (idx[:, None] * (t + 1) + draw).reshape(-1)
        frame_rng = CounterRNG(self.seed, frame_id)
        src = self.source.draw_of_class(digit.repeat_interleave(t), frame_rng.bits("source"))
        recipe = torch.where(is_anom, rec_b[:, None], rec_a[:, None]).reshape(-1)

        # Frames grouped by recipe (a stable sort keeps each group in frame order): one gather of the
        # baseline images, each recipe works on its contiguous slice and writes back into it.
        order = torch.argsort(recipe, stable=True)
        images, low, high = self._baseline(src[order])
        frame_id, bounds = frame_id[order], torch.bincount(recipe, minlength=len(self.recipes)).tolist()
        start = 0
        for r, count in enumerate(bounds):  # loop over recipes, never over samples
            part = slice(start, start + count)
            if count and self.recipes[r].ops:  # a recipe with no ops leaves images in [low, high]
                made = self.recipes[r].apply(images[part], CounterRNG(self.seed, frame_id[part]))
                clamp_per_image(made, low[part], high[part], out=images[part])
            start += count
        # back to frame order (a gather is cheaper than a scatter), normalised on the way into x
        x[:, t] = 0.0  # the blank frame: zeros in normalised space
        frames = images.index_select(0, torch.argsort(order)).view(b, t, 1, s, s)
        torch.sub(frames, self.mean, out=x[:, :t]).div_(self.std)
        y = torch.zeros(b, t + 1, dtype=torch.int64, device=self.device)
        y[:, :t] = is_anom.to(torch.int64)
        y[:, t] = torch.where(has, slot, torch.full_like(slot, t))
        return {"x": x, "y": y, "recipe_a": rec_a, "recipe_b": rec_b, "digit": digit}
