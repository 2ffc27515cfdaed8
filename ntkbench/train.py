"""Training loops: full-batch GD, mini-batch SGD (with or without reshuffling), AdaGrad, Adam, RMSprop.

One code path trains an *ensemble*: S parameter sets stacked on a leading axis, vectorized with
``torch.func.vmap`` so that S seeds cost about S single-net steps of arithmetic, not S loops of
overhead. :func:`train` is the S = 1 case. Each member stops when its own full training loss first
drops below ``threshold`` (000 App. E, 001 App. D), or at ``max_steps``; a member whose loss turns
non-finite is stopped and reported as diverged.

Mini-batches (001 Sect. 4): the batch size is ``batch_fraction`` × N (001's "split" = 1/fraction
batches per epoch); ``shuffle=True`` draws a new permutation per epoch and member, ``shuffle=False``
cycles through the batches in data order. The batch loss is the chosen loss on the batch alone.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import grad_and_value, vmap

from ._validation import check_inputs, check_positive_int, check_targets
from .kernels import empirical_ntk
from .losses import Loss, get_loss
from .optimizers import get_optimizer

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class TrainResult:
    """Outcome of a training run; for an ensemble every array has a leading member axis S.

    ``params``: final parameters (stacked (S, ...) for :func:`train_ensemble`); ``loss_curve``:
    (S, R) full training loss at ``record_steps`` (R,), NaN after a member stopped; ``test_curve``: the
    same on the test set when one was given; ``steps``: steps taken per member; ``final_loss``;
    ``converged``: loss went below the threshold; ``diverged``: loss became non-finite."""

    params: Params
    loss_curve: np.ndarray
    test_curve: np.ndarray | None
    record_steps: np.ndarray
    steps: np.ndarray
    final_loss: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    seconds: float


def stack_params(params_list: Sequence[Mapping[str, torch.Tensor]]) -> Params:
    """Stack S parameter dicts on a new leading axis."""
    if not params_list:
        raise ValueError("params_list is empty: give at least one parameter dict")
    keys = params_list[0].keys()
    return {k: torch.stack([p[k] for p in params_list]) for k in keys}


def unstack_params(stacked: Mapping[str, torch.Tensor], i: int) -> Params:
    """Member ``i`` of stacked parameters."""
    return {k: v[i] for k, v in stacked.items()}


def init_ensemble(net, seeds: Sequence[int]) -> Params:
    """θ0 for each seed, stacked: ``stack_params([net.init(s) for s in seeds])``."""
    return stack_params([net.init(int(s)) for s in seeds])


def lr_from_ntk(net, params: Mapping[str, torch.Tensor], x: torch.Tensor, *, c: float = 1.0,
                loss: str | Loss = "half_sse", kernel: str = "ntk") -> float:
    """Learning rate c / (curvature · λ_max(Θ(X, X))) (000 App. E: c = 1.9 with the last-layer kernel Ψ;
    001 App. D). GD on the linearized model is stable for c < 2. ``kernel="last_layer"`` uses Ψ."""
    if kernel not in ("ntk", "last_layer"):
        raise ValueError(f"kernel={kernel!r} is not allowed; choose 'ntk' or 'last_layer'")
    theta = empirical_ntk(net, params, x, per_layer=kernel == "last_layer")
    if kernel == "last_layer":
        theta = theta[-1]
    if theta.ndim == 4:  # vector output: Θ ⊗ over outputs, flatten to (n k, n k)
        n, _, k, _ = theta.shape
        theta = theta.permute(0, 2, 1, 3).reshape(n * k, n * k)
    lam = torch.linalg.eigvalsh(theta)[-1].item()
    # curvature per predicted value: n·k of them for k outputs (mse averages over all n·k entries)
    return c / (get_loss(loss).curvature(theta.shape[0]) * lam)


def train(model: Callable, params: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
          **kwargs) -> TrainResult:
    """Train one network ``model(params, x)`` from ``params``; see :func:`train_ensemble` for options.
    The result's arrays keep a member axis of length 1; ``params`` is unstacked."""
    res = train_ensemble(model, stack_params([params]), x, y, **kwargs)
    return TrainResult(**{**res.__dict__, "params": unstack_params(res.params, 0)})


def train_ensemble(
    model: Callable,
    params: Mapping[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str | Loss = "half_sse",
    optimizer: str = "gd",
    lr: float | torch.Tensor,
    max_steps: int = 10_000,
    threshold: float | None = None,
    batch_fraction: float = 1.0,
    shuffle: bool = True,
    seed: int = 0,
    record_every: int = 1,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    optimizer_options: Mapping | None = None,
) -> TrainResult:
    """Train S stacked parameter sets (leading axis S) of ``model(params, x)`` together.

    ``lr`` is a number or a tensor (S,) of per-member rates. ``threshold``: stop a member when its full
    training loss is first below it (evaluated after every full-batch step, or every epoch with
    mini-batches). ``record_every``: record the full training (and test) loss every so many steps.
    """
    loss_fn = get_loss(loss)
    check_inputs(x, None, "x")
    check_targets(y, x.shape[0], "y")
    if x_test is not None:
        check_inputs(x_test, x.shape[1], "x_test")
        if y_test is None:
            raise ValueError("y_test is required when x_test is given")
        check_targets(y_test, x_test.shape[0], "y_test")
    check_positive_int("max_steps", max_steps, minimum=0)
    check_positive_int("record_every", record_every)
    if not (isinstance(batch_fraction, (int, float)) and 0 < batch_fraction <= 1):
        raise ValueError(f"batch_fraction must be in (0, 1], got {batch_fraction!r}")
    if threshold is not None and not threshold > 0:
        raise ValueError(f"threshold must be > 0 or None, got {threshold!r}")
    params = {k: v.detach().clone() for k, v in params.items()}
    n_members = next(iter(params.values())).shape[0]
    if isinstance(lr, torch.Tensor) and lr.ndim == 1 and lr.shape[0] not in (1, n_members):
        raise ValueError(f"lr has {lr.shape[0]} per-member rates but the ensemble has {n_members} members")
    opt = get_optimizer(optimizer, lr, **dict(optimizer_options or {}))
    state = opt.init(params)

    n = x.shape[0]
    batch = max(1, round(batch_fraction * n))
    full_batch = batch >= n
    per_epoch = math.ceil(n / batch)
    gen = torch.Generator().manual_seed(int(seed))

    def objective(p, xb, yb):
        return loss_fn(model(p, xb), yb)

    step_full = vmap(grad_and_value(objective), in_dims=(0, None, None))
    step_batch = vmap(grad_and_value(objective), in_dims=(0, 0, 0))
    eval_full = vmap(objective, in_dims=(0, None, None))

    active = torch.ones(n_members, dtype=torch.bool)
    converged = torch.zeros(n_members, dtype=torch.bool)
    diverged = torch.zeros(n_members, dtype=torch.bool)
    steps = torch.zeros(n_members, dtype=torch.long)
    final = torch.full((n_members,), float("nan"), dtype=torch.float64)
    curve, test_curve, rec_steps = [], [], []
    order = None
    t0 = time.perf_counter()

    def record(t: int, train_loss: torch.Tensor, mask: torch.Tensor) -> None:
        rec_steps.append(t)
        curve.append(torch.where(mask, train_loss.detach().double().cpu(), torch.nan))
        if x_test is not None:
            with torch.no_grad():
                tl = eval_full(params, x_test, y_test).double().cpu()
            test_curve.append(torch.where(mask, tl, torch.nan))

    def check_stop(train_loss: torch.Tensor) -> None:
        tl = train_loss.detach().double().cpu()
        final[active] = tl[active]
        bad = active & ~torch.isfinite(tl)
        diverged[bad] = True
        done = active & torch.isfinite(tl) & (tl < threshold) if threshold is not None else torch.zeros_like(active)
        converged[done] = True
        active[bad | done] = False

    t = 0
    while True:
        evaluated = full_batch or t % per_epoch == 0
        if evaluated:  # the full training loss at the current parameters: stopping rule and record
            if full_batch:
                grads, value = step_full(params, x, y)
            else:
                with torch.no_grad():
                    value = eval_full(params, x, y)
            was_active = active.clone()
            check_stop(value)
            if t % record_every == 0 or not bool(active.eq(was_active).all()):
                record(t, value, was_active)
        if not active.any() or t >= max_steps:
            break
        if not full_batch:
            if t % per_epoch == 0:
                if shuffle:
                    order = torch.argsort(torch.rand(n_members, n, generator=gen), dim=1)
                else:
                    order = torch.arange(n).expand(n_members, n)
            k = t % per_epoch
            idx = order[:, k * batch: (k + 1) * batch].to(x.device)
            grads, _ = step_batch(params, x[idx], y[idx])
        new_params, new_state = opt.step(params, grads, state)
        mask = active.to(x.device)
        params = {key: torch.where(_bcast(mask, v), new_params[key], v) for key, v in params.items()}
        state = _mask_state(mask, new_state, state)
        steps += active.long()
        t += 1

    if not evaluated or rec_steps[-1] != t:  # stopped at max_steps between evaluations or records
        with torch.no_grad():
            value = eval_full(params, x, y)
        if not evaluated:
            check_stop(value)
        record(t, value, steps == t)
    if diverged.any():
        warnings.warn(f"{int(diverged.sum())} of {n_members} members diverged (non-finite loss); lower lr",
                      RuntimeWarning, stacklevel=2)
    return TrainResult(
        params=params,
        loss_curve=torch.stack(curve, dim=1).numpy(),
        test_curve=torch.stack(test_curve, dim=1).numpy() if x_test is not None else None,
        record_steps=np.asarray(rec_steps),
        steps=steps.numpy(),
        final_loss=final.numpy(),
        converged=converged.numpy(),
        diverged=diverged.numpy(),
        seconds=time.perf_counter() - t0,
    )


def _bcast(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.reshape(-1, *([1] * (like.ndim - 1)))


def _mask_state(mask, new, old):
    """Keep the optimizer state of stopped members frozen (tensors stacked on the member axis)."""
    if isinstance(new, dict):
        return {k: _mask_state(mask, new[k], old[k]) for k in new}
    if isinstance(new, torch.Tensor) and new.ndim >= 1 and new.shape[0] == mask.shape[0]:
        return torch.where(_bcast(mask, new), new, old)
    return new


def gd_linear(features: torch.Tensor, y: torch.Tensor, theta0: torch.Tensor, lr: torch.Tensor | float, *,
              threshold: float, max_steps: int) -> TrainResult:
    """Full-batch GD on ½‖Aθ − y‖² for a batch of S linear models A_s θ_s (features (S, n, p), y (n,), θ0 (S, p)).

    The same iteration as :func:`train_ensemble` with ``loss="half_sse"``, ``optimizer="gd"`` on the model
    x ↦ Aθ, with the gradient Aᵀ(Aθ − y) written out instead of taken by autograd: per step two batched
    matrix-vector products and no Python-level dispatch, ~50× cheaper, for the 10⁵–10⁶ steps that a last layer
    needs on an ill-conditioned feature Gram (000 Thm 1's setting). Each member stops when its loss first drops
    below ``threshold``; ``lr`` is a scalar or one rate per member."""
    if features.ndim != 3 or theta0.ndim != 2 or features.shape[::2] != theta0.shape:
        raise ValueError(f"features must be (S, n, p) and theta0 (S, p); got {tuple(features.shape)}, "
                         f"{tuple(theta0.shape)}")
    if y.shape != features.shape[1:2]:
        raise ValueError(f"y must have shape ({features.shape[1]},), got {tuple(y.shape)}")
    if max_steps < 0 or not threshold >= 0:
        raise ValueError(f"max_steps must be >= 0 and threshold >= 0, got {max_steps}, {threshold}")
    t0 = time.perf_counter()
    lr = torch.as_tensor(lr, dtype=features.dtype, device=features.device).expand(features.shape[0])
    theta = theta0.clone()
    active = torch.ones(features.shape[0], dtype=torch.bool, device=features.device)
    steps = torch.zeros(features.shape[0], dtype=torch.long, device=features.device)
    with torch.no_grad():
        for step in range(max_steps + 1):
            r = torch.einsum("snp,sp->sn", features, theta) - y
            loss = 0.5 * (r * r).sum(1)
            active &= loss >= threshold
            if step == max_steps or not bool(active.any()):
                break
            grad = torch.einsum("snp,sn->sp", features, r)
            theta -= torch.where(active, lr, 0.0)[:, None] * grad
            steps += active
    final = loss.cpu().numpy()
    return TrainResult(params={"theta": theta}, loss_curve=final[:, None], test_curve=None,
                       record_steps=steps.cpu().numpy()[None, :].max(1), steps=steps.cpu().numpy(), final_loss=final,
                       converged=final < threshold, diverged=~np.isfinite(final), seconds=time.perf_counter() - t0)
