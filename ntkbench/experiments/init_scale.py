"""What the claims of :mod:`ntkbench.claims.init_scale` measure at one sweep point: the experiments (pure functions
of the point and the run context that return rows) and their helpers. With the engine they are the code that the
cache key hashes (:func:`ntkbench.harness.lifecycle.code_hash`); the checks, statistics and figures stay in the claims
module."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.func import jvp

from ..linearize import decomposition, gd_infinite_time, linear_steps, psd_solve
from ..networks import MLP
from ..train import gd_linear
from .trained import (
    build_net,
    kernel_solutions,
    load_data,
    member_rows,
    member_seeds,
    net_width,
    outputs,
    rms,
    step_cap,
    trained_ensemble,
)


# ----- the trained-net experiment shared by sigma-2L, kernel-limit and lin-closeness --------------------------------
def measure_trained(point: Mapping[str, Any], ctx, checkpoints: int | None = None) -> pd.DataFrame:
    """Train ``seeds`` nets at one (depth, width, σ) to the threshold; per seed, on the test points: the MSE of the
    net, of its linearization trained the same way (same θ0, learning rate and number of GD steps: 000 Eq. 8), of
    that linearization's infinite-time limit (Eq. 13 = Eq. 14 for zero biases) and of the kernel interpolant
    f_int (Eq. 9); the RMS distances ``dist_int`` = ‖f_NN − f_int‖, ``init_term`` = ‖f_lin,∞ − f_int‖ (the
    initialization term (1/L)φ(x)(1 − P_F)θ0; ``init_abs`` unnormalized) and ``dist_lin_inf`` = ‖f_NN − f_lin,∞‖,
    all relative to ‖f_int‖; ``dev_eq14`` = ‖f_NN − f_lin,∞‖/‖f_lin,∞‖; ``amp_ratio`` = MSE_NN / MSE_lin,∞ (Thm 4's
    amplitude); the final
    ``dist_lin_rel`` = ‖f_NN − f_lin‖/‖f_lin‖ and, with ``checkpoints``, its sup over training time
    ``dist_lin_sup`` (000 Lemma 1 is uniform in t)."""
    out = trained_ensemble(point, ctx, checkpoints=checkpoints)
    ds, net, p0, res, lr, seeds = out[:6]
    path = out[6] if checkpoints else None
    f_nn = outputs(net, res.params, ds.x_test)
    cols: dict[str, list[float]] = defaultdict(list)
    for i in range(len(seeds)):
        f = kernel_solutions(net, {k: v[i] for k, v in p0.items()}, ds.x_train, ds.y_train, ds.x_test,
                             lr=float(lr[i]), steps=int(res.steps[i]),
                             path_steps=None if path is None else [int(t) for t in path.steps[i]])
        for key, pred in (("test_mse_nn", f_nn[i]), ("test_mse_lin", f["lin"]), ("test_mse_lin_inf", f["lin_inf"]),
                          ("test_mse_int", f["int"])):
            cols[key].append(rms(pred - ds.y_test) ** 2)
        norm = rms(f["int"])
        cols["dist_int"].append(rms(f_nn[i] - f["int"]) / norm)
        cols["init_abs"].append(rms(f["lin_inf"] - f["int"]))
        cols["init_term"].append(cols["init_abs"][-1] / norm)
        cols["dist_lin_inf"].append(rms(f_nn[i] - f["lin_inf"]) / norm)
        cols["dev_eq14"].append(rms(f_nn[i] - f["lin_inf"]) / rms(f["lin_inf"]))
        cols["amp_ratio"].append(cols["test_mse_nn"][-1] / cols["test_mse_lin_inf"][-1])
        cols["dist_lin_rel"].append(rms(f_nn[i] - f["lin"]) / rms(f["lin"]))
        if path is not None:
            cols["dist_lin_sup"].append(max(rms(a - b) / rms(b)
                                            for a, b in zip(path.outputs[i], f["lin_path"], strict=False)))
    keys = {k: point[k] for k in ("width_factor", "sigma_floor", "bias", "parametrization", "lr_c") if k in point}
    return member_rows(res, seeds, depth=point["depth"], width=net_width(point), sigma=point["sigma"],
                       init=point["init"], **keys, **cols)


def measure_trained_checkpoints(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """:func:`measure_trained` with the point's ``checkpoints`` (lin-closeness: the distance along training)."""
    return measure_trained(point, ctx, checkpoints=point["checkpoints"])


# ----- last-layer-exact ---------------------------------------------------------------------------------------------
def measure_last_layer(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """000 Thm 1: train only θ^L = [W^L, b^L] from 0 (or from N(0,1) for the control) by GD on ½‖f(X) − Y‖².

    The frozen layers are a fixed feature map, so the net is linear in θ^L: f = Aθ^L with A = [c_L a^{L−1}, s_b]
    computed once, and GD runs on it with the closed-form gradient (:func:`ntkbench.train.gd_linear`; the same
    iterates as the full net with the other layers frozen). GD from 0 keeps θ^L in the row space of A, so at *any*
    stopping point with training residual r = Y − f(X) the net equals f_int(x) − Ψ(x, X)Ψ(X, X)⁻¹r exactly
    (Ψ = AAᵀ, the last-layer kernel); ``rel_dev`` measures the departure from that identity (0 to round-off under
    Thm 1, O(1) from a random θ^L_0), ``rel_diff`` the plain distance to f_int, which is the training tolerance
    propagated through Ψ(x, X)Ψ⁻¹: measured at a sequence of thresholds (GD continued), it must vanish like the
    residual, √threshold, when GD converges to the minimum-norm interpolant, and stay O(1) when it converges to
    another interpolant (the control)."""
    ds = load_data(point, ctx)
    net = build_net(point, ctx, ds.d_in)
    L = net.depth
    c_w, c_b = net.weight_scales[-1], net.bias_scales[-1]
    seeds = member_seeds(point)
    feats, theta0 = {"train": [], "test": []}, []
    with torch.no_grad():
        for s in seeds:
            p0 = net.init(s)
            for split, x in (("train", ds.x_train), ("test", ds.x_test)):
                a = net.forward_cache(p0, x)[1][-1]
                feats[split].append(torch.cat([c_w * a, torch.full_like(a[:, :1], c_b)], dim=1))
            theta = torch.cat([p0[f"W{L}"][0], p0[f"b{L}"]])
            theta0.append(torch.zeros_like(theta) if point["last_init"] == "zero" else theta)
    a_tr, a_te, theta0 = torch.stack(feats["train"]), torch.stack(feats["test"]), torch.stack(theta0)
    psi_tt, psi_st = a_tr @ a_tr.mT, a_te @ a_tr.mT  # Ψ(X, X), Ψ(x, X): the last layer's block of the NTK
    lr = point["lr_c"] / torch.linalg.eigvalsh(psi_tt)[:, -1]
    thresholds = sorted(point["thresholds"], reverse=True)
    resid0 = ds.y_train[None, :] - torch.einsum("snp,sp->sn", a_tr, theta0)
    cap = step_cap(point["max_steps"], point["cap_factor"],
                   [linear_steps(g, r, lr=float(a), threshold=thresholds[-1])
                    for g, r, a in zip(psi_tt, resid0, lr, strict=True)])
    frames, theta, done = [], theta0, np.zeros(len(seeds), dtype=int)
    for threshold in thresholds:  # GD continues from the previous stage: the same iterates as one run
        res = gd_linear(a_tr, ds.y_train, theta, lr, threshold=threshold, max_steps=cap)
        theta, done = res.params["theta"], done + res.steps
        rel_diff, rel_dev, cond = [], [], []
        with torch.no_grad():
            for i in range(len(seeds)):
                f_te, r = a_te[i] @ theta[i], ds.y_train - a_tr[i] @ theta[i]
                sol = psd_solve(psi_tt[i], torch.stack([ds.y_train, r], dim=1))
                f_int, explained = psi_st[i] @ sol[:, 0], psi_st[i] @ sol[:, 1]
                cond.append(float(torch.linalg.cond(psi_tt[i])))
                rel_diff.append(float((f_te - f_int).norm() / f_int.norm()))
                rel_dev.append(float((f_te - f_int + explained).norm() / f_int.norm()))
        rows = member_rows(res, seeds, threshold=threshold, last_init=point["last_init"], cond_psi=cond,
                           rel_diff=rel_diff, rel_dev=rel_dev)
        rows["steps"] = done
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


# ----- homogeneity ---------------------------------------------------------------------------------------------------
def measure_homogeneity(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """000 App. C Eq. 15: f(x) = (1/L)⟨θ, ∇θ f(x)⟩; ⟨θ, ∇θ f⟩ is a Jacobian-vector product along θ."""
    seed = member_seeds(point, 1)[0] + point["seed"]
    gen = torch.Generator().manual_seed(1234 + seed)
    rows = []
    for depth in point["depths"]:
        net = MLP(d_in=point["d_in"], width=point["width"], depth=depth, sigma=point["sigma"], bias=point["bias"],
                  activation=point["activation"], dtype=ctx.dtype, device=ctx.device)
        p = net.init(seed)
        x = torch.randn(point["n"], point["d_in"], generator=gen, dtype=torch.float64).to(ctx.device, ctx.dtype)
        with torch.no_grad():
            f, dir_deriv = jvp(lambda q: net(q, x), (p,), (p,))  # noqa: B023 - called at once, in this iteration
        dev = float((f - dir_deriv / depth).abs().max() / f.abs().max())
        rows.append({"seed": seed, "depth": depth, "bias": point["bias"], "activation": point["activation"],
                     "rel_dev": dev})
    return pd.DataFrame(rows)


# ----- decomposition -------------------------------------------------------------------------------------------------
def measure_decomposition(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """000 Lemma 2 Eq. 14 vs Eq. 13 on one random net and data set; size of the init term on train vs test."""
    ds = load_data(point, ctx)
    net = build_net(point, ctx, ds.d_in)
    seed = member_seeds(point, 1)[0] + point["seed"]
    p0 = net.init(seed)
    f13 = gd_infinite_time(net, p0, ds.x_train, ds.y_train, ds.x_test)
    sol = decomposition(net, p0, ds.x_train, ds.y_train, ds.x_test)
    return pd.DataFrame([{
        "seed": seed, "depth": point["depth"], "bias": point["bias"],
        "rel_diff": float((sol.test - f13).norm() / f13.norm()),
        "init_train_over_test": float(sol.init_term_train.norm() / sol.init_term.norm()),
        "init_test_norm": float(sol.init_term.norm()),
    }])
