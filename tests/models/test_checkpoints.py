"""Every Lightning model reloads from its checkpoint with ``weights_only=True`` and scores a batch the
same: the three lines the README shows (load, eval, predict)."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from anomaly_lab.models.autoencoder.lightning_model import FrameAutoencoderModule
from anomaly_lab.models.conv_lstm_ae.lightning_model import ConvLSTMAEModule
from anomaly_lab.models.lstm_ae.lightning_model import LSTMAutoencoderDetector
from anomaly_lab.models.lstm_vae.lightning_model import LSTMVAEDetector
from anomaly_lab.models.recurrent.lightning_model import RecurrentModule
from anomaly_lab.models.sparse_rnn.lightning_model import SparseRNNModule
from anomaly_lab.models.spectrogram_cnn.lightning_model import SpectrogramClassifier

FRAMES = {"frames": torch.rand(2, 3, 1, 32, 32)}
SERIES = {"x": torch.randn(2, 24, 2)}
SEQUENCES = {"x": torch.randn(2, 5, 1, 8, 8)}
SPECTRA = {"x": torch.randn(2, 4, 32, 32)}
CASES = [
    (SparseRNNModule, {"input_size": 64, "output_size": 4, "budget": 3000}, SEQUENCES),
    (
        RecurrentModule,
        {"cell": "gru", "input_size": 64, "output_size": 4, "hidden": 8},
        {"x": torch.randn(2, 5, 1, 8, 8)},
    ),
    (FrameAutoencoderModule, {"arch": "vanilla", "frame_size": 32, "hidden": 8}, FRAMES),
    (ConvLSTMAEModule, {"frame_size": 32, "encoder_channels": [4, 4], "lstm_channels": [4]}, FRAMES),
    (LSTMAutoencoderDetector, {"n_features": 2, "seq_len": 8, "hidden": [8, 4]}, SERIES),
    (LSTMVAEDetector, {"n_features": 2, "seq_len": 8, "hidden": [8, 4], "dense": 4}, SERIES),
    (
        SpectrogramClassifier,
        {"height": 32, "width": 32, "channels": [4, 4, 4], "dense": 8},
        {"x": torch.randn(2, 4, 32, 32)},
    ),
]


@pytest.mark.parametrize(("cls", "kwargs", "batch"), CASES, ids=[c[0].__name__ for c in CASES])
def test_reloads_with_weights_only_and_scores_the_same(cls, kwargs, batch, tmp_path):
    torch.manual_seed(0)
    model = cls(**kwargs).eval()
    path = tmp_path / "model.ckpt"
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": L.__version__,
        },
        path,
    )
    loaded = cls.load_from_checkpoint(str(path), weights_only=True).eval()
    with torch.no_grad():
        want, got = model.predict(batch), loaded.predict(batch)
    assert set(want) == {"scores", "preds"}
    assert torch.equal(want["scores"], got["scores"]) and torch.equal(want["preds"], got["preds"])
    assert want["scores"].shape[0] == 2
