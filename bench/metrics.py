#!/usr/bin/env python
"""VUS and Range-AUC speed and memory: ours against the authors' code, identical values asserted.

VUS-PR (and VUS-ROC, the same call) against TSB-AD's ``basic_metricor().RangeAUC_volume_opt`` (the
code its published numbers come from) on series of 10^4, 10^5 and 10^6 points with buffers up to
``WINDOW`` steps and 250 thresholds. The reference costs O(window * thresholds * n) with a Python loop
over segments; at 10^6 points it would take several minutes, so it is run there only with ``--peer-1e6``
(the row then says so). Range-AUC (one buffer) is timed against the ``vus`` package's
``metricor().RangeAUC``, the authors' single-buffer function, whose values ``range_auc_original``
reproduces (TSB-AD's copy of that function shifts the buffer after each segment by one step and so gives
different numbers; VUS's per-buffer slices are the other Range-AUC, covered by the VUS rows).

Both sides run single-threaded (numpy is; torch is pinned to one thread), interleaved in one process;
our times are the median of 5 runs, the peer's the median of 3 (1 at 10^5 and above). Memory: peak
RSS of a fresh process during our VUS call (the peak reset just before it, Linux ``clear_refs``),
minus its RSS before the call, per point.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WINDOW = 50
TOLERANCE = 1e-10


def series(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One anomaly segment per 2,000 steps (5 to 150 steps long) and noisy scores that favour them."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=np.int64)
    for a in rng.choice(n - 200, size=max(1, n // 2000), replace=False):
        y[a : a + int(rng.integers(5, 150))] = 1
    return y, rng.normal(size=n) + y


def _time(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


_CHILD = r"""
import sys
import numpy as np, torch
sys.path.insert(0, sys.argv[2])
from metrics import series
from anomaly_lab.metrics.vus import vus


def status(key):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key))


torch.set_num_threads(1)
y, s = series(int(sys.argv[1]))
st, yt = torch.from_numpy(s), torch.from_numpy(y)
vus(st[:1000], yt[:1000], 5)  # warm up the kernels
before = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset the peak (VmHWM) to the current RSS
vus(st, yt, int(sys.argv[3]))
print((status("VmHWM:") - before) / 1024)
"""


def _peak_mb(n: int) -> float:
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, str(n), os.path.dirname(os.path.abspath(__file__)), str(WINDOW)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")},
    )
    if res.returncode:
        raise RuntimeError(res.stderr)
    return float(res.stdout.split()[-1])


def run(quick: bool = False, peer_1e6: bool = False) -> list[dict]:
    from TSB_AD.evaluation.basic_metrics import basic_metricor
    from vus.utils.metrics import metricor

    from anomaly_lab.metrics.vus import range_auc_original, vus

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # the references divide 0 / 0 at some thresholds
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    rows = []
    for n in sizes:
        y, s = series(n)
        st, yt = torch.from_numpy(s), torch.from_numpy(y)
        ours_t, ours = _time(lambda: vus(st, yt, WINDOW), 5)
        run_peer = n <= 10_000 or (n <= 100_000 and not quick) or peer_1e6
        note = f"window {WINDOW}, 250 thresholds, {max(1, n // 2000)} segments"
        if run_peer:
            peer_t, peer = _time(lambda: basic_metricor().RangeAUC_volume_opt(y, s, WINDOW), 3 if n <= 10_000 else 1)
            diff = max(abs(ours["vus_pr"] - peer[-1]), abs(ours["vus_roc"] - peer[-2]))
            assert diff <= TOLERANCE, f"VUS differs from TSB-AD by {diff} at n={n}"
            rows.append(
                {
                    "name": f"VUS-PR + VUS-ROC, n={n:,}",
                    "ours": ours_t,
                    "baseline": peer_t,
                    "unit": "s",
                    "ratio": peer_t / ours_t,
                    "notes": f"vs TSB-AD RangeAUC_volume_opt; values equal (max diff {diff:.1e}); {note}",
                }
            )
        else:
            rows.append(
                {
                    "name": f"VUS-PR + VUS-ROC, n={n:,}",
                    "ours": ours_t,
                    "baseline": "",
                    "unit": "s",
                    "notes": f"TSB-AD not run (about 6 min at this size on a 2-core machine; add --peer-1e6); {note}",
                }
            )
        ours_t, ours = _time(lambda: range_auc_original(st, yt, WINDOW), 5)
        peer_t, peer = _time(lambda: metricor().RangeAUC(y, s, window=WINDOW, plot_ROC=True), 3 if n <= 10_000 else 1)
        diff = max(abs(ours["roc"] - peer[0]), abs(ours["pr"] - peer[1]))
        assert diff <= TOLERANCE, f"Range-AUC differs from the vus package by {diff} at n={n}"
        rows.append(
            {
                "name": f"Range-AUC (one buffer), n={n:,}",
                "ours": ours_t,
                "baseline": peer_t,
                "unit": "s",
                "ratio": peer_t / ours_t,
                "notes": f"vs vus metricor.RangeAUC; values equal (max diff {diff:.1e}); buffer {WINDOW}",
            }
        )
    small, large = sizes[-2], sizes[-1]
    mb_small, mb_large = _peak_mb(small), _peak_mb(large)
    rows.append(
        {
            "name": f"VUS peak memory, n={large:,}",
            "ours": mb_large,
            "baseline": mb_small,
            "unit": "MB",
            "ratio": (mb_large / large) / max(mb_small / small, 1e-9),
            "notes": f"baseline column: ours at n={small:,}; ratio = bytes per point at {large:,} / at {small:,} "
            f"(linear memory: ~1 or below); {mb_large * 2**20 / large:.0f} bytes per point at {large:,}",
        }
    )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv, peer_1e6="--peer-1e6" in sys.argv):
        print(row)
