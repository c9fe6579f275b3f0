"""generate.py end to end: real Hydra, real parquet, real files on disk."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests import forkrun
from tests.conftest import REPO_ROOT


def run_generate(*overrides, cwd=None, fresh=False):
    """``fresh``: a new interpreter (joblib's loky workers hang in a child forked from the test server)."""
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1"}
    return (subprocess.run if fresh else forkrun.run)(
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
    # issue 15, items 5, 7 and 12: refused up front, before out_dir exists
    (["start=-1"], "start=-1"),
    (["split=train", "start=999999998", "size=4"], "start + size must be at most 1000000000"),
    (["size=1000000001"], "size=1000000001"),
    (["data.generator.recipes=[baseline,{name:b,ops:[{op:blur,sigma:abc}]}]"], "sigma"),
    (["data=moving_mnist", "data.generator.similarity.n_clusters=1"], "n_clusters=1"),
    (
        ["data=timeseries", "data.generator.anomalies.positions=[{kind:level_shift,start:100000,length:20,channel:0}]"],
        "positions[0]",
    ),
    (["export.compression=snappy", "export.compression_level=3"], "compression_level=3"),
    (["export.compression=gzip", "export.compression_level=10"], "compression_level (gzip)=10"),
    (["export.compression=zstd", "export.compression_level=23"], "compression_level (zstd)=23"),
    (["shard=2", "num_shards=2"], "shard=2"),
    (["num_shards=0"], "num_shards=0"),
    (["export.workers=0"], "export.workers=0"),
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


def one_error_line(res, needle):
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


SMALL = ("export.rows_per_file=8", "batch_size=8", "device=cpu", "export.preview=false")


def test_manifest_names_outside_the_folder_are_refused(tmp_path):
    out = tmp_path / "ra"
    assert run_generate("size=16", f"out_dir={out}", *SMALL).returncode == 0
    manifest = json.loads((out / "_manifest.json").read_text())
    for bad in ("../evil.parquet", str(tmp_path / "evil.parquet")):
        manifest["splits"]["train"]["files"][0]["name"] = bad
        (out / "_manifest.json").write_text(json.dumps(manifest))
        before = listing(out)
        one_error_line(run_generate("size=16", f"out_dir={out}", *SMALL), "plain file names")
        assert listing(out) == before and not (tmp_path / "evil.parquet").exists()


def test_a_second_export_into_a_locked_folder_is_refused_and_writes_nothing(tmp_path):
    from anomaly_lab.io.writer import LOCK_NAME, FolderLock

    out = tmp_path / "ra"
    out.mkdir()
    with FolderLock(str(out / LOCK_NAME), exclusive=True, what="test"):  # another export holds the folder
        one_error_line(run_generate("size=16", f"out_dir={out}", *SMALL), "being written by another export")
        assert listing(out) == [LOCK_NAME]
    assert run_generate("size=16", f"out_dir={out}", *SMALL).returncode == 0  # free again
    assert listing(out) == ["_manifest.json", "train-00000.parquet", "train-00001.parquet"]


def test_two_exports_started_together_one_wins_one_is_refused(tmp_path):
    out = tmp_path / "ra"
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, os.path.join(REPO_ROOT, "generate.py"), "size=64", f"out_dir={out}", *SMALL]
    procs = [
        subprocess.Popen([*cmd, f"seed={seed}"], stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)
        for seed in (0, 1)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    # one wins; the other is refused by the lock (or, if it started after the first finished, by the
    # manifest of other settings): either way one line, and the winner's files are intact
    assert codes == [0, 2], results
    loser = next(err for rc, err in results if rc == 2)
    assert "being written by another export" in loser or "other settings" in loser
    from anomaly_lab.io.reader import ParquetDataset

    assert len(ParquetDataset(str(out), "train")) == 64
    assert not [n for n in os.listdir(out) if n.startswith(".tmp") or n.endswith(".tmp")]


def test_smaller_rerun_removes_the_stale_files_and_says_which(tmp_path):
    out = tmp_path / "ra"
    assert run_generate("size=24", f"out_dir={out}", *SMALL).returncode == 0
    res = run_generate("size=8", f"out_dir={out}", *SMALL)
    assert res.returncode == 0, res.stderr
    assert "removed 2 file(s)" in res.stderr and "train-00001.parquet, train-00002.parquet" in res.stderr
    assert listing(out) == ["_manifest.json", "train-00000.parquet"]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert [f["name"] for f in manifest["splits"]["train"]["files"]] == ["train-00000.parquet"]


def test_rerun_after_deleting_the_manifest_refuses_the_unrecorded_files(tmp_path):
    out = tmp_path / "ra"
    assert run_generate("size=24", f"out_dir={out}", *SMALL).returncode == 0
    os.remove(out / "_manifest.json")
    before = listing(out)
    one_error_line(run_generate("size=8", f"out_dir={out}", *SMALL), "train-00001.parquet, train-00002.parquet")
    assert listing(out) == before


def test_old_folder_names_are_resumed_and_renamed(tmp_path):
    out = tmp_path / "ra"
    args = ("size=24", f"out_dir={out}", "export.rows_per_file=8", "batch_size=8", "device=cpu")
    assert run_generate(*args).returncode == 0
    # as a folder written before format_version 2: manifest.json and preview.png beside the data
    manifest = json.loads((out / "_manifest.json").read_text())
    del manifest["format_version"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    os.remove(out / "_manifest.json")
    os.replace(out / "_preview" / "preview.png", out / "preview.png")
    os.rmdir(out / "_preview")
    os.remove(out / "train-00002.parquet")
    kept = os.stat(out / "train-00000.parquet").st_mtime_ns
    res = run_generate(*args)
    assert res.returncode == 0, res.stderr
    assert os.stat(out / "train-00000.parquet").st_mtime_ns == kept  # resumed: finished files skipped
    assert listing(out) == [
        "_manifest.json",
        "_preview",
        "_preview/preview.png",
        "train-00000.parquet",
        "train-00001.parquet",
        "train-00002.parquet",
    ]
    assert json.loads((out / "_manifest.json").read_text())["format_version"] == 2


def test_sigint_during_export_is_one_line_and_leaves_a_resumable_folder(tmp_path):
    import signal
    import time

    out = tmp_path / "ra"
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1"}
    args = ("size=4000", f"out_dir={out}", "export.rows_per_file=64", "batch_size=16", "device=cpu", "progress=false")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(REPO_ROOT, "generate.py"), *args, "export.preview=false"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "train-00000.parquet").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    rc, err = proc.wait(timeout=120), proc.stderr.read()
    assert rc == 130, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted") and "Traceback" not in err, err
    names = os.listdir(out)
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")], names  # no temp files, lock released
    manifest = json.loads((out / "_manifest.json").read_text())
    recorded = {f["name"] for f in manifest["splits"]["train"]["files"]}
    assert recorded == {n for n in names if n.endswith(".parquet")}  # every file on disk is finished and recorded
    from anomaly_lab.io.writer import sha256_file

    for f in manifest["splits"]["train"]["files"]:
        assert sha256_file(str(out / f["name"])) == f["sha256"]


def test_sharded_export_through_the_joblib_launcher_equals_one_process(tmp_path):
    sharded, single = tmp_path / "sharded", tmp_path / "single"
    common = ("size=40", "export.rows_per_file=8", "batch_size=8", "device=cpu", "seed=2", "progress=false")
    res = run_generate(
        "-m", "hydra/launcher=joblib", "shard=0,1", "num_shards=2", f"out_dir={sharded}", *common, fresh=True
    )
    assert res.returncode == 0, res.stderr
    assert "shard 0 of 2" in res.stderr and "shard 1 of 2" in res.stderr
    assert run_generate(f"out_dir={single}", *common).returncode == 0
    merged = json.loads((sharded / "_manifest.json").read_text())
    alone = json.loads((single / "_manifest.json").read_text())
    assert merged["splits"] == alone["splits"] and merged["fingerprint"] == alone["fingerprint"]
    shards = [json.loads((sharded / f"_manifest.shard-0000{i}-of-00002.json").read_text()) for i in (0, 1)]
    names = [[f["name"] for f in s["splits"]["train"]["files"]] for s in shards]
    assert names == [[f"train-0000{k}.parquet" for k in (0, 1, 2)], [f"train-0000{k}.parquet" for k in (3, 4)]]
    for f in alone["splits"]["train"]["files"]:
        a, b = pq.read_table(sharded / f["name"]), pq.read_table(single / f["name"])
        assert a.equals(b)  # value for value (and byte for byte: the checksums above are equal)
    assert pd.read_parquet(sharded).equals(pd.read_parquet(single))


@pytest.mark.parametrize(("fmt", "label"), [("timeeval", "is_anomaly"), ("tsb_ad", "Label")])
def test_generate_py_writes_timeeval_and_tsb_ad_files(fmt, label, tmp_path):
    import pandas as pd

    out = tmp_path / fmt
    res = forkrun.run(
        [sys.executable, "generate.py", "data=timeseries", "size=2", f"export.format={fmt}", f"out_dir={out}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    files = sorted(p for p in out.iterdir() if p.suffix == ".csv")
    assert len(files) == 2
    table = pd.read_csv(files[0])
    assert table.columns[-1] == label and len(table) == 512 and set(table[label].unique()) <= {0, 1}
