"""Output tensors a generator hands out again once nobody holds them.

On CPU, glibc maps an allocation above its mmap threshold (at most 32 MB) afresh on every call and
unmaps it when freed, and mapping costs about 0.4 ms per MB on the 2-core machine: a RandomAnomaly
``x`` at batch 512 (56 MB) cost about 20 ms a call that way. A generator keeps the tensors it
returned last time and, when the caller has dropped them (no other Python reference, no view on
their storage, not moved to shared memory for another process), writes the next batch into them.
A batch the caller keeps is never overwritten. (Smaller outputs gain nothing: glibc reuses their
freed memory itself. Measured on time-series batches of 2.5-10 MB tensors: no difference.)
"""

from __future__ import annotations

import sys

import torch
from torch import Tensor


def storage_users(t: Tensor) -> int:
    """How many tensors share ``t``'s storage (``t`` and its views)."""
    return torch._C._storage_Use_Count(t.untyped_storage()._cdata)


def _references(record: list) -> int:
    t = record[0]
    return sys.getrefcount(t)


class SpareOutputs:
    """The tensors last handed out, by name; :meth:`take` gives one back when nothing holds it.

    Only CPU tensors are kept (other devices have caching allocators of their own). A copy (pickled
    for another process, or deep-copied) starts empty."""

    def __init__(self):
        self._held: dict[str, list] = {}

    def take(self, name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
        """An uninitialised tensor of this shape, dtype and device: the one handed out last time under
        ``name`` when nothing else holds it any more, else a new one (kept for next time).

        The record is taken out of the table while it is checked, and the tensor is referenced
        before it goes back: a second thread asking at the same time finds no record, or one whose
        tensor is held, and makes its own."""
        record = self._held.pop(name, None)  # claimed (dict.pop is atomic under the GIL)
        if record is not None:
            t, users, free = record
            fits = t.shape == shape and t.dtype == dtype and t.device == device
            del t  # no reference of ours beyond the record while counting
            if fits and _references(record) <= free and not record[0].is_shared() and storage_users(record[0]) <= users:
                out = record[0]
                self._held[name] = record
                return out
        t = torch.empty(shape, dtype=dtype, device=device)
        if t.device.type == "cpu" and hasattr(torch._C, "_storage_Use_Count"):
            record = [t, storage_users(t), 0]
            record[2] = _references(record) - 1  # the count once our local name ``t`` is gone
            self._held[name] = record
        return t

    def __getstate__(self) -> dict:  # a copy (another process, deepcopy) starts empty: never shared
        return {}

    def __setstate__(self, state: dict) -> None:
        self._held = {}
