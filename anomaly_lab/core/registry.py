"""One registry pattern for every family of named units: image ops, anomaly kinds, morphologies.

A new unit is one function (or class) plus one decorator line::

    KINDS = Registry("Moving MNIST anomaly kind")

    @KINDS.register("vanish", defaults={})
    def vanish(...): ...

Entries keep their registration order, because some families export an entry's position (a kind id
in a parquet column): append new entries, never insert them, or exported values change.
Lookup of an unknown name raises a :class:`ConfigError` that lists what is allowed, so config
validation and error messages come from the registry rather than from a copied tuple of names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from anomaly_lab.core.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered unit: its name, the object, its parameter defaults and a one-line summary."""

    name: str
    obj: T
    defaults: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""


class Registry(Mapping[str, Entry[T]]):
    """Ordered, named units of one family; ``registry[name]`` is the :class:`Entry`."""

    def __init__(self, family: str):
        self.family = family
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self, name: str, *, defaults: Mapping[str, Any] | None = None, summary: str | None = None
    ) -> Callable[[T], T]:
        """Decorator adding ``obj`` under ``name`` (names are unique within a family)."""

        def add(obj: T) -> T:
            self.add(name, obj, defaults=defaults, summary=summary)
            return obj

        return add

    def add(self, name: str, obj: T, *, defaults: Mapping[str, Any] | None = None, summary: str | None = None) -> T:
        if name in self._entries:
            raise ValueError(f"{self.family} {name!r} is registered twice")
        doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
        self._entries[name] = Entry(
            name, obj, dict(defaults or {}), summary if summary is not None else (doc[0] if doc else "")
        )
        return obj

    def __getitem__(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ConfigError(f"{self.family} {name!r} is not known; choose one of {list(self._entries)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    @property
    def names(self) -> tuple[str, ...]:
        """Names in registration order (an entry's position is its id where a family exports ids)."""
        return tuple(self._entries)

    def index(self, name: str) -> int:
        """Position of ``name`` (raises the registry's ConfigError for an unknown name)."""
        self[name]
        return self.names.index(name)

    def __repr__(self) -> str:
        return f"Registry({self.family!r}, {list(self._entries)})"
