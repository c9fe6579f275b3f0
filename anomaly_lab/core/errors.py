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


def check_interval(
    name: str, value: Any, low: float | None = None, *, integer: bool = False, as_float: bool = True
) -> tuple:
    """The one ``[low, high]`` parser: a number (both ends alike) or a pair of numbers with
    ``least <= low <= high`` (``least`` is the ``low`` argument). Returns the pair as floats (ints with
    ``integer``; as given with ``as_float=False``)."""
    scalar = (int,) if integer else (int, float)
    if isinstance(value, scalar) and not isinstance(value, bool):
        value = (value, value)
    try:
        values = list(value) if not isinstance(value, (str, bytes)) else []
    except TypeError:
        values = []
    kind = "an integer" if integer else "a number"
    if len(values) != 2 or not all(isinstance(v, scalar) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{name}={value!r} must be {kind} or a [low, high] pair of them")
    if low is not None and min(values) < low:
        raise ConfigError(f"{name}={values} is out of range; allowed: {low} <= low <= high")
    if values[0] > values[1]:
        raise ConfigError(f"{name}={values} has low > high; give [low, high]")
    if integer:
        return int(values[0]), int(values[1])
    return (float(values[0]), float(values[1])) if as_float else tuple(values)


def find_user_error(exc: BaseException) -> AnomalyLabError | None:
    """The AnomalyLabError behind ``exc`` (Hydra wraps errors raised while instantiating). A config
    key the constructor does not take (``+data.generator.nosuch=1``) is one too: Hydra reports it
    as a TypeError inside its InstantiationException."""
    import re

    seen = set()
    instantiating = None
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, AnomalyLabError):
            return exc
        if type(exc).__name__ == "InstantiationException":
            instantiating = exc
        elif instantiating is not None and isinstance(exc, TypeError):
            match = re.search(r"([\w.]+)\(\) got an unexpected keyword argument '(\w+)'", str(exc))
            if match:
                owner = match.group(1).removesuffix(".__init__")
                return ConfigError(f"{match.group(2)} is not a parameter of {owner}; remove it or check its spelling")
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class exit_on_user_error:
    """Context manager for entry points: a user error becomes one line on stderr and exit code 2.

    Anything else propagates with its traceback (it is a bug, not a user error).
    """

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            return False
        err = find_user_error(exc)
        if err is None:
            return False
        import sys

        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2)
