"""The experiment of a sweep point: its data, its nets, an ensemble trained to the threshold, kernel solutions.

Every function reads the sweep point made by :meth:`ntkbench.registry.Claim.points` from the parameter groups of
:mod:`ntkbench.claims.params`. Net settings that a claim does not declare take the values of :data:`NET_DEFAULTS`
(000 Eq. 1, 001 Eq. 1: NTK parametrization, zero biases, ReLU, standard initialization).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch.func import vmap

from .. import data as datasets
from ..kernels import empirical_ntk
from ..linearize import gd_finite_time, psd_solve
from ..networks import ASI, MLP
from ..registry import SEED_STRIDE
from ..train import TrainResult, init_ensemble, lr_from_ntk, train_ensemble, unstack_params

NET_DEFAULTS = {"bias": "zero", "activation": "relu", "parametrization": "ntk", "init": "standard"}
# options fixed per data set (not parameters): 000 §1.2 puts the inputs in the unit ball
DATA_OPTIONS: dict[str, dict[str, Any]] = {"bump2d": {"normalize": "unit_ball"}}


def data_seed(point: Mapping[str, Any]) -> int:
    """The split's seed: ``data_seed`` shifted by ``seed_offset``."""
    return point["data_seed"] + point["seed_offset"]


def member_seeds(point: Mapping[str, Any], count: int | None = None) -> list[int]:
    """Initialization seeds of the point's members: 0 … seeds−1, shifted by seed_offset·SEED_STRIDE."""
    n = point["seeds"] if count is None else count
    return [point["seed_offset"] * SEED_STRIDE + s for s in range(n)]


def load_data(point: Mapping[str, Any], ctx) -> datasets.Dataset:
    """The data set named by ``point["dataset"]`` (the registry of :mod:`ntkbench.data`) with the point's sizes,
    split seed and MNIST whitening (``pca``: 0 keeps the pixels, k > 0 whitens on k principal components)."""
    name = point["dataset"]
    kw: dict[str, Any] = {"n_train": point["n_train"], "n_test": point["n_test"], "seed": data_seed(point),
                          "dtype": ctx.dtype, "device": ctx.device, **DATA_OPTIONS.get(name, {})}
    pca = point["pca"]  # read for every data set (MNIST only uses it), so that the point is fully read
    if pca and name.startswith("mnist"):
        kw["pca"] = pca
    return datasets.load(name, **kw)


def build_net(point: Mapping[str, Any], ctx, d_in: int, **settings: Any):
    """The net of a sweep point: depth, width and σ from the point (or ``settings``), the other settings from the
    point when declared there, else from ``settings``, else :data:`NET_DEFAULTS`; ``init="asi"`` wraps it in
    :class:`~ntkbench.networks.ASI`."""
    s = {**NET_DEFAULTS, **settings, **{k: point[k] for k in (*NET_DEFAULTS, "depth", "width", "sigma") if k in point}}
    base = MLP(d_in=d_in, width=s["width"], depth=s["depth"], sigma=s["sigma"], bias=s["bias"],
               parametrization=s["parametrization"], activation=s["activation"], dtype=ctx.dtype, device=ctx.device)
    return ASI(base) if s["init"] == "asi" else base


def ntk_lrs(net, stacked: Mapping[str, torch.Tensor], x: torch.Tensor, c: float, loss: str = "half_sse") -> torch.Tensor:
    """Per-member learning rates c / λ_max(Θ_s(X, X)) of a stacked ensemble (each member its own kernel)."""
    n = next(iter(stacked.values())).shape[0]
    lrs = [lr_from_ntk(net, unstack_params(stacked, s), x, c=c, loss=loss) for s in range(n)]
    return torch.tensor(lrs, dtype=torch.float64, device=x.device)


def outputs(model, stacked: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """(S, n) outputs of every member of a stacked ensemble."""
    with torch.no_grad():
        return vmap(model, in_dims=(0, None))(dict(stacked), x)


def train_to_threshold(model, seeds: Sequence[int], x: torch.Tensor, y: torch.Tensor, *, c: float,
                       threshold: float, max_steps: int, loss: str = "half_sse", optimizer: str = "gd",
                       params0: Mapping[str, torch.Tensor] | None = None, lr: torch.Tensor | float | None = None,
                       **kw) -> tuple[dict, TrainResult, torch.Tensor]:
    """Train one member per seed (vectorized) until its training loss first drops below ``threshold``.

    Returns (θ0 stacked, result, per-member learning rates). Without ``lr`` each member's rate is c/λ_max of its
    own Θ(X, X) (000 App. E, 001 App. D)."""
    p0 = dict(params0) if params0 is not None else init_ensemble(model, seeds)
    n = len(seeds)
    lr = ntk_lrs(model, p0, x, c, loss=loss) if lr is None else torch.as_tensor(lr, dtype=torch.float64).expand(n)
    res = train_ensemble(model, p0, x, y, loss=loss, optimizer=optimizer, lr=lr, threshold=threshold,
                         max_steps=max_steps, record_every=max(1, max_steps), **kw)
    return p0, res, lr


def trained_ensemble(point: Mapping[str, Any], ctx, **net_settings: Any):
    """The trained-ensemble experiment of a point: its data, its net, ``seeds`` members trained by GD from their
    own θ0 to the threshold with rates c/λ_max. Returns (data set, net, θ0, result, rates, member seeds)."""
    ds = load_data(point, ctx)
    net = build_net(point, ctx, ds.d_in, **net_settings)
    seeds = member_seeds(point)
    p0, res, lr = train_to_threshold(net, seeds, ds.x_train, ds.y_train, c=point["lr_c"],
                                     threshold=point["threshold"], max_steps=point["max_steps"])
    return ds, net, p0, res, lr, seeds


def member_rows(res: TrainResult, seeds: Sequence[int], **columns: Any) -> pd.DataFrame:
    """One row per member with its seed and training outcome (steps, converged, train_loss), plus ``columns``
    (scalars repeated, or one value per member)."""
    rows = pd.DataFrame({"seed": list(seeds), "steps": res.steps.astype(int), "converged": res.converged.astype(bool),
                         "train_loss": res.final_loss.astype(float)})
    for k, v in columns.items():
        rows[k] = v
    return rows


def rms(v: torch.Tensor) -> float:
    """Root mean square over test points."""
    return float(torch.sqrt((v**2).mean()))


def kernel_solutions(net, params0: Mapping[str, torch.Tensor], x_train: torch.Tensor, y_train: torch.Tensor,
                     x_test: torch.Tensor, *, lr: float, steps: int) -> dict[str, torch.Tensor]:
    """For one θ0, on ``x_test``: ``"int"``, the kernel interpolant f_int = Θ(x, X)Θ⁻¹Y (000 Eq. 9); ``"lin"``,
    the linearized net trained the same way as the net — ``steps`` GD steps of size ``lr`` from θ0 (000 Eq. 8);
    ``"lin_inf"``, its infinite-time limit f0 + Θ(x, X)Θ⁻¹(Y − f0(X)) (000 Eq. 13)."""
    with torch.no_grad():
        k_tt = empirical_ntk(net, params0, x_train)
        k_st = empirical_ntk(net, params0, x_test, x_train)
        f0_tr, f0_te = net(params0, x_train), net(params0, x_test)
        a = psd_solve(k_tt, torch.stack([y_train, y_train - f0_tr], dim=1))
        return {"int": k_st @ a[:, 0], "lin_inf": f0_te + k_st @ a[:, 1],
                "lin": gd_finite_time(net, params0, x_train, y_train, x_test, lr=lr, steps=steps)}
