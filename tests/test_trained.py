"""The trained-ensemble building blocks of ntkbench.experiments.trained: the conditioning-scaled step cap, training
along a recorded path, and the kernel solutions along the same path (exact identities tested exactly)."""

from __future__ import annotations

import math

import pytest
import torch

from ntkbench import MLP, empirical_ntk
from ntkbench.experiments.trained import (
    CAP_CEILING,
    kernel_solutions,
    net_width,
    outputs,
    step_cap,
    train_path,
    train_to_threshold,
)
from ntkbench.linearize import gd_finite_time, linear_steps

GEN = torch.Generator().manual_seed(3)
X = torch.nn.functional.normalize(torch.randn(8, 4, generator=GEN, dtype=torch.float64), dim=1)
Y = torch.randn(8, generator=GEN, dtype=torch.float64)
XE = torch.randn(5, 4, generator=GEN, dtype=torch.float64)
NET = MLP(d_in=4, width=64, depth=2, sigma=1.0, bias="none")


def test_step_cap_scales_with_the_linearized_steps_within_its_ceiling():
    assert step_cap(1000, 4.0, [10.0, 200.0]) == 1000  # the floor: max_steps
    assert step_cap(1000, 4.0, [10.0, 2000.0]) == 8000  # the slowest member, times the factor
    assert step_cap(1000, 4.0, [math.inf]) == CAP_CEILING * 1000  # a direction that never decays
    assert step_cap(1000, 4.0, [1e9]) == CAP_CEILING * 1000


def test_cap_factor_raises_the_cap_to_the_linearized_models_steps_and_needs_gd_on_half_sse():
    p0, res, lr = train_to_threshold(NET, [0, 1], X, Y, c=1.0, threshold=1e-6, max_steps=10, cap_factor=2.0)
    needed = []
    for s in range(2):
        p = {k: v[s] for k, v in p0.items()}
        needed.append(linear_steps(empirical_ntk(NET, p, X), Y - NET(p, X), lr=float(lr[s]), threshold=1e-6))
    assert 10 < max(needed) < 100 * 10  # the test's premise: the linearized model needs more than max_steps
    assert res.max_steps == step_cap(10, 2.0, needed) == min(CAP_CEILING * 10, math.ceil(2.0 * max(needed)))
    _, plain, _ = train_to_threshold(NET, [0, 1], X, Y, c=1.0, threshold=1e-6, max_steps=10)
    assert plain.max_steps == 10 and not plain.converged.any()
    with pytest.raises(ValueError, match="cap_factor needs GD on half_sse"):
        train_to_threshold(NET, [0], X, Y, c=1.0, threshold=1e-6, max_steps=10, cap_factor=2.0, optimizer="adam")


def test_train_path_has_the_iterates_of_one_uninterrupted_run():
    p0, res, lr = train_to_threshold(NET, [0, 1, 2], X, Y, c=1.0, threshold=1e-4, max_steps=5000)
    res_p, path = train_path(NET, p0, X, Y, XE, lr=lr, threshold=1e-4, max_steps=5000, checkpoints=12)
    assert (res_p.steps == res.steps).all() and res_p.converged.all()
    for k in res.params:
        torch.testing.assert_close(res_p.params[k], res.params[k], rtol=0, atol=0)
    assert path.outputs.shape[:2] == path.steps.shape and path.outputs.shape[2] == XE.shape[0]
    assert (path.steps[:, 1:] >= path.steps[:, :-1]).all() and (path.steps[:, -1] == res.steps).all()
    torch.testing.assert_close(path.outputs[:, -1], outputs(NET, res.params, XE), rtol=0, atol=0)


def test_kernel_solutions_along_a_path_equal_the_finite_time_closed_form():
    p0 = NET.init(4)
    f = kernel_solutions(NET, p0, X, Y, XE, lr=0.05, steps=30, path_steps=[0, 7, 30])
    torch.testing.assert_close(f["lin_path"][0], NET(p0, XE))  # t = 0: the initial output
    torch.testing.assert_close(f["lin_path"][1], gd_finite_time(NET, p0, X, Y, XE, lr=0.05, steps=7))
    torch.testing.assert_close(f["lin_path"][2], f["lin"])


def test_net_width_applies_the_width_factor():
    assert net_width({"width": 800}) == 800
    assert net_width({"width": 800, "width_factor": 0.25}) == 200
    assert net_width({"width": 3, "width_factor": 0.1}) == 1
