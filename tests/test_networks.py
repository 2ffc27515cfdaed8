import math

import numpy as np
import pytest
import torch
from torch.func import grad

from ntkbench import ASI, MLP, Centered, FixedNorm, doubling_trick, empirical_ntk
from ntkbench.networks import REFERENCE_SUFFIX, Shifted, n_params, split_buffers
from ntkbench.train import init_ensemble, stack_params, train, train_ensemble, unstack_params

X = torch.randn(6, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_shapes_and_param_count():
    net = MLP(d_in=4, width=[5, 7], depth=3, d_out=2)
    p = net.init(0)
    assert set(p) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    assert p["W1"].shape == (5, 4) and p["W3"].shape == (2, 7)
    assert n_params(p) == net.n_params == (4 + 1) * 5 + (5 + 1) * 7 + (7 + 1) * 2
    assert net(p, X).shape == (6, 2)
    assert net(p, X[0]).shape == (2,)
    scalar = MLP(d_in=4, width=3, depth=2, bias="none")
    q = scalar.init(0)
    assert set(q) == {"W1", "W2"} and scalar(q, X).shape == (6,) and scalar(q, X[0]).shape == ()


def test_depth_one_is_linear_model():
    net = MLP(d_in=4, depth=1, bias="none", sigma=2.0)
    p = net.init(3)
    assert torch.allclose(net(p, X), 2.0 / 2.0 * X @ p["W1"][0])


def test_init_is_deterministic_and_seeded():
    net = MLP(d_in=4, width=16, depth=3, bias="normal")
    a, b, c = net.init(5), net.init(5), net.init(6)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["W1"], c["W1"])


@pytest.mark.parametrize("bias", ["none", "zero", "normal"])
@pytest.mark.parametrize("init_scheme", ["normal", "orthogonal"])
def test_ntk_and_standard_parametrizations_agree_at_init(bias, init_scheme):
    """000 §1.2: in a forward pass the NTK parametrization equals the standard one with variances σ²/fan_in."""
    kw = dict(d_in=4, width=[9, 11], depth=3, sigma=1.7, bias=bias, init_scheme=init_scheme)
    ntk, std = MLP(parametrization="ntk", **kw), MLP(parametrization="standard", **kw)
    torch.testing.assert_close(ntk(ntk.init(2), X), std(std.init(2), X), rtol=1e-13, atol=1e-13)


def test_orthogonal_init_rows_are_orthogonal():
    net = MLP(d_in=4, width=32, depth=3, init_scheme="orthogonal", bias="none")
    w = net.init(0)["W2"]
    torch.testing.assert_close(w @ w.T, 32.0 * torch.eye(32, dtype=torch.float64))
    w1 = net.init(0)["W1"]  # 32 × 4: orthogonal columns, entries with unit second moment
    torch.testing.assert_close(w1.T @ w1, 32.0 * torch.eye(4, dtype=torch.float64))


def test_output_scales_like_sigma_to_the_L():
    """Zero-bias ReLU nets are positively homogeneous in σ: f_σ = σ^L f_1 (000 Lemma 3)."""
    for depth in (2, 3, 4):
        f1 = MLP(d_in=4, width=8, depth=depth, bias="zero", sigma=1.0)
        f3 = MLP(d_in=4, width=8, depth=depth, bias="zero", sigma=3.0)
        torch.testing.assert_close(f3(f3.init(0), X), 3.0**depth * f1(f1.init(0), X), rtol=1e-12, atol=0)


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
@pytest.mark.parametrize("bias", ["none", "zero"])
def test_homogeneity_identity_is_exact(depth, parametrization, bias):
    """000 App. C Eq. 15: f(x) = (1/L) ⟨θ, ∇θ f(x)⟩ for zero-bias ReLU nets."""
    net = MLP(d_in=4, width=13, depth=depth, parametrization=parametrization, bias=bias, sigma=1.4)
    p = net.init(7)
    for x in X:
        g = grad(lambda q: net(q, x))(p)  # noqa: B023 - called at once
        inner = sum((p[k] * g[k]).sum() for k in p)
        torch.testing.assert_close(inner / depth, net(p, x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kw", [dict(bias="normal"), dict(activation="tanh")])
def test_homogeneity_fails_for_nonzero_bias_or_smooth_activation(kw):
    """Negative control: the identity needs zero biases and a ReLU."""
    net = MLP(d_in=4, width=13, depth=3, **kw)
    p = net.init(7)
    x = X[0]
    g = grad(lambda q: net(q, x))(p)
    inner = sum((p[k] * g[k]).sum() for k in p) / 3
    assert abs(inner - net(p, x)) > 1e-3 * abs(net(p, x))


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
def test_asi_outputs_zero_and_keeps_the_kernel(parametrization):
    """003 §6 Thm 4: h_ASI(·; θ0, θ0) = 0 and Θ_ASI = Θ."""
    base = MLP(d_in=4, width=[10, 8], depth=3, bias="normal", parametrization=parametrization, sigma=2.0)
    asi = ASI(base)
    p = asi.init(1)
    assert torch.count_nonzero(asi(p, X)) == 0
    theta = empirical_ntk(base, base.init(1), X)
    for method in ("structured", "jacobian"):
        torch.testing.assert_close(empirical_ntk(asi, p, X, method=method), theta, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_doubling_trick_per_layer_kernels(depth):
    """003 App. 12 Thm 10: output 0; per-layer kernels ×2 for layers L−1, L and 0 below."""
    net = MLP(d_in=4, width=9, depth=depth, bias="none", sigma=1.3)
    p = net.init(4)
    dnet, dp = doubling_trick(net, p)
    # f' = W a − W a summed in one matmul: zero up to round-off
    assert dnet(dp, X).abs().max() <= 1e-14 * net(p, X).abs().max()
    before = empirical_ntk(net, p, X, per_layer=True, method="jacobian")
    after = empirical_ntk(dnet, dp, X, per_layer=True, method="jacobian")
    expected = [0.0] * (depth - 2) + [2.0, 2.0]
    for l, factor in enumerate(expected):
        torch.testing.assert_close(after[l], factor * before[l], rtol=1e-12, atol=1e-12)


def test_doubling_trick_needs_a_hidden_layer():
    with pytest.raises(ValueError, match="depth"):
        doubling_trick(MLP(d_in=4, depth=1), {})


def test_centered_net_is_zero_at_init_with_the_same_kernel():
    """004 footnote 5: train f − f(·; θ0)."""
    net = MLP(d_in=4, width=12, depth=3, sigma=1.5)
    p0 = net.init(0)
    c = Centered(net, p0)
    assert torch.count_nonzero(c(c.init(), X)) == 0
    assert c.depth == 3 and c.d_in == 4
    torch.testing.assert_close(empirical_ntk(c, p0, X), empirical_ntk(net, p0, X), rtol=0, atol=0)
    torch.testing.assert_close(empirical_ntk(c, p0, X, method="ntvp"), empirical_ntk(net, p0, X), rtol=1e-12,
                               atol=1e-12)


# ----- Centered and the doubling trick on stacked parameters (ensembles) ----------------------------------

XT = torch.nn.functional.normalize(X, dim=1)
YT = torch.sin(2.0 * XT[:, 0])


def _close(a, b, tol=1e-12):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=tol, atol=tol)


def test_centered_buffers_form():
    """Centered(net) without params0: θ0 travels in the params dict as buffers 'W1@0', ... (not trained)."""
    net = MLP(d_in=4, width=12, depth=3, bias="normal")
    c = Centered(net)
    p = c.init(3)
    theta, theta0 = split_buffers(p)
    assert set(theta0) == {k + REFERENCE_SUFFIX for k in theta} and set(theta) == set(net.init(3))
    _close(theta, net.init(3), tol=0)
    assert torch.count_nonzero(c(p, X)) == 0
    # θ moves, θ0 stays: f − f(·; θ0)
    moved = {**p, "b3": p["b3"] + 0.5}
    torch.testing.assert_close(c(moved, X), net(moved, X) - net(net.init(3), X), rtol=0, atol=1e-14)
    _close(Centered.attach(net.init(3)), p, tol=0)
    # the buffers are detached: the kernel is the base network's, by every method
    for method in ("structured", "jacobian", "ntvp"):
        torch.testing.assert_close(empirical_ntk(c, p, X, method=method), empirical_ntk(net, net.init(3), X),
                                   rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="no params0"):
        c(net.init(3), X)
    with pytest.raises(ValueError, match="attach θ0 for every parameter"):
        c({**net.init(3), "W1@0": p["W1@0"]}, X)


@pytest.mark.parametrize(("optimizer", "lr"), [("gd", 0.2), ("adam", 0.01)])
def test_centered_ensemble_equals_single_centered_nets(optimizer, lr):
    """Each member of a stacked Centered ensemble is centred on its own θ0: the same as training, one by one,
    Centered(net, θ0_s) from θ0_s (the params0 form)."""
    net = MLP(d_in=4, width=16, depth=2)
    seeds = [0, 1, 2]
    stacked = init_ensemble(Centered(net), seeds)
    assert stacked["W1@0"].shape == (3, 16, 4)
    kw = dict(optimizer=optimizer, lr=lr, max_steps=25, threshold=1e-4)
    res = train_ensemble(Centered(net), stacked, XT, YT, **kw)
    for i, s in enumerate(seeds):
        p0 = net.init(s)
        alone = train(Centered(net, p0), p0, XT, YT, **kw)
        member = unstack_params(res.params, i)
        theta, theta0 = split_buffers(member)
        _close(theta, alone.params)
        _close({k.removesuffix(REFERENCE_SUFFIX): v for k, v in theta0.items()}, p0, tol=0)  # θ0 is not trained
        np.testing.assert_allclose(res.loss_curve[i], alone.loss_curve[0], rtol=1e-12)
        assert res.loss_curve[i, 0] == pytest.approx(0.5 * float((YT**2).sum()), rel=1e-12)  # f − f0 = 0 at θ0
    assert (res.final_loss < res.loss_curve[:, 0]).all()


def test_shifted_asi_is_the_original_at_theta0_and_trains_only_theta():
    """Shifted(ASI(net), net): ASI's parameters plus the original's θ0 as buffers — the original's output and
    kernel at θ0 (003 Thm 4), and training moves ASI's parameters only."""
    net = MLP(d_in=4, width=12, depth=3, bias="normal", sigma=3.0)
    s = Shifted(ASI(net), net)
    p0 = net.init(2)
    p = Shifted.attach(ASI(net).init(2), p0)
    assert set(split_buffers(p)[1]) == {k + REFERENCE_SUFFIX for k in p0}
    _close(s.init(2), p, tol=0)
    assert s.depth == 3 and s.d_in == 4 and s.n_params == 2 * net.n_params
    torch.testing.assert_close(s(p, X), net(p0, X), rtol=0, atol=0)  # ASI's part is exactly 0 at θ' = θ
    for method in ("structured", "jacobian", "ntvp"):
        torch.testing.assert_close(empirical_ntk(s, p, X, method=method), empirical_ntk(net, p0, X),
                                   rtol=1e-12, atol=1e-12)
    moved = {**p, "b3": p["b3"] + 0.5}
    torch.testing.assert_close(s(moved, X), net(p0, X) + 0.5 * net.bias_scales[-1] / math.sqrt(2.0), rtol=0,
                               atol=1e-12)
    stacked = init_ensemble(s, [0, 1])
    res = train_ensemble(s, stacked, XT, YT, optimizer="gd", lr=0.05, max_steps=10, threshold=None)
    theta, ref = split_buffers(res.params)
    _close(ref, split_buffers(stacked)[1], tol=0)  # the reference is not trained
    assert not torch.equal(theta["W1"], stacked["W1"])
    with pytest.raises(ValueError, match="no reference parameters"):
        s(ASI(net).init(2), X)


def test_doubling_trick_on_stacked_parameters():
    """Stacked: each member's last hidden layer is doubled on its own (not concatenated across members)."""
    net = MLP(d_in=4, width=7, depth=3, bias="zero")
    seeds = [0, 1, 2]
    dnet, dp = doubling_trick(net, init_ensemble(net, seeds))
    assert dp["W2"].shape == (3, 14, 7) and dp["b2"].shape == (3, 14) and dp["W3"].shape == (3, 1, 14)
    singles = [doubling_trick(net, net.init(s)) for s in seeds]
    assert all(d == dnet for d, _ in singles)
    _close(dp, stack_params([p for _, p in singles]), tol=0)
    with pytest.raises(ValueError, match="W2"):
        doubling_trick(net, {**net.init(0), "W2": torch.zeros(7, 8, dtype=torch.float64)})
    with pytest.raises(ValueError, match="mix stacked and unstacked"):
        doubling_trick(net, {**init_ensemble(net, seeds), "b1": torch.zeros(7, dtype=torch.float64)})
    with pytest.raises(ValueError, match="entries"):
        doubling_trick(net, {"W1": torch.zeros(7, 4)})


@pytest.mark.parametrize(("optimizer", "lr"), [("gd", 0.2), ("adagrad", 0.05)])
def test_doubled_ensemble_equals_single_doubled_nets(optimizer, lr):
    net = MLP(d_in=4, width=9, depth=2, bias="none")
    seeds = [3, 4]
    dnet, dp = doubling_trick(net, init_ensemble(net, seeds))
    res = train_ensemble(dnet, dp, XT, YT, optimizer=optimizer, lr=lr, max_steps=20)
    np.testing.assert_allclose(res.loss_curve[:, 0], 0.5 * float((YT**2).sum()), rtol=1e-12)  # f(θ'(0)) = 0
    for i, s in enumerate(seeds):
        dnet_i, dp_i = doubling_trick(net, net.init(s))
        alone = train(dnet_i, dp_i, XT, YT, optimizer=optimizer, lr=lr, max_steps=20)
        _close(unstack_params(res.params, i), alone.params)
    assert (res.final_loss < res.loss_curve[:, 0]).all()


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        (dict(sigma=0.0), "sigma"),
        (dict(sigma=-1.0), "sigma"),
        (dict(sigma=float("nan")), "sigma"),
        (dict(width=0), "width"),
        (dict(width=[4, 4], depth=2), "width"),
        (dict(depth=0), "depth"),
        (dict(d_in=0), "d_in"),
        (dict(bias="yes"), "bias"),
        (dict(parametrization="mup"), "parametrization"),
        (dict(activation="gelu"), "activation"),
        (dict(init_scheme="xavier"), "init_scheme"),
        (dict(dtype=torch.int64), "dtype"),
        (dict(device="tpu"), "device"),
    ],
)
def test_invalid_arguments_name_the_argument(kw, name):
    base = dict(d_in=4, width=8, depth=2)
    with pytest.raises(ValueError, match=name):
        MLP(**{**base, **kw})


def test_wrong_input_dimension():
    net = MLP(d_in=4, width=8)
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        net(net.init(0), torch.zeros(3, 5, dtype=torch.float64))


def test_float32():
    net = MLP(d_in=4, width=8, dtype="float32")
    p = net.init(0)
    assert p["W1"].dtype == torch.float32
    assert net(p, X.float()).dtype == torch.float32
    assert math.isfinite(float(net(p, X.float()).sum()))


def test_mean_field_output_layer_averages():
    """parametrization='mean_field': c_L = σ/m, so the output is the 'ntk' one divided by √m and the
    output layer's share of the tangent kernel vanishes like 1/m (the non-lazy negative control)."""
    kw = dict(d_in=4, width=64, depth=3, sigma=1.5, bias="none")
    ntk, mf = MLP(parametrization="ntk", **kw), MLP(parametrization="mean_field", **kw)
    p = ntk.init(1)
    assert mf.weight_scales[:-1] == ntk.weight_scales[:-1]
    torch.testing.assert_close(mf(p, X), ntk(p, X) / 8.0, rtol=1e-14, atol=1e-14)
    kernels = [
        empirical_ntk(MLP(parametrization="mean_field", **{**kw, "width": m}), MLP(**{**kw, "width": m}).init(0), X)
        for m in (64, 1024)
    ]
    ratio = float(kernels[1].trace() / kernels[0].trace())
    assert 0.5 / 16 < ratio < 2.0 / 16  # Θ ~ 1/m: ×16 width gives ≈ 1/16


@pytest.mark.parametrize("bias", ["zero", "normal"])
def test_mean_field_output_bias_keeps_the_kernel_order_one_over_m(bias):
    """mean_field with biases: the output bias is scaled by σ/√m, so its kernel term σ²/m vanishes with the rest of Θ
    (an O(1) term σ² would fix λ_max, hence the rate c/λ_max, at O(1) and slow the features' dynamics m-fold)."""
    kw = dict(d_in=4, depth=2, sigma=1.5, bias=bias, parametrization="mean_field")
    assert MLP(width=64, **kw).bias_scales == (1.5, 1.5 / 8.0)
    nets = [MLP(width=m, **kw) for m in (64, 1024)]
    lam = [float(torch.linalg.eigvalsh(empirical_ntk(n, n.init(0), X))[-1]) for n in nets]
    assert 0.5 / 16 < lam[1] / lam[0] < 2.0 / 16
    net = MLP(width=16, **kw)
    p = net.init(3)
    p["b2"] = p["b2"] + 1.0  # the output bias enters as σ/√m · b
    shift = torch.full((X.shape[0],), 1.5 / 4.0, dtype=X.dtype)
    torch.testing.assert_close(net(p, X) - net(net.init(3), X), shift, rtol=0, atol=1e-14)


def test_analytic_kernels_reject_mean_field():
    from ntkbench import analytic_ntk

    with pytest.raises(ValueError, match="mean_field"):
        analytic_ntk(MLP(d_in=4, width=8, depth=2, parametrization="mean_field"), X)


def test_fixed_norm_holds_the_output_norm_whatever_the_parameters():
    """FixedNorm (004 Sect. 6): ‖f̃‖ on x_ref is λ exactly, so rescaling the output layer changes nothing; the
    gradient sees the normalization (it is orthogonal to that rescaling); members of an ensemble vmap."""
    net = MLP(d_in=4, width=12, depth=3, init_scheme="orthogonal", bias="zero")
    fixed = FixedNorm(net, X[:4], 3.0)
    p = net.init(1)
    assert fixed(p, X[:4]).pow(2).mean().sqrt().item() == pytest.approx(3.0, rel=1e-14)
    torch.testing.assert_close(fixed(p, X), 3.0 * net(p, X) / net(p, X[:4]).pow(2).mean().sqrt(), rtol=0, atol=0)
    scaled = {**p, "W3": 7.0 * p["W3"]}
    torch.testing.assert_close(fixed(scaled, X), fixed(p, X), rtol=1e-13, atol=1e-13)
    g = grad(lambda q: fixed(q, X[5:6]).sum())(p)
    assert torch.dot(g["W3"].flatten(), p["W3"].flatten()).abs() < 1e-12 and g["W3"].abs().max() > 1e-3
    assert fixed.n_params == net.n_params and fixed.depth == 3
    _close(fixed.init(1), p, tol=0)
    stacked = init_ensemble(fixed, [0, 1])
    norms = torch.func.vmap(lambda q: fixed(q, X[:4]).pow(2).mean().sqrt())(stacked)
    torch.testing.assert_close(norms, torch.full((2,), 3.0, dtype=torch.float64), rtol=1e-14, atol=0)
    for bad in (0.0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="norm must be"):
            FixedNorm(net, X, bad)
    with pytest.raises(ValueError, match="x_ref must be"):
        FixedNorm(net, X[0], 1.0)


# ----- 003 §7's initialization and RND ------------------------------------------------------------------------------
def test_glorot_init_draws_the_scaled_glorot_variance():
    """003 §7: every weight and bias ~ N(0, v_std² · 2/(fan_in + fan_out))."""
    net = MLP(d_in=3, width=400, depth=3, sigma=5.0, bias="normal", parametrization="standard", init_scheme="glorot")
    p = net.init(0)
    for l, (fi, fo) in enumerate([(3, 400), (400, 400), (400, 1)], start=1):
        want = 25.0 * 2.0 / (fi + fo)
        w = p[f"W{l}"]
        assert w.var().item() == pytest.approx(want, rel=6 / math.sqrt(w.numel()) + 0.02)
    assert p["b2"].var().item() == pytest.approx(25.0 * 2.0 / 800, rel=0.3)


def test_glorot_needs_the_standard_parametrization():
    with pytest.raises(ValueError, match=r"init_scheme='glorot'.*standard-parametrization"):
        MLP(d_in=1, width=8, depth=2, init_scheme="glorot")


def test_rnd_draws_an_independent_second_copy():
    """003 §7.2.1's RND: the ASI architecture with θ' drawn independently, so its initial output is not 0."""
    from ntkbench import RND

    net = MLP(d_in=1, width=16, depth=2, sigma=2.0, bias="normal", parametrization="standard", init_scheme="glorot")
    x = torch.linspace(-1, 1, 7, dtype=torch.float64).reshape(-1, 1)
    p = RND(net).init(3)
    first, second = RND(net).split(p)
    assert not torch.equal(first["W1"], second["W1"])
    assert torch.equal(first["W1"], net.init(3)["W1"])
    assert RND(net)(p, x).abs().max() > 0
    assert ASI(net)(ASI(net).init(3), x).abs().max() == 0


def test_a_correlated_draw_keeps_the_plain_marginal_and_correlates_members():
    net = MLP(d_in=6, width=40, depth=2, init_scheme="orthogonal", bias="normal")
    plain = net.init(3)
    assert all(torch.equal(plain[k], net.init(3, correlation=0.0, shared_seed=99)[k]) for k in plain)
    a, b = (net.init(s, shared_seed=99, correlation=0.64) for s in (3, 4))
    w = a["W1"]  # (40, 6), still semi-orthogonal at the plain draw's scale
    assert torch.allclose(w.T @ w, 40 * torch.eye(6, dtype=torch.float64), atol=1e-10)
    za, zb = a["b1"], b["b1"]  # normal biases: correlation 0.64 between the two members' latents
    r = float(torch.corrcoef(torch.stack([za, zb]))[0, 1])
    assert 0.3 < r < 0.9
    indep = float(torch.corrcoef(torch.stack([net.init(3)["b1"], net.init(4)["b1"]]))[0, 1])
    assert abs(indep) < 0.4
    for bad in (1.0, -0.1, True):
        with pytest.raises(ValueError, match="correlation must be"):
            net.init(0, shared_seed=1, correlation=bad)
    with pytest.raises(ValueError, match="needs shared_seed"):
        net.init(0, correlation=0.5)
