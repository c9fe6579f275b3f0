"""skip_exit_collections: the tracked objects are frozen before CPython's final collections."""

import subprocess
import sys

SCRIPT = """
import atexit, gc
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, flush=True))  # runs last
{call}
"""


def _run(call: str) -> str:
    res = subprocess.run([sys.executable, "-c", SCRIPT.format(call=call)], capture_output=True, text=True, check=True)
    return res.stdout


def test_objects_are_frozen_after_the_other_exit_handlers_and_once():
    out = _run(
        "from anomaly_lab.cli.process import skip_exit_collections\n"
        "before = atexit._ncallbacks()\n"
        "skip_exit_collections()\n"
        "skip_exit_collections()\n"
        "print('added:', atexit._ncallbacks() - before)"
    )
    assert "frozen at exit: True" in out
    assert "added: 1" in out  # registered once, however often it is asked for


def test_without_it_nothing_is_frozen():
    assert "frozen at exit: False" in _run("import anomaly_lab.cli.process")
