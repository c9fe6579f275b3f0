import pytest
import torch
import torch.nn.functional as F

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.models.sparse_rnn.torch_model import (
    SparseRNN,
    block_sizes,
    expected_weights,
    parse_structure,
    solve_hidden,
)


@pytest.mark.parametrize(
    "budget,density,hidden", [(100_000, 0.2, 176), (100_000, 1.0, 29), (1_000_000, 0.2, 1302), (1_000_000, 1.0, 341)]
)
def test_hidden_solved_from_budget_matches_the_paper_table(budget, density, hidden):
    assert solve_hidden(budget, 2500, 10, [density] * 6) == hidden
    assert abs(expected_weights(2500, hidden, 10, [density] * 6) - budget) / budget < 0.011


def test_structure_codes():
    assert parse_structure("222222") == [0.2] * 6
    assert parse_structure(100000) == [0.1, 1.0, 1.0, 1.0, 1.0, 1.0]
    with pytest.raises(ConfigError, match="six digits"):
        parse_structure("12a")


def test_masks_per_block_and_trainable_count_meet_the_budget():
    dens = [0.08, 1.0, 1.0, 0.1, 0.1, 0.1]
    h = solve_hidden(100_000, 2500, 10, dens)
    m = SparseRNN(2500, h, 10, dens, seed=3)
    counts = m.block_counts()
    for (name, n), p, size in zip(counts.items(), dens, block_sizes(2500, h, 10)):
        sd = (size * p * (1 - p)) ** 0.5
        assert abs(n - p * size) <= 5 * sd + 1e-9, name
    assert abs(m.trainable_weights() - 100_000) / 100_000 < 0.02
    # the x block row is absent: nothing produces x
    assert m.mask.shape == (h + 10, 2500 + h + 10)
    # same seed, same masks; another seed, other masks
    assert torch.equal(SparseRNN(2500, h, 10, dens, seed=3).mask, m.mask)
    assert not torch.equal(SparseRNN(2500, h, 10, dens, seed=4).mask, m.mask)


@pytest.mark.parametrize("backend", ["masked", "csr"])
def test_absent_weights_stay_exactly_zero_after_training(backend):
    torch.manual_seed(0)
    m = SparseRNN(64, 20, 5, [0.3, 0.5, 0.7, 0.4, 0.2, 0.9], seed=1, backend=backend)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    before = m.dense_weight().detach().clone()
    for _ in range(5):
        x = torch.randn(8, 6, 64)
        y, _ = m(x)
        loss = F.cross_entropy(y[:, -1], torch.randint(0, 5, (8,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = m.dense_weight().detach()
    assert bool((after[~m.mask] == 0).all())
    if backend == "masked":
        assert bool((m.weight.detach()[~m.mask] == 0).all())  # the stored parameter too
    assert float((after - before)[m.mask].abs().max()) > 1e-3  # present weights did train


def test_backends_agree_and_initial_weights_follow_n_0_005():
    a = SparseRNN(300, 40, 10, [0.2] * 6, seed=7)
    b = SparseRNN(300, 40, 10, [0.2] * 6, seed=7, backend="csr")
    x = torch.randn(4, 11, 300)
    assert torch.allclose(a(x)[0], b(x)[0], atol=1e-5)
    present = a.weight.detach()[a.mask]
    assert abs(float(present.std()) - 0.05) < 0.003 and abs(float(present.mean())) < 0.003


def test_map_semantics_relu_on_h_identity_on_y():
    m = SparseRNN(3, 2, 2, [1.0] * 6, seed=0)
    with torch.no_grad():
        m.weight.zero_()
        m.weight[0, 0] = -1.0  # h0 <- -x0: ReLU clips it
        m.weight[1, 0] = 1.0  # h1 <- x0
        m.weight[2, 0] = -2.0  # y0 <- -2 x0: identity keeps the sign
        m.weight[3, 3 + 1] = 1.0  # y1 <- h1 of the previous state
    x = torch.tensor([[[1.0, 0, 0], [0.0, 0, 0]]])
    y, h = m(x)
    assert h[0, 0].tolist() == [0.0, 1.0] and y[0, 0].tolist() == [-2.0, 0.0]
    assert y[0, 1].tolist() == [0.0, 1.0]  # the state is fed back


def test_bad_settings():
    with pytest.raises(ConfigError, match="backend='dense2'"):
        SparseRNN(backend="dense2")
    with pytest.raises(ConfigError, match="needs 6 values"):
        SparseRNN(densities=[0.2, 0.2])
    with pytest.raises(ConfigError, match="density of W_hh"):
        SparseRNN(densities=[0.2, 0.0, 0.2, 0.2, 0.2, 0.2])
    with pytest.raises(ConfigError, match="budget=1000"):
        solve_hidden(1000, 2500, 10, [1.0] * 6)
