"""The seed's ``ano`` task as Python functions: noise injection into a CSV's test slices and the
LSTM-VAE path, with the seed's files and every changed row reported."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from anomaly_lab.cli.seed_tasks import noise_anomalies, run_ano, vae_anomalies
from anomaly_lab.core.errors import ConfigError, DataFileError
from tests import forkrun

N = 400


@pytest.fixture
def csv(tmp_path):
    steps = np.arange(N)
    pd.DataFrame(
        {
            "date": pd.date_range("2015-02-04 17:51:00", periods=N, freq="min").strftime("%Y-%m-%d %H:%M:%S"),
            "Temperature": 23 + np.sin(steps / 20),
            "Humidity": 27 + np.cos(steps / 30),
            "Light": np.where(steps % 100 < 50, 400.0, 0.0),
            "Room": ["a"] * N,
        }
    ).to_csv(tmp_path / "occ.csv", index=False)
    return str(tmp_path / "occ.csv")


def noise_params(csv, **kw):
    # the seed README's example, README spelling of the ratio; test slice 18:31 < date <= 20:31 = 120 rows
    params = {
        "anomally_normal_ratio": 0.05,
        "noise": 0.1,
        "wave": False,
        "wave_length": 10,
        "columns": ["Temperature", "Humidity"],
        "noise_direction": "p",
        "path": csv,
        "csv_mode": "single",
        "key": "date",
        "dates": [["2015-02-04 18:31:00", "2015-02-04 20:31:00"]],
        "nrows": 8144,
    }
    params.update(kw)
    return params


def test_points_multiply_the_chosen_rows(csv):
    (res,) = noise_anomalies(noise_params(csv))
    assert len(res.frame) == 120 and list(res.frame.columns) == ["Temperature", "Humidity"]
    assert len(res.anoindex) == 6 == len(set(res.anoindex))  # int(120 * 0.05) distinct rows
    rows = np.zeros(120, bool)
    rows[res.anoindex] = True
    clean, ano = res.clean.to_numpy(), res.frame.to_numpy()
    assert np.array_equal(ano[rows], clean[rows] + 0.1 * clean[rows])
    assert np.array_equal(ano[~rows], clean[~rows])
    assert str(res.frame.index[0]) == "2015-02-04 18:32:00"
    assert len(res.train) == N - 120
    (down,) = noise_anomalies(noise_params(csv, noise_direction="n"))
    assert down.anoindex == res.anoindex  # same seed, same rows
    assert np.allclose(down.frame.to_numpy()[rows], 0.9 * clean[rows])


def test_both_spellings_and_their_disagreement(csv):
    a = noise_anomalies(noise_params(csv))
    params = noise_params(csv)
    params["anomaly_normal_ratio"] = params.pop("anomally_normal_ratio")
    b = noise_anomalies(params)
    assert a[0].anoindex == b[0].anoindex and a[0].frame.equals(b[0].frame)
    with pytest.raises(ConfigError, match="disagree"):
        noise_anomalies(noise_params(csv, anomaly_normal_ratio=0.1))
    params.pop("anomaly_normal_ratio")
    with pytest.raises(ConfigError, match="anomally_normal_ratio"):
        noise_anomalies(params)


def test_waves_report_every_changed_row(csv):
    (res,) = noise_anomalies(noise_params(csv, wave=True, wave_length=10, seed=4))
    changed = np.nonzero((res.frame.to_numpy() != res.clean.to_numpy()).any(1))[0].tolist()
    assert res.anoindex == changed
    assert len(changed) >= 10 and len(changed) <= 60  # 6 boxes of 10 rows, overlaps merged
    ratio = res.frame.to_numpy()[changed] / res.clean.to_numpy()[changed]
    assert np.allclose(ratio, np.round(ratio, 6)) and float(ratio.min()) >= 1.1 - 1e-12  # 1 + k * 0.1 under k boxes


def test_all_columns_seed_and_several_pairs(csv):
    params = noise_params(
        csv,
        columns=[],
        seed=1,
        dates=[["2015-02-04 18:31:00", "2015-02-04 20:31:00"], ["2015-02-04 21:00:00", "2015-02-04 22:00:00"]],
    )
    first, second = noise_anomalies(params)
    assert list(first.frame.columns) == ["Temperature", "Humidity", "Light"]  # every numeric column
    assert len(second.frame) == 60 and len(second.anoindex) == 3
    again = noise_anomalies(params)
    assert again[0].anoindex == first.anoindex and again[1].frame.equals(second.frame)
    other = noise_anomalies({**params, "seed": 2})
    assert other[0].anoindex != first.anoindex


def test_gaussian_kind_adds_scaled_noise(csv):
    (res,) = noise_anomalies(noise_params(csv, noise_kind="gaussian", noise=1.0, noise_direction="both"))
    delta = res.frame.to_numpy() - res.clean.to_numpy()
    assert (delta[res.anoindex] != 0).all() and (np.delete(delta, res.anoindex, 0) == 0).all()


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"noise_direction": "x"}, "noise_direction"),
        ({"wave": True, "wave_length": 0}, "wave_length"),
        ({"wave": True, "wave_length": 500}, "longer than the test slice"),
        ({"colour": "red"}, "unknown keys"),
        ({"columns": ["Room"]}, "not numeric"),
        ({"dates": [["2020-01-01", "2020-01-02"]]}, "selects no row"),
        ({"csv_mode": "many"}, "csv_mode"),
    ],
)
def test_noise_errors(csv, kw, match):
    with pytest.raises((ConfigError, DataFileError), match=match):
        noise_anomalies(noise_params(csv, **kw))


def test_multi_csv_mode_joins_files_side_by_side(tmp_path):
    dates = pd.date_range("2021-01-01", periods=50, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame({"date": dates, "b": np.arange(50.0) + 1}).to_csv(tmp_path / "part_b.csv", index=False)
    pd.DataFrame({"date": dates, "a": np.arange(50.0) + 100}).to_csv(tmp_path / "part_a.csv", index=False)
    (res,) = noise_anomalies(
        noise_params(
            str(tmp_path / "part_"),
            csv_mode="multi",
            columns=[],
            dates=[["2021-01-01 09:00:00", "2021-01-02 00:00:00"]],
        )
    )
    assert list(res.frame.columns) == ["a", "b"] and len(res.frame) == 15
    assert res.clean["a"].iloc[0] == 110.0
    with pytest.raises(DataFileError, match="found no file"):
        noise_anomalies(noise_params(str(tmp_path / "nothing_"), csv_mode="multi"))


def test_run_ano_writes_the_seed_files_and_plots(csv, tmp_path):
    out, img = tmp_path / "out", tmp_path / "img"
    paths = run_ano({"train_params": {}, "noise_params": noise_params(csv), "imdir": str(img)}, str(out))
    assert sorted(os.listdir(out)) == ["0randomNoise.csv", "0randomNoiseIndex.json"]
    index = json.loads((out / "0randomNoiseIndex.json").read_text())
    assert list(index) == ["anoindex"] and len(index["anoindex"]) == 6
    lines = (out / "0randomNoise.csv").read_text().splitlines()
    assert lines[0] == "Temperature,Humidity" and len(lines) == 121
    back = np.loadtxt(out / "0randomNoise.csv", delimiter=",", skiprows=1)
    (res,) = noise_anomalies(noise_params(csv))
    assert np.array_equal(back, res.frame.to_numpy())  # %.18e keeps every bit
    assert sorted(os.listdir(img / "ano")) == [
        "0randomNoise.png",
        "0randomNoiseClean.png",
        "1randomNoise.png",
        "1randomNoiseClean.png",
    ]
    assert len(paths) == 6
    with pytest.raises(ConfigError, match="needs noise_params"):
        run_ano({"imdir": ""}, str(out))
    with pytest.raises(ConfigError, match="unknown keys"):
        run_ano({"noise_params": noise_params(csv), "extra": 1}, str(out))


def test_vae_path_labels_the_rows_it_changes(csv, tmp_path):
    params = {
        "columns": ["Temperature", "Humidity"],
        "sequence_length": 10,
        "latent_space_dim": 4,
        "learning_rate": 0.001,
        "batch_size": 64,
        "epochs": 1,
        "path": csv,
        "key": "date",
        "dates": [["2015-02-04 18:31:00", "2015-02-04 20:31:00"]],
        "nrows": 8144,
    }
    (res,) = vae_anomalies(params)
    windows = res.extra["windows"]
    assert len(windows) == 111 // 20  # the seed's W // 20 of W = 120 - 10 + 1 windows
    expected = sorted({r for w in windows for r in (range(10) if w == 0 else [w + 9])})
    assert res.anoindex == expected  # rows of the rebuilt series, not window numbers
    changed = np.nonzero((res.frame.to_numpy() != res.clean.to_numpy()).any(1))[0].tolist()
    assert changed == expected
    assert len(res.extra["loss"]) == 1 and np.isfinite(res.extra["loss"][0])
    out = tmp_path / "vae"
    run_ano({"train_params": {**params, "sampling": "tail"}, "imdir": str(tmp_path / "vimg")}, str(out))
    assert sorted(os.listdir(out)) == ["anocsv.csv", "anoindex.json"]
    assert sorted(os.listdir(tmp_path / "vimg")) == ["ano", "clean"]
    frame = pd.read_csv(out / "anocsv.csv", index_col=0)
    assert list(frame.columns) == ["Temperature", "Humidity"] and len(frame) == 120
    with pytest.raises(ConfigError, match="sequence_length"):
        vae_anomalies({**params, "sequence_length": 1})
    with pytest.raises(ConfigError, match="sampling"):
        vae_anomalies({**params, "sampling": "median"})


# --- bad inputs through the real command line: exit code 2 and exactly one `error:` line ---

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(*args):
    import sys

    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return forkrun.run(
        [sys.executable, "-m", "anomaly_lab.cli.main", *args], capture_output=True, text=True, env=env, cwd=ROOT
    )


def assert_one_error_line(res, match):
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr and match in lines[0], lines[0]


def day_first_csv(tmp_path, days=40, start="2021-01-01"):
    dates = pd.date_range(start, periods=days, freq="D")
    pd.DataFrame({"date": dates.strftime("%d/%m/%Y"), "v": np.arange(days, dtype=float) + 1.0}).to_csv(
        tmp_path / "dmy.csv", index=False
    )
    return str(tmp_path / "dmy.csv"), dates


def test_day_first_dates_are_read_as_dates_not_text(tmp_path):
    path, dates = day_first_csv(tmp_path)  # days up to 31: only day-first reads every value
    params = noise_params(path, columns="v", dates=[["05/01/2021", "15/01/2021"]], anomally_normal_ratio=0.1)
    (res,) = noise_anomalies(params)
    assert list(res.frame.columns) == ["v"]  # "columns": "v" is one column, not its letters
    # (5 Jan, 15 Jan]: ten days, 6..15 January; as text the 'dates' would select other rows
    assert res.clean["v"].tolist() == [float(d) for d in range(6, 16)]
    assert res.frame.index[0] == pd.Timestamp("2021-01-06")
    # an explicit key_format gives the same rows, and ISO bounds are read too
    (same,) = noise_anomalies({**params, "key_format": "%d/%m/%Y", "dates": [["2021-01-05", "2021-01-15"]]})
    assert same.clean.equals(res.clean)


def test_ambiguous_dates_need_key_format(tmp_path):
    path, _ = day_first_csv(tmp_path, days=12, start="2021-01-01")  # 01/01 .. 12/01: day and month both <= 12
    params = noise_params(path, columns=["v"], dates=[["02/01/2021", "06/01/2021"]], anomally_normal_ratio=0.2)
    with pytest.raises(DataFileError, match="key_format"):
        noise_anomalies(params)
    (res,) = noise_anomalies({**params, "key_format": "%d/%m/%Y"})
    assert res.clean["v"].tolist() == [3.0, 4.0, 5.0, 6.0]  # 3..6 January, not 1 February .. 1 June


def write_input(tmp_path, payload, name="in.json"):
    (tmp_path / name).write_text(json.dumps(payload))
    return str(tmp_path / name)


def test_cli_refuses_unreadable_or_ambiguous_date_keys(tmp_path):
    path, _ = day_first_csv(tmp_path, days=12)
    params = noise_params(path, columns=["v"], dates=[["02/01/2021", "06/01/2021"]], anomally_normal_ratio=0.2)
    res = run_cli("ano", "-f", write_input(tmp_path, {"noise_params": params}), "-d", str(tmp_path / "o1"))
    assert_one_error_line(res, "key_format")
    pd.DataFrame({"date": ["soon", "later", "never"], "v": [1.0, 2.0, 3.0]}).to_csv(tmp_path / "t.csv", index=False)
    params = noise_params(str(tmp_path / "t.csv"), columns=["v"], dates=[["a", "z"]])
    res = run_cli("ano", "-f", write_input(tmp_path, {"noise_params": params}), "-d", str(tmp_path / "o2"))
    assert_one_error_line(res, "neither numbers nor dates")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_cli_refuses_output_folders_that_cannot_be_written(csv, tmp_path):
    payload = write_input(tmp_path, {"noise_params": noise_params(csv)})
    (tmp_path / "afile").write_text("x")
    res = run_cli("ano", "-f", payload, "-d", str(tmp_path / "afile"))
    assert_one_error_line(res, "is a file")
    res = run_cli("ano", "-f", payload, "-d", str(tmp_path / "afile" / "sub" / "dir"))
    assert_one_error_line(res, "which is a file")
    if os.geteuid() == 0:  # root writes through permission bits; a read-only filesystem refuses everyone
        readonly = "/proc/anomaly-lab-out"
    else:
        (tmp_path / "ro").mkdir()
        os.chmod(tmp_path / "ro", 0o555)
        readonly = str(tmp_path / "ro" / "out")
    res = run_cli("ano", "-f", payload, "-d", readonly)
    assert_one_error_line(res, "cannot be written")
    assert not os.path.exists(readonly)
    assert (tmp_path / "afile").read_text() == "x"


def test_cli_refuses_a_multi_csv_without_the_key_and_a_huge_range(tmp_path):
    dates = pd.date_range("2021-01-01", periods=20, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame({"date": dates, "a": np.arange(20.0)}).to_csv(tmp_path / "part_a.csv", index=False)
    pd.DataFrame({"when": dates, "b": np.arange(20.0)}).to_csv(tmp_path / "part_b.csv", index=False)
    params = noise_params(
        str(tmp_path / "part_"), csv_mode="multi", columns=[], dates=[["2021-01-01 03:00:00", "2021-01-01 09:00:00"]]
    )
    res = run_cli("ano", "-f", write_input(tmp_path, {"noise_params": params}), "-d", str(tmp_path / "o"))
    assert_one_error_line(res, "key column 'date' is not in")
    assert not (tmp_path / "o").exists()
    huge = write_input(tmp_path, {"targets": [[0, 1, 0]], "candidates": [[0, 1, 0]], "range": 10**30}, "eval.json")
    res = run_cli("eval", "-f", huge, "-d", str(tmp_path / "e"))
    assert_one_error_line(res, "range=")
