"""RandomAnomaly: sequences of one digit class where one image was made with another recipe.

Faithful to the released generator (see shared/spec/random_anomaly.md): T images of class c pass
through recipe A (fresh random draws per image), one slot p is replaced by a fresh class-c image
through recipe B != A, a blank frame (zeros in normalised space) is appended, and ``y`` holds T flags
followed by p. Unlike the original, every draw is a pure function of (seed, sample index), so the
data can be regenerated bit for bit.

``faithful_8bit`` (default on) adds the notebook's two 8-bit steps: it resized and warped PIL images,
so its frames passed through uint8 after the resize (PIL's two-pass fixed-point resize, reproduced
exactly) and after each perspective warp (PIL truncates the warped value). Off gives the float path
of earlier versions, value for value; the setting is in ``config_dict`` (and so in an export's
manifest), since it changes the values made at a fixed seed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import torch
from torch import Tensor

from anomaly_lab.core.device import resolve_device
from anomaly_lab.core.errors import check_choice, check_range
from anomaly_lab.core.rng import MAX_SEED, CounterRNG, as_sample_indices
from anomaly_lab.core.spare import SpareOutputs
from anomaly_lab.core.threads import map_parts
from anomaly_lab.sources import ImageSource, load_source
from anomaly_lab.synth.geometry import resize, resize_8bit
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
        faithful_8bit: bool = True,
    ):
        check_range("seq_len", seq_len, 2, integer=True)
        check_range("image_size", image_size, 8, integer=True)
        check_range("anomaly_prob", anomaly_prob, 0.0, 1.0)
        check_choice("class_mode", class_mode, CLASS_MODES)
        check_range("seed", seed, 0, MAX_SEED, integer=True)
        check_range("std", std, 0.0, low_inclusive=False)
        check_choice("faithful_8bit", faithful_8bit, (True, False))
        self.faithful_8bit = bool(faithful_8bit)
        self.recipes = make_recipes(recipes, faithful_8bit=self.faithful_8bit)
        self.device = resolve_device(device)
        self.source = (source if source is not None else load_source("bundled", "train")).to(self.device)
        self.seq_len, self.image_size = seq_len, image_size
        self.anomaly_prob, self.class_mode, self.seed = float(anomaly_prob), class_mode, seed
        self.mean, self.std = float(mean), float(std)
        self._bank: tuple[Tensor, Tensor, Tensor, Tensor] | None = None
        self._spares = SpareOutputs()
        self._local = threading.local()

    #: the resized source bank (float32, kept twice: in [0, 1] and normalised) is kept when it is at
    #: most this many bytes
    bank_limit_bytes = 512 * 2**20

    def _resized(self, rows: Tensor | None = None) -> Tensor:
        """Source images (all, or ``rows``) resized to (N, 1, S, S) float32 in [0, 1]."""
        images = self.source.images if rows is None else self.source.images[rows]
        if self.faithful_8bit:  # PIL's resize of the uint8 digit, then to_dtype(scale=True)
            return resize_8bit(images, self.image_size).unsqueeze(1).to(torch.float32).mul_(1.0 / 255.0)
        return resize(images.unsqueeze(1).to(torch.float32) / 255.0, self.image_size)

    def _normalise(self, images: Tensor, out: Tensor | None = None) -> Tensor:
        """``(images - mean) / std`` (a subtraction then a division, as torchvision's ``normalize``)."""
        return torch.sub(images, self.mean, out=out).div_(self.std)

    def _source_bank(self) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
        """The resized source (the baseline recipe: deterministic, so made once) as (images, min,
        max, normalised images plus one zero frame at the end for the blank), or None when too big."""
        n, s = len(self.source), self.image_size
        if self._bank is None and 2 * (n + 1) * s * s * 4 <= self.bank_limit_bytes:
            bank = self._resized()
            normalised = torch.zeros(n + 1, 1, s, s, dtype=torch.float32, device=self.device)
            self._normalise(bank, out=normalised[:n])
            self._bank = (bank, bank.amin(dim=(1, 2, 3)), bank.amax(dim=(1, 2, 3)), normalised)
        return self._bank

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
            **({"faithful_8bit": True} if self.faithful_8bit else {}),  # absent: the float path
        }

    def codec(self):
        from anomaly_lab.modalities.random_anomaly.codec import RandomAnomalyCodec

        return RandomAnomalyCodec(self)

    #: ``generate`` can write ``x`` into a caller's buffer (``out``), as ``RingDataLoader`` workers do
    fills_out = True

    #: on CPU a large batch is made this many sequences at a time, each part written straight into
    #: its rows of ``x``: the intermediate tensors then stay small enough to be reused from the heap
    #: instead of being freshly mapped, page by page, on every call. Each part costs some 5 ms of
    #: small per-recipe work (parameter draws, 8x8 solves, grid set-up) whatever its size, so parts
    #: are large: 256 made a batch of 512 1.3-1.5x faster than 64 on 2 cores (medians of 7
    #: interleaved batches, 192-512 within noise of each other)
    cpu_chunk = 256

    def _scratch(self, rows: int) -> Tensor:
        """A (rows, 1, S, S) float32 work tensor, kept per thread and reused from part to part and call
        to call (a fresh 7 MB tensor for every part of 64 sequences is mapped page by page). It never
        leaves ``generate``: ``x`` receives a copy of it."""
        s = self.image_size
        held = getattr(self._local, "frames", None)
        if held is None or held.shape[0] < rows or held.device != self.device:
            held = torch.empty(rows, 1, s, s, dtype=torch.float32, device=self.device)
            self._local.frames = held
        return held[:rows]

    def __getstate__(self):  # a copy for a worker process: the per-thread state is not sent
        state = dict(self.__dict__)
        state["_local"] = None  # (SpareOutputs pickles empty: a copy never shares our outputs)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local = threading.local()

    def _output(self, b: int, out: dict[str, Tensor] | None) -> Tensor:
        """The tensor ``x`` is written into: the caller's ``out["x"]`` when it fits; else the ``x`` this
        generator returned last time, when nothing holds it any more (its storage is referenced only
        here, and it was not moved to shared memory for another process); else a new one.

        Reusing that buffer saves mapping a fresh one, page by page, on every call: a batch of 512
        is 56 MB, and the page faults were the largest single cost of a CPU batch."""
        shape = (b, self.seq_len + 1, 1, self.image_size, self.image_size)

        def fits(t):
            return t is not None and t.shape == shape and t.dtype == torch.float32 and t.device == self.device

        x = (out or {}).get("x")
        if fits(x):
            return x
        return self._spares.take("x", shape, torch.float32, self.device)

    def generate(self, indices: Tensor | Sequence[int], out: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """The batch of ``indices``; ``out["x"]``, when given with the right shape, dtype and device,
        receives ``x`` (saving a copy of the largest tensor), otherwise a new tensor is made (or the
        last one this generator made, once nothing else holds it)."""
        idx = as_sample_indices(indices).to(self.device).reshape(-1)
        b = idx.numel()
        x = self._output(b, out)
        # Inference mode skips autograd's bookkeeping on each of the many small ops (about 9% of a
        # batch of 32 on CPU). x is made outside it and written in place, and the small outputs are
        # copied out, so the batch holds ordinary tensors that training can use in its graph.
        with torch.inference_mode(), _flush_denormals(self.device):
            if self.device.type != "cpu" or b <= self.cpu_chunk:
                parts = [self._generate(idx, x)]
            else:
                self._source_bank()  # made once, before the parts (which may run on several threads)
                parts = map_parts(self._generate_part, [(idx, x, i) for i in range(0, b, self.cpu_chunk)])
        return {
            "x": x,
            **{
                k: torch.cat([p[k] for p in parts]) if len(parts) > 1 else parts[0][k].clone()
                for k in parts[0]
                if k != "x"
            },
        }

    def _generate_part(self, part: tuple[Tensor, Tensor, int]) -> dict[str, Tensor]:
        """``_generate`` on the ``cpu_chunk`` rows from ``start`` (``part = (idx, x, start)``): a loop
        over parts of 256, not over samples, whose parts may run on threads of their own (``map_parts``;
        subnormals are flushed per thread)."""
        idx, x, start = part
        rows = slice(start, start + self.cpu_chunk)
        with _flush_denormals(self.device):
            return self._generate(idx[rows], x[rows])

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

        # Frames grouped by recipe (a stable sort keeps each group in frame order): each recipe works
        # on its contiguous group and its last step writes the normalised frames into ``frames``,
        # whose extra last row is the blank (zeros in normalised space). One gather then puts every
        # frame of x, blanks included, in place: each frame is written to x once.
        order = torch.argsort(recipe, stable=True)
        src, frame_id = src[order], frame_id[order]
        bounds = torch.bincount(recipe, minlength=len(self.recipes)).tolist()
        frames = self._scratch(b * t + 1)
        frames[-1] = 0.0
        bank = self._source_bank()
        if bank is None:  # a source too big to keep resized: resize this part's frames
            images = self._resized(src)
            low, high = images.amin(dim=(1, 2, 3)), images.amax(dim=(1, 2, 3))
        else:
            images, low, high = bank[0], bank[1][src], bank[2][src]
        start = 0
        for r, count in enumerate(bounds):  # loop over recipes, never over samples
            part = slice(start, start + count)
            start += count
            if not count:
                continue
            rows = src[part]
            if not self.recipes[r].ops:  # a recipe with no ops leaves images in [low, high]
                if bank is None:
                    self._normalise(images[part], out=frames[part])
                else:
                    torch.index_select(bank[3], 0, rows, out=frames[part])
                continue
            base = images[part] if bank is None else images.index_select(0, rows)
            made = self.recipes[r].apply(base, CounterRNG(self.seed, frame_id[part]))
            clamp_per_image(made, low[part], high[part], out=frames[part])
            frames[part].sub_(self.mean).div_(self.std)
        # back to frame order (a gather is cheaper than a scatter), the blank after each sequence
        sorted_at = torch.empty(b * t, dtype=torch.int64, device=self.device)
        sorted_at[order] = torch.arange(b * t, device=self.device)
        where = torch.cat([sorted_at.view(b, t), torch.full((b, 1), b * t, device=self.device)], dim=1)
        torch.index_select(frames, 0, where.view(-1), out=x.view(b * (t + 1), 1, s, s))
        y = torch.zeros(b, t + 1, dtype=torch.int64, device=self.device)
        y[:, :t] = is_anom.to(torch.int64)
        y[:, t] = torch.where(has, slot, torch.full_like(slot, t))
        return {"x": x, "y": y, "recipe_a": rec_a, "recipe_b": rec_b, "digit": digit}


_TINY = torch.tensor([1e-39])  # a float32 subnormal


class _flush_denormals:
    """Flush subnormal floats to zero on CPU while a batch is made, then restore the setting.

    Blur kernels with a small sigma have subnormal outer taps (about one image in twelve), and
    arithmetic on subnormals is some 30x slower on x86. The values they add are below 1e-38, far
    under the resolution of the normalised frames, so the output is the same (tested)."""

    def __init__(self, device: torch.device):
        self.active = device.type == "cpu"

    def __enter__(self):
        if self.active:
            self.was_on = bool((_TINY * 1.0)[0] == 0.0)
            if not self.was_on:
                self.active = torch.set_flush_denormal(True)
        return self

    def __exit__(self, *exc):
        if self.active and not self.was_on:
            torch.set_flush_denormal(False)
        return False
