"""The modalities: one package each (generator, typed batch, kinds, codec, datamodule).

:func:`registered` imports the ``modality`` module of every sub-package here (a new modality is a
new folder with a ``modality.py`` that calls ``register_modality``) and of any installed plugin
that names a module under the ``anomaly_lab.modalities`` entry-point group, and returns the
registry.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil

#: the built-in ones first, in this order (the rest in name order)
BUILTIN = ("random_anomaly", "moving_mnist", "spectrogram", "timeseries")


def registered():
    """The registry of every modality (name -> entry whose ``obj`` is a
    :class:`~anomaly_lab.modalities.base.Modality`)."""
    from importlib.metadata import entry_points

    from anomaly_lab.modalities.base import MODALITIES

    here = os.path.dirname(__file__)
    found = sorted(m.name for m in pkgutil.iter_modules([here]) if m.ispkg)
    for name in [*BUILTIN, *(n for n in found if n not in BUILTIN)]:
        module = f"{__name__}.{name}.modality"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    for ep in entry_points(group="anomaly_lab.modalities"):
        importlib.import_module(ep.value)
    return MODALITIES
