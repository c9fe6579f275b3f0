#!/usr/bin/env python
"""Time-series generation speed: ours (batched) against GutenTAG (``timeeval-gutentag``).

Both sides make series of 10,000 steps with 1 and 4 channels of the same base oscillation and the
same anomaly kinds (three anomalies a series, each of one kind drawn from the list below, on one
channel). GutenTAG builds one series per call (its ``TimeSeries.generate``, the config parsed once
beforehand, so only generation is timed); ours makes a batch of 64 (``TimeSeriesGenerator.generate``,
which also returns the clean series, the per-channel labels and the event table). The two are timed
interleaved, several rounds, and each row reports the median of the rounds; ``ratio`` = ours /
GutenTAG in series/s (points/s = series/s x length x channels). Both run on one thread: GutenTAG's
numpy work is single-threaded, and on a shared 2-core machine torch's second OpenMP thread mostly
waits at barriers (measured on a loaded machine: 10x slower with 2 threads than with 1), which
would measure the machine's load rather than the generator. Each row also times, in the same rounds,
the base noise alone (one counter-based normal a value, which fixes the values at a seed) against
the time a batch may take for 10x GutenTAG: where it is over 100%, no other saving reaches 10x.

Anomaly kinds (GutenTAG's name -> ours): platform, mean -> level_shift, amplitude, extremum,
frequency, variance, pattern, pattern-shift -> pattern_shift on periodic bases; the subset GutenTAG
accepts on the others; mode-correlation on random-mode-jump bases. (GutenTAG's trend is a sine
trend, ours a ramp: left out.)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import warnings

import torch

LENGTH = 10_000
BATCH = 64

# (our shape, GutenTAG's base oscillation)
BASES = {
    "sine": {"kind": "sine", "frequency": 2.0, "amplitude": 1.0, "variance": 0.05},
    "cosine": {"kind": "cosine", "frequency": 2.0, "amplitude": 1.0, "variance": 0.05},
    "ecg": {"kind": "ecg", "frequency": 2.0, "amplitude": 1.0, "variance": 0.05},
    "random_walk": {"kind": "random-walk", "amplitude": 1.0, "variance": 0.05, "smoothing": 0.01},
    "mls": {"kind": "mls", "amplitude": 1.0, "variance": 0.05, "complexity": 7},
    "cylinder_bell_funnel": {"kind": "cylinder-bell-funnel", "amplitude": 1.0, "variance": 0.05},
    "random_mode_jump": {"kind": "random-mode-jump", "frequency": 50, "channel-diff": 0.2, "variance": 0.05},
    "dirichlet": {"kind": "dirichlet", "frequency": 2.0, "amplitude": 1.0, "variance": 0.05, "periodicity": 6},
}
# GutenTAG's anomaly kinds and their parameters; ours by the same meaning
GT_KINDS = [
    {"kind": "platform", "value": 0.5},
    {"kind": "mean", "offset": 0.5},
    {"kind": "amplitude", "amplitude_factor": 2.0},
    {"kind": "extremum", "min": False, "local": False},
    {"kind": "frequency", "frequency_factor": 2.0},
    {"kind": "variance", "variance": 0.3},
    {"kind": "pattern", "sinusoid_k": 10.0},
    {"kind": "pattern-shift", "shift_by": 3, "transition_window": 5},
]
OUR_NAME = {
    "platform": "platform",
    "mean": "level_shift",
    "amplitude": "amplitude",
    "extremum": "extremum",
    "frequency": "frequency",
    "variance": "variance",
    "pattern": "pattern",
    "pattern-shift": "pattern_shift",
    "mode-correlation": "mode_correlation",
}
# the kinds GutenTAG accepts on each base (it refuses e.g. frequency on a random walk)
_APERIODIC = ("platform", "mean", "amplitude", "extremum", "variance")
COMPATIBLE = {
    "random_walk": _APERIODIC,
    "mls": _APERIODIC + ("pattern",),
    "cylinder_bell_funnel": _APERIODIC + ("pattern",),
    "random_mode_jump": ("mode-correlation",),
}


def gutentag_kinds(base: str) -> list[dict]:
    allowed = COMPATIBLE.get(base)
    kinds = GT_KINDS + [{"kind": "mode-correlation"}]
    return [k for k in kinds if (k["kind"] in allowed if allowed else k["kind"] != "mode-correlation")]


def _gutentag_series(base: str, channels: int, seed: int):
    """One parsed GutenTAG TimeSeries (3 anomalies of kinds cycling over GT_KINDS)."""
    from gutenTAG import GutenTAG

    kinds = gutentag_kinds(base)
    anomalies = []
    for a, position in enumerate(("beginning", "middle", "end")):
        kind = dict(kinds[(seed + a) % len(kinds)])
        length = 1 if kind["kind"] == "extremum" else 20
        anomalies.append({"position": position, "length": length, "channel": a % channels, "kinds": [kind]})
    config = {
        "timeseries": [
            {
                "name": f"bench-{base}-{channels}",
                "length": LENGTH,
                "base-oscillations": [dict(BASES[base]) for _ in range(channels)],
                "anomalies": anomalies,
            }
        ]
    }
    gt = GutenTAG(n_jobs=1, seed=seed)
    gt.load_config_dict(config)
    return gt._timeseries[0]


def _ours(base: str, channels: int):
    from anomaly_lab.modalities.timeseries import TimeSeriesGenerator

    kinds = [OUR_NAME[k["kind"]] for k in gutentag_kinds(base)]
    return TimeSeriesGenerator(
        length=LENGTH,
        channels=channels,
        shapes=[base],
        period=(40.0, 60.0),
        anomalies={"mode": "kinds", "kinds": kinds, "count": [3, 3], "length": [20, 20], "channels": "one"},
        seed=0,
        device="cpu",
    )


def _noise_alone(lo: int, channels: int):
    """The draw every clean series makes (``base/noise_values``, one normal a value) for the batch at
    ``lo``: the part of generation no batching removes, kept because it fixes the values at a seed."""
    from anomaly_lab.core.rng import CounterRNG

    return CounterRNG(0, torch.arange(lo, lo + BATCH)).normal("base/noise_values", (LENGTH, channels))


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(quick: bool = False, threads: int = 1) -> list[dict]:
    torch.set_num_threads(threads)  # bench/run_all.py restores the count after this module
    rounds = 3 if quick else 5
    gt_series = 4 if quick else 8  # GutenTAG series a round (one at a time)
    bases = ["sine", "random_mode_jump"] if quick else list(BASES)
    out = []
    warnings.filterwarnings("ignore")
    for channels in (1, 4):
        for base in bases:
            ours = _ours(base, channels)
            gts = [_gutentag_series(base, channels, seed) for seed in range(gt_series)]
            ours.generate(torch.arange(BATCH))  # warm-up
            for ts in gts[:1]:
                ts.generate(0)
            ours_rates, gt_rates, floor = [], [], []
            for r in range(rounds):  # interleaved: a round of ours, then a round of GutenTAG
                lo = BATCH * (r + 1)
                t = _time(lambda lo=lo: ours.generate(torch.arange(lo, lo + BATCH)))
                ours_rates.append(BATCH / t)
                floor.append(_time(lambda lo=lo: _noise_alone(lo, channels)))
                t = _time(lambda r=r: [ts.generate(1000 * r + i) for i, ts in enumerate(gts)])
                gt_rates.append(len(gts) / t)
            mine, peer = statistics.median(ours_rates), statistics.median(gt_rates)
            budget = BATCH / (10 * peer)  # seconds a batch may take for 10x GutenTAG
            points = LENGTH * channels
            kinds = ", ".join(OUR_NAME[k["kind"]] for k in gutentag_kinds(base))
            out.append(
                {
                    "name": f"series/s, {base}, {channels} ch, T={LENGTH:,}",
                    "ours": mine,
                    "baseline": peer,
                    "unit": "series/s",
                    "ratio": mine / peer,
                    "notes": f"median of {rounds} interleaved rounds, {threads} thread; batch {BATCH} vs GutenTAG "
                    "one at a time; "
                    f"3 anomalies a series ({kinds}); points/s ours {mine * points:,.0f}, "
                    f"GutenTAG {peer * points:,.0f}; floor: the base noise alone (every value's "
                    f"counter-based normal) takes {1e3 * statistics.median(floor):.1f} ms a batch, "
                    f"{statistics.median(floor) / budget:.0%} of the {1e3 * budget:.1f} ms that 10x GutenTAG allows",
                    "target": {"op": ">=", "value": 10, "what": "ours / GutenTAG"},
                }
            )
    return out


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
