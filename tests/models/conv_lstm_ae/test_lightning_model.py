"""The ConvLSTM autoencoder LightningModule: trains on normal clips, tests on anomalous ones, and runs
as experiment=moving_mnist_convlstm through train.py (cut to seconds)."""

import json
import os

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir

from anomaly_lab.cli.train import train
from anomaly_lab.core.errors import ConfigError
from anomaly_lab.metrics.video import auroc
from anomaly_lab.models.conv_lstm_ae.lightning_model import ConvLSTMAEModule
from tests import forkrun
from tests.conftest import REPO_ROOT

CONF = os.path.join(REPO_ROOT, "conf")


def compose_cfg(*overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("train", overrides=list(overrides))


def test_defaults_are_the_tutorials():
    model = ConvLSTMAEModule(frame_size=227, paddings=(0, 0))
    assert (model.lr, model.weight_decay, model.eps) == (1e-4, 1e-5, 1e-6)
    assert model.net.sizes == [227, 55, 26] and [c.hidden for c in model.net.cells] == [64, 32, 64]
    opt = model.configure_optimizers()
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["weight_decay"] == 1e-5 and opt.defaults["eps"] == 1e-6
    assert isinstance(model.hparams.encoder_channels, list)  # plain lists: checkpoints load with weights_only
    with pytest.raises(
        ConfigError, match=r"frames of shape \(1, 32, 32\) do not match model.channels=1, model.frame_size=64"
    ):
        ConvLSTMAEModule(frame_size=64)(torch.zeros(1, 2, 1, 32, 32))


def test_experiment_config_trains_on_normal_clips_and_tests_on_anomalous_ones():
    cfg = compose_cfg("experiment=moving_mnist_convlstm")
    assert cfg.model._target_.endswith("ConvLSTMAEModule") and cfg.model.frame_size == 64
    assert cfg.data.generator.anomaly_fraction.train == 0.0 and cfg.data.generator.anomaly_fraction.test == 0.5
    assert dict(cfg.data.generator.kinds) == {"replace": 1.0} and cfg.data.generator.normal_digits == "representative"


def test_experiment_runs_through_train_py(tmp_path):
    cfg = compose_cfg(
        "experiment=moving_mnist_convlstm",
        "device=cpu",
        "logger=none",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "data.train_size=16",
        "data.val_size=8",
        "data.test_size=16",
        "data.batch_size=8",
        "data.generator.seq_len=4",
        "data.generator.run_length=[1,2]",
        "data.generator.similarity.method=pca_kmeans",
        "data.generator.similarity.n_init=1",
        "data.generator.similarity.subset=1000",
        f"data.generator.similarity.cache_dir={tmp_path / 'c'}",
        "model.encoder_channels=[8,8]",
        "model.lstm_channels=[8]",
        f"paths.output_dir={tmp_path}",
    )
    metrics = train(cfg)
    for key in (
        "val/loss",
        "test/loss",
        "test/frame_auroc",
        "test/frame_auprc",
        "test/regularity_auroc",
        "test/pixel_auroc",
    ):
        assert key in metrics, key
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test/frame_auroc"] == metrics["test/frame_auroc"] and saved["params"] == metrics["params"]
    assert (tmp_path / "checkpoints" / "best.ckpt").exists() and (tmp_path / "test_regularity.png").exists()
    assert (tmp_path / "test_consistency.png").exists()  # the experiment scores by consistency
    back = ConvLSTMAEModule.load_from_checkpoint(
        tmp_path / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True
    )
    assert [c.hidden for c in back.net.cells] == [8]


def test_trains_and_scores_every_test_frame(mnist_train, tmp_path):
    from anomaly_lab.modalities.moving_mnist import MovingMnistGenerator
    from anomaly_lab.modalities.moving_mnist.datamodule import MovingMnistDataModule

    gen = MovingMnistGenerator(
        source=mnist_train,
        seq_len=5,
        run_length=(1, 2),
        seed=1,
        device="cpu",
        kinds="vanish",
        similarity={"method": "pca_kmeans", "n_init": 1, "subset": 1000, "cache_dir": str(tmp_path)},
    )
    dm = MovingMnistDataModule(gen, batch_size=8, train_size=32, val_size=8, test_size=32)
    torch.manual_seed(0)
    model = ConvLSTMAEModule(encoder_channels=(8, 8), lstm_channels=(8,), lr=3e-3, pictures=False)
    t = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    t.fit(model, datamodule=dm)
    t.test(model, datamodule=dm, verbose=False)
    errors, labels = model.test_frame_errors, model.test_frame_labels
    assert errors.shape == (32, 5) and int(labels.sum()) > 0
    assert model.test_scores["frame_auroc"] == pytest.approx(auroc(errors, labels), abs=1e-9)
    assert float(t.callback_metrics["test/frame_auroc"]) == pytest.approx(model.test_scores["frame_auroc"], abs=1e-6)
    # the default score is the reconstruction error, and then the consistency score is not computed
    assert "consistency_frame_auroc" not in model.test_scores and not model._normal_clips


def test_consistency_score_drives_frame_auroc_and_both_scores_are_logged(mnist_train, tmp_path):
    from anomaly_lab.metrics.video import clip_deviation, median_deviation
    from anomaly_lab.modalities.moving_mnist import MovingMnistGenerator
    from anomaly_lab.modalities.moving_mnist.datamodule import MovingMnistDataModule

    gen = MovingMnistGenerator(
        source=mnist_train,
        seq_len=6,
        run_length=(1, 2),
        seed=2,
        device="cpu",
        kinds="vanish",
        similarity={"method": "pca_kmeans", "n_init": 1, "subset": 1000, "cache_dir": str(tmp_path)},
    )
    dm = MovingMnistDataModule(gen, batch_size=8, train_size=16, val_size=8, test_size=48)
    torch.manual_seed(0)
    model = ConvLSTMAEModule(
        encoder_channels=(8, 8), lstm_channels=(8,), lr=3e-3, pictures=False, score="consistency", consistency_clips=12
    )
    assert torch.equal(model.consistency_scale, torch.ones(16))  # 8 + 8 channels, not yet measured
    t = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    t.fit(model, datamodule=dm)
    t.test(model, datamodule=dm, verbose=False)
    scores = model.test_scores
    for key in (
        "recon_frame_auroc",
        "recon_frame_auprc",
        "consistency_frame_auroc",
        "consistency_frame_auprc",
        "regularity_auroc",
        "pixel_auroc",
    ):
        assert key in scores and float(t.callback_metrics[f"test/{key}"]) == pytest.approx(scores[key], abs=1e-6)
    assert scores["frame_auroc"] == scores["consistency_frame_auroc"] != scores["recon_frame_auroc"]
    # calibrated on training clips before validation: a positive weight per channel, kept in the state dict
    scale = model.consistency_scale.clone()
    assert not torch.equal(scale, torch.ones(16)) and float(scale.min()) > 0.0
    assert torch.equal(model.state_dict()["consistency_scale"], scale)
    normal = torch.cat([b["frames"] for b in dm.train_dataloader()])[:12].float() / 255.0
    with torch.no_grad():
        expected_scale = median_deviation(torch.log(model.net.feature_energy(normal) + 1e-4)).clamp(min=1e-6)
    assert torch.allclose(model.calibrate_consistency(normal), expected_scale)
    model.consistency_scale.copy_(scale)
    # the per-frame scores kept for the test split are the consistency scores of its clips
    frames = torch.cat([b["frames"] for b in dm.test_dataloader()]).float() / 255.0
    with torch.no_grad():
        expected = clip_deviation(torch.log(model.net.feature_energy(frames) + 1e-4), scale)
    assert torch.allclose(model.test_frame_errors, expected, rtol=1e-5)
    # a vanished digit takes its energy with it: the consistency score finds those frames
    assert scores["consistency_frame_auroc"] > 0.9


def test_consistency_score_needs_a_model_that_has_one():
    from anomaly_lab.models.autoencoder.lightning_model import FrameAutoencoderModule

    with pytest.raises(ConfigError, match=r"model.score='consistency' needs a model with a consistency score"):
        FrameAutoencoderModule(arch="vanilla", score="consistency")
    with pytest.raises(ConfigError, match=r"model.score='mse'.*reconstruction.*consistency"):
        ConvLSTMAEModule(score="mse")


def test_consistency_calibration_under_ddp(tmp_path):
    # two gloo processes: the calibration's reduce over ranks runs in a real DDP fit, and its result is
    # saved (which clips each rank kept depends on the sampler, so the value itself is not checked here)
    import sys

    overrides = [
        "experiment=moving_mnist_convlstm",
        "device=cpu",
        "trainer=ddp",
        "logger=none",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "data.train_size=16",
        "data.val_size=8",
        "data.test_size=8",
        "data.batch_size=4",
        "data.generator.seq_len=4",
        "data.generator.run_length=[1,2]",
        "data.generator.similarity.method=pca_kmeans",
        "data.generator.similarity.n_init=1",
        "data.generator.similarity.subset=1000",
        f"data.generator.similarity.cache_dir={tmp_path / 'c'}",
        "model.encoder_channels=[4,4]",
        "model.lstm_channels=[4]",
        "model.consistency_clips=4",
        f"hydra.run.dir={tmp_path}",
    ]
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1"}
    res = forkrun.run(
        [sys.executable, os.path.join(REPO_ROOT, "train.py"), *overrides],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test/frame_auroc"] == metrics["test/consistency_frame_auroc"]
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    scale = state["consistency_scale"]
    assert scale.shape == (8,) and float(scale.min()) > 0.0 and not torch.equal(scale, torch.ones(8))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_consistency_on_cuda_matches_cpu():
    torch.manual_seed(0)
    model = ConvLSTMAEModule(encoder_channels=(8, 8), lstm_channels=(8,), pictures=False, score="consistency")
    clips = torch.rand(3, 5, 1, 64, 64)
    with torch.no_grad():
        scale = model.calibrate_consistency(clips)
        cpu = model.consistency(clips)
        model.cuda()
        assert torch.allclose(model.calibrate_consistency(clips.cuda()).cpu(), scale, rtol=1e-3)
        cuda = model.consistency(clips.cuda())
    assert cuda.device.type == "cuda" and torch.allclose(cuda.cpu(), cpu, rtol=1e-3, atol=1e-4)
