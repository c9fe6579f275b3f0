"""Every bad input of the table in :mod:`tests.reliability.cases`, through the real command lines.

What each case must give (issue 15): exit code 2, exactly one stderr line and it starts with
``error:``, no traceback, and nothing new on disk. Each case runs in its own fresh working
directory with ``out_dir=out`` (generate.py), ``hydra.run.dir=run`` (train.py) or ``-d out``
(anomaly-lab), so "nothing new" is checked by listing that directory before and after. train.py
is allowed exactly Hydra's own run folder (:data:`~tests.reliability.cases.HYDRA_RUN_FILES`):
Hydra creates it, with ``.hydra/`` and the job log, before the task function can look at the
config, so a refused train run cannot avoid it without changing Hydra's run-dir handling.

The cases of one command line all run in one interpreter (``tests/reliability/driver.py``), so
torch is imported three times, not 280 times; a few cases also run as real separate processes
(``test_real_scripts``) so the scripts' own paths are covered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability.cases import CASES, HYDRA_RUN_FILES, Case

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Added in front of every case's own arguments unless the case sets that key itself: the output
# goes inside the case's folder, and anything that wrongly starts working finishes quickly.
DEFAULTS = {
    "generate": ["out_dir=out", "size=2", "progress=false", "export.preview=false"],
    "train": [
        "hydra.run.dir=run",
        "logger=none",
        "++trainer.max_epochs=1",
        "++trainer.limit_train_batches=1",
        "++trainer.limit_val_batches=1",
        "++trainer.limit_test_batches=1",
    ],
    "main": [],
}


def _env(tmp_root: str) -> dict:
    return {
        **os.environ,
        "PYTHONPATH": REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "HYDRA_FULL_ERROR": "0",
        "WANDB_MODE": "offline",
        "OMP_NUM_THREADS": "1",
        "ANOMALY_LAB_CACHE": os.path.join(tmp_root, "cache"),
        "PROJECT_ROOT": tmp_root,
    }


def _key(arg: str) -> str:
    return arg.split("=", 1)[0].lstrip("+~")


def full_args(case: Case) -> list[str]:
    own = {_key(a) for a in case.args if "=" in a}
    return [a for a in DEFAULTS[case.cli] if _key(a) not in own] + case.args


def listing(root: str) -> set[str]:
    found = set()
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(base, name), root).replace(os.sep, "/"))
    return found


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    """Make every case's folder and files, run the three drivers side by side, collect the results."""
    root = str(tmp_path_factory.mktemp("reliability"))
    groups: dict[str, list[dict]] = {}
    before = {}
    for case in CASES:
        cwd = os.path.join(root, case.id.replace("/", "_"))
        os.makedirs(cwd)
        for write in case.files:
            write(cwd)
        before[case.id] = (cwd, listing(cwd))
        groups.setdefault(case.cli, []).append(
            {"id": case.id, "cli": case.cli, "args": full_args(case), "cwd": cwd, "timeout": case.timeout}
        )

    def run(cli: str) -> dict:
        cases_path = os.path.join(root, f"{cli}-cases.json")
        results_path = os.path.join(root, f"{cli}-results.json")
        with open(cases_path, "w") as fh:
            json.dump(groups[cli], fh)
        budget = 120 + sum(c["timeout"] for c in groups[cli])
        proc = subprocess.run(
            [sys.executable, "-m", "tests.reliability.driver", cases_path, results_path],
            cwd=REPO_ROOT,
            env=_env(root),
            capture_output=True,
            timeout=budget,
        )
        if not os.path.exists(results_path):
            raise RuntimeError(f"driver for {cli} wrote no results: {proc.stderr.decode()[-2000:]}")
        with open(results_path) as fh:
            return json.load(fh)

    with ThreadPoolExecutor(len(groups)) as pool:
        merged = {}
        for part in pool.map(run, groups):
            merged.update(part)
    for case_id, (cwd, old) in before.items():
        if case_id in merged:
            merged[case_id]["new_files"] = sorted(listing(cwd) - old)
    return merged


def check(case: Case, result: dict | None) -> None:
    assert result is not None, f"{case.id}: the driver stopped before this case (an earlier case crashed it)"
    stderr = result["stderr"]
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in stderr, f"{case.id}: traceback\n{stderr[-3000:]}"
    assert "ran past its time limit" not in stderr, f"{case.id}: not refused within {case.timeout} s"
    new = set(result.get("new_files", []))
    if case.cli == "train":
        new -= HYDRA_RUN_FILES
    assert not new, f"{case.id}: created {sorted(new)[:10]}"
    if case.expect == "hydra":
        assert result["code"] == 1, f"{case.id}: exit {result['code']}\n{stderr[-2000:]}"
        return
    assert result["code"] == 2, f"{case.id}: exit {result['code']}\n{stderr[-2000:]}"
    if case.expect == "usage":
        assert lines and lines[-1].startswith("anomaly-lab: error:"), f"{case.id}: {lines}"
        return
    # exactly one error line, and it is the last thing said (a run refused after Lightning started may
    # have printed its own info lines before it, e.g. the monitor check after the sanity validation)
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], f"{case.id}: stderr is not one error line: {lines}"


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input_gives_one_line(case: Case, results: dict) -> None:
    check(case, results.get(case.id))


REAL = [
    Case("real-generate", "generate", ["size=0"]),
    Case("real-train", "train", ["ckpt_path=missing.ckpt"]),
    Case("real-anomaly-lab", "main", ["eval", "-f", "missing.json", "-d", "out"]),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in REAL])
def test_real_scripts(case: Case, tmp_path) -> None:
    """The scripts themselves, each in a fresh interpreter (the driver imports them instead)."""
    if case.cli == "main":
        command = [sys.executable, "-m", "anomaly_lab.cli.main", *full_args(case)]
    else:
        command = [sys.executable, os.path.join(REPO_ROOT, f"{case.cli}.py"), *full_args(case)]
    old = listing(str(tmp_path))
    proc = subprocess.run(command, cwd=tmp_path, env=_env(str(tmp_path)), capture_output=True, timeout=300)
    result = {
        "code": proc.returncode,
        "stderr": proc.stderr.decode(),
        "stdout": proc.stdout.decode(),
        "new_files": sorted(listing(str(tmp_path)) - old),
    }
    check(case, result)
