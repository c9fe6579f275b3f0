"""The ``anomaly-lab`` command: the seed's ``eval`` numbers exactly, NaN for rows without
anomalies, clear errors, and ``ano`` writing the seed's files, in-process and as real processes."""

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from anomaly_lab.cli.main import main, run_eval
from anomaly_lab.metrics.seed_eval import SEED_KEYS, evaluate_model
from tests.conftest import REPO_ROOT

README_EVAL = {
    "targets": [[0, 0, 0, 0, 1], [0, 1, 0, 0, 0]],
    "candidates": [[1, 0, 0, 1, 0], [0, 0, 1, 1, 0]],
    "range": 3,
}


def write_json(path, payload):
    path.write_text(json.dumps(payload))
    return str(path)


def seed_reference(payload):
    """The seed's loops, restated for a check (its TD and counting method on one row at a time)."""
    out = {k: [] for k in ("td", "tdir", "dair", "exact_match", "detected_anomaly", "missed_anomaly", "false_anomaly")}
    for t, c in zip(payload["targets"], payload["candidates"]):
        ttc = sum(
            min([abs(i - j) for j, cp in enumerate(c) if cp == 1], default=len(t)) for i, tp in enumerate(t) if tp == 1
        )
        ctt = sum(
            min([abs(i - j) for i, tp in enumerate(t) if tp == 1], default=len(c)) for j, cp in enumerate(c) if cp == 1
        )
        em = da = ma = fa = 0
        for i, tp in enumerate(t):
            if tp == 1:
                if c[i] == 1:
                    em += 1
                elif 1 in c[max(0, i - payload["range"]) : i + payload["range"] + 1]:
                    da += 1
                else:
                    ma += 1
            elif c[i] == 1:
                fa += 1
        out["td"].append(ttc + ctt)
        out["tdir"].append((em + da) / (em + da + ma))
        out["dair"].append((em + da) / (em + da + fa))
        for k, v in zip(("exact_match", "detected_anomaly", "missed_anomaly", "false_anomaly"), (em, da, ma, fa)):
            out[k].append(v)
    return out


def test_eval_readme_example_exactly(tmp_path):
    path = run_eval(write_json(tmp_path / "in.json", README_EVAL), str(tmp_path / "out"))
    res = json.loads(open(path).read())
    assert list(res) == list(SEED_KEYS)
    assert res["td"] == [6, 4] and res["tdir"] == [1.0, 1.0] and res["dair"] == [1 / 3, 1 / 3]
    assert res["exact_match"] == [0, 0] and res["detected_anomaly"] == [1, 1]
    assert res["missed_anomaly"] == [0, 0] and res["false_anomaly"] == [2, 2]
    assert res["average_td"] == 5 and res["average_dair"] == 1 / 3 and res["average_fa"] == 2


def test_eval_matches_the_seed_on_random_valid_inputs():
    rng = np.random.default_rng(0)
    for trial in range(30):
        n, length = int(rng.integers(1, 6)), int(rng.integers(1, 40))
        t = (rng.random((n, length)) < 0.2).astype(int)
        t[np.arange(n), rng.integers(0, length, n)] = 1  # every target row has an anomaly
        c = (rng.random((n, length)) < 0.15).astype(int)
        c[:, 0] = np.where(c.sum(1) == 0, 1, c[:, 0])  # and every candidate row a detection
        payload = {"targets": t.tolist(), "candidates": c.tolist(), "range": int(rng.integers(0, 5))}
        got, want = evaluate_model(payload), seed_reference(payload)
        for key, values in want.items():
            assert got[key] == values, (trial, key)
        assert got["average_tdir"] == pytest.approx(float(np.mean(want["tdir"])), rel=1e-15)


def test_eval_rows_without_anomalies_give_nan_and_a_warning(tmp_path):
    payload = {"targets": [[0, 0, 0], [1, 0, 0]], "candidates": [[0, 0, 0], [1, 0, 0]], "range": 1}
    with pytest.warns(UserWarning, match="row 0: TDIR"):
        res = evaluate_model(payload)
    assert math.isnan(res["tdir"][0]) and math.isnan(res["dair"][0]) and res["tdir"][1] == 1.0
    assert res["average_tdir"] == 1.0  # NaN rows are left out of the means
    assert res["td"] == [0, 0]
    with pytest.warns(UserWarning):
        path = run_eval(write_json(tmp_path / "in.json", payload), str(tmp_path / "out"))
    saved = json.loads(open(path).read())
    assert saved["tdir"] == [None, 1.0]  # NaN is written as JSON null


@pytest.mark.parametrize(
    "payload, match",
    [
        ({"targets": [[0, 1]], "candidates": [[0]], "range": 1}, "row 0: target has 2 values but candidate has 1"),
        ({"targets": [[0, 1]], "candidates": [[0, 1], [1, 1]], "range": 1}, "1 rows but 'candidates' has 2"),
        ({"targets": [[0, 1]], "candidates": [[0, 1]]}, "lacks \\['range'\\]"),
        ({"targets": [[0, 1]], "candidates": [[0, 1]], "range": -1}, "range"),
        ({"targets": [0, 1], "candidates": [[0, 1]], "range": 1}, "list of rows"),
    ],
)
def test_eval_errors_are_clear(payload, match):
    from anomaly_lab.core.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        evaluate_model(payload)


def test_cli_user_errors_exit_2_with_one_line(tmp_path, capsys):
    bad = write_json(tmp_path / "bad.json", {"targets": [[0, 1]], "candidates": [[0]], "range": 1})
    with pytest.raises(SystemExit) as err:
        main(["eval", "-f", bad, "-d", str(tmp_path / "o")])
    assert err.value.code == 2
    assert "candidate has 1" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(SystemExit):
        main(["eval", "-f", str(tmp_path / "broken.json"), "-d", str(tmp_path / "o")])
    assert "not valid JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ano", "-f", str(tmp_path / "missing.json"), "-d", str(tmp_path / "o")])
    assert "does not exist" in capsys.readouterr().err
    assert main(["-f", bad, "-d", str(tmp_path)]) == 2  # no task
    assert main(["eval", "-t", "ano", "-f", bad, "-d", str(tmp_path)]) == 2  # two different tasks


def test_cli_seed_spelling_and_subcommand_in_process(tmp_path):
    src = write_json(tmp_path / "in.json", README_EVAL)
    assert main(["-t", "eval", "-f", src, "-d", str(tmp_path / "a")]) == 0
    assert main(["eval", "-f", src, "-d", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "evalresults.json").read_text() == (tmp_path / "b" / "evalresults.json").read_text()


def _occupancy_like(path, n=300):
    steps = np.arange(n)
    pd.DataFrame(
        {
            "date": pd.date_range("2015-02-04 17:51:00", periods=n, freq="min").strftime("%Y-%m-%d %H:%M:%S"),
            "Temperature": 23 + np.sin(steps / 20),
            "Humidity": 27 + np.cos(steps / 30),
        }
    ).to_csv(path, index=False)


def test_console_script_and_module_run_both_tasks(tmp_path):
    csv = tmp_path / "occ.csv"
    _occupancy_like(csv)
    ano = write_json(
        tmp_path / "ano.json",
        {
            "train_params": {"columns": ["Temperature", "Humidity"], "sequence_length": 10},
            "noise_params": {
                "anomally_normal_ratio": 0.05,
                "noise": 0.1,
                "wave": False,
                "wave_length": 10,
                "columns": ["Temperature", "Humidity"],
                "noise_direction": "p",
                "path": str(csv),
                "csv_mode": "single",
                "key": "date",
                "dates": [["2015-02-04 18:00:00", "2015-02-04 20:00:00"]],
                "nrows": 8144,
            },
            "imdir": str(tmp_path / "img"),
        },
    )
    ev = write_json(tmp_path / "eval.json", README_EVAL)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO_ROOT}
    out = tmp_path / "out"
    res = subprocess.run(
        [sys.executable, "-m", "anomaly_lab.cli.main", "ano", "-f", ano, "-d", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    index = json.loads((out / "0randomNoiseIndex.json").read_text())["anoindex"]
    assert len(index) == 6  # int(120 rows * 0.05)
    assert (tmp_path / "img" / "ano" / "0randomNoise.png").exists()
    script = shutil.which("anomaly-lab")  # the console script of an installed project
    cmd = [script] if script else [sys.executable, "-m", "anomaly_lab.cli.main"]
    res = subprocess.run([*cmd, "eval", "-f", ev, "-d", str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "evalresults.json").read_text())["td"] == [6, 4]


def test_help_names_the_seed_options(capsys):
    with pytest.raises(SystemExit) as err:
        main(["--help"])
    assert err.value.code == 0
    text = capsys.readouterr().out
    assert "-f INPUT" in text and "-d OUTDIR" in text and "{ano,eval}" in text
