"""The notebook's motion law: start in [0, lim), direction in [-pi, pi), integer speed, bounce in
[-2, lim + 2], truncated pixel positions."""

import math

import torch

from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.modalities.moving_mnist.motion import pixel_positions, sample_motion, trajectories


def notebook_path(start, velocity, steps, lim, margin=2):
    """One digit, plain Python floats, the notebook's update."""
    x, y = float(start[0]), float(start[1])
    vx, vy = float(velocity[0]), float(velocity[1])
    out = [(x, y)]
    for _ in range(1, steps):
        if not -margin <= x + vx <= lim + margin:
            vx = -vx
        if not -margin <= y + vy <= lim + margin:
            vy = -vy
        x, y = x + vx, y + vy
        out.append((x, y))
    return out


def test_draws_follow_the_spec_ranges():
    rng = CounterRNG(5, torch.arange(4000))
    m = sample_motion(rng, 2, 36, (2, 6))
    assert m["start"].shape == (4000, 2, 2) and float(m["start"].min()) >= 0 and float(m["start"].max()) < 36
    assert set(m["speed"].unique().tolist()) == {2, 3, 4, 5, 6}
    assert torch.allclose(m["velocity"].norm(dim=-1), m["speed"].to(torch.float64))
    angle = torch.atan2(m["velocity"][..., 1], m["velocity"][..., 0])
    assert float(angle.min()) < -3.0 and float(angle.max()) > 3.0  # the whole circle
    # speeds are near uniform over the five values
    counts = torch.bincount(m["speed"].flatten(), minlength=7)[2:].to(torch.float64)
    assert float(counts.min() / counts.max()) > 0.9


def test_paths_match_the_notebook_update_and_stay_inside():
    rng = CounterRNG(1, torch.arange(200))
    m = sample_motion(rng, 2, 36, (2, 6))
    path = trajectories(m["start"], m["velocity"], 30, 36)
    assert path.shape == (200, 30, 2, 2)
    assert float(path.min()) >= -2 and float(path.max()) <= 38
    for b in (0, 7, 123, 199):
        for d in range(2):
            ref = torch.tensor(notebook_path(m["start"][b, d], m["velocity"][b, d], 30, 36), dtype=torch.float64)
            assert torch.allclose(path[:, :, d][b], ref, atol=1e-9)
    # each axis moves by exactly |v| every frame (a bounce flips the sign, never the size)
    step = (path[:, 1:] - path[:, :-1]).abs()
    assert torch.allclose(step, m["velocity"].abs()[:, None].expand_as(step))
    assert bool(((path[:, 1:] - path[:, :-1]).sign() != m["velocity"].sign()[:, None]).any())  # some bounce


def test_pixel_positions_truncate_towards_zero():
    pos = torch.tensor([[1.9, -1.9], [-0.5, 37.99]], dtype=torch.float64)
    assert pixel_positions(pos).tolist() == [[1, -1], [0, 37]]
    assert pixel_positions(pos).tolist() == [[int(v) for v in row] for row in pos.tolist()]


def test_speed_scale_lengthens_chosen_steps_only():
    start = torch.tensor([[[10.0, 10.0]]], dtype=torch.float64)
    vel = torch.tensor([[[2.0, 0.0]]], dtype=torch.float64)
    scale = torch.ones(1, 6, 1, dtype=torch.float64)
    scale[0, 2] = 3.0
    path = trajectories(start, vel, 6, 36, step_scale=scale)[0, :, 0, 0]
    assert path.tolist() == [10.0, 12.0, 18.0, 20.0, 22.0, 24.0]
    assert math.isclose(float(trajectories(start, vel, 6, 36)[0, -1, 0, 0]), 20.0)
