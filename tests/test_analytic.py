"""Infinite-width NNGP / NTK (ntkbench.analytic) against 002 §11.5–11.6 and against wide empirical kernels."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from ntkbench.analytic import analytic_nngp, analytic_ntk, expected_imprint
from ntkbench.kernels import empirical_ntk
from ntkbench.networks import ASI, MLP, Centered, Shifted

D = 5


def _inputs(n: int = 6, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, D, generator=g, dtype=torch.float64)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return (torch.linalg.norm(a - b) / torch.linalg.norm(b)).item()


def _angles(x: torch.Tensor, z: torch.Tensor):
    nx, nz = x.norm(dim=1), z.norm(dim=1)
    cos = ((x @ z.T) / (nx[:, None] * nz[None, :])).clamp(-1, 1)
    return nx, nz, torch.arccos(cos)


def _special_inputs() -> torch.Tensor:
    """Random rows plus a parallel, an antiparallel and an orthogonal pair (θ = 0, π, π/2)."""
    x = _inputs(5)
    e0 = torch.zeros(D, dtype=torch.float64)
    e0[0] = 1.0
    e1 = torch.zeros(D, dtype=torch.float64)
    e1[1] = 2.0
    return torch.cat([x, (3.0 * x[0])[None], (-0.5 * x[0])[None], e0[None], e1[None]])


# ----- 1. the explicit one-hidden-layer formulas of 002 ------------------------------------------
def test_example_11_17_lecun_kernel():
    """002 Thm 11.16 / Ex. 11.17: standard (LeCun) init, ReLU, no biases, σ = 1: Θ/n → K^LC."""
    x = _special_inputs()
    nx, nz, th = _angles(x, x)
    th.diagonal().zero_()  # θ(x, x) = 0 (arccos of a rounded 1 would give ~1e-8)
    k_lc = nx[:, None] * nz[None, :] / (2 * math.pi * D) * (torch.sin(th) + (math.pi - th) * torch.cos(th))
    gaps = []
    for n in (16, 256, 4096, 2**20):
        net = MLP(d_in=D, width=n, depth=2, bias="none", parametrization="standard", activation="relu")
        blocks = analytic_ntk(net, x, per_layer=True)
        # the output-layer block ⟨∇_v Φ, ∇_v Φ⟩ is exactly n·K^LC at every width ...
        torch.testing.assert_close(blocks[1] / n, k_lc, rtol=1e-12, atol=1e-14)
        # ... and the hidden-layer block is O(1): (xᵀz)·(π − θ)/(2π) exactly, so Θ/n − K^LC = O(1/n)
        # (atol: the parallel pairs have θ = 0 only up to arccos's √round-off ≈ 1e-8)
        torch.testing.assert_close(blocks[0], (x @ x.T) * (math.pi - th) / (2 * math.pi), rtol=1e-12, atol=1e-7)
        gaps.append((analytic_ntk(net, x) / n - k_lc).abs().max().item())
    assert gaps[-1] < 1e-4 and all(b < a / 10 for a, b in itertools.pairwise(gaps))


@pytest.mark.parametrize("width", [8, 1000])
def test_example_11_31_ntk_kernel(width):
    """002 Thm 11.30 / Ex. 11.31: NTK init (11.6.1)–(11.6.2), ReLU, σ = 1, zero-initialized trainable biases.

    K^NTK = (1 + xᵀz/d)(π − θ)/(2π) + ‖x‖‖z‖/(2πd)(sin θ + (π − θ) cos θ) + 1, for any width."""
    x = _special_inputs()
    z = _inputs(4, seed=1)
    nx, nz, th = _angles(x, z)
    k_ntk = (
        (1 + (x @ z.T) / D) * (math.pi - th) / (2 * math.pi)
        + nx[:, None] * nz[None, :] / (2 * math.pi * D) * (torch.sin(th) + (math.pi - th) * torch.cos(th))
        + 1
    )
    net = MLP(d_in=D, width=width, depth=2, bias="zero", parametrization="ntk", activation="relu")
    torch.testing.assert_close(analytic_ntk(net, x, z), k_ntk, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_closed_forms_match_monte_carlo(activation):
    """The arc-cosine / arcsine expectations against 4·10⁶ Gaussian samples (one hidden layer: Σ^2 and Θ_1)."""
    sigma, n = 1.7, 7
    x = torch.tensor([[1.0, 0.0, 0.5], [0.6, 0.8, 0.0], [-0.9, 0.3, -0.4]], dtype=torch.float64)
    net = MLP(d_in=3, width=n, depth=2, sigma=sigma, bias="zero", activation=activation)
    q = sigma**2 * (x @ x.T) / 3  # Σ^1 (zero-initialized biases add no variance); correlations −0.96..0.54
    g = torch.Generator().manual_seed(0)
    u = torch.randn(4_000_000, 3, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(q).T
    phi, dphi = {
        "relu": (torch.relu, lambda h: (h > 0).double()),
        "erf": (torch.erf, lambda h: 2 / math.sqrt(math.pi) * torch.exp(-h * h)),
    }[activation]
    e_phi = phi(u).T @ phi(u) / u.shape[0]
    e_dphi = dphi(u).T @ dphi(u) / u.shape[0]
    nngp = analytic_nngp(net, x)
    blocks = analytic_ntk(net, x, per_layer=True)
    torch.testing.assert_close(nngp, sigma**2 * e_phi, rtol=0, atol=3e-3 * sigma**2)
    # Θ_1 = (c_1² x·x' + s_b²)·(c_2² n)·Σ̇^1 = (Σ^1 + σ²)·σ²·Σ̇^1: trainable zero biases do count here
    scale = (q.abs().max().item() + sigma**2) * sigma**2
    torch.testing.assert_close(blocks[0], (q + sigma**2) * sigma**2 * e_dphi, rtol=0, atol=3e-3 * scale)


# ----- 2. agreement with the empirical kernel at width 4096 ---------------------------------------
# Relative Frobenius error ‖Θ̂ − Θ‖/‖Θ‖ measured at width 4096, σ = 1.3, these 6 inputs, seeds 0–2.
# Mean over the 2 seeds used below, per group of 6 configs (bias × activation):
#   depth 2: ntk 0.016–0.030, standard 0.020–0.055;  depth 3: ntk 0.015–0.046, standard 0.016–0.052.
# Largest single seed: 0.080 (depth 3, standard, bias normal, relu, seed 2); seed-to-seed sd ≈ 0.01.
# Bound 0.08 on the 2-seed mean: ≈ 3 sd above the worst config's mean (≈ 0.05 ~ C/√4096), while a wrong
# term (bias dropped: ≈ 2.0, other parametrization rescaled to the same norm: ≈ 0.39) fails by far.
_GRID = list(itertools.product([2, 3], ["ntk", "standard"], ["none", "zero", "normal"], ["relu", "erf"]))


@pytest.mark.parametrize(("depth", "parametrization", "bias", "activation"), _GRID)
def test_ntk_matches_empirical_at_width_4096(depth, parametrization, bias, activation):
    x = _inputs()
    net = MLP(d_in=D, width=4096, depth=depth, sigma=1.3, bias=bias,
              parametrization=parametrization, activation=activation)
    theta = analytic_ntk(net, x)
    errs = [_rel(empirical_ntk(net, net.init(s), x, method="structured"), theta) for s in range(2)]
    assert np.mean(errs) < 0.08, errs


@pytest.mark.parametrize(
    "net_kw",
    [
        dict(parametrization="ntk", bias="normal", activation="relu"),
        dict(parametrization="standard", bias="zero", activation="erf"),
        dict(parametrization="ntk", bias="zero", activation="erf"),
    ],
)
def test_mean_empirical_kernel_has_no_systematic_offset(net_kw):
    """E_θ0[Θ̂] over 1000 inits at width 256, depth 3: the seed noise averages out, leaving only the
    O(1/width) finite-width correction. Measured 0.0029 / 0.0036 / 0.0046 (Monte Carlo error of the
    mean ≈ 0.003–0.004, 1/256 ≈ 0.004); dropping the bias term gives 3.0 / 0.018 / 2.5."""
    x = _inputs()
    net = MLP(d_in=D, width=256, depth=3, sigma=1.3, **net_kw)
    mean = torch.stack([empirical_ntk(net, net.init(s), x) for s in range(1000)]).mean(0)
    assert _rel(mean, analytic_ntk(net, x)) < 0.012


def test_per_layer_blocks_match_empirical():
    x = _inputs()
    for par in ("ntk", "standard"):
        net = MLP(d_in=D, width=4096, depth=2, sigma=1.3, bias="zero", parametrization=par, activation="relu")
        blocks = analytic_ntk(net, x, per_layer=True)
        emp = empirical_ntk(net, net.init(0), x, per_layer=True)
        assert blocks.shape == emp.shape == (2, 6, 6)
        torch.testing.assert_close(blocks.sum(0), analytic_ntk(net, x))
        for l in range(2):
            assert _rel(emp[l], blocks[l]) < 0.08


def test_orthogonal_init_has_the_same_limit():
    x = _inputs()
    net = MLP(d_in=D, width=4096, depth=2, sigma=1.3, bias="normal", init_scheme="orthogonal", activation="erf")
    errs = [_rel(empirical_ntk(net, net.init(s), x), analytic_ntk(net, x)) for s in range(2)]
    assert np.mean(errs) < 0.08, errs


def test_vector_output_is_kron_identity():
    x = _inputs(4)
    net = MLP(d_in=D, width=4096, depth=2, d_out=3, sigma=1.3, bias="zero", activation="relu")
    theta = analytic_ntk(net, x)
    assert theta.shape == (4, 4, 3, 3)
    scalar = analytic_ntk(MLP(d_in=D, width=4096, depth=2, sigma=1.3, bias="zero", activation="relu"), x)
    torch.testing.assert_close(theta, scalar[:, :, None, None] * torch.eye(3, dtype=torch.float64))
    assert _rel(empirical_ntk(net, net.init(0), x), theta) < 0.08
    nngp = analytic_nngp(net, x)
    assert nngp.shape == (4, 4, 3, 3)
    torch.testing.assert_close(nngp[:, :, 1, 1], analytic_nngp(net, x, per_layer=True)[-1])
    assert analytic_ntk(net, x, per_layer=True).shape == (2, 4, 4, 3, 3)


@pytest.mark.parametrize("bias", ["none", "normal"])
def test_zero_input_is_finite_and_matches(bias):
    x = _inputs(4)
    x[1] = 0.0
    for act in ("relu", "erf"):
        net = MLP(d_in=D, width=2048, depth=3, sigma=1.3, bias=bias, activation=act)
        theta, nngp = analytic_ntk(net, x), analytic_nngp(net, x)
        assert torch.isfinite(theta).all() and torch.isfinite(nngp).all()
        emp = empirical_ntk(net, net.init(0), x)
        assert _rel(emp, theta) < 0.1
        if bias == "none" and act == "relu":  # x = 0 gives h = 0 everywhere: kernel row exactly 0
            assert theta[1].abs().max() == 0 and emp[1].abs().max() == 0


# ----- NNGP: covariance of the initial outputs ----------------------------------------------------
@pytest.mark.parametrize("bias", ["none", "zero", "normal"])
@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_nngp_matches_monte_carlo_covariance(bias, activation):
    """E[f(x)f(x')] over 2000 inits at width 256, depth 2 (exact at any width for one hidden layer).

    Per-entry z-scores (x 6 inputs, 21 distinct entries) were at most 3.0 for these seeds; the bound
    4.5 is a per-entry Monte Carlo error bar; dropping/adding the σ² bias variance gives |z| > 20."""
    x = _inputs()
    for par in ("ntk", "standard"):
        net = MLP(d_in=D, width=256, depth=2, sigma=1.3, bias=bias, parametrization=par, activation=activation)
        f = torch.stack([net(net.init(s), x) for s in range(2000)])
        prods = f[:, :, None] * f[:, None, :]
        mean, se = prods.mean(0), prods.std(0) / math.sqrt(f.shape[0])
        sigma_l = analytic_nngp(net, x)
        assert ((mean - sigma_l) / se).abs().max() < 4.5
        other = "normal" if bias != "normal" else "zero"
        wrong = analytic_nngp(MLP(d_in=D, width=256, depth=2, sigma=1.3, bias=other, activation=activation), x)
        assert ((mean - wrong) / se).abs().max() > 10


def test_nngp_is_parametrization_independent_and_per_layer():
    x = _inputs()
    kw = dict(d_in=D, width=64, depth=4, sigma=1.4, bias="normal", activation="erf")
    a = analytic_nngp(MLP(parametrization="ntk", **kw), x, per_layer=True)
    b = analytic_nngp(MLP(parametrization="standard", **kw), x, per_layer=True)
    torch.testing.assert_close(a, b)
    assert a.shape == (4, 6, 6)
    torch.testing.assert_close(a[-1], analytic_nngp(MLP(**kw), x))
    torch.testing.assert_close(a[0], 1.4**2 * (x @ x.T) / D + 1.4**2)  # Σ^1 is exact


# ----- 3. convergence rate width^(-1/2) -----------------------------------------------------------
_WIDTHS = [64, 128, 256, 512, 1024, 2048, 4096]


def _mean_errors(net_kw, seeds, reference=None):
    x = _inputs(8)
    errs = []
    for w in _WIDTHS:
        net = MLP(d_in=D, width=w, depth=2, sigma=1.3, **net_kw)
        ref = analytic_ntk(net, x) if reference is None else reference(w, x)
        errs.append(np.mean([_rel(empirical_ntk(net, net.init(s), x), ref) for s in seeds]))
    return errs


def _slope(errs) -> float:
    return float(np.polyfit(np.log(_WIDTHS), np.log(errs), 1)[0])


@pytest.mark.parametrize(
    "net_kw",
    [
        dict(parametrization="ntk", bias="zero", activation="relu"),
        dict(parametrization="standard", bias="normal", activation="erf"),
    ],
)
def test_relative_error_decays_like_inverse_sqrt_width(net_kw):
    """Log-log slope of the mean relative error over widths 64..4096 (8 seeds each).

    Seed noise, measured first: with 4 seeds per width over 12 disjoint seed sets the fitted slope
    was −0.503 ± 0.047 (ntk/zero/relu) and −0.488 ± 0.040 (standard/none/relu), range −0.57..−0.40;
    8 seeds per width shrink the spread to ≈ 0.03, so [−0.65, −0.35] is a ±0.15 (≈ 4–5 sd) window
    around the predicted −1/2 that still excludes −1 (O(1/width)) and 0 (a wrong limit).
    Measured here (seeds 0–7): −0.470 (errors 0.142 → 0.022) and −0.501 (0.175 → 0.023)."""
    errs = _mean_errors(net_kw, seeds=range(8))
    assert -0.65 <= _slope(errs) <= -0.35, errs
    assert errs[-1] < 0.05


def test_wrong_kernels_do_not_converge():
    """Negative controls: the error against a wrong limit plateaus (measured: bias dropped, errors
    1.8–2.0 and slope +0.005; other parametrization rescaled to the same norm, 0.41 → 0.39 and slope
    −0.012; trials with other seeds and configs stayed within −0.10..+0.01)."""
    seeds = range(4)
    # bias term dropped: the net has trainable zero-initialized biases, the reference has none
    no_bias = _mean_errors(
        dict(parametrization="ntk", bias="zero", activation="relu"), seeds,
        reference=lambda w, x: analytic_ntk(MLP(d_in=D, width=w, depth=2, sigma=1.3, bias="none"), x),
    )
    # the other parametrization, rescaled to the same norm (only the shape of the kernel differs)
    def other(w, x):
        right = analytic_ntk(MLP(d_in=D, width=w, depth=2, sigma=1.3, bias="zero"), x)
        wrong = analytic_ntk(MLP(d_in=D, width=w, depth=2, sigma=1.3, bias="zero", parametrization="standard"), x)
        return wrong * (right.norm() / wrong.norm())

    wrong_par = _mean_errors(dict(parametrization="ntk", bias="zero", activation="relu"), seeds, reference=other)
    for errs in (no_bias, wrong_par):
        assert _slope(errs) > -0.2, errs
        assert errs[-1] > 0.1, errs


# ----- misc ---------------------------------------------------------------------------------------
def test_cross_kernel_symmetry_dtype_and_wrappers():
    x, z = _inputs(5), _inputs(3, seed=2)
    net = MLP(d_in=D, width=128, depth=3, sigma=1.2, bias="zero", activation="relu")
    full = analytic_ntk(net, torch.cat([x, z]))
    torch.testing.assert_close(analytic_ntk(net, x, z), full[:5, 5:])
    torch.testing.assert_close(full, full.T, rtol=0, atol=0)
    f32 = analytic_ntk(net, x.float(), dtype=torch.float32)
    assert f32.dtype == torch.float32 and analytic_ntk(net, x.float()).dtype == torch.float64
    torch.testing.assert_close(f32.double(), full[:5, :5], rtol=1e-4, atol=1e-5)
    # ASI and Centered nets have the base network's tangent kernel
    torch.testing.assert_close(analytic_ntk(ASI(net), x), full[:5, :5])
    torch.testing.assert_close(analytic_ntk(Centered(net, net.init(0)), x), full[:5, :5])
    torch.testing.assert_close(analytic_ntk(Shifted(ASI(net), net), x), full[:5, :5])


# ----- 4. validation ------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [analytic_ntk, analytic_nngp])
def test_validation_errors(fn):
    net = MLP(d_in=D, width=16, depth=2)
    x = _inputs(3)
    with pytest.raises(ValueError, match="x1"):
        fn(net, x[0])
    with pytest.raises(ValueError, match="x1"):
        fn(net, x[:, :3])
    with pytest.raises(ValueError, match="x1"):
        fn(net, x[:0])
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="x1"):
        fn(net, bad)
    with pytest.raises(ValueError, match="x1"):
        fn(net, x.numpy())
    with pytest.raises(ValueError, match="x2"):
        fn(net, x, torch.full((2, D), float("inf"), dtype=torch.float64))
    with pytest.raises(ValueError, match="x2"):
        fn(net, x, x[:, :2])
    for act in ("tanh", "arctan"):
        with pytest.raises(ValueError, match=r"activation=.*'relu', 'erf'"):
            fn(MLP(d_in=D, width=16, depth=2, activation=act), x)
    with pytest.raises(ValueError, match="dtype"):
        fn(net, x, dtype="float16")
    with pytest.raises(ValueError, match="MLP"):
        fn(object(), x)


def test_nngp_rejects_zero_output_wrappers():
    net = MLP(d_in=D, width=16, depth=2)
    with pytest.raises(ValueError, match=r"net\.base"):
        analytic_nngp(ASI(net), _inputs(3))


def test_expected_imprint_vanishes_on_the_training_inputs_and_matches_monte_carlo_draws():
    net = MLP(d_in=1, width=64, depth=2, sigma=2.0, bias="normal")
    x = torch.linspace(-1, 1, 5, dtype=torch.float64)[:, None]
    xt = torch.linspace(-0.95, 0.95, 22, dtype=torch.float64)[:, None]  # none of them a training input
    assert torch.allclose(expected_imprint(net, x, x), torch.zeros(5, dtype=torch.float64), atol=1e-9)
    pred = expected_imprint(net, x, xt)
    assert (pred > 0).all()
    # one hidden layer: the initial output's covariance is the NNGP at every width, so I = h − aᵀh(X) with the
    # analytic a has E I² = pred exactly; 4000 draws put the mean within a few standard errors
    a = torch.cholesky_solve(analytic_ntk(net, x, xt), torch.linalg.cholesky(analytic_ntk(net, x)))
    draws = torch.stack([net(p, xt) - a.T @ net(p, x) for p in (net.init(s) for s in range(4000))])
    mean, se = draws.pow(2).mean(dim=0), draws.pow(2).std(dim=0) / 4000**0.5
    assert ((mean - pred).abs() < 4 * se).all()
    with pytest.raises(ValueError, match="one output"):
        expected_imprint(MLP(d_in=1, width=8, depth=2, d_out=2), x, xt)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_the_packed_triangle_of_k_x_x_equals_the_full_grid(activation):
    """K(X, X) runs over the packed upper triangle with a blocked Gram product (several blocks at n = 300), K(X1, X2)
    over the full grid: the same kernel off the diagonal, a zero-norm input included, exactly symmetric. On the
    diagonal the grid's ReLU angle is arccos of a cosine a round-off below 1 (θ ≈ √(2ε)), the triangle's exactly 0."""
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x[7] = 0.0
    net = MLP(d_in=5, width=64, depth=4, bias="normal", activation=activation)
    off = ~torch.eye(300, dtype=torch.bool)
    for fn in (analytic_ntk, analytic_nngp):
        packed, grid = fn(net, x), fn(net, x, x.clone())
        assert torch.equal(packed, packed.T)
        torch.testing.assert_close(packed[off], grid[off], rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(packed.diagonal(), grid.diagonal(), rtol=1e-7, atol=1e-13)
        layers, layers_grid = fn(net, x, per_layer=True), fn(net, x, x.clone(), per_layer=True)
        torch.testing.assert_close(layers[:, off], layers_grid[:, off], rtol=1e-13, atol=1e-13)
