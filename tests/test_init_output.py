"""The building blocks of family C (ntkbench/claims/init_output.py): the variants of one θ0, training to a common MSE
threshold under L2 and Lp, the float64 identities at θ0 and the Monte-Carlo mismatch of Thm 3. The claims
themselves run through the registry (tests/test_claims.py)."""

import numpy as np
import pandas as pd
import pytest
import torch

from ntkbench import data
from ntkbench.claims import init_output as C
from ntkbench.experiments import init_output as E
from ntkbench.experiments.trained import outputs
from ntkbench.harness.runner import Context
from ntkbench.kernels import empirical_ntk
from ntkbench.train import init_ensemble

CTX = Context()
POINT = {"dataset": "sin1d", "n_train": 4, "n_test": 50, "pca": 0, "data_seed": 0, "seed_offset": 0, "seeds": 2,
         "threshold": 1e-6, "max_steps": 20000, "lr_c": 1.0, "cap_factor": 4.0, "lr": 0.0, "p": 4.0,
         "lp_cap_factor": 4, "depth": 2, "width": 64, "v_std": 1.0, "scheme": "ntk", "kernel_points": 5, "seed": 0,
         "design": "stratified", "activation": "relu", "loss": "lp", "epsilon": 0.05}


def _net(**kw):
    return E.make_net({**POINT, **kw}, CTX, 1)


@pytest.mark.parametrize("scheme", ["glorot", "ntk"])
def test_variants_start_from_the_same_theta0(scheme):
    net = _net(scheme=scheme, depth=3, width=16, v_std=5.0)
    x = torch.linspace(-1, 1, 7, dtype=torch.float64)[:, None]
    seeds = [0, 1]
    _, p0 = E.variant(net, seeds, "standard")
    asi, q = E.variant(net, seeds, "asi", p0)
    assert torch.count_nonzero(outputs(asi, q, x)) == 0
    for s in range(2):
        th = {k: v[s] for k, v in p0.items()}
        torch.testing.assert_close(empirical_ntk(asi, {k: v[s] for k, v in q.items()}, x, method="jacobian"),
                                   empirical_ntk(net, th, x, method="jacobian"), rtol=1e-12, atol=0)
    doubled, d = E.variant(net, seeds, "doubling", p0)
    torch.testing.assert_close(outputs(doubled, d, x), net.bias_scales[-1] * p0["b3"].expand(-1, 7), rtol=0, atol=1e-12)
    shifted, h = E.variant(net, seeds, "asi-h0", p0)  # ASI with the original's initial output put back
    torch.testing.assert_close(outputs(shifted, h, x), outputs(net, p0, x), rtol=0, atol=0)
    for s in range(2):
        torch.testing.assert_close(empirical_ntk(shifted, {k: v[s] for k, v in h.items()}, x),
                                   empirical_ntk(net, {k: v[s] for k, v in p0.items()}, x), rtol=0, atol=0)
    _, r = E.variant(net, seeds, "rnd", p0)
    assert torch.equal(r["W1"], p0["W1"]) and not torch.equal(r["W1'"], p0["W1"])
    with pytest.raises(ValueError, match="init='ones' is not one of"):
        E.variant(net, seeds, "ones")


def test_glorot_scheme_is_003s_initialization():
    net = _net(scheme="glorot", width=300, v_std=2.0)
    assert net.parametrization == "standard" and net.init_scheme == "glorot"
    w2 = net.init(0)["W2"]
    assert abs(float(w2.std()) / (2.0 * np.sqrt(2 / 301)) - 1) < 0.15


def test_l2_and_l4_reach_the_same_mse_threshold():
    ds = data.load("sin1d", n_train=4, n_test=50, seed=0, design="stratified")
    net = _net()
    seeds = [0, 1]
    p0 = init_ensemble(net, seeds)
    l2 = E.fit_mse(POINT, net, p0, ds.x_train, ds.y_train, seeds)
    lam = E._lam_max(net, p0, ds.x_train)
    l4 = E.fit_lp(POINT, net, p0, ds.x_train, ds.y_train, lam, cap=4 * l2.cap)
    assert l2.converged.all() and l4.converged.all()
    assert (l2.mse < POINT["threshold"]).all() and (l4.mse < POINT["threshold"]).all()
    assert (l4.loss < POINT["threshold"] ** 2).all()  # the Lp stopping rule, which implies the MSE one
    np.testing.assert_allclose(l2.mse, E._mse(net, l2.params, ds.x_train, ds.y_train), rtol=1e-12)
    gap = (outputs(net, l2.params, ds.x_test) - outputs(net, l4.params, ds.x_test)).norm(dim=1)
    init = (outputs(net, p0, ds.x_test) - outputs(net, l2.params, ds.x_test)).norm(dim=1)
    assert (gap < 0.05 * init).all()  # same minimizer to far better than the distance travelled


def test_eps_insensitive_stops_at_the_band():
    ds = data.load("sin1d", n_train=4, n_test=50, seed=0, design="stratified")
    net = _net()
    p0 = init_ensemble(net, [0, 1])
    lam = E._lam_max(net, p0, ds.x_train)
    band = E.fit_second({**POINT, "loss": "eps_insensitive"}, net, p0, ds.x_train, ds.y_train, lam, cap=20000)
    resid = (outputs(net, band.params, ds.x_train) - ds.y_train).abs()
    assert band.converged.all() and (band.loss < POINT["threshold"] ** 2).all()
    assert (resid < 0.05 + 1e-5).all() and resid.max() > 0.04  # at the band's edge, not at the interpolant


def test_doubling_rows_by_role_and_the_unflipped_control():
    rows = E.doubling_kernels({**POINT, "depth": 3, "width": 16, "flip": True}, CTX)
    assert set(rows["role"]) == {"double", "vanish", "bias"}
    assert set(rows[rows["role"] == "vanish"]["param"]) == {"W1", "b1"}
    assert (rows["dev"] <= 1).all() and (rows["out_dev"] <= 1).all()
    same = E.doubling_kernels({**POINT, "depth": 3, "width": 16, "flip": False}, CTX)
    lower = same[same["role"] == "vanish"]["ratio"]
    np.testing.assert_allclose(lower, 4.0, rtol=1e-12)  # the backward signals add: the kernel quadruples


def test_asi_identities_hold_and_rnd_breaks_them():
    asi = E.asi_identities({**POINT, "depth": 3, "width": 16, "init": "asi"}, CTX).iloc[0]
    assert asi["out_max"] == 0 and asi["kernel_dev"] <= 1
    rnd = E.asi_identities({**POINT, "depth": 3, "width": 16, "init": "rnd"}, CTX).iloc[0]
    assert rnd["out_max"] > 0.01 * rnd["out_scale"] and rnd["kernel_dev"] > 1e6


def test_block_mismatch():
    rng = np.random.default_rng(0)
    n = 1024
    noise = pd.DataFrame({"e_f": 1.0 + rng.normal(size=n), "e_0": np.ones(n), "q": np.zeros(n), "width": 8})
    sizes, rms = C._block_mismatch(noise, "full")
    assert list(sizes) == [2**k for k in range(8)]  # at least MC_MIN_BLOCKS = 8 blocks of 1024 draws
    assert abs(np.polyfit(np.log(sizes[:6]), np.log(rms[:6]), 1)[0] + 0.5) < 0.1
    offset = noise.assign(e_f=2.0, q=0.5)  # a constant mismatch: no decay, exactly
    np.testing.assert_allclose(C._block_mismatch(offset, "full")[1], 0.25, rtol=1e-15)
    np.testing.assert_allclose(C._block_mismatch(offset, "zero-output")[1], 0.5, rtol=1e-15)


def test_remainder_share_is_the_finite_width_term_in_standard_errors():
    rng = np.random.default_rng(1)
    n = 64
    cross = rng.normal(size=n)
    exact = pd.DataFrame({"e_0": np.ones(n), "q": np.full(n, 0.5), "cross": cross, "eq6_err": 0.0, "width": 8})
    exact["e_f"] = exact["e_0"] + exact["q"] + exact["cross"]  # Eq. 6 holds exactly: no remainder
    assert C._remainder_share(exact, {}).value == pytest.approx(0.0, abs=1e-12)
    se = cross.std(ddof=1) / np.sqrt(n)
    shifted = exact.assign(e_f=exact["e_f"] - 2 * se)  # a constant remainder of 2 SE (the SE is unchanged)
    assert C._remainder_share(shifted, {}).value == pytest.approx(2.0, rel=1e-12)


def test_recorded_loss_curves_follow_the_same_iterates():
    ds = data.load("sin1d", n_train=4, n_test=50, seed=0, design="stratified")
    net = _net()
    seeds = [0, 1]
    p0 = init_ensemble(net, seeds)
    plain = E.fit_mse(POINT, net, p0, ds.x_train, ds.y_train, seeds)
    x_eval = torch.cat([ds.x_train, ds.x_test])
    rec = E.fit_mse(POINT, net, p0, ds.x_train, ds.y_train, seeds, x_eval=x_eval, checkpoints=12)
    np.testing.assert_array_equal(rec.steps, plain.steps)  # GD has no state: segments give the same run
    torch.testing.assert_close(rec.params["W1"], plain.params["W1"], rtol=0, atol=0)
    curves = E._loss_curves(rec.path, outputs(net, p0, x_eval), ds.y_train, ds.y_test, seeds, init="standard")
    assert set(curves["part"]) == {"curve"} and not curves.duplicated(["seed", "step"]).any()
    for s, one in curves.groupby("seed"):
        i = seeds.index(s)
        start, end = one.iloc[0], one.iloc[-1]
        assert start["step"] == 0 and end["step"] == rec.steps[i]
        assert start["train_mse"] == pytest.approx(float((outputs(net, p0, ds.x_train)[i] - ds.y_train).pow(2).mean()))
        assert end["train_mse"] == pytest.approx(rec.mse[i], rel=1e-12)
        assert end["test_mse"] == pytest.approx(E._mse(net, rec.params, ds.x_test, ds.y_test)[i], rel=1e-12)


def test_profile_rows_are_not_member_rows():
    ds = data.load("sin1d", n_train=4, n_test=50, seed=0, design="stratified")
    prof = E._profile(ds, 7, 64, {"out_f": ds.y_train * 2}, {"out_f": ds.y_test * 2})
    assert list(prof["part"].value_counts().sort_index()) == [50, 4]  # test, train
    np.testing.assert_array_equal(prof.loc[prof["part"] == "train", "x0"], ds.x_train[:, 0].numpy())
    both = pd.concat([pd.DataFrame({"part": "member", "seed": [7], "gap": [0.1]}), prof], ignore_index=True)
    assert list(E.members(both)["seed"]) == [7] and E.members(prof.drop(columns="part")).equals(
        prof.drop(columns="part"))
