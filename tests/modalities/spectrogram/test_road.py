"""The ROAD loader on tiny .h5 files in ROAD's layout, written here."""

import h5py
import numpy as np
import pytest
import torch

from anomaly_lab.core.errors import ConfigError, DataFileError
from anomaly_lab.modalities.spectrogram.classes import CLASS_NAMES
from anomaly_lab.modalities.spectrogram.road import (
    RoadDataset,
    RoadFile,
    decode_label,
    prepare_road,
    select_rows,
    split_rows,
)

T, F = 8, 6


def write_road(path, groups, t=T, f=F):
    """``groups``: {group path: list of labels}. Pixel values encode (group number, row): plane
    ``p`` of row ``r`` of the ``g``-th group holds ``1000 g + 10 r + p`` plus a ramp."""
    ramp = np.arange(t * f, dtype=np.float32).reshape(t, f) / (t * f)
    with h5py.File(path, "w") as h5:
        for g, (name, labels) in enumerate(groups.items()):
            n = len(labels)
            data = np.empty((n, t, f, 4), dtype=np.float32)
            for r in range(n):
                for p in range(4):
                    data[r, :, :, p] = 1000 * g + 10 * r + p + ramp
            grp = h5.require_group(name)
            grp["data"] = data
            grp["labels"] = np.array([lab.encode() for lab in labels], dtype="S100")
            grp["source"] = np.array([b"test"] * n, dtype="S100")
            grp["ids"] = np.array([f"{name}-{r}".encode() for r in range(n)], dtype="S100")
            grp["frequency_band"] = np.zeros((n, t, f, 1), dtype=np.float32)
    return str(path)


GROUPS = {
    "train_data": ["", "", "1", "", "", "", ""],
    "test_data": ["", "lightning", "solar_storm"],
    "anomaly_data/lightning": ["lightning", "lightning", "lightning-galactic_plane", "lightning"],
    "anomaly_data/galactic_plane": ["galactic_plane", "lightning-galactic_plane", "galactic_plane"],
    "anomaly_data/solar_storm": ["solar_storm", "solar_storm", "mystery_effect"],
}


@pytest.fixture
def road(tmp_path):
    return RoadFile(write_road(tmp_path / "road.h5", GROUPS))


def test_groups_shape_and_labels(road):
    assert road.groups == [
        "train_data",
        "test_data",
        "anomaly_data/galactic_plane",
        "anomaly_data/lightning",
        "anomaly_data/solar_storm",
    ]
    assert road.shape == (T, F)
    assert road.labels("train_data")[2] == "1"
    assert decode_label(b"lightning\x00\x00") == "lightning" and decode_label(b"") == ""


def test_catalogue_drops_label_1_and_multi_labels(road):
    rows, summary = road.catalogue()
    assert summary["dropped_label"] == 1 and summary["dropped_multi_label"] == 2
    assert summary["dropped_unknown"] == 1 and summary["unknown_labels"] == ["mystery_effect"]
    counts = summary["classes"]
    assert (
        counts["normal"] == 6
        and counts["lightning"] == 3
        and counts["galactic_plane"] == 2
        and counts["solar_storm"] == 2
    )
    assert len(rows) == 13 and "test_data" not in {road.groups[g] for g in rows.group}
    # one-hot multi labels for single-label rows
    assert (rows.labels_multi.sum(1) == 1).all() and (rows.labels_multi.argmax(1) == rows.y).all()


def test_catalogue_keeps_multi_labels_under_their_group_class(road):
    rows, summary = road.catalogue(multi_label="keep")
    assert summary["dropped_multi_label"] == 0 and len(rows) == 15
    lightning_group = road.groups.index("anomaly_data/lightning")
    galaxy_group = road.groups.index("anomaly_data/galactic_plane")
    multi = rows.labels_multi.sum(1) == 2
    assert multi.sum() == 2
    by_group = dict(zip(rows.group[multi].tolist(), rows.y[multi].tolist()))
    assert by_group == {
        lightning_group: CLASS_NAMES.index("lightning"),
        galaxy_group: CLASS_NAMES.index("galactic_plane"),
    }
    both = rows.labels_multi[multi]
    assert both[:, CLASS_NAMES.index("lightning")].all() and both[:, CLASS_NAMES.index("galactic_plane")].all()


def test_catalogue_options_test_group_unknown_error_and_dedupe(road, tmp_path):
    rows, summary = road.catalogue(groups=["test_data"])
    assert sorted(rows.y.tolist()) == [0, CLASS_NAMES.index("lightning"), CLASS_NAMES.index("solar_storm")]
    rows, summary = road.catalogue(drop_labels=[])
    assert summary["dropped_label"] == 0 and summary["dropped_unknown"] == 2  # '1' is no class name
    with pytest.raises(DataFileError, match="mystery_effect"):
        road.catalogue(unknown="error")
    path = write_road(tmp_path / "dup.h5", {"train_data": ["", ""], "anomaly_data/lightning": ["lightning"]})
    with h5py.File(path, "a") as h5:
        h5["anomaly_data/lightning/ids"][0] = b"train_data-1"
    assert len(RoadFile(path).catalogue(dedupe=True)[0]) == 2 and len(RoadFile(path).catalogue()[0]) == 3


def test_read_returns_channels_first_rows_in_the_asked_order(road):
    g_train, g_light = road.groups.index("train_data"), road.groups.index("anomaly_data/lightning")
    group = np.array([g_light, g_train, g_light, g_train])
    row = np.array([3, 5, 0, 5])
    x = road.read(group, row)
    assert x.shape == (4, 4, T, F) and x.dtype == torch.float32
    base = x[:, :, 0, 0]  # the ramp is 0 at the first pixel
    w_light = list(GROUPS).index("anomaly_data/lightning")  # the writer's numbering
    want = torch.tensor(
        [
            [1000 * w_light + 30 + p for p in range(4)],
            [50 + p for p in range(4)],
            [1000 * w_light + p for p in range(4)],
            [50 + p for p in range(4)],
        ],
        dtype=torch.float32,
    )
    assert torch.equal(base, want)
    assert float(x[0, 0, T - 1, F - 1] - x[0, 0, 0, 0]) == pytest.approx(
        (T * F - 1) / (T * F), abs=1e-3
    )  # (time, freq) kept


def test_reading_is_lazy_on_a_file_too_big_to_load(tmp_path):
    path = tmp_path / "big.h5"
    n = 40000  # 40,000 x 256 x 256 x 4 float32 = 42 GB if it were read whole; nothing is allocated on disk
    with h5py.File(path, "w") as h5:
        grp = h5.create_group("train_data")
        grp.create_dataset("data", shape=(n, 256, 256, 4), dtype="float32", chunks=(1, 256, 256, 4), fillvalue=2.0)
        grp["labels"] = np.array([b""] * n, dtype="S100")
        anomaly = h5.create_group("anomaly_data/lightning")
        anomaly.create_dataset("data", shape=(50, 256, 256, 4), dtype="float32", chunks=(1, 256, 256, 4), fillvalue=7.0)
        anomaly["labels"] = np.array([b"lightning"] * 50, dtype="S100")
    assert path.stat().st_size < 5e6
    splits, summary = prepare_road(RoadFile(str(path)), selection="balanced", n_per_class=20, seed=1)
    assert summary["classes"]["normal"] == n
    ds = RoadDataset(RoadFile(str(path)), splits["train"], scale="none")
    batch = ds.__getitems__(range(len(ds)))
    assert batch["x"].shape == (len(ds), 4, 256, 256)
    assert set(batch["x"][:, 0, 0, 0].tolist()) == {2.0, 7.0}


def test_balanced_selection_is_seeded_and_reports_short_classes(road):
    rows, _ = road.catalogue()
    chosen, report = select_rows(rows, "balanced", n_per_class=3, seed=0)
    counts = chosen.class_counts()
    assert counts["normal"] == 3 and counts["lightning"] == 3 and counts["galactic_plane"] == 2
    assert report["galactic_plane"] == (3, 2) and report["oscillating_tile"] == (3, 0)
    again, _ = select_rows(rows, "balanced", n_per_class=3, seed=0)
    assert np.array_equal(again.row, chosen.row)
    normals = {select_rows(rows, "balanced", n_per_class=3, seed=s)[0].row[:3].tobytes() for s in range(6)}
    assert len(normals) > 1  # the seed changes which normal rows are drawn


def test_contamination_selection_follows_the_ratios(tmp_path):
    groups = {
        "train_data": [""] * 200,
        "anomaly_data/lightning": ["lightning"] * 30,
        "anomaly_data/galactic_plane": ["galactic_plane"] * 5,
    }
    rows, _ = RoadFile(write_road(tmp_path / "c.h5", groups)).catalogue()
    chosen, report = select_rows(rows, "contamination", n_normal=100, seed=3)
    counts = chosen.class_counts()
    assert counts["normal"] == 100 and counts["lightning"] == 6  # ROAD: 0.06 per normal
    assert counts["galactic_plane"] == 5 and report["galactic_plane"] == (8, 5)  # wanted 0.08 * 100, had 5
    chosen, _ = select_rows(rows, "contamination", contamination={"lightning": 0.2}, seed=3)
    assert chosen.class_counts()["lightning"] == 30 and chosen.class_counts()["galactic_plane"] == 0
    with pytest.raises(ConfigError, match="thunder"):
        select_rows(rows, "contamination", contamination={"thunder": 0.1})


def test_split_is_stratified_disjoint_and_seeded(tmp_path):
    groups = {"train_data": [""] * 50, "anomaly_data/lightning": ["lightning"] * 20}
    rows, _ = RoadFile(write_road(tmp_path / "s.h5", groups)).catalogue()
    parts = split_rows(rows, val_fraction=0.2, test_fraction=0.3, seed=4)
    assert [len(parts[s]) for s in ("train", "val", "test")] == [35, 14, 21]
    assert parts["test"].class_counts()["normal"] == 15 and parts["test"].class_counts()["lightning"] == 6
    keys = [set(zip(p.group.tolist(), p.row.tolist())) for p in parts.values()]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    assert sum(len(k) for k in keys) == 70
    same = split_rows(rows, 0.2, 0.3, seed=4)
    assert np.array_equal(same["test"].row, parts["test"].row)
    with pytest.raises(ConfigError, match="leaves no training rows"):
        split_rows(rows, 0.5, 0.5)


def test_dataset_scales_each_sample_and_channel_and_resizes(road):
    splits, summary = prepare_road(road, selection="all", val_fraction=0.0, test_fraction=0.0)
    assert summary["splits"]["train"]["normal"] == 6
    ds = RoadDataset(road, splits["train"], scale="percentile")
    b = ds.__getitems__([0, 1, 2])
    assert b["x"].shape == (3, 4, T, F)
    flat = b["x"].flatten(2)
    assert torch.allclose(flat.amin(-1), torch.zeros(3, 4)) and torch.allclose(flat.amax(-1), torch.ones(3, 4))
    raw = RoadDataset(road, splits["train"], scale="none").__getitems__([0])["x"]
    lo, hi = np.percentile(raw.numpy().reshape(4, -1), [1, 99], axis=-1)
    want = np.clip((raw.numpy().reshape(4, -1) - lo[:, None]) / (hi - lo)[:, None], 0, 1)
    np.testing.assert_allclose(b["x"][0].numpy().reshape(4, -1), want, atol=1e-5)
    assert torch.equal(b["anomalous"], (b["y"] > 0).long()) and b["labels_multi"].shape == (3, 10)
    small = RoadDataset(road, splits["train"], scale="none", size=8).__getitems__([0])["x"]
    assert small.shape == (1, 4, 8, 8)
    assert torch.allclose(small.mean((2, 3)), raw.mean((2, 3)), atol=0.05)  # area means keep the level
    assert ds[1]["x"].shape == (4, T, F)


@pytest.mark.parametrize(
    "groups, words",
    [
        ({"other": [""]}, "none of ROAD's groups"),
        ({"train_data": [""]}, None),
    ],
)
def test_layout_errors(tmp_path, groups, words):
    path = write_road(tmp_path / "x.h5", groups)
    if words:
        with pytest.raises(DataFileError, match=words):
            RoadFile(path)
    else:
        assert RoadFile(path).groups == ["train_data"]


def test_file_errors(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        RoadFile(str(tmp_path / "missing.h5"))
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(DataFileError, match="not a readable HDF5"):
        RoadFile(str(bad))
    path = tmp_path / "shape.h5"
    with h5py.File(path, "w") as h5:
        h5["train_data/data"] = np.zeros((2, 8, 8, 3), dtype=np.float32)
        h5["train_data/labels"] = np.array([b"", b""], dtype="S100")
    with pytest.raises(DataFileError, match=r"\(N, T, F, 4\)"):
        RoadFile(str(path))
    with h5py.File(path, "w") as h5:
        h5["train_data/data"] = np.zeros((2, 8, 8, 4), dtype=np.float32)
        h5["train_data/labels"] = np.array([b""], dtype="S100")
    with pytest.raises(DataFileError, match="labels has shape"):
        RoadFile(str(path))
    with h5py.File(path, "w") as h5:
        h5["train_data/data"] = np.zeros((2, 8, 8, 4), dtype=np.float32)
    with pytest.raises(DataFileError, match="no 'labels' dataset"):
        RoadFile(str(path))


def test_bad_options_are_config_errors(road):
    with pytest.raises(ConfigError, match="data.multi_label='maybe'"):
        road.catalogue(multi_label="maybe")
    with pytest.raises(ConfigError, match="data.groups entry='val_data'"):
        road.catalogue(groups=["val_data"])
    rows, _ = road.catalogue()
    with pytest.raises(ConfigError, match="data.selection='half'"):
        select_rows(rows, "half")
    with pytest.raises(ConfigError, match="data.n_per_class=0"):
        select_rows(rows, "balanced", n_per_class=0)
    with pytest.raises(ConfigError, match="data.scale='zscore'"):
        RoadDataset(road, rows, scale="zscore")


# -- hostile headers: one line naming the file, before any big allocation -------------------------
def _declaring(path, n, t, f, labels=b"", label_dtype="S100", chunks=None, dtype="float32"):
    """A file whose train_data/data declares ``(n, t, f, 4)`` but stores nothing (fill-value chunks)."""
    with h5py.File(path, "w") as h5:
        grp = h5.create_group("train_data")
        grp.create_dataset("data", shape=(n, t, f, 4), dtype=dtype, chunks=chunks or (1, min(t, 64), min(f, 64), 4))
        grp.create_dataset("labels", shape=(n,), dtype=label_dtype, chunks=(min(n, 4096),))
    return str(path)


def _one_line(err, path):
    message = str(err.value)
    assert "\n" not in message and str(path) in message, message
    return message


def test_tiny_file_declaring_terabytes_is_refused_on_opening(tmp_path):
    path = _declaring(tmp_path / "bomb.h5", 1_000_000, 4096, 4096)
    assert (tmp_path / "bomb.h5").stat().st_size < 2e6
    with pytest.raises(DataFileError) as err:
        RoadFile(path)
    assert "declares shape (1000000, 4096, 4096, 4)" in _one_line(err, path)


def test_too_many_bins_per_side_is_refused(tmp_path):
    path = _declaring(tmp_path / "wide.h5", 2, 8, 8192)
    with pytest.raises(DataFileError) as err:
        RoadFile(path)
    assert "8 x 8192 bins" in _one_line(err, path)


def test_huge_labels_and_non_numeric_data_are_refused(tmp_path):
    path = _declaring(tmp_path / "labels.h5", 3_000_000, 8, 8, label_dtype="S100")  # 300 MB of labels declared
    with pytest.raises(DataFileError) as err:
        RoadFile(path)
    assert "labels declares 3000000 entries" in _one_line(err, path)
    path = tmp_path / "strings.h5"
    with h5py.File(path, "w") as h5:
        h5["train_data/data"] = np.zeros((1, 8, 8, 4), dtype="S4")
        h5["train_data/labels"] = np.array([b""], dtype="S100")
    with pytest.raises(DataFileError) as err:
        RoadFile(str(path))
    assert "float32" in _one_line(err, path)


def test_a_batch_beyond_the_read_limit_is_refused_before_allocating(tmp_path):
    """Ten 4096 x 4096 rows (2.7 GB declared, within the file caps) asked for in one batch."""
    path = _declaring(tmp_path / "big_rows.h5", 10, 4096, 4096)
    road = RoadFile(path)
    rows, _ = road.catalogue(["train_data"])
    ds = RoadDataset(road, rows, scale="none")
    with pytest.raises(DataFileError) as err:
        ds.__getitems__(range(10))
    assert "lower data.batch_size" in _one_line(err, path)


def test_hostile_file_through_the_data_module_under_a_memory_limit(tmp_path):
    """The issue's file (1e6 x 4096 x 4096 x 4 declared in a small .h5) through RoadDataModule.setup in a
    process that may map only 1 GiB more than it holds after its imports (a batch would be 7 GiB)."""
    import os
    import subprocess
    import sys
    import textwrap

    path = _declaring(tmp_path / "bomb.h5", 1_000_000, 4096, 4096)
    script = textwrap.dedent(
        f"""
        import re, resource, sys
        from anomaly_lab.core.errors import DataFileError
        from anomaly_lab.modalities.spectrogram.datamodule import RoadDataModule
        import h5py
        held = int(re.search(r"VmSize:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) << 10
        resource.setrlimit(resource.RLIMIT_AS, (held + (1 << 30), resource.RLIM_INFINITY))
        try:
            dm = RoadDataModule(path={path!r}, groups=["train_data"], selection="all", device="cpu")
            dm.setup()
            next(iter(dm.train_dataloader()))
        except DataFileError as err:
            print("refused:", err)
            sys.exit(0)
        sys.exit(1)
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "refused:" in result.stdout and "bomb.h5" in result.stdout
