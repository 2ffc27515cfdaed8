"""Building blocks of family E (ntkbench.claims.wide, ntkbench.analytic.chapter_kernel): the chapter's nets are the
engine's MLPs, their tangent kernel (11.5.2)/(11.6.3) is the engine's empirical NTK, the closed-form limits
(Examples 11.17, 11.31) equal the engine's recursion and Monte-Carlo integrals, and bad input is refused."""

from __future__ import annotations

import math

import pytest
import torch

from ntkbench.analytic import analytic_nngp, analytic_ntk, chapter_kernel
from ntkbench.claims import wide
from ntkbench.experiments import wide as wide_exp
from ntkbench.kernels import empirical_ntk
from ntkbench.networks import ACTIVATIONS


@pytest.mark.parametrize("init", wide_exp.INITS)
def test_forward_and_tangent_kernel_are_the_engines(init):
    d, n = 3, 37
    x = wide_exp.sphere(5, d, 0)
    w = wide_exp.draw(init, n, d, [3, 4])
    net = wide_exp.engine_net(init, n, d)
    sc = wide_exp.scales(init, n, d)
    for s, seed in enumerate((3, 4)):
        p = net.init(seed)
        assert torch.equal(w["U"][s], p["W1"]) and torch.equal(w["v"][s], p["W2"][0])
        torch.testing.assert_close(wide_exp.forward(w, x, sc)[s], net(p, x), rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(wide_exp.tangent_kernel(w, x, x, sc)[s], empirical_ntk(net, p, x), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_chapter_kernels_equal_the_engines_recursion(activation):
    d = 4
    x = wide_exp.ball(6, d, 1)
    z = wide_exp.ball(3, d, 2)
    lecun = wide_exp.engine_net("lecun", 1000, d, activation)
    ntk = wide_exp.engine_net("ntk", 1000, d, activation)
    torch.testing.assert_close(chapter_kernel(x, z, kernel="lc", activation=activation), analytic_nngp(lecun, x, z))
    torch.testing.assert_close(chapter_kernel(x, z, kernel="ntk", activation=activation), analytic_ntk(ntk, x, z))
    # LeCun: analytic_ntk keeps the O(1) terms, Θ = n K^LC + (1 + xᵀz)E[σ'σ'] + 1
    lc = analytic_ntk(lecun, x, z) / 1000
    torch.testing.assert_close(lc, chapter_kernel(x, z, kernel="lc", activation=activation), atol=5e-3, rtol=0)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_chapter_kernels_match_monte_carlo_integrals(activation):
    d, draws = 3, 400_000
    x = wide_exp.ball(4, d, 3)
    g = torch.Generator().manual_seed(0)
    u = torch.randn(draws, d, generator=g, dtype=torch.float64) / math.sqrt(d)  # u_i ~ N(0, 1/d)
    pre = u @ x.T
    phi, dphi = ACTIVATIONS[activation]
    e_phi = phi(pre).T @ phi(pre) / draws
    e_dphi = dphi(pre).T @ dphi(pre) / draws
    se = 4 / math.sqrt(draws)
    assert (chapter_kernel(x, kernel="lc", activation=activation) - e_phi).abs().max() < se
    ntk_mc = (1 + x @ x.T / d) * e_dphi + e_phi + 1
    assert (chapter_kernel(x, kernel="ntk", activation=activation) - ntk_mc).abs().max() < 3 * se


def test_relu_closed_form_is_example_11_17():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    k = chapter_kernel(x, kernel="lc")
    # θ = π/2: ‖x‖‖z‖/(2πd)(1 + 0) = 1/(4π); θ = 0: 1/(2πd)·π = 1/4
    torch.testing.assert_close(k, torch.tensor([[0.25, 1 / (4 * math.pi)], [1 / (4 * math.pi), 0.25]],
                                               dtype=torch.float64))
    knt = chapter_kernel(x, kernel="ntk")
    torch.testing.assert_close(knt[0, 1], torch.tensor(0.25 + 1 / (4 * math.pi) + 1, dtype=torch.float64))


def test_bad_input_is_refused():
    x = wide_exp.sphere(3, 2, 0)
    with pytest.raises(ValueError, match="kernel"):
        chapter_kernel(x, kernel="gp")
    with pytest.raises(ValueError, match="activation"):
        chapter_kernel(x, activation="tanh")
    with pytest.raises(ValueError, match="init"):
        wide_exp.draw("xavier", 4, 2, [0])
    with pytest.raises(ValueError, match="weights"):
        wide_exp.draw("lecun", 4, 2, [0], weights="cauchy")


def test_student_t_draw_has_the_lecun_scales_and_heavy_tails():
    w = wide_exp.draw("lecun", 20000, 2, [0], weights="student-t", df=30.0)
    assert abs(float(w["U"].var()) * 2 - 30 / 28) < 0.05  # Var t(ν) = ν/(ν − 2), scaled by 1/d
    heavy = wide_exp.draw("ntk", 20000, 2, [0], weights="student-t", df=1.5)
    assert float(heavy["v"].abs().max()) > 50  # infinite variance: extreme draws


def test_lsq_design_has_the_declared_spectrum_and_gd_reaches_thm_11_3s_limit():
    A = wide_exp.design(5, 12, 0.1, 1.0, 0)
    lam = torch.linalg.eigvalsh(A @ A.T)
    torch.testing.assert_close(lam[0], torch.tensor(0.1, dtype=torch.float64))
    torch.testing.assert_close(lam[-1], torch.tensor(1.0, dtype=torch.float64))
    point = {"n_points": 5, "d_in": 12, "eig_min": 0.1, "eig_shift": 1.0, "lr_scale": 0.5, "steps": 800, "seeds": 2,
             "seed_offset": 0}
    df = wide_exp.measure_lsq(point, None)
    assert (df["limit_err"] < 1e-12).all() and (df["kernel_err"] < 1e-10).all()
    assert abs(df["rate"].mean() / -math.log(1 - 0.05) - 1) < 0.02


def test_fig_11_3_interpolates_the_data_after_training():
    out = wide._fig113({"fig_draws": 6, "fig_steps": 1000, "seed_offset": 0})
    assert out["before"].shape == (6, 121)
    i = [int(abs(out["x"] - x0).argmin()) for x0 in out["X"]]
    assert abs(out["after"][:, i] - out["y"]).max() < abs(out["before"][:, i] - out["y"]).max()


@pytest.mark.parametrize("scaling", wide_exp.SCALINGS)
def test_gd_members_take_their_own_steps_so_a_member_does_not_depend_on_the_others(scaling):
    """measure_gd: h_s = lr_scale/λ_max of member s's own kernel, so member 0 trains the same alone as beside others
    (one step for all, from the largest λ_max, would tie it to the others' draws)."""
    point = {"width": 64, "d_in": 5, "activation": "erf", "scaling": scaling, "seed_offset": 3, "n_points": 4,
             "n_test": 3, "init": ("lecun", "ntk"), "lr_scale": 0.5, "steps": 40, "threshold": 1.0}
    alone = wide_exp.measure_gd({**point, "seeds": 1}, None)
    together = wide_exp.measure_gd({**point, "seeds": 4}, None)
    for init in point["init"]:
        a = alone[alone["init"] == init].iloc[0]
        t = together[together["init"] == init]
        assert t["lr"].nunique() == 4  # each member its own step
        for col in ("lr", "movement", "gap", "train_loss"):
            assert t.iloc[0][col] == pytest.approx(a[col], rel=1e-12, abs=1e-15), col
        sc = wide_exp.scales(init, point["width"], point["d_in"], scaling)
        w0 = wide_exp.draw(init, point["width"], point["d_in"], [3 * wide_exp.SEED_STRIDE + 100 * (init == "ntk")],
                           scaling=scaling)
        x = wide_exp.sphere(point["n_points"], point["d_in"], 11 + point["seed_offset"])
        lam = torch.linalg.eigvalsh(wide_exp.tangent_kernel(w0, x, x, sc, "erf")[0])[-1]
        assert a["lr"] == pytest.approx(point["lr_scale"] / float(lam), rel=1e-12)
