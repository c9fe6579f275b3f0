"""Affiliation precision/recall against the authors' code (as vendored in TSB-AD) and by hand."""

import math

import numpy as np
import pytest
import torch
from TSB_AD.evaluation.affiliation.generics import convert_vector_to_events
from TSB_AD.evaluation.affiliation.metrics import pr_from_events

from anomaly_lab.metrics.affiliation import affiliation_prf


def test_worked_example_by_hand():
    # one event J = [4, 6) in [0, 10): its zone is the whole series; a single prediction [0, 1)
    y = torch.zeros(10, dtype=torch.int64)
    y[4:6] = 1
    p = torch.zeros(10, dtype=torch.int64)
    p[0] = 1
    r = affiliation_prf(p, y)
    # precision: Fbar(4 - x) = 2x / 10 on x in [0, 1), mean 0.1
    # recall: for y in [4, 6), D = y - 1 and P(|X - y| >= D) = 1 - (min(2y - 1, 10) - 1) / 10, mean 0.2125
    assert r["precision"] == pytest.approx(0.1) and r["recall"] == pytest.approx(0.2125)
    assert affiliation_prf(y, y) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_paper_property_precision_ignores_far_zones():
    # a prediction inside the second event's zone does not lower the first event's precision
    y = torch.zeros(40, dtype=torch.int64)
    y[5:8] = 1
    y[30:33] = 1
    p = y.clone()
    p[30:33] = 0
    r = affiliation_prf(p, y)
    assert r["precision"] == 1.0 and r["recall"] == pytest.approx(0.5)  # second zone: no prediction, recall 0


@pytest.mark.parametrize("seed", range(40))
def test_against_the_reference_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 200))
    y = (rng.random(n) < rng.uniform(0.02, 0.3)).astype(int)
    if y.sum() == 0:
        y[n // 3] = 1
    p = (rng.random(n) < rng.uniform(0.0, 0.3)).astype(int)
    if seed % 5 == 0:
        p = np.zeros(n, int)
        p[int(rng.integers(0, n))] = 1
    ref = pr_from_events(convert_vector_to_events(p), convert_vector_to_events(y), (0, n))
    r = affiliation_prf(torch.tensor(p), torch.tensor(y))
    ref_p = ref["Affiliation_Precision"]
    assert r["precision"] == pytest.approx(0.0 if math.isnan(ref_p) else ref_p, abs=1e-12)
    assert r["recall"] == pytest.approx(ref["Affiliation_Recall"], abs=1e-12)


def test_rows_are_separate_series_and_undefined_cases():
    y = torch.tensor([[0, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0]])
    p = torch.tensor([[0, 0, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    r = affiliation_prf(p, y)
    r0, r1 = affiliation_prf(p[0], y[0]), affiliation_prf(p[1], y[1])
    assert r["precision"] == pytest.approx((r0["precision"] + r1["precision"]) / 2)
    assert r["recall"] == pytest.approx((r0["recall"] + r1["recall"]) / 2)
    assert affiliation_prf(torch.zeros(6), y[0])["precision"] == 0.0  # the reference gives NaN
    with pytest.warns(UserWarning, match="undefined"):
        assert math.isnan(affiliation_prf(p[0], torch.zeros(6))["f1"])
