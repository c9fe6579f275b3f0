"""Kept for old imports: the picture lives in :mod:`anomaly_lab.viz.confusion`."""

from anomaly_lab.viz.confusion import confusion_figure

__all__ = ["confusion_figure"]
