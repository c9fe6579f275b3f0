import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.modalities.timeseries import TimeSeriesGenerator
from anomaly_lab.modalities.timeseries.datamodule import TimeSeriesDataModule


def test_train_and_val_are_clean_test_has_anomalies():
    gen = TimeSeriesGenerator(length=64, channels=2, seed=0, device="cpu")
    dm = TimeSeriesDataModule(gen, batch_size=4, train_size=8, val_size=4, test_size=8, shuffle=False)
    train, val, test = (next(iter(f())) for f in (dm.train_dataloader, dm.val_dataloader, dm.test_dataloader))
    assert train["x"].shape == (4, 64, 2)
    assert not bool(train["labels"].any()) and torch.equal(train["x"], train["clean"])
    assert not bool(val["labels"].any())
    assert bool(test["labels"].any()) and not torch.equal(test["x"], test["clean"])
    # a clean split holds the same clean series the generator makes for those indices
    assert torch.equal(train["x"], gen.generate(train["index"], inject=False)["x"])
    assert set(train["index"].tolist()).isdisjoint(test["index"].tolist())


def test_clean_splits_option():
    gen = TimeSeriesGenerator(length=32, channels=1, seed=0, device="cpu")
    dm = TimeSeriesDataModule(gen, batch_size=4, train_size=4, val_size=4, test_size=4, clean_splits=["train"])
    assert bool(next(iter(dm.val_dataloader()))["labels"].any())
    with pytest.raises(ConfigError, match="clean_splits"):
        TimeSeriesDataModule(gen, clean_splits=["holdout"])
