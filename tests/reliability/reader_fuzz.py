"""Random malformed files through the readers, run inside a process with a memory ceiling.

    python -m tests.reliability.reader_fuzz READER[,READER...] EXAMPLES HEADROOM_MIB

sets ``RLIMIT_AS`` to the address space in use after the imports plus ``HEADROOM_MIB``, then lets
hypothesis write ``EXAMPLES`` random files for READER (``idx``, ``idx_bomb``, ``parquet``, ``road``,
``json``, ``json_bytes``) and read each. A read must end in an :class:`~anomaly_lab.core.errors.AnomalyLabError`
or succeed; any other exception (``MemoryError`` included: the reader asked for more than the
headroom) fails that reader: its traceback and falsifying example go to stderr, and the last
stdout line is a JSON object ``{reader: "ok" or the error}``.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import struct
import sys
import tempfile
import traceback
import zlib

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from anomaly_lab.core.errors import AnomalyLabError


def _address_space() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


def limit_memory(headroom_mib: int) -> None:
    limit = _address_space() + headroom_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def outcome(fn, *args) -> str:
    try:
        fn(*args)
    except AnomalyLabError as err:
        assert "\n" not in str(err).strip(), f"error message is not one line: {err}"
        return "refused"
    return "read"


# No explain phase: it writes .hypothesis/patches into the working tree.
NO_EXPLAIN = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    phases=NO_EXPLAIN,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


# --------------------------------------------------------------------------------------------- IDX
idx_dims = st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 40), min_size=0, max_size=4)


@st.composite
def idx_files(draw) -> tuple[bytes, bool]:
    dims = draw(idx_dims)
    type_byte = draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x42]))
    head = bytes([0, 0, type_byte, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    body = draw(st.binary(max_size=2048))
    data = draw(st.sampled_from([head + body, head[: draw(st.integers(0, len(head)))], body]))
    return data, draw(st.booleans())


def read_idx_bytes(data: bytes, gz: bool) -> None:
    from anomaly_lab.sources.idx import read_idx

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "f-idx3-ubyte" + (".gz" if gz else ""))
        with open(path, "wb") as fh:
            fh.write(gzip.compress(data) if gz else data)
        outcome(read_idx, path)


def fuzz_idx(n: int) -> None:
    given(idx_files())(settings(SETTINGS, max_examples=n)(lambda f: read_idx_bytes(*f)))()


def fuzz_idx_bomb(n: int) -> None:
    """A small .gz that inflates past the memory headroom (gzip members of zeros back to back),
    with and without a valid-looking IDX header in front: it must be refused from its header."""
    member = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = member.compress(bytes(64 * 2**20)) + member.flush()
    from anomaly_lab.sources.idx import read_idx

    with tempfile.TemporaryDirectory() as tmp:
        for header in (b"", bytes([0, 0, 8, 3]) + struct.pack(">III", 60000, 4096, 4096)):
            path = os.path.join(tmp, "bomb-idx3-ubyte.gz")
            with open(path, "wb") as fh:
                fh.write(gzip.compress(header))
                for _ in range(40):  # 2.5 GiB inflated, ~2.5 MB on disk
                    fh.write(block)
            outcome(read_idx, path)


# ----------------------------------------------------------------------------------------- parquet
column_values = st.sampled_from(
    [
        [1.0, 2.0],
        ["a", "b"],
        [b"\x00", b"\x01\x02"],
        [True, False],
        [[1, 2], [3]],
        [None, None],
        [1, 2],
    ]
)
known_names = st.sampled_from(["x", "y", "frames", "labels", "label", "values", "anomaly", "series", "index", "mask"])


@st.composite
def parquet_files(draw) -> tuple[dict, dict, bytes | None]:
    cols = draw(st.dictionaries(known_names | st.text(min_size=1, max_size=5), column_values, max_size=5))
    meta_keys = st.sampled_from(
        ["anomaly_lab.codec", "anomaly_lab.modality", "anomaly_lab.events", "anomaly_lab.shape", "anomaly_lab.layout"]
    )
    meta_values = st.sampled_from(
        ["random_anomaly", "timeseries", "spectrogram", "moving_mnist", "400000000", "-1", "[1, 2]", "{}", "x"]
    )
    meta = draw(st.dictionaries(meta_keys, meta_values, max_size=4))
    garbage = draw(st.none() | st.binary(max_size=256))
    return cols, meta, garbage


def read_parquet(cols: dict, meta: dict, garbage: bytes | None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from anomaly_lab.io.reader import ParquetDataset

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train-00000.parquet")
        if garbage is not None:
            with open(path, "wb") as fh:
                fh.write(garbage)
        else:
            table = pa.table(cols) if cols else pa.table({"x": [1.0]})
            pq.write_table(table.replace_schema_metadata(meta), path)

        def read(p):
            ds = ParquetDataset(p, "train")
            if len(ds):
                ds[0]

        outcome(read, tmp)


def fuzz_parquet(n: int) -> None:
    given(parquet_files())(settings(SETTINGS, max_examples=n)(lambda f: read_parquet(*f)))()


# -------------------------------------------------------------------------------------------- ROAD
@st.composite
def road_files(draw):
    groups = draw(
        st.lists(
            st.sampled_from(["train_data", "test_data", "anomaly_data/rfi", "anomaly_data", "other"]),
            max_size=3,
            unique=True,
        )
    )
    layout = []
    for g in groups:
        n = draw(st.integers(0, 4) | st.integers(0, 10**6))
        shape = (n, draw(st.integers(1, 16) | st.integers(1, 8192)), draw(st.integers(1, 16) | st.integers(1, 8192)))
        shape += (draw(st.sampled_from([4, 4, 4, 1])),)
        labels = draw(st.sampled_from(["match", "short", "none", "ints"]))
        layout.append((g, shape, labels))
    return layout


def _write_road(path: str, layout) -> None:
    import h5py

    with h5py.File(path, "w") as fh:
        for g, shape, labels in layout:
            grp = fh.require_group(g)
            if isinstance(grp, h5py.Dataset):
                continue
            chunks = (1,) + tuple(min(s, 64) for s in shape[1:3]) + (shape[3],) if shape[0] else None
            grp.create_dataset("data", shape=shape, dtype="float32", chunks=chunks)  # declared, never written
            n = min(shape[0], 8)
            if labels == "match" and shape[0] <= 8:
                grp.create_dataset("labels", data=[b"rfi"] * shape[0])
            elif labels == "short":
                grp.create_dataset("labels", data=[b"rfi"] * max(0, n - 1))
            elif labels == "ints":
                grp.create_dataset("labels", data=np.arange(shape[0] if shape[0] <= 8 else 3))


def read_road(layout) -> None:
    from anomaly_lab.modalities.spectrogram.road import RoadFile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.h5")
        _write_road(path, layout)

        def read(p):
            f = RoadFile(p)
            if f.groups:
                f.read(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))

        outcome(read, path)


def fuzz_road(n: int) -> None:
    given(road_files())(settings(SETTINGS, max_examples=n)(read_road))()


# -------------------------------------------------------------------------------------------- JSON
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
seed_keys = st.sampled_from(
    ["targets", "candidates", "range", "noise_params", "train_params", "imdir", "path", "key", "columns", "dates"]
)
seed_like = st.dictionaries(seed_keys, json_values, max_size=4)


@st.composite
def json_inputs(draw) -> tuple[str, bytes]:
    """Valid JSON text of any shape (the task must refuse the wrong shapes)."""
    task = draw(st.sampled_from(["ano", "eval"]))
    value = draw(json_values | seed_like)
    return task, json.dumps(value).encode()


@st.composite
def byte_inputs(draw) -> tuple[str, bytes]:
    """Any bytes, most of them not JSON and some not UTF-8."""
    return draw(st.sampled_from(["ano", "eval"])), draw(st.binary(max_size=64))


def read_json_input(task: str, data: bytes) -> None:
    from anomaly_lab.cli.main import run_task

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "in.json")
        with open(path, "wb") as fh:
            fh.write(data)
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            outcome(run_task, task, path, os.path.join(tmp, "out"))
        finally:
            os.chdir(cwd)


def fuzz_json(n: int) -> None:
    given(json_inputs())(settings(SETTINGS, max_examples=n)(lambda f: read_json_input(*f)))()


def fuzz_json_bytes(n: int) -> None:
    given(byte_inputs())(settings(SETTINGS, max_examples=n)(lambda f: read_json_input(*f)))()


READERS = {
    "idx": fuzz_idx,
    "idx_bomb": fuzz_idx_bomb,
    "parquet": fuzz_parquet,
    "road": fuzz_road,
    "json": fuzz_json,
    "json_bytes": fuzz_json_bytes,
}


def main(argv: list[str]) -> int:
    readers, examples, headroom = argv[0].split(","), int(argv[1]), int(argv[2])
    import h5py  # noqa: F401  (imported before the limit: the ceiling is for the reads, not the imports)
    import pyarrow.parquet  # noqa: F401
    import torch  # noqa: F401

    import anomaly_lab.cli.main  # noqa: F401
    import anomaly_lab.io.reader  # noqa: F401
    import anomaly_lab.metrics.seed_eval  # noqa: F401
    import anomaly_lab.modalities.spectrogram.road  # noqa: F401
    import anomaly_lab.sources.idx  # noqa: F401

    limit_memory(headroom)
    results = {}
    for reader in readers:
        try:
            READERS[reader](examples)
            results[reader] = "ok"
        except BaseException as err:  # hypothesis re-raises the falsifying example's error
            results[reader] = f"{type(err).__name__}: {str(err)[:1500]}"
            traceback.print_exc()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
