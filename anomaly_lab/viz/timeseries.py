"""Test pictures of the time-series detectors."""

from __future__ import annotations

from torch import Tensor


def plot_scores(scores: Tensor, labels: Tensor, threshold: float, path: str, title: str = "") -> None:
    """Scores of a few test series over steps, anomalous steps shaded, the threshold dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    n = scores.shape[0]
    fig, axes = plt.subplots(n, 1, figsize=(11, 1.8 * n), squeeze=False)
    for r in range(n):
        ax = axes[r, 0]
        s = scores[r].numpy()
        ax.plot(s, lw=0.8)
        ax.axhline(threshold, ls="--", color="k", lw=0.7)
        ax.fill_between(
            np.arange(s.size),
            0,
            1,
            where=labels[r].numpy() == 1,
            color="red",
            alpha=0.15,
            transform=ax.get_xaxis_transform(),
        )
        ax.set_yscale("log")
    axes[0, 0].set_title(f"{title}: anomaly score per step (red: true anomalies, dashed: threshold)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
