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


def test_separate_recall_bias_where_timeeval_uses_the_precision_bias():
    # TimeEval's RangeFScore(p_bias=..., r_bias=...) calls ts_fscore(..., p_bias=self._p_bias,
    # r_bias=self._p_bias): the recall bias it is given is dropped. Ours with precision bias flat and
    # recall bias back is prts' ts_fscore with those two biases, not with flat twice.
    import numpy as np
    import prts

    real, pred = np.array(REAL), np.array(PRED)
    ours = range_prf(torch.tensor(pred), torch.tensor(real), 0.5, "flat", "reciprocal", recall_bias="back")
    with_both = prts.ts_fscore(
        real, pred, p_alpha=0, r_alpha=0.5, cardinality="reciprocal", p_bias="flat", r_bias="back"
    )
    timeeval = prts.ts_fscore(
        real, pred, p_alpha=0, r_alpha=0.5, cardinality="reciprocal", p_bias="flat", r_bias="flat"
    )
    assert ours["f1"] == pytest.approx(with_both, abs=1e-12)
    assert ours["f1"] != pytest.approx(timeeval, abs=1e-6)


def _timeeval_range_pr_auc(y, s, max_samples=50, r_alpha=0.5):
    """TimeEval's RangePrAUC procedure written out with prts for each threshold (TimeEval is not a
    dependency; prts is the evaluator it calls)."""
    import numpy as np
    import prts

    thresholds = np.unique(s)[1:]
    if thresholds.shape[0] > max_samples:
        every = thresholds.shape[0] // (max_samples - 1)
        sampled = thresholds[::every]
        thresholds = sampled if sampled[-1] == thresholds[-1] else np.r_[sampled, thresholds[-1]]
    rec = np.array(
        [
            prts.ts_recall(y, (s >= t).astype(int), alpha=r_alpha, cardinality="reciprocal", bias="flat")
            for t in thresholds
        ]
    )
    prec = np.array(
        [prts.ts_precision(y, (s >= t).astype(int), alpha=0, cardinality="reciprocal", bias="flat") for t in thresholds]
    )
    order = np.lexsort((-prec, rec))[::-1]
    p = np.r_[y.sum() / len(y), prec[order], 1]
    r = np.r_[1.0, rec[order], 0]
    return -np.trapezoid(p, r)


@pytest.mark.parametrize("seed", range(4))
def test_range_pr_auc_follows_timeevals_procedure(seed):
    import numpy as np

    from anomaly_lab.metrics.range_based import range_pr_auc

    rng = np.random.default_rng(seed)
    n = int(rng.integers(40, 160))
    y = np.zeros(n, int)
    for _ in range(3):
        a = int(rng.integers(0, n - 10))
        y[a : a + int(rng.integers(1, 10))] = 1
    s = rng.normal(size=n) + y
    if seed % 2:
        s = np.round(s, 1)
    assert range_pr_auc(torch.tensor(s), torch.tensor(y)) == pytest.approx(_timeeval_range_pr_auc(y, s), abs=1e-12)


def test_range_pr_auc_of_a_perfect_ranking():
    from anomaly_lab.metrics.range_based import range_pr_auc

    y = torch.tensor([0, 0, 1, 1, 0, 0, 0, 1, 0, 0])
    assert range_pr_auc(y.double() + 0.01, y) == pytest.approx(1.0)
