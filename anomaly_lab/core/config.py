"""Config values as plain Python: Hydra's DictConfig/ListConfig (or any mapping or sequence) as dicts
and lists, so constructors and manifests never hold OmegaConf objects (checkpoints stay loadable
with ``weights_only=True``, JSON stays plain)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def to_plain(value: Any) -> Any:
    """``value`` with every mapping turned into a ``dict`` (string keys) and every non-string sequence
    into a ``list``, recursively; interpolations are already resolved by item access."""
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [to_plain(v) for v in value]
    return value
