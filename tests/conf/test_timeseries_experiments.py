"""experiment=timeseries_lstm_vae through train.py, cut to seconds: both detectors, the figures the
docs report, checkpoints that load back."""

import json
import os

import pytest
from hydra import compose, initialize_config_dir

from anomaly_lab.cli.train import train
from tests.conftest import REPO_ROOT

CONF = os.path.join(REPO_ROOT, "conf")
TINY = [
    "device=cpu",
    "data.generator.length=64",
    "data.train_size=16",
    "data.val_size=8",
    "data.test_size=8",
    "data.batch_size=8",
    "model.seq_len=8",
    "model.train_windows=32",
    "trainer.max_epochs=1",
    "logger=none",
    "trainer.enable_progress_bar=false",
]


def compose_cfg(*overrides, hydra=False):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=hydra)


def test_experiment_sweeps_both_detectors_on_the_same_data():
    cfg = compose_cfg("experiment=timeseries_lstm_vae", hydra=True)
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN" and cfg.hydra.sweeper.params.model == "lstm_ae,lstm_vae"
    assert cfg.data.generator.length == 256 and cfg.data.generator.channels == 4 and cfg.model.seq_len == 16
    assert list(cfg.data.clean_splits) == ["train", "val"] and cfg.data.generator.anomalies.mode == "kinds"
    ae = compose_cfg("experiment=timeseries_lstm_vae", "model=lstm_ae")
    assert ae.model.seq_len == 16 and ae.model.normalize_channels and ae.data.generator == cfg.data.generator


@pytest.mark.parametrize("model, cls", [("lstm_ae", "LSTMAutoencoderDetector"), ("lstm_vae", "LSTMVAEDetector")])
def test_experiment_runs_through_train_py(model, cls, tmp_path):
    import importlib

    cfg = compose_cfg("experiment=timeseries_lstm_vae", f"model={model}", *TINY, f"paths.output_dir={tmp_path}")
    metrics = train(cfg)
    for key in ("val/loss", "val/threshold", "test/auroc", "test/auprc", "test/range_f1", "test/tdir", "test/dair"):
        assert key in metrics, key
    assert 0.0 <= metrics["test/auroc"] <= 1.0 and metrics["steps"] == 2
    report = json.loads((tmp_path / "timeseries_test.json").read_text())
    assert report["metrics"]["auroc"] == pytest.approx(metrics["test/auroc"], rel=1e-6)
    module = importlib.import_module(f"anomaly_lab.models.{model}.lightning_model")
    back = getattr(module, cls).load_from_checkpoint(
        tmp_path / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True
    )
    assert float(back.threshold) == pytest.approx(metrics["val/threshold"], rel=1e-5)
    assert back.hparams.seq_len == 8
