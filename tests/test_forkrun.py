"""The test helper that forks scripts from a warm interpreter behaves as ``subprocess.run`` does."""

import os
import subprocess
import sys

import pytest

from tests import forkrun

SCRIPT = """
import os, sys
print("argv", sys.argv[1:], "cwd", os.path.basename(os.getcwd()), "env", os.environ.get("FORKRUN_PROBE"))
print("path0", os.path.basename(sys.path[0]), "main", __name__)
print("progress\\rdone", file=sys.stderr)
sys.exit(int(sys.argv[1]))
"""


@pytest.mark.parametrize("code", [0, 3])
def test_same_code_output_and_environment_as_a_real_subprocess(tmp_path, code):
    script = tmp_path / "probe.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "FORKRUN_PROBE": "yes"}
    kwargs = dict(capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    real = subprocess.run([sys.executable, "probe.py", str(code), "x y"], **kwargs)
    forked = forkrun.run([sys.executable, "probe.py", str(code), "x y"], **kwargs)
    assert forkrun._forkable([sys.executable, "probe.py"], kwargs) is not None
    assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr)
    assert forked.returncode == code and "env yes" in forked.stdout and forked.stderr == "progress\ndone\n"


def test_an_uncaught_error_and_a_timeout(tmp_path):
    (tmp_path / "boom.py").write_text("raise ValueError('boom')\n")
    (tmp_path / "slow.py").write_text("import time\ntime.sleep(30)\n")
    kwargs = dict(capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ))
    res = forkrun.run([sys.executable, "boom.py"], **kwargs)
    assert res.returncode == 1 and "ValueError: boom" in res.stderr and "Traceback" in res.stderr
    with pytest.raises(subprocess.TimeoutExpired):
        forkrun.run([sys.executable, "slow.py"], timeout=1, **kwargs)


def test_what_it_cannot_fork_runs_as_a_real_subprocess():
    env = {**os.environ, "OMP_NUM_THREADS": "7"}
    assert forkrun._forkable([sys.executable, "-c", "pass"], {"capture_output": True}) is None
    assert forkrun._forkable([sys.executable, "x.py"], {"capture_output": True, "input": "a"}) is None
    res = forkrun.run(
        [sys.executable, "-c", "import os; print(os.environ['OMP_NUM_THREADS'])"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert res.stdout.strip() == "7"
