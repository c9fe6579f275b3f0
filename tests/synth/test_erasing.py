import math

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.synth import erasing


def test_erase_matches_torchvision_for_the_same_box(mnist_train):
    imgs = mnist_train.images[:8].unsqueeze(1).float() / 255.0
    boxes = erasing.sample_erase_boxes(CounterRNG(0, torch.arange(8)), "e", 28, 28, (0.1, 0.2), (0.3, 3.3))
    ours = erasing.erase(imgs, boxes, 0.0)
    for i in range(8):
        top, left, h, w = boxes[i].tolist()
        ref = F.erase(imgs[i], top, left, h, w, torch.tensor(0.0))
        assert torch.equal(ours[i], ref)


def test_box_law_matches_random_erasing():
    n = 20_000
    boxes = erasing.sample_erase_boxes(CounterRNG(1, torch.arange(n)), "e", 50, 50, (0.1, 0.2), (0.3, 3.3))
    top, left, h, w = boxes.T
    assert bool((h > 0).all())  # at 10-20% of the area a box always fits within 10 tries
    assert bool((top + h <= 50).all()) and bool((left + w <= 50).all())
    area = (h * w).double() / 2500
    assert 0.08 < float(area.min()) and float(area.max()) < 0.23  # rounding h, w moves the area a little
    t = v2.RandomErasing(p=1.0, scale=(0.1, 0.2), ratio=(0.3, 3.3), value=0)
    torch.manual_seed(0)
    ref = torch.tensor(
        [[p["i"], p["j"], p["h"], p["w"]] for p in (t.make_params([torch.zeros(1, 50, 50)]) for _ in range(3000))]
    )
    # same means of h, w, top and left within 4 standard errors
    for k in range(4):
        a, b = boxes[:, k].double(), ref[:, k].double()
        se = (a.var() / n + b.var() / len(b)).sqrt()
        assert abs(float(a.mean() - b.mean())) < 4 * float(se), k
    assert abs(math.log(float((h.double() / w).median()))) < 0.1  # log-ratio symmetric about 0


def test_box_that_never_fits_leaves_the_image_unchanged():
    # an area scale near the whole image almost never fits: torchvision then leaves the image as is
    boxes = erasing.sample_erase_boxes(CounterRNG(2, torch.arange(500)), "e", 10, 10, (0.99, 1.0), (3.0, 3.3))
    assert bool((boxes[:, 2] == 0).all())
    img = torch.rand(500, 1, 10, 10)
    assert torch.equal(erasing.erase(img, boxes, 0.0), img)
