"""RoadDataModule over tiny ROAD-layout files: lazy setup, loaders, seeded shuffling, errors."""

import pytest
import torch

from anomaly_lab.core.errors import ConfigError, DataFileError
from anomaly_lab.modalities.spectrogram.datamodule import RoadDataModule
from tests.modalities.spectrogram.test_road import write_road

GROUPS = {
    "train_data": [""] * 30 + ["1"] * 3,
    "anomaly_data/lightning": ["lightning"] * 12,
    "anomaly_data/solar_storm": ["solar_storm"] * 9 + ["solar_storm-lightning"],
}


@pytest.fixture
def path(tmp_path):
    return write_road(tmp_path / "road.h5", GROUPS, t=16, f=16)


def test_setup_prepares_splits_and_loaders_give_batches(path):
    dm = RoadDataModule(
        path,
        selection="balanced",
        n_per_class=10,
        val_fraction=0.2,
        test_fraction=0.2,
        batch_size=4,
        size=16,
        device="cpu",
    )
    assert dm.datasets == {}  # nothing opened before setup
    dm.setup("fit")
    assert dm.summary["classes"] == {
        **{c: 0 for c in dm.summary["classes"]},
        "normal": 30,
        "lightning": 12,
        "solar_storm": 9,
    }
    assert dm.summary["dropped_label"] == 3 and dm.summary["dropped_multi_label"] == 1
    assert dm.summary["selection"]["per_class"]["solar_storm"] == (10, 9)
    assert {s: sum(c.values()) for s, c in dm.summary["splits"].items()} == {"train": 17, "val": 6, "test": 6}
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape == (4, 4, 16, 16) and batch["x"].dtype == torch.float32
    assert float(batch["x"].min()) >= 0.0 and float(batch["x"].max()) <= 1.0
    seen = torch.cat([b["y"] for b in dm.test_dataloader()])
    assert sorted(seen.tolist()) == sorted(dm.splits["test"].y.tolist())


def test_shuffle_is_seeded_and_changes_each_epoch(path):
    def order(seed):
        dm = RoadDataModule(path, selection="all", batch_size=64, seed=seed, device="cpu")
        loader = dm.train_dataloader()
        return [torch.cat([b["index"] for b in loader]).tolist() for _ in range(2)]

    a, b, c = order(0), order(0), order(1)
    assert a == b and a != c
    assert a[0] != a[1] and sorted(a[0]) == sorted(a[1])


def test_resize_follows_size(path):
    dm = RoadDataModule(path, selection="all", size=8, batch_size=5, device="cpu")
    assert next(iter(dm.val_dataloader()))["x"].shape[-2:] == (8, 8)


def test_missing_file_fails_at_setup_with_a_clear_error(tmp_path):
    dm = RoadDataModule(str(tmp_path / "ROAD_dataset.h5"))
    with pytest.raises(DataFileError, match="does not exist"):
        dm.setup("fit")


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"selection": "half"}, "data.selection='half'"),
        ({"multi_label": "maybe"}, "data.multi_label='maybe'"),
        ({"groups": ["val_data"]}, "data.groups entry='val_data'"),
        ({"scale": "zscore"}, "data.scale='zscore'"),
        ({"batch_size": 0}, "data.batch_size=0"),
        ({"size": 2}, "data.size=2"),
        ({"test_fraction": 1.5}, "data.test_fraction=1.5"),
    ],
)
def test_bad_values_are_config_errors_at_construction(kw, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[")):
        RoadDataModule("unused.h5", **kw)
