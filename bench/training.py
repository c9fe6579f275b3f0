#!/usr/bin/env python
"""Training throughput on CPU: sparse 0.2 (100K), dense (100K) and the LSTM baseline (110.6K), with
data made on the fly, and the share of each step spent making that data.

Each model trains a fixed number of steps (batch 32, RandomAnomaly from the bundled MNIST) with a
plain loop around the same modules and the same DataLoader ``train.py`` uses (``GeneratorDataModule``).
The data share is the time the loop waits for its next batch over the whole step time: with
``num_workers=0`` that is the whole synthesis of the batch; with ``num_workers=1`` synthesis runs in
a worker process beside the training step and only the part that is not hidden counts.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from anomaly_lab.data.random_anomaly import RandomAnomalyGenerator
from anomaly_lab.datamodules.generated import GeneratorDataModule
from anomaly_lab.models.recurrent.lightning_model import RecurrentModule
from anomaly_lab.models.sparse_rnn.lightning_model import SparseRNNModule

MODELS = {
    "sparse 0.2, 100K": lambda: SparseRNNModule(density=0.2, budget=100_000),
    "dense, 100K": lambda: SparseRNNModule(density=1.0, budget=100_000),
    "LSTM proj 10, 110.6K": lambda: RecurrentModule("lstm", budget=110_638),
}


def _timed_steps(module, next_batch, steps: int, batch: int, sync=lambda: None) -> tuple[float, float]:
    """Train ``module`` for ``steps`` steps on ``next_batch()`` (after 3 warm-up steps): (seq/s, the
    share of each step spent in ``next_batch``). ``sync`` waits for queued device work before each
    clock reading."""
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    data_t = total_t = 0.0
    for step in range(steps + 3):
        sync()
        t0 = time.perf_counter()
        b = next_batch()
        sync()
        t1 = time.perf_counter()
        out, _ = module(b["x"])
        loss = torch.nn.functional.cross_entropy(out[:, -1], b["y"][:, -1])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()
        t2 = time.perf_counter()
        if step >= 3:  # skip warm-up (and a worker's start)
            data_t += t1 - t0
            total_t += t2 - t0
    return steps * batch / total_t, data_t / total_t


def measure(make, gen, steps: int, workers: int, batch: int = 32) -> tuple[float, float]:
    """CPU: batches from the ``GeneratorDataModule`` loader ``train.py`` uses, ``workers`` processes."""
    torch.manual_seed(0)
    module = make()
    dm = GeneratorDataModule(gen, batch_size=batch, train_size=batch * (steps + 5), num_workers=workers)
    it = iter(dm.train_dataloader())
    result = _timed_steps(module, lambda: next(it), steps, batch)
    del it
    return result


def measure_cuda(make, steps: int, batch: int = 32) -> tuple[float, float]:
    """The generator and the model on the GPU, each batch made inline, as ``train.py device=cuda``."""
    torch.manual_seed(0)
    gen = RandomAnomalyGenerator(seed=0, device="cuda")
    module = make().cuda()
    counter = iter(range(steps + 3))

    def next_batch():
        step = next(counter)
        return gen.generate(torch.arange(step * batch, (step + 1) * batch))

    return _timed_steps(module, next_batch, steps, batch, sync=torch.cuda.synchronize)


def run(quick: bool = False) -> list[dict]:
    steps = 20 if quick else 100
    torch.set_num_threads(1)  # one core trains; with a worker, the other core makes data (run_all restores it)
    gen = RandomAnomalyGenerator(seed=0, device="cpu")
    rows = []
    for workers in (0, 1):
        rates = {}
        for name, make in MODELS.items():
            rate, share = measure(make, gen, steps, workers)
            rates[name] = rate
            rows.append({"name": f"train seq/s, {name}, {workers} data worker(s)", "ours": rate, "baseline": None,
                         "unit": "seq/s", "ratio": None,
                         "notes": f"waiting for data: {100 * share:.1f}% of each step (target < 20%)"})
        lstm = rates["LSTM proj 10, 110.6K"]
        for row, name in zip(rows[-len(MODELS):], MODELS):
            row["baseline"], row["ratio"] = lstm, rates[name] / lstm
            row["notes"] += "; baseline: the LSTM at the same budget, same data setting"
    if torch.cuda.is_available():  # ``rates`` now holds the one-worker CPU figures
        for name, make in MODELS.items():
            rate, share = measure_cuda(make, steps)
            rows.append({"name": f"train seq/s, {name}, CUDA, data made on the GPU", "ours": rate,
                         "baseline": rates[name], "unit": "seq/s", "ratio": rate / rates[name],
                         "notes": f"waiting for data: {100 * share:.1f}% of each step (target < 20%); baseline: the same"
                                  f" model on CPU with one data worker ({torch.cuda.get_device_name(0)})"})
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
