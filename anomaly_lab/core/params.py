"""Counting a model's trainable parameters (the figure train.py reports as ``params``)."""

from __future__ import annotations

from torch import nn


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module`` (masked sparse nets count their own way: ``trainable_weights``)."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))
