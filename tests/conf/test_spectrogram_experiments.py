"""experiment=spectrogram_cnn / spectrogram_rf and data=road through train.py, cut to seconds."""

import json
import os

from hydra import compose, initialize_config_dir

from anomaly_lab.cli.train import train
from tests.conftest import REPO_ROOT

CONF = os.path.join(REPO_ROOT, "conf")
TINY = [
    "device=cpu",
    "data.generator.time_bins=32",
    "data.generator.freq_bins=32",
    "data.train_size=96",
    "data.val_size=32",
    "data.test_size=64",
    "logger=none",
]


def compose_cfg(*overrides, name="train"):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(name, overrides=list(overrides))


def test_cnn_experiment_config_says_what_the_docs_say():
    cfg = compose_cfg("experiment=spectrogram_cnn")
    assert cfg.data.generator.time_bins == 64 and cfg.model.height == 64 and cfg.model.width == 64
    assert cfg.callbacks.early_stopping.monitor == "val/loss" and cfg.callbacks.early_stopping.patience == 3
    assert cfg.trainer.max_epochs == 10 and cfg.data.batch_size == 32
    rf = compose_cfg("experiment=spectrogram_rf")
    for key in ("time_bins", "freq_bins", "mixture", "seed", "strength"):
        assert rf.data.generator[key] == cfg.data.generator[key]  # the same data for both models
    assert (rf.data.train_size, rf.data.val_size, rf.data.test_size) == (
        cfg.data.train_size,
        cfg.data.val_size,
        cfg.data.test_size,
    )


def test_cnn_experiment_runs_through_train_py(tmp_path):
    cfg = compose_cfg(
        "experiment=spectrogram_cnn",
        *TINY,
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        f"paths.output_dir={tmp_path}",
    )
    metrics = train(cfg)
    for key in ("val/loss", "val/f2", "test/acc", "test/f2", "test/fpr", "test/f1_weighted", "test/f1/solar_storm"):
        assert key in metrics, key
    assert (
        metrics["params"] == 4 * 32 * 9 + 32 + 32 * 64 * 9 + 64 + 64 * 128 * 9 + 128 + 128 * 4 * 128 + 128 + 1290 + 129
    )
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test/acc"] == metrics["test/acc"]
    assert (tmp_path / "checkpoints" / "best.ckpt").exists() and (tmp_path / "test_confusion_matrix.png").exists()
    from anomaly_lab.models.spectrogram_cnn.lightning_model import SpectrogramClassifier

    back = SpectrogramClassifier.load_from_checkpoint(
        tmp_path / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True
    )  # no Hydra objects in the hyperparameters
    assert back.net.input_shape == (4, 32, 32)


def test_rf_experiment_runs_through_train_py(tmp_path):
    cfg = compose_cfg(
        "experiment=spectrogram_rf",
        *TINY,
        "data.batch_size=32",
        "model.n_estimators=30",
        f"paths.output_dir={tmp_path}",
    )
    metrics = train(cfg)
    assert metrics["test/acc"] > 0.3 and metrics["params"] > 30 and "test/f2" in metrics and "val/loss" in metrics
    report = json.loads((tmp_path / "test_report.json").read_text())
    assert sum(map(sum, report["confusion"])) == 64


def test_road_data_reads_a_synthetic_file_through_train_py(tmp_path):
    from anomaly_lab.cli.generate import run_generate

    out = tmp_path / "synthetic"
    run_generate(
        compose_cfg(
            "data=spectrogram",
            "device=cpu",
            "progress=false",
            "data.generator.time_bins=32",
            "data.generator.freq_bins=32",
            "data.generator.scale=none",
            "size=200",
            "export.format=h5",
            "export.preview=false",
            f"out_dir={out}",
            name="generate",
        )
    )
    cfg = compose_cfg(
        "data=road",
        "model=random_forest",
        "device=cpu",
        "logger=none",
        f"data.path={out / 'train.h5'}",
        "data.size=32",
        "data.selection=all",
        "model.n_estimators=30",
        f"paths.output_dir={tmp_path / 'run'}",
    )
    metrics = train(cfg)
    from anomaly_lab.modalities.spectrogram.road import RoadFile

    counts = RoadFile(str(out / "train.h5")).catalogue()[1]["classes"].values()
    assert sum(counts) == 200
    assert metrics["train_rows"] == sum(n - round(0.2 * n) - round(0.1 * n) for n in counts)  # stratified 70/10/20
    assert metrics["test/acc"] > 0.3
