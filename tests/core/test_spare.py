"""Spare outputs: a tensor handed out again only once nothing holds it."""

import copy
import pickle

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
    """Whatever the caller keeps of a tensor (the tensor, a view on it, a numpy array of it) keeps
    its values through later takes, each of which writes everything it is given."""
    spares = SpareOutputs()
    held = take(spares).fill_(1.0)
    view = take(spares).fill_(2.0)[1:]  # only the view is kept
    as_numpy = take(spares).fill_(3.0).numpy()  # only the numpy array is kept
    for _ in range(4):
        fresh = take(spares)
        assert fresh.data_ptr() not in (held.data_ptr(), view.data_ptr() - 5 * 4, as_numpy.ctypes.data)
        fresh.fill_(7.0)
    assert bool((held == 1.0).all()) and bool((view == 2.0).all()) and bool((as_numpy == 3.0).all())
    assert view.shape == (3, 5) and as_numpy.shape == (4, 5)


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
