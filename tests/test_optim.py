"""Family B's building blocks (ntkbench.claims.optim): the runs of a comparison point, the adaptive rate, and the
closed forms the claims compare with — exact identities of the linearized model tested exactly. The claims
themselves are tested through the registry (tests/test_claims.py)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from ntkbench import MLP
from ntkbench.experiments import optim as optim_exp
from ntkbench.harness.registry import get
from ntkbench.train import adaptive_lr, train, train_ensemble

GEN = torch.Generator().manual_seed(5)
PHI_X = torch.randn(1, 30, generator=GEN, dtype=torch.float64)  # one training point, 30 features
PHI_T = torch.randn(7, 30, generator=GEN, dtype=torch.float64)


def _linear(p, feats):
    return feats @ p["theta"]


def test_runs_cover_every_optimizer_split_and_shuffle_once():
    point = {"optimizers": ("sgd", "adagrad", "adam"), "batch_optimizers": ("sgd", "adagrad"), "splits": (0.5, 0.2),
             "shuffle": "both"}
    got = optim_exp.runs(point)
    assert got[:5] == [("sgd", 0.2, True), ("sgd", 0.2, False), ("sgd", 0.5, True), ("sgd", 0.5, False),
                       ("sgd", 1.0, True)]  # split 1 (full batch) is always run, once: the order does not matter
    assert ("adam", 1.0, True) in got and not any(o == "adam" and s < 1 for o, s, _ in got)
    assert len(got) == len(set(got)) == 11
    assert optim_exp.runs({**point, "shuffle": "no"})[0] == ("sgd", 0.2, False)


def test_adagrad_on_one_point_follows_the_sign_of_the_gradient_exactly():
    """001 Example 1 for a linear model: every AdaGrad step moves θ along sign(g), so at any step the test outputs
    are f0(x) + φ(x)·sign(g) (f_T(X) − f0(X)) / ‖g‖₁ — the identity adagrad_one_point's closed form rests on."""
    theta0 = torch.randn(30, generator=GEN, dtype=torch.float64)
    y = torch.tensor([2.0], dtype=torch.float64)
    res = train(_linear, {"theta": theta0}, PHI_X, y, optimizer="adagrad", lr=0.01, max_steps=25)
    theta = res.params["theta"]
    g = PHI_X[0]
    moved = float(PHI_X @ theta - PHI_X @ theta0)
    eq9 = PHI_T @ theta0 + (PHI_T @ torch.sign(g)) * moved / g.abs().sum()
    # up to AdaGrad's ε = 1e-10 in √G + ε: a relative change of ε/|g_i r_t| ≈ 1e-10 per step
    torch.testing.assert_close(PHI_T @ theta, eq9, rtol=1e-8, atol=1e-10)
    gd_form = PHI_T @ theta0 + (PHI_T @ g) * moved / g.pow(2).sum()
    assert (PHI_T @ theta - gd_form).norm() > 0.1 * (gd_form - PHI_T @ theta0).norm()  # D = 1: another function


def test_adaptive_lr_is_c_over_the_first_steps_adaptive_kernel():
    net = MLP(d_in=3, width=16, depth=2, sigma=1.0, bias="none")
    p = net.init(0)
    x = torch.nn.functional.normalize(torch.randn(4, 3, generator=GEN, dtype=torch.float64), dim=1)
    y = torch.randn(4, generator=GEN, dtype=torch.float64)
    jac = torch.func.jacrev(lambda q: net(q, x))(p)
    j = torch.cat([v.reshape(4, -1) for v in jac.values()], dim=1)
    g0 = j.T @ (net(p, x) - y)
    assert (g0 == 0).any()  # dead units: their coordinates never move, D₀ = 0 there (not 1/0)
    d0 = torch.where(g0 == 0, torch.zeros_like(g0), 1 / g0.abs())
    lam = torch.linalg.eigvalsh(j @ torch.diag(d0) @ j.T)[-1]
    assert adaptive_lr(net, p, x, y, c=0.5) == pytest.approx(0.5 / float(lam), rel=1e-12)
    one = adaptive_lr(net, p, x[:1], y[:1], c=0.5)  # N = 1: c·|r0| / ‖g‖₁
    g = torch.cat([v.reshape(-1) for v in torch.func.jacrev(lambda q: net(q, x[:1])[0])(p).values()])
    assert one == pytest.approx(0.5 * abs(float(y[0] - net(p, x[:1])[0])) / float(g.abs().sum()), rel=1e-12)
    with pytest.raises(ValueError, match="c must be a finite number > 0"):
        adaptive_lr(net, p, x, y, c=0.0)


def test_adaptive_rate_keeps_the_linearized_adagrad_stable_and_converging():
    """At c < 2 of adaptive_lr, AdaGrad on the linear model decays its loss monotonically to the threshold."""
    phi = torch.randn(6, 40, generator=GEN, dtype=torch.float64)
    y = torch.randn(6, generator=GEN, dtype=torch.float64)
    theta0 = torch.zeros(1, 40, dtype=torch.float64)

    rate = adaptive_lr(_linear, {"theta": theta0[0]}, phi, y, c=0.5)  # any model(params, x)
    res = train_ensemble(_linear, {"theta": theta0}, phi, y, optimizer="adagrad", lr=rate, threshold=1e-8,
                         max_steps=200000)
    curve = res.loss_curve[0][~pd.isna(res.loss_curve[0])]
    assert res.converged.all() and (curve[1:] <= curve[:-1] * (1 + 1e-12)).all()


def test_underparameterized_fits_respect_the_tolerance_bound_and_the_overparameterized_do_not():
    """001 App. A at smoke size: P < N gives one minimizer (every run within the tolerance's bound); P > N does not."""
    claim = get("optim/underparam-unique")
    point = claim.points(claim.resolve("smoke"))[0]
    from ntkbench.harness.runner import Context

    rows = optim_exp.underparameterized_fits(point, Context())
    assert rows["converged"].all() and (rows["n_params"] < rows["n_train"]).all()
    assert rows["dev_ratio"].max() <= 1.0 + 1e-9
    assert set(rows["optimizer"]) == {"gd", "adagrad", "adam"}
    over = optim_exp.underparameterized_fits({**point, "width": 40, "threshold": 1e-4, "optimizers": ("gd",)},
                                             Context())
    assert (over["n_params"] > over["n_train"]).all() and over["dev_ratio"].min() > 2  # θ0 stays in the null space
    # 001 App. A's ridge term: one minimizer at P > N too, every run within the tolerance's bound of it
    ridge = optim_exp.underparameterized_fits({**point, "width": 40, "threshold": 1e-6, "optimizers": ("gd", "adam"),
                                           "ridge": 0.01}, Context())
    assert ridge["converged"].all() and ridge["dev_ratio"].max() <= 1.0 + 1e-9


def test_a_comparison_point_runs_the_frozen_and_the_linearized_adagrad():
    params = get("optim/adaptive-batch-dependence").resolve("smoke")
    point = next(p for p in get("optim/adaptive-batch-dependence").points(params))
    ctx = type("Ctx", (), {"dtype": torch.float64, "device": torch.device("cpu")})()
    d = optim_exp.compare_optimizers(point, ctx)
    assert set(d["optimizer"]) == {"gd", "sgd", "adagrad", "adam", "adagrad-frozen", "adagrad-norm", "adagrad-lin"}
    assert (d.loc[d["optimizer"] == "adagrad-norm", "split"] == 1.0).all()  # full batch only (not a batch optimizer)
    assert d["converged"].all()
    lin = d["optimizer"] == "adagrad-lin"
    assert (d.loc[lin, "split"] == 1.0).all() and lin.sum() == params["seeds"]
    full = (d["optimizer"] == "adagrad") & (d["split"] == 1.0)
    assert d.loc[full, "dist_lin"].notna().all() and d["dist_lin"].notna().sum() == full.sum()
    assert (d.loc[full, "dist_lin"] > 0).all()  # at m = 32 the net is still far from it (0.07–0.15)
    frozen = d[d["optimizer"] == "adagrad-frozen"]
    assert sorted(frozen["split"].unique()) == sorted({*params["splits"], 1.0})


def test_limit_checks_are_made_only_at_depths_whose_sweep_reaches_the_asymptotic_width():
    from ntkbench.claims.optim import ASYMPTOTIC_WIDTH

    limit_checks = {"optim/adagrad-differs": ("lin-slope", "gap-limit"),
                    "optim/adaptive-batch-dependence": ("spread-slope",), "optim/sgd-equals-gd": ("slope",)}
    for claim_id, bases in limit_checks.items():
        claim = get(claim_id)
        for profile, depths in (("ci", [2]), ("paper", [2, 3])):  # ci: L = 3 stops at m = 1000; paper: at 2000
            names = {e.name for e in claim.expect(claim.resolve(profile))}
            assert {n for n in names if n.split("[")[0] in bases} == {f"{b}[L={L}]" for b in bases for L in depths}
        deep = claim.resolve("ci", {"max_width": (8000, ASYMPTOTIC_WIDTH)})  # a user's wider L = 3 sweep: made there
        assert {e.name for e in claim.expect(deep)} >= {f"{b}[L=3]" for b in bases}
    ci = {e.name for e in get("optim/adagrad-differs").expect(get("optim/adagrad-differs").resolve("ci"))}
    assert {"gap-ratio[L=2]", "gap-ratio[L=3]"} <= ci  # the directional checks stay at every depth
