"""A DataLoader whose worker processes write batches into reused shared-memory slots.

PyTorch's own worker processes hand every batch back through a fresh shared-memory segment per
tensor (allocate, fault in, copy, pass a file descriptor, map it in the main process). For the
generators here a batch is made in one ``__getitems__`` call of a few milliseconds, and that
hand-over costs about as much again (measured in ``bench/training.py``). ``RingDataLoader`` keeps a
few slots of shared memory per worker, allocated once: a worker writes the batch into a slot (a
generator that supports ``out`` writes its largest tensor there directly) and sends only the slot
number. The main process hands out views of the slot and reuses it once nothing uses its storage
any more (at most ``LEASE`` slots out at once; beyond that, or without the storage use count, it
copies the batch out), so a batch never changes under whoever holds it.

It is a ``torch.utils.data.DataLoader`` (Lightning can still swap in a ``DistributedSampler``), and
batches come in sampler order, the same as with ``workers=0``. With ``workers=0`` it is a plain
DataLoader. The dataset must make whole batches (``__getitems__``) returning a dict of tensors;
anything that does not fit a slot (a non-tensor value, a tensor whose shape changes) is sent the
ordinary way.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from collections import deque

import torch
import torch.multiprocessing  # noqa: F401  (registers the reductions that send shared tensors)
from torch.utils.data import DataLoader

from anomaly_lab.core.errors import check_range

#: seconds between checks that a worker is still alive while the main process waits for it
POLL_SECONDS = 5.0


def _worker_loop(conn, dataset, collate, slots: int, capacity: int, threads: int) -> None:
    """Make the batch of each ``(slot, items)`` task, write it into that slot, reply ``("done", n, keys,
    extras)`` (replies come in task order, so the main process knows the slot); the first batch also
    sends the slot buffers ``("slots", buffers)``, each holding ``capacity`` rows
    (or the first batch's size, if larger)."""
    # Handlers a forked worker inherits (Lightning's SIGTERM handler only logs) would stop it from
    # ending when the main process terminates it at exit; Ctrl-C is for the main process to handle.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    parent = os.getppid()
    from anomaly_lab.loading.indexed import passthrough_collate

    fills_out = collate is passthrough_collate and bool(getattr(dataset, "fills_out", False))
    buffers: list[dict[str, torch.Tensor]] | None = None
    while True:
        try:
            # A pipe end inherited by a sibling forked later can keep the pipe open after the main
            # process dies, so the worker also watches its parent.
            while not conn.poll(POLL_SECONDS):
                if os.getppid() != parent:
                    return
            task = conn.recv()
        except (EOFError, OSError):
            return  # the main process has gone
        if task is None:
            return
        slot, items = task
        try:
            n = len(items)
            if buffers is not None and fills_out:  # the dataset writes straight into the slot
                batch = dataset.__getitems__(items, out={k: b[:n] for k, b in buffers[slot].items() if n <= b.shape[0]})
            else:
                batch = collate(dataset.__getitems__(items))
            if not isinstance(batch, dict):
                raise TypeError(f"RingDataLoader batches must be dicts of tensors, got {type(batch).__name__}")
            if buffers is None:
                rows = max(n, capacity)
                buffers = [
                    {
                        k: torch.empty((rows,) + tuple(v.shape[1:]), dtype=v.dtype).share_memory_()
                        for k, v in batch.items()
                        if isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == n
                    }
                    for _ in range(slots)
                ]
                conn.send(("slots", buffers))
            extras = {}
            for k, v in batch.items():
                buf = buffers[slot].get(k)
                if (
                    buf is not None
                    and isinstance(v, torch.Tensor)
                    and v.dim() == buf.dim()
                    and v.shape[0] == n
                    and n <= buf.shape[0]
                    and v.shape[1:] == buf.shape[1:]
                    and v.dtype == buf.dtype
                ):
                    if v.data_ptr() != buf.data_ptr():  # not written in place already
                        buf[:n].copy_(v)
                else:
                    extras[k] = v
            conn.send(("done", n, list(batch), extras))
        except Exception as exc:  # handed to the main process, which raises it
            try:
                conn.send(("error", exc, traceback.format_exc()))
            except Exception:  # the exception itself does not pickle
                conn.send(("error", RuntimeError(repr(exc)), traceback.format_exc()))


def _storage_handle(t: torch.Tensor) -> int:
    """The address of ``t``'s storage (valid while ``t`` lives), for ``_use_count``."""
    return t.untyped_storage()._cdata


def _use_count(handle: int) -> int:
    """How many tensors share the storage at ``handle`` (a slot buffer and its views)."""
    return torch._C._storage_Use_Count(handle)


#: batches a worker may hand out without copying them, still held by the consumer
LEASE = 2 if hasattr(torch._C, "_storage_Use_Count") else 0


class _Worker:
    def __init__(self, ctx, dataset, collate, prefetch: int, capacity: int, threads: int):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker_loop, daemon=True, args=(child, dataset, collate, prefetch + LEASE, capacity, threads)
        )
        self.process.start()
        child.close()
        self.prefetch = prefetch
        self.buffers: list[dict[str, torch.Tensor]] | None = None
        self.handles: list[dict[str, int]] = []
        self.free = deque(range(prefetch + LEASE))
        self.in_flight: deque[int] = deque()
        self.leased: list[tuple[int, dict[str, int]]] = []

    def can_submit(self) -> bool:
        return bool(self.free) and len(self.in_flight) < self.prefetch

    def lend(self, slot: int, n: int, keys) -> dict[str, torch.Tensor] | None:
        """Views of the slot itself, when fewer than ``LEASE`` slots are out on loan; the slot comes back
        once nothing uses its storage any more (see ``sweep``). None: copy instead."""
        self.sweep()
        if len(self.leased) >= LEASE:
            return None
        buffers = self.buffers[slot]
        handles = self.handles[slot]
        self.leased.append((slot, {k: _use_count(handles[k]) for k in keys}))
        return {k: buffers[k][:n] for k in keys}

    def sweep(self) -> None:
        """Return the loaned slots whose batches nobody holds any more."""
        for entry in list(self.leased):
            slot, counts = entry
            if all(_use_count(self.handles[slot][k]) <= c for k, c in counts.items()):
                self.leased.remove(entry)
                self.free.append(slot)

    def _dead(self) -> RuntimeError:
        self.process.join(timeout=1)
        return RuntimeError(
            f"data worker (pid {self.process.pid}) exited unexpectedly with code "
            f"{self.process.exitcode}; no batch can be made"
        )

    def submit(self, items) -> None:
        slot = self.free.popleft()
        try:
            self.conn.send((slot, list(items)))
        except OSError as exc:  # broken pipe: the worker is gone
            raise self._dead() from exc
        self.in_flight.append(slot)

    def receive(self) -> tuple:
        """The next reply for a batch, and its slot (slot buffers are taken in on the way). The slot
        stays out of ``free`` until the caller frees or lends it."""
        while True:
            try:
                if not self.conn.poll():  # not ready yet: wait, checking now and then that the worker lives
                    while not self.conn.poll(POLL_SECONDS):
                        if not self.process.is_alive():
                            raise self._dead()
                msg = self.conn.recv()
            except (EOFError, OSError) as exc:  # the pipe closed under us: the worker is gone
                raise self._dead() from exc
            if msg[0] == "slots":
                self.buffers = msg[1]
                self.handles = [{k: _storage_handle(t) for k, t in b.items()} for b in self.buffers]
                continue
            return msg, self.in_flight.popleft()

    def drain(self) -> None:
        """Wait out the tasks of an abandoned pass so their slots are free again."""
        while self.in_flight:
            self.free.append(self.receive()[1])

    def close(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
        self.conn.close()


class RingDataLoader(DataLoader):
    """``DataLoader(dataset, **kwargs)`` whose ``workers`` processes make batches into shared slots.

    ``workers``: processes making batches (0: the main process makes them, as a plain DataLoader).
    ``prefetch``: batches each worker works ahead (it holds ``prefetch + LEASE`` slots of
    ``batch_size`` rows). ``worker_threads``: torch
    threads in each worker (1, as PyTorch's workers use). Workers live as long as the loader.
    """

    def __init__(self, dataset, *args, workers: int = 0, prefetch: int = 2, worker_threads: int = 1, **kwargs):
        check_range("workers", workers, 0, integer=True)
        check_range("prefetch", prefetch, 1, integer=True)
        check_range("worker_threads", worker_threads, 1, integer=True)
        if kwargs.get("num_workers", 0):
            raise ValueError("RingDataLoader runs its own workers: give workers=N, not num_workers")
        for unsupported in ("pin_memory", "timeout", "worker_init_fn"):
            if workers and kwargs.get(unsupported):
                raise ValueError(
                    f"RingDataLoader workers do not support {unsupported}={kwargs[unsupported]!r}; "
                    f"leave it unset or use workers=0"
                )
        super().__init__(dataset, *args, **kwargs)
        if workers and not hasattr(dataset, "__getitems__"):
            raise TypeError(
                f"RingDataLoader workers need a dataset that makes whole batches (__getitems__); "
                f"{type(dataset).__name__} has none"
            )
        if workers and self.batch_sampler is None:
            raise ValueError("RingDataLoader workers need a batch_size (batches are made whole)")
        self.workers, self.prefetch, self.worker_threads = workers, prefetch, worker_threads
        self._pool: list[_Worker] | None = None

    def _start(self) -> list[_Worker]:
        if self._pool is None:
            ctx = self.multiprocessing_context or multiprocessing.get_context()
            self._pool = [
                _Worker(ctx, self.dataset, self.collate_fn, self.prefetch, self.batch_size or 0, self.worker_threads)
                for _ in range(self.workers)
            ]
        return self._pool

    def __iter__(self):
        if not self.workers:
            return super().__iter__()
        return self._iterate(self._start())

    def _iterate(self, pool: list[_Worker]):
        for w in pool:
            w.drain()
        # a plain DataLoader draws its workers' base seed from the global generator before the sampler
        # draws its own; do the same so a seeded run shuffles alike with and without workers
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        batches = iter(self.batch_sampler)
        submitted = received = 0
        exhausted = False

        def fill() -> None:
            nonlocal submitted, exhausted
            while not exhausted:
                w = pool[submitted % len(pool)]
                w.sweep()
                if not w.can_submit():
                    return
                items = next(batches, None)
                if items is None:
                    exhausted = True
                    return
                w.submit(items)
                submitted += 1

        fill()
        while received < submitted:
            w = pool[received % len(pool)]
            msg, slot = w.receive()
            received += 1
            if msg[0] == "error":
                w.free.append(slot)
                _, exc, tb = msg
                for other in pool:  # leave the pool clean for the next pass
                    other.drain()
                exc.add_note(f"(raised in a RingDataLoader worker)\n{tb}")
                raise exc
            _, n, keys, extras = msg
            slotted = [k for k in keys if k not in extras]
            batch = w.lend(slot, n, slotted)
            if batch is None:  # the consumer still holds earlier batches: copy this one out
                batch = {k: w.buffers[slot][k][:n].clone() for k in slotted}
                w.free.append(slot)
            batch = {k: (extras[k] if k in extras else batch[k]) for k in keys}
            fill()
            yield batch
            del batch  # the consumer's reference is the only one: its slot can come back at the next sweep

    def close(self) -> None:
        """Stop the workers (they also stop when the loader is garbage-collected or the process exits)."""
        if self._pool is not None:
            for w in self._pool:
                w.close()
            self._pool = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
