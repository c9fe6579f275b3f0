"""generate.py end to end: real Hydra, real parquet, real files on disk."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO_ROOT


def run_generate(*overrides, cwd=None):
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "generate.py"), *overrides],
        capture_output=True,
        text=True,
        cwd=cwd or REPO_ROOT,
        env=env,
        timeout=300,
    )


def test_default_layout_matches_the_published_files(tmp_path):
    out = tmp_path / "ra"
    res = run_generate("size=40", "export.rows_per_file=16", "batch_size=16", f"out_dir={out}", "device=cpu", "seed=3")
    assert res.returncode == 0, res.stderr
    names = sorted(os.listdir(out))
    assert names == [
        "_manifest.json",
        "_preview",
        "train-00000.parquet",
        "train-00001.parquet",
        "train-00002.parquet",
    ]
    schema = pq.read_schema(out / "train-00000.parquet")
    assert str(schema.field("x").type) == "list<element: list<element: float>>"
    assert str(schema.field("y").type) == "list<element: int64>"
    df = pd.concat([pd.read_parquet(out / n) for n in names if n.endswith(".parquet")], ignore_index=True)
    assert len(df) == 40 and list(df.columns) == ["x", "y"]
    row = df.iloc[0]
    assert len(row["x"]) == 11 and len(row["x"][0]) == 2500 and row["x"][0].dtype == np.float32
    assert len(row["y"]) == 11
    # published label convention: 10 flags with one 1, then the anomaly slot
    y = np.stack(df["y"].to_numpy())
    assert (y[:, :10].sum(1) == 1).all() and (y[:, :10].argmax(1) == y[:, 10]).all()
    # blank final frame is exactly zero in normalised space; background is (0-0.1307)/0.3081
    x = np.stack([np.stack(r) for r in df["x"]])
    assert np.all(x[:, 10] == 0)
    assert np.isclose(x[:, :10].min(), -0.1307 / 0.3081, atol=1e-5)
    assert os.listdir(out / "_preview") == ["preview.png"]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["format_version"] == 2
    files = manifest["splits"]["train"]["files"]
    assert [f["rows"] for f in files] == [16, 16, 8]
    assert manifest["settings"]["generator"]["seed"] == 3


def test_same_command_skips_finished_files_and_same_bytes(tmp_path):
    out = tmp_path / "ra"
    args = ("size=24", "export.rows_per_file=8", "batch_size=8", f"out_dir={out}", "device=cpu", "export.preview=false")
    assert run_generate(*args).returncode == 0
    first = {n: (out / n).read_bytes() for n in os.listdir(out) if n.endswith(".parquet")}
    mtimes = {n: os.stat(out / n).st_mtime_ns for n in first}
    os.remove(out / "train-00001.parquet")  # as if interrupted
    res = run_generate(*args)
    assert res.returncode == 0, res.stderr
    assert {n: (out / n).read_bytes() for n in first} == first  # regenerated bit for bit
    assert os.stat(out / "train-00000.parquet").st_mtime_ns == mtimes["train-00000.parquet"]  # skipped
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]


def test_other_settings_into_the_same_out_dir_are_refused(tmp_path):
    out = tmp_path / "ra"
    assert run_generate("size=4", f"out_dir={out}", "device=cpu", "export.preview=false").returncode == 0
    res = run_generate("size=4", f"out_dir={out}", "device=cpu", "seed=9", "export.preview=false")
    assert res.returncode == 2 and "other settings" in res.stderr


BAD = [
    (["data.generator.recipes=[baseline,swirl]"], "swirl"),
    (["data.generator.recipes=[baseline]"], "recipes"),
    (["data.generator.seq_len=1"], "seq_len=1"),
    (["data.generator.image_size=4"], "image_size=4"),
    (["data.generator.anomaly_prob=1.5"], "anomaly_prob=1.5"),
    (["size=0"], "size=0"),
    (["data.generator.source.kind=idx", "data.generator.source.root=/nonexistent/mnist"], "/nonexistent/mnist"),
    (["export.compression=brotli2"], "brotli2"),
    (["export.layout=wide"], "wide"),
]


@pytest.mark.parametrize("overrides,needle", BAD)
def test_bad_input_is_one_clear_line_and_leaves_nothing(tmp_path, overrides, needle):
    out = tmp_path / "never"
    res = run_generate(
        "size=4",
        f"out_dir={out}",
        "device=cpu",
        *[o for o in overrides if not o.startswith("size=")] + [o for o in overrides if o.startswith("size=")],
    )
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()


def test_unwritable_out_dir(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        res = run_generate("size=4", f"out_dir={ro}/sub", "device=cpu")
        assert res.returncode == 2 and "not writable" in res.stderr
        assert not (ro / "sub").exists()
    finally:
        os.chmod(ro, 0o700)


def test_out_dir_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = run_generate("size=4", f"out_dir={blocker}/sub", "device=cpu")
    assert res.returncode == 2 and "not writable" in res.stderr
    assert blocker.read_text() == "x"
