#!/usr/bin/env python
"""Spectrogram synthesis speed: one batched call against a per-sample Python loop.

Both make the same samples with the same generator (bit-identical output, checked here): ours
calls ``generate(indices)`` once per batch; the baseline calls ``generate([i])`` sample by sample,
the way a per-item ``Dataset.__getitem__`` would. One process; a batched call runs its chunks of
rows side by side on torch's intra-op threads (``core.threads.map_parts``), which a call for one
sample cannot do. The two are timed in turns
(ours, baseline, ours, ...) so that a disturbance on a shared machine hits both alike; each figure
is the median of its runs and the ratio is the ratio of the medians. Each row also times, in the
same turns, the two parts of a batch that are per-sample work batching cannot share (the five
counter-based normals a pixel, and the percentile scaling of each plane) against the time a sample
that 5x one at a time allows.

python bench/spectrogram.py            # 256x256 (batch 64) and 64x64 (batch 512), 5 turns each
python bench/spectrogram.py --quick    # smaller batches, 3 turns
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import torch

from anomaly_lab.modalities.spectrogram import SpectrogramGenerator
from anomaly_lab.modalities.spectrogram.generator import POLARISATIONS
from anomaly_lab.modalities.spectrogram.scaling import percentile_scale


def interleaved(fns, repeats: int) -> list[list[float]]:
    """Seconds of each function of ``fns`` over ``repeats`` turns, run one after the other in each
    turn (after one warm-up call of each)."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return times


def _noise_alone(idx: torch.Tensor, size: int) -> None:
    """The pixel noise every batch draws (a common and four own standard normals a pixel, counter-
    based so each sample's values are fixed at a seed): per-sample work that batching cannot share."""
    from anomaly_lab.core.rng import CounterRNG

    rng = CounterRNG(0, idx)
    for stream in ("noise/common", *(f"noise/{p}" for p in POLARISATIONS)):  # the generator's own streams
        rng.normal(stream, (size, size))


def run(quick: bool = False) -> list[dict]:
    rows = []
    repeats = 3 if quick else 5
    for size, batch in ((256, 16 if quick else 64), (64, 128 if quick else 512)):
        gen = SpectrogramGenerator(size, size, seed=0, device="cpu")
        idx = torch.arange(batch)
        together = gen.generate(idx)["x"]
        apart = torch.cat([gen.generate(idx[i : i + 1])["x"] for i in range(batch)])
        assert torch.equal(together, apart), "batched and per-sample outputs differ"
        raw = SpectrogramGenerator(size, size, seed=0, device="cpu", scale="none").generate(idx)["x"]
        ours, loop, noise, scaling = interleaved(
            [
                lambda: gen.generate(idx),
                lambda: [gen.generate(idx[i : i + 1]) for i in range(batch)],
                lambda: _noise_alone(idx, size),
                lambda: percentile_scale(raw),
            ],
            repeats,
        )
        ours_rate, loop_rate = batch / statistics.median(ours), batch / statistics.median(loop)
        budget = 1e3 / (5 * loop_rate)  # ms a sample that 5x the one-at-a-time rate allows
        spread = [min(loop) / max(ours), max(loop) / min(ours)]
        rows.append(
            {
                "name": f"spectrograms/s, {size}x{size}x4, CPU, batch {batch}",
                "ours": ours_rate,
                "baseline": loop_rate,
                "unit": "spectrograms/s",
                "ratio": ours_rate / loop_rate,
                "notes": (
                    "baseline: the same generator called one sample at a time (bit-identical output); "
                    f"median of {repeats} interleaved runs (ratio range {spread[0]:.2f}-{spread[1]:.2f}), "
                    f"{torch.get_num_threads()} threads; floor: the five normals a pixel alone take "
                    f"{1e3 * statistics.median(noise) / batch:.2f} ms a sample batched, "
                    f"{1e3 * statistics.median(noise) / batch / budget:.0%} of the {budget:.2f} ms a sample "
                    "that 5x one at a time allows, and the percentile scaling alone "
                    f"{1e3 * statistics.median(scaling) / batch:.2f} ms a sample "
                    f"({1e3 * statistics.median(scaling) / batch / budget:.0%})"
                ),
                **({"target": {"op": ">=", "value": 5, "what": "batched / one at a time"}} if size == 256 else {}),
            }
        )
        print(f"# {json.dumps(rows[-1])}", file=sys.stderr, flush=True)  # progress: rows as they finish
    if torch.cuda.is_available():
        gpu = SpectrogramGenerator(256, 256, seed=0, device="cuda")
        cpu_rate = rows[0]["ours"]
        big = torch.arange(512)

        def cuda_run():
            gpu.generate(big)
            torch.cuda.synchronize()

        (gpu_times,) = interleaved([cuda_run], repeats)
        rate = len(big) / statistics.median(gpu_times)
        rows.append(
            {
                "name": "spectrograms/s, 256x256x4, CUDA, batch 512",
                "ours": rate,
                "baseline": cpu_rate,
                "unit": "spectrograms/s",
                "ratio": rate / cpu_rate,
                "notes": f"baseline: ours on CPU ({torch.cuda.get_device_name(0)}); median of {repeats} runs",
            }
        )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row), flush=True)
