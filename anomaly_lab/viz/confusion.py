"""Confusion-matrix pictures (matplotlib, headless) and the classification report beside them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor


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


def save_report(
    scores: dict[str, float],
    confusion: Tensor,
    class_names: Sequence[str],
    out_dir: str,
    stage: str = "test",
    title: str | None = None,
) -> dict[str, str]:
    """Write ``<stage>_report.json`` (scores and confusion matrix) and ``<stage>_confusion_matrix.png``
    into ``out_dir``; returns the two paths."""
    import json
    import os

    os.makedirs(out_dir, exist_ok=True)
    report_path = os.path.join(out_dir, f"{stage}_report.json")
    with open(report_path, "w") as fh:
        json.dump({"scores": scores, "classes": list(class_names), "confusion": confusion.tolist()}, fh, indent=2)
    figure_path = os.path.join(out_dir, f"{stage}_confusion_matrix.png")
    confusion_figure(
        confusion.numpy(),
        list(class_names),
        path=figure_path,
        title=title or f"{stage}: true vs predicted (rows normalised, counts shown)",
    )
    return {"report": report_path, "confusion": figure_path}
