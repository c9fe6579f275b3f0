"""Confusion-matrix pictures (matplotlib, headless)."""

from __future__ import annotations

import numpy as np


def confusion_figure(
    matrix,
    class_names: list[str] | None = None,
    path: str | None = None,
    title: str = "confusion matrix",
    normalize: bool = True,
):
    """Draw ``matrix`` (rows = true, columns = predicted) with counts; returns the figure and saves
    it to ``path`` when given. Rows are normalised to recall per class when ``normalize``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=np.float64)
    n = m.shape[0]
    names = class_names or [str(i) for i in range(n)]
    shown = m / np.maximum(m.sum(1, keepdims=True), 1) if normalize else m
    size = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    f"{int(m[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if shown[i, j] > 0.5 else "black",
                )
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
