"""The ``anomaly-lab`` command: the seed's two tasks.

    anomaly-lab ano -f input.json -d outdir/ [--seed N]    # anomalies into a CSV (noise or LSTM-VAE)
    anomaly-lab eval -f input.json -d outdir/              # evalresults.json from targets/candidates
    anomaly-lab -t ano -f input.json -d outdir/            # the seed's own spelling

User errors (bad values, missing files, malformed JSON) print one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from anomaly_lab.cli.process import skip_exit_collections
from anomaly_lab.core.errors import DataFileError, exit_on_user_error

TASKS = ("ano", "eval")


def _read_json(path: str):
    if not os.path.isfile(path):
        raise DataFileError(f"input file {path!r} does not exist")
    try:
        with open(path) as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise DataFileError(f"input file {path!r} is not valid JSON: {err}") from err
    except UnicodeDecodeError as err:
        raise DataFileError(f"input file {path!r} is not UTF-8 text ({err.reason} at byte {err.start})") from err


def _finite(value):
    """NaN as null, so the file is standard JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def run_eval(input_path: str, outdir: str) -> str:
    """The ``eval`` task: read the seed's JSON, write ``outdir/evalresults.json``; returns its path."""
    from anomaly_lab.cli.seed_tasks import check_out_dir
    from anomaly_lab.metrics.seed_eval import evaluate_model

    check_out_dir(outdir)
    results = evaluate_model(_read_json(input_path))
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "evalresults.json")
    with open(path, "w") as fh:
        json.dump({k: _finite(v) for k, v in results.items()}, fh)
    return path


def run_task(task: str, input_path: str, outdir: str, seed: int | None = None) -> list[str]:
    if task == "eval":
        return [run_eval(input_path, outdir)]
    from anomaly_lab.cli.seed_tasks import run_ano

    return run_ano(_read_json(input_path), outdir, seed)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="anomaly-lab", description="Generate anomalous data or evaluate anomaly detection output"
    )
    p.add_argument("task", nargs="?", choices=TASKS, help='"ano" (make anomalies) or "eval" (score detections)')
    p.add_argument("-t", "--task", dest="task_flag", choices=TASKS, help="the task, the seed's way")
    p.add_argument("-f", "--input", required=True, help="input JSON file")
    p.add_argument("-d", "--outdir", required=True, help="directory for the outputs")
    p.add_argument("--seed", type=int, default=None, help="random seed of the ano task (default: the input's, else 0)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    task = args.task or args.task_flag
    if task is None or (args.task and args.task_flag and args.task != args.task_flag):
        print("error: give one task, ano or eval (e.g. anomaly-lab eval -f input.json -d out/)", file=sys.stderr)
        return 2
    with exit_on_user_error():
        paths = run_task(task, args.input, args.outdir, args.seed)
    for path in paths:
        print(path)
    return 0


def console_main() -> int:
    """The ``anomaly-lab`` command itself: :func:`main`, then, when it succeeded, a faster exit
    (:func:`~anomaly_lab.cli.process.skip_exit_collections`; not done by ``main``, which callers
    run in their own processes)."""
    code = main()
    if code == 0:
        skip_exit_collections()
    return code


if __name__ == "__main__":
    sys.exit(console_main())
