"""What the benchmarks share."""


def not_run(name: str, unit: str, target: dict) -> dict:
    """The row a CUDA benchmark leaves on a machine without CUDA: no figure, its target kept, so
    BENCHMARKS.md's Targets table shows it was not measured."""
    return {
        "name": name,
        "ours": None,
        "baseline": None,
        "unit": unit,
        "ratio": None,
        "notes": "not run: no CUDA device here (bench/device_check.sh measures it on a lent GPU machine)",
        "target": target,
    }
