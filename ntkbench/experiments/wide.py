"""What the claims of :mod:`ntkbench.claims.wide` measure at one sweep point: the experiments (pure functions
of the point and the run context that return rows) and their helpers. With the engine they are the code that the
cache key hashes (:func:`ntkbench.harness.lifecycle.code_hash`); the checks, statistics and figures stay in the claims
module."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ..analytic import chapter_kernel
from ..networks import ACTIVATIONS, MLP
from . import SEED_STRIDE

INITS = ("lecun", "ntk")


WEIGHTS = ("normal", "student-t")


SCALINGS = ("lazy", "mean_field")


# ----- the chapter's one-hidden-layer net, batched over seeds -------------------------------------------------------
def sphere(count: int, d: int, seed: int) -> torch.Tensor:
    """``count`` points uniform on the unit sphere of R^d (float64)."""
    g = torch.Generator().manual_seed(int(seed))
    x = torch.randn(count, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def ball(count: int, d: int, seed: int) -> torch.Tensor:
    """``count`` points uniform in the unit ball of R^d (‖x‖ ≤ 1, Prop. 11.26's test inputs)."""
    g = torch.Generator().manual_seed(int(seed))
    r = torch.rand(count, 1, generator=g, dtype=torch.float64) ** (1.0 / d)
    return sphere(count, d, seed + 1) * r


def engine_net(init: str, width: int, d: int, activation: str = "relu") -> MLP:
    """The engine's MLP that is the chapter's net (11.5.1)/(11.5.3) (``lecun``) or (11.6.1)/(11.6.2) (``ntk``)."""
    _choice("init", init, INITS)
    return MLP(d_in=d, width=width, depth=2, parametrization="standard" if init == "lecun" else "ntk", bias="zero",
               sigma=1.0, activation=activation)


def _choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def draw(init: str, width: int, d: int, seeds: list[int], *, weights: str = "normal", df: float = 1.5,
         scaling: str = "lazy") -> dict[str, torch.Tensor]:
    """w0 = (U, b, v, c) stacked over ``seeds`` (shapes (S, n, d), (S, n), (S, n), (S,)) in the chapter's coordinates.

    ``normal``: the engine's draw (:meth:`MLP.init` of :func:`engine_net`, one seed per member); ``student-t``: the
    same scales with every latent N(0, 1) replaced by a t(df) draw (numpy, seeded per member). Under
    ``scaling="mean_field"`` U and v are unit-variance (the 1/√d and 1/n live in the forward pass)."""
    _choice("init", init, INITS)
    _choice("weights", weights, WEIGHTS)
    _choice("scaling", scaling, SCALINGS)
    if not (isinstance(df, (int, float)) and df > 0):
        raise ValueError(f"df must be > 0, got {df!r}")
    coords = "ntk" if scaling == "mean_field" else init
    su, sv = (1.0 / math.sqrt(d), 1.0 / math.sqrt(width)) if coords == "lecun" else (1.0, 1.0)
    U, v = [], []
    for s in seeds:
        if weights == "normal":
            p = engine_net(coords, width, d).init(int(s))
            U.append(p["W1"])
            v.append(p["W2"][0])
        else:
            rng = np.random.default_rng(int(s))
            U.append(torch.from_numpy(rng.standard_t(df, size=(width, d))) * su)
            v.append(torch.from_numpy(rng.standard_t(df, size=width)) * sv)
    S = len(seeds)
    return {"U": torch.stack(U), "b": torch.zeros(S, width, dtype=torch.float64), "v": torch.stack(v),
            "c": torch.zeros(S, dtype=torch.float64)}


def scales(init: str, width: int, d: int, scaling: str = "lazy") -> tuple[float, float, float]:
    """(a_in, a_out, c_out) of Φ = a_out vᵀσ(a_in Ux + b) + c_out c: (1, 1, 1) LeCun (11.5.1); (d^-1/2, n^-1/2, 1)
    NTK (11.6.1); (d^-1/2, 1/n, 1/n) mean-field."""
    if scaling == "mean_field":
        return 1.0 / math.sqrt(d), 1.0 / width, 1.0 / width
    return (1.0, 1.0, 1.0) if init == "lecun" else (1.0 / math.sqrt(d), 1.0 / math.sqrt(width), 1.0)


def forward(w: Mapping[str, torch.Tensor], x: torch.Tensor, sc: tuple[float, float, float],
            activation: str = "relu") -> torch.Tensor:
    """Φ(x, w) for every member: (S, k) for inputs x of shape (k, d), shared, or (S, k, d), one set per member."""
    return _readout(w, ACTIVATIONS[activation][0](_preactivation(w, x, sc)), sc)


def _preactivation(w: Mapping[str, torch.Tensor], x: torch.Tensor, sc: tuple[float, float, float]) -> torch.Tensor:
    """a_in uᵢᵀx + b_i: (S, k, n) (a_in applied to U, the smaller tensor)."""
    return _project(sc[0] * w["U"], x) + w["b"][:, None, :]


def _readout(w: Mapping[str, torch.Tensor], act: torch.Tensor, sc: tuple[float, float, float]) -> torch.Tensor:
    """a_out vᵀσ(·) + c_out c from the activations σ(·) (S, k, n): (S, k)."""
    return sc[1] * torch.einsum("skn,sn->sk", act, w["v"]) + sc[2] * w["c"][:, None]


def tangent_kernel(w: Mapping[str, torch.Tensor], x1: torch.Tensor, x2: torch.Tensor,
                   sc: tuple[float, float, float], activation: str = "relu") -> torch.Tensor:
    """K̂_n(x, z) = ⟨∇_wΦ(x, w), ∇_wΦ(z, w)⟩ from the gradients (11.5.2) / (11.6.3): (S, n1, n2).
    a_out²[(a_in² xᵀz + 1) Σ_i v_i² σ'(x_i)σ'(z_i) + Σ_i σ(x_i)σ(z_i)] + c_out². Inputs as :func:`forward`'s
    (shared or one set per member)."""
    a_in, a_out, c_out = sc
    phi, dphi = ACTIVATIONS[activation]
    p1 = a_in * _project(w["U"], x1) + w["b"][:, None, :]
    p2 = a_in * _project(w["U"], x2) + w["b"][:, None, :]
    v2 = (w["v"] ** 2)[:, None, :]
    back = torch.einsum("skn,sln->skl", dphi(p1) * v2, dphi(p2))
    feat = torch.einsum("skn,sln->skl", phi(p1), phi(p2))
    return a_out**2 * ((a_in**2 * (x1 @ x2.transpose(-1, -2)) + 1.0) * back + feat) + c_out**2


def outputs_and_gradient(w: Mapping[str, torch.Tensor], xt: torch.Tensor, m: int, y: torch.Tensor,
                         sc: tuple[float, float, float], activation: str) -> tuple[torch.Tensor,
                                                                                  dict[str, torch.Tensor]]:
    """Φ(xt, w) (as :func:`forward`) and the gradient of the chapter's loss f(w) = ‖Φ(X, w) − y‖² on the first m
    inputs X of xt, for every member, from one projection: with r = Φ(X, w) − y and p_ai = a_in uᵢᵀx_a + b_i,
    ∂f/∂v_i = 2a_out Σ_a r_a σ(p_ai), ∂f/∂b_i = 2a_out Σ_a r_a v_i σ'(p_ai), ∂f/∂u_i = a_in x_a ∂f/∂b_i's terms,
    ∂f/∂c = 2c_out Σ_a r_a (the gradients (11.5.2) / (11.6.3) contracted with 2r; tested against autograd)."""
    a_in, a_out, c_out = sc
    phi, dphi = ACTIVATIONS[activation]
    pre = _preactivation(w, xt, sc)
    act = phi(pre)
    out = _readout(w, act, sc)
    g = 2.0 * (out[:, :m] - y)  # (S, m)
    back = a_out * g[:, :, None] * dphi(pre[:, :m]) * w["v"][:, None, :]  # (S, m, n): ∂f/∂p_ai
    x = xt[..., :m, :]
    grads = {"U": a_in * (torch.einsum("smn,md->snd", back, x) if x.dim() == 2
                          else torch.einsum("smn,smd->snd", back, x)),
             "b": back.sum(1), "v": a_out * torch.einsum("sm,smn->sn", g, act[:, :m]), "c": c_out * g.sum(1)}
    return out, grads


def _project(U: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Uᵢᵀx for every member: (S, k, n), from U (S, n, d) and inputs (k, d) shared or (S, k, d) per member."""
    if x.dim() == 2:
        return torch.einsum("snd,kd->skn", U, x)
    if x.dim() == 3 and x.shape[0] == U.shape[0]:
        return torch.einsum("snd,skd->skn", U, x)
    raise ValueError(f"x must have shape (k, d) or (S={U.shape[0]}, k, d), got {tuple(x.shape)}")


def _seeds(point: Mapping[str, Any], salt: int = 0) -> list[int]:
    return [point["seed_offset"] * SEED_STRIDE + salt + s for s in range(point["seeds"])]


# ----- ntk-limit ----------------------------------------------------------------------------------------------------
def measure_ntk_limit(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """002 Thm 11.16 / 11.30: per init and seed, the relative Frobenius error on ``n_points`` fixed inputs on the
    unit sphere of ‖K̂_n/n − K^LC‖ (LeCun) and ‖K̂_n − K^NTK‖ (NTK), K̂_n the engine's empirical tangent kernel
    (:func:`tangent_kernel`, = :func:`ntkbench.kernels.empirical_ntk` of :func:`engine_net`), the limits the
    chapter's closed forms (Examples 11.17, 11.31; :func:`ntkbench.analytic.chapter_kernel`)."""
    n, d, act = point["width"], point["d_in"], point["activation"]
    x = sphere(point["n_points"], d, 7 + point["seed_offset"])
    rows = []
    for k, init in enumerate(point["init"]):
        w = draw(init, n, d, _seeds(point, 100 * k), weights=point["weights"], df=point["df"])
        khat = tangent_kernel(w, x, x, scales(init, n, d), act)
        if init == "lecun":
            khat = khat / n
        limit = chapter_kernel(x, kernel="lc" if init == "lecun" else "ntk", activation=act)
        err = (khat - limit).flatten(1).norm(dim=1) / limit.norm()
        for s, e in enumerate(err.tolist()):
            rows.append({"seed": s, "width": n, "init": init, "weights": point["weights"], "rel_err": e})
    return pd.DataFrame(rows)


# ----- lazy-movement and linearization-gap: GD of the net and of its linearization -----------------------------------
DATA = ("shared", "per_member")


def _gd_data(point: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GD's training set and the inputs the gap is read on: (x, y, xt), xt = x followed by ``n_test`` inputs uniform
    in the unit ball. ``data="shared"``: one set per reseed (x (m, d), y (m,)); ``"per_member"``: member s draws its
    own, the same at every width of the reseed (x (S, m, d), y (S, m)), so that a width's average runs over S data
    sets and the slope over widths is paired by data set."""
    d, m, t, data = point["d_in"], point["n_points"], point["n_test"], point.get("data", "shared")
    _choice("data", data, DATA)

    def one(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = sphere(m, d, seed)
        y = torch.randn(m, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
        return x, y, torch.cat([x, ball(t, d, seed + 2)])

    if data == "shared":
        return one(11 + point["seed_offset"])
    # 4 seeds per data set (sphere: seed; targets: seed + 1; ball: seed + 2 and seed + 3), disjoint over members and
    # reseeds (seeds ≤ 999 < SEED_STRIDE)
    sets = [one(11 + 4 * (point["seed_offset"] * SEED_STRIDE + s)) for s in range(point["seeds"])]
    return tuple(torch.stack(z) for z in zip(*sets, strict=True))

def measure_gd(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """002 Thm 11.23, Prop. 11.25–11.26: per init, ``seeds`` nets of width n trained by ``steps`` steps of GD on
    f(w) = ‖Φ(X, w) − y‖² (m = ``n_points`` inputs on the unit sphere, y ~ N(0, 1), one set per reseed or per
    member: :func:`_gd_data`) with the step of
    h = lr_scale/λ_max(K̂_n(X, X)) (each member its own), and their linearizations
    Φ_lin(x, p) = Φ(x, w0) + ∇Φ(x, w0)(p − w0) trained by the same GD
    (p_0 = w_0; in function space Φ_lin(·, p_{k+1}) = Φ_lin(·, p_k) − 2h K̂_n(·, X)(Φ_lin(X, p_k) − y), exact for a
    model linear in p). Per member: ``movement`` = sup_k ‖w_k − w_0‖ and per layer (``move_U``, ``move_b``,
    ``move_v``, ``move_c``), ``rel_movement`` = movement/‖w_0‖, ``hidden_share`` = (move_U² + move_b² + move_c²)/
    movement² (what GD moves outside the output layer v), ``gap`` = sup_k max_x |Φ(x, w_k) − Φ_lin(x, p_k)|
    over the training inputs and ``n_test`` test inputs uniform in the unit ball, and the final training loss."""
    n, d, act, scaling = point["width"], point["d_in"], point["activation"], point["scaling"]
    x, y, xt = _gd_data(point)
    m = x.shape[-2]
    rows = []
    for k, init in enumerate(point["init"]):
        sc = scales(init, n, d, scaling)
        w0 = draw(init, n, d, _seeds(point, 100 * k), weights="normal", scaling=scaling)
        K = tangent_kernel(w0, xt, x, sc, act)  # (S, |xt|, m): K̂_n(·, X) at w0; its first m rows are K̂_n(X, X)
        # each member's step from its own kernel: h_s = lr_scale/λ_max(K̂_n,s(X, X)), so 2h_sλ_max = 2 lr_scale < 2
        # for the net's and the linearization's GD alike; under LeCun λ_max(K̂_n) ≈ n λ_max(K^LC) + O(1), so h ∝ 1/n
        # as Thm 11.23 takes it, without the O(1) terms that made the linearization diverge at n = 256–512 with the
        # limit kernel's n λ_max(K^LC); mean-field: h ∝ n. One step shared by the members (the largest λ_max) was
        # biased by the maximum of S fluctuations of relative size O(n^-1/2): h·n rose 10 % over n = 512–4096 under
        # mean-field, enough to tilt its movement's slope (its step sets how far the features travel)
        h = point["lr_scale"] / torch.linalg.eigvalsh(K[:, :m, :])[:, -1]  # (S,)
        f_lin = forward(w0, xt, sc, act)
        w = {key: t.clone() for key, t in w0.items()}
        norm0 = torch.sqrt(sum((t.reshape(len(t), -1) ** 2).sum(1) for t in w0.values()))
        sup_move = {key: torch.zeros(len(f_lin), dtype=torch.float64) for key in (*w0, "all")}
        gap = torch.zeros(len(f_lin), dtype=torch.float64)
        loss0 = ((f_lin[:, :m] - y) ** 2).sum(1)
        for _ in range(point["steps"]):
            out, grads = outputs_and_gradient(w, xt, m, y, sc, act)  # Φ(xt, w_k), ∇f(w_k)
            gap = torch.maximum(gap, (out - f_lin).abs().max(1).values)  # the gap at step k (0 at k = 0)
            total = 0.0
            for key in w0:
                w[key] -= h.reshape(-1, *(1,) * (w[key].dim() - 1)) * grads[key]
                sq = ((w[key] - w0[key]).reshape(len(w0[key]), -1) ** 2).sum(1)
                sup_move[key] = torch.maximum(sup_move[key], sq.sqrt())
                total = total + sq
            sup_move["all"] = torch.maximum(sup_move["all"], total.sqrt())
            f_lin = f_lin - 2 * h[:, None] * torch.einsum("skm,sm->sk", K, f_lin[:, :m] - y)
        out = forward(w, xt, sc, act)
        gap = torch.maximum(gap, (out - f_lin).abs().max(1).values)  # and at the last step
        final = ((out[:, :m] - y) ** 2).sum(1)
        for s in range(len(final)):
            rows.append({"seed": s, "width": n, "init": init, "scaling": scaling, "lr": float(h[s]),
                         "movement": float(sup_move["all"][s]), "rel_movement": float(sup_move["all"][s] / norm0[s]),
                         **{f"move_{key}": float(sup_move[key][s]) for key in w0},
                         "hidden_share": float(sum(sup_move[key][s] ** 2 for key in ("U", "b", "c"))
                                               / sup_move["all"][s] ** 2),
                         "gap": float(gap[s]), "loss0": float(loss0[s]), "train_loss": float(final[s]),
                         "threshold": point["threshold"], "converged": bool(final[s] < point["threshold"])})
    return pd.DataFrame(rows)


# ----- gp-init --------------------------------------------------------------------------------------------------------
def _outputs(n: int, d: int, x: torch.Tensor, draws: int, seed: int, weights: str, df: float, act: str,
             chunk: int = 4000) -> torch.Tensor:
    """Φ(x, w0) of ``draws`` independent LeCun nets (11.5.3) of width n: (draws, len(x)). Normal draws are N(0, 1)
    latents scaled as :meth:`MLP.init` scales them (the engine's draw, vectorized over draws); student-t as
    :func:`draw`."""
    out = []
    g = torch.Generator().manual_seed(int(seed))
    rng = np.random.default_rng(int(seed))
    for start in range(0, draws, chunk):
        k = min(chunk, draws - start)
        if weights == "normal":
            U = torch.randn(k, n, d, generator=g, dtype=torch.float64)
            v = torch.randn(k, n, generator=g, dtype=torch.float64)
        else:
            U = torch.from_numpy(rng.standard_t(df, size=(k, n, d)))
            v = torch.from_numpy(rng.standard_t(df, size=(k, n)))
        w = {"U": U / math.sqrt(d), "b": torch.zeros(k, n, dtype=torch.float64), "v": v / math.sqrt(n),
             "c": torch.zeros(k, dtype=torch.float64)}
        out.append(forward(w, x, (1.0, 1.0, 1.0), act))
    return torch.cat(out)


def measure_gp(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """002 Prop. 11.28: ``draws`` LeCun nets per seed at width n on ``n_points`` inputs on the unit sphere. Rows
    per seed: the relative covariance error ‖Ĉ_D − C‖_F/‖C‖_F after D = draws/8, /4, /2, draws draws (C = c(x, z) =
    K^LC, Example 11.17), the marginals' mean excess kurtosis (0 for a Gaussian; 15/n for ReLU nets: the CLT's
    fourth cumulant κ4/n) and D'Agostino–Pearson's normality test (scipy.stats.normaltest) over all draws: the
    smallest p-value over the inputs and its statistic."""
    n, d, act, draws = point["width"], point["d_in"], point["activation"], point["draws"]
    x = sphere(point["n_points"], d, 5 + point["seed_offset"])
    C = chapter_kernel(x, kernel="lc", activation=act)
    rows = []
    for s, seed in enumerate(_seeds(point)):
        phi = _outputs(n, d, x, draws, 7919 * seed + n, point["weights"], point["df"], act)
        z = phi.numpy()
        kurt = float(np.mean(stats.kurtosis(z, axis=0, fisher=True)))
        test = stats.normaltest(z, axis=0)
        worst = int(np.argmin(test.pvalue))
        for frac in (8, 4, 2, 1):
            D = draws // frac
            emp = phi[:D].T @ phi[:D] / D  # centered model: E Φ = 0
            rows.append({"seed": s, "width": n, "draws": D, "weights": point["weights"],
                         "cov_err": float((emp - C).norm() / C.norm()), "kurtosis": kurt,
                         "abs_kurtosis": abs(kurt), "p_min": float(test.pvalue[worst]),
                         "p_max": float(np.max(test.pvalue)), "k2": float(test.statistic[worst])})
    return pd.DataFrame(rows)


# ----- lsq-projection -------------------------------------------------------------------------------------------------
def design(m: int, d: int, eig_min: float, shift: float, seed: int, gap: float = 4.0) -> torch.Tensor:
    """A ∈ R^{m×d} (m < d) = Q1 diag(s) Q2ᵀ with Haar-random Q1, Q2 and AAᵀ's eigenvalues s²: the smallest
    eig_min·shift, isolated, the other m − 1 geometric from gap·eig_min to 1 (λ_max = 1): the design whose smallest
    non-zero eigenvalue the control moves. The gap makes the slowest direction's rate the distance's within float64's
    range: with the spectrum geometric from λ_min (λ_2 = 1.17 λ_min at m = 20) the second direction still added 1–3 %
    to the fitted rate where the distance is 1e-6 to 1e-12 of its start."""
    if not 0 < eig_min * shift < gap * eig_min <= 1:
        raise ValueError(f"the design needs 0 < eig_min·eig_shift < eig_gap·eig_min ≤ 1 (the smallest eigenvalue "
                         f"isolated below the rest); got eig_min={eig_min!r}, eig_shift={shift!r}, eig_gap={gap!r}")
    g = torch.Generator().manual_seed(int(seed))
    q1, _ = torch.linalg.qr(torch.randn(m, m, generator=g, dtype=torch.float64))
    q2, _ = torch.linalg.qr(torch.randn(d, m, generator=g, dtype=torch.float64))
    rest = torch.logspace(math.log10(gap * eig_min), 0.0, m - 1, dtype=torch.float64)
    lam = torch.cat([torch.tensor([eig_min * shift], dtype=torch.float64), rest])
    return q1 @ torch.diag(lam.sqrt()) @ q2.T


def measure_lsq(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """002 Prop. 11.2, Thm 11.3, Remark 11.4: per seed, GD w_{k+1} = w_k − h∇f(w_k) on f(w) = ‖Aw − y‖² from a
    random w_0, h = lr_scale/(2 s_max(A)²) (Thm 11.3's range for lr_scale < 1). ``limit_err`` = ‖w_K − (w_* +
    ŵ_0)‖/‖w_* + ŵ_0‖ after K = ``steps`` steps (w_* = A⁺y the minimum-norm solution, ŵ_0 = (I − A⁺A)w_0);
    ``kernel_err``: the same for kernel least squares in the feature space of Example 11.5's φ(x) = (1, x1, x2,
    x1x2, x1², x2²) with the prediction of Remark 11.4, f(x) = K(x, X)K(X, X)⁻¹y + φ(x)ᵀ(I − P)w_0, on test inputs;
    ``rate`` = −d log‖w_k − w_lim‖/dk fitted where the distance is between 1e-6 and 1e-12 of its start (past the
    transient, above round-off) (Thm 11.3's proof: the slowest eigendirection's (1 − 2hλ_min)^k)."""
    m, d, eig_min, shift = point["n_points"], point["d_in"], point["eig_min"], point["eig_shift"]
    rows = []
    for s, seed in enumerate(_seeds(point)):
        A = design(m, d, eig_min, shift, seed, point["eig_gap"])
        g = torch.Generator().manual_seed(int(seed) + 17)
        y = torch.randn(m, generator=g, dtype=torch.float64)
        w0 = torch.randn(d, generator=g, dtype=torch.float64)
        pinv = torch.linalg.pinv(A)
        w_lim = pinv @ y + w0 - pinv @ (A @ w0)
        h = point["lr_scale"] / (2 * float(torch.linalg.matrix_norm(A, ord=2)) ** 2)
        w, dist = w0.clone(), []
        for _ in range(point["steps"]):
            w = w - h * 2 * A.T @ (A @ w - y)
            dist.append(float((w - w_lim).norm()))
        dist = np.array(dist)
        k = np.arange(1, len(dist) + 1)
        keep = (dist < 1e-6 * dist[0]) & (dist > 1e-12 * dist[0])
        rate = float(-np.polyfit(k[keep], np.log(dist[keep]), 1)[0]) if keep.sum() >= 3 else math.nan
        # kernel least squares, Example 11.5's feature map (Remark 11.4)
        X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.5], [0.5, -1.0], [1.0, 1.0]], dtype=torch.float64) \
            + 0.1 * torch.randn(5, 2, generator=g, dtype=torch.float64)
        Xt = torch.randn(20, 2, generator=g, dtype=torch.float64)
        def feat(z: torch.Tensor) -> torch.Tensor:  # Example 11.5's feature map
            return torch.stack([torch.ones(len(z), dtype=z.dtype), z[:, 0], z[:, 1], z[:, 0] * z[:, 1],
                                z[:, 0] ** 2, z[:, 1] ** 2], dim=1)

        F, Ft = feat(X), feat(Xt)
        yk = torch.randn(len(X), generator=g, dtype=torch.float64)
        v0 = torch.randn(6, generator=g, dtype=torch.float64)
        hk = point["lr_scale"] / (2 * float(torch.linalg.matrix_norm(F, ord=2)) ** 2)
        lam_k = torch.linalg.eigvalsh(F @ F.T)
        steps_k = int(min(200000, math.ceil(40.0 / (2 * hk * float(lam_k[0])))))
        v = v0.clone()
        for _ in range(steps_k):
            v = v - hk * 2 * F.T @ (F @ v - yk)
        Kxx, Ktx = F @ F.T, Ft @ F.T
        proj = F.T @ torch.linalg.solve(Kxx, F)  # P: the projection onto span{φ(x_i)}
        closed = Ktx @ torch.linalg.solve(Kxx, yk) + Ft @ (v0 - proj @ v0)
        kernel_cond = float(lam_k[-1] / lam_k[0])
        rows.append({"seed": s, "eig_min": eig_min * shift, "lr": h, "rate": rate,
                     "limit_err": float((w - w_lim).norm() / w_lim.norm()),
                     "kernel_err": float((Ft @ v - closed).norm() / closed.norm()), "kernel_steps": steps_k,
                     "kernel_cond": kernel_cond,
                     "rate_max": -math.log(1 - point["lr_scale"])})
    return pd.DataFrame(rows)
