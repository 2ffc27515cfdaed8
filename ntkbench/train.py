"""Training loops: full-batch GD, mini-batch SGD (with or without reshuffling), AdaGrad, Adam, RMSprop.

One code path trains an *ensemble*: S parameter sets stacked on a leading axis, vectorized with
``torch.func.vmap`` so that S seeds cost about S single-net steps of arithmetic, not S loops of
overhead. :func:`train` is the S = 1 case. Each member stops when its own full training loss first
drops below ``threshold`` (000 App. E, 001 App. D), or at ``max_steps``; a member whose loss turns
non-finite is stopped and reported as diverged.

Mini-batches (001 Sect. 4): the batch size is ``batch_fraction`` × N (001's "split" = 1/fraction
batches per epoch); ``shuffle=True`` draws a new permutation per epoch and member, ``shuffle=False``
cycles through the batches in data order. The batch loss is the chosen loss on the batch alone.

How a step runs (the trained values are those of the pure updates ``opt.step`` to round-off): the trainer
owns its parameter and optimizer-state buffers and updates them in place (``opt.step_``); a member that
stops is left out of the next steps (the still-active members' rows are compacted, with their rates and
state) and written back at the end; on the CPU the members are stepped in chunks of at most
``_CHUNK_BYTES`` of parameters, so that a chunk's gradients are recycled from the heap instead of being
freshly mapped and page-faulted every step. Entries of ``params`` named like "W1@0" are buffers
(:func:`ntkbench.networks.split_buffers`, e.g. the θ0 of a :class:`~ntkbench.networks.Centered` net): they
ride along per member but are not trained.
"""

from __future__ import annotations

import math
import numbers
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
from .networks import split_buffers
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
    001 App. D). GD on the linearized model is stable for 0 < c < 2. ``kernel="last_layer"`` uses Ψ. Defined for
    the losses of constant curvature (mse, half_sse, square_hinge); for the others see :func:`monotone_lr`."""
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or not (math.isfinite(c) and c > 0):
        raise ValueError(f"c must be a finite number > 0 (the rate is c/λ_max; GD on the linearized model is "
                         f"stable for 0 < c < 2), got {c!r}")
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


@@BODY@@def gd_linear(features: torch.Tensor, y: torch.Tensor, theta0: torch.Tensor, lr: torch.Tensor | float, *,
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
