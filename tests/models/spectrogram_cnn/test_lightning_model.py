"""The CNN LightningModule trained for real on synthetic spectrograms (32 x 32, CPU)."""

import json

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.loading.generated import GeneratorDataModule
from anomaly_lab.modalities.spectrogram import SpectrogramGenerator
from anomaly_lab.models.spectrogram_cnn.lightning_model import SpectrogramClassifier


def datamodule(train=480, val=96, test=160, strength=1.0):
    gen = SpectrogramGenerator(32, 32, strength=strength, seed=1, device="cpu")
    return GeneratorDataModule(gen, batch_size=32, train_size=train, val_size=val, test_size=test)


def trainer(tmp_path, epochs, **kw):
    return L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        **kw,
    )


def test_learns_and_reports_every_figure(tmp_path):
    torch.manual_seed(0)
    model = SpectrogramClassifier(height=32, width=32, lr=2e-3)
    dm = datamodule()
    t = trainer(tmp_path, 6)
    t.fit(model, datamodule=dm)
    for key in ("val/loss", "val/acc", "val/f1_weighted", "val/f2", "val/fpr", "train/loss"):
        assert key in t.callback_metrics, key
    t.test(model, datamodule=dm, verbose=False)
    m = t.callback_metrics
    assert float(m["test/acc"]) > 0.45  # chance is 0.1; this run gives about 0.6
    for key in (
        "test/loss",
        "test/f2",
        "test/fpr",
        "test/f1_weighted",
        "test/precision_weighted",
        "test/recall_weighted",
        "test/f1/normal",
        "test/recall/solar_storm",
        "test/f2_from_classes",
    ):
        assert key in m, key
    assert int(model.test_confusion.sum()) == 160
    assert float(m["test/acc"]) == pytest.approx(float(model.test_confusion.diagonal().sum()) / 160, abs=1e-6)
    report = json.loads((tmp_path / "test_report.json").read_text())
    assert report["classes"][0] == "normal" and report["confusion"] == model.test_confusion.tolist()
    assert (tmp_path / "test_confusion_matrix.png").exists()


def test_training_loss_falls(tmp_path):
    torch.manual_seed(0)
    model = SpectrogramClassifier(height=32, width=32, heads="multiclass")
    dm = datamodule(train=320, val=64, test=32)
    losses = []

    class Record(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            losses.append(float(trainer.callback_metrics["train/loss"]))

    trainer(tmp_path, 3, callbacks=[Record()]).fit(model, datamodule=dm)
    assert losses[-1] < losses[0] - 0.3


def test_binary_head_alone_reports_f2(tmp_path):
    torch.manual_seed(0)
    model = SpectrogramClassifier(height=32, width=32, heads="binary")
    dm = datamodule(train=160, val=64, test=64)
    t = trainer(tmp_path, 1)
    t.fit(model, datamodule=dm)
    t.test(model, datamodule=dm, verbose=False)
    m = t.callback_metrics
    assert "test/f2" in m and "test/acc" in m and "test/f1/normal" not in m
    assert model.test_confusion is None


def test_early_stopping_on_val_loss(tmp_path):
    torch.manual_seed(0)
    model = SpectrogramClassifier(height=32, width=32)
    stop = EarlyStopping(monitor="val/loss", patience=1, min_delta=100.0)  # no epoch improves by 100
    t = trainer(tmp_path, 20, callbacks=[stop])
    t.fit(model, datamodule=datamodule(train=64, val=32, test=32))
    assert t.current_epoch == 2 and stop.stopped_epoch == 1


def test_bad_values():
    with pytest.raises(ConfigError, match="model.lr=0"):
        SpectrogramClassifier(lr=0)
    with pytest.raises(ConfigError, match="model.binary_weight=-1"):
        SpectrogramClassifier(binary_weight=-1)
