"""train.py end to end: real Hydra composition, real Lightning fits, real files."""

import csv
import glob
import json
import os
import subprocess
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir

from anomaly_lab.cli.train import train
from tests.conftest import REPO_ROOT

CONF = os.path.join(REPO_ROOT, "conf")
TINY = [
    "device=cpu",
    "data.train_size=64",
    "data.val_size=32",
    "data.test_size=32",
    "data.batch_size=16",
    "data.generator.image_size=16",
    "model.input_size=256",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
]


def compose_cfg(tmp_path, *overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("train", overrides=[*TINY, f"paths.output_dir={tmp_path}", *overrides])


def run_train(*overrides, env=None, cwd=None):
    full_env = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "train.py"), *overrides],
        capture_output=True,
        text=True,
        cwd=cwd or REPO_ROOT,
        env=full_env,
        timeout=600,
    )


def test_fit_test_writes_metrics_checkpoints_and_pictures(tmp_path):
    metrics = train(compose_cfg(tmp_path, "logger=csv"))
    for key in ("val/loss", "val/acc", "test/loss", "test/acc", "params", "wall_s"):
        assert key in metrics
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test/acc"] == metrics["test/acc"] and saved["params"] == metrics["params"]
    assert 0.0 <= saved["test/acc"] <= 1.0 and saved["steps"] == 4
    assert (tmp_path / "checkpoints" / "best.ckpt").exists() and (tmp_path / "checkpoints" / "last.ckpt").exists()
    assert (tmp_path / "confusion_matrix.png").exists() and (tmp_path / "predictions.png").exists()
    assert glob.glob(str(tmp_path / "csv" / "metrics.csv"))


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    a = train(compose_cfg(tmp_path / "a", "logger=none", "seed=5"))
    b = train(compose_cfg(tmp_path / "b", "logger=none", "seed=5"))
    c = train(compose_cfg(tmp_path / "c", "logger=none", "seed=6"))
    assert a["test/loss"] == pytest.approx(b["test/loss"], abs=1e-6)
    assert a["test/loss"] != pytest.approx(c["test/loss"], abs=1e-6)


def test_resume_from_last_checkpoint(tmp_path):
    train(compose_cfg(tmp_path / "first", "logger=none"))
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    resumed = train(compose_cfg(tmp_path / "second", "logger=none", f"ckpt_path={last}", "trainer.max_epochs=2"))
    assert resumed["steps"] == 8 and resumed["epochs"] == 2  # continued from step 4


def test_lstm_and_per_step_head(tmp_path):
    m = train(compose_cfg(tmp_path, "model=lstm", "model.budget=20000", "model.per_step_weight=0.5", "logger=none"))
    for key in ("test/step_f1", "test/step_precision", "test/step_recall", "val/step_f1"):
        assert 0.0 <= m[key] <= 1.0


def test_nan_loss_stops_with_one_clear_line(tmp_path):
    res = run_train(*TINY, "model.init_std=1e30", "logger=none", f"hydra.run.dir={tmp_path}")
    assert res.returncode == 2, res.stderr[-2000:]
    assert "error: training loss became" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize(
    "override,needle",
    [
        ("model.lr=-1", "model.lr=-1"),
        ("model.backend=dense2", "model.backend='dense2'"),
        ("ckpt_path=/nowhere/last.ckpt", "does not exist"),
        ("device=tpu", "device='tpu'"),
        pytest.param(
            "trainer=gpu",
            "no CUDA device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present"),
        ),
    ],
)
def test_bad_config_values_are_one_line(tmp_path, override, needle):
    res = run_train(
        *[t for t in TINY if not t.startswith(override.split("=")[0] + "=")],
        override,
        "logger=none",
        f"hydra.run.dir={tmp_path}",
    )
    assert res.returncode == 2 and needle in res.stderr and "Traceback" not in res.stderr, res.stderr[-1500:]


def test_tiny_multirun_leaves_one_sweep_table(tmp_path):
    res = run_train(
        "-m", *TINY, "model=sparse_rnn,lstm", "model.budget=20000", "logger=none", f"hydra.sweep.dir={tmp_path}"
    )
    assert res.returncode == 0, res.stderr[-3000:]
    with open(tmp_path / "sweep_results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["choice:model"] for r in rows] == ["sparse_rnn", "lstm"]
    assert all(0.0 <= float(r["test/acc"]) <= 1.0 for r in rows)
    assert rows[0]["params"] != rows[1]["params"]


def test_wandb_offline_for_real(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB")}
    res = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "train.py"), *TINY, "logger=wandb", f"hydra.run.dir={tmp_path}"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=600,
        env={**env, "PYTHONPATH": REPO_ROOT, "HOME": str(tmp_path), "WANDB_SILENT": "true"},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    runs = glob.glob(str(tmp_path / "wandb" / "offline-run-*"))
    assert len(runs) == 1
    assert glob.glob(os.path.join(runs[0], "run-*.wandb"))  # the run's log, ready for `wandb sync`
    assert json.loads((tmp_path / "metrics.json").read_text())["test/acc"] >= 0.0


def test_train_on_exported_parquet(tmp_path):
    gen = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO_ROOT, "generate.py"),
            "device=cpu",
            "data.generator.image_size=16",
            f"out_dir={tmp_path / 'data'}",
            "export.preview=false",
            "progress=false",
            "export.splits=[{split: train, size: 48}, {split: validate, size: 16}, {split: test, size: 16}]",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": REPO_ROOT},
        timeout=300,
    )
    assert gen.returncode == 0, gen.stderr
    overrides = [o for o in TINY if not o.startswith("data.")] + [
        "data=parquet",
        f"data.path={tmp_path / 'data'}",
        "data.batch_size=16",
        f"paths.output_dir={tmp_path / 'run'}",
        "logger=none",
    ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    m = train(cfg)
    assert m["steps"] == 3 and 0 <= m["test/acc"] <= 1


def test_ddp_sharding_gives_ranks_disjoint_indices():
    """The sampler Lightning installs under DDP, applied to our dataset: disjoint, complete shards."""
    from torch.utils.data import DistributedSampler

    from anomaly_lab.loading.indexed import GeneratedDataset

    ds = GeneratedDataset(object(), "train", size=100)
    shards = [
        set(ds.sample_indices(list(DistributedSampler(ds, num_replicas=2, rank=r, shuffle=True, seed=0))).tolist())
        for r in (0, 1)
    ]
    assert not (shards[0] & shards[1]) and shards[0] | shards[1] == set(range(100))


@pytest.mark.parametrize("workers", [0, 1])
def test_ddp_two_gloo_processes(tmp_path, workers):
    """Each rank trains on its own shard, also when ring workers make its batches (Lightning swaps a
    DistributedSampler into the RingDataLoader)."""
    rec = tmp_path / "indices"
    res = run_train(
        *TINY,
        "trainer=ddp",
        "logger=none",
        f"hydra.run.dir={tmp_path}",
        f"data.num_workers={workers}",
        "+callbacks.record._target_=anomaly_lab.tasks.callbacks.RecordSampleIndices",
        f"+callbacks.record.dirpath={rec}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    r0 = json.loads((rec / "indices_rank0.json").read_text())
    r1 = json.loads((rec / "indices_rank1.json").read_text())
    assert len(r0) == len(r1) == 32 and not set(r0) & set(r1) and set(r0) | set(r1) == set(range(64))
    assert (tmp_path / "metrics.json").exists()
