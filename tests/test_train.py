import math
import sys
import warnings

import numpy as np
import pytest
import torch
from torch.func import grad, jacrev

from ntkbench import MLP, empirical_ntk
from ntkbench.linearize import gd_finite_time, linearize
from ntkbench.losses import Loss, get_loss
from ntkbench.optimizers import get_optimizer
from ntkbench.train import (
    LR_GRID,
    TrainResult,
    init_ensemble,
    lr_from_ntk,
    monotone_lr,
    stack_params,
    train,
    train_ensemble,
    unstack_params,
)

GEN = torch.Generator().manual_seed(0)
X = torch.nn.functional.normalize(torch.randn(6, 5, generator=GEN, dtype=torch.float64), dim=1)
Y = torch.randn(6, generator=GEN, dtype=torch.float64)
XS = torch.nn.functional.normalize(torch.randn(4, 5, generator=GEN, dtype=torch.float64), dim=1)
YS = torch.randn(4, generator=GEN, dtype=torch.float64)
NET = MLP(d_in=5, width=64, depth=2)
SEEDS = [0, 1, 2]


def assert_params_close(a, b, tol=1e-12):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=tol, atol=tol)


def half_sse(net, p, x, y):
    return 0.5 * ((net(p, x) - y) ** 2).sum().item()


def onehot_model(p, x):
    """f(x) = x·w: with one-hot inputs, ∂loss/∂w_j ≠ 0 exactly for the points j in the batch."""
    return x @ p["w"]


# ----- (a) linearized GD is 000 Eq. 8 ---------------------------------------------------------------

def test_gd_on_the_linearized_model_equals_the_finite_time_closed_form():
    net = MLP(d_in=5, width=48, depth=3, bias="normal")
    p0 = net.init(4)
    f_lin = linearize(net, p0)
    lr = lr_from_ntk(net, p0, X, c=1.0)  # half_sse: 1/λ_max(Θ)
    for t in (1, 40):
        res = train(f_lin, p0, X, Y, loss="half_sse", optimizer="gd", lr=lr, max_steps=t)
        assert res.steps.tolist() == [t]
        with torch.no_grad():
            for xq in (XS, X):
                closed = gd_finite_time(net, p0, X, Y, xq, lr=lr, steps=t)
                torch.testing.assert_close(f_lin(res.params, xq), closed, rtol=0, atol=1e-10)
    # the identity is a property of the linearized model: the network itself drifts away from Eq. 8
    res_net = train(net, p0, X, Y, loss="half_sse", lr=lr, max_steps=40)
    with torch.no_grad():
        gap = (net(res_net.params, XS) - gd_finite_time(net, p0, X, Y, XS, lr=lr, steps=40)).abs().max()
    assert gap > 1e-6


def test_lr_from_ntk_normalizes_by_the_loss_hessian():
    p0 = NET.init(0)
    lam = torch.linalg.eigvalsh(empirical_ntk(NET, p0, X))[-1].item()
    assert lr_from_ntk(NET, p0, X, c=1.0) == pytest.approx(1.0 / lam, rel=1e-12)
    assert lr_from_ntk(NET, p0, X, c=1.9, loss="mse") == pytest.approx(1.9 / (2 / 6 * lam), rel=1e-12)
    psi = torch.linalg.eigvalsh(empirical_ntk(NET, p0, X, per_layer=True)[-1])[-1].item()
    assert lr_from_ntk(NET, p0, X, kernel="last_layer") == pytest.approx(1.0 / psi, rel=1e-12)
    gram = empirical_ntk(NET, p0, X)  # a kernel the caller has already: the same rate, not recomputed
    assert lr_from_ntk(NET, {}, X, c=1.0, gram=gram) == lr_from_ntk(NET, p0, X, c=1.0)
    # vector output: c = lr · λ_max of the Hessian of the loss in θ for the linearized model (JᵀHJ)
    net3 = MLP(d_in=5, width=16, depth=2, d_out=3)
    p3 = net3.init(1)
    jac = jacrev(lambda p: net3(p, X).reshape(-1))(p3)
    J = torch.cat([v.reshape(v.shape[0], -1) for v in jac.values()], dim=1)
    for loss, curv in (("mse", 2.0 / J.shape[0]), ("half_sse", 1.0)):
        lr = lr_from_ntk(net3, p3, X, c=1.0, loss=loss)
        assert lr * torch.linalg.eigvalsh(curv * J.T @ J)[-1].item() == pytest.approx(1.0, rel=1e-10)
    with pytest.raises(ValueError, match="kernel='nngp'"):
        lr_from_ntk(NET, p0, X, kernel="nngp")
    with pytest.raises(ValueError, match="no constant curvature"):
        lr_from_ntk(NET, p0, X, loss=Loss("lp", p=4))


# ----- (b) an ensemble is S independent runs -----------------------------------------------------------

def test_stack_unstack_and_init_ensemble_roundtrip():
    ps = [NET.init(s) for s in SEEDS]
    stacked = init_ensemble(NET, SEEDS)
    assert stacked["W1"].shape == (3, 64, 5)
    for i, p in enumerate(ps):
        assert_params_close(unstack_params(stacked, i), p, tol=0)
    assert_params_close(stack_params(ps), stacked, tol=0)
    with pytest.raises(ValueError, match="params_list is empty"):
        stack_params([])


@pytest.mark.parametrize(("optimizer", "lr"), [("gd", 0.15), ("adam", 0.01)])
def test_ensemble_equals_separate_runs_full_batch(optimizer, lr):
    res = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, optimizer=optimizer, lr=lr, max_steps=30)
    assert isinstance(res, TrainResult) and res.params["W1"].shape[0] == 3
    for i, s in enumerate(SEEDS):
        alone = train(NET, NET.init(s), X, Y, optimizer=optimizer, lr=lr, max_steps=30)
        assert_params_close(unstack_params(res.params, i), alone.params)
        np.testing.assert_allclose(res.loss_curve[i], alone.loss_curve[0], rtol=1e-12, atol=1e-14)
    assert (res.steps == 30).all()
    # training did something
    assert (res.final_loss < res.loss_curve[:, 0]).all()


def test_per_member_learning_rates_equal_separate_runs():
    rates = [0.05, 0.15, 0.3]
    res = train_ensemble(NET, init_ensemble(NET, [5, 5, 5]), X, Y, optimizer="adam",
                         lr=torch.tensor(rates, dtype=torch.float64), max_steps=15)
    for i, r in enumerate(rates):
        alone = train(NET, NET.init(5), X, Y, optimizer="adam", lr=r, max_steps=15)
        assert_params_close(unstack_params(res.params, i), alone.params)
    assert len(set(res.final_loss.round(12).tolist())) == 3


def test_minibatch_ensemble_without_shuffle_equals_separate_runs():
    # shuffle=False: every member cycles through the same batches in data order, so the ensemble is
    # exactly S separate runs (whatever the seed)
    kw = dict(optimizer="gd", lr=0.1, max_steps=13, batch_fraction=0.5, shuffle=False)
    res = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, seed=1, **kw)
    for i, s in enumerate(SEEDS):
        alone = train(NET, NET.init(s), X, Y, seed=7, **kw)
        assert_params_close(unstack_params(res.params, i), alone.params)


def test_shuffled_minibatches_documented_permutation_stream():
    """What shuffle=True guarantees: one generator seeded with ``seed`` draws, at the start of every epoch,
    an (S, n) matrix of uniforms; member i's permutation is the argsort of row i. So members get distinct
    batch orders, a run is reproducible for a given (seed, S), and ``train(seed=s)`` is member 0 of no
    larger ensemble beyond its first epoch: a member of a shuffled ensemble is NOT a separate ``train``
    call with the same seed. This test replays that stream by hand."""
    S, n, batch, lr, steps, seed = 3, X.shape[0], 3, 0.1, 8, 11
    res = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=lr, max_steps=steps,
                         batch_fraction=0.5, shuffle=True, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    members = [NET.init(s) for s in SEEDS]
    for t in range(steps):
        if t % 2 == 0:
            order = torch.argsort(torch.rand(S, n, generator=gen), dim=1)
        k = t % 2
        for i in range(S):
            idx = order[i, k * batch:(k + 1) * batch]
            p = {key: v.clone().requires_grad_(True) for key, v in members[i].items()}
            (0.5 * ((NET(p, X[idx]) - Y[idx]) ** 2).sum()).backward()
            members[i] = {key: (v - lr * v.grad).detach() for key, v in p.items()}
    for i in range(S):
        assert_params_close(unstack_params(res.params, i), members[i])
    # reproducible for the same seed, different for another seed
    again = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=lr, max_steps=steps,
                           batch_fraction=0.5, shuffle=True, seed=seed)
    assert_params_close(again.params, res.params, tol=0)
    other = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=lr, max_steps=steps,
                           batch_fraction=0.5, shuffle=True, seed=seed + 1)
    assert not torch.allclose(other.params["W1"], res.params["W1"])


def test_shuffled_members_from_one_init_follow_different_batch_orders():
    x = torch.eye(8, dtype=torch.float64)
    y = torch.arange(1.0, 9.0, dtype=torch.float64)
    w0 = {"w": torch.zeros(4, 8, dtype=torch.float64)}
    res = train_ensemble(onehot_model, w0, x, y, lr=0.5, max_steps=1, batch_fraction=0.25, seed=2)
    touched = [set(torch.nonzero(res.params["w"][i]).flatten().tolist()) for i in range(4)]
    assert all(len(s) == 2 for s in touched)
    assert len({frozenset(s) for s in touched}) > 1
    order = torch.argsort(torch.rand(4, 8, generator=torch.Generator().manual_seed(2)), dim=1)
    assert touched == [set(order[i, :2].tolist()) for i in range(4)]


# ----- (c) stopping, caps, records ---------------------------------------------------------------------

def test_threshold_stop_is_the_first_crossing_and_stopped_members_are_frozen():
    thr = 1e-3
    lr = lr_from_ntk(NET, NET.init(0), X, c=1.5)
    res = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=lr, max_steps=400, threshold=thr)
    steps = res.steps
    assert res.converged.all() and not res.diverged.any()
    assert len(set(steps.tolist())) > 1, "members should stop at different steps"
    np.testing.assert_array_equal(res.record_steps, np.arange(steps.max() + 1))
    for i, s in enumerate(steps):
        curve = res.loss_curve[i]
        assert curve[s] < thr <= curve[s - 1]
        assert (curve[:s] >= thr).all()
        assert np.isnan(curve[s + 1:]).all() and np.isfinite(curve[: s + 1]).all()
        assert res.final_loss[i] == curve[s]
        p_i = unstack_params(res.params, i)
        assert half_sse(NET, p_i, X, Y) == pytest.approx(res.final_loss[i], rel=1e-12)
        # frozen at the stop: the same as a lone run of exactly s steps
        alone = train(NET, NET.init(SEEDS[i]), X, Y, lr=lr, max_steps=int(s))
        assert_params_close(p_i, alone.params)
        assert not alone.converged[0]


def test_max_steps_cap_and_zero_steps():
    res = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=0.1, max_steps=7, threshold=1e-30)
    assert (res.steps == 7).all() and not res.converged.any() and not res.diverged.any()
    assert res.record_steps[-1] == 7 and res.loss_curve.shape == (3, 8)
    for i in range(3):
        assert res.final_loss[i] == pytest.approx(half_sse(NET, unstack_params(res.params, i), X, Y), rel=1e-12)
    zero = train(NET, NET.init(0), X, Y, lr=0.1, max_steps=0)
    assert zero.steps.tolist() == [0] and zero.record_steps.tolist() == [0]
    assert_params_close(zero.params, NET.init(0), tol=0)
    assert zero.final_loss[0] == pytest.approx(half_sse(NET, NET.init(0), X, Y), rel=1e-12)


@pytest.mark.parametrize(("optimizer", "batch_fraction"), [("adam", 1.0), ("gd", 1.0), ("adam", 0.5)])
def test_snapshots_are_the_parameters_of_a_run_stopped_at_that_step(optimizer, batch_fraction):
    """A snapshot after t steps is what training for at most t steps gives (optimizer state intact), for members
    still training and for members stopped earlier (frozen at their stop); steps past the end are the result."""
    lr = lr_from_ntk(NET, NET.init(0), X, c=1.5) if optimizer == "gd" else 3e-3
    thr = 1e-3 if optimizer == "gd" else 1e-2
    times = [0, 3, 40, 160, 250, 400]  # adam: the members stop at 140–207 (full batch), 206–326 (halves)
    kw = dict(lr=lr, threshold=thr, optimizer=optimizer, batch_fraction=batch_fraction, shuffle=False)
    res = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, max_steps=400, snapshot_steps=times, **kw)
    assert list(res.snapshots) == times
    assert_params_close(res.snapshots[0], init_ensemble(NET, SEEDS), tol=0)
    assert_params_close(res.snapshots[400], res.params, tol=0)
    stopped_early = False
    for t in times[1:-1]:
        short = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, max_steps=t, **kw)
        assert_params_close(res.snapshots[t], short.params)
        stopped_early |= bool((res.steps < t).any())
    assert stopped_early, "the test needs a member that stopped before a snapshot"
    one = train(NET, NET.init(1), X, Y, max_steps=50, snapshot_steps=[7], **kw)
    assert_params_close(one.snapshots[7], train(NET, NET.init(1), X, Y, max_steps=7, **kw).params)


@pytest.mark.parametrize("steps", [[-1], [3], [1.5], [True], "5", 5])
def test_snapshot_steps_outside_the_run_are_rejected(steps):
    with pytest.raises(ValueError, match="snapshot_steps"):
        train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=0.1, max_steps=2, snapshot_steps=steps)


def test_record_every_full_batch():
    every1 = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=0.1, max_steps=23)
    every5 = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=0.1, max_steps=23, record_every=5)
    assert every5.record_steps.tolist() == [0, 5, 10, 15, 20, 23]  # the last step is always recorded
    np.testing.assert_allclose(every5.loss_curve, every1.loss_curve[:, every5.record_steps], rtol=1e-12)
    assert_params_close(every5.params, every1.params, tol=0)
    # a stop between records is recorded too
    lr = lr_from_ntk(NET, NET.init(0), X, c=1.5)
    res = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=lr, max_steps=400, threshold=1e-3,
                         record_every=50)
    for i, s in enumerate(res.steps):
        assert s in res.record_steps
        j = res.record_steps.tolist().index(s)
        assert res.loss_curve[i, j] == res.final_loss[i] < 1e-3
        assert np.isnan(res.loss_curve[i, j + 1:]).all()


def test_minibatch_record_every_is_at_epoch_boundaries():
    # with mini-batches the full loss is evaluated once per epoch (here 2 steps), so records fall on
    # epoch boundaries that are multiples of record_every, plus the final step
    res = train(NET, NET.init(0), X, Y, lr=0.1, max_steps=9, batch_fraction=0.5, shuffle=False, record_every=2)
    assert res.record_steps.tolist() == [0, 2, 4, 6, 8, 9]
    assert res.final_loss[0] == pytest.approx(half_sse(NET, res.params, X, Y), rel=1e-12)


def test_test_curve_is_recorded_when_x_test_is_given():
    lr = lr_from_ntk(NET, NET.init(0), X, c=1.5)
    res = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=lr, max_steps=400, threshold=1e-3,
                         x_test=XS, y_test=YS, loss="half_sse")
    assert res.test_curve.shape == res.loss_curve.shape
    np.testing.assert_array_equal(np.isnan(res.test_curve), np.isnan(res.loss_curve))
    for i, s in enumerate(SEEDS):
        assert res.test_curve[i, 0] == pytest.approx(half_sse(NET, NET.init(s), XS, YS), rel=1e-12)
        last = res.steps[i]
        assert res.test_curve[i, last] == pytest.approx(
            half_sse(NET, unstack_params(res.params, i), XS, YS), rel=1e-12)
    assert train(NET, NET.init(0), X, Y, lr=0.1, max_steps=3).test_curve is None


# ----- (d) mini-batch SGD --------------------------------------------------------------------------------

@pytest.mark.parametrize("shuffle", [True, False])
def test_sgd_half_batches_interpolates(shuffle):
    lr = lr_from_ntk(NET, NET.init(0), X, c=1.0)
    res = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=lr, max_steps=800, threshold=1e-3,
                         batch_fraction=0.5, shuffle=shuffle, seed=3)
    assert res.converged.all(), res.final_loss
    assert (res.steps % 2 == 0).all()  # the stopping rule is checked once per epoch (2 batches)
    for i in range(3):
        assert half_sse(NET, unstack_params(res.params, i), X, Y) < 1e-3


def test_unshuffled_batches_are_visited_in_data_order():
    x = torch.eye(5, dtype=torch.float64)
    y = torch.arange(1.0, 6.0, dtype=torch.float64)
    w0 = {"w": torch.zeros(5, dtype=torch.float64)}
    # batch = round(0.4 · 5) = 2 points: batches {0, 1}, {2, 3}, {4} per epoch
    kw = dict(lr=0.5, batch_fraction=0.4, shuffle=False)
    expected = [
        [0.5, 1.0, 0.0, 0.0, 0.0],
        [0.5, 1.0, 1.5, 2.0, 0.0],
        [0.5, 1.0, 1.5, 2.0, 2.5],
        [0.75, 1.5, 1.5, 2.0, 2.5],  # second epoch starts again from the first batch
    ]
    for t, e in enumerate(expected, start=1):
        res = train(onehot_model, w0, x, y, max_steps=t, **kw)
        torch.testing.assert_close(res.params["w"], torch.tensor(e, dtype=torch.float64), rtol=0, atol=1e-15)
    # the batch loss is the loss on the batch alone (here the per-point gradient is w_j − y_j, unscaled),
    # and mse averages over the batch: half the step of half_sse with 2 points, the full step with 1
    res = train(onehot_model, w0, x, y, max_steps=3, loss="mse", **kw)
    torch.testing.assert_close(res.params["w"], torch.tensor([0.5, 1.0, 1.5, 2.0, 5.0], dtype=torch.float64),
                               rtol=0, atol=1e-15)


# ----- (e) divergence --------------------------------------------------------------------------------------

def test_divergence_stops_the_member_marks_it_and_warns():
    x = torch.eye(4, dtype=torch.float64)
    y = torch.arange(1.0, 5.0, dtype=torch.float64)
    w0 = {"w": torch.zeros(2, 4, dtype=torch.float64)}
    with pytest.warns(RuntimeWarning, match="1 of 2 members diverged"):
        res = train_ensemble(onehot_model, w0, x, y, lr=torch.tensor([1e60, 0.5], dtype=torch.float64),
                             max_steps=50, threshold=1e-8)
    assert res.diverged.tolist() == [True, False]
    assert res.converged.tolist() == [False, True]
    assert not np.isfinite(res.final_loss[0])
    s = res.steps[0]
    assert 0 < s < 50 and np.isfinite(res.loss_curve[0, :s]).all() and not np.isfinite(res.loss_curve[0, s])
    # the healthy member is untouched by its neighbour
    alone = train(onehot_model, {"w": torch.zeros(4, dtype=torch.float64)}, x, y, lr=0.5, max_steps=50,
                  threshold=1e-8)
    torch.testing.assert_close(res.params["w"][1], alone.params["w"], rtol=0, atol=0)
    assert res.steps[1] == alone.steps[0]


def test_divergence_of_a_network_with_a_huge_rate():
    with pytest.warns(RuntimeWarning, match="diverged"):
        res = train(NET, NET.init(0), X, Y, lr=1e4, max_steps=300)
    assert res.diverged.tolist() == [True] and not res.converged[0]
    assert res.steps[0] < 300


def test_no_warning_without_divergence():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = train(NET, NET.init(0), X, Y, lr=0.1, max_steps=5)
    assert not res.diverged.any()


# ----- (f) validation ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_fraction": 0}, "batch_fraction"),
        ({"batch_fraction": 1.5}, "batch_fraction"),
        ({"batch_fraction": -0.5}, "batch_fraction"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": -1e-3}, "threshold"),
        ({"optimizer": "lbfgs"}, "optimizer='lbfgs'"),
        ({"loss": "l1"}, "loss='l1'"),
        ({"lr": 0}, "lr must be"),
        ({"lr": -1.0}, "lr must be"),
        ({"lr": torch.tensor([0.1, 0.1, 0.1, 0.1], dtype=torch.float64)}, "lr has 4 per-member rates"),
        ({"max_steps": -1}, "max_steps"),
        ({"record_every": 0}, "record_every"),
        ({"x_test": XS}, "y_test is required"),
        ({"x_test": XS, "y_test": YS[:3]}, "y_test"),
        ({"x_test": XS[:, :4], "y_test": YS}, "x_test"),
        ({"optimizer_options": {"momentum": 0.9}}, "optimizer_options"),
    ],
)
def test_invalid_arguments_raise_value_errors_naming_them(kwargs, match):
    kw = {"lr": 0.1, "max_steps": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, **kw)


def test_invalid_data_raise_value_errors_naming_them():
    p0 = NET.init(0)
    with pytest.raises(ValueError, match="y must have shape"):
        train(NET, p0, X, Y[:5], lr=0.1, max_steps=2)
    with pytest.raises(ValueError, match="y has shape"):  # (n, 1) against scalar outputs: no broadcasting
        train(NET, p0, X, Y[:, None], lr=0.1, max_steps=2)
    with pytest.raises(ValueError, match="x must"):
        train(NET, p0, X[0], Y, lr=0.1, max_steps=2)
    bad = X.clone()
    bad[0, 0] = math.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        train(NET, p0, bad, Y, lr=0.1, max_steps=2)


def test_gd_linear_matches_train_on_a_linear_model():
    """gd_linear's written-out gradient gives the iterates of `train` (autograd) on the model x ↦ Aθ."""
    from ntkbench.train import gd_linear, train

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(2, 6, 9, generator=gen, dtype=torch.float64)
    y = torch.randn(6, generator=gen, dtype=torch.float64)
    theta0 = torch.randn(2, 9, generator=gen, dtype=torch.float64)
    lr = torch.tensor([0.02, 0.01], dtype=torch.float64)
    res = gd_linear(a, y, theta0, lr, threshold=0.0, max_steps=40)
    assert list(res.steps) == [40, 40]
    for s in range(2):
        ref = train(lambda p, x: x @ p["theta"], {"theta": theta0[s]}, a[s], y, loss="half_sse", lr=float(lr[s]),
                    threshold=None, max_steps=40)
        torch.testing.assert_close(res.params["theta"][s], ref.params["theta"], rtol=1e-12, atol=1e-12)


def test_gd_linear_stops_each_member_at_the_threshold():
    from ntkbench.train import gd_linear

    a = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    y = torch.ones(3, dtype=torch.float64)
    res = gd_linear(a, y, torch.zeros(2, 3, dtype=torch.float64), torch.tensor([0.5, 0.1]), threshold=1e-3,
                    max_steps=1000)
    assert res.converged.all() and res.steps[0] < res.steps[1]
    assert (res.final_loss < 1e-3).all()
    with pytest.raises(ValueError, match="theta0"):
        gd_linear(a, y, torch.zeros(3), 0.1, threshold=0.0, max_steps=1)


# ----- (g) the in-place, compacting, chunked trainer against the pure-step reference ---------------------

TRAIN_MODULE = sys.modules["ntkbench.train"]


def reference_run(model, p0, x, y, *, member, n_members, loss="half_sse", optimizer="gd", lr, max_steps,
                  threshold=None, batch_fraction=1.0, shuffle=True, seed=0, optimizer_options=None):
    """One member, a straightforward loop: pure ``opt.step``, no vmap, no buffers, no masks. The permutations
    are the ensemble's stream: at every epoch start an (n_members, n) draw, of which this member takes its row.
    Returns (params, steps, {t: full training loss at the evaluations})."""
    loss_fn = get_loss(loss)
    opt = get_optimizer(optimizer, lr, **(optimizer_options or {}))
    n = x.shape[0]
    batch = max(1, round(batch_fraction * n))
    per_epoch = math.ceil(n / batch)
    gen = torch.Generator().manual_seed(seed)
    orders = [torch.argsort(torch.rand(n_members, n, generator=gen), dim=1) if shuffle else torch.arange(n)[None]
              for _ in range(max_steps // per_epoch + 1)]

    def objective(p, xb, yb):
        return loss_fn(model(p, xb), yb)

    p, state, curve = dict(p0), opt.init(p0), {}
    for t in range(max_steps + 1):
        if batch >= n or t % per_epoch == 0:
            value = float(objective(p, x, y))
            curve[t] = value
            if not math.isfinite(value) or (threshold is not None and value < threshold):
                return p, t, curve
        if t == max_steps:
            break
        k = t % per_epoch
        idx = orders[t // per_epoch][member if shuffle else 0, k * batch:(k + 1) * batch]
        p, state = opt.step(p, grad(objective)(p, x[idx], y[idx]), state)
    return p, max_steps, curve


def assert_matches_reference(res, model, members, x, y, lrs, **kw):
    for i, p0 in enumerate(members):
        p, steps, curve = reference_run(model, p0, x, y, member=i, n_members=len(members), lr=float(lrs[i]), **kw)
        assert res.steps[i] == steps, (i, res.steps, steps)
        assert_params_close(unstack_params(res.params, i), p, tol=1e-10)
        for t, value in curve.items():
            j = res.record_steps.tolist().index(t)
            assert res.loss_curve[i, j] == pytest.approx(value, rel=1e-10, abs=1e-14)
        assert np.isnan(res.loss_curve[i, res.record_steps > steps]).all()


# chunk sizes: one member a chunk, two (a partial last chunk), all members in one chunk
CHUNKS = {"chunk1": 1, "chunk2": 2, "whole": None}


@pytest.fixture(params=list(CHUNKS))
def chunk(request, monkeypatch):
    members = CHUNKS[request.param]
    if members is not None:
        member_bytes = sum(v[0].numel() * 8 for v in init_ensemble(NET, [0]).values())
        monkeypatch.setattr(TRAIN_MODULE, "_CHUNK_BYTES", members * member_bytes)
    return request.param


@pytest.mark.parametrize(("optimizer", "rates"), [
    ("gd", [0.3, 0.45, 0.6, 0.2, 0.5]),
    ("adagrad", [0.05, 0.08, 0.12, 0.03, 0.1]),
    ("adam", [0.004, 0.008, 0.012, 0.006, 0.01]),
    ("rmsprop", [0.002, 0.004, 0.006, 0.003, 0.005]),
])
def test_trainer_equals_the_pure_step_loop_full_batch(optimizer, rates, chunk):
    """Members stop at different steps (per-member rates, a threshold): the in-place trainer that drops them
    from the batch gives the pure-step loop's parameters, steps and loss curves to round-off."""
    seeds = [0, 1, 2, 3, 4]
    lrs = torch.tensor(rates, dtype=torch.float64)
    kw = dict(optimizer=optimizer, max_steps=150, threshold=2e-3)
    res = train_ensemble(NET, init_ensemble(NET, seeds), X, Y, lr=lrs, **kw)
    assert len(set(res.steps.tolist())) >= 3, res.steps  # the members stop at different times
    assert res.converged.sum() >= 2
    assert_matches_reference(res, NET, [NET.init(s) for s in seeds], X, Y, lrs, **kw)


@pytest.mark.parametrize("shuffle", [True, False])
def test_trainer_equals_the_pure_step_loop_minibatch(shuffle, chunk):
    """SGD on batches of 2 of 6 points: members stop at different epochs; the dropped members do not change the
    permutation stream of the others (drawn for all S members, then indexed)."""
    seeds = [0, 1, 2, 3]
    lrs = torch.tensor([0.5, 0.25, 0.8, 0.4], dtype=torch.float64)
    kw = dict(optimizer="sgd", max_steps=240, threshold=5e-3, batch_fraction=1 / 3, shuffle=shuffle, seed=5)
    res = train_ensemble(NET, init_ensemble(NET, seeds), X, Y, lr=lrs, **kw)
    assert len(set(res.steps.tolist())) >= 2, res.steps
    assert (res.steps[res.converged] % 3 == 0).all()
    assert_matches_reference(res, NET, [NET.init(s) for s in seeds], X, Y, lrs, **kw)


def test_trainer_equals_the_pure_step_loop_adam_minibatch(chunk):
    seeds = [0, 1, 2]
    lrs = torch.tensor([0.01, 0.004, 0.02], dtype=torch.float64)
    kw = dict(optimizer="adam", max_steps=120, threshold=2e-2, batch_fraction=0.5, seed=3)
    res = train_ensemble(NET, init_ensemble(NET, seeds), X, Y, lr=lrs, **kw)
    assert_matches_reference(res, NET, [NET.init(s) for s in seeds], X, Y, lrs, **kw)


def test_divergent_member_in_a_chunk_leaves_its_neighbours_alone(chunk):
    lrs = torch.tensor([0.1, 1e3, 0.2], dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="1 of 3 members diverged"):
        res = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=lrs, max_steps=40)
    assert res.diverged.tolist() == [False, True, False]
    assert_matches_reference(res, NET, [NET.init(s) for s in SEEDS], X, Y, lrs, max_steps=40)


def test_test_curve_between_records_is_taken_before_the_update(chunk):
    """With a test set and record_every > 1, a member that stops between records triggers a record of every
    member's test loss at that step: at the parameters before that step's update."""
    lrs = torch.tensor([0.3, 0.5, 0.4], dtype=torch.float64)
    kw = dict(max_steps=200, threshold=1e-3, x_test=XS, y_test=YS)
    every = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=lrs, **kw)
    sparse = train_ensemble(NET, init_ensemble(NET, SEEDS), X, Y, lr=lrs, record_every=25, **kw)
    assert set(every.steps.tolist()) <= set(sparse.record_steps.tolist())
    np.testing.assert_allclose(sparse.test_curve, every.test_curve[:, sparse.record_steps], rtol=1e-12)
    np.testing.assert_allclose(sparse.loss_curve, every.loss_curve[:, sparse.record_steps], rtol=1e-12)
    assert_params_close(sparse.params, every.params, tol=1e-13)


def test_input_parameters_are_not_modified_and_results_do_not_alias_them():
    p0 = init_ensemble(NET, SEEDS)
    copy = {k: v.clone() for k, v in p0.items()}
    res = train_ensemble(NET, p0, X, Y, optimizer="adam", lr=0.01, max_steps=5)
    assert_params_close(p0, copy, tol=0)
    assert all(res.params[k].data_ptr() != p0[k].data_ptr() for k in p0)


# ----- (h) explicit rates for every loss and optimizer ------------------------------------------------------

LOSSES = [Loss("mse"), Loss("half_sse"), Loss("lp", p=4), Loss("hinge"), Loss("square_hinge", margin=0.5),
          Loss("cross_entropy")]


@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: l.name)
@pytest.mark.parametrize("optimizer", ["gd", "sgd", "adagrad", "adam", "rmsprop"])
def test_per_member_rates_for_every_loss_and_optimizer(loss, optimizer):
    """train_ensemble with an lr tensor (S,) is S separate runs, also for the losses lr_from_ntk rejects."""
    labels = torch.sign(Y)
    rates = {"gd": [0.03, 0.1], "sgd": [0.03, 0.1], "adagrad": [0.02, 0.05]}.get(optimizer, [0.002, 0.01])
    kw = dict(loss=loss, optimizer=optimizer, max_steps=12,
              batch_fraction=0.5 if optimizer == "sgd" else 1.0, shuffle=False)
    res = train_ensemble(NET, init_ensemble(NET, [3, 4]), X, labels, lr=torch.tensor(rates, dtype=torch.float64), **kw)
    for i, (s, r) in enumerate(zip([3, 4], rates, strict=True)):
        alone = train(NET, NET.init(s), X, labels, lr=r, **kw)
        assert_params_close(unstack_params(res.params, i), alone.params)
        np.testing.assert_allclose(res.loss_curve[i], alone.loss_curve[0], rtol=1e-12)
    assert (res.final_loss < res.loss_curve[:, 0]).all()


@pytest.mark.parametrize("c", [0, -1, -0.5, math.nan, math.inf, "1", None, True])
def test_lr_from_ntk_rejects_c_that_is_not_positive(c):
    with pytest.raises(ValueError, match="c must be a finite number > 0"):
        lr_from_ntk(NET, NET.init(0), X, c=c)


# ----- (i) monotone_lr: 001 App. D's rule for adaptive methods ------------------------------------------------

GRID = tuple(10.0 ** (e / 2) for e in range(-8, 3))  # 1e-4 … 10, two rates per decade


def _monotone(res):
    return TRAIN_MODULE._is_monotone(res.loss_curve, 1e-12)


@pytest.mark.parametrize(("optimizer", "loss"), [("adam", "half_sse"), ("adagrad", "half_sse"), ("gd", "half_sse"),
                                            ("adam", Loss("lp", p=4)), ("gd", "cross_entropy")],
                         ids=["adam", "adagrad", "gd", "adam-lp4", "gd-cross_entropy"])
def test_monotone_lr_is_the_largest_monotone_rate_of_the_grid(optimizer, loss):
    y = torch.sign(Y) if loss == "cross_entropy" else Y
    p0 = init_ensemble(NET, SEEDS)
    rates = monotone_lr(NET, p0, X, y, loss=loss, optimizer=optimizer, grid=GRID, probe_steps=30)
    assert rates.shape == (3,) and rates.dtype == torch.float64
    kw = dict(loss=loss, optimizer=optimizer, max_steps=30)
    at = train_ensemble(NET, p0, X, y, lr=rates, **kw)
    assert _monotone(at).all()
    assert (at.final_loss < at.loss_curve[:, 0]).all()
    where = [GRID.index(r) for r in rates.tolist()]  # rates of the grid
    above = torch.tensor([GRID[min(i + 1, len(GRID) - 1)] for i in where], dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        up = train_ensemble(NET, p0, X, y, lr=above, **kw)
    has_next = np.array([i + 1 < len(GRID) for i in where])
    assert has_next.any() and not _monotone(up)[has_next].any()  # the next rate up is not monotone


def test_monotone_lr_default_grid_and_errors():
    assert len(LR_GRID) == 25 and LR_GRID[0] == pytest.approx(1e-5) and LR_GRID[-1] == pytest.approx(10.0)
    ratios = np.array(LR_GRID[1:]) / np.array(LR_GRID[:-1])
    np.testing.assert_allclose(ratios, 10**0.25, rtol=1e-12)  # geometric
    p0 = init_ensemble(NET, [0, 1])
    with pytest.raises(ValueError, match=r"no rate of grid .* members \[0, 1\]"):
        monotone_lr(NET, p0, X, Y, loss="half_sse", optimizer="gd", grid=[1e4, 1e5], probe_steps=5)
    for bad in ([], [0.1, -1.0], [math.nan], ["fast"]):
        with pytest.raises(ValueError, match="grid must be"):
            monotone_lr(NET, p0, X, Y, loss="half_sse", optimizer="gd", grid=bad)
    with pytest.raises(ValueError, match="probe_steps"):
        monotone_lr(NET, p0, X, Y, loss="half_sse", optimizer="gd", probe_steps=0)
    with pytest.raises(ValueError, match="rtol"):
        monotone_lr(NET, p0, X, Y, loss="half_sse", optimizer="gd", rtol=-1.0)
    with pytest.raises(ValueError, match="stacked"):
        monotone_lr(NET, NET.init(0), X, Y, loss="half_sse", optimizer="gd")


def test_monotone_lr_slack_forgives_round_off_on_a_plateau():
    curve = np.array([[1.0, 0.5, 0.5 * (1 + 1e-13), 0.4], [1.0, 0.5, 0.5 * (1 + 1e-9), 0.4], [1.0, np.nan, 0.1, 0.0]])
    assert TRAIN_MODULE._is_monotone(curve, 1e-12).tolist() == [True, False, False]


def test_first_step_preconditioner_is_adagrads_first_denominator_floored_and_its_rate_is_stable():
    from ntkbench.train import first_step_preconditioner, preconditioned_lr

    net = MLP(d_in=3, width=12, depth=2)
    gen = torch.Generator().manual_seed(3)
    x, y = torch.randn(6, 3, dtype=torch.float64, generator=gen), torch.randn(6, dtype=torch.float64, generator=gen)
    p0 = init_ensemble(net, [0, 1])
    scale = first_step_preconditioner(net, p0, x, y, floor=0.1)
    for s in (0, 1):
        one = {k: v[s] for k, v in p0.items()}
        g = torch.func.grad(lambda q: 0.5 * (net(q, x) - y).pow(2).sum())(one)
        flat = torch.cat([v.reshape(-1) for v in g.values()])
        low = 0.1 * flat.pow(2).mean().sqrt()
        for k in g:  # 1/|g0| where |g0| is above the floor, 1/floor below it
            assert torch.allclose(scale[k][s], 1.0 / torch.maximum(g[k].abs(), low), rtol=1e-12)
        lr = preconditioned_lr(net, one, x, {k: v[s] for k, v in scale.items()}, c=1.9)
        assert lr > 0
    res = train_ensemble(net, p0, x, y, optimizer="preconditioned", lr=0.5 * lr / 1.9,
                         optimizer_options={"scale": scale}, threshold=1e-8, max_steps=50000, record_every=50000,
                         batch_fraction=0.5)
    assert not res.diverged.any()
    for bad in (0.0, 1.5, True):
        with pytest.raises(ValueError, match="floor must be"):
            first_step_preconditioner(net, p0, x, y, floor=bad)


@pytest.mark.parametrize(("depth", "bias"), [(2, "zero"), (3, "normal"), (4, "none")])
def test_the_flat_jacobian_per_input_is_the_batch_jacobian_to_round_off(depth, bias):
    """The per-input Jacobian (O(n P)) equals the batch output's Jacobian (O(n² P)) to the last bits: a product of
    one row and of n rows may round differently (measured: 1 ulp in 12 of 1 078 entries)."""
    from ntkbench.train import _flat_jacobian

    net = MLP(d_in=5, width=9, depth=depth, bias=bias)
    p = net.init(3)
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    batch = jacrev(lambda q: net(q, x))(p)
    expected = torch.cat([batch[k].reshape(7, -1) for k in p], dim=1)
    got = _flat_jacobian(net, p, x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-14, atol=1e-15 * float(expected.abs().max()))
