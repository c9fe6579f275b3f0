"""Under DDP the test figures are every rank's, not rank 0's share: two gloo processes give exactly
the single-process numbers on the same test set (the same untrained model, seeded alike)."""

from __future__ import annotations

import json
import os
import sys

from tests import forkrun
from tests.conftest import REPO_ROOT

TINY = [
    "device=cpu",
    "logger=none",
    "data.train_size=32",
    "data.val_size=16",
    "data.test_size=64",
    "data.batch_size=8",
    "data.generator.image_size=16",
    "model.input_size=256",
    "model.hidden=8",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=0",
    "trainer.enable_progress_bar=false",
]


def run(tmp_path, name, *overrides):
    out = tmp_path / name
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1"}
    res = forkrun.run(
        [sys.executable, os.path.join(REPO_ROOT, "train.py"), *TINY, f"hydra.run.dir={out}", *overrides],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text()), out


def test_two_gloo_ranks_give_the_single_process_test_figures(tmp_path):
    single, _ = run(tmp_path, "single", "trainer=cpu")
    ddp, out = run(tmp_path, "ddp", "trainer=ddp")
    keys = sorted(k for k in single if k.startswith("test/"))
    assert keys and keys == sorted(k for k in ddp if k.startswith("test/"))
    for key in keys:
        assert abs(single[key] - ddp[key]) < 1e-6, (key, single[key], ddp[key])
    assert (out / "confusion_matrix.png").exists()
