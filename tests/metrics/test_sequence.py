import torch

from anomaly_lab.metrics.sequence import confusion_counts, location_accuracy, step_prf


def test_location_accuracy():
    logits = torch.tensor([[0.1, 2.0, 0.3], [3.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 5.0, 0.0]])
    assert float(location_accuracy(logits, torch.tensor([1, 0, 1, 1]))) == 0.75


def test_step_prf_worked_example():
    pred = torch.tensor([[1, 0, 1, 0], [0, 0, 1, 1]])
    target = torch.tensor([[1, 0, 0, 0], [0, 0, 1, 0]])
    m = step_prf(pred, target)  # tp 2, fp 2, fn 0
    assert torch.isclose(m["precision"], torch.tensor(0.5)) and torch.isclose(m["recall"], torch.tensor(1.0))
    assert torch.isclose(m["f1"], torch.tensor(2 / 3))
    empty = step_prf(torch.zeros(3, 2), torch.zeros(3, 2))
    assert float(empty["f1"]) == 0.0


def test_confusion_counts():
    c = confusion_counts(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), 3)
    assert c.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
