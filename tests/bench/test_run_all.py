"""bench/run_all.py: the Targets table says, for each row that carries a target, this run's figure
and whether it met it; a row without a figure (a GPU row on a CPU machine) is listed as not run."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import run_all  # noqa: E402
import timing  # noqa: E402


def _row(name, ratio, target, **extra):
    return {
        "name": name,
        "ours": 1.0,
        "baseline": 1.0,
        "unit": "x",
        "ratio": ratio,
        "notes": "",
        "target": target,
        **extra,
    }


def test_target_verdicts():
    rows = [
        _row("fast", 3.2, {"op": ">=", "value": 3, "what": "ours / Kornia"}),
        _row("slow", 2.996, {"op": ">=", "value": 3}),
        _row("gpu", None, {"op": ">=", "value": 100_000, "of": "ours", "what": "seq/s"}, ours=None),
        _row("wait", 1.0, {"op": "<", "value": 5, "of": "wait_pct", "what": "waiting %"}, wait_pct=7.5),
        {"name": "no target", "ours": 1.0, "ratio": 1.0},
    ]
    lines = run_all.target_lines([("synthesis", rows, 1.0)])
    body = [line for line in lines if line.startswith("| synthesis")]
    assert body == [
        "| synthesis: fast | ours / Kornia >= 3 | 3.2 | met |",
        "| synthesis: slow | ratio >= 3 | 2.996 | **missed** |",
        "| synthesis: gpu | seq/s >= 100,000 |  | not run here |",
        "| synthesis: wait | waiting % < 5 | 7.5 | **missed** |",
    ]
    assert lines[0] == "## Targets"


def test_no_targets_no_table():
    assert run_all.target_lines([("metrics", [{"name": "a", "ours": 1.0, "ratio": 2.0}], 1.0)]) == []


def test_main_writes_the_table_above_the_sections(tmp_path, monkeypatch):
    (tmp_path / "fake.py").write_text(
        "def run(quick=False):\n"
        "    return [{'name': 'r', 'ours': 4.0, 'baseline': 2.0, 'unit': 's', 'ratio': 2.0, 'notes': 'n',"
        " 'target': {'op': '>=', 'value': 5}}]\n"
    )
    monkeypatch.setattr(run_all, "HERE", str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "B.md"
    assert run_all.main(["--only", "fake", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| fake: r | ratio >= 5 | 2 | **missed** |" in text
    assert text.index("## Targets") < text.index("## fake")
    assert "| r | 4 | 2 | s | 2 | n; target: ratio >= 5 |" in text  # the target once, as data


def test_a_cuda_row_left_on_a_cpu_machine_is_listed_as_not_run():
    row = timing.not_run("RandomAnomaly sequences/s, CUDA", "seq/s", {"op": ">=", "value": 100_000, "of": "ours"})
    lines = run_all.target_lines([("synthesis", [row], 1.0)])
    assert "| synthesis: RandomAnomaly sequences/s, CUDA | ratio >= 100,000 |  | not run here |" in lines
    assert row["ours"] is None and "device_check.sh" in row["notes"]
