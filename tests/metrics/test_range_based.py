import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.metrics.range_based import range_prf

R = torch.tensor([0, 1, 1, 1, 1, 0, 0, 0, 0, 0])
P = torch.tensor([0, 0, 0, 1, 1, 1, 1, 0, 0, 0])


@pytest.mark.parametrize(
    "bias, recall, precision",
    [
        ("flat", 2 / 4, 2 / 4),
        ("back", 7 / 10, 3 / 10),  # weights 1,2,3,4: the overlap holds the real range's last two steps
        ("front", 3 / 10, 7 / 10),  # weights 4,3,2,1
        ("middle", 3 / 6, 3 / 6),  # weights 1,2,2,1
    ],
)
def test_positional_bias_by_hand(bias, recall, precision):
    r = range_prf(P, R, bias=bias)
    assert r["recall"] == pytest.approx(recall) and r["precision"] == pytest.approx(precision)
    assert r["f1"] == pytest.approx(2 * recall * precision / (recall + precision))


def test_cardinality_and_existence_by_hand():
    real = torch.tensor([1, 1, 1, 1, 1, 1, 0, 0])
    pred = torch.tensor([1, 1, 0, 0, 1, 1, 0, 0])  # one real range split into two predictions
    assert range_prf(pred, real)["recall"] == pytest.approx(2 / 3)
    assert range_prf(pred, real, cardinality="reciprocal")["recall"] == pytest.approx(1 / 3)
    assert range_prf(pred, real, alpha=0.5)["recall"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert range_prf(pred, real)["precision"] == pytest.approx(1.0)
    assert range_prf(torch.zeros(8), real)["recall"] == 0.0


# Values computed with the prts package (1.0.0.3), the Python port of the paper's evaluator.
REAL = [0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]
PRED = [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0]
PRTS = {
    (0.0, "flat", "one"): (0.6428571428571429, 0.625),
    (0.0, "flat", "reciprocal"): (0.6428571428571429, 0.5138888888888888),
    (0.0, "front", "one"): (0.7190476190476192, 0.575),
    (0.0, "back", "reciprocal"): (0.5666666666666667, 0.5638888888888889),
    (0.0, "middle", "one"): (0.6428571428571429, 0.6666666666666667),
    (0.5, "flat", "one"): (0.6428571428571429, 0.8125),
    (0.5, "front", "reciprocal"): (0.7190476190476192, 0.7319444444444444),
    (0.5, "back", "one"): (0.5666666666666667, 0.8374999999999999),
    (0.5, "middle", "reciprocal"): (0.6428571428571429, 0.7777777777777778),
}


@pytest.mark.parametrize("options", list(PRTS))
def test_against_reference_values(options):
    alpha, bias, card = options
    r = range_prf(torch.tensor(PRED), torch.tensor(REAL), alpha, bias, card)
    assert (r["precision"], r["recall"]) == pytest.approx(PRTS[options], abs=1e-12)


def test_rows_are_kept_apart():
    real = torch.tensor([[0, 0, 1, 1], [1, 1, 0, 0]])
    pred = torch.tensor([[0, 0, 0, 1], [1, 0, 0, 0]])
    # flattened, [..., 1, 1 | 1, 1, ...] would be one range of 4; per row they are two ranges of 2
    assert range_prf(pred, real)["recall"] == pytest.approx(0.5)


def test_bad_options():
    with pytest.raises(ConfigError, match="bias='left'"):
        range_prf(P, R, bias="left")
    with pytest.raises(ConfigError, match="alpha=2"):
        range_prf(P, R, alpha=2)


def test_no_range_on_a_side_is_zero_where_prts_fails():
    import numpy as np
    import prts

    real = np.array([0, 1, 1, 0, 0])
    with pytest.raises(AssertionError):  # prts leaves an all-zero prediction undefined
        prts.ts_precision(real, np.zeros(5, dtype=int))
    r = range_prf(torch.zeros(5), torch.tensor(real))
    assert r == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert range_prf(torch.tensor(real), torch.zeros(5))["recall"] == 0.0
