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
    torch.testing.assert_close(lam, torch.tensor([0.1, 0.4, 0.4 ** (2 / 3), 0.4 ** (1 / 3), 1.0],
                                                 dtype=torch.float64))  # λ_min isolated below gap·eig_min
    with pytest.raises(ValueError, match="eig_shift"):
        wide_exp.design(5, 12, 0.1, 4.0, 0)  # the moved eigenvalue would reach the rest: no longer the smallest
    point = {"n_points": 5, "d_in": 12, "eig_min": 0.1, "eig_shift": 1.0, "eig_gap": 4.0, "lr_scale": 0.5,
             "steps": 800, "seeds": 2, "seed_offset": 0}
    df = wide_exp.measure_lsq(point, None)
    assert (df["limit_err"] < 1e-12).all() and (df["kernel_err"] < 1e-10).all()
    assert abs(df["rate"].mean() / -math.log(1 - 0.05) - 1) < 0.02


def test_fig_11_3_interpolates_the_data_after_training():
    out = wide._fig113({"fig_draws": 6, "fig_steps": 1000, "seed_offset": 0})
    assert out["before"].shape == (6, 121)
    i = [int(abs(out["x"] - x0).argmin()) for x0 in out["X"]]
    assert abs(out["after"][:, i] - out["y"]).max() < abs(out["before"][:, i] - out["y"]).max()


@pytest.mark.parametrize("data", wide_exp.DATA)
@pytest.mark.parametrize("scaling", wide_exp.SCALINGS)
def test_gd_members_take_their_own_steps_so_a_member_does_not_depend_on_the_others(scaling, data):
    """measure_gd: h_s = lr_scale/λ_max of member s's own kernel, so member 0 trains the same alone as beside others
    (one step for all, from the largest λ_max, would tie it to the others' draws); with its own training set too."""
    point = {"width": 64, "d_in": 5, "activation": "erf", "scaling": scaling, "seed_offset": 3, "n_points": 4,
             "n_test": 3, "init": ("lecun", "ntk"), "lr_scale": 0.5, "steps": 40, "threshold": 1.0, "data": data}
    alone = wide_exp.measure_gd({**point, "seeds": 1}, None)
    together = wide_exp.measure_gd({**point, "seeds": 4}, None)
    for init in point["init"]:
        a = alone[alone["init"] == init].iloc[0]
        t = together[together["init"] == init]
        assert t["lr"].nunique() == 4  # each member its own step
        for col in ("lr", "movement", "gap", "train_loss"):
            # to round-off: a batched product over 1 or 4 members may sum in another order, and the mean-field
            # dynamics amplify it (to 1e-12 in 40 steps here); the step shared by the members moved it by 10 %
            assert t.iloc[0][col] == pytest.approx(a[col], rel=1e-9, abs=1e-15), col
        sc = wide_exp.scales(init, point["width"], point["d_in"], scaling)
        w0 = wide_exp.draw(init, point["width"], point["d_in"], [3 * wide_exp.SEED_STRIDE + 100 * (init == "ntk")],
                           scaling=scaling)
        x = wide_exp._gd_data({**point, "seeds": 1})[0]
        x = x if data == "shared" else x[0]
        lam = torch.linalg.eigvalsh(wide_exp.tangent_kernel(w0, x, x, sc, "erf")[0])[-1]
        assert a["lr"] == pytest.approx(point["lr_scale"] / float(lam), rel=1e-12)


@pytest.mark.parametrize("per_member", [False, True])
@pytest.mark.parametrize("scaling", wide_exp.SCALINGS)
@pytest.mark.parametrize("init", wide_exp.INITS)
def test_gd_gradient_by_hand_is_autograds(init, scaling, per_member):
    """outputs_and_gradient: Φ(xt, w) as forward and ∇‖Φ(X, w) − y‖² (X: xt's first m rows) as autograd, with
    nonzero biases, for inputs shared or one set per member."""
    S, n, d, m = 3, 37, 5, 4
    g = torch.Generator().manual_seed(0)
    w = wide_exp.draw(init, n, d, [1, 2, 3], scaling=scaling)
    w["b"] = 0.3 * torch.randn(S, n, generator=g, dtype=torch.float64)
    w["c"] = torch.randn(S, generator=g, dtype=torch.float64)
    shape = (S, 7, d) if per_member else (7, d)
    xt = torch.randn(*shape, generator=g, dtype=torch.float64)
    y = torch.randn(*((S, m) if per_member else (m,)), generator=g, dtype=torch.float64)
    sc = wide_exp.scales(init, n, d, scaling)
    out, grads = wide_exp.outputs_and_gradient(w, xt, m, y, sc, "erf")
    leaves = {k: t.clone().requires_grad_(True) for k, t in w.items()}
    ref = wide_exp.forward(leaves, xt, sc, "erf")
    expected = torch.autograd.grad(((ref[:, :m] - y) ** 2).sum(), list(leaves.values()))
    assert torch.equal(out, ref.detach())
    for key, e in zip(leaves, expected, strict=True):
        assert torch.allclose(grads[key], e, rtol=1e-12, atol=1e-14), key


def test_per_member_inputs_are_each_members_own_and_the_same_at_every_width():
    """forward and tangent_kernel with (S, k, d) inputs equal each member's with its own (k, d) inputs; the
    per-member training sets differ between members and reseeds and do not depend on the width."""
    S, n, d = 3, 29, 4
    w = wide_exp.draw("ntk", n, d, [5, 6, 7])
    sc = wide_exp.scales("ntk", n, d)
    point = {"d_in": d, "n_points": 5, "n_test": 2, "seeds": S, "seed_offset": 2, "data": "per_member"}
    x, y, xt = wide_exp._gd_data(point)
    assert x.shape == (S, 5, d) and y.shape == (S, 5) and xt.shape == (S, 7, d)
    assert torch.equal(xt[:, :5], x) and torch.allclose(x.norm(dim=-1), torch.ones(S, 5, dtype=torch.float64))
    assert (xt[:, 5:].norm(dim=-1) <= 1).all()
    assert not torch.equal(x[0], x[1]) and not torch.equal(x, wide_exp._gd_data({**point, "seed_offset": 3})[0])
    assert torch.equal(x[:2], wide_exp._gd_data({**point, "seeds": 2})[0])  # member s's set: its own seed only
    out, K = wide_exp.forward(w, xt, sc, "erf"), wide_exp.tangent_kernel(w, xt, x, sc, "erf")
    for s in range(S):
        one = {k: t[s:s + 1] for k, t in w.items()}
        assert torch.allclose(out[s], wide_exp.forward(one, xt[s], sc, "erf")[0], rtol=1e-13, atol=1e-15)
        assert torch.allclose(K[s], wide_exp.tangent_kernel(one, xt[s], x[s], sc, "erf")[0], rtol=1e-13)
    with pytest.raises(ValueError, match="x must have shape"):
        wide_exp.forward(w, xt[:2], sc, "erf")
    with pytest.raises(ValueError, match="data must be one of"):
        wide_exp._gd_data({**point, "data": "per_seed"})
