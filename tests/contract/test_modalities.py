"""What every registered modality must satisfy, checked once for all of them (and every kind).

A new modality registered in ``anomaly_lab.modalities`` is picked up here without editing this file.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from anomaly_lab.core.splits import split_offset
from anomaly_lab.io.reader import ParquetDataset
from anomaly_lab.io.writer import Exporter, ExportOptions
from anomaly_lab.loading.indexed import GeneratedDataset, passthrough_collate
from anomaly_lab.modalities import registered

MODALITIES = registered()
NAMES = list(MODALITIES)
KIND_CASES = [(name, kind) for name in NAMES for kind in MODALITIES[name].obj.kind_names()]
_GENERATORS: dict = {}


def example(name: str, kind: str | None = None):
    """One small generator per (modality, kind), made once for the module (Moving MNIST builds a table)."""
    if (name, kind) not in _GENERATORS:
        _GENERATORS[name, kind] = MODALITIES[name].obj.example(kind)
    return _GENERATORS[name, kind]


def assert_same(a: dict, b: dict, keys=None, rows=None) -> None:
    for key in keys or a:
        left = a[key] if rows is None else a[key][rows]
        assert torch.equal(left, b[key]), key


def test_every_builtin_modality_is_registered():
    assert NAMES[:4] == ["random_anomaly", "moving_mnist", "spectrogram", "timeseries"]


@pytest.mark.parametrize("name", NAMES)
def test_sample_alone_equals_its_row_in_a_batch_of_64(name):
    gen = example(name)
    idx = torch.arange(64) + split_offset("test")
    batch = gen.generate(idx)
    for row in (0, 17, 63):
        alone = gen.generate(idx[row : row + 1])
        assert_same(batch, alone, rows=slice(row, row + 1))
    perm = torch.tensor([40, 3, 17, 0, 63, 11])
    assert_same(batch, gen.generate(idx[perm]), rows=perm)


@pytest.mark.parametrize("name", NAMES)
def test_two_dataloader_workers_give_the_main_process_batches(name):
    gen = example(name)
    dataset = GeneratedDataset(gen, "val", size=12)
    loader = DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=passthrough_collate)
    seen = list(loader)
    assert [len(b["index"]) for b in seen] == [4, 4, 4]
    for part in seen:
        assert_same(part, dataset.__getitems__((part["index"] - dataset.indices.start).tolist()))


@pytest.mark.parametrize("name", NAMES)
def test_cpu_batches_have_the_documented_dtypes_and_shapes(name):
    modality = MODALITIES[name].obj
    batch = example(name).generate(torch.arange(3))
    assert modality.batch.check(batch) == []
    undocumented = set(batch) - set(modality.batch.FIELDS)
    assert not undocumented, f"{name} batch keys without a documented Field: {sorted(undocumented)}"
    view = modality.batch.view(batch)
    assert view.inputs.shape[0] == 3 and view.sample_label.shape == (3,)


@pytest.mark.parametrize("name", NAMES)
def test_a_batch_of_another_modality_is_one_clear_error(name):
    from anomaly_lab.core.errors import ConfigError

    other = NAMES[(NAMES.index(name) + 1) % len(NAMES)]
    batch = example(other).generate(torch.arange(2))
    with pytest.raises(ConfigError, match=f"reads {name} batches .* but the data gives keys"):
        MODALITIES[name].obj.batch.view(batch, "model=x")


@pytest.mark.parametrize("name", NAMES)
def test_export_then_read_back_exactly(name, tmp_path):
    gen = example(name)
    options = ExportOptions(rows_per_file=5, progress=False, preview=False, batch_size=4)
    Exporter(gen, str(tmp_path), options).export_split("test", 7)
    back = ParquetDataset(str(tmp_path), "test").__getitems__(list(range(7)))
    made = gen.generate(torch.arange(7) + split_offset("test"))
    if "index" in back:  # the published RandomAnomaly layout has no index column
        assert torch.equal(back["index"], torch.arange(7) + split_offset("test"))
    shared = [k for k in made if k in back]
    assert MODALITIES[name].obj.batch.required()[0] in shared
    assert_same(made, back, keys=shared)


@pytest.mark.parametrize(("name", "kind"), KIND_CASES, ids=[f"{n}-{k}" for n, k in KIND_CASES])
def test_every_kind_makes_labels_that_match_the_data(name, kind):
    modality = MODALITIES[name].obj
    batch = example(name, kind).generate(torch.arange(24) + split_offset("test"))
    agree = modality.labels_agree(batch)
    assert agree.all(), f"{name}/{kind}: samples {torch.nonzero(~agree).flatten().tolist()} disagree"
    view = modality.batch.view(batch)
    if kind is not None and view.kind is not None:
        assert (view.sample_label > 0).any() or kind in ("baseline", "normal"), f"{name}/{kind} made no anomaly"
