"""LSTM / GRU / RNN baselines stepped through the sequence."""

from anomaly_lab.models.recurrent.torch_model import RecurrentNet, solve_recurrent_hidden

__all__ = ["RecurrentNet", "solve_recurrent_hidden"]
