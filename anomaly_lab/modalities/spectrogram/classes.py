"""The ten ROAD classes (normal and nine anomalies) and the class mixtures the generator draws from.

Class ids are fixed everywhere in the package (generator, ROAD loader, models, metrics): 0 is
normal, 1..9 the anomaly classes in the order ROAD's paper lists them. The anomaly classes are
the morphologies registered in :data:`~anomaly_lab.modalities.spectrogram.morphologies.MORPHOLOGIES`,
so a new one (appended there) gets the next id and is known to mixtures, validation and the codec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.modalities.spectrogram.morphologies import MORPHOLOGIES

NORMAL = "normal"
#: the anomaly classes, in id order (1, 2, ...): the registered morphologies, in registration order
ANOMALY_CLASSES: tuple[str, ...] = MORPHOLOGIES.names
CLASS_NAMES: tuple[str, ...] = (NORMAL, *ANOMALY_CLASSES)
NUM_CLASSES = len(CLASS_NAMES)

#: ROAD's contamination ratios: anomalies of each class per normal spectrogram in training data
#: (a synthetic-only class that ROAD does not have weighs 0 in the ``road`` mixture).
ROAD_CONTAMINATION: dict[str, float] = {
    "oscillating_tile": 0.01,
    "first_order_high_noise": 0.01,
    "first_order_data_loss": 0.02,
    "third_order_data_loss": 0.04,
    "rfi_ionosphere_reflect": 0.04,
    "lightning": 0.06,
    "galactic_plane": 0.08,
    "source_in_sidelobes": 0.06,
    "solar_storm": 0.02,
}

MIXTURES = ("uniform", "road")


def class_id(name: str) -> int:
    """The id of a class name (``normal`` is 0)."""
    if name not in CLASS_NAMES:
        raise ConfigError(f"class {name!r} is unknown; choose one of {list(CLASS_NAMES)}")
    return CLASS_NAMES.index(name)


def mixture_weights(mixture: str | Sequence[float] | Mapping[str, float]) -> list[float]:
    """Probabilities of the ten classes (normal first) for a mixture given by name or by weights.

    - ``uniform``: each of the ten classes 0.1 (the seed's balanced sample);
    - ``road``: ROAD's contamination ratios, read as anomalies per normal spectrogram, so class ``c``
      has probability ``r_c / (1 + sum(r))`` and normal ``1 / (1 + sum(r))`` (normal 0.746);
    - a list of ten non-negative weights (normal first) or a mapping ``{class name: weight}``
      (classes left out weigh 0); weights are normalised to sum to 1.
    """
    if isinstance(mixture, str):
        if mixture == "uniform":
            weights = [1.0] * NUM_CLASSES
        elif mixture == "road":
            weights = [1.0] + [ROAD_CONTAMINATION.get(c, 0.0) for c in ANOMALY_CLASSES]
        else:
            raise ConfigError(
                f"mixture={mixture!r} is unknown; use one of {list(MIXTURES)}, a list of "
                f"{NUM_CLASSES} weights or a mapping of class names to weights"
            )
    elif isinstance(mixture, Mapping):
        unknown = [k for k in mixture if k not in CLASS_NAMES]
        if unknown:
            raise ConfigError(f"mixture names unknown classes {unknown}; allowed: {list(CLASS_NAMES)}")
        weights = [mixture.get(c, 0.0) for c in CLASS_NAMES]
    else:
        weights = list(mixture)
        if len(weights) != NUM_CLASSES:
            raise ConfigError(
                f"mixture has {len(weights)} weights; give {NUM_CLASSES} (normal first, then "
                f"{', '.join(ANOMALY_CLASSES)})"
            )
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 or w != w:
            raise ConfigError(f"mixture weight {w!r} is not allowed; weights must be numbers >= 0")
    total = float(sum(weights))
    if total <= 0:
        raise ConfigError(f"mixture weights {weights} sum to 0; at least one class needs a positive weight")
    return [float(w) / total for w in weights]
