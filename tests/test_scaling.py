"""Family D's building blocks (ntkbench.claims.scaling): the sign-step rate, the expected exponent in N, the
ensemble's disjoint groups and the checks' edge cases. The claims themselves are tested through the registry
(tests/test_claims.py)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from ntkbench import MLP
from ntkbench.claims import checks, scaling
from ntkbench.experiments import scaling as scaling_exp
from ntkbench.harness.registry import get
from ntkbench.train import sign_step_lr

CTX = SimpleNamespace(dtype=torch.float64, device=torch.device("cpu"))


def test_sign_step_lr_is_c_over_the_mean_l1_norm_of_the_output_gradient():
    net = MLP(d_in=3, width=7, depth=3)
    p = net.init(1)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    norms = []
    for xi in x:
        q = {k: v.clone().requires_grad_(True) for k, v in p.items()}
        net(q, xi[None])[0].backward()
        norms.append(sum(float(v.grad.abs().sum()) for v in q.values()))
    assert sign_step_lr(net, p, x, c=0.3) == pytest.approx(0.3 / np.mean(norms), rel=1e-12)
    for bad in (0, -1.0, math.inf, True):
        with pytest.raises(ValueError, match="c must be"):
            sign_step_lr(net, p, x, c=bad)


def test_a_sign_step_moves_no_output_by_more_than_c_on_average():
    """The rule's premise: one step η·sign(g) moves f(x) by at most η‖∇_θ f(x)‖₁ (to first order)."""
    net = MLP(d_in=4, width=50, depth=3)
    p = net.init(0)
    x = torch.randn(20, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    eta = sign_step_lr(net, p, x, c=1e-4)
    q = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    net(q, x).sum().backward()
    moved = net({k: v + eta * q[k].grad.sign() for k, v in p.items()}, x) - net(p, x)
    assert float(moved.abs().mean()) <= 1e-4 * (1 + 1e-6)


def test_n_slope_is_two_for_deep_nets_and_one_for_a_single_hidden_layer():
    deep = {"widths": (1000, 2000, 4000), "depth": 3, "expected_depth": 0, "pca": 10, "bottleneck": 0}
    assert scaling.n_slope(deep) == pytest.approx(2.0, abs=0.02)
    assert scaling.n_slope({**deep, "depth": 2}) == pytest.approx(1.0, abs=1e-3)
    assert scaling.n_slope({**deep, "depth": 2, "expected_depth": 3}) == scaling.n_slope(deep)
    # the bottleneck of a control does not change what the theory's nets predict
    assert scaling.n_slope({**deep, "bottleneck": 24}) == scaling.n_slope(deep)
    small = {**deep, "widths": (32, 64, 128, 256)}
    assert 1.7 < scaling.n_slope(small) < 1.95  # N = h² + 13h + 1 is not yet ∝ h²
    assert scaling.expected_n_exponent(-0.5)(None, small) == pytest.approx(-0.5 / scaling.n_slope(small))


def test_scaling_net_has_orthogonal_weights_zero_biases_and_the_bottleneck():
    net = scaling_exp.scaling_net({"depth": 4, "bottleneck": 5}, CTX, d_in=3, width=8)
    assert net.hidden == (8, 8, 5) and net.init_scheme == "orthogonal" and net.bias == "zero"
    w = net.init(0)["W2"]
    assert torch.allclose(w @ w.T / 8, torch.eye(8, dtype=torch.float64), atol=1e-12)


def _point(**kw):
    base = dict(dataset="mnist_parity", n_train=30, n_test=60, pca=5, data_seed=0, seed_offset=0, depth=3,
                members=6, bottleneck=0, centered=True, loss="square_hinge", margin=1.0, optimizer="adam", lr=0.3,
                max_steps=3000, width=12, group_sizes=(1, 2, 3), groupings=2)
    return {**base, **kw}


def test_ensemble_groups_are_disjoint_and_delta_is_distance_over_gradient():
    d = scaling_exp.ensemble_groups(_point(), CTX)
    g = d[d["n"] > 0]
    assert g.groupby("n").size().to_dict() == {1: 12, 2: 6, 3: 4}  # two groupings of the 6 members
    assert g.groupby(["n", "grouping"]).size().to_dict()[(2, 1)] == 3
    assert all(part["seed"].is_unique for _, part in g.groupby("n"))  # a group's label is unique within its n
    # a grouping covers every member once: at n = 1 both orders give the same six distances
    ones = g[g["n"] == 1]
    assert sorted(ones[ones["grouping"] == 0]["distance"]) == pytest.approx(
        sorted(ones[ones["grouping"] == 1]["distance"]))
    assert (d[d["n"] == 0]["converged"]).all() and len(d[d["n"] == 0]) == 6
    assert (g["delta"] > 0).all() and np.allclose(g["delta"], g["distance"] / g["grad"], rtol=1e-14, atol=0)
    # pairs partition the members: by Minkowski's inequality their mean ‖∇f^2‖_μ is at most the members' mean
    grads = g.groupby("n")["grad"].mean()
    assert grads[2] <= grads[1]
    with pytest.raises(ValueError, match="group_sizes"):
        scaling_exp.ensemble_groups(_point(group_sizes=(1, 4)), CTX)


def test_fluctuations_rows_match_their_definitions():
    point = {**_point(), "kernel_points": 5}
    d = scaling_exp.fluctuations(point, CTX)
    assert len(d) == 6 and d["converged"].all() and (d["train_loss"] == 0).all()
    assert np.allclose(d["excess_err"], d["test_err"] - d["ens_err"])
    assert np.allclose(d["delta_est"], d["out_dev"] / d["grad_norm"])
    assert np.allclose(d["excess_pair"], 2 * (d["test_err"] - d["pair_err"]))
    assert (d["kernel_dev"] > 0).all() and (d["kernel_change"] > 0).all()


def test_pair_errors_average_every_other_member():
    y = torch.tensor([1.0, 1.0, -1.0])
    f = torch.tensor([[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-3.0, 3.0, -1.0]])  # errors 1/3, 1/3, 1/3
    # pair averages: (0,1) [1, 0, 0] -> 2/3 wrong (sign 0 counts as wrong); (0,2) [-1, 2, 0] -> 2/3; (1,2) [-1, 1, -1]
    # -> 1/3; member i's mean over its two pairs
    assert scaling_exp._pair_errors(f, y).tolist() == pytest.approx([2 / 3, 1 / 2, 1 / 2])
    g = torch.randn(7, 50, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    yg = torch.where(torch.arange(50) % 2 == 0, 1.0, -1.0).double()
    every = [float(scaling_exp._errors((g[i] + g[j]) / 2, yg)) for i in range(7) for j in range(7) if i < j]
    assert float(scaling_exp._pair_errors(g, yg).mean()) == pytest.approx(np.mean(every), abs=1e-15)  # the U-statistic
    copies = g[:1].repeat(16, 1)
    # exactly: no excess from round-off
    assert (scaling_exp._pair_errors(copies, yg) == scaling_exp._errors(copies, yg)).all()
    with pytest.raises(ValueError, match="members"):
        scaling_exp._pair_errors(g[:1], yg)


def test_excess_slope_refuses_a_non_positive_mean():
    d = pd.DataFrame({"n_params": [100, 100, 400, 400, 1600, 1600], "excess_pair": [0.02, 0.01, 0.0, -0.01, 0.004,
                                                                                     0.002], "seed": [0, 1] * 3})
    d["excess_err"] = d["excess_pair"]
    m = scaling._excess_slope(d, {})
    assert math.isnan(m.value) and "≤ 0" in m.method
    ok = d.assign(excess_pair=[0.02, 0.02, 0.01, 0.01, 0.005, 0.005])
    assert scaling._excess_slope(ok, {}).value == pytest.approx(-0.5)


def test_converged_reports_a_zero_threshold_as_training_to_exactly_zero():
    d = pd.DataFrame({"converged": [True, False], "train_loss": [0.0, 0.25], "threshold": [0.0, 0.0]})
    m = checks.converged().fit(d, {})["not-converged"]
    assert m.value == 1 and "exactly 0" in m.method and "0.25" in m.method and "1/2 trained" in m.method
    groups = pd.concat([d, pd.DataFrame({"n": [4], "test_err": [0.1]})], ignore_index=True)  # a summary row
    assert "1/2 trained" in checks.converged().fit(groups, {})["not-converged"].method


def _kernel_rows(change_exponent: float, widths=(64, 128, 256, 512), members=16, seed=0) -> pd.DataFrame:
    """Synthetic rows of the kernel's change ΔΘ/Θ = 100 h^p (1.6 at h = 64 under p = −1), member noise 1 %."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame([{"width": h, "seed": s, "kernel_change": 100 * h ** change_exponent *
                          math.exp(0.01 * rng.standard_normal())} for h in widths for s in range(members)])


def test_the_kernel_change_is_fitted_over_its_lazy_range():
    d = _kernel_rows(-1.0)
    kept = sorted(scaling.lazy_rows(d, {"lazy_change": 0.5})["width"].unique())
    assert kept == [256, 512]  # ΔΘ/Θ = 1.6, 0.78 at h = 64, 128: not lazy
    assert sorted(scaling.lazy_rows(d, {"lazy_change": 1e-6})["width"].unique()) == [256, 512]  # the two widest


@pytest.mark.parametrize(("exponent", "passes"), [(-1.0, True), (-0.5, False), (0.0, False)])
def test_change_slope_passes_under_the_theory_and_fails_under_its_alternatives(exponent, passes):
    claim = get("scaling/ntk-fluctuations")
    params = claim.resolve("ci")
    check = next(c for c in claim.checks if [e.name for e in c.expect(params)] == ["change-slope"])  # the registered
    expect = check.expect(params)[0]
    values = [check.fit(_kernel_rows(exponent, seed=s), params)["change-slope"].value for s in range(10)]
    assert all(expect.passes(v) for v in values) if passes else not any(expect.passes(v) for v in values)


def test_one_hidden_layer_lands_at_its_own_exponent():
    claim = get("scaling/output-fluctuations")
    control = next(k for k in claim.controls if k.name == "one-hidden-layer")
    params = claim.resolve("ci", control.overrides)
    at = control.lands["slope"].at(params)
    assert at == pytest.approx(-0.5, abs=0.02) and at == pytest.approx(scaling.shallow_exponent(params, widest=True))
    deep = next(e for e in claim.expect(params) if e.name == "slope")  # judged by the deep net's exponent
    assert not deep.passes(at) and deep.expected == pytest.approx(-0.27, abs=0.02)


def _output_rows(params, narrow_factor: float = 1.0, change_at_widest: float = 0.3) -> pd.DataFrame:
    """‖f − f̄‖ = h^-1/2 exactly at the widest ``asymptotic_widths`` widths and ``narrow_factor`` times that below
    (the non-lazy narrow widths of the ci data), ΔΘ/Θ = ``change_at_widest`` there and 1.5 below."""
    widest = scaling.widest_widths(params)
    ctx = SimpleNamespace(dtype=torch.float64, device="cpu")
    rows = []
    for h in params["widths"]:
        n = scaling_exp.scaling_net({"depth": params["depth"], "bottleneck": 0}, ctx, scaling._d_in(params), h).n_params
        for s in range(4):
            rows.append({"width": h, "n_params": n, "seed": s, "out_dev": h ** -0.5 * (1 if h in widest else
                         narrow_factor), "kernel_change": change_at_widest if h in widest else 1.5})
    return pd.DataFrame(rows)


def test_output_fluctuations_are_fitted_over_the_widest_widths_with_their_own_expected_exponent():
    claim = get("scaling/output-fluctuations")
    params = claim.resolve("ci")
    assert scaling.widest_widths(params) == [256, 512]
    slope = next(c for c in claim.checks if "slope" in [e.name for e in c.expect(params)])
    expect = next(e for e in claim.expect(params) if e.name == "slope")
    measured = slope.fit(_output_rows(params, narrow_factor=1.6), params)["slope"].value  # narrow widths ignored
    assert measured == pytest.approx(expect.expected, abs=1e-12)  # h^-1/2 is −½/s_N over the same two widths
    assert expect.expected != pytest.approx(scaling.expected_n_exponent(-0.5)(None, params), abs=1e-3)


@pytest.mark.parametrize(("change", "missed"), [(0.3, 0.0), (0.6, 2.0)])
def test_the_fitted_widths_must_be_lazy(change, missed):
    claim = get("scaling/output-fluctuations")
    params = claim.resolve("ci")
    check = next(c for c in claim.checks if [e.name for e in c.expect(params)] == ["not-lazy"])
    (expect,) = check.expect(params)
    got = check.fit(_output_rows(params, change_at_widest=change), params)["not-lazy"]
    assert expect.role == "precondition" and got.value == missed and expect.passes(got.value) == (missed == 0)


def _ensemble_rows(error_power: float, seed: int = 0) -> pd.DataFrame:
    """Synthetic groups of 004 Fig. 4: ε^n = 0.13 + 0.02 n^error_power and δ_n = 0.3 n^-1/2, with small noise."""
    rng = np.random.default_rng(seed)
    rows = [{"n": n, "group": g, "seed": g, "test_err": 0.13 + 0.02 * n ** error_power * (1 + 0.02 *
             rng.standard_normal()), "delta": 0.3 / math.sqrt(n) * (1 + 0.02 * rng.standard_normal())}
            for n in (1, 2, 4, 8, 16, 32) for g in range(256 // n)]
    return pd.DataFrame(rows).assign(ens_err=0.13)


@pytest.mark.parametrize(("power", "passes"), [(-1.0, True), (-0.5, False)])
def test_the_ensembles_error_against_delta2_tells_second_from_first_order(power, passes):
    claim = get("scaling/ensemble")
    params = claim.resolve("ci")
    check = next(c for c in claim.checks if [e.name for e in c.expect(params)] == ["error-vs-delta2"])
    expect = check.expect(params)[0]
    values = [check.fit(_ensemble_rows(power, s), params)["error-vs-delta2"].value for s in range(5)]
    assert all(expect.passes(v) for v in values) if passes else not any(expect.passes(v) for v in values)
    assert values[0] == pytest.approx(-power, abs=0.1)


def test_test_errors_one_hidden_layer_lands_at_the_shallow_nets_own_exponent():
    claim = get("scaling/test-error")
    control = next(k for k in claim.controls if k.name == "one-hidden-layer")
    params = claim.resolve("ci", control.overrides)
    at = control.lands["slope"].at(params)
    assert at == pytest.approx(-1.0, abs=0.02) and at == pytest.approx(2 * scaling.shallow_exponent(params))
    deep = next(e for e in claim.expect(params) if e.name == "slope")  # judged by the deep net's −1/s_N
    assert not deep.passes(at) and deep.expected == pytest.approx(-0.53, abs=0.02)


def test_asymptotic_widths_beyond_the_sweep_is_refused():
    params = {**get("scaling/output-fluctuations").resolve("ci"), "asymptotic_widths": 5}
    with pytest.raises(ValueError, match=r"asymptotic_widths=5 needs at least 5 swept widths"):
        scaling.widest_widths(params)
