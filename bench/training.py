#!/usr/bin/env python
"""Training throughput on CPU: sparse 0.2 (100K), dense (100K) and the LSTM baseline (110.6K), with
data made on the fly, and the share of each step spent making that data.

Each model trains a fixed number of steps (batch 32, RandomAnomaly from the bundled MNIST) on the
same DataLoader ``train.py`` uses (``GeneratorDataModule``), two ways: a plain loop (forward,
backward, Adam step; nothing else) and a real Lightning ``Trainer.fit``, the loop ``train.py`` runs.
The data share is the time spent waiting for the next batch over the whole step time: with
``num_workers=0`` that is the whole synthesis of the batch; with ``num_workers=1`` synthesis runs in
a ``RingDataLoader`` worker process beside the training step and only the part that is not hidden
counts. In the Lightning rows everything between two batches (Lightning's own work included) counts
as waiting. Each row is the median of three runs (one with ``--quick``), the spread of the data share
in its notes.
"""

from __future__ import annotations

import json
import sys
import time

import lightning as L
import torch
from timing import not_run

from anomaly_lab.loading.generated import GeneratorDataModule
from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator
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


def measure(make, gen, steps: int, workers: int, batch: int = 32, torch_loader: bool = False) -> tuple[float, float]:
    """CPU: batches from the ``GeneratorDataModule`` loader ``train.py`` uses, ``workers`` processes
    (``torch_loader``: PyTorch's own DataLoader workers on the same dataset instead, the alternative)."""
    torch.manual_seed(0)
    module = make()
    dm = GeneratorDataModule(gen, batch_size=batch, train_size=batch * (steps + 5), num_workers=workers)
    if torch_loader:
        from torch.utils.data import DataLoader

        from anomaly_lab.loading.indexed import passthrough_collate

        loader = DataLoader(
            dm.datasets["train"],
            batch_size=batch,
            shuffle=True,
            num_workers=workers,
            collate_fn=passthrough_collate,
            persistent_workers=workers > 0,
        )
    else:
        loader = dm.train_dataloader()
    batches = iter(loader)
    result = _timed_steps(module, batches.__next__, steps, batch)
    del batches
    return result


class _StepClock(L.Callback):
    """The time of each training batch (``on_train_batch_start`` to ``_end``) and the gap before it
    (fetching the batch, plus Lightning's own work between batches, all counted as waiting for data)."""

    def __init__(self):
        self.gaps, self.steps, self._end, self._start = [], [], None, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._start = time.perf_counter()
        if self._end is not None:
            self.gaps.append(self._start - self._end)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._end = time.perf_counter()
        self.steps.append(self._end - self._start)


def measure_lightning(make, gen, steps: int, workers: int, batch: int = 32, warmup: int = 5) -> tuple[float, float]:
    """The same through a real Lightning ``Trainer.fit`` (the loop ``train.py`` runs; no validation,
    logger, checkpoints or progress bar): (seq/s, the share of the time between batches)."""
    torch.manual_seed(0)
    clock = _StepClock()
    dm = GeneratorDataModule(gen, batch_size=batch, train_size=batch * (steps + warmup + 2), num_workers=workers)
    trainer = L.Trainer(
        max_steps=steps + warmup,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
        callbacks=[clock],
    )
    trainer.fit(make(), datamodule=dm)
    gaps, work = sum(clock.gaps[warmup:]), sum(clock.steps[warmup + 1 :])
    return len(clock.steps[warmup + 1 :]) * batch / (gaps + work), gaps / (gaps + work)


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


def _median_of(runs: int, timed, *args) -> tuple[float, float, str]:
    """``timed(*args)`` ``runs`` times: the median rate, the median data share, and the spread of
    the share as text (this shared machine's speed drifts by tens of percent between runs)."""
    results = [timed(*args) for _ in range(runs)]
    rates, shares = sorted(r for r, _ in results), sorted(s for _, s in results)
    spread = f" (median of {runs} runs: {100 * shares[0]:.1f}-{100 * shares[-1]:.1f}%)" if runs > 1 else ""
    return rates[runs // 2], shares[runs // 2], spread


def run(quick: bool = False) -> list[dict]:
    steps = 20 if quick else 150
    runs = 1 if quick else 3
    torch.set_num_threads(1)  # one core trains; with a worker, the other core makes data (run_all restores it)
    gen = RandomAnomalyGenerator(seed=0, device="cpu")
    rows = []
    for loop, timed in (("plain loop", measure), ("Lightning fit", measure_lightning)):
        for workers in (0, 1):
            rates = {}
            on_target = loop == "Lightning fit" and workers == 1
            for name, make in MODELS.items():
                rate, share, spread = _median_of(runs, timed, make, gen, steps, workers)
                rates[name] = rate
                rows.append(
                    {
                        "name": f"train seq/s, {name}, {loop}, {workers} data worker(s)",
                        "ours": rate,
                        "baseline": None,
                        "unit": "seq/s",
                        "ratio": None,
                        "notes": f"waiting for data: {100 * share:.1f}% of each step{spread}",
                        "wait_pct": 100 * share,
                        **(
                            {"target": {"op": "<", "value": 20, "of": "wait_pct", "what": "waiting %"}}
                            if on_target
                            else {}
                        ),
                    }
                )
            lstm = rates["LSTM proj 10, 110.6K"]
            for row, name in zip(rows[-len(MODELS) :], MODELS):
                row["baseline"], row["ratio"] = lstm, rates[name] / lstm
                row["notes"] += "; baseline: the LSTM at the same budget, same loop and data setting"
            if workers == 0:
                inline = rates
            else:  # what one ring worker buys over making each batch inline
                for row, name in zip(rows[-len(MODELS) :], MODELS):
                    row["notes"] += f"; {rates[name] / inline[name]:.2f}x the same loop with data made inline"
    for name, make in MODELS.items():  # the hand-over: our RingDataLoader against PyTorch's worker processes
        ring = next(r for r in rows if r["name"] == f"train seq/s, {name}, plain loop, 1 data worker(s)")
        rate, share, _ = _median_of(runs, measure, make, gen, steps, 1, 32, True)
        rows.append(
            {
                "name": f"train seq/s, {name}, plain loop, 1 worker: RingDataLoader vs torch DataLoader",
                "ours": ring["ours"],
                "baseline": rate,
                "unit": "seq/s",
                "ratio": ring["ours"] / rate,
                "notes": f"baseline: torch.utils.data.DataLoader(num_workers=1) on the same dataset, waiting for"
                f" data {100 * share:.1f}% of each step",
            }
        )
    gpu_target = {"op": "<", "value": 5, "of": "wait_pct", "what": "waiting %"}
    if not torch.cuda.is_available():
        rows.append(not_run("train seq/s, CUDA, data made on the GPU", "seq/s", gpu_target))
    else:  # ``rates`` now holds the one-worker Lightning figures
        for name, make in MODELS.items():
            rate, share = measure_cuda(make, steps)
            rows.append(
                {
                    "name": f"train seq/s, {name}, CUDA, data made on the GPU",
                    "ours": rate,
                    "baseline": rates[name],
                    "unit": "seq/s",
                    "ratio": rate / rates[name],
                    "wait_pct": 100 * share,
                    "target": gpu_target,
                    "notes": f"waiting for data: {100 * share:.1f}% of each step; baseline: the same"
                    f" model on CPU in a Lightning fit with one data worker ({torch.cuda.get_device_name(0)})",
                }
            )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
