"""Every example command in the ``--help`` of train.py, eval.py and generate.py runs as written.

The examples are read from the scripts' docstrings and from the Hydra help templates that
``--help`` prints (``conf/hydra/default.yaml``, ``conf/eval.yaml``, ``conf/generate.yaml``). Each
runs through the real command line with small overrides appended (data sizes, one epoch, output
folders under the test's tmp dir); placeholders (``<run>``, ``<rf_run>``) and data folders
(``data.path=out/...``) point at runs and exports the module makes first. Multiruns are marked slow.
"""

import ast
import os
import re
import shlex
import sys

import pytest

from tests import forkrun
from tests.cli.test_eval import RF_TINY
from tests.cli.test_train import TINY
from tests.conftest import REPO_ROOT

SCRIPTS = ("train.py", "eval.py", "generate.py")
SOURCES = [*SCRIPTS, "conf/hydra/default.yaml", "conf/eval.yaml", "conf/generate.yaml"]
EXAMPLE = re.compile(r"^\s*(python (train|eval|generate)\.py\b[^#\n]*)", re.M)
ENV = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1"}


def _text(source: str) -> str:
    with open(os.path.join(REPO_ROOT, source)) as fh:
        text = fh.read()
    return ast.get_docstring(ast.parse(text)) or "" if source.endswith(".py") else text


def help_examples() -> list[str]:
    found: list[str] = []
    seen: set[frozenset] = set()
    for source in SOURCES:
        for match in EXAMPLE.finditer(_text(source)):
            command = " ".join(match.group(1).split())
            key = frozenset(command.split())  # the same example with its overrides in another order runs once
            if key not in seen:
                seen.add(key)
                found.append(command)
    return found


def _is_slow(command: str) -> bool:
    """Multiruns and W&B (its service start-up; tests/cli/test_train.py runs it offline already)."""
    slow = (" -m ", "experiment=paper", "hparams_search=", "logger=wandb")
    return any(part in command for part in slow)


def _param(command: str):
    return pytest.param(command, id=command[len("python ") :], marks=[pytest.mark.slow] if _is_slow(command) else [])


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """A tiny train run, a tiny random-forest run and a tiny export with all three splits."""
    root = tmp_path_factory.mktemp("help_fixtures")

    def run(*args):
        res = forkrun.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO_ROOT, env=ENV, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]

    run("train.py", *TINY, "logger=none", f"hydra.run.dir={root / 'run'}")
    run("train.py", *RF_TINY, f"hydra.run.dir={root / 'rf_run'}")
    splits = "[{split: train, size: 32}, {split: validate, size: 16}, {split: test, size: 16}]"
    run(
        "generate.py",
        "device=cpu",
        "data.generator.image_size=16",
        f"out_dir={root / 'export'}",
        "export.preview=false",
        "progress=false",
        f"export.splits={splits}",
    )
    return root


def tiny_command(command: str, fx, out) -> list[str]:
    """The example's arguments with placeholders filled in and the small overrides appended."""
    args = shlex.split(command)[1:]
    script, args = (
        args[0],
        [a.replace("<rf_run>", str(fx / "rf_run")).replace("<run>", str(fx / "run")) for a in args[1:]],
    )
    args = [f"data.path={fx / 'export'}" if a.startswith("data.path=") else a for a in args]
    args = [a for a in args if not a.startswith("out_dir=")]
    extra: list[str] = []
    if script == "train.py":
        if "data=parquet" in args:
            extra = [t for t in TINY if not t.startswith("data.")] + ["data.batch_size=16"]
        else:
            extra = list(TINY)
        if "hparams_search=optuna" in args:
            extra.append("hydra.sweeper.n_trials=2")
        extra += ["logger=none"] if not any(a.startswith("logger=") for a in args) else []
        extra += [f"hydra.run.dir={out / 'run'}", f"hydra.sweep.dir={out / 'sweep'}"]
    elif script == "eval.py":
        extra = ["trainer.enable_progress_bar=false", f"hydra.run.dir={out / 'eval'}"]
    else:
        extra = ["size=8", "progress=false", f"out_dir={out / 'export'}"]
        if any(a.startswith("preset=") for a in args):
            extra.append("export.splits=[{split: train, size: 8}, {split: validate, size: 4}, {split: test, size: 4}]")
    return [script, *args, *extra]


@pytest.mark.parametrize("command", [_param(c) for c in help_examples()])
def test_help_example_runs(command, fixtures, tmp_path):
    argv = tiny_command(command, fixtures, tmp_path)
    env = {**ENV, "HOME": str(tmp_path), "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    res = forkrun.run([sys.executable, *argv], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=900)
    assert res.returncode == 0, f"{' '.join(argv)}\n{res.stderr[-3000:]}"
    assert "Traceback" not in res.stderr


def test_examples_are_found_and_help_prints_them():
    examples = help_examples()
    for script in SCRIPTS:
        assert sum(c.startswith(f"python {script}") for c in examples) >= 3, script
    for script in SCRIPTS:
        res = forkrun.run(
            [sys.executable, script, "--help"], capture_output=True, text=True, cwd=REPO_ROOT, env=ENV, timeout=120
        )
        assert res.returncode == 0, res.stderr[-2000:]
        shown = " ".join(res.stdout.split())
        assert f"python {script}" in shown
        template = "conf/hydra/default.yaml" if script == "train.py" else f"conf/{script[:-3]}.yaml"
        for match in EXAMPLE.finditer(_text(template)):
            assert " ".join(match.group(1).split()) in shown
