"""Property tests: validators and readers end in a clear AnomalyLabError or a correct result.

The validator half runs in this process (cheap calls, many examples). The reader half writes
random malformed parquet / HDF5 (ROAD layout) / IDX / JSON files and reads them in a child
process whose address space is capped at what its imports use plus 2 GiB
(``tests/reliability/reader_fuzz.py``): a reader that trusts a header and asks for 7 GiB gets a
``MemoryError`` there instead of taking the machine down, and the test fails with the falsifying
example. Examples are few and derandomized so a run takes well under a minute on an idle machine
and gives the same result every time.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from anomaly_lab.core.errors import AnomalyLabError, ConfigError, check_choice, check_range

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# No explain phase: it writes .hypothesis/patches into the working tree.
NO_EXPLAIN = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None, phases=NO_EXPLAIN)
SLOWER = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    phases=NO_EXPLAIN,
    suppress_health_check=list(HealthCheck),
)

anything = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6) | st.lists(st.integers(), max_size=3)
)
numbers = st.integers(-(10**20), 10**20) | st.floats(allow_nan=True, allow_infinity=True)


# ------------------------------------------------------------------------------------ core/errors
@FAST
@given(
    value=anything,
    low=st.none() | numbers,
    high=st.none() | numbers,
    integer=st.booleans(),
    li=st.booleans(),
    hi=st.booleans(),
)
def test_check_range_returns_an_allowed_value_or_says_why(value, low, high, integer, li, hi):
    try:
        out = check_range("p", value, low, high, integer=integer, low_inclusive=li, high_inclusive=hi)
    except ConfigError as err:
        message = str(err)
        assert message.startswith("p=") and "\n" not in message
        return
    assert out is value and not isinstance(value, bool)
    assert isinstance(value, int) if integer else isinstance(value, (int, float))
    assert not (isinstance(value, float) and math.isnan(value))
    if low is not None:
        assert value >= low if li else value > low
    if high is not None:
        assert value <= high if hi else value < high


@FAST
@given(value=anything, allowed=st.lists(st.text(max_size=4) | st.integers(), max_size=5))
def test_check_choice_returns_a_listed_value_or_lists_them(value, allowed):
    try:
        assert check_choice("c", value, allowed) is value
        assert value in allowed
    except ConfigError as err:
        assert value not in allowed and str(allowed) in str(err) and "\n" not in str(err)


# ----------------------------------------------------------------------------------- synth/recipes
def _op_names():
    from anomaly_lab.synth.recipes import OPS

    return sorted(OPS)


@FAST
@given(
    name=st.sampled_from(_op_names()) | st.text(max_size=8),
    extra=st.dictionaries(st.text(max_size=8), anything, max_size=3),
)
def test_make_op_refuses_unknown_ops_and_parameters(name, extra):
    from anomaly_lab.synth.recipes import OPS, make_op

    spec = {"op": name, **{k: v for k, v in extra.items() if k != "op"}}
    known = name in OPS and set(spec) - {"op"} <= set(OPS[name][0])
    try:
        out = make_op(spec)
    except ConfigError as err:
        assert not known and "\n" not in str(err)
        return
    assert known and out["op"] == name and set(out) == {"op", *OPS[name][0]}


def test_make_op_refuses_parameters_of_the_wrong_type():
    """A plain loop, not hypothesis: an expected failure must not leave .hypothesis/patches behind."""
    from anomaly_lab.synth.recipes import OPS, make_op

    accepted = []
    for name, (params, _) in sorted(OPS.items()):
        for key in sorted(params):
            for bad in ("x", None, ["a"]):
                try:
                    make_op({"op": name, key: bad})
                    accepted.append(f"{name}.{key}={bad!r}")
                except ConfigError:
                    pass
    assert not accepted, f"accepted: {accepted[:8]} ({len(accepted)} in all)"


# ------------------------------------------------------------------------- modality constructors
def _constructs_or_refuses(factory, kwargs) -> None:
    try:
        factory(**kwargs)
    except AnomalyLabError as err:
        assert "\n" not in str(err).strip()


small_ints = (
    st.integers(-3, 70) | st.sampled_from([0, 1, 2, 10**12]) | st.floats(-2, 70) | st.text(max_size=3) | st.none()
)
pairs = st.lists(st.floats(-5, 5) | st.integers(-5, 5) | st.text(max_size=2), min_size=0, max_size=3) | st.floats(-5, 5)


@SLOWER
@given(
    time_bins=small_ints,
    freq_bins=small_ints,
    mixture=st.sampled_from(["uniform", "road", "nosuch"]) | st.lists(st.floats(-1, 1), max_size=11),
    strength=pairs,
    scale=st.sampled_from(["percentile", "log", "none", "nosuch"]),
    scale_percentiles=pairs,
    band_mhz=pairs,
    chunk_pixels=small_ints,
)
def test_spectrogram_generator_constructs_or_refuses(**kw):
    from anomaly_lab.modalities.spectrogram import SpectrogramGenerator

    _constructs_or_refuses(SpectrogramGenerator, {**kw, "device": "cpu"})


@SLOWER
@given(
    length=small_ints,
    channels=st.integers(-2, 6) | st.text(max_size=2),
    shapes=st.lists(
        st.sampled_from(["sine", "ecg", "square", "sawtooth", "random_walk", "polynomial", "nosuch"]), max_size=3
    ),
    period=pairs,
    amplitude=pairs,
    noise=pairs,
    anomalies=st.none()
    | st.fixed_dictionaries(
        {},
        optional={
            "mode": st.sampled_from(["kinds", "seed", "none", "nosuch"]),
            "count": pairs,
            "length": pairs,
            "strength": pairs,
            "min_gap": small_ints,
            "channels": st.sampled_from(["one", "all", "x"]),
            "sign": st.sampled_from(["both", "p", "n", "x"]),
        },
    ),
)
def test_timeseries_generator_constructs_or_refuses(**kw):
    from anomaly_lab.modalities.timeseries import TimeSeriesGenerator

    _constructs_or_refuses(TimeSeriesGenerator, {**kw, "device": "cpu"})


@SLOWER
@given(
    seq_len=small_ints,
    image_size=small_ints,
    anomaly_prob=st.floats(-1, 2) | st.text(max_size=2) | st.none(),
    class_mode=st.sampled_from(["source_label", "uniform", "x"]),
    recipes=st.lists(
        st.sampled_from(["baseline", "blur", "nosuch"])
        | st.dictionaries(st.sampled_from(["name", "ops"]), st.text(max_size=3)),
        max_size=3,
    ),
)
def test_random_anomaly_generator_constructs_or_refuses(mnist_train, **kw):
    from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator

    _constructs_or_refuses(RandomAnomalyGenerator, {**kw, "source": mnist_train, "device": "cpu"})


# ----------------------------------------------------------------------------------------- readers
READERS = {name: None for name in ("idx", "idx_bomb", "parquet", "road", "json", "json_bytes")}
EXAMPLES = 25
HEADROOM_MIB = 2048


@pytest.fixture(scope="module")
def reader_results() -> dict:
    """All readers in one child process (one set of imports), under the memory ceiling."""
    env = {
        **os.environ,
        "PYTHONPATH": REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.reader_fuzz", ",".join(READERS), str(EXAMPLES), str(HEADROOM_MIB)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        timeout=600,
    )
    lines = proc.stdout.decode().strip().splitlines()
    assert lines, f"reader fuzz process died (exit {proc.returncode}): {proc.stderr.decode()[-3000:]}"
    results = json.loads(lines[-1])
    results["_stderr"] = proc.stderr.decode()
    return results


@pytest.mark.parametrize(
    "reader",
    [pytest.param(r, marks=[pytest.mark.xfail(strict=True, reason=why)] if why else []) for r, why in READERS.items()],
)
def test_reader_refuses_or_reads_malformed_files_within_memory(reader, reader_results):
    assert reader_results[reader] == "ok", reader_results[reader]
