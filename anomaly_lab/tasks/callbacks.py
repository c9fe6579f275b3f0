"""Small Lightning callbacks used by train.py configs and tests."""

from __future__ import annotations

import json
import os

import lightning as L


class RecordSampleIndices(L.Callback):
    """Writes the sample indices each rank trained on to ``<dir>/indices_rank<r>.json``
    (to check that distributed ranks see disjoint data)."""

    def __init__(self, dirpath: str):
        self.dirpath = dirpath
        self.seen: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if isinstance(batch, dict) and "index" in batch:
            self.seen.extend(int(i) for i in batch["index"].tolist())

    def on_train_end(self, trainer, pl_module):
        os.makedirs(self.dirpath, exist_ok=True)
        with open(os.path.join(self.dirpath, f"indices_rank{trainer.global_rank}.json"), "w") as fh:
            json.dump(self.seen, fh)
