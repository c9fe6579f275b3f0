#!/usr/bin/env python
"""Sparse RNN backends by density: masked dense matmul against torch sparse CSR, forward+backward
per training step (batch 32, T=11, 2,500 inputs, hidden 176), CPU."""

from __future__ import annotations

import json
import sys
import time

import torch

from anomaly_lab.models.sparse_rnn.torch_model import SparseRNN


def step_time(model: SparseRNN, x: torch.Tensor, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        y, _ = model(x)
        y[:, -1].sum().backward()
        best = min(best, time.perf_counter() - t0)
    return best


def run(quick: bool = False) -> list[dict]:
    x = torch.randn(32, 11, 2500)
    rows = []
    for density in (0.01, 0.05, 0.2, 0.5, 1.0):
        t = {
            b: step_time(SparseRNN(2500, 176, 10, [density] * 6, seed=0, backend=b), x, 3 if quick else 10)
            for b in ("masked", "csr")
        }
        rows.append(
            {
                "name": f"step time, density {density}",
                "ours": t["csr"] * 1e3,
                "baseline": t["masked"] * 1e3,
                "unit": "ms (csr)",
                "ratio": t["masked"] / t["csr"],
                "notes": "baseline: masked dense; ratio > 1 means CSR is faster",
            }
        )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
