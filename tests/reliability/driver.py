"""Run many bad-input cases of one command line inside one Python process.

Starting a fresh interpreter costs several seconds here (torch and Lightning imports), so the
reliability table runs every case of one entry point in one process: the entry point is imported
once, then each case gets a fresh ``sys.argv``, its own working directory, a fresh Hydra global
state, and captured stdout/stderr (at the file-descriptor level too, so C-level and subprocess
writes are seen). ``SystemExit`` is caught and its code recorded.

    python -m tests.reliability.driver CASES.json RESULTS.json

``CASES.json`` is a list of ``{"id", "cli", "args", "cwd", "timeout"}``; ``cli`` is ``generate`` or ``train``
(the repository's scripts) or ``main`` (``anomaly_lab.cli.main``, the ``anomaly-lab`` command).
``RESULTS.json`` gets ``{id: {"code", "stderr", "stdout", "wall_s"}}``.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import sys
import tempfile
import time
import traceback

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = {"generate": "generate.py", "train": "train.py"}


def _entry_point(cli: str):
    """A callable taking argv (without the program name) that behaves like the real command."""
    if cli == "main":
        from anomaly_lab.cli.main import main

        def run_main(argv):
            raise SystemExit(main(argv))

        return run_main
    path = os.path.join(REPO_ROOT, SCRIPTS[cli])
    spec = importlib.util.spec_from_file_location(f"reliability_{cli}_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Hydra reads the task function's module at call time: "__main__" makes it find conf/ next to
    # the script's file and name the job after it, exactly as when the script is run.
    module.main.__wrapped__.__module__ = "__main__"

    def run_script(argv):
        sys.argv = [path, *argv]
        module.main()
        raise SystemExit(0)

    return run_script


class CaseTimeout(BaseException):
    """Raised by SIGALRM when a case runs past its time (a refused input should stop in seconds)."""


def _on_alarm(signum, frame):
    raise CaseTimeout("case ran past its time limit (the input was not refused up front)")


def _clear_hydra() -> None:
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        from hydra.core.hydra_config import HydraConfig

        HydraConfig.instance().cfg = None
    except Exception:  # older Hydra keeps no singleton to reset
        pass


def run_case(entry, case: dict) -> dict:
    """One case: chdir, swap fds 1 and 2 for temporary files, call the entry point, restore."""
    old_cwd = os.getcwd()
    old_argv = list(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    captured = {fd: tempfile.TemporaryFile(mode="w+b") for fd in (1, 2)}
    old_streams = sys.stdout, sys.stderr
    code: object = None
    t0 = time.perf_counter()
    try:
        os.chdir(case["cwd"])
        for fd in (1, 2):
            os.dup2(captured[fd].fileno(), fd)
        sys.stdout = io.TextIOWrapper(os.fdopen(os.dup(1), "wb"), write_through=True)
        sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(2), "wb"), write_through=True)
        _clear_hydra()
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, float(case.get("timeout", 60.0)))
        try:
            entry(list(case["args"]))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
            if not isinstance(exit_.code, (int, type(None))):
                print(exit_.code, file=sys.stderr)
        except BaseException:  # what the interpreter would do: print the traceback, exit 1
            traceback.print_exc()
            code = 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
                stream.close()
            except Exception:
                pass
        sys.stdout, sys.stderr = old_streams
        for fd in (1, 2):
            os.dup2(saved[fd], fd)
            os.close(saved[fd])
        os.chdir(old_cwd)
        sys.argv = old_argv
        _clear_hydra()
    out = {}
    for fd, name in ((1, "stdout"), (2, "stderr")):
        captured[fd].seek(0)
        out[name] = captured[fd].read().decode("utf-8", "replace")
        captured[fd].close()
    return {"code": code, "wall_s": round(time.perf_counter() - t0, 3), **out}


def _warm_up(clis: set[str]) -> None:
    """Import what the cases will import, before any case runs: a case stopped by its time limit
    must not leave a half-imported module behind for the next one (and the import time is not
    any case's)."""
    import hydra.utils  # noqa: F401

    if "train" in clis:
        import lightning.pytorch  # noqa: F401

        import anomaly_lab.cli.train  # noqa: F401
    if "generate" in clis:
        import anomaly_lab.cli.generate  # noqa: F401
    if "main" in clis:
        import anomaly_lab.cli.seed_tasks  # noqa: F401
        import anomaly_lab.metrics.seed_eval  # noqa: F401


def main(argv: list[str]) -> int:
    cases_path, results_path = argv
    with open(cases_path) as fh:
        cases = json.load(fh)
    _warm_up({case["cli"] for case in cases})
    entries = {}
    results = {}
    for case in cases:
        if case["cli"] not in entries:
            entries[case["cli"]] = _entry_point(case["cli"])
        results[case["id"]] = run_case(entries[case["cli"]], case)
        with open(results_path, "w") as fh:  # rewritten after each case: a crash keeps the earlier ones
            json.dump(results, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
