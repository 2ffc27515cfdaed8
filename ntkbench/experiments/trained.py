"""The experiment of a sweep point: its data, its nets, an ensemble trained to the threshold, kernel solutions.

Every function reads the sweep point made by :meth:`ntkbench.harness.registry.Claim.points` from the parameter groups of
:mod:`ntkbench.claims.params`. Net settings that a claim does not declare take the values of :data:`NET_DEFAULTS`
(000 Eq. 1, 001 Eq. 1: NTK parametrization, zero biases, ReLU, standard initialization).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.func import vmap

from .. import data as datasets
from ..kernels import empirical_ntk
from ..linearize import linear_path, linear_steps, psd_solve
from ..networks import ASI, MLP
from ..train import TrainResult, init_ensemble, lr_from_ntk, train_ensemble, unstack_params
from . import SEED_STRIDE

#: the conditioning-scaled step cap (:func:`step_cap`) never exceeds this multiple of ``max_steps``
CAP_CEILING = 20

NET_DEFAULTS = {"bias": "zero", "activation": "relu", "parametrization": "ntk", "init": "standard"}
# options fixed per data set (not parameters): 000 §1.2 puts the inputs in the unit ball
DATA_OPTIONS: dict[str, dict[str, Any]] = {"bump2d": {"normalize": "unit_ball"}}


def data_seed(point: Mapping[str, Any]) -> int:
    """The split's seed: ``data_seed`` shifted by ``seed_offset``, and by ``data_split``·SEED_STRIDE at a point of a
    claim that sweeps several data splits (an axis ``data_split``: independent splits of one reseed)."""
    return point["data_seed"] + point["seed_offset"] + SEED_STRIDE * point.get("data_split", 0)


def member_seeds(point: Mapping[str, Any], count: int | None = None) -> list[int]:
    """Initialization seeds of the point's members: 0 … seeds−1, shifted by seed_offset·SEED_STRIDE (and, at the
    ``data_split``-th split of a claim that sweeps several, by data_split·count: every split's members their own)."""
    n = point["seeds"] if count is None else count
    split = point.get("data_split", 0)
    first = split * n
    if first + n > SEED_STRIDE:
        raise ValueError(f"{first + n} member seeds (data split {split} of {n} members) exceed the "
                         f"{SEED_STRIDE} a reseed owns: fewer members or data splits")
    return [point["seed_offset"] * SEED_STRIDE + first + s for s in range(n)]


def load_data(point: Mapping[str, Any], ctx) -> datasets.Dataset:
    """The data set named by ``point["dataset"]`` (the registry of :mod:`ntkbench.data`) with the point's sizes,
    split seed, MNIST whitening (``pca``: 0 keeps the pixels, k > 0 whitens on k principal components) and, when the
    claim declares it, sin1d's training ``design``."""
    name = point["dataset"]
    kw: dict[str, Any] = {"n_train": point["n_train"], "n_test": point["n_test"], "seed": data_seed(point),
                          "dtype": ctx.dtype, "device": ctx.device, **DATA_OPTIONS.get(name, {})}
    pca = point["pca"]  # read for every data set (MNIST only uses it), so that the point is fully read
    if pca and name.startswith("mnist"):
        kw["pca"] = pca
    if "design" in point and point["design"] != "uniform":  # sin1d's training design (other sets: uniform only)
        if name != "sin1d":
            raise ValueError(f"design={point['design']!r} applies to sin1d only, got dataset={name!r}")
        kw["design"] = point["design"]
    return datasets.load(name, **kw)


def build_net(point: Mapping[str, Any], ctx, d_in: int, **settings: Any):
    """The net of a sweep point: depth, width (:func:`net_width`) and σ from the point (or ``settings``), the other
    settings from the point when declared there, else from ``settings``, else :data:`NET_DEFAULTS`;
    ``init="asi"`` wraps it in :class:`~ntkbench.networks.ASI`."""
    s = {**NET_DEFAULTS, **settings, **{k: point[k] for k in (*NET_DEFAULTS, "depth", "width", "sigma") if k in point}}
    width = net_width(point) if "width" in point else s["width"]
    base = MLP(d_in=d_in, width=width, depth=s["depth"], sigma=s["sigma"], bias=s["bias"],
               parametrization=s["parametrization"], activation=s["activation"], dtype=ctx.dtype, device=ctx.device)
    return ASI(base) if s["init"] == "asi" else base


def net_width(point: Mapping[str, Any]) -> int:
    """The point's hidden width: ``width``, times ``width_factor`` when the claim sweeps one (a width sweep
    relative to each depth's own width)."""
    factor = point.get("width_factor", 1.0)
    return max(1, int(round(point["width"] * factor)))


def ntk_lrs(net, stacked: Mapping[str, torch.Tensor], x: torch.Tensor, c: float,
            loss: str = "half_sse") -> torch.Tensor:
    """Per-member learning rates c / λ_max(Θ_s(X, X)) of a stacked ensemble (each member its own kernel)."""
    n = next(iter(stacked.values())).shape[0]
    lrs = [lr_from_ntk(net, unstack_params(stacked, s), x, c=c, loss=loss) for s in range(n)]
    return torch.tensor(lrs, dtype=torch.float64, device=x.device)


def outputs(model, stacked: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """(S, n) outputs of every member of a stacked ensemble."""
    with torch.no_grad():
        return vmap(model, in_dims=(0, None))(dict(stacked), x)


def step_cap(max_steps: int, cap_factor: float, needed: Sequence[float]) -> int:
    """The step cap of an ensemble: max(max_steps, ⌈cap_factor · the most steps one member's linearized model
    needs⌉), at most CAP_CEILING·max_steps. The linearized model's steps (:func:`ntkbench.linearize.linear_steps`)
    grow like κ(Θ)·log(loss0/threshold), so an ill-conditioned draw gets a longer budget; a net close to its
    linearization (000 Lemma 1) needs about as many, and the factor leaves room for the finite-width departure.
    A member that still hits the cap did not run as designed: the run is invalid, not a fail."""
    worst = max(needed) if len(needed) else 0.0
    want = math.ceil(cap_factor * worst) if math.isfinite(worst) else math.inf
    return int(min(CAP_CEILING * max_steps, max(max_steps, want)))


def _grams(model, stacked: Mapping[str, torch.Tensor], x: torch.Tensor) -> list[torch.Tensor]:
    n = next(iter(stacked.values())).shape[0]
    with torch.no_grad():
        return [empirical_ntk(model, unstack_params(stacked, s), x) for s in range(n)]


def prepare_training(model, seeds, x, y, *, c, threshold, max_steps, cap_factor, loss, optimizer, params0, lr):
    """θ0, per-member rates and the step cap of :func:`train_to_threshold` (and of :func:`train_path` runs)."""
    p0 = dict(params0) if params0 is not None else init_ensemble(model, seeds)
    n = len(seeds)
    cap = max_steps
    if cap_factor is not None:
        if loss != "half_sse" or optimizer != "gd":
            raise ValueError(f"cap_factor needs GD on half_sse (the linearized model's step count), got "
                             f"loss={loss!r}, optimizer={optimizer!r}")
        grams = _grams(model, p0, x)
        if lr is None:
            lr = torch.tensor([lr_from_ntk(model, {}, x, c=c, loss=loss, gram=g) for g in grams], dtype=torch.float64)
        lr = torch.as_tensor(lr, dtype=torch.float64).expand(n)
        resid = y[None, :] - outputs(model, p0, x)
        cap = step_cap(max_steps, cap_factor, [linear_steps(g, r, lr=float(a), threshold=threshold)
                                               for g, r, a in zip(grams, resid, lr, strict=True)])
    elif lr is None:
        lr = ntk_lrs(model, p0, x, c, loss=loss)
    lr = torch.as_tensor(lr, dtype=torch.float64).expand(n).to(x.device)
    return p0, lr, cap


def train_to_threshold(model, seeds: Sequence[int], x: torch.Tensor, y: torch.Tensor, *, c: float,
                       threshold: float, max_steps: int, cap_factor: float | None = None, loss: str = "half_sse",
                       optimizer: str = "gd", params0: Mapping[str, torch.Tensor] | None = None,
                       lr: torch.Tensor | float | None = None, **kw) -> tuple[dict, TrainResult, torch.Tensor]:
    """Train one member per seed (vectorized) until its training loss first drops below ``threshold``.

    Returns (θ0 stacked, result, per-member learning rates). Without ``lr`` each member's rate is c/λ_max of its
    own Θ(X, X) (000 App. E, 001 App. D). The cap is ``max_steps``, or with ``cap_factor`` the
    conditioning-scaled :func:`step_cap` (``result.max_steps`` says which cap the run had)."""
    p0, lr, cap = prepare_training(model, seeds, x, y, c=c, threshold=threshold, max_steps=max_steps,
                                   cap_factor=cap_factor, loss=loss, optimizer=optimizer, params0=params0, lr=lr)
    res = train_ensemble(model, p0, x, y, loss=loss, optimizer=optimizer, lr=lr, threshold=threshold,
                         max_steps=cap, record_every=max(1, cap), **kw)
    return p0, res, lr


@dataclass(frozen=True)
class Path:
    """Outputs of every member along training: ``steps`` (S, T) the step count of member s at checkpoint k (its
    final count once it stopped), ``outputs`` (S, T, n) its outputs on the recorded inputs there."""

    steps: np.ndarray
    outputs: torch.Tensor


def train_path(model, p0: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, x_eval: torch.Tensor, *,
               lr: torch.Tensor, threshold: float, max_steps: int, checkpoints: int) -> tuple[TrainResult, Path]:
    """Full-batch GD to the threshold as :func:`train_to_threshold`, in segments that end at ``checkpoints``
    geometrically spaced step counts up to ``max_steps``, recording every member's outputs on ``x_eval`` at each
    (a GD step has no state, so the iterates are those of one uninterrupted run)."""
    ends = sorted({int(round(t)) for t in np.geomspace(1, max_steps, checkpoints)})
    params, done, parts, out_steps, outs = dict(p0), 0, [], [], []
    n = len(lr)
    total = np.zeros(n, dtype=int)
    for end in ends:
        res = train_ensemble(model, params, x, y, loss="half_sse", optimizer="gd", lr=lr, threshold=threshold,
                             max_steps=end - done, record_every=max(1, end - done))
        params, done = dict(res.params), end
        total = total + res.steps.astype(int)
        parts.append(res)
        out_steps.append(total.copy())
        outs.append(outputs(model, params, x_eval))
        if bool(res.converged.all()) or bool(res.diverged.any()):
            break
    last = parts[-1]
    curve = np.concatenate([r.loss_curve for r in parts], axis=1)
    offsets = np.concatenate([[0], list(ends[:len(parts) - 1])])
    rec = np.concatenate([r.record_steps + o for r, o in zip(parts, offsets, strict=True)])
    result = TrainResult(params=last.params, loss_curve=curve, test_curve=None, record_steps=rec, steps=total,
                         final_loss=last.final_loss, converged=last.converged,
                         diverged=np.any([r.diverged for r in parts], axis=0), seconds=sum(r.seconds for r in parts),
                         max_steps=int(max_steps))
    return result, Path(np.stack(out_steps, axis=1), torch.stack(outs, dim=1))


def trained_ensemble(point: Mapping[str, Any], ctx, *, checkpoints: int | None = None, **net_settings: Any):
    """The trained-ensemble experiment of a point: its data, its net, ``seeds`` members trained by GD from their
    own θ0 to the threshold with rates c/λ_max and the conditioning-scaled cap (:func:`step_cap`). Returns (data
    set, net, θ0, result, rates, member seeds); with ``checkpoints`` also the test outputs along training
    (:class:`Path`)."""
    ds = load_data(point, ctx)
    net = build_net(point, ctx, ds.d_in, **net_settings)
    seeds = member_seeds(point)
    if checkpoints is None:
        p0, res, lr = train_to_threshold(net, seeds, ds.x_train, ds.y_train, c=point["lr_c"],
                                         threshold=point["threshold"], max_steps=point["max_steps"],
                                         cap_factor=point["cap_factor"])
        return ds, net, p0, res, lr, seeds
    p0, lr, cap = prepare_training(net, seeds, ds.x_train, ds.y_train, c=point["lr_c"],
                                   threshold=point["threshold"], max_steps=point["max_steps"],
                                   cap_factor=point["cap_factor"], loss="half_sse", optimizer="gd", params0=None,
                                   lr=None)
    res, path = train_path(net, p0, ds.x_train, ds.y_train, ds.x_test, lr=lr, threshold=point["threshold"],
                           max_steps=cap, checkpoints=checkpoints)
    return ds, net, p0, res, lr, seeds, path


def member_rows(res: TrainResult, seeds: Sequence[int], **columns: Any) -> pd.DataFrame:
    """One row per member with its seed and training outcome (steps, converged, train_loss, step_cap), plus
    ``columns`` (scalars repeated, or one value per member)."""
    rows = pd.DataFrame({"seed": list(seeds), "steps": res.steps.astype(int), "converged": res.converged.astype(bool),
                         "train_loss": res.final_loss.astype(float), "step_cap": int(res.max_steps)})
    for k, v in columns.items():
        rows[k] = v
    return rows


def rms(v: torch.Tensor) -> float:
    """Root mean square over test points."""
    return float(torch.sqrt((v**2).mean()))


def member_rms(v: torch.Tensor) -> torch.Tensor:
    """Root mean square over the test points (the last axis), per member."""
    return v.pow(2).mean(dim=-1).sqrt()


def relative_rms(a: torch.Tensor, b: torch.Tensor, norm: torch.Tensor) -> list[float]:
    """Per member: RMS over the test points of a − b, divided by ``norm``."""
    return (member_rms(a - b) / norm).tolist()


def kernel_solutions(net, params0: Mapping[str, torch.Tensor], x_train: torch.Tensor, y_train: torch.Tensor,
                     x_test: torch.Tensor, *, lr: float, steps: int,
                     path_steps: Sequence[int] | None = None) -> dict[str, torch.Tensor]:
    """For one θ0, on ``x_test``: ``"int"``, the kernel interpolant f_int = Θ(x, X)Θ⁻¹Y (000 Eq. 9); ``"lin"``,
    the linearized net trained the same way as the net — ``steps`` GD steps of size ``lr`` from θ0 (000 Eq. 8);
    ``"lin_inf"``, its infinite-time limit f0 + Θ(x, X)Θ⁻¹(Y − f0(X)) (000 Eq. 13); with ``path_steps``,
    ``"lin_path"`` (T, n): the linearized net after each of those step counts."""
    with torch.no_grad():
        k_tt = empirical_ntk(net, params0, x_train)
        k_st = empirical_ntk(net, params0, x_test, x_train)
        f0_tr, f0_te = net(params0, x_train), net(params0, x_test)
        a = psd_solve(k_tt, torch.stack([y_train, y_train - f0_tr], dim=1))
        times = [steps, *(path_steps or ())]
        path = linear_path(k_tt, k_st, y_train - f0_tr, f0_te, lr=lr, steps=times)
        out = {"int": k_st @ a[:, 0], "lin_inf": f0_te + k_st @ a[:, 1], "lin": path[0]}
        if path_steps is not None:
            out["lin_path"] = path[1:]
        return out
