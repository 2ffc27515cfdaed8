"""Building blocks shared by the claims' experiments: the data set of a sweep point, an ensemble trained to the
threshold with per-member learning rates c/λ_max(Θ) (000 App. E, 001 App. D), and per-member kernel solutions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.func import vmap

from . import data as datasets
from .kernels import empirical_ntk
from .linearize import gd_finite_time, psd_solve
from .train import TrainResult, init_ensemble, lr_from_ntk, train_ensemble, unstack_params

DATASETS = ("mnist01", "bump2d", "sin1d", "boston", "mnist_parity")


def dataset(point: Mapping[str, Any], ctx) -> datasets.Dataset:
    """The data set named by ``point["dataset"]`` with the point's sizes and seed, on the context's device.

    ``pca`` (MNIST only): 0 keeps the 784 pixels, k > 0 whitens on k principal components (004 §1.2)."""
    name = point["dataset"]
    kw: dict[str, Any] = {"n_train": point["n_train"], "n_test": point["n_test"], "seed": point.get("data_seed", 0),
                          "dtype": ctx.dtype, "device": ctx.device}
    if name in ("mnist01", "mnist_parity"):
        kw["pca"] = point.get("pca") or None
        if name == "mnist_parity" and kw["pca"] is None:
            kw.pop("pca")
    if name == "bump2d":
        kw["normalize"] = "unit_ball"  # 000 §1.2: inputs in the unit ball
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r} is not allowed; choose from {DATASETS}")
    return datasets.load(name, **kw)


def member_lrs(net, stacked: Mapping[str, torch.Tensor], x: torch.Tensor, c: float, loss: str = "half_sse",
               kernel: str = "ntk") -> torch.Tensor:
    """Per-member learning rates c / λ_max(Θ_s(X, X)) of a stacked ensemble (each seed its own kernel)."""
    n = next(iter(stacked.values())).shape[0]
    lrs = [lr_from_ntk(net, unstack_params(stacked, s), x, c=c, loss=loss, kernel=kernel) for s in range(n)]
    return torch.tensor(lrs, dtype=torch.float64, device=x.device)


def outputs(model, stacked: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """(S, n) outputs of every member of a stacked ensemble."""
    with torch.no_grad():
        return vmap(model, in_dims=(0, None))(dict(stacked), x)


def train_to_threshold(model, seeds: Sequence[int], x: torch.Tensor, y: torch.Tensor, *, c: float,
                       threshold: float, max_steps: int, loss: str = "half_sse", optimizer: str = "gd",
                       params0: Mapping[str, torch.Tensor] | None = None, **kw) -> tuple[dict, TrainResult]:
    """Train one member per seed (vectorized) until its training loss first drops below ``threshold``.

    Returns (θ0 stacked, result, per-member learning rates). The learning rate of each member is c/λ_max of its own Θ(X, X)."""
    p0 = dict(params0) if params0 is not None else init_ensemble(model, seeds)
    lr = member_lrs(model, p0, x, c, loss=loss)
    res = train_ensemble(model, p0, x, y, loss=loss, optimizer=optimizer, lr=lr, threshold=threshold,
                         max_steps=max_steps, record_every=max(1, max_steps), **kw)
    return p0, res, lr


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
