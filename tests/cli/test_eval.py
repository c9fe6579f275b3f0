"""eval.py end to end: a real train.py run directory, then eval.py on its checkpoint (issue 13)."""

import json
import os
import sys

import pyarrow.parquet as pq
import pytest
import torch
from hydra import compose, initialize_config_dir

from anomaly_lab.cli.eval import evaluate, merge_run_config, run_choices, run_dir_of
from tests import forkrun
from tests.cli.test_train import TINY, FileOnOpen, assert_one_error_line
from tests.conftest import REPO_ROOT

CONF = os.path.join(REPO_ROOT, "conf")
ENV = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1"}


def run_script(script, *overrides, timeout=600):
    return forkrun.run(
        [sys.executable, os.path.join(REPO_ROOT, script), *overrides],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=ENV,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny train.py run (with its .hydra/ folder, as eval.py expects)."""
    run = tmp_path_factory.mktemp("train_run")
    res = run_script("train.py", *TINY, "logger=none", "seed=3", f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr[-3000:]
    return run


def eval_cfg(tmp_path, ckpt, *overrides):
    """eval.yaml composed as eval.py composes it: the run's group choices first."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(
            "eval",
            overrides=[*run_choices(str(ckpt)), f"ckpt_path={ckpt}", f"paths.output_dir={tmp_path}", *overrides],
        )


def test_eval_reproduces_the_runs_test_metrics(trained_run, tmp_path):
    res = run_script("eval.py", f"ckpt_path={trained_run}/checkpoints/best.ckpt", f"hydra.run.dir={tmp_path}")
    assert res.returncode == 0, res.stderr[-3000:]
    trained = json.loads((trained_run / "metrics.json").read_text())
    evaluated = json.loads((tmp_path / "metrics.json").read_text())
    assert evaluated["test/loss"] == pytest.approx(trained["test/loss"], abs=1e-6)
    assert evaluated["test/acc"] == trained["test/acc"] and evaluated["seed"] == 3
    assert evaluated["run_dir"] == str(trained_run)


def test_saved_config_is_the_base_and_overrides_change_it(trained_run, tmp_path):
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    from omegaconf import OmegaConf

    saved = OmegaConf.load(trained_run / ".hydra" / "config.yaml")
    cfg = eval_cfg(tmp_path, ckpt, "data.test_size=16", "seed=4")
    merged = merge_run_config(saved, cfg, [f"ckpt_path={ckpt}", "data.test_size=16", "seed=4"])
    assert merged.model.input_size == 256 and merged.data.generator.image_size == 16  # the run's, not defaults
    assert merged.data.test_size == 16 and merged.seed == 4 and merged.data.train_size == 64
    assert merged.task_name == "eval" and "callbacks" not in merged and merged.train is False
    assert run_dir_of(str(ckpt)) == str(trained_run)


def test_predict_writes_per_sample_rows(trained_run, tmp_path):
    """The tasks' predict_step contract: per-sample scores, preds and the sample index."""
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    cfg = eval_cfg(tmp_path, ckpt, "predict=true", "trainer.enable_progress_bar=false")
    metrics = evaluate(cfg, [f"ckpt_path={ckpt}", "predict=true", "trainer.enable_progress_bar=false"])
    table = pq.read_table(tmp_path / "predictions.parquet")
    assert metrics["predict_rows"] == 32 == table.num_rows
    assert table.column_names == ["index", "preds", "scores"]
    index = table.column("index").to_pylist()
    assert len(set(index)) == 32 and index == sorted(index)  # the test split's sample indices, in order
    scores = torch.tensor(table.column("scores").to_pylist())
    assert scores.shape == (32, 10) and torch.allclose(scores.sum(1), torch.ones(32), atol=1e-5)
    assert table.column("preds").to_pylist() == scores.argmax(1).tolist()
    acc = json.loads((tmp_path / "metrics.json").read_text())["test/acc"]
    assert 0.0 <= acc <= 1.0


def test_predict_on_exported_parquet(trained_run, tmp_path):
    # the published layout has no index column: the row position in the split stands in
    data = tmp_path / "data"
    gen = run_script(
        "generate.py",
        "device=cpu",
        "data.generator.image_size=16",
        f"out_dir={data}",
        "export.preview=false",
        "progress=false",
        "export.splits=[{split: train, size: 16}, {split: validate, size: 16}, {split: test, size: 24}]",
        timeout=300,
    )
    assert gen.returncode == 0, gen.stderr[-2000:]
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    extra = ["predict=true", "data=parquet", f"data.path={data}", "trainer.enable_progress_bar=false"]
    out = tmp_path / "eval"
    metrics = evaluate(eval_cfg(out, ckpt, *extra), [f"ckpt_path={ckpt}", *extra])
    table = pq.read_table(out / "predictions.parquet")
    assert metrics["predict_rows"] == 24 == table.num_rows and table.column_names == ["index", "preds", "scores"]
    assert table.column("index").to_pylist() == list(range(24)) and "test/acc" in metrics


def test_bad_eval_inputs_are_one_line(trained_run, tmp_path):
    marker = tmp_path / "payload_ran"
    lone = tmp_path / "lone" / "checkpoints"
    lone.mkdir(parents=True)
    torch.save(torch.load(trained_run / "checkpoints" / "best.ckpt", weights_only=True), lone / "x.ckpt")
    hostile_run = tmp_path / "hostile"
    (hostile_run / "checkpoints").mkdir(parents=True)
    (hostile_run / ".hydra").mkdir()
    for name in ("config.yaml", "hydra.yaml"):
        (hostile_run / ".hydra" / name).write_text((trained_run / ".hydra" / name).read_text())
    torch.save({"state_dict": {}, "x": FileOnOpen(marker)}, hostile_run / "checkpoints" / "best.ckpt")
    cases = [
        ([], "ckpt_path is required"),
        ([f"ckpt_path={tmp_path}/nowhere.ckpt"], "no "),
        ([f"ckpt_path={lone}/x.ckpt"], ".hydra/config.yaml"),
        ([f"ckpt_path={hostile_run}/checkpoints/best.ckpt"], "refuses (Unsupported global"),
        ([f"ckpt_path={trained_run}/checkpoints/best.ckpt", "model=lstm"], "does not fit this model"),
    ]
    for args, needle in cases:
        res = run_script("eval.py", *args, f"hydra.run.dir={tmp_path / 'out'}")
        assert_one_error_line(res, needle)
    assert not marker.exists()


# -- a scikit-learn model: saved by train.py (skops), reloaded by eval.py ------------------------------------
RF_TINY = [
    "experiment=spectrogram_rf",
    "device=cpu",
    "data.generator.time_bins=32",
    "data.generator.freq_bins=32",
    "data.train_size=64",
    "data.val_size=32",
    "data.test_size=32",
    "data.batch_size=32",
    "model.n_estimators=5",
    "model.bands=4",
    "extras.print_config=false",
]


@pytest.fixture(scope="module")
def rf_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("rf_run")
    res = run_script("train.py", *RF_TINY, f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr[-3000:]
    return run


def test_random_forest_saved_and_reloaded(rf_run, tmp_path):
    assert (rf_run / "model.skops").exists()
    res = run_script("eval.py", f"ckpt_path={rf_run}/model.skops", "predict=true", f"hydra.run.dir={tmp_path}")
    assert res.returncode == 0, res.stderr[-3000:]
    trained = json.loads((rf_run / "metrics.json").read_text())
    evaluated = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("test/loss", "test/acc"):
        assert evaluated[key] == pytest.approx(trained[key], abs=1e-9)
    table = pq.read_table(tmp_path / "predictions.parquet")
    assert table.num_rows == 32 and table.column_names == ["index", "preds", "scores"]


class NotAForest:
    """A type eval.py does not trust."""

    def __init__(self):
        self.payload = [1, 2, 3]


def test_skops_file_with_untrusted_types_is_refused(rf_run, tmp_path):
    import shutil

    import skops.io

    run = tmp_path / "rf"
    shutil.copytree(rf_run, run)
    skops.io.dump(NotAForest(), run / "model.skops")
    res = run_script("eval.py", f"ckpt_path={run}/model.skops", f"hydra.run.dir={tmp_path / 'out'}")
    assert_one_error_line(res, "types eval.py does not trust: ['tests.cli.test_eval.NotAForest']")
