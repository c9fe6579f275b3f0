import json
import math
import statistics

import numpy as np
import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.metrics.seed_eval import SEED_KEYS, evaluate_model, seed_evaluate, seed_scores

README_INPUT = {
    "targets": [[0, 0, 0, 0, 1], [0, 1, 0, 0, 0]],
    "candidates": [[1, 0, 0, 1, 0], [0, 0, 1, 1, 0]],
    "range": 3,
}


def test_readme_example_exactly():
    r = evaluate_model(README_INPUT)
    assert tuple(r) == SEED_KEYS
    assert r["td"] == [6, 4]
    assert r["tdir"] == [1.0, 1.0]
    assert r["dair"] == [1 / 3, 1 / 3]
    assert r["exact_match"] == [0, 0] and r["detected_anomaly"] == [1, 1]
    assert r["missed_anomaly"] == [0, 0] and r["false_anomaly"] == [2, 2]
    assert r["average_td"] == 5 and r["average_dair"] == 1 / 3 and r["average_fa"] == 2
    # the JSON text is the seed's: integers stay integers
    assert json.dumps(r["average_em"]) == "0" and json.dumps(r["td"]) == "[6, 4]"


def _loop_reference(targets, candidates, k):
    """The seed's behaviour written as plain loops over steps (test oracle)."""
    out = {key: [] for key in SEED_KEYS[:7]}
    for t, c in zip(targets, candidates):
        n = len(t)
        c_ones = [j for j, v in enumerate(c) if v == 1]
        t_ones = [i for i, v in enumerate(t) if v == 1]
        td = sum(min([abs(i - j) for j in c_ones], default=n) for i in t_ones)
        td += sum(min([abs(i - j) for i in t_ones], default=n) for j in c_ones)
        em = da = ma = fa = 0
        for i, v in enumerate(t):
            if v == 1:
                if c[i] == 1:
                    em += 1
                elif 1 in c[max(0, i - k) : i + k + 1]:
                    da += 1
                else:
                    ma += 1
            elif c[i] == 1:
                fa += 1
        out["td"].append(td)
        out["tdir"].append((em + da) / (em + da + ma))
        out["dair"].append((em + da) / (em + da + fa))
        for key, v in zip(SEED_KEYS[3:7], (em, da, ma, fa)):
            out[key].append(v)
    for key, src in (
        ("average_td", "td"),
        ("average_tdir", "tdir"),
        ("average_dair", "dair"),
        ("average_em", "exact_match"),
        ("average_da", "detected_anomaly"),
        ("average_ma", "missed_anomaly"),
        ("average_fa", "false_anomaly"),
    ):
        out[key] = statistics.mean(out[src])
    return out


@pytest.mark.parametrize("seed", range(10))
def test_same_numbers_as_the_seed_on_random_valid_inputs(seed):
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(1, 6))
    targets, candidates = [], []
    for _ in range(rows):
        n = int(rng.integers(1, 60))
        t = (rng.random(n) < 0.15).astype(int).tolist()
        t[int(rng.integers(0, n))] = 1  # every row has a target anomaly (the seed divides by zero otherwise)
        c = (rng.random(n) < 0.2).astype(int).tolist()
        c[int(rng.integers(0, n))] = 1  # and a candidate 1 (else the seed divides by zero for DAIR)
        if rng.random() < 0.3:
            c = [2 if v == 0 and rng.random() < 0.3 else v for v in c]  # values other than 1 do not count
        targets.append(t)
        candidates.append(c)
    k = int(rng.integers(0, 6))
    ours = seed_evaluate(targets, candidates, k)
    ref = _loop_reference(targets, candidates, k)
    for key in SEED_KEYS:
        assert ours[key] == ref[key], key  # exact, including int vs float


def test_row_without_anomalies_is_nan_with_warning_and_left_out_of_means():
    with pytest.warns(UserWarning, match="row 0"):
        r = seed_evaluate([[0, 0, 0], [0, 1, 0]], [[0, 0, 0], [0, 0, 1]], 1)
    assert math.isnan(r["tdir"][0]) and math.isnan(r["dair"][0])
    assert r["tdir"][1] == 1.0 and r["average_tdir"] == 1.0
    assert r["td"] == [0, 2]


def test_empty_candidate_row_costs_the_row_length():
    with pytest.warns(UserWarning, match="DAIR"):
        r = seed_evaluate([[0, 1, 0, 1]], [[0, 0, 0, 0]], 2)
    assert r["td"] == [8] and r["missed_anomaly"] == [2] and r["tdir"] == [0.0]
    assert math.isnan(r["dair"][0]) and math.isnan(r["average_dair"])


@pytest.mark.parametrize(
    "payload, match",
    [
        (
            {"targets": [[0, 1]], "candidates": [[0, 1, 0]], "range": 1},
            "row 0: target has 2 values but candidate has 3",
        ),
        ({"targets": [[0, 1]], "candidates": [[0, 1]], "range": -1}, "range=-1"),
        ({"targets": [[0, 1]], "candidates": [[0, 1]], "range": 1.5}, "range=1.5"),
        ({"targets": [[0, 1]], "candidates": [[0, 1]]}, "lacks \\['range'\\]"),
        ({"targets": [], "candidates": [], "range": 1}, "no rows"),
        ({"targets": [[1]], "candidates": [[1], [0]], "range": 1}, "1 rows but 'candidates' has 2"),
    ],
)
def test_clear_errors(payload, match):
    with pytest.raises(ConfigError, match=match):
        evaluate_model(payload)


def test_tensor_form_matches_the_json_form():
    t = torch.tensor(README_INPUT["targets"])
    c = torch.tensor(README_INPUT["candidates"])
    r = seed_scores(c, t, 3)
    assert r["td"] == 5 and r["tdir"] == 1.0 and r["dair"] == pytest.approx(1 / 3) and r["fa"] == 2
