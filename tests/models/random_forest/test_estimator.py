"""The random forest fitted through fit_datamodule on synthetic spectrograms (CPU, seconds)."""

import json

import numpy as np
import pytest

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.loading.generated import GeneratorDataModule
from anomaly_lab.modalities.spectrogram import SpectrogramGenerator
from anomaly_lab.models.random_forest import RandomForestDetector


def datamodule(**kw):
    gen = SpectrogramGenerator(32, 32, seed=4, device="cpu", **kw)
    return GeneratorDataModule(gen, batch_size=100, train_size=600, val_size=100, test_size=300, shuffle=False)


def test_multiclass_forest_scores_val_and_test(tmp_path):
    rf = RandomForestDetector(n_estimators=60, seed=0)
    metrics = rf.fit_datamodule(datamodule(), out_dir=str(tmp_path))
    assert metrics["train_rows"] == 600 and rf.n_params > 60
    assert metrics["test/acc"] > 0.75  # chance 0.1
    for key in (
        "val/loss",
        "val/acc",
        "test/f2",
        "test/fpr",
        "test/f1_weighted",
        "test/f1/lightning",
        "test/recall/normal",
    ):
        assert key in metrics, key
    assert int(rf.test_confusion.sum()) == 300
    assert metrics["test/acc"] == pytest.approx(float(rf.test_confusion.diagonal().sum()) / 300)
    report = json.loads((tmp_path / "test_report.json").read_text())
    assert report["scores"]["acc"] == metrics["test/acc"]
    assert (tmp_path / "test_confusion_matrix.png").exists()
    # the loss is the mean cross-entropy of the forest's probabilities
    assert 0.0 < metrics["test/loss"] < np.log(10)


def test_same_seed_same_forest_and_downsample_features():
    a = RandomForestDetector(n_estimators=20, seed=3, features="downsample", size=8).fit_datamodule(datamodule())
    b = RandomForestDetector(n_estimators=20, seed=3, features="downsample", size=8).fit_datamodule(datamodule())
    assert a["test/acc"] == b["test/acc"] and a["test/loss"] == b["test/loss"]
    assert a["test/acc"] > 0.3


def test_binary_task_and_train_batch_cap():
    rf = RandomForestDetector(n_estimators=40, task="binary", max_train_batches=3, seed=0)
    metrics = rf.fit_datamodule(datamodule(mixture="road"))
    assert metrics["train_rows"] == 300
    assert rf.class_names == ["normal", "anomalous"] and tuple(rf.test_confusion.shape) == (2, 2)
    assert metrics["test/f2"] > 0.5 and "test/f1/anomalous" in metrics
    assert metrics["test/acc"] > 0.8  # ROAD's mixture: 75% normal


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"features": "fft"}, "model.features='fft'"),
        ({"task": "regression"}, "model.task='regression'"),
        ({"n_estimators": 0}, "model.n_estimators=0"),
        ({"class_weight": "auto"}, "model.class_weight='auto'"),
        ({"max_depth": 0}, "model.max_depth=0"),
    ],
)
def test_bad_values(kw, words):
    with pytest.raises(ConfigError, match=words):
        RandomForestDetector(**kw)


def test_fitting_reports_each_stage_with_its_time(caplog):
    import logging

    rf = RandomForestDetector(n_estimators=5, seed=0)
    with caplog.at_level(logging.INFO, logger="anomaly_lab.models.random_forest.estimator"):
        rf.fit_datamodule(datamodule())
    lines = [r.getMessage() for r in caplog.records]
    assert any("features of 600 training rows in" in m for m in lines)
    assert any("fitted 5 trees" in m for m in lines)
    assert any("scored 100 val rows" in m for m in lines) and any("scored 300 test rows" in m for m in lines)


def test_predict_and_check_batch_follow_the_task_contract():
    from anomaly_lab.tasks.estimator import EstimatorTask

    dm = datamodule()
    rf = RandomForestDetector(n_estimators=5, seed=0)
    rf.fit_datamodule(dm)
    batch = dm.datasets["test"].__getitems__(list(range(7)))
    rf.check_batch(batch)
    out = rf.predict(batch)
    assert isinstance(rf, EstimatorTask) and rf.trainable_weights() == rf.n_params
    assert out["scores"].shape == (7,) and out["preds"].shape == (7,) and float(out["scores"].max()) <= 1.0
    with pytest.raises(ConfigError, match="reads spectrogram batches"):
        rf.check_batch({"x": batch["x"]})
