"""train.py end to end: real Hydra composition, real Lightning fits, real files."""

import csv
import glob
import json
import os
import signal
import subprocess
import sys
import time

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir

from anomaly_lab.cli.train import train
from tests import forkrun
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
    "extras.print_config=false",
]


def compose_cfg(tmp_path, *overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("train", overrides=[*TINY, f"paths.output_dir={tmp_path}", *overrides])


def assert_one_error_line(res, needle=""):
    """Exit code 2, exactly one ``error:`` line on stderr (containing ``needle``), no traceback."""
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert res.returncode == 2, res.stderr[-3000:]
    assert len(errors) == 1 and needle in errors[0], res.stderr[-3000:]
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr[-3000:]


def run_train(*overrides, env=None, cwd=None):
    full_env = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1", **(env or {})}
    return forkrun.run(
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
    res = forkrun.run(
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
    gen = forkrun.run(
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


# -- what a run loads (issue 15 item 1) ------------------------------------------------------------------
class FileOnOpen:
    """Pickles as a call to ``open(marker, "w")``: unpickling it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _model_checkpoint_state(ckpt):
    (key,) = [k for k in ckpt["callbacks"] if k.startswith("ModelCheckpoint")]
    return ckpt["callbacks"][key]


def test_resume_never_follows_a_best_path_named_in_the_checkpoint(tmp_path):
    """A last.ckpt that passes weights_only=True but names a payload as its best model: resuming
    from it trains and tests without unpickling (or deleting) the payload."""
    train(compose_cfg(tmp_path / "first", "logger=none"))
    marker, payload = tmp_path / "payload_ran", tmp_path / "elsewhere" / "payload.pt"
    payload.parent.mkdir()
    torch.save(FileOnOpen(marker), payload)
    ckpt = torch.load(tmp_path / "first" / "checkpoints" / "last.ckpt", weights_only=True)
    state = _model_checkpoint_state(ckpt)
    second = tmp_path / "second"
    state.update(  # the same dirpath as the resumed run, so Lightning restores all of it
        dirpath=str(second / "checkpoints"),
        best_model_path=str(payload),
        kth_best_model_path=str(payload),
        best_k_models={str(payload): torch.tensor(-1e9)},
        best_model_score=torch.tensor(-1e9),  # nothing this run scores beats it: "best" stays the payload
        kth_value=torch.tensor(-1e9),
    )
    hostile = tmp_path / "hostile_last.ckpt"
    torch.save(ckpt, hostile)
    torch.load(hostile, weights_only=True)  # it passes the weights-only check

    res = run_train(*TINY, "logger=none", f"ckpt_path={hostile}", "trainer.max_epochs=2", f"hydra.run.dir={second}")
    assert res.returncode == 0, res.stderr[-3000:]
    assert not marker.exists() and payload.exists()
    saved = json.loads((second / "metrics.json").read_text())
    own_best = os.path.realpath(second / "checkpoints" / "best.ckpt")
    assert saved["steps"] == 8 and saved["tested_checkpoint"] in (None, own_best)  # never the named "best"
    assert "test/acc" in saved


def test_best_checkpoint_of_the_run_itself_is_tested(tmp_path):
    m = train(compose_cfg(tmp_path, "logger=none"))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["tested_checkpoint"] == os.path.realpath(tmp_path / "checkpoints" / "best.ckpt")
    assert saved["status"] == "completed" and "test/acc" in m


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("payload", "refuses (Unsupported global: GLOBAL io.open)"),
        ("empty", "empty or truncated"),
        ("json", "is not a PyTorch checkpoint"),
        ("plain_pickle", "is not a PyTorch checkpoint"),
        ("no_state_dict", "is not a Lightning checkpoint"),
        ("other_model", "does not fit this model"),
    ],
)
def test_malformed_or_unsafe_checkpoint_is_one_line(tmp_path, kind, needle):
    import pickle

    marker = tmp_path / "payload_ran"
    path = tmp_path / f"{kind}.ckpt"
    if kind == "payload":
        torch.save({"state_dict": {}, "extra": FileOnOpen(marker)}, path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "json":
        path.write_text('{"state_dict": {}}')
    elif kind == "plain_pickle":
        path.write_bytes(pickle.dumps({"state_dict": {}}, protocol=4))
    elif kind == "no_state_dict":
        torch.save({"weights": torch.zeros(3)}, path)
    else:
        torch.save({"state_dict": {"net.other.weight": torch.zeros(2, 2)}}, path)
    for extra in ([], ["train=false"]):
        res = run_train(*TINY, "logger=none", f"ckpt_path={path}", f"hydra.run.dir={tmp_path / 'run'}", *extra)
        assert_one_error_line(res, needle)
    assert not marker.exists()
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_train_false_tests_the_given_checkpoint(tmp_path):
    first = train(compose_cfg(tmp_path / "first", "logger=none"))
    best = tmp_path / "first" / "checkpoints" / "best.ckpt"
    only = train(compose_cfg(tmp_path / "test_only", "logger=none", "train=false", f"ckpt_path={best}"))
    assert only["test/loss"] == pytest.approx(first["test/loss"], abs=1e-6) and only["steps"] == 0
    assert not (tmp_path / "test_only" / "checkpoints").exists()


# -- SIGTERM (issue 15 item 8) ----------------------------------------------------------------------------
class MarkThenSlowDown(L.Callback):
    """Test helper: writes ``marker`` after the third training batch, then sleeps 0.2 s a batch so a
    signal sent from outside arrives mid-fit."""

    def __init__(self, marker: str):
        self.marker = marker

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == 3:
            with open(self.marker, "w") as fh:
                fh.write(str(trainer.global_step))
        if trainer.global_step >= 3:
            time.sleep(0.2)


def test_sigterm_saves_a_resumable_checkpoint_and_exits_143(tmp_path):
    run, marker = tmp_path / "run", tmp_path / "at_step_3"
    cmd = [
        sys.executable,
        os.path.join(REPO_ROOT, "train.py"),
        *TINY,
        "trainer.max_epochs=50",
        "logger=none",
        "callbacks=none",  # no ModelCheckpoint: the only checkpoint is the one SIGTERM makes
        f"hydra.run.dir={run}",
        "+callbacks.mark._target_=tests.cli.test_train.MarkThenSlowDown",
        f"+callbacks.mark.marker={marker}",
    ]
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), proc.communicate()[1][-3000:]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-3000:]
    last = run / "checkpoints" / "last.ckpt"
    assert "Traceback" not in err and f"resume with ckpt_path={last}" in err
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["status"] == "interrupted" and saved["steps"] >= 3
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["global_step"] == saved["steps"] and ckpt["optimizer_states"]
    resumed = train(compose_cfg(tmp_path / "resumed", "logger=none", f"ckpt_path={last}", "trainer.max_epochs=2"))
    assert resumed["steps"] == 8 and resumed["epochs"] == 2


# -- data and model that do not fit, run directories (issue 15 item 9) ---------------------------------------
def test_unknown_monitor_stops_before_the_first_step(tmp_path):
    res = run_train(*TINY, "logger=none", "monitor=val/nosuch", f"hydra.run.dir={tmp_path}")
    assert_one_error_line(res, "monitor='val/nosuch' is not a metric this model logs")
    assert "val/loss" in res.stderr
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "metrics.json").exists()


@pytest.mark.parametrize("where", ["file", "under_file"])
@pytest.mark.parametrize("mode", ["run", "multirun"])
def test_run_dir_that_is_a_file_is_one_line(tmp_path, where, mode):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    target = blocker if where == "file" else blocker / "run"
    if mode == "run":
        res = run_train(*TINY, "logger=none", f"hydra.run.dir={target}")
        assert_one_error_line(res, "hydra.run.dir=")
    else:
        res = run_train("-m", *TINY, "logger=none", "seed=1,2", f"hydra.sweep.dir={target}")
        assert_one_error_line(res, "hydra.sweep.dir=")
    assert blocker.read_text() == "x"


# -- template conventions (issue 13) ----------------------------------------------------------------------
def test_tags_train_test_flags_compose_and_apply(tmp_path):
    m = train(compose_cfg(tmp_path, "logger=none", "tags=[dev,lstm]", "test=false"))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["tags"] == ["dev", "lstm"] and "test/acc" not in m and m["steps"] == 4


def test_debug_fast_runs_one_batch_each(tmp_path):
    res = run_train(*TINY, "debug=fast", f"hydra.run.dir={tmp_path}")
    assert res.returncode == 0, res.stderr[-3000:]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["steps"] == 1 and "test/acc" in saved and saved["tags"] == ["debug"]


@pytest.mark.parametrize("option,steps", [("overfit", 6), ("limit", 2)])
def test_debug_overfit_and_limit(tmp_path, option, steps):
    """overfit: the same 3 batches every epoch (2 epochs here); limit: a share of the batches (1 of 4)."""
    cfg = compose_cfg(tmp_path, f"debug={option}", "trainer.max_epochs=2")
    if option == "limit":
        cfg.trainer.limit_train_batches = 0.25  # the tiny splits have 4 and 2 batches: 5% of 2 is refused
        cfg.trainer.limit_val_batches = cfg.trainer.limit_test_batches = 0.5
    m = train(cfg)
    assert m["steps"] == steps


def test_each_lightning_log_line_is_printed_once(tmp_path):
    res = run_train(*TINY, "logger=none", f"hydra.run.dir={tmp_path}")
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert out.count("`Trainer.fit` stopped") == 1
    assert "Trainer.fit` stopped" in (tmp_path / "train.log").read_text()  # still in Hydra's job log


def test_missing_tags_warn_and_config_tree_prints(tmp_path):
    res = run_train(*TINY, "logger=none", "tags=[]", "extras.print_config=true", f"hydra.run.dir={tmp_path}")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "warning: this run has no tags" in res.stderr
    assert "config" in res.stdout and "model" in res.stdout and "SparseRNNModule" in res.stdout


def test_wandb_names_from_overrides_grouped_by_sweep():
    from omegaconf import OmegaConf

    from anomaly_lab.cli.train import wandb_run_names

    job = OmegaConf.create(
        {
            "mode": "RunMode.MULTIRUN",
            "job": {"override_dirname": "model=lstm,seed=1", "num": 1},
            "sweep": {"dir": "multirun/train/2026-12-02_10-00-00"},
        }
    )
    assert wandb_run_names("train", job) == {"name": "model=lstm,seed=1", "group": "train/2026-12-02_10-00-00"}
    single = OmegaConf.create({"mode": "RunMode.RUN", "job": {"override_dirname": "seed=1"}, "sweep": {"dir": "x"}})
    assert wandb_run_names("train", single) == {"name": "train"}
    assert wandb_run_names("train", None) == {"name": "train"}


@pytest.mark.slow
def test_optuna_sweep_runs_two_trials(tmp_path):
    """hydra-optuna-sweeper 1.3 with optuna 5.1: a real 2-trial study over model.lr and model.density."""
    res = run_train(
        *TINY, "logger=none", "hparams_search=optuna", "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={tmp_path}"
    )
    assert res.returncode == 0, res.stderr[-3000:]
    best = (tmp_path / "optimization_results.yaml").read_text()
    assert "best_params" in best and "model.lr" in best
    with open(tmp_path / "sweep_results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(float(r["val/loss"]) > 0 for r in rows)
    assert len({r["override:model.lr"] for r in rows}) == 2
