"""``subprocess.run`` for the project's scripts, in forks of a warm interpreter.

A test that runs ``python train.py ...`` pays for a fresh interpreter importing torch, Lightning and
Hydra (about 8 s on a 2-core machine) before the script does anything; the default suite runs some
hundred such commands. :func:`run` takes the same arguments as ``subprocess.run`` and, for
``[sys.executable, script.py | -m module, args...]``, forks a server process that has already
imported the slow third-party libraries (torch, torchmetrics, Hydra, pyarrow, pandas; not Lightning,
whose import-time logging setup depends on the order of imports, and never ``anomaly_lab`` itself):
the child sets its working directory, environment, ``sys.argv`` and ``sys.path[0]`` as a fresh
``python script.py`` would, writes its own stdout and stderr, runs the script as ``__main__`` and
exits with the script's exit code, so the test sees the same return code and output. The child
starts its own session, so a timeout kills it with everything it started (DDP ranks, loader
workers) and raises ``subprocess.TimeoutExpired``.

Anything else (other programs, ``-c``, ``input=``, an environment that differs in what the preloaded
libraries read at import: ``PYTHON*``, ``OMP_*``, ``MKL_*``, ``LD_*`` ...) runs as a real subprocess, as
does everything when ``ANOMALY_LAB_TEST_FORK=0``. Tests that need a fresh interpreter on purpose
(``tests/reliability/test_command_lines.py::test_real_scripts``, the console-script test, the
signal tests that hold a ``Popen``) call ``subprocess`` directly.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile

#: environment variables that take effect when the preloaded libraries are imported: a request
#: that differs from a server in any of them gets a server of its own (or a real subprocess)
_IMPORT_TIME_PREFIXES = ("PYTHON", "OMP_", "MKL_", "KMP_", "GOMP_", "LD_", "TORCH", "PYTORCH", "CUDA", "NUMEXPR")
_RUNTIME_PYTHON_VARS = ("PYTHONUNBUFFERED",)  # emulated in the child
_MAX_SERVERS = 3

_SERVER = r"""
import io, json, os, random, runpy, signal, sys, time, traceback
proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
devnull = os.open(os.devnull, os.O_RDWR)
os.dup2(devnull, 0)
os.dup2(devnull, 1)
# not lightning: its import decides where its log lines go from whether logging is configured yet
import numpy, torch, torchmetrics, hydra, omegaconf, pyarrow.parquet, pandas  # noqa: E401,F401
proto_out.write(b"ready\n")
base_path = list(sys.path[1:])


def child(req):
    os.setsid()
    out = os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(out)
    os.close(err)
    proto_in.close()
    proto_out.close()
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    unbuffered = bool(req["env"].get("PYTHONUNBUFFERED"))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=unbuffered)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True, errors="backslashreplace")
    sys.stdin = open(os.devnull)
    random.seed()
    numpy.random.seed()
    argv = req["argv"]
    code = 0
    try:
        if argv[0] == "-m":
            sys.argv = [argv[1], *argv[2:]]
            sys.path[:] = [os.getcwd(), *base_path]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            script = os.path.abspath(argv[0])
            sys.argv = list(argv)
            sys.path[:] = [os.path.dirname(script), *base_path]
            runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        traceback.print_exc()
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        import atexit
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)


while True:
    line = proto_in.readline()
    if not line:
        break
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            child(req)
        finally:
            os._exit(1)
    deadline = time.monotonic() + req["timeout"] if req["timeout"] else None
    timed_out = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if deadline is not None and time.monotonic() > deadline:
            timed_out = True
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status = os.waitpid(pid, 0)
            break
        time.sleep(0.005)
    proto_out.write((json.dumps({"code": os.waitstatus_to_exitcode(status), "timed_out": timed_out}) + "\n").encode())
"""


class _Server:
    def __init__(self, env: dict[str, str]):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        if self.proc.stdout.readline() != b"ready\n":
            raise RuntimeError("the fork server did not start")

    def run(self, request: dict) -> dict:
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fork server stopped")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_servers: dict[tuple, _Server] = {}


@atexit.register
def _close_servers() -> None:
    for server in _servers.values():
        server.close()
    _servers.clear()


def _import_key(env: dict[str, str]) -> tuple:
    return tuple(
        sorted((k, v) for k, v in env.items() if k.startswith(_IMPORT_TIME_PREFIXES) and k not in _RUNTIME_PYTHON_VARS)
    )


def _forkable(args, kwargs) -> list[str] | None:
    """The script argv (``[script, ...]`` or ``["-m", module, ...]``) when this call can be forked."""
    if os.environ.get("ANOMALY_LAB_TEST_FORK", "1") == "0" or not hasattr(os, "fork"):
        return None
    if not isinstance(args, (list, tuple)) or len(args) < 2 or args[0] != sys.executable:
        return None
    allowed = {"capture_output", "text", "cwd", "env", "timeout", "check"}
    if set(kwargs) - allowed or not kwargs.get("capture_output"):
        return None
    first = str(args[1])
    if first == "-m" and len(args) >= 3:
        return ["-m", *map(str, args[2:])]
    if first.endswith(".py") and not first.startswith("-"):
        return list(map(str, args[1:]))
    return None


def run(args, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(args, **kwargs)``, forked from a warm interpreter where it can be (see above)."""
    argv = _forkable(args, kwargs)
    if argv is None:
        return subprocess.run(args, **kwargs)
    env = {k: str(v) for k, v in (kwargs.get("env") or os.environ).items()}
    key = _import_key(env)
    server = _servers.get(key)
    if server is None:
        if len(_servers) >= _MAX_SERVERS:
            return subprocess.run(args, **kwargs)
        server = _servers[key] = _Server(env)
    cwd = os.path.abspath(str(kwargs.get("cwd") or os.getcwd()))
    if argv[0] != "-m":
        argv[0] = os.path.join(cwd, argv[0])
    timeout = kwargs.get("timeout")
    with tempfile.TemporaryDirectory(prefix="forkrun-") as tmp:
        out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        reply = server.run({"argv": argv, "cwd": cwd, "env": env, "timeout": timeout, "stdout": out, "stderr": err})
        with open(out, "rb") as fh:
            stdout = fh.read()
        with open(err, "rb") as fh:
            stderr = fh.read()
    if kwargs.get("text"):
        # as text=True decodes a pipe: universal newlines (a progress bar's "\r" becomes "\n")
        stdout, stderr = (
            b.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n") for b in (stdout, stderr)
        )
    if reply["timed_out"]:
        raise subprocess.TimeoutExpired(args, timeout, output=stdout, stderr=stderr)
    result = subprocess.CompletedProcess(args, reply["code"], stdout, stderr)
    if kwargs.get("check"):
        result.check_returncode()
    return result
