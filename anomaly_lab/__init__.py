"""anomaly_lab: labelled anomaly data on demand, and the detectors that find it.

The core (``sources``, ``synth``, ``data``, ``models``, ``metrics``) is pure torch; Lightning and
Hydra are thin layers in ``training`` and the entry scripts.
"""

__version__ = "0.1.0"
