import math

import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.models.lstm_vae.lightning_model import LSTMVAEDetector


def test_probability_score_is_repeatable_and_an_nll():
    det = LSTMVAEDetector(n_features=2, seq_len=6, latent_dim=3, score="probability", n_samples=4)
    det.eval()
    windows = torch.randn(5, 6, 2)
    with torch.no_grad():
        a, b = det.window_errors(windows), det.window_errors(windows)
        err = LSTMVAEDetector(n_features=2, seq_len=6, latent_dim=3, score="error")
        err.net = det.net
        e = err.window_errors(windows)
    assert torch.equal(a, b) and a.shape == (5, 6, 2)
    assert bool((a >= 0.5 * math.log(2 * math.pi)).all())  # a Gaussian NLL per value, at least its constant
    assert e.shape == (5, 6, 2) and bool((e >= 0).all())


def test_training_loss_is_the_seeds():
    det = LSTMVAEDetector(n_features=2, seq_len=6, latent_dim=3)
    det.eval()
    windows = torch.randn(4, 6, 2)
    with torch.no_grad():
        terms = det.window_loss(windows)
    assert float(terms["loss"]) == pytest.approx(100 * float(terms["recon"]) + float(terms["kl"]), rel=1e-5)


@pytest.mark.parametrize(
    "kw, match", [({"score": "max"}, "score"), ({"n_samples": 0}, "n_samples"), ({"alpha": -1}, "alpha")]
)
def test_bad_options(kw, match):
    with pytest.raises(ConfigError, match=match):
        LSTMVAEDetector(**kw)
