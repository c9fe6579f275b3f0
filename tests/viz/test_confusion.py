"""The confusion-matrix picture and the classification report beside it."""

import json

import torch

from anomaly_lab.metrics.multiclass import classification_scores
from anomaly_lab.viz.confusion import confusion_figure, save_report

NAMES = [f"c{k}" for k in range(5)]


def test_save_report_writes_json_and_picture(tmp_path):
    g = torch.Generator().manual_seed(1)
    true = torch.randint(0, 5, (50,), generator=g)
    pred = torch.where(torch.rand(50, generator=g) < 0.6, true, torch.randint(0, 5, (50,), generator=g))
    scores, cm = classification_scores(pred, true, NAMES)
    paths = save_report(scores, cm, NAMES, str(tmp_path), "test")
    saved = json.loads(open(paths["report"]).read())
    assert saved["confusion"] == cm.tolist() and saved["scores"]["acc"] == scores["acc"]
    assert saved["classes"] == NAMES and int(cm.sum()) == 50
    assert (tmp_path / "test_confusion_matrix.png").stat().st_size > 1000


def test_confusion_figure_normalises_rows_and_labels_counts(tmp_path):
    fig = confusion_figure([[3, 1], [0, 4]], ["normal", "anomalous"], title="t")
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    assert abs(float(shown[0, 0]) - 0.75) < 1e-9 and float(shown[1, 1]) == 1.0
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "3", "4"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["normal", "anomalous"]
