import os
import signal

import pytest
import torch
from torch.utils.data import Dataset

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.loading.indexed import GeneratedDataset, passthrough_collate
from anomaly_lab.loading.ring_loader import RingDataLoader
from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator


@pytest.fixture(scope="module")
def dataset():
    return GeneratedDataset(RandomAnomalyGenerator(seed=5, device="cpu"), "train", size=70)


def _batches(loader):
    return [dict(b) for b in loader]


def _loader(ds, workers, **kw):
    kw.setdefault("batch_size", 16)
    return RingDataLoader(ds, collate_fn=passthrough_collate, workers=workers, **kw)


@pytest.mark.parametrize("workers", [1, 2])
def test_same_batches_in_the_same_order_as_the_main_process(dataset, workers):
    torch.manual_seed(3)
    plain = _batches(_loader(dataset, 0, shuffle=True))
    torch.manual_seed(3)
    ring = _loader(dataset, workers, shuffle=True)
    got = _batches(ring)
    ring.close()
    assert [len(b["index"]) for b in got] == [16, 16, 16, 16, 6]  # the short last batch too
    assert len(got) == len(plain)
    for a, b in zip(plain, got):
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), k


def test_a_batch_handed_out_is_not_overwritten_by_later_ones(dataset):
    ring = _loader(dataset, 1, prefetch=2)
    it = iter(ring)
    first = next(it)
    kept = {k: v.clone() for k, v in first.items()}
    rest = list(it)  # the worker cycles through its four slots
    assert len(rest) == 4
    for k in kept:
        assert torch.equal(first[k], kept[k])
    ring.close()


def test_a_view_kept_from_a_batch_holds_its_slot(dataset):
    """Only a slice of the first batch survives (the batch dict is dropped): its slot must not be
    reused while the slice lives, and goes back into use once it is gone."""
    ring = _loader(dataset, 1, batch_size=4, prefetch=1)  # 18 batches; three slots: one in flight, two to lend
    it = iter(ring)
    part = next(it)["x"][2:5]
    kept = part.clone()
    slot_ptr = part.untyped_storage().data_ptr()
    later = [next(it)["x"].untyped_storage().data_ptr() for _ in range(6)]  # each dropped at once
    assert torch.equal(part, kept)
    assert slot_ptr not in later and len(set(later)) == 2  # the other two slots went round instead
    del part
    after = [next(it)["x"].untyped_storage().data_ptr() for _ in range(4)]
    assert slot_ptr in after
    ring.close()


def test_an_abandoned_pass_leaves_the_workers_ready_for_the_next(dataset):
    ring = _loader(dataset, 1, prefetch=3)
    it = iter(ring)
    next(it)
    del it  # tasks still in flight
    full = _batches(ring)
    assert torch.equal(torch.cat([b["index"] for b in full]), dataset.sample_indices(range(70)))
    ring.close()


class _Odd(Dataset):
    """Batches with a value that cannot go in a slot: a string and a tensor whose width changes."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        raise NotImplementedError

    def __getitems__(self, items):
        n = len(items)
        return {
            "x": torch.tensor(items, dtype=torch.float32),
            "name": f"batch of {n}",
            "ragged": torch.ones(n, int(items[0]) + 1),
        }


def test_values_that_do_not_fit_a_slot_are_sent_as_they_are():
    ring = RingDataLoader(_Odd(), batch_size=4, collate_fn=passthrough_collate, workers=1)
    got = list(ring)
    ring.close()
    assert [b["name"] for b in got] == ["batch of 4", "batch of 4", "batch of 2"]
    assert [tuple(b["ragged"].shape) for b in got] == [(4, 1), (4, 5), (2, 9)]
    assert torch.equal(torch.cat([b["x"] for b in got]), torch.arange(10, dtype=torch.float32))


class _Failing(_Odd):
    def __getitems__(self, items):
        if 6 in items:
            raise ConfigError("sample 6 is broken")
        return super().__getitems__(items)


def test_a_worker_error_reaches_the_caller_with_its_type_and_message():
    ring = RingDataLoader(_Failing(), batch_size=3, collate_fn=passthrough_collate, workers=1)
    it = iter(ring)
    assert len(next(it)["x"]) == 3
    assert len(next(it)["x"]) == 3
    with pytest.raises(ConfigError, match="sample 6 is broken"):
        next(it)
    with pytest.raises(ConfigError, match="sample 6 is broken"):
        list(ring)  # a new pass runs on the same workers and fails at the same batch
    ring.close()


def test_a_dead_worker_is_reported(dataset, monkeypatch):
    import anomaly_lab.loading.ring_loader as rl

    monkeypatch.setattr(rl, "POLL_SECONDS", 0.2)
    ring = _loader(dataset, 1)
    it = iter(ring)
    next(it)
    os.kill(ring._pool[0].process.pid, signal.SIGKILL)
    ring._pool[0].process.join(5)
    with pytest.raises(RuntimeError, match=r"data worker \(pid \d+\) exited unexpectedly"):
        list(it)
    ring.close()


def test_bad_arguments():
    ds = _Odd()
    with pytest.raises(ValueError, match="workers=N, not num_workers"):
        RingDataLoader(ds, batch_size=2, num_workers=2)
    with pytest.raises(ConfigError, match="workers"):
        RingDataLoader(ds, batch_size=2, workers=-1)
    with pytest.raises(ValueError, match="batch_size"):
        RingDataLoader(ds, batch_size=None, workers=1)
    with pytest.raises(ValueError, match="do not support pin_memory=True"):
        RingDataLoader(ds, batch_size=2, workers=1, pin_memory=True)

    class NoBatches(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return torch.zeros(1)

    with pytest.raises(TypeError, match="__getitems__"):
        RingDataLoader(NoBatches(), batch_size=2, workers=1)


def test_lightning_fit_with_ring_workers(tmp_path):
    import lightning as L

    from anomaly_lab.loading.generated import GeneratorDataModule
    from anomaly_lab.models.sparse_rnn.lightning_model import SparseRNNModule

    dm = GeneratorDataModule(
        RandomAnomalyGenerator(seed=0, device="cpu"),
        batch_size=8,
        train_size=32,
        val_size=16,
        test_size=16,
        num_workers=1,
    )
    assert isinstance(dm.train_dataloader(), RingDataLoader) and dm.train_dataloader().workers == 1
    trainer = L.Trainer(
        max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, default_root_dir=tmp_path
    )
    trainer.fit(SparseRNNModule(density=0.2, budget=20_000), datamodule=dm)
    assert trainer.global_step == 8  # 4 batches an epoch, 2 epochs


def test_workers_end_on_sigterm_whatever_handler_the_parent_had(dataset):
    """Lightning installs a SIGTERM handler that only logs; a forked worker must not inherit it, or the
    main process hangs at exit when it terminates its daemon workers."""
    previous = signal.signal(signal.SIGTERM, lambda *a: None)
    try:
        ring = _loader(dataset, 1)
        next(iter(ring))
        proc = ring._pool[0].process
        proc.terminate()
        proc.join(5)
        assert not proc.is_alive() and proc.exitcode == -signal.SIGTERM
        ring._pool = None
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_batches_let_go_of_are_lent_without_a_copy(dataset):
    ring = _loader(dataset, 1, prefetch=2)
    slot_ptrs = None
    lent = copied = 0
    for b in ring:  # each batch is dropped before the next is asked for
        if slot_ptrs is None:
            slot_ptrs = {buf["x"].data_ptr() for buf in ring._pool[0].buffers}
        if b["x"].data_ptr() in slot_ptrs:
            lent += 1
        else:
            copied += 1
        del b
    assert (lent, copied) == (5, 0)
    held = list(ring)  # all kept: at most two are lent, the rest copied out
    assert sum(b["x"].data_ptr() in slot_ptrs for b in held) == 2
    ring.close()


def test_slots_hold_a_full_batch_even_when_the_first_is_short():
    ring = RingDataLoader(_Odd(), batch_size=16, collate_fn=passthrough_collate, workers=1)
    (only,) = list(ring)  # ten rows: one short batch
    assert len(only["x"]) == 10 and ring._pool[0].buffers[0]["x"].shape[0] == 16
    ring.close()
