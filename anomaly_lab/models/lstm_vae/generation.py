"""Anomalies made by a trained LSTM-VAE: latents pushed into low-density regions, decoded, and
spliced into the test series with labels at the rows they change.

Two ways to pick the anomalous latent of a window (``sampling``):

- ``shift``, the seed's: ``z = mu + sigma * eps + 1.09 * log_var`` (a shift along the log-variance);
- ``tail``, its README's intent (sampling the tails of the learned distribution): every latent
  coordinate is drawn from the two tails of the encoder's Gaussian that hold ``tail_probability``
  of its mass, ``z_k = mu_k + sigma_k * s_k * Phi^-1(1 - tail_probability * u_k / 2)``, so the
  point has low density under ``q(z | x)``.

Windows are stride-1 windows of the z-scored test series; the series is rebuilt as the seed does
(the first window whole, then the last row of each later window), so window 0 supplies rows
``0..L-1`` and window ``w > 0`` row ``w + L - 1``: those rows are the labels (the seed reported
window numbers). ``base="original"`` keeps the clean test rows and replaces only the rows of
anomalous windows; ``base="reconstruction"`` outputs the decoded series throughout, as the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.modalities.timeseries.windows import sliding_windows, stitch_last_rows, stitched_rows
from anomaly_lab.models.lstm_vae.torch_model import LSTMVAE

SAMPLINGS = ("shift", "tail")
BASES = ("original", "reconstruction")


@dataclass
class VAEAnomalies:
    """``series`` ``(T, C)`` (z-scored units), ``rows`` the labelled rows (sorted), ``windows`` the
    windows given anomalous latents, ``reconstruction`` the decoded series from normal latents."""

    series: Tensor
    rows: Tensor
    windows: Tensor


def anomalous_latents(
    mu: Tensor,
    log_var: Tensor,
    eps: Tensor,
    u: Tensor,
    signs: Tensor,
    sampling: str,
    shift: float,
    tail_probability: float,
) -> Tensor:
    """Latents for anomalous windows (see the module docstring); all inputs ``(W, latent_dim)``."""
    sigma = torch.exp(0.5 * log_var)
    if sampling == "shift":
        return mu + sigma * eps + shift * log_var
    tail = torch.special.ndtri(1.0 - tail_probability * u.to(torch.float64) / 2.0).to(mu.dtype)
    return mu + sigma * signs * tail


@torch.no_grad()
def generate_vae_anomalies(
    model: LSTMVAE,
    test: Tensor,
    seed: int = 0,
    stream_index: int = 0,
    fraction: float = 0.05,
    sampling: str = "shift",
    shift: float = 1.09,
    tail_probability: float = 0.01,
    base: str = "original",
    chunk: int = 4096,
) -> VAEAnomalies:
    """Anomalies in z-scored ``test`` ``(T, C)`` made by ``model``: ``int(W * fraction)`` of the
    ``W = T - L + 1`` windows (the seed: ``W // 20``) are decoded from anomalous latents. All
    draws come from ``CounterRNG(seed, ...)`` (windows chosen with index ``stream_index``)."""
    check_choice("sampling", sampling, SAMPLINGS)
    check_choice("base", base, BASES)
    check_range("anomaly_fraction", fraction, 0.0, 1.0)
    check_range("tail_probability", tail_probability, 0.0, 1.0, low_inclusive=False)
    size = model.seq_len
    if test.shape[0] < size:
        raise ConfigError(f"the test slice has {test.shape[0]} rows, fewer than sequence_length={size}")
    model.eval()
    windows = sliding_windows(test[None], size)[0]  # (W, L, C)
    w = windows.shape[0]
    count = int(w * fraction + 1e-9)  # W // 20 at 0.05, as the seed, whatever the rounding of W * 0.05
    picks = CounterRNG(seed, [stream_index], device=test.device).permutation_keys("vae/windows", w)[0, :count]
    anomalous = torch.zeros(w, dtype=torch.bool, device=test.device)
    anomalous[picks] = True
    rng = CounterRNG(seed, torch.arange(w, device=test.device))
    d = model.latent_dim
    eps = rng.normal("vae/eps", (d,)).to(test.dtype)
    u = rng.uniform64("vae/tail", (d,))
    signs = torch.where(rng.bits("vae/tail_sign", (d,)) & 1 == 1, 1.0, -1.0).to(test.dtype)
    decoded = []
    for i in range(0, w, chunk):  # chunks of windows, each one batched call
        mu, log_var = model.encode(windows[i : i + chunk])
        normal = mu + torch.exp(0.5 * log_var) * eps[i : i + chunk]
        odd = anomalous_latents(
            mu, log_var, eps[i : i + chunk], u[i : i + chunk], signs[i : i + chunk], sampling, shift, tail_probability
        )
        z = torch.where(anomalous[i : i + chunk, None], odd, normal)
        decoded.append(model.decode(z))
    stitched = stitch_last_rows(torch.cat(decoded))
    rows = stitched_rows(picks, size) if count else torch.zeros(0, dtype=torch.int64, device=test.device)
    if base == "reconstruction":
        series = stitched
    else:
        series = test.clone()
        series[rows] = stitched[rows]
    return VAEAnomalies(series, rows, picks.sort().values)
