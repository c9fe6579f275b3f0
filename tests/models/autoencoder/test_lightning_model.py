"""The reconstruction LightningModules trained for real on tiny Anomalous Moving MNIST clips (CPU):
loss falls, test figures equal the metric functions on the collected scores, pictures are written."""

import lightning as L
import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.metrics.video import auroc, average_precision
from anomaly_lab.modalities.moving_mnist import MovingMnistGenerator
from anomaly_lab.modalities.moving_mnist.datamodule import MovingMnistDataModule
from anomaly_lab.models.autoencoder.lightning_model import FrameAutoencoderModule, as_float_frames


@pytest.fixture(scope="module")
def dm(mnist_train, tmp_path_factory):
    gen = MovingMnistGenerator(
        source=mnist_train,
        seq_len=4,
        seed=2,
        device="cpu",
        kinds="vanish",
        run_length=(1, 2),
        similarity={
            "method": "pca_kmeans",
            "n_init": 1,
            "subset": 1000,
            "cache_dir": str(tmp_path_factory.mktemp("sim")),
        },
    )
    return MovingMnistDataModule(gen, batch_size=16, train_size=64, val_size=16, test_size=48)


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


def test_as_float_frames():
    u = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 1, 3)
    assert torch.allclose(as_float_frames(u), torch.tensor([0.0, 0.2, 1.0]).view(1, 1, 1, 1, 3))
    assert as_float_frames(torch.rand(2, 1, 8, 8)).shape == (2, 1, 1, 8, 8)  # image batches get T = 1
    with pytest.raises(ConfigError, match=r"frames must be \(B, T, C, H, W\)"):
        as_float_frames(torch.rand(8, 8))


def test_frame_autoencoder_learns_and_reports(dm, tmp_path):
    torch.manual_seed(0)
    model = FrameAutoencoderModule(arch="vanilla", frame_size=64, lr=3e-3)
    losses = []

    class Record(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            losses.append(float(trainer.callback_metrics["train/loss"]))

    t = trainer(tmp_path, 4, callbacks=[Record()])
    t.fit(model, datamodule=dm)
    assert losses[-1] < 0.7 * losses[0]
    assert {"val/loss", "val/frame_auroc", "val/frame_auprc", "val/pixel_auroc"} <= set(t.callback_metrics)
    t.test(model, datamodule=dm, verbose=False)
    m = t.callback_metrics
    errors, labels = model.test_frame_errors, model.test_frame_labels
    assert errors.shape == (48, 4) and labels.shape == (48, 4) and int(labels.sum()) > 0
    assert float(m["test/frame_auroc"]) == pytest.approx(auroc(errors, labels), abs=1e-6)
    assert float(m["test/frame_auprc"]) == pytest.approx(average_precision(errors, labels), abs=1e-6)
    for key in ("test/loss", "test/regularity_auroc", "test/pixel_auroc"):
        assert key in m, key
    assert 0.0 <= float(m["test/pixel_auroc"]) <= 1.0
    assert (tmp_path / "test_reconstruction.png").exists() and (tmp_path / "test_regularity.png").exists()
    assert not (tmp_path / "test_consistency.png").exists()  # only models scored by consistency draw it


def test_every_architecture_steps_and_checks_the_frame_size(dm):
    batch = dm.datasets["train"].__getitems__(list(range(2)))
    for arch in ("vanilla", "deep", "conv"):
        model = FrameAutoencoderModule(arch=arch, frame_size=64)
        recon = model(batch["frames"])
        assert (
            recon.shape == (2, 4, 1, 64, 64)
            and float(recon.detach().min()) >= 0.0
            and float(recon.detach().max()) <= 1.0
        )
        torch.nn.functional.mse_loss(recon, as_float_frames(batch["frames"])).backward()
        assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(
        ConfigError, match=r"frames of shape \(1, 64, 64\) do not match model.channels=1, model.frame_size=28"
    ):
        FrameAutoencoderModule(arch="vanilla", frame_size=28)(batch["frames"])
    with pytest.raises(ConfigError, match="model.frames_key='x' is not in the batch"):
        FrameAutoencoderModule(arch="vanilla", frames_key="x")._frames(batch)
