#!/usr/bin/env python
"""Run every benchmark in bench/ and rewrite BENCHMARKS.md with the figures, date and machine.

python bench/run_all.py            # full runs
python bench/run_all.py --quick    # smaller sizes, for a smoke check
python bench/run_all.py --only synthesis export
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODULES = ["synthesis", "export", "training", "sparse_backends", "moving_mnist", "timeseries", "spectrogram", "metrics"]


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores visible, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {gpu}, Python {platform.python_version()}"
    )


def fmt(v, digits: int = 3) -> str:
    """A table figure; beside its target it gets four digits (``digits``), so that one just under
    the target (2.996 against 3) does not print as the target itself."""
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def target_text(t: dict) -> str:
    """A row's ``target`` as it reads in the tables, e.g. ``ours / Kornia >= 3``."""
    return f"{t.get('what', 'ratio')} {t['op']} {fmt(float(t['value']))}"


_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}


def target_lines(sections) -> list[str]:
    """The "Targets" table: each row that carries a ``target`` (``op``, ``value``, ``of``: the row's
    field it applies to, ``what``: how to read it), with this run's figure and whether it is met;
    a row with no figure (a GPU row on a machine without one) is listed as not run."""
    lines = []
    for section, rows, _ in sections:
        for r in rows:
            t = r.get("target")
            if not t:
                continue
            got = r.get(t.get("of", "ratio"))
            if got is None:
                verdict = "not run here"
            else:
                verdict = "met" if _OPS[t["op"]](got, t["value"]) else "**missed**"
            lines.append(f"| {section}: {r['name']} | {target_text(t)} | {fmt(got, 4)} | {verdict} |")
    if not lines:
        return []
    return [
        "## Targets",
        "",
        "The issues' targets and this run's figures (each row's notes say what it was measured against",
        "and, for a missed target, what the profile says stands in the way).",
        "",
        "| benchmark | target | this run | |",
        "|---|---|---|---|",
        *lines,
        "",
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (smoke check)")
    ap.add_argument("--only", nargs="*", help=f"subset of {MODULES}")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    args = ap.parse_args(argv)
    sys.path.insert(0, HERE)
    sections = []
    failed = []
    import torch

    threads = torch.get_num_threads()
    machine_line = machine()
    load_start = os.getloadavg()[0]
    for name in args.only or MODULES:
        if not os.path.exists(os.path.join(HERE, f"{name}.py")):
            continue
        print(f"== {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            rows = importlib.import_module(name).run(quick=args.quick)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        finally:
            torch.set_num_threads(threads)  # a benchmark that pins threads does not affect the next
        sections.append((name, rows, time.perf_counter() - t0))
    today = datetime.date.today().isoformat()
    lines = [
        "# Benchmarks",
        "",
        f"Latest run: {today}{' (quick mode)' if args.quick else ''}, `python bench/run_all.py"
        f"{' --quick' if args.quick else ''}`.",
        f"Machine: {machine_line}.",
        f"Load average (1 min) when the run started: {load_start:.2f}; when it ended: {os.getloadavg()[0]:.2f} "
        f"(the benchmarks themselves keep up to {os.cpu_count()} cores busy).",
        "",
        "Each ratio is ours / baseline (for times and bytes, baseline / ours), both measured in the same run;",
        "higher is better for ours. Targets are from the issues.",
        "",
        *target_lines(sections),
    ]
    for name, rows, wall in sections:
        lines += [
            f"## {name} ({wall:.0f} s)",
            "",
            "| benchmark | ours | baseline | unit | ratio | notes |",
            "|---|---|---|---|---|---|",
        ]
        for r in rows:
            notes = r.get("notes", "") + (f"; target: {target_text(r['target'])}" if r.get("target") else "")
            lines.append(
                f"| {r['name']} | {fmt(r['ours'])} | {fmt(r.get('baseline', ''))} | {r.get('unit', '')} | "
                f"{fmt(r.get('ratio', ''))} | {notes} |"
            )
        lines.append("")
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines))
    print(f"wrote {args.out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
