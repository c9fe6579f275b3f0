"""Pure-torch dataset generators (no Lightning, no Hydra)."""
