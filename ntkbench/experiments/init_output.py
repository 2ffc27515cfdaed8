"""What the claims of :mod:`ntkbench.claims.init_output` measure at one sweep point: the experiments (pure functions
of the point and the run context that return rows) and their helpers. With the engine they are the code that the
cache key hashes (:func:`ntkbench.harness.lifecycle.code_hash`); the checks, statistics and figures stay in the claims
module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..analytic import analytic_nngp, expected_imprint
from ..kernels import _jacobians, empirical_ntk, parameter_kernels
from ..losses import Loss
from ..networks import ASI, MLP, RND, Shifted, doubling_trick
from ..train import init_ensemble, train_ensemble, unstack_params
from .trained import (
    Path,
    load_data,
    member_rms,
    member_seeds,
    outputs,
    prepare_training,
    relative_rms,
    train_path,
    train_to_threshold,
)

U = float(torch.finfo(torch.float64).eps) / 2  # unit round-off of float64


#: an Lp run (:func:`fit_lp`) recomputes its rate every so many steps
LP_SEGMENT = 100


#: the loss curves of init-output/asi-generalization are recorded at so many geometrically spaced step counts
CURVE_POINTS = 40


#: seed shift of the "other initialization" whose initial output the eq6 control uses (as RND's copy: far above
#: every member seed)
OTHER_SEED_SHIFT = 2**30


# ----- nets, variants and training ----------------------------------------------------------------------------------
def make_net(point: Mapping[str, Any], ctx, d_in: int) -> MLP:
    """The net of a point: ``depth`` layers of ``width`` units (``activation``; 003: ReLU), normal biases, in the
    ``scheme`` ``glorot`` (003 §7: standard parametrization, every weight and bias of layer l ~
    N(0, v_std²·2/(fan_in + fan_out))), ``ntk`` (000 Eq. 1: N(0, 1) parameters, layer l scaled by v_std/√fan_in,
    biases by v_std) or ``mean_field`` (as ntk, the output layer scaled by v_std/fan_in and its bias by
    v_std/√fan_in: not lazy, a control)."""
    glorot = point["scheme"] == "glorot"
    return MLP(d_in=d_in, width=int(point["width"]), depth=point["depth"], sigma=point["v_std"], bias="normal",
               parametrization="standard" if glorot else point["scheme"], init_scheme="glorot" if glorot else "normal",
               activation=point["activation"], dtype=ctx.dtype, device=ctx.device)


def variant(net: MLP, seeds: Sequence[int], init: str, p0: Mapping[str, torch.Tensor] | None = None):
    """(model, stacked θ0) of one member per seed: ``standard`` the net itself; ``asi`` (003 §6) its antisymmetric
    copy (h(θ) − h(θ'))/√2 with θ' = θ; ``rnd`` the same architecture with θ' drawn independently (003 Fig. 2c);
    ``doubling`` the Chizat–Bach doubling trick of the same θ0 (003 App. 12); ``asi-h0`` ASI plus the original's
    initial output, held fixed (:class:`~ntkbench.networks.Shifted`: the original's output and kernel at θ0, ASI's
    parameters). Every variant starts from the original's θ0 (``p0`` when given)."""
    p0 = dict(p0) if p0 is not None else init_ensemble(net, seeds)
    if init == "standard":
        return net, p0
    if init in ("asi", "asi-h0"):
        q0 = {**p0, **{f"{k}'": v.clone() for k, v in p0.items()}}
        return (ASI(net), q0) if init == "asi" else (Shifted(ASI(net), net), Shifted.attach(q0, p0))
    if init == "rnd":
        model = RND(net)
        return model, init_ensemble(model, seeds)
    if init == "doubling":
        return doubling_trick(net, p0)
    raise ValueError(f"init={init!r} is not one of {INITS}")


INITS = ("standard", "asi", "doubling", "rnd", "asi-h0")


def _mse(model, params: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Per member: the MSE of the outputs on (x, y)."""
    return (outputs(model, params, x) - y).pow(2).mean(dim=1).cpu().numpy()


@dataclass(frozen=True)
class Fit:
    """A trained ensemble: final parameters, steps, the final training MSE and whether it reached the threshold,
    the rate (on the MSE) of each member, ``loss``: the final value of the loss it was trained on, and with
    checkpoints the outputs along training (:class:`~ntkbench.experiments.trained.Path`)."""

    params: dict
    steps: np.ndarray
    mse: np.ndarray
    converged: np.ndarray
    lr: np.ndarray
    loss: np.ndarray
    cap: int
    path: Path | None = None


def fit_mse(point: Mapping[str, Any], model, p0: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
            seeds: Sequence[int], *, x_eval: torch.Tensor | None = None, checkpoints: int = 0,
            scale: float = 1.0) -> Fit:
    """GD on the MSE from ``p0`` until the training MSE first drops below ``threshold``: run as GD on ½‖f − Y‖² at
    rate 2η/n (the same iterates), η = ``lr`` or c·n/(2λ_max(Θ(X, X))) per member, the cap scaled with the
    conditioning (``cap_factor``). With ``checkpoints`` the outputs on ``x_eval`` are recorded at that many
    geometrically spaced step counts (:func:`~ntkbench.experiments.trained.train_path`: the same iterates). Targets
    ``y`` of ``scale`` times the data's: the threshold applies to MSE/scale², and the MSEs are reported so."""
    n = x.shape[0]
    kw = {"c": point["lr_c"], "threshold": point["threshold"] * scale**2 * n / 2, "max_steps": point["max_steps"],
          "cap_factor": point["cap_factor"], "params0": p0, "lr": None if point["lr"] == 0 else point["lr"] * 2 / n}
    path = None
    if checkpoints:
        p0, rate, cap = prepare_training(model, seeds, x, y, loss="half_sse", optimizer="gd", **kw)
        res, path = train_path(model, p0, x, y, x_eval, lr=rate, threshold=kw["threshold"], max_steps=cap,
                               checkpoints=checkpoints)
    else:
        _, res, rate = train_to_threshold(model, seeds, x, y, **kw)
    mse = res.final_loss * 2 / n / scale**2
    return Fit(dict(res.params), res.steps.astype(int), mse, res.converged.astype(bool),
               (rate * n / 2).cpu().numpy(), mse, int(res.max_steps), path)


def fit_lp(point: Mapping[str, Any], model, p0: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
           lam: torch.Tensor, cap: int) -> Fit:
    """GD on the Lp loss mean|f − Y|^p (003 §4; p = ``p`` ≥ 2) from ``p0`` until mean|r|^p < threshold^(p/2), which
    implies a training MSE below ``threshold`` (power means: (mean r²)^(p/2) ≤ mean|r|^p). The loss is flat at its
    minimum (curvature p(p−1)|r|^(p−2)/n), so a fixed rate would crawl: every :data:`LP_SEGMENT` steps the rate is
    reset to c/(λ_max · p(p−1)·max|r|^(p−2)/n), the stable rate of the linearized model at the current residuals
    (λ_max = ``lam``, Θ at θ0). A step-size schedule only reparametrizes time along GD's path, so the limit is the
    Lp loss's (003 Thm 5); the cap is ``cap`` steps."""
    p, n, c = point["p"], x.shape[0], point["lr_c"]
    loss = Loss("lp", p=p)
    goal = point["threshold"] ** (p / 2)
    params = dict(p0)
    members = lam.shape[0]
    steps = np.zeros(members, dtype=int)
    done = np.zeros(members, dtype=bool)
    rate = np.zeros(members)
    while steps.max() < cap and not done.all():
        r = (outputs(model, params, x) - y).abs()
        curv = p * (p - 1) * r.max(dim=1).values.pow(p - 2) / n
        lr = c / (lam * curv)
        rate = np.where(done, rate, lr.cpu().numpy())
        seg = min(LP_SEGMENT, cap - int(steps.max()))
        res = train_ensemble(model, params, x, y, loss=loss, lr=lr, threshold=goal, max_steps=seg, record_every=seg)
        params, steps = dict(res.params), steps + res.steps.astype(int)
        done |= res.converged.astype(bool)
        if res.diverged.any():
            break
    final = (outputs(model, params, x) - y).abs().pow(p).mean(dim=1).cpu().numpy()
    return Fit(params, steps, _mse(model, params, x, y), done, rate, final, int(cap))


def fit_second(point: Mapping[str, Any], model, p0: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
               lam: torch.Tensor, cap: int) -> Fit:
    """The second loss of loss/invariance: ``loss="lp"`` (:func:`fit_lp`), or ``"eps_insensitive"`` (the control):
    GD on mean max(0, |r| − epsilon)² at rate c·n/(2λ_max) (its curvature where active) until that loss drops below
    threshold² — it then fits every point to within epsilon, its minimizer set, and stops there."""
    if point["loss"] == "lp":
        return fit_lp(point, model, p0, x, y, lam, cap)
    n = x.shape[0]
    lr = point["lr_c"] * n / (2 * lam)
    res = train_ensemble(model, dict(p0), x, y, loss=Loss("eps_insensitive", margin=point["epsilon"]), lr=lr,
                         threshold=point["threshold"] ** 2, max_steps=cap, record_every=cap)
    return Fit(dict(res.params), res.steps.astype(int), _mse(model, res.params, x, y), res.converged.astype(bool),
               lr.cpu().numpy(), res.final_loss, int(cap))


def _lam_max(model, p0: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    members = next(iter(p0.values())).shape[0]
    with torch.no_grad():
        return torch.stack([torch.linalg.eigvalsh(empirical_ntk(model, unstack_params(p0, s), x))[-1]
                            for s in range(members)])


def _rows(fit: Fit, seeds: Sequence[int], **columns: Any) -> pd.DataFrame:
    """One row per member (``part="member"``): seed, steps, converged, train_loss (the training MSE), step_cap, plus
    ``columns``."""
    rows = pd.DataFrame({"part": "member", "seed": list(seeds), "steps": fit.steps, "converged": fit.converged,
                         "train_loss": fit.mse, "step_cap": fit.cap})
    for k, v in columns.items():
        rows[k] = v
    return rows


def _profile(ds, seed: int, width: int, train: Mapping[str, torch.Tensor], test: Mapping[str, torch.Tensor]):
    """The functions of one member over the inputs, for the figures of 003 Fig. 1–3: one row per training input
    (``part="train"``) and per test input (``part="test"``) with ``x0`` (the first input coordinate), the target
    ``y`` and each named output (``out_*``: 1-D tensors over the inputs). No ``converged``: the checks read member
    rows only."""
    frames = []
    for part, x, y, curves in (("train", ds.x_train, ds.y_train, train), ("test", ds.x_test, ds.y_test, test)):
        cols = {k: v.detach().cpu().numpy() for k, v in curves.items()}
        frames.append(pd.DataFrame({"part": part, "seed": seed, "width": width, "x0": x[:, 0].cpu().numpy(),
                                    "y": y.cpu().numpy(), **cols}))
    return pd.concat(frames, ignore_index=True)


def members(d: pd.DataFrame) -> pd.DataFrame:
    """The member rows of a claim's data (without the figures' profile rows)."""
    return d[d["part"] == "member"] if "part" in d else d


# ----- loss/invariance ----------------------------------------------------------------------------------------------
def loss_gap(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """003 Thm 5–6, Fig. 1: from one θ0 per member, GD on the MSE and GD on the Lp loss to the same training-MSE
    threshold. Per member on the test points: ``gap`` = ‖f_L2 − f_Lp‖/‖f_L2‖; ``stop_term`` =
    ‖Θ(x, X)Θ(X, X)⁻¹(r_L2 − r_Lp)‖/‖f_L2‖ (Θ at θ0, r the final training residuals): the part of the gap that the
    two runs' unfinished residuals explain to first order; ``mse_2`` and ``loss_2`` the Lp run's final training
    MSE and loss (``train_loss`` is the larger of the two runs' MSE, ``converged`` both)."""
    ds = load_data(point, ctx)
    net = make_net(point, ctx, ds.d_in)
    seeds = member_seeds(point)
    x, y, xt = ds.x_train, ds.y_train, ds.x_test
    p0 = init_ensemble(net, seeds)
    l2 = fit_mse(point, net, p0, x, y, seeds)
    lam = _lam_max(net, p0, x)
    lp = fit_second(point, net, p0, x, y, lam, cap=point["cap_factor_2"] * l2.cap)
    f2, fp = outputs(net, l2.params, xt), outputs(net, lp.params, xt)
    r2, rp = y - outputs(net, l2.params, x), y - outputs(net, lp.params, x)
    norm = member_rms(f2)
    with torch.no_grad():
        stop = []
        for s in range(len(seeds)):
            th = unstack_params(p0, s)
            k_st, k_tt = empirical_ntk(net, th, xt, x), empirical_ntk(net, th, x)
            # pinv: a narrow net's Θ(X, X) may be singular (dead units)
            stop.append(k_st @ torch.linalg.pinv(k_tt, hermitian=True) @ (r2[s] - rp[s]))
    stop_term = (member_rms(torch.stack(stop)) / norm).tolist()
    f2x, fpx = y - r2, y - rp
    rows = _rows(l2, seeds, converged=l2.converged & lp.converged,
                 steps_2=lp.steps, mse_2=lp.mse, loss_2=lp.loss, l2_mse=l2.mse, gap=relative_rms(f2, fp, norm),
                 gap_train=relative_rms(r2, rp, member_rms(y[None, :])), stop_term=stop_term,
                 f_rms=norm.tolist(),
                 width=int(point["width"]), loss=point["loss"], p=point["p"], epsilon=point["epsilon"],
                 dataset=point["dataset"])
    curves = _profile(ds, seeds[0], int(point["width"]), {"out_l2": f2x[0], "out_lp": fpx[0]},
                      {"out_l2": f2[0], "out_lp": fp[0]})
    return pd.concat([rows, curves], ignore_index=True)


# ----- init-output/eq6 and init-output/error-decomposition ---------------------------------------------------------
def imprint_runs(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """The member rows of :func:`imprint_fits` (init-output/error-decomposition), with 003 Thm 3's imprint predicted
    without training (:func:`~ntkbench.analytic.expected_imprint`, the same on every row): ``q_pred`` = E q over
    the test points from the net's NNGP and analytic NTK, and ``q_prior`` = mean Σ(x, x), the initial output's
    mean square (what the imprint would be if training removed none of it)."""
    rows = imprint_fits(point, ctx)[0]
    ds = load_data(point, ctx)
    net = make_net(point, ctx, ds.d_in)
    with torch.no_grad():
        q_pred = float(expected_imprint(net, ds.x_train, ds.x_test).mean())
        q_prior = float(torch.diagonal(analytic_nngp(net, ds.x_test)).mean())
    return rows.assign(q_pred=q_pred, q_prior=q_prior)


def eq6_runs(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """The member rows of :func:`imprint_fits` and the profile of the first member (init-output/eq6, 003 Fig. 2a–b)."""
    return pd.concat(imprint_fits(point, ctx), ignore_index=True)


def imprint_fits(point: Mapping[str, Any], ctx) -> tuple[pd.DataFrame, pd.DataFrame]:
    """003 Thm 2–3, Eq. 6: per member θ0, three trainings to the threshold — the original net on Y (f), the ASI net
    on Y (h(·; 0): zero initial output, the same kernel) and the ASI net on h_ini(X) (h(·; 0, X, h_ini(X))) — with
    h_ini the original's initial output (``h_ini="other"``: that of an independent draw, the control). On the test
    points: ``eq6_err`` = ‖f − [h(·;0) + h_ini − h(·;0,X,h_ini(X))]‖/‖f‖, ``asi_err`` = ‖f − h(·;0)‖/‖f‖ (the error
    of ignoring the imprint), ``imprint`` = ‖I‖, I = h_ini − h(·;0,X,h_ini(X)); the test MSEs ``e_f`` of f and
    ``e_0`` of h(·;0), ``q`` = mean I² and ``cross`` = 2·mean((h(·;0) − y)·I): Thm 3 reads
    E[e_f] = e_0 + E[q] (the cross term averages out because h_ini is symmetric). Returns (member rows, the first
    member's profile: f, h(·;0), Eq. 6's RHS, h_ini and the imprint over the training and test inputs)."""
    ds = load_data(point, ctx)
    net = make_net(point, ctx, ds.d_in)
    seeds = member_seeds(point)
    x, y, xt, yt = ds.x_train, ds.y_train, ds.x_test, ds.y_test
    p0 = init_ensemble(net, seeds)
    h_src = p0 if point["h_ini"] == "same" else init_ensemble(net, [s + OTHER_SEED_SHIFT for s in seeds])
    h_tr, h_te = outputs(net, h_src, x), outputs(net, h_src, xt)
    orig = fit_mse(point, net, p0, x, y, seeds)
    asi, q0 = variant(net, seeds, "asi", p0)
    zero = fit_mse(point, asi, q0, x, y, seeds)
    fits = []
    for s in range(len(seeds)):  # each member has its own targets h_ini(X): one at a time
        one = {k: v[s:s + 1] for k, v in q0.items()}
        fits.append(fit_mse(point, asi, one, x, h_tr[s], seeds[s:s + 1]))
    f, h0 = outputs(net, orig.params, xt), outputs(asi, zero.params, xt)
    hx = torch.cat([outputs(asi, g.params, xt) for g in fits])
    imprint = h_te - hx
    rhs = h0 + imprint
    norm = member_rms(f)
    mses = np.stack([orig.mse, zero.mse, np.concatenate([g.mse for g in fits])])
    rows = _rows(orig, seeds, converged=orig.converged & zero.converged & np.concatenate([g.converged for g in fits]),
                 train_loss=mses.max(axis=0), eq6_err=relative_rms(f, rhs, norm),
                 asi_err=relative_rms(f, h0, norm), imprint=member_rms(imprint).tolist(),
                 h_ini=member_rms(h_te).tolist(), e_f=(f - yt).pow(2).mean(dim=1).tolist(),
                 e_0=(h0 - yt).pow(2).mean(dim=1).tolist(), q=imprint.pow(2).mean(dim=1).tolist(),
                 cross=(2 * ((h0 - yt) * imprint).mean(dim=1)).tolist(), steps_asi=zero.steps,
                 width=int(point["width"]), v_std=point["v_std"], dataset=point["dataset"])
    f_x, h0_x = outputs(net, orig.params, x)[0], outputs(asi, zero.params, x)[0]
    hx_x = outputs(asi, fits[0].params, x)[0]
    curves = _profile(ds, seeds[0], int(point["width"]),
                      {"out_f": f_x, "out_h0": h0_x, "out_rhs": h0_x + h_tr[0] - hx_x, "out_h_ini": h_tr[0],
                       "out_imprint": h_tr[0] - hx_x},
                      {"out_f": f[0], "out_h0": h0[0], "out_rhs": rhs[0], "out_h_ini": h_te[0],
                       "out_imprint": imprint[0]})
    return rows, curves


# ----- init-output/asi-exact and init-output/doubling-kernel: float64 identities at θ0 ------------------------------
def _kernel_inputs(point: Mapping[str, Any], ctx) -> torch.Tensor:
    """The training inputs and the first ``kernel_points`` test inputs (where the kernels are compared)."""
    ds = load_data(point, ctx)
    return torch.cat([ds.x_train, ds.x_test[: point["kernel_points"]]])


def _abs_gram(jac: Mapping[str, torch.Tensor], names: Sequence[str]) -> torch.Tensor:
    """Σ_p |J_ip||J_jp| over the parameters of ``names``: the scale of the round-off of the kernel's sums."""
    return sum(torch.einsum("iap,jap->ij", j.abs(), j.abs()) for k, j in jac.items() if k in names)


def asi_identities(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """003 Thm 4 for one draw (the point's seed): the ASI net (``init="asi"``; ``"rnd"``: θ' drawn independently,
    the control) at θ0. ``out_max`` = max |h_ASI(x; θ0)| over the kernel inputs (exactly 0: both halves are the same
    floating-point computation); ``kernel_dev`` = max_ij |Θ_ASI − Θ|_ij / ((3P + 4)·u·Σ_p|J_ip||J_jp|), Θ_ASI by
    automatic differentiation of (h(θ) − h(θ'))/√2 (``method="jacobian"``, not the ½(Θ_θ + Θ_θ') shortcut), Θ the
    original's: the Higham bound of the round-off of two dot products of length P and 2P and of the 1/√2 factors
    (u = 2⁻⁵³), so ≤ 1 when the kernels agree in exact arithmetic; ``kernel_rel`` = max |ΔΘ| / max |Θ|."""
    x = _kernel_inputs(point, ctx)
    net = make_net(point, ctx, x.shape[1])
    seed = member_seeds(point, 1)[0] + point["seed"]
    model, stacked = variant(net, [seed], point["init"])
    params = unstack_params(stacked, 0)
    first = {k: v for k, v in params.items() if not k.endswith("'")}
    with torch.no_grad():
        out = model(params, x)
        k_asi = empirical_ntk(model, params, x, method="jacobian")
        k_net = empirical_ntk(net, first, x, method="jacobian")
        scale = _abs_gram(_jacobians(net, first, x), list(first))
    n_p = net.n_params
    dev = (k_asi - k_net).abs()
    return pd.DataFrame({"seed": [seed], "width": [int(point["width"])], "init": [point["init"]],
                         "out_max": [float(out.abs().max())], "n_params": [n_p],
                         "kernel_dev": [float((dev / ((3 * n_p + 4) * U * scale)).max())],
                         "kernel_rel": [float(dev.max() / k_net.abs().max())],
                         "out_scale": [float(net(first, x).abs().max())]})


def doubling_kernels(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """003 App. 12 (Thm 10) for one draw: the per-parameter kernels K_k of the doubled net (last hidden layer
    duplicated, output weights (W^L, −W^L); ``flip=False``: (W^L, W^L), the control) against the original's. One row
    per parameter tensor k with ``layer``, ``ratio`` = ‖K_k,doubled‖_F/‖K_k‖_F and, by role: layers L−1 and L's
    weights (``role="double"``): ``dev`` = max_ij |K_d − 2K|_ij / ((4P_k + 8)·u·Σ_p|J_ip||J_jp|) (≤ 1 when K_d = 2K
    in exact arithmetic; P_k the tensor's size); layers ≤ L−2 (``role="vanish"``): ``dev`` = ratio /
    (4·m^(3/2)·u)², the size of the round-off left when the backward pass sums the 2m cancelling terms
    ±W^L_u σ'(h_u)(…) (relative error γ_2m ≈ 2m·u of a sum whose terms are √m times its value, squared in the
    kernel); the output bias b^L (``role="bias"``) keeps ratio 1 (003 App. 12's nets have no output bias).
    The initial output: ``out_dev`` = max_x |f_d(x) − s_b·b^L| / ((2m + 1)·2u·c_L·Σ_u|W^L_u a_u(x)|), ≤ 1 when the
    doubled net's output is its output bias alone (the two halves cancel)."""
    x = _kernel_inputs(point, ctx)
    net = make_net(point, ctx, x.shape[1])
    seed = member_seeds(point, 1)[0] + point["seed"]
    params = net.init(seed)
    L, m = net.depth, int(point["width"])
    doubled, dparams = doubling_trick(net, params)
    if not point["flip"]:
        dparams[f"W{L}"] = torch.cat([params[f"W{L}"], params[f"W{L}"]], dim=-1)
    with torch.no_grad():
        k_o, k_d = parameter_kernels(net, params, x), parameter_kernels(doubled, dparams, x)
        jac = _jacobians(net, params, x)
        feats = net.forward_cache(params, x)[1][-1]  # a^{L−1}(x)
        terms = net.weight_scales[-1] * (feats * params[f"W{L}"][0]).abs().sum(dim=1)
        bias = net.bias_scales[-1] * params[f"b{L}"]
        out_dev = float(((doubled(dparams, x) - bias).abs() / ((2 * m + 1) * 2 * U * terms)).max())
    rows = []
    for k in k_o:
        layer = net.layer_of(k)
        ratio = float(k_d[k].norm() / k_o[k].norm())
        if k == f"b{L}":
            role, dev = "bias", abs(ratio - 1)
        elif layer >= L - 1:
            role = "double"
            bound = (4 * params[k].numel() + 8) * U * _abs_gram(jac, [k])
            dev = float(((k_d[k] - 2 * k_o[k]).abs() / bound).max())
        else:
            role, dev = "vanish", ratio / (4 * m**1.5 * U) ** 2
        rows.append({"seed": seed, "width": m, "param": k, "layer": layer, "role": role, "ratio": ratio, "dev": dev,
                     "out_dev": out_dev, "flip": point["flip"]})
    return pd.DataFrame(rows)


# ----- init-output/asi-generalization -------------------------------------------------------------------------------
def generalization_runs(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """003 Fig. 2–3: from each member's θ0, every variant of ``inits`` (original, ASI, doubling, RND; :func:`variant`)
    trained by GD on the MSE to the threshold, each at c/λ_max of its own kernel. One row per member and variant:
    ``test_mse``, ``steps``, ``h_ini`` (RMS initial output on the test points); and the loss curves (003 Fig. 2c,
    3b): rows ``part="curve"`` with the training and test MSE after ``step`` steps, at step 0 and
    :data:`CURVE_POINTS` geometrically spaced step counts (the same GD iterates, recorded on the way). With
    ``target_scale`` a ≠ 1 the nets are trained on a·Y to MSE a²·threshold and every output quantity is reported in
    the data's units (h_ini / a, MSEs / a²)."""
    ds = load_data(point, ctx)
    net = make_net(point, ctx, ds.d_in)
    seeds = member_seeds(point)
    a = point["target_scale"]
    x, y, xt, yt = ds.x_train, a * ds.y_train, ds.x_test, a * ds.y_test
    p0 = init_ensemble(net, seeds)
    frames = []
    x_eval = torch.cat([x, xt])
    for init in point["inits"]:
        model, q0 = variant(net, seeds, init, p0)
        fit = fit_mse(point, model, q0, x, y, seeds, x_eval=x_eval, checkpoints=CURVE_POINTS, scale=a)
        frames.append(_rows(fit, seeds, init=init, test_mse=_mse(model, fit.params, xt, yt) / a**2,
                            h_ini=(member_rms(outputs(model, q0, xt)) / a).tolist(), lr=fit.lr,
                            width=int(point["width"]), v_std=point["v_std"], dataset=point["dataset"]))
        frames.append(_loss_curves(fit.path, outputs(model, q0, x_eval), y, yt, seeds, a, init=init))
    return pd.concat(frames, ignore_index=True)


def _loss_curves(path: Path, start: torch.Tensor, y: torch.Tensor, yt: torch.Tensor, seeds: Sequence[int],
                 scale: float = 1.0, **columns: Any) -> pd.DataFrame:
    """Rows ``part="curve"``: per member and recorded step count (0, then the path's checkpoints until it stopped)
    the training and test MSE of the outputs recorded on (training inputs, test inputs), divided by ``scale``² (the
    targets' scale)."""
    n = y.shape[0]
    outs = torch.cat([start[:, None], path.outputs], dim=1)
    steps = np.concatenate([np.zeros((len(seeds), 1), dtype=int), path.steps], axis=1)
    train = (outs[..., :n] - y).pow(2).mean(dim=-1).cpu().numpy() / scale**2
    test = (outs[..., n:] - yt).pow(2).mean(dim=-1).cpu().numpy() / scale**2
    frame = pd.DataFrame({"part": "curve", "seed": np.repeat(list(seeds), steps.shape[1]), "step": steps.ravel(),
                          "train_mse": train.ravel(), "test_mse": test.ravel(), **columns})
    return frame.drop_duplicates(["seed", "step"], ignore_index=True)  # a stopped member's step count repeats
