"""Class names, ids and mixtures."""

import pytest

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.modalities.spectrogram.classes import (
    ANOMALY_CLASSES,
    CLASS_NAMES,
    ROAD_CONTAMINATION,
    class_id,
    mixture_weights,
)


def test_ten_classes_normal_first_in_the_spec_order():
    assert CLASS_NAMES[0] == "normal" and len(CLASS_NAMES) == 10
    assert ANOMALY_CLASSES[0] == "oscillating_tile" and ANOMALY_CLASSES[-1] == "solar_storm"
    assert class_id("normal") == 0 and class_id("lightning") == 5
    assert set(ROAD_CONTAMINATION) == set(ANOMALY_CLASSES)


def test_uniform_and_road_mixtures():
    assert mixture_weights("uniform") == pytest.approx([0.1] * 10)
    road = mixture_weights("road")
    total = 1 + sum(ROAD_CONTAMINATION.values())  # 1.34
    assert road[0] == pytest.approx(1 / total)
    assert road[class_id("galactic_plane")] == pytest.approx(0.08 / total)
    assert road[class_id("oscillating_tile")] == pytest.approx(0.01 / total)
    assert sum(road) == pytest.approx(1.0)


def test_given_weights_as_list_or_mapping():
    assert mixture_weights([2, 1, 1, 0, 0, 0, 0, 0, 0, 0]) == pytest.approx([0.5, 0.25, 0.25] + [0.0] * 7)
    w = mixture_weights({"normal": 3, "solar_storm": 1})
    assert w[0] == pytest.approx(0.75) and w[9] == pytest.approx(0.25) and sum(w[1:9]) == 0


@pytest.mark.parametrize(
    "bad, words",
    [
        ("zipf", "mixture='zipf'"),
        ([1, 2, 3], "has 3 weights"),
        ({"thunder": 1}, "unknown classes"),
        ([0] * 10, "sum to 0"),
        ([-1] + [1] * 9, "weight -1"),
    ],
)
def test_bad_mixtures_are_config_errors(bad, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[")):
        mixture_weights(bad)
    with pytest.raises(ConfigError):
        class_id("thunder")
