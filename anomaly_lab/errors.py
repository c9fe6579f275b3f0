"""User-facing errors and the small checks that raise them.

Every message says what was wrong, the value given and what is allowed, so the entry scripts can
print it as one line and exit non-zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class AnomalyLabError(Exception):
    """Base class of errors meant for the user (printed as one line, no traceback)."""


class ConfigError(AnomalyLabError, ValueError):
    """A configuration value is out of its allowed set or range."""


class DataFileError(AnomalyLabError, OSError):
    """A data file is missing, unreadable or malformed."""


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed; choose one of {allowed}")
    return value


def check_range(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    integer: bool = False,
) -> Any:
    """Check ``low <= value <= high`` (bounds optional, inclusivity configurable)."""
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{name}={value!r} must be an integer")
    if not integer and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"{name}={value!r} must be a number")
    lo_ok = low is None or (value >= low if low_inclusive else value > low)
    hi_ok = high is None or (value <= high if high_inclusive else value < high)
    if not (lo_ok and hi_ok):
        lb = "-inf" if low is None else low
        hb = "inf" if high is None else high
        interval = ("[" if low_inclusive else "(") + f"{lb}, {hb}" + ("]" if high_inclusive else ")")
        raise ConfigError(f"{name}={value!r} is out of range; allowed: {interval}")
    return value
