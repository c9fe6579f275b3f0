import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.loading.generated import GeneratorDataModule
from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator


@pytest.fixture(scope="module")
def gen():
    return RandomAnomalyGenerator(seed=0, device="cpu", image_size=16)


def test_splits_use_disjoint_index_ranges(gen):
    dm = GeneratorDataModule(gen, batch_size=4, train_size=12, val_size=8, test_size=8, shuffle=False)
    ranges = {k: set(ds.indices) for k, ds in dm.datasets.items()}
    assert (
        not (ranges["train"] & ranges["val"])
        and not (ranges["val"] & ranges["test"])
        and not (ranges["train"] & ranges["test"])
    )
    batches = list(dm.train_dataloader())
    assert len(batches) == 3 and batches[0]["x"].shape == (4, 11, 1, 16, 16)
    assert torch.equal(torch.cat([b["y"] for b in batches]), gen.generate(torch.arange(12))["y"])
    val = torch.cat([b["y"] for b in dm.val_dataloader()])
    assert torch.equal(val, gen.generate(torch.arange(8) + 1_000_000_000)["y"])


def test_shuffled_epochs_cover_the_split(gen):
    dm = GeneratorDataModule(gen, batch_size=5, train_size=20, val_size=5, test_size=5)
    torch.manual_seed(0)
    seen = torch.cat([b["digit"] for b in dm.train_dataloader()])
    assert sorted(seen.tolist()) == sorted(gen.generate(torch.arange(20))["digit"].tolist())


@pytest.mark.parametrize(
    "kw,needle",
    [
        ({"batch_size": 0}, "batch_size=0"),
        ({"train_size": -1}, "train_size=-1"),
        ({"num_workers": -2}, "num_workers=-2"),
    ],
)
def test_bad_sizes(gen, kw, needle):
    with pytest.raises(ConfigError, match=needle):
        GeneratorDataModule(gen, **kw)
