"""skip_exit_collections: a command that finished freezes the tracked objects before CPython's final
collections; a run that failed, and a caller of ``main`` in its own process, freeze nothing."""

import json
import subprocess
import sys

PROBE = """
import atexit, gc
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, flush=True))
{call}
"""


def _run(call: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE.format(call=call)], capture_output=True, text=True)


def test_the_freeze_happens_when_asked_and_only_then():
    assert (
        "frozen at exit: True"
        in _run("from anomaly_lab.cli.process import skip_exit_collections\nskip_exit_collections()").stdout
    )
    assert "frozen at exit: False" in _run("import anomaly_lab.cli.process").stdout


def test_the_console_command_freezes_after_success_only(tmp_path):
    good = tmp_path / "input.json"
    good.write_text(json.dumps({"targets": [[0, 1, 0, 0]], "candidates": [[0, 1, 0, 0]], "range": 1}))
    call = "import sys\nsys.argv = ['anomaly-lab', 'eval', '-f', {path!r}, '-d', {out!r}]\n"
    call += "from anomaly_lab.cli.main import console_main\nraise SystemExit(console_main())"
    ok = _run(call.format(path=str(good), out=str(tmp_path / "out")))
    assert ok.returncode == 0, ok.stderr
    assert "frozen at exit: True" in ok.stdout
    bad = _run(call.format(path=str(tmp_path / "missing.json"), out=str(tmp_path / "out2")))
    assert bad.returncode == 2 and bad.stderr.startswith("error:"), bad.stderr
    assert "frozen at exit: False" in bad.stdout


def test_main_called_in_a_callers_process_freezes_nothing(tmp_path):
    good = tmp_path / "input.json"
    good.write_text(json.dumps({"targets": [[0, 1, 0, 0]], "candidates": [[0, 1, 0, 0]], "range": 1}))
    call = f"from anomaly_lab.cli.main import main\nmain(['eval', '-f', {str(good)!r}, '-d', {str(tmp_path / 'o')!r}])"
    res = _run(call)
    assert res.returncode == 0, res.stderr
    assert "frozen at exit: False" in res.stdout
