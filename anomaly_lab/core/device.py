"""Resolve the configured device name."""

from __future__ import annotations

import torch

from anomaly_lab.core.errors import ConfigError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``/``cuda``/``cuda:N`` as given.

    Asking for CUDA on a machine without it is a ConfigError (one clear line), not a crash later.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"device={device!r} is not a device; use auto, cpu, cuda or cuda:N") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} asked for CUDA but no CUDA device is available; use device=cpu or auto")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device={device!r} is not supported; use auto, cpu, cuda or cuda:N")
    return dev
