import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.sources import ImageSource


def _source():
    labels = torch.tensor([2, 0, 2, 1, 2, 0])
    images = torch.arange(6, dtype=torch.uint8)[:, None, None] * torch.ones(6, 3, 3, dtype=torch.uint8)
    return ImageSource(images, labels, name="tiny", classes=["a", "b", "c", "d"])


def test_class_table_lists_members_in_order():
    members, counts = _source().class_table()
    assert counts.tolist() == [2, 1, 3, 0]
    assert members[0, :2].tolist() == [1, 5]
    assert members[2, :3].tolist() == [0, 2, 4]
    assert _source().present_classes().tolist() == [0, 1, 2]


def test_draw_of_class_is_uniform_over_members():
    src = _source()
    bits = CounterRNG(0, torch.arange(30_000)).bits("d")
    picks = src.draw_of_class(torch.full((30_000,), 2), bits)
    assert set(picks.tolist()) == {0, 2, 4}
    freq = torch.bincount(picks, minlength=6)[[0, 2, 4]].float() / 30_000
    assert torch.allclose(freq, torch.full((3,), 1 / 3), atol=0.015)
    assert bool((src.labels[picks] == 2).all())


def test_draw_of_missing_class_is_a_config_error():
    with pytest.raises(ConfigError, match=r"no images of class \[3\]"):
        _source().draw_of_class(torch.tensor([3]), torch.tensor([5]))


def test_rejects_wrong_dtype():
    with pytest.raises(ValueError):
        ImageSource(torch.zeros(2, 3, 3), torch.zeros(2, dtype=torch.int64))
