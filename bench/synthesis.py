#!/usr/bin/env python
"""Synthesis speed: our batched RandomAnomaly generator against the per-image torchvision way.

The baseline is ``anomaly_lab.synth.reference.reference_sequence``: the same recipes built from
torchvision v2 transforms, applied image by image in a Python loop with the global RNG, as the
original notebook did. Both make full sequences (T=10 frames of 50x50 plus the blank) from the
bundled MNIST subset, single process, in the same run.
"""

from __future__ import annotations

import json
import sys

import torch
from timing import best_rate

from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator
from anomaly_lab.sources import load_source
from anomaly_lab.synth.recipes import RANDOM_ANOMALY_RECIPES
from anomaly_lab.synth.reference import reference_sequence


def run(quick: bool = False) -> list[dict]:
    src = load_source("bundled", "train", device="cpu")
    n_ref = 10 if quick else 40
    batch = 256 if quick else 512
    torch.manual_seed(0)
    ref_rate = best_rate(
        lambda: [reference_sequence(src.images, src.labels, list(RANDOM_ANOMALY_RECIPES), k) for k in range(n_ref)],
        n_ref,
        2,
    )
    gen = RandomAnomalyGenerator(src, seed=0, device="cpu")
    ours = best_rate(lambda: gen.generate(torch.arange(batch)), batch)
    rows = [
        {
            "name": f"RandomAnomaly sequences/s, CPU, batch {batch}",
            "ours": ours,
            "baseline": ref_rate,
            "unit": "seq/s",
            "ratio": ours / ref_rate,
            "notes": "baseline: per-image torchvision v2 recipes in a Python loop (the notebook's way); target >= 20x",
        }
    ]
    one = best_rate(lambda: gen.generate(torch.arange(1)), 1, 5)
    rows.append(
        {
            "name": "RandomAnomaly sequences/s, CPU, batch 1",
            "ours": one,
            "baseline": ref_rate,
            "unit": "seq/s",
            "ratio": one / ref_rate,
            "notes": "one sequence per call (worst case for batching)",
        }
    )
    if torch.cuda.is_available():
        gpu = RandomAnomalyGenerator(src, seed=0, device="cuda")
        big = 4096

        def cuda_run():
            gpu.generate(torch.arange(big))
            torch.cuda.synchronize()

        cuda_rate = best_rate(cuda_run, big)
        rows.append(
            {
                "name": f"RandomAnomaly sequences/s, CUDA, batch {big}",
                "ours": cuda_rate,
                "baseline": ours,
                "unit": "seq/s",
                "ratio": cuda_rate / ours,
                "notes": f"baseline: ours on CPU ({torch.cuda.get_device_name(0)})",
            }
        )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
