"""What the claims of :mod:`ntkbench.claims.optim` measure at one sweep point: the experiments (pure functions
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
from torch.func import jacrev, jvp

from ..kernels import empirical_ntk
from ..linearize import Linearized, psd_solve
from ..train import (
    adaptive_lr,
    first_step_preconditioner,
    init_ensemble,
    monotone_lr,
    preconditioned_lr,
    train_ensemble,
    unstack_params,
)
from .trained import (
    build_net,
    load_data,
    member_rows,
    member_seeds,
    net_width,
    outputs,
    relative_rms,
    rms,
    train_to_threshold,
)

#: the optimizer (ntkbench.optimizers) that trains each compared run whose name is not an optimizer's
OPTIMIZER_OF = {"adagrad-frozen": "preconditioned", "adagrad-lin": "adagrad"}


#: the shuffle settings of ``shuffle``: reshuffled every epoch, cycled in data order, or both
SHUFFLES = {"both": (True, False), "yes": (True,), "no": (False,)}


def adaptive_rates(point: Mapping[str, Any], net, p0: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                   optimizer: str) -> torch.Tensor:
    """Per-member rates of an adaptive optimizer: ``adaptive_rate="linear"``: c/λ_max(J D₀ Jᵀ)
    (:func:`ntkbench.train.adaptive_lr`, c = ``lr_c``: small enough for the NTK regime the theorems assume; it
    shrinks with the width); ``"monotone"``: the largest rate of the grid with a monotone 50-step decay
    (:func:`ntkbench.train.monotone_lr`; 001 App. D's rule: η ≈ 0.1–0.3 at every width on MNIST). Measured on MNIST
    PCA-20, N = 50, L = 2: AdaGrad's relative move ‖θ − θ0‖/‖θ0‖ falls like m^-1/2 under both (0.49 → 0.28 and
    0.48 → 0.25 for m = 250 → 1000; GD 0.30 → 0.16) and its distance to GD is alike (0.15 → 0.13 and 0.17 → 0.20),
    but the linear rule takes 100–300× the steps (AdaGrad's accumulated D_t keeps shrinking)."""
    if point["adaptive_rate"] == "monotone":
        return monotone_lr(net, p0, x, y, loss="half_sse", optimizer=optimizer)
    n = next(iter(p0.values())).shape[0]
    return torch.tensor([adaptive_lr(net, unstack_params(p0, s), x, y, c=point["lr_c"]) for s in range(n)],
                        dtype=torch.float64, device=x.device)


def runs(point: Mapping[str, Any]) -> list[tuple[str, float, bool]]:
    """The (optimizer, split, shuffle) runs of a point besides the GD reference: every optimizer full batch, those
    of ``batch_optimizers`` also at every split below 1, once per shuffle setting."""
    out = []
    for opt in point["optimizers"]:
        for split in sorted(set(point["splits"]) | {1.0}) if opt in point["batch_optimizers"] else (1.0,):
            for shuffle in SHUFFLES[point["shuffle"]] if split < 1 else (True,):
                out.append((opt, float(split), bool(shuffle)))
    return out


def compare_optimizers(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """One row per member and run (GD first): ``dist_gd`` = ‖f − f_GD‖/‖f_GD‖ on the test points, ``test_mse``,
    ``stop_term`` = ‖Θ(x, X)Θ(X, X)⁻¹(r − r_GD)‖/‖f_GD‖ (Θ at θ0; r the final training residual): the part of the
    distance that the two runs' unfinished residuals explain to first order, which the training threshold must keep
    well below ``dist_gd``; and per member and optimizer, over its runs, ``spread_out`` = RMS over test points of
    the SD of the outputs over the runs / ‖f_GD‖ and ``spread_loss`` = SD / mean of the test MSE. SGD at split 1
    is GD itself (the same iterates): its row repeats GD's.

    ``adagrad-frozen``: AdaGrad with its preconditioner frozen at the first full-batch step's D₀ = diag(|g₀|)⁻¹
    (floored: :func:`~ntkbench.train.first_step_preconditioner`; :class:`~ntkbench.optimizers.Preconditioned` at
    the stable rate lr_c/λ_max(J D₀ Jᵀ) of :func:`~ntkbench.train.preconditioned_lr`): a fixed linear
    preconditioning (001 Thm 5's boundary). With ``adagrad``
    also AdaGrad on the linearized model from the same θ0 (001 Thm 3: what the net's AdaGrad approaches as
    m → ∞), full batch at AdaGrad's rate: its row is ``adagrad-lin`` (``dist_gd`` its distance to GD), and
    AdaGrad's full-batch rows get ``dist_lin`` = ‖f_AdaGrad − f_lin‖/‖f_GD‖."""
    ds = load_data(point, ctx)
    net = build_net(point, ctx, ds.d_in)
    seeds = member_seeds(point)
    x, y, xt, yt = ds.x_train, ds.y_train, ds.x_test, ds.y_test
    p0, gd, lr = train_to_threshold(net, seeds, x, y, c=point["lr_c"], threshold=point["threshold"],
                                    max_steps=point["max_steps"], cap_factor=point["cap_factor"])
    with torch.no_grad():
        solve = []
        for s in range(len(seeds)):  # Θ(x, X)Θ(X, X)⁻¹ of each member at θ0, for the stopping term
            th = unstack_params(p0, s)
            solve.append(psd_solve(empirical_ntk(net, th, x), empirical_ntk(net, th, xt, x).mT).mT)
    f_gd, r_gd = outputs(net, gd.params, xt), y - outputs(net, gd.params, x)
    norm = f_gd.pow(2).mean(dim=1).sqrt()
    rates, options = {"gd": lr, "sgd": lr}, {}
    for opt in {o for o in point["optimizers"] if o not in rates}:
        if opt == "adagrad-frozen":
            scale = first_step_preconditioner(net, p0, x, y)
            options[opt] = {"scale": scale}
            rates[opt] = torch.tensor([preconditioned_lr(net, unstack_params(p0, s), x, unstack_params(scale, s),
                                                         c=point["lr_c"]) for s in range(len(seeds))],
                                      dtype=torch.float64, device=x.device)
        else:
            rates[opt] = adaptive_rates(point, net, p0, x, y, opt)
    linear = Linearized(net)
    extra = [("adagrad-lin", 1.0, True)] if "adagrad" in point["optimizers"] else []
    common = dict(depth=point["depth"], width=net_width(point), sigma=point["sigma"], max_width=point["max_width"])
    frames, outs = [], {}
    for opt, split, shuffle in [("gd", 1.0, True), *runs(point), *extra]:
        model = linear if opt == "adagrad-lin" else net
        if opt in ("gd", "sgd") and split == 1.0:
            res = gd
        else:
            cap = (gd.max_steps if opt == "sgd" else point["max_steps"]) * math.ceil(1 / split)  # steps per epoch
            start = Linearized.attach(p0) if opt == "adagrad-lin" else p0
            res = train_ensemble(model, start, x, y, optimizer=OPTIMIZER_OF.get(opt, opt),
                                 lr=rates[opt.removesuffix("-lin")], threshold=point["threshold"], max_steps=cap,
                                 batch_fraction=split, shuffle=shuffle, seed=seeds[0], record_every=cap,
                                 optimizer_options=options.get(opt))
        f, r = outputs(model, res.params, xt), y - outputs(model, res.params, x)
        move = torch.stack([torch.cat([(res.params[k][i] - p0[k][i]).reshape(-1) for k in p0]).norm()
                            / torch.cat([p0[k][i].reshape(-1) for k in p0]).norm() for i in range(len(seeds))])
        stop = torch.stack([m @ (a - b) for m, a, b in zip(solve, r, r_gd, strict=True)])
        outs.setdefault(opt, []).append(f)
        frames.append(member_rows(res, seeds, optimizer=opt, split=split, shuffle=shuffle,
                                  lr=rates[opt.removesuffix("-lin")].tolist(),
                                  dist_gd=relative_rms(f, f_gd, norm), test_mse=(f - yt).pow(2).mean(dim=1).tolist(),
                                  stop_term=(stop.pow(2).mean(dim=1).sqrt() / norm).tolist(), move=move.tolist(),
                                  **common))
    rows = pd.concat(frames, ignore_index=True)
    if extra:  # AdaGrad's net against AdaGrad's linearized model (both full batch)
        full = (rows["optimizer"] == "adagrad") & (rows["split"] == 1.0)
        rows.loc[full, "dist_lin"] = relative_rms(outs["adagrad"][-1], outs["adagrad-lin"][0], norm)  # split 1: last
    for opt, fs in outs.items():
        stack = torch.stack(fs)  # (runs, S, n_test)
        mse = (stack - yt).pow(2).mean(dim=2)
        spread_out = stack.std(dim=0, correction=0).pow(2).mean(dim=1).sqrt() / norm if len(fs) > 1 else 0 * norm
        spread_loss = mse.std(dim=0, correction=0) / mse.mean(dim=0) if len(fs) > 1 else 0 * norm
        at = rows["optimizer"] == opt
        for col, v in (("spread_out", spread_out), ("spread_loss", spread_loss)):
            rows.loc[at, col] = np.tile(v.cpu().numpy(), int(at.sum()) // len(seeds))
    return rows


# ----- 001 Example 1: AdaGrad on one training point ------------------------------------------------------------------
def adagrad_one_point(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """001 Example 1 / Eq. 9 with N = 1. In the linearized model every AdaGrad step moves θ by
    η r_t/√(Σ_s r_s²) · sign(g) (g = ∇_θ f(x_1; θ0); ε aside), so the trained model is
    f0(x) + φ(x)Dφ(X)ᵀ(φ(X)Dφ(X)ᵀ)⁻¹(Y − f0(X)) with D = diag(|g|)⁻¹: φ(x)Dg = J(x)·sign(g) and φ(X)Dφ(X)ᵀ = ‖g‖₁
    (D = 0 where g = 0: those coordinates never move). GD's closed form is the same with D = 1. Eq. 9 as printed
    drops f0 (it holds up to O(σ^L)); ``err_eq9_printed`` measures that form too. Both closed forms are evaluated at
    the net's own training move f_T(X) − f0(X) instead of Y − f0(X): in the linearized model that identity holds at
    every step, so what is measured is the net's nonlinearity, not the residual left at the training threshold
    (which would otherwise floor the error at about √(2·threshold)).

    Per member: ``err_eq9`` = ‖f_AdaGrad − f_Eq.9‖/‖f_Eq.9‖ and ``err_gd`` = ‖f_AdaGrad − f_GD-form‖/‖f_GD-form‖ on
    the test points, ``form_gap`` = ‖f_Eq.9 − f_GD-form‖/‖f_Eq.9‖, and ``eps_weight``: the share of ‖g‖₁ on the
    coordinates where AdaGrad's ε is ≥ 0.1 % of its first denominator |g_i r_0| (there the step is shorter than the
    closed form assumes; the run is as designed when this share is negligible)."""
    ds = load_data(point, ctx)
    if ds.x_train.shape[0] != 1:
        raise ValueError(f"n_train must be 1 for 001 Example 1, got {ds.x_train.shape[0]}")
    net = build_net(point, ctx, ds.d_in)
    seeds = member_seeds(point)
    x, y, xt = ds.x_train, ds.y_train, ds.x_test
    p0 = init_ensemble(net, seeds)
    rate = adaptive_rates(point, net, p0, x, y, "adagrad")
    res = train_ensemble(net, p0, x, y, optimizer="adagrad", lr=rate, threshold=point["threshold"],
                         max_steps=point["max_steps"], record_every=point["max_steps"])
    f_nn, fx_nn = outputs(net, res.params, xt), outputs(net, res.params, x)[:, 0]
    eps = 1e-10  # the AdaGrad default (ntkbench.optimizers.AdaGrad, as torch.optim.Adagrad)
    cols: dict[str, list[float]] = {k: [] for k in ("err_eq9", "err_gd", "err_eq9_printed", "form_gap",
                                                    "eps_weight")}
    for i in range(len(seeds)):
        th = unstack_params(p0, i)
        with torch.no_grad():
            f0x, f0 = net(th, xt), float(net(th, x)[0])
        g = jacrev(lambda p: net(p, x)[0])(th)
        sign = {k: torch.sign(v) for k, v in g.items()}
        k_d = jvp(lambda p: net(p, xt), (th,), (sign,))[1].detach()  # φ(x)Dφ(X)ᵀ = J(x)·sign(g)
        k_1 = jvp(lambda p: net(p, xt), (th,), (g,))[1].detach()  # φ(x)φ(X)ᵀ = Θ(x, X)
        l1 = sum(float(v.abs().sum()) for v in g.values())
        l2 = sum(float(v.pow(2).sum()) for v in g.values())
        moved = float(fx_nn[i]) - f0  # the training output's move: Y − f0(X) up to the final residual
        eq9, gd_form = f0x + k_d * moved / l1, f0x + k_1 * moved / l2
        printed = k_d * float(y[0]) / l1
        small = sum(float(v.abs()[v.abs() * abs(float(y[0]) - f0) < 1e3 * eps].sum()) for v in g.values())
        cols["err_eq9"].append(rms(f_nn[i] - eq9) / rms(eq9))
        cols["err_gd"].append(rms(f_nn[i] - gd_form) / rms(gd_form))
        cols["err_eq9_printed"].append(rms(f_nn[i] - printed) / rms(printed))
        cols["form_gap"].append(rms(eq9 - gd_form) / rms(eq9))
        cols["eps_weight"].append(small / l1)
    return member_rows(res, seeds, depth=point["depth"], width=net_width(point), sigma=point["sigma"],
                       lr=rate.tolist(), **cols)


# ----- 001 App. A: an underparameterized linear model ----------------------------------------------------------------
def _features(net, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """(n, m) the last-layer features c_L·a^{L−1}(x) of ``net`` at ``params``: the Jacobian of its output with
    respect to the last weight layer (bias-free), i.e. its linearization in θ^L."""
    with torch.no_grad():
        return net.weight_scales[-1] * net.forward_cache(dict(params), x)[1][-1]


def underparameterized_fits(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """001 App. A. The linear model f(x) = φ(x)ᵀθ with φ the last-layer features of a net at one draw (P = its width;
    the full Jacobian of a bias-free ReLU net has one null direction per hidden unit, its rescaling symmetry), trained
    from ``seeds`` initial θ (the last layers of other draws) by each optimizer of
    ``optimizers`` on ½‖φ(X)θ − Y‖² until the *excess* loss ½‖φ(X)(θ − θ*)‖² first drops below ``threshold``
    (θ* the minimum-norm least-squares solution: the unique minimizer when φ(X) has full column rank, P ≤ N).
    The excess loss is the loss on the projected targets Y* = φ(X)θ*, whose gradient is the same, so training on Y*
    is the same run with the stopping rule on the excess. With ``ridge`` λ > 0 (a fraction of λ_max(φ(X)ᵀφ(X))),
    the loss gains ½λ‖θ‖² (001 App. A's remedy: strictly convex, one minimizer at every P), run as least squares on
    the features [φ(X); √λ·1] and targets [Y; 0], which is the same loss.

    Per run: ``dev`` = ‖f − f*‖/‖f*‖ on the test points and ``dev_ratio`` = ‖f − f*‖ / (‖φ(x)φ(X)⁺‖₂·√(2·excess)):
    at most 1 whenever the minimizer is unique (θ − θ* then lies in φ(X)'s row space), ≫ 1 when it is not and the
    optimizers stop at other interpolants; ``spread`` = ‖f − f̄‖/‖f̄‖ over all runs of the point (f̄ their mean)."""
    ds = load_data(point, ctx)
    net = build_net(point, ctx, ds.d_in)
    seeds = member_seeds(point)
    feature_params = net.init(seeds[0] + 999)  # one fixed draw for the feature map, outside the inits' seeds
    phi_x, phi_t = _features(net, feature_params, ds.x_train), _features(net, feature_params, ds.x_test)
    n, n_params = phi_x.shape
    y = ds.y_train
    if point["ridge"] > 0:
        lam = point["ridge"] * float(torch.linalg.matrix_norm(phi_x, ord=2)) ** 2
        phi_x = torch.cat([phi_x, lam**0.5 * torch.eye(n_params, dtype=phi_x.dtype, device=phi_x.device)])
        y = torch.cat([y, torch.zeros(n_params, dtype=y.dtype, device=y.device)])
    pinv = torch.linalg.pinv(phi_x)
    theta_star = pinv @ y
    y_star, f_star = phi_x @ theta_star, phi_t @ theta_star
    amplify = float(torch.linalg.matrix_norm(phi_t @ pinv, ord=2))
    last = f"W{net.depth}"
    inits = torch.stack([net.init(s)[last].reshape(-1) for s in seeds])

    def model(p, feats):
        return feats @ p["theta"]

    frames, finals = [], []
    for opt in point["optimizers"]:
        if opt == "gd":
            lam = float(torch.linalg.eigvalsh(phi_x @ phi_x.T)[-1])
            lr = torch.full((len(seeds),), point["lr_c"] / lam, dtype=phi_x.dtype)
        else:
            lr = monotone_lr(model, {"theta": inits}, phi_x, y_star, loss="half_sse", optimizer=opt)
        res = train_ensemble(model, {"theta": inits}, phi_x, y_star, optimizer=opt, lr=lr,
                             threshold=point["threshold"], max_steps=point["max_steps"],
                             record_every=point["max_steps"])
        f = res.params["theta"] @ phi_t.T
        excess = torch.as_tensor(res.final_loss, dtype=f.dtype)
        dev_abs = (f - f_star).norm(dim=1)
        finals.append(f)
        frames.append(member_rows(res, seeds, optimizer=opt, lr=lr.tolist(), n_params=n_params, n_train=n,
                                  dev=(dev_abs / f_star.norm()).tolist(),
                                  dev_ratio=(dev_abs / (amplify * (2 * excess).sqrt())).tolist()))
    rows = pd.concat(frames, ignore_index=True)
    allf = torch.cat(finals)
    mean = allf.mean(dim=0)
    rows["spread"] = ((allf - mean).norm(dim=1) / mean.norm()).tolist()
    rows["width"] = net_width(point)
    return rows
