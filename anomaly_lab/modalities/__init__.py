"""The modalities: one package each (generator, typed batch, kinds, codec, datamodule).

:func:`registered` imports the built-in ones and any installed plugin that names a module under
the ``anomaly_lab.modalities`` entry-point group, and returns the registry.
"""

from __future__ import annotations

import importlib

BUILTIN = ("random_anomaly", "moving_mnist", "spectrogram", "timeseries")


def registered():
    """The registry of every modality (name -> :class:`~anomaly_lab.modalities.base.Modality`)."""
    from importlib.metadata import entry_points

    from anomaly_lab.modalities.base import MODALITIES

    for name in BUILTIN:
        importlib.import_module(f"anomaly_lab.modalities.{name}.modality")
    for ep in entry_points(group="anomaly_lab.modalities"):
        importlib.import_module(ep.value)
    return MODALITIES
