import pytest
import torch
import torch.nn.functional as F

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.models.recurrent.torch_model import RecurrentNet, recurrent_params, solve_recurrent_hidden


def test_authors_lstm_sizes():
    assert RecurrentNet("lstm", 2500, 11, 10).trainable_weights() == 110_638
    assert RecurrentNet("lstm", 2500, 100, 10).trainable_weights() == 1_005_800
    assert solve_recurrent_hidden("lstm", 110_638, 2500, 10) == 11


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_baselines_matched_to_budget(cell):
    h = solve_recurrent_hidden(cell, 100_000, 2500, 10, proj=False)
    n = RecurrentNet(cell, 2500, h, 10, proj=False).trainable_weights()
    assert n == recurrent_params(cell, 2500, h, 10, proj=False)
    assert abs(n - 100_000) < recurrent_params(cell, 2500, h + 1, 10, proj=False) - n


def test_outputs_per_step_and_sparse_input_weights_stay_zero():
    m = RecurrentNet("lstm", 50, 12, 10, density=0.3, seed=2)
    out, feats = m(torch.randn(3, 7, 50))
    assert out.shape == (3, 7, 10) and feats.shape == (3, 7, 10)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(3):
        loss = F.cross_entropy(m(torch.randn(4, 7, 50))[0][:, -1], torch.randint(0, 10, (4,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert bool((m.rnn.weight_ih_l0.detach()[~m.ih_mask] == 0).all())
    full = sum(p.numel() for p in m.parameters())
    assert m.trainable_weights() == full - int((~m.ih_mask).sum())


def test_seeded_init_and_errors():
    a, b = RecurrentNet("gru", 20, 8, 4, proj=False, seed=1), RecurrentNet("gru", 20, 8, 4, proj=False, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ConfigError, match="model.cell='transformer'"):
        RecurrentNet("transformer")
    with pytest.raises(ConfigError, match="must exceed the output size"):
        RecurrentNet("lstm", 20, 8, 10)
