"""The reconstruction detectors under Lightning: per-step scores, threshold from clean validation
series, the test report; shared by the LSTM-AE and the LSTM-VAE."""

import json
import math

import lightning as L
import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.modalities.timeseries import TimeSeriesGenerator
from anomaly_lab.modalities.timeseries.datamodule import TimeSeriesDataModule
from anomaly_lab.models.lstm_ae.lightning_model import LSTMAutoencoderDetector
from anomaly_lab.models.lstm_vae.lightning_model import LSTMVAEDetector


class Zero(torch.nn.Module):
    def forward(self, x):
        return torch.zeros_like(x)


def test_scores_are_per_step_squared_errors_averaged_over_channels_and_windows():
    det = LSTMAutoencoderDetector(n_features=2, seq_len=4, hidden=(8, 4), score_stride=2)
    det.set_normalization(torch.tensor([1.0, -1.0]), torch.tensor([2.0, 0.5]))
    det.net = Zero()  # reconstruction 0: each window's error is z^2 of its own steps
    x = torch.randn(3, 10, 2)
    z = (x - torch.tensor([1.0, -1.0])) / torch.tensor([2.0, 0.5])
    assert torch.allclose(det.score_series(x), (z**2).mean(-1), atol=1e-6)


def test_channel_scaling_and_max_reduction(tmp_path):
    det = LSTMAutoencoderDetector(
        n_features=2, seq_len=4, hidden=(8, 4), normalize_channels=True, channel_reduce="max", threshold_quantile=0.5
    )
    det.net = Zero()
    x = torch.randn(4, 12, 2) * torch.tensor([1.0, 10.0])  # channel 1 reconstructs 100x worse
    det.set_normalization(torch.zeros(2), torch.ones(2))
    det.collect("val", errors=det.channel_errors(x), label=torch.zeros(4, 12))
    det.log = lambda *a, **k: None
    det.on_validation_epoch_end()
    assert torch.allclose(det.channel_scale, (x.double() ** 2).mean((0, 1)).float(), rtol=1e-5)
    scores = det.score_series(x)
    assert torch.allclose(scores, (x**2 / det.channel_scale).amax(-1), rtol=1e-5)
    assert float(det.threshold) == pytest.approx(float(scores.flatten().kthvalue(24).values), rel=1e-6)


def test_step_kinds_and_per_kind_auroc():
    from anomaly_lab.modalities.timeseries.events import ALL_KINDS
    from anomaly_lab.models.lstm_ae.lightning_model import per_kind_auroc, step_kinds

    batch = {
        "event_kind": torch.tensor([[1, 4], [3, -1]]),
        "event_start": torch.tensor([[2, 6], [0, -1]]),
        "event_end": torch.tensor([[4, 7], [2, -1]]),
    }
    kinds = step_kinds(batch, 8)
    assert kinds.tolist() == [[-1, -1, 1, 1, -1, -1, 4, -1], [3, 3, -1, -1, -1, -1, -1, -1]]
    scores = torch.tensor([[0.0, 0.1, 0.9, 0.8, 0.2, 0.3, 0.15, 0.0], [0.5, 0.05, 0.0, 0.1, 0.2, 0.3, 0.4, 0.0]])
    res = per_kind_auroc(scores, (kinds >= 0).long(), kinds)
    assert res[ALL_KINDS[1]] == 1.0  # both above every normal step
    assert res[ALL_KINDS[4]] == pytest.approx(6 / 11)  # 0.15 beats 6 of the 11 normal steps
    assert res[ALL_KINDS[3]] == pytest.approx((11 + 4) / 22)  # 0.5 beats all 11, 0.05 the four zeros


def test_set_normalization_guards_flat_channels():
    det = LSTMAutoencoderDetector(n_features=2, seq_len=4, hidden=(8, 4))
    det.set_normalization(torch.zeros(2), torch.tensor([0.0, 3.0]))
    assert det.std.tolist() == [1.0, 3.0] and bool(det.fitted)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"seq_len": 1}, "seq_len"),
        ({"lr": 0}, "lr"),
        ({"threshold_quantile": 1.5}, "threshold_quantile"),
        ({"train_windows": 0}, "train_windows"),
        ({"channel_reduce": "sum"}, "channel_reduce"),
        ({"normalize_channels": "yes"}, "normalize_channels"),
    ],
)
def test_bad_options(kw, match):
    with pytest.raises(ConfigError, match=match):
        LSTMAutoencoderDetector(**kw)


@pytest.mark.parametrize(
    "cls, kw",
    [
        (LSTMAutoencoderDetector, {"hidden": (16, 8)}),
        (LSTMVAEDetector, {"hidden": (16, 8), "dense": 8, "score": "probability", "n_samples": 2}),
    ],
)
def test_fit_threshold_and_test_report(cls, kw, tmp_path):
    gen = TimeSeriesGenerator(
        length=48,
        channels=2,
        seed=0,
        device="cpu",
        anomalies={
            "mode": "kinds",
            "kinds": ["platform"],
            "count": 1,
            "length": 8,
            "strength": 3.0,
            "channels": "all",
            "min_gap": 4,
        },
    )
    dm = TimeSeriesDataModule(gen, batch_size=8, train_size=16, val_size=8, test_size=8)
    model = cls(
        n_features=2,
        seq_len=8,
        latent_dim=3,
        lr=3e-3,
        train_windows=32,
        threshold_quantile=0.9,
        normalize_channels=True,
        **kw,
    )
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(model, datamodule=dm)
    assert bool(model.fitted) and math.isfinite(float(model.threshold))
    val_scores = model.reduce_channels(model.gathered("val")["errors"]).flatten().double()
    assert float((val_scores <= model.threshold).double().mean()) == pytest.approx(0.9, abs=0.01)
    trainer.test(model, datamodule=dm)
    res = model.test_results
    assert 0.0 <= res["auroc"] <= 1.0 and 0.0 <= res["auprc"] <= 1.0
    assert res["threshold"] == pytest.approx(float(model.threshold)) and res["threshold_is_oracle"] == 0.0
    for key in ("range_f1", "tdir", "dair", "vus_roc", "pa_f1"):
        assert key in res
    report = json.loads((tmp_path / "timeseries_test.json").read_text())
    assert report["threshold_from"] == "validation quantile" and report["metrics"]["auroc"] == res["auroc"]
    assert list(report["per_kind_auroc"]) == ["platform"]  # every event is a platform: its AUROC is the AUROC
    assert report["per_kind_auroc"]["platform"] == pytest.approx(res["auroc"])
    assert (tmp_path / "test_scores.png").exists()
    assert "test/auroc" in trainer.callback_metrics
