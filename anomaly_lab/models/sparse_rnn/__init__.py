"""Sparse RNN (block-sparse iterated map) and its LightningModule."""

from anomaly_lab.models.sparse_rnn.torch_model import BLOCKS, SparseRNN, parse_structure, solve_hidden

__all__ = ["BLOCKS", "SparseRNN", "parse_structure", "solve_hidden"]
