#!/usr/bin/env python
"""Spectrogram synthesis speed: one batched call against a per-sample Python loop.

Both make the same samples with the same generator (bit-identical output, checked here): ours
calls ``generate(indices)`` once per batch; the baseline calls ``generate([i])`` sample by sample,
the way a per-item ``Dataset.__getitem__`` would. Single process.
"""

from __future__ import annotations

import json
import sys

import torch
from timing import best_rate

from anomaly_lab.modalities.spectrogram import SpectrogramGenerator


def run(quick: bool = False) -> list[dict]:
    rows = []
    for size, batch in ((64, 128 if quick else 512), (256, 16 if quick else 64)):
        gen = SpectrogramGenerator(size, size, seed=0, device="cpu")
        idx = torch.arange(batch)
        together = gen.generate(idx)["x"]
        apart = torch.cat([gen.generate(idx[i : i + 1])["x"] for i in range(batch)])
        assert torch.equal(together, apart), "batched and per-sample outputs differ"
        ours = best_rate(lambda: gen.generate(idx), batch, 2 if quick else 3)
        loop = best_rate(lambda: [gen.generate(idx[i : i + 1]) for i in range(batch)], batch, 1 if quick else 2)
        rows.append(
            {
                "name": f"spectrograms/s, {size}x{size}x4, CPU, batch {batch}",
                "ours": ours,
                "baseline": loop,
                "unit": "spectrograms/s",
                "ratio": ours / loop,
                "notes": "baseline: the same generator called one sample at a time (bit-identical output)",
            }
        )
    if torch.cuda.is_available():
        gpu = SpectrogramGenerator(256, 256, seed=0, device="cuda")
        cpu_rate = rows[-1]["ours"]
        big = torch.arange(512)

        def cuda_run():
            gpu.generate(big)
            torch.cuda.synchronize()

        rate = best_rate(cuda_run, len(big))
        rows.append(
            {
                "name": "spectrograms/s, 256x256x4, CUDA, batch 512",
                "ours": rate,
                "baseline": cpu_rate,
                "unit": "spectrograms/s",
                "ratio": rate / cpu_rate,
                "notes": f"baseline: ours on CPU ({torch.cuda.get_device_name(0)})",
            }
        )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
