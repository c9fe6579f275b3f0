"""Spare outputs: a tensor handed out again only once nothing holds it."""

import copy
import pickle

import numpy as np
import torch

from anomaly_lab.core.spare import SpareOutputs

CPU = torch.device("cpu")


def take(spares, shape=(4, 5), dtype=torch.float32):
    return spares.take("x", shape, dtype, CPU)


def test_a_dropped_tensor_is_handed_out_again():
    spares = SpareOutputs()
    first = take(spares)
    ptr = first.data_ptr()
    del first
    again = take(spares)
    assert again.data_ptr() == ptr and again.shape == (4, 5) and again.dtype == torch.float32


def test_a_held_tensor_a_view_or_a_numpy_array_of_it_is_never_handed_out():
    spares = SpareOutputs()
    held = take(spares)
    held.fill_(1.0)
    other = take(spares)
    assert other.data_ptr() != held.data_ptr()
    view = other[1:]
    ptr = other.data_ptr()
    del other
    assert take(spares).data_ptr() != ptr  # a view keeps its storage in use
    arr = take(spares)
    as_numpy = arr.numpy()
    ptr = arr.data_ptr()
    del arr
    fresh = take(spares)
    assert fresh.data_ptr() != ptr
    fresh.fill_(7.0)
    assert bool((held == 1.0).all()) and view.shape == (3, 5) and np.shares_memory(as_numpy, as_numpy)


def test_another_shape_dtype_or_a_shared_tensor_gets_a_new_one():
    spares = SpareOutputs()
    t = take(spares)
    ptr = t.data_ptr()
    del t
    assert take(spares, (4, 6)).data_ptr() != ptr
    t = take(spares, (4, 6))
    ptr = t.data_ptr()
    del t
    assert take(spares, (4, 6), torch.int64).data_ptr() != ptr
    t = take(spares)
    t.share_memory_()  # moved to shared memory for another process: not ours to rewrite
    ptr = t.data_ptr()
    del t
    assert take(spares).data_ptr() != ptr


def test_copies_start_empty():
    spares = SpareOutputs()
    t = take(spares)
    ptr = t.data_ptr()
    del t
    for other in (pickle.loads(pickle.dumps(spares)), copy.deepcopy(spares)):
        assert other.take("x", (4, 5), torch.float32, CPU).data_ptr() != ptr
    assert take(spares).data_ptr() == ptr
