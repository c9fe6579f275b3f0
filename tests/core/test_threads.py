"""map_parts: the parts of a CPU batch on several threads, in order, the thread count set back."""

import multiprocessing as mp
import threading
import time

import pytest
import torch

from anomaly_lab.core.threads import map_parts


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def record(part):
    """What a part sees: its value, its thread, torch's thread count and autograd modes."""
    return part, threading.get_ident(), torch.get_num_threads(), torch.is_inference_mode_enabled()


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_results_come_in_the_order_of_the_parts(two_threads, count):
    out = map_parts(record, range(count))
    assert [r[0] for r in out] == list(range(count))
    here = threading.get_ident()
    assert [r[1] == here for r in out] == [k % 2 == 0 for k in range(count)]  # round-robin, caller first
    assert all(r[2] == (1 if count > 1 else 2) for r in out)  # one intra-op thread each while shared
    assert torch.get_num_threads() == 2


def test_one_intra_op_thread_another_device_or_a_nested_call_runs_on_the_caller(two_threads):
    here = threading.get_ident()
    assert {r[1] for r in map_parts(record, range(4), device="cuda")} == {here}  # only the type is read
    torch.set_num_threads(1)
    assert {r[1] for r in map_parts(record, range(4))} == {here}
    torch.set_num_threads(2)
    nested = map_parts(lambda p: (threading.get_ident(), {r[1] for r in map_parts(record, range(3))}), range(2))
    assert all(inner == {outer} for outer, inner in nested)  # a part's own parts stay on its thread


def test_the_callers_inference_mode_reaches_the_helpers(two_threads):
    with torch.inference_mode():
        assert all(r[3] for r in map_parts(record, range(4)))
    assert not any(r[3] for r in map_parts(record, range(4)))


def test_an_error_is_raised_after_every_part_has_finished(two_threads):
    finished = []

    def part(p):
        if p == 0:
            raise ValueError("part 0 failed")
        time.sleep(0.05)
        finished.append(p)
        return p

    with pytest.raises(ValueError, match="part 0 failed"):
        map_parts(part, range(2))
    assert finished == [1] and torch.get_num_threads() == 2
    with pytest.raises(KeyError):
        map_parts(lambda p: {}[p] if p == 1 else p, range(2))  # a helper's error reaches the caller
    assert torch.get_num_threads() == 2


def _child_parts(queue):
    queue.put([r[0] for r in map_parts(record, range(4))])


def test_a_forked_child_makes_its_own_helpers(two_threads):
    map_parts(record, range(2))  # the parent's helper exists before the fork
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_parts, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():  # a child waiting on helpers it does not have
        child.kill()
    assert child.exitcode == 0
    assert queue.get(timeout=5) == [0, 1, 2, 3]
