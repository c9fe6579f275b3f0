"""Which codec reads a file, from the ``anomaly_lab.dataset`` key of its parquet metadata."""

from __future__ import annotations

import importlib
import importlib.util
import re

from anomaly_lab.core.errors import DataFileError

# dataset name -> "module:Class"; files without our metadata (the published RandomAnomaly files)
# are read as random_anomaly.
CODECS = {
    "random_anomaly": "anomaly_lab.modalities.random_anomaly.codec:RandomAnomalyCodec",
    "spectrogram": "anomaly_lab.modalities.spectrogram.codec:SpectrogramCodec",
    "moving_mnist": "anomaly_lab.modalities.moving_mnist.codec:MovingMnistCodec",
    "timeseries": "anomaly_lab.modalities.timeseries.codec:TimeSeriesCodec",
}


_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def codec_class(name: str):
    """The codec class of dataset ``name``: a built-in from :data:`CODECS`, or by convention the
    ``CODEC`` of ``anomaly_lab.modalities.<name>.codec`` (so a new modality's folder is enough).
    Only modules of that package are ever imported, whatever a file's metadata says."""
    if name in CODECS:
        module, cls = CODECS[name].split(":")
        return getattr(importlib.import_module(module), cls)
    module = f"anomaly_lab.modalities.{name}.codec"
    if isinstance(name, str) and _NAME.fullmatch(name) and importlib.util.find_spec(module) is not None:
        found = getattr(importlib.import_module(module), "CODEC", None)
        if found is not None:
            return found
    raise DataFileError(f"no reader for dataset {name!r}; known: {sorted(CODECS)}")


def codec_for(metadata: dict[str, str]):
    name = metadata.get("anomaly_lab.dataset", "random_anomaly")
    return codec_class(name).from_metadata(metadata)
