"""What the claims of :mod:`ntkbench.claims.scaling` measure at one sweep point: the experiments (pure functions
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
from torch.func import grad, vmap

from ..analytic import analytic_ntk
from ..kernels import empirical_ntk
from ..losses import Loss
from ..networks import MLP, Centered, FixedNorm, split_buffers
from ..train import init_ensemble, sign_step_lr, train_ensemble, unstack_params
from . import SEED_STRIDE
from .trained import load_data, member_rms, member_rows, member_seeds, outputs

#: train until the loss is exactly 0: a loss below the smallest positive double is 0
EXACT_ZERO = math.ulp(0.0)


# ----- the experiment ---------------------------------------------------------------------------------------------
def scaling_net(point: Mapping[str, Any], ctx, d_in: int, width: int) -> MLP:
    """004 Methods' net: ``depth`` weight layers, every hidden layer ``width`` wide (the last one ``bottleneck``
    wide when that is > 0), random orthogonal weights, zero biases, ReLU, NTK parametrization."""
    hidden = [width] * (point["depth"] - 1)
    if point["bottleneck"]:
        hidden[-1] = point["bottleneck"]
    return MLP(d_in=d_in, width=tuple(hidden), depth=point["depth"], init_scheme="orthogonal", bias="zero",
               dtype=ctx.dtype, device=ctx.device)


def _loss(point: Mapping[str, Any]) -> Loss:
    return Loss(point["loss"], margin=point["margin"])


def train_members(point: Mapping[str, Any], ctx, width: int, count: int, snapshot_steps=(), fixed_norm: float = 0.0,
                  correlation: float = 0.0):
    """``count`` members of the point's net (or :class:`~ntkbench.networks.Centered` net) trained by full-batch
    ``optimizer`` on the hinge ``loss`` until it is exactly 0, each at its own sign-step rate
    (:func:`ntkbench.train.sign_step_lr`), with the parameters kept after ``snapshot_steps``; ``fixed_norm`` > 0
    trains :class:`~ntkbench.networks.FixedNorm` (‖f‖ on the training inputs held at that value); ``correlation``
    c > 0 draws the members correlated (every latent normal √c z_shared + √(1 − c) z_own: each member a plain draw,
    their initializations correlated; :meth:`~ntkbench.networks.MLP.init`). Returns (data, base net, model, θ0 of
    the base net, result, rates)."""
    ds = load_data(point, ctx)
    base = scaling_net(point, ctx, ds.d_in, width)
    model = Centered(base) if point["centered"] else base
    if fixed_norm:
        if point["centered"]:
            raise ValueError("fixed_norm > 0 needs centered=false: a centered net's output is 0 at initialization, "
                             "so there is no norm to fix")
        model = FixedNorm(model, ds.x_train, fixed_norm)
    seeds = member_seeds(point, count)
    draw = {"shared_seed": seeds[0] + SHARED_SEED, "correlation": correlation} if correlation else {}
    p0 = init_ensemble(model, seeds, **draw)
    theta0, _ = split_buffers(p0)
    lr = torch.tensor([sign_step_lr(base, unstack_params(theta0, s), ds.x_train, c=point["lr"])
                       for s in range(count)], dtype=torch.float64, device=ds.x_train.device)
    res = train_ensemble(model, p0, ds.x_train, ds.y_train, loss=_loss(point), optimizer=point["optimizer"], lr=lr,
                         threshold=EXACT_ZERO, max_steps=point["max_steps"], record_every=point["max_steps"],
                         snapshot_steps=snapshot_steps)
    return ds, base, model, theta0, res, lr


def input_gradients(model, stacked: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """(S, n, d): ∇_x f(x) of every member at every input (004 Fig. 6A's ‖∇f‖, Eq. 2's boundary distance)."""
    def one(p, xi):
        return grad(lambda z: model(p, z[None])[0])(xi)

    with torch.no_grad():
        return vmap(lambda p: vmap(one, in_dims=(None, 0))(p, x))(dict(stacked))


def _wrong(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Misclassified test points (sign f ≠ y; a zero output counts as wrong), counted along the last axis."""
    return (torch.sign(f) != y).sum(dim=-1)


def _errors(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Test error (misclassification rate of sign f) along the last axis."""
    return _wrong(f, y).double() / f.shape[-1]


def _pair_errors(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per member i of the ensemble f (members × test points): the mean over every other member j of the test error
    of the pair's average (f_i + f_j)/2. Their mean over i is the all-pairs U-statistic of ε² (004 Sect. 4's ε^n at
    n = 2): unbiased like the mean over disjoint pairs, which uses S/2 of the S(S − 1)/2 pairs, and of the least
    variance among the unbiased estimates from S exchangeable members (Hoeffding's U-statistic)."""
    s = f.shape[0]
    if s < 2:
        raise ValueError(f"members: a pair needs at least 2 members, got {s}")
    out = torch.empty(s, dtype=torch.float64)
    for i in range(s):  # one row at a time: memory S × test points, not S² × test points
        wrong = _wrong((f[i] + f) / 2, y)  # integer counts: copies of one net give ε² = ε¹ exactly
        out[i] = (wrong.sum() - wrong[i]).item() / (f.shape[-1] * (s - 1))
    return out


def fluctuations(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """One sweep point (a width h): ``members`` nets trained to zero loss; one row per member with N
    (``n_params``), its training outcome, and

    * ``kernel_dev`` = ‖Θ_N − Θ_∞‖_F / ‖Θ_∞‖_F at initialization on the first ``kernel_points`` training inputs
      (Θ_∞: :func:`ntkbench.analytic.analytic_ntk` of the same architecture; 004 Eq. 7) and ``kernel_change`` =
      ‖Θ_T − Θ_0‖_F / ‖Θ_0‖_F over training (004 S.I. B: O(h^-1));
    * ``out_dev`` = ‖f − f̄‖_μ √(S/(S−1)) on the test points, f̄ the mean of the S members (the factor makes its
      square unbiased for the variance about the true mean; 004 Eq. 9), ``out_norm`` = ‖f‖_μ;
    * ``grad_norm`` = ‖∇_x f‖_μ (004 Fig. 6A), ``delta_est`` = out_dev / grad_norm (004 Eq. 2's estimate);
    * ``test_err`` ε_N, ``ens_err`` ε̄_N = the test error of f̄ (004 Eq. 10; from S members it exceeds the
      n → ∞ value by about (ε_N − ε̄_N)/S, the same fraction at every N, which leaves the slope alone),
      ``excess_err`` = ε_N − ε̄_N;
    * ``pair_err``: the mean error of the member's pairs with every other member (:func:`_pair_errors`) and
      ``excess_pair`` = 2(ε_N − ε^2_N): ε_N − ε̄_N by 004 Sect. 4's ε^n = ε̄ + B/n (Richardson: ε̄ = 2ε² − ε¹).
      ε(f̄) is one draw per width — which test points f̄'s own finite-S fluctuation flips is common to every
      member — while the pairs' errors average over the members, so this estimate's noise falls with S and
      ``excess_err``'s does not."""
    count = point["members"]
    ds, base, model, theta0, res, lr = train_members(point, ctx, point["width"], count)
    xk = ds.x_train[:point["kernel_points"]]
    theta_t, _ = split_buffers(res.params)
    with torch.no_grad():
        k_inf = analytic_ntk(base, xk)
        k0 = torch.stack([empirical_ntk(base, unstack_params(theta0, s), xk) for s in range(count)])
        kt = torch.stack([empirical_ntk(base, unstack_params(theta_t, s), xk) for s in range(count)])
    f = outputs(model, res.params, ds.x_test)
    s = f.shape[0]
    fbar = f.mean(dim=0)
    grad_norm = member_rms(input_gradients(model, res.params, ds.x_test).norm(dim=-1))
    out_dev = member_rms(f - fbar) * math.sqrt(s / max(s - 1, 1))
    ens_err = float(_errors(fbar, ds.y_test))
    test_err = _errors(f, ds.y_test)
    pair_err = _pair_errors(f, ds.y_test)
    trained = member_rows(res, member_seeds(point, count), threshold=0.0, lr=lr.tolist())
    return trained.assign(
        width=point["width"], n_params=base.n_params, depth=point["depth"],
        kernel_dev=(torch.linalg.matrix_norm(k0 - k_inf) / torch.linalg.matrix_norm(k_inf)).tolist(),
        kernel_change=(torch.linalg.matrix_norm(kt - k0) / torch.linalg.matrix_norm(k0)).tolist(),
        out_dev=out_dev.tolist(), out_norm=member_rms(f).tolist(), grad_norm=grad_norm.tolist(),
        delta_est=(out_dev / grad_norm).tolist(), test_err=test_err.tolist(), ens_err=ens_err,
        excess_err=(test_err - ens_err).tolist(), pair_err=pair_err.tolist(),
        excess_pair=(2 * (test_err - pair_err)).tolist())


def ensemble_groups(point: Mapping[str, Any], ctx) -> pd.DataFrame:
    """004 Sect. 4, Fig. 4: ``members`` nets at one width; for every n of ``group_sizes`` the members are split
    into ⌊M/n⌋ disjoint groups (independent n-averages), once per each of ``groupings`` orders of the members (the
    seed order, then random permutations seeded by the point: each grouping's groups are independent, the
    groupings share members, and their average removes the noise of one particular split into groups), and per
    group: ``test_err`` ε^n of the averaged output f^n, ``distance`` = ‖f^n − f̄‖_μ, f̄ the mean of all M members
    (‖f^n − f̄‖² scaled by M/(M − n), which makes it unbiased for ‖f^n − f_∞‖²: the group is part of f̄), ``grad``
    = ‖∇_x f^n‖_μ and ``delta`` = δ_n = distance / grad (004 Eq. 2's estimate, Fig. 10); ``seed`` labels a group
    uniquely ((data_split · groupings + grouping) · M + group). At a claim that sweeps several data splits (the
    axis ``data_split``), each point is one split with its own members (:func:`~.trained.data_seed`,
    :func:`~.trained.member_seeds`), and every row carries ``data_split``."""
    count, split = point["members"], point.get("data_split", 0)
    ds, base, model, _theta0, res, lr = train_members(point, ctx, point["width"], count)
    f = outputs(model, res.params, ds.x_test)
    g = input_gradients(model, res.params, ds.x_test)
    m = f.shape[0]
    fbar = f.mean(dim=0)
    gen = torch.Generator().manual_seed(int(point["seed_offset"]) * SEED_STRIDE + SHARED_SEED + split)
    orders = [torch.arange(m)] + [torch.randperm(m, generator=gen) for _ in range(point["groupings"] - 1)]
    frames = []
    for n in point["group_sizes"]:
        if n > m // 2:
            raise ValueError(f"group_sizes has {n} but members={m} gives fewer than 2 groups of {n}; raise members "
                             f"or lower group_sizes")
        k = m // n
        for r, order in enumerate(orders):
            idx = order[: k * n].to(f.device)
            fn = f[idx].reshape(k, n, -1).mean(dim=1)
            gn = g[idx].reshape(k, n, *g.shape[1:]).mean(dim=1)
            dist = member_rms(fn - fbar) * math.sqrt(m / (m - n))
            grad_n = member_rms(gn.norm(dim=-1))
            label = (split * point["groupings"] + r) * m
            frames.append(pd.DataFrame({"n": n, "grouping": r, "group": np.arange(k), "seed": label + np.arange(k),
                                        "test_err": _errors(fn, ds.y_test).cpu().numpy(),
                                        "distance": dist.cpu().numpy(), "grad": grad_n.cpu().numpy(),
                                        "delta": (dist / grad_n).cpu().numpy()}))
    out = pd.concat(frames, ignore_index=True).assign(width=point["width"], n_params=base.n_params,
                                                      ens_err=float(_errors(fbar, ds.y_test)))
    members = member_rows(res, member_seeds(point, count), n=0, threshold=0.0, lr=lr.tolist())
    return pd.concat([out, members], ignore_index=True).assign(data_split=split)


#: a correlated draw's shared component is drawn with the first member's seed + SHARED_SEED (members per point stay
#: below SEED_STRIDE, so it is no member's seed)
SHARED_SEED = SEED_STRIDE // 2
