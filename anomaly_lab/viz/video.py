"""Test pictures of the video detectors: clips with their reconstructions and per-frame score curves."""

from __future__ import annotations

import os

import torch
from torch import Tensor

from anomaly_lab.metrics.video import regularity


def save_test_pictures(shown: dict[str, Tensor], out_dir: str) -> dict[str, str]:
    """``test_reconstruction.png`` (input / reconstruction / error rows per sequence, anomalous
    frames boxed), ``test_regularity.png`` (regularity curves, anomalous frames shaded) and, when
    ``shown`` holds consistency scores, ``test_consistency.png`` (their curves, the same way)."""
    from anomaly_lab.viz.preview import frame_grid

    os.makedirs(out_dir, exist_ok=True)
    x, recon = shown["x"][:, :, 0], shown["recon"][:, :, 0]
    err = (x - recon).abs()
    err = err / err.amax().clamp(min=1e-6)
    rows = torch.stack([x, recon, err], 1).flatten(0, 1)  # (3 * B, T, H, W)
    labels = shown["labels"]
    boxed = None
    if labels is not None:
        boxed = (labels > 0).repeat_interleave(3, 0).numpy()
    names = [n for _ in range(x.shape[0]) for n in ("input", "recon", "|error|")]
    paths = {
        "reconstruction": os.path.join(out_dir, "test_reconstruction.png"),
        "regularity": os.path.join(out_dir, "test_regularity.png"),
    }
    frame_grid((rows.clamp(0, 1) * 255).round().to(torch.uint8).numpy(), boxed, names).save(paths["reconstruction"])
    plot_curves(regularity(shown["errors"]), labels, "regularity", paths["regularity"], ylim=(-0.05, 1.05))
    if "consistency" in shown:
        paths["consistency"] = os.path.join(out_dir, "test_consistency.png")
        plot_curves(shown["consistency"], labels, "consistency score", paths["consistency"])
    return paths


def plot_curves(values: Tensor, labels: Tensor | None, ylabel: str, path: str, ylim: tuple | None = None) -> None:
    """One panel of per-frame values a sequence, anomalous frames shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(values), 1, figsize=(7, 1.6 * len(values)), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):  # a handful of example sequences
        ax.plot(values[i].numpy(), marker="o", ms=3)
        if labels is not None:
            for t in torch.nonzero(labels[i] > 0).flatten().tolist():
                ax.axvspan(t - 0.5, t + 0.5, color="red", alpha=0.25)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_ylabel(ylabel)
    axes[-1, 0].set_xlabel("frame (anomalous frames shaded)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
