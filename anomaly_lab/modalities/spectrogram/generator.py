"""Synthetic ROAD-like spectrograms: a normal sky with one of nine anomaly morphologies, on demand.

Every number of sample ``i`` comes from ``CounterRNG(seed, i)`` under a stream name per purpose, so
a sample is the same alone, in any batch, in a worker or on CUDA (up to float rounding). A batch
is made with tensor ops on ``device``; the only Python loops run over the ten classes, the four
polarisations and chunks of rows of big batches (``chunk_pixels``), never over single samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from anomaly_lab.core.device import resolve_device
from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.core.rng import MAX_SEED, CounterRNG, as_sample_indices
from anomaly_lab.core.spare import SpareOutputs
from anomaly_lab.core.threads import map_parts
from anomaly_lab.modalities.spectrogram.classes import ANOMALY_CLASSES, CLASS_NAMES, NUM_CLASSES, mixture_weights
from anomaly_lab.modalities.spectrogram.morphologies import MORPHOLOGIES, Grid, effect_mask, sum_slots
from anomaly_lab.modalities.spectrogram.scaling import SCALINGS, apply_scaling

#: polarisation order of the channel axis (LOFAR's correlation order)
POLARISATIONS = ("XX", "XY", "YX", "YY")

# rows x pixels drawn per noise call, to bound the memory of the hash temporaries
_NOISE_CHUNK_VALUES = 1 << 22
# pixels per chunk of the fused CPU path: one 256 x 256 sample, whose buffers fit in a core's cache
_FUSED_CHUNK_VALUES = 1 << 16
# the fused CPU path is on; tests turn it off to check it against the tensor path
_FUSED_CPU = True


def _logistic(z: Tensor) -> Tensor:
    """1 / (1 + exp(-z)). torch.sigmoid rounds differently in its vectorised and scalar loops,
    so a sample's pixels would depend on its position in the batch; exp and division do not."""
    return 1.0 / (1.0 + torch.exp(-z))


def _strength_range(strength) -> tuple[float, float]:
    if isinstance(strength, (int, float)) and not isinstance(strength, bool):
        check_range("strength", strength, 0.0, 10.0)
        return float(strength), float(strength)
    values = list(strength) if isinstance(strength, Sequence) or hasattr(strength, "__iter__") else []
    if (
        len(values) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        or not 0.0 < values[0] <= values[1] <= 10.0
    ):
        raise ConfigError(
            f"strength={strength!r} must be a number in [0, 10] or [low, high] with 0 < low <= high <= 10"
        )
    return float(values[0]), float(values[1])


class SpectrogramGenerator:
    """Makes batches of labelled spectrograms for any sample indices.

    ``generate(indices)`` returns

    - ``x``: ``(B, 4, T, F)`` float32, time x frequency magnitudes of the four polarisations
      (XX, XY, YX, YY), scaled per ``scale`` (``percentile``: each plane to [0, 1] by its
      1st-99th percentiles, as the seed did; ``log``: log10(1 + x); ``none``: raw magnitudes,
      about 1e6-1e8, zero where data is lost);
    - ``y``: ``(B,)`` int64 class id (0 normal, 1..9 as in ``CLASS_NAMES``);
    - ``anomalous``: ``(B,)`` int64, 1 when ``y > 0``;
    - ``mask``: ``(B, T, F)`` bool, the anomaly's footprint: the pixels it changes, the same
      however faint its strength (all False for normal);
    - ``strength``: ``(B,)`` float32, the amplitude factor the anomaly was drawn with (0 for normal).

    Args:
        time_bins, freq_bins: spectrogram size (ROAD: 256 x 256).
        mixture: class probabilities: ``uniform`` (0.1 each), ``road`` (ROAD's contamination
            ratios per normal spectrogram), ten weights (normal first) or ``{class: weight}``.
        strength: the amplitude factor of the anomalies: a number (every sample alike; 1.0 is the
            full look, 0.3 faint) or ``[low, high]``, drawn per sample log-uniformly in that range
            (the default ``[0.25, 1.0]`` mixes clear and faint anomalies, so the task is not trivial).
        scale: ``percentile`` | ``log`` | ``none``; scale_percentiles: the two percentiles.
        band_mhz: the frequency range the band covers (written to ROAD-layout files).
        chunk_pixels: a batch is made in chunks of at most this many ``rows x T x F`` pixels (at
            least one row each); None picks 2**20 on CPU, where big temporaries fall out of the
            cache (2.5x faster at 256 x 256), and 2**24 on CUDA. Samples do not depend on it.
    """

    def __init__(
        self,
        time_bins: int = 256,
        freq_bins: int = 256,
        mixture: str | Sequence[float] | Mapping[str, float] = "uniform",
        strength: float | Sequence[float] = (0.25, 1.0),
        scale: str = "percentile",
        scale_percentiles: Sequence[float] = (1.0, 99.0),
        band_mhz: Sequence[float] = (110.0, 190.0),
        seed: int = 0,
        device: str | torch.device = "auto",
        chunk_pixels: int | None = None,
    ):
        check_range("time_bins", time_bins, 8, 4096, integer=True)
        check_range("freq_bins", freq_bins, 8, 4096, integer=True)
        self.strength_range = _strength_range(strength)
        check_choice("scale", scale, SCALINGS)
        check_range("seed", seed, 0, MAX_SEED, integer=True)
        percentiles = tuple(float(p) for p in scale_percentiles)
        if len(percentiles) != 2 or not 0.0 <= percentiles[0] < percentiles[1] <= 100.0:
            raise ConfigError(f"scale_percentiles={list(scale_percentiles)} must be two numbers 0 <= low < high <= 100")
        band = tuple(float(b) for b in band_mhz)
        if len(band) != 2 or not 0.0 < band[0] < band[1]:
            raise ConfigError(f"band_mhz={list(band_mhz)} must be two frequencies 0 < low < high (MHz)")
        self.time_bins, self.freq_bins = time_bins, freq_bins
        if not isinstance(mixture, str):
            mixture = dict(mixture) if isinstance(mixture, Mapping) else list(mixture)
        self.mixture = mixture
        self.probabilities = mixture_weights(mixture)
        self.scale, self.scale_percentiles = scale, percentiles
        self.band_mhz = band
        self.seed = seed
        self.device = resolve_device(device)
        if chunk_pixels is not None:
            check_range("chunk_pixels", chunk_pixels, 1, integer=True)
        self.chunk_pixels = chunk_pixels or (1 << 24 if self.device.type == "cuda" else 1 << 20)
        self._grid = Grid.make(time_bins, freq_bins, self.device)
        self._cumulative = torch.tensor(self.probabilities, dtype=torch.float64, device=self.device).cumsum(0)
        self._spares = SpareOutputs()

    class_names = CLASS_NAMES
    num_classes = NUM_CLASSES

    # -- contract ------------------------------------------------------------------------------
    def config_dict(self) -> dict:
        return {
            "dataset": "spectrogram",
            "time_bins": self.time_bins,
            "freq_bins": self.freq_bins,
            "mixture": self.mixture,
            "probabilities": self.probabilities,
            "strength": list(self.strength_range),
            "scale": self.scale,
            "scale_percentiles": list(self.scale_percentiles),
            "band_mhz": list(self.band_mhz),
            "seed": self.seed,
            "classes": list(CLASS_NAMES),
            "polarisations": list(POLARISATIONS),
        }

    def codec(self):
        from anomaly_lab.modalities.spectrogram.codec import SpectrogramCodec

        return SpectrogramCodec(self)

    def frequencies_mhz(self) -> Tensor:
        """Centre frequency of each channel, ``(F,)`` float32 on the CPU."""
        lo, hi = self.band_mhz
        return lo + (hi - lo) * (torch.arange(self.freq_bins, dtype=torch.float32) + 0.5) / self.freq_bins

    # -- sampling ------------------------------------------------------------------------------
    def draw_classes(self, idx: Tensor) -> Tensor:
        """The class id of each sample index under the configured mixture, ``(B,)`` int64."""
        u = CounterRNG(self.seed, idx).uniform64("class", ())
        u = u.to(self.device) * (1.0 - 1e-12)
        return torch.searchsorted(self._cumulative, u.contiguous(), right=True).clamp_(max=NUM_CLASSES - 1)

    def generate(
        self, indices: Tensor | Sequence[int], classes: Tensor | Sequence[int] | None = None
    ) -> dict[str, Tensor]:
        """The batch for these sample indices; ``classes`` forces the class of each sample
        (for previews and tests) instead of drawing it from the mixture."""
        idx = as_sample_indices(indices).to(self.device).reshape(-1)
        b = idx.numel()
        if classes is None:
            y = self.draw_classes(idx)
        else:
            y = torch.as_tensor(classes, dtype=torch.int64).to(self.device).reshape(-1)
            if y.numel() != b:
                raise ConfigError(f"classes has {y.numel()} entries for {b} indices; give one class per index")
            if b and (int(y.min()) < 0 or int(y.max()) >= NUM_CLASSES):
                raise ConfigError(f"classes must lie in [0, {NUM_CLASSES - 1}]; got {y.tolist()}")
        rows = max(1, self.chunk_pixels // (self.time_bins * self.freq_bins))
        # x, the largest output, is written in place: into the batch's tensor (the one returned last
        # time once the caller has dropped it, see SpareOutputs), chunk by chunk, with no final copy
        x = self._spares.take("x", (b, 4, self.time_bins, self.freq_bins), torch.float32, self.device)
        if b <= rows:
            return self._generate(idx, y, x)
        # chunks of rows, not a loop over samples; on CPU they may run on several threads (map_parts)
        parts = map_parts(self._generate_rows, [(idx, y, x, lo, rows) for lo in range(0, b, rows)], self.device)
        return {key: x if key == "x" else torch.cat([p[key] for p in parts]) for key in parts[0]}

    def _generate_rows(self, part: tuple[Tensor, Tensor, Tensor, int, int]) -> dict[str, Tensor]:
        """``_generate`` on ``count`` rows from ``lo`` (``part = (idx, y, x, lo, count)``)."""
        idx, y, x, lo, count = part
        return self._generate(idx[lo : lo + count], y[lo : lo + count], x[lo : lo + count])

    def _generate(self, idx: Tensor, y: Tensor, out: Tensor) -> dict[str, Tensor]:
        """The batch of ``idx`` (classes ``y``), its ``x`` written into ``out`` ``(B, 4, T, F)``."""
        b = idx.numel()
        g = self._grid
        t_bins, f_bins = self.time_bins, self.freq_bins
        rng = CounterRNG(self.seed, idx)
        level, pol, sigma, rho, sky = self._normal_sky(rng)

        gain = torch.ones(b, t_bins, f_bins, device=self.device)
        add = torch.zeros(b, t_bins, f_bins, device=self.device)
        noise = torch.ones(b, t_bins, f_bins, device=self.device)
        drop = torch.zeros(b, t_bins, f_bins, dtype=torch.bool, device=self.device)
        mask = torch.zeros(b, t_bins, f_bins, dtype=torch.bool, device=self.device)
        strength = torch.zeros(b, device=self.device)
        for cid, name in enumerate(ANOMALY_CLASSES, start=1):  # a loop over classes, not samples
            sel = torch.nonzero(y == cid).flatten()
            if sel.numel() == 0:
                continue
            part_rng = CounterRNG(self.seed, idx[sel])
            amp = self._draw_strength(part_rng)
            strength.index_copy_(0, sel, amp)
            effect = MORPHOLOGIES[name].obj(part_rng, g, amp)
            shape = (sel.numel(), t_bins, f_bins)
            for full, part in ((gain, effect.gain), (add, effect.add), (noise, effect.noise), (drop, effect.drop)):
                if part is not None:
                    full.index_copy_(0, sel, part.expand(shape).to(full.dtype))
            mask.index_copy_(0, sel, effect_mask(effect, shape, self.device, amp))

        base = sky * gain + add
        amp = level[:, None] * pol
        if self.device.type == "cpu" and _FUSED_CPU:
            x = self._pixels_fused(idx, base, amp, sigma, noise, drop, rho, out)
        else:
            signal = base.unsqueeze(1) * amp[:, :, None, None]  # (B, 4, T, F)
            x = signal * torch.exp(sigma[:, :, None, None] * noise.unsqueeze(1) * self._pixel_noise(idx, rho))
            x = x.masked_fill_(drop.unsqueeze(1), 0.0)
            x = out.copy_(apply_scaling(x, self.scale, self.scale_percentiles))
        return {"x": x, "y": y, "anomalous": (y > 0).to(torch.int64), "mask": mask, "strength": strength}

    def _pixels_fused(
        self,
        idx: Tensor,
        base: Tensor,
        amp: Tensor,
        sigma: Tensor,
        noise: Tensor,
        drop: Tensor,
        rho: Tensor,
        out: Tensor,
    ) -> Tensor:
        """The CPU path of ``x``: noise, signal, lost data and scaling made for a few samples at a time
        (``_FUSED_CHUNK_VALUES`` pixels), in reused buffers that stay in the cache, instead of a dozen
        passes over batch-sized temporaries. The same float32 operations in the same order as the
        tensor path (and torch's own exp/log/cos/sin), so the same values bit for bit (tested)."""
        b, n = idx.numel(), self.time_bins * self.freq_bins
        half = (n + 1) // 2
        rows = max(1, _FUSED_CHUNK_VALUES // n)
        x = np.empty((min(rows, b), 4, n), dtype=np.float32)
        common, own_noise, tmp = (np.empty((min(rows, b), 2 * half), dtype=np.float32) for _ in range(3))
        base_np, noise_np = base.reshape(b, n).numpy(), noise.reshape(b, n).numpy()
        drop_np = drop.reshape(b, n).numpy()
        amp_np, sigma_np = amp.numpy(), sigma.numpy()
        keep, own = rho.sqrt().numpy(), (1.0 - rho).sqrt().numpy()
        for lo in range(0, b, rows):  # chunks of rows (one 256 x 256 sample, or many small ones)
            hi = min(b, lo + rows)
            k = hi - lo
            rng = CounterRNG(self.seed, idx[lo:hi])
            zc = rng._normal_blocks("noise/common", half, common[:k])[:, :n]
            xs = x[:k]
            for p in range(4):  # the polarisations: z = sqrt(rho) common + sqrt(1 - rho) own
                zp = rng._normal_blocks(f"noise/{POLARISATIONS[p]}", half, own_noise[:k])[:, :n]
                t = tmp[:k, :n]
                np.multiply(keep[lo:hi, None], zc, out=t)
                np.multiply(own[lo:hi, None], zp, out=zp)
                np.add(t, zp, out=zp)
                np.multiply(sigma_np[lo:hi, p, None], noise_np[lo:hi], out=t)  # log-normal noise
                np.multiply(t, zp, out=t)
                torch.exp(torch.from_numpy(t), out=torch.from_numpy(t))
                dest = xs[:, p]
                np.multiply(base_np[lo:hi], amp_np[lo:hi, p, None], out=dest)  # the signal
                np.multiply(dest, t, out=dest)
            lost = drop_np[lo:hi]
            if lost.any():
                xs[np.broadcast_to(lost[:, None], xs.shape)] = 0.0
            chunk = torch.from_numpy(xs).view(k, 4, self.time_bins, self.freq_bins)
            out[lo:hi] = apply_scaling(chunk, self.scale, self.scale_percentiles)
        return out

    def _draw_strength(self, rng: CounterRNG) -> Tensor:
        low, high = self.strength_range
        if low == high:
            return torch.full((len(rng),), low, device=self.device)
        u = rng.uniform("strength", ())
        return torch.exp(math.log(low) + (math.log(high) - math.log(low)) * u)

    # -- the normal sky ------------------------------------------------------------------------
    def _normal_sky(self, rng: CounterRNG) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Per-sample level ``(B,)``, polarisation weights ``(B, 4)``, noise std ``(B, 4)``,
        polarisation noise correlation ``(B,)`` and the sky shape ``(B, T, F)`` (about 1 mid-band)."""
        g = self._grid
        col = lambda v: v[:, None, None]  # noqa: E731
        f_lo = col(rng.uniform("sky/f_lo", (), 0.02, 0.12))
        f_hi = col(rng.uniform("sky/f_hi", (), 0.88, 0.98))
        edge = col(rng.uniform("sky/edge", (), 0.01, 0.04))
        slope = col(rng.uniform("sky/slope", (), 0.0, 1.5))
        ripple_amp = rng.uniform("sky/ripple_amp", (3,), -0.08, 0.08)[:, None, None, :]
        ripple_cycles = rng.uniform("sky/ripple_cycles", (3,), 1.0, 12.0)[:, None, None, :]
        ripple_phase = rng.uniform("sky/ripple_phase", (3,))[:, None, None, :]
        ripple = 1.0 + sum_slots(ripple_amp * torch.cos(2 * math.pi * (ripple_cycles * g.f[..., None] + ripple_phase)))
        bandpass = (
            _logistic((g.f - f_lo) / edge) * _logistic((f_hi - g.f) / edge) * torch.exp(-slope * (g.f - 0.5)) * ripple
        )
        bandpass = 0.05 + bandpass  # the band edges fade but never reach zero (zero means lost data)
        harmonics = torch.tensor([1.0, 2.0], device=self.device)
        drift_amp = rng.uniform("sky/drift_amp", (2,), 0.0, 0.08)[:, None, None, :] / harmonics
        drift_phase = rng.uniform("sky/drift_phase", (2,))[:, None, None, :]
        drift = 1.0 + sum_slots(drift_amp * torch.sin(2 * math.pi * (harmonics * g.t[..., None] + drift_phase)))
        sky = bandpass * drift

        # exp, not pow: pow(10, v) rounds differently by a sample's position in the batch
        level = torch.exp(rng.uniform("sky/level", (), 6.0, 8.0) * math.log(10.0))
        cross = rng.uniform("sky/cross_pol", (2,), 0.05, 0.2)
        yy = rng.uniform("sky/yy", (), 0.8, 1.2)
        ones = torch.ones_like(yy)
        pol = torch.stack([ones, cross[:, 0], cross[:, 1], yy], dim=1)
        base_sigma = rng.uniform("sky/sigma", (), 0.02, 0.06)
        sigma = base_sigma[:, None] * torch.tensor([1.0, 2.5, 2.5, 1.0], device=self.device)
        rho = rng.uniform("sky/pol_correlation", (), 0.5, 0.9)
        return level, pol, sigma, rho, sky

    def _pixel_noise(self, idx: Tensor, rho: Tensor) -> Tensor:
        """Standard normal noise ``(B, 4, T, F)`` whose polarisations share a common part with
        correlation ``rho`` ``(B,)``."""
        b, t_bins, f_bins = idx.numel(), self.time_bins, self.freq_bins
        out = torch.empty(b, 4, t_bins, f_bins, device=self.device)
        rows = max(1, _NOISE_CHUNK_VALUES // (t_bins * f_bins))
        keep = rho.sqrt()[:, None, None]
        own = (1.0 - rho).sqrt()[:, None, None]
        for lo in range(0, b, rows):  # chunks of rows bound the memory; each row's draws are its own
            part = CounterRNG(self.seed, idx[lo : lo + rows])
            common = part.normal("noise/common", (t_bins, f_bins))
            for p in range(4):
                own_noise = part.normal(f"noise/{POLARISATIONS[p]}", (t_bins, f_bins))
                out[lo : lo + rows, p] = keep[lo : lo + rows] * common + own[lo : lo + rows] * own_noise
        return out
