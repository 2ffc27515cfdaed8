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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.func import grad_and_value, vmap

from . import compiled as compiled_step
from ._validation import check_inputs, check_positive_int, check_targets
from .kernels import empirical_ntk
from .linearize import Linearized
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
    ``converged``: loss went below the threshold; ``diverged``: loss became non-finite; ``max_steps``: the step
    cap the run had; ``snapshots``: {t: the parameters after t steps} for the requested ``snapshot_steps`` (a
    member that stopped before t keeps its final parameters: the net one gets by training for at most t steps)."""

    params: Params
    loss_curve: np.ndarray
    test_curve: np.ndarray | None
    record_steps: np.ndarray
    steps: np.ndarray
    final_loss: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    seconds: float
    max_steps: int = 0
    snapshots: dict[int, Params] = field(default_factory=dict)


def stack_params(params_list: Sequence[Mapping[str, torch.Tensor]]) -> Params:
    """Stack S parameter dicts on a new leading axis."""
    if not params_list:
        raise ValueError("params_list is empty: give at least one parameter dict")
    keys = params_list[0].keys()
    return {k: torch.stack([p[k] for p in params_list]) for k in keys}


def unstack_params(stacked: Mapping[str, torch.Tensor], i: int) -> Params:
    """Member ``i`` of stacked parameters."""
    return {k: v[i] for k, v in stacked.items()}


def init_ensemble(net, seeds: Sequence[int], **draw: Any) -> Params:
    """θ0 for each seed, stacked: ``stack_params([net.init(s, **draw) for s in seeds])`` (``draw``: e.g.
    ``shared_seed`` and ``correlation`` for correlated members, :meth:`ntkbench.networks.MLP.init`)."""
    return stack_params([net.init(int(s), **draw) for s in seeds])


def lr_from_ntk(net, params: Mapping[str, torch.Tensor], x: torch.Tensor, *, c: float = 1.0,
                loss: str | Loss = "half_sse", kernel: str = "ntk", gram: torch.Tensor | None = None) -> float:
    """Learning rate c / (curvature · λ_max(Θ(X, X))) (000 App. E: c = 1.9 with the last-layer kernel Ψ;
    001 App. D). GD on the linearized model is stable for 0 < c < 2. ``kernel="last_layer"`` uses Ψ. Defined for
    the losses of constant curvature (mse, half_sse, square_hinge); for the others see :func:`monotone_lr`.
    ``gram``: the kernel matrix on x when the caller has it already (it is then not recomputed)."""
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or not (math.isfinite(c) and c > 0):
        raise ValueError(f"c must be a finite number > 0 (the rate is c/λ_max; GD on the linearized model is "
                         f"stable for 0 < c < 2), got {c!r}")
    if kernel not in ("ntk", "last_layer"):
        raise ValueError(f"kernel={kernel!r} is not allowed; choose 'ntk' or 'last_layer'")
    if gram is not None:
        theta = gram
    else:
        theta = empirical_ntk(net, params, x, per_layer=kernel == "last_layer")
        if kernel == "last_layer":
            theta = theta[-1]
    if theta.ndim == 4:  # vector output: Θ ⊗ over outputs, flatten to (n k, n k)
        n, _, k, _ = theta.shape
        theta = theta.permute(0, 2, 1, 3).reshape(n * k, n * k)
    lam = torch.linalg.eigvalsh(theta)[-1].item()
    # curvature per predicted value: n·k of them for k outputs (mse averages over all n·k entries)
    return c / (get_loss(loss).curvature(theta.shape[0]) * lam)


def adaptive_lr(net, params: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, *,
                c: float = 0.5) -> float:
    """The AdaGrad/Adam analog of c/λ_max for full-batch training on ½‖f(X) − Y‖²: c / λ_max(J D₀ Jᵀ), where J is
    the Jacobian on the training inputs at ``params`` and D₀ = diag(|g₀|)⁻¹ the adaptive matrix of the first step
    (g₀ = Jᵀ(f(X) − Y); AdaGrad's √(g₀²) and Adam's bias-corrected √v̂₁ are both |g₀|; coordinates with g₀ = 0 do
    not move, D₀ = 0 there). The linearized adaptive model moves its training residual by r ← r − η J D_t Jᵀ r
    (001 Eq. 6–7), and D_t only shrinks under AdaGrad, so 0 < c < 2 keeps it stable from the first step: the
    NTK regime that 001 Thm 3–5 and Example 1 assume ("sufficiently small learning rate"), where each coordinate
    moves O(η) and η shrinks with the width. With N = 1 it is c·|r₀|/‖g‖₁."""
    j = _flat_jacobian(net, params, x)
    with torch.no_grad():
        g0 = j.T @ (net(params, x) - y)
        d0 = torch.where(g0 != 0, 1.0 / g0.abs(), torch.zeros_like(g0))
    return _preconditioned_rate(j, d0, c)


def _preconditioned_rate(j: torch.Tensor, d: torch.Tensor, c: float) -> float:
    """c / λ_max(J D Jᵀ) for the flat Jacobian J (n, P) and the diagonal D (P,)."""
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or not (math.isfinite(c) and c > 0):
        raise ValueError(f"c must be a finite number > 0 (the rate is c/λ_max(J D Jᵀ)), got {c!r}")
    with torch.no_grad():
        return c / float(torch.linalg.eigvalsh((j * d) @ j.T)[-1])


def first_step_preconditioner(net, params: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, *,
                              floor: float = 0.1) -> dict[str, torch.Tensor]:
    """AdaGrad's diagonal D₀ = diag(|g₀|)⁻¹ of its first full-batch step on ½‖f(X) − Y‖² (g₀ = Jᵀ(f(X) − Y)), per
    member of the stacked ``params`` and shaped like them, with |g₀| floored at ``floor`` × its RMS over the
    member's coordinates: the ``scale`` of :class:`~ntkbench.optimizers.Preconditioned`, AdaGrad frozen after its
    first step (001 Thm 5's boundary). AdaGrad's own D shrinks as gradients accumulate; frozen, the coordinates
    whose first gradient is nearly 0 would keep steps ~1/|g₀| for the whole run and throw the net out of its
    linear regime (measured: members diverge at m = 32–64 without the floor). :func:`preconditioned_lr` gives the
    stable rate."""
    from torch.func import grad

    if isinstance(floor, bool) or not isinstance(floor, numbers.Real) or not 0 < floor <= 1:
        raise ValueError(f"floor must be in (0, 1] (a fraction of the RMS first gradient), got {floor!r}")

    def g0(p):
        return grad(lambda q: 0.5 * (net(q, x) - y).pow(2).sum())(p)

    with torch.no_grad():
        g = vmap(g0)({k: v.detach() for k, v in params.items()})
        flat = torch.cat([v.reshape(v.shape[0], -1) for v in g.values()], dim=1)
        low = floor * flat.pow(2).mean(dim=1).sqrt()  # (S,)
    return {k: 1.0 / torch.maximum(v.abs(), low.reshape(-1, *([1] * (v.ndim - 1)))) for k, v in g.items()}


def preconditioned_lr(net, params: Mapping[str, torch.Tensor], x: torch.Tensor, scale: Mapping[str, torch.Tensor], *,
                      c: float = 0.5) -> float:
    """c / λ_max(J D Jᵀ) for GD preconditioned by the fixed diagonal D = ``scale`` (one member: ``params`` and
    ``scale`` not stacked): the linearized model's residual moves by r ← r − η J D Jᵀ r, stable for 0 < c < 2."""
    return _preconditioned_rate(_flat_jacobian(net, params, x), torch.cat([scale[k].reshape(-1) for k in params]), c)


def sign_step_lr(net, params: Mapping[str, torch.Tensor], x: torch.Tensor, *, c: float = 0.3) -> float:
    """The rate of an adaptive optimizer (Adam, AdaGrad, RMSprop) as c / mean_μ ‖∇_θ f(x_μ)‖₁: their first step is
    η·sign(g) in every coordinate (Adam's m̂₁/√v̂₁ = g/|g|), which moves the output at x by at most η‖∇_θ f(x)‖₁,
    so c bounds the typical output move of one step, whatever the parametrization, depth or width. In the NTK
    parametrization ‖∇_θ f‖₁ ∝ h for nets with ≥ 2 hidden layers (h² weights with gradients ∝ 1/h), so the rate
    falls like 1/h: the rule 004 Methods tunes by hand (η ∝ h^-1.5 in its parametrization, "so that the number of
    steps to converge is independent of h"). ``params``: one parameter set of ``net`` (not stacked)."""
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or not (math.isfinite(c) and c > 0):
        raise ValueError(f"c must be a finite number > 0 (the rate is c / mean ‖∇_θ f(x)‖₁), got {c!r}")
    return c / float(_flat_jacobian(net, params, x).abs().sum(dim=1).mean())


def _flat_jacobian(net, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """(n, P): ∂f(x_i)/∂θ of a scalar-output ``net`` at ``params`` (one parameter set), every parameter flattened
    in the order of ``params``. Per input (``vmap`` over the inputs of one input's Jacobian): O(n P) work, where
    the Jacobian of the batch output, one pullback through all n inputs per output, costs O(n² P) (measured at
    `paper`'s jamming nets, n = 1 000: 3.7–15 s a net against 0.01–0.4 s). The entries equal the batch
    Jacobian's to round-off (a product of one row and of n rows may differ in the last bit)."""
    from torch.func import jacrev

    def one(q, xi):
        return net(q, xi.unsqueeze(0)).reshape(())

    jac = vmap(jacrev(one), in_dims=(None, 0))({k: v.detach() for k, v in params.items()}, x)
    return torch.cat([jac[k].reshape(x.shape[0], -1) for k in params], dim=1).detach()


#: the default grid of :func:`monotone_lr`: 10^-5 … 10 with 4 rates per decade (25 rates)
LR_GRID = tuple(10.0 ** (e / 4) for e in range(-20, 5))


def monotone_lr(model: Callable, params: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, *,
                loss: str | Loss, optimizer: str, grid: Sequence[float] = LR_GRID, probe_steps: int = 50,
                optimizer_options: Mapping | None = None, rtol: float = 1e-12) -> torch.Tensor:
    """Per member, the largest rate of ``grid`` at which the training loss decays monotonically (001 App. D:
    for the adaptive methods, "the largest value for the learning rate that still guarantees a monotonous
    decay of the training loss"; the paper gives no grid).

    ``params``: S stacked parameter sets (S, ...). Every member is trained from ``params`` with full-batch
    ``optimizer`` on ``loss`` for ``probe_steps`` steps at each rate of ``grid``, from the largest down (the
    default :data:`LR_GRID` is geometric: 10^-5 … 10, 4 rates per decade). A rate is *monotone* for a member
    when its full training loss L_0, …, L_{probe_steps} is finite and never increases:
    L_{t+1} ≤ L_t + rtol·|L_t| for every t (``rtol`` = 1e-12 forgives round-off on a plateau).
    Returns the rates as a float64 tensor (S,) on x's device, ready for ``train_ensemble(lr=...)``; raises
    ValueError when a member has no monotone rate in ``grid``."""
    check_positive_int("probe_steps", probe_steps)
    try:
        rates = sorted({float(r) for r in grid}, reverse=True)
    except (TypeError, ValueError):
        raise ValueError(f"grid must be a sequence of positive numbers, got {grid!r}") from None
    if not rates or not all(math.isfinite(r) and r > 0 for r in rates):
        raise ValueError(f"grid must be a non-empty sequence of finite rates > 0, got {grid!r}")
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not (math.isfinite(rtol) and rtol >= 0):
        raise ValueError(f"rtol must be a finite number >= 0, got {rtol!r}")
    n_members = _n_members(params)
    chosen = torch.full((n_members,), math.nan, dtype=torch.float64)
    todo = torch.arange(n_members)
    for rate in rates:
        probe = {k: v[todo.to(v.device)] for k, v in params.items()}
        with warnings.catch_warnings():  # divergence at the large rates is expected here
            warnings.filterwarnings("ignore", message=".*diverged", category=RuntimeWarning)
            res = train_ensemble(model, probe, x, y, loss=loss, optimizer=optimizer, lr=rate, max_steps=probe_steps,
                                 threshold=None, optimizer_options=optimizer_options)
        ok = torch.from_numpy(_is_monotone(res.loss_curve, rtol))
        chosen[todo[ok]] = rate
        todo = todo[~ok]
        if not len(todo):
            return chosen.to(x.device)
    raise ValueError(
        f"no rate of grid ({rates[-1]:.3g} … {rates[0]:.3g}) gives a monotone decay of the training loss over "
        f"{probe_steps} steps of {optimizer!r} for members {todo.tolist()}; extend the grid to smaller rates")


def _is_monotone(curve: np.ndarray, rtol: float) -> np.ndarray:
    """Per row: finite and L_{t+1} ≤ L_t + rtol·|L_t| for every t."""
    prev, nxt = curve[:, :-1], curve[:, 1:]
    with np.errstate(invalid="ignore"):
        return np.isfinite(curve).all(axis=1) & (nxt <= prev + rtol * np.abs(prev)).all(axis=1)


def train(model: Callable, params: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
          **kwargs) -> TrainResult:
    """Train one network ``model(params, x)`` from ``params``; see :func:`train_ensemble` for options.
    The result's arrays keep a member axis of length 1; ``params`` is unstacked."""
    res = train_ensemble(model, stack_params([params]), x, y, **kwargs)
    return TrainResult(**{**res.__dict__, "params": unstack_params(res.params, 0),
                          "snapshots": {t: unstack_params(p, 0) for t, p in res.snapshots.items()}})


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
    snapshot_steps: Sequence[int] = (),
    compiled: bool | str = False,
) -> TrainResult:
    """Train S stacked parameter sets (leading axis S) of ``model(params, x)`` together.

    ``lr`` is a number or a tensor (S,) of per-member rates. ``threshold``: stop a member when its full
    training loss is first below it (evaluated after every full-batch step, or every epoch with
    mini-batches). ``record_every``: record the full training (and test) loss every so many steps.
    ``snapshot_steps``: keep a copy of the parameters after each of these step counts (0 … ``max_steps``) in
    the result's ``snapshots`` — one run instead of one per training time, with the optimizer's state intact
    (004 Fig. 7B: the same nets after several training times). ``compiled`` (experimental, off by default): step
    with the compiled step of :mod:`ntkbench.compiled` (True), or ``"auto"``: compiled when ``max_steps`` ≥
    :data:`COMPILE_MIN_STEPS` and Inductor can build kernels for the device (compiling costs seconds per net and
    shape; the values agree with the eager step's to round-off). A :class:`~ntkbench.linearize.Linearized` model
    always steps eagerly (its compiled graph segfaulted: docs/known-problems.md).
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
    snap_at = _snapshot_steps(snapshot_steps, max_steps)
    if not (isinstance(batch_fraction, (int, float)) and 0 < batch_fraction <= 1):
        raise ValueError(f"batch_fraction must be in (0, 1], got {batch_fraction!r}")
    if threshold is not None and not threshold > 0:
        raise ValueError(f"threshold must be > 0 or None, got {threshold!r}")
    n_members = _n_members(params)
    if isinstance(lr, torch.Tensor) and lr.ndim == 1 and lr.shape[0] not in (1, n_members):
        raise ValueError(f"lr has {lr.shape[0]} per-member rates but the ensemble has {n_members} members")
    opt = get_optimizer(optimizer, lr, **dict(optimizer_options or {}))
    use_compiled = _use_compiled(compiled, max_steps, x.device, model)

    n = x.shape[0]
    batch = max(1, round(batch_fraction * n))
    full_batch = batch >= n
    per_epoch = math.ceil(n / batch)
    gen = torch.Generator().manual_seed(int(seed))
    run = _Run(model, loss_fn, opt, params, lr, x, y, x_test, y_test, threshold=threshold, batch=batch,
               compiled=use_compiled)

    active = torch.ones(n_members, dtype=torch.bool)
    converged = torch.zeros(n_members, dtype=torch.bool)
    diverged = torch.zeros(n_members, dtype=torch.bool)
    steps = torch.zeros(n_members, dtype=torch.long)
    final = torch.full((n_members,), float("nan"), dtype=torch.float64)
    curve, test_curve, rec_steps = [], [], []
    order = None
    t0 = time.perf_counter()

    def record(t: int, members: torch.Tensor, train_loss: torch.Tensor, test_loss: torch.Tensor | None) -> None:
        """Losses of ``members`` (ensemble indices) at step t; NaN for the others."""
        rec_steps.append(t)
        for rows, values in ((curve, train_loss), (test_curve, test_loss)):
            if values is not None:
                row = torch.full((n_members,), torch.nan, dtype=torch.float64)
                row[members] = values.detach().double().cpu()
                rows.append(row)

    def check_stop(members: torch.Tensor, train_loss: torch.Tensor) -> torch.Tensor:
        """Stopping rule for ``members`` at their loss; returns which of them stop."""
        tl = train_loss.detach().double().cpu()
        final[members] = tl
        stop = _stops(tl, threshold)
        diverged[members[~torch.isfinite(tl)]] = True
        converged[members[stop & torch.isfinite(tl)]] = True
        active[members[stop]] = False
        return stop

    snapshots: dict[int, Params] = {}
    t = 0
    while True:
        if t in snap_at:
            snapshots[t] = run.snapshot()
        evaluated = full_batch or t % per_epoch == 0
        scheduled = t % record_every == 0
        if evaluated:  # the full training loss at the current parameters: stopping rule and record
            members = run.members
            if full_batch:  # loss, gradient and (below max_steps) the update of the members that go on
                value, test_value = run.full_batch_step(update=t < max_steps, test=scheduled)
            else:
                value = run.evaluate(x, y)
                test_value = None
            stop = check_stop(members, value)
            if scheduled or bool(stop.any()):
                if x_test is not None and test_value is None:  # nothing was updated yet
                    test_value = run.evaluate(x_test, y_test)
                record(t, members, value, test_value)
        if not active.any() or t >= max_steps:
            break
        if evaluated:
            run.drop(stop)
        if not full_batch:
            if t % per_epoch == 0:  # one permutation per member of the whole ensemble, stopped or not
                if shuffle:
                    order = torch.argsort(torch.rand(n_members, n, generator=gen), dim=1)
                else:
                    order = torch.arange(n).expand(n_members, n)
            run.batch_step(order, t % per_epoch)
        steps += active.long()
        t += 1

    if not evaluated or rec_steps[-1] != t:  # stopped at max_steps between evaluations or records
        members = run.members
        if not evaluated:
            value = run.evaluate(x, y)
            check_stop(members, value)
        last = steps[members] == t
        test_value = run.evaluate(x_test, y_test) if x_test is not None else None
        record(t, members[last], value[last.to(value.device)],
               test_value[last.to(test_value.device)] if test_value is not None else None)
    if diverged.any():
        warnings.warn(f"{int(diverged.sum())} of {n_members} members diverged (non-finite loss); lower lr",
                      RuntimeWarning, stacklevel=2)
    final_params = run.result()
    for t_snap in snap_at - snapshots.keys():  # every member stopped before t_snap: the final parameters
        snapshots[t_snap] = {k: v.clone() for k, v in final_params.items()}
    return TrainResult(
        params=final_params,
        loss_curve=torch.stack(curve, dim=1).numpy(),
        test_curve=torch.stack(test_curve, dim=1).numpy() if x_test is not None else None,
        record_steps=np.asarray(rec_steps),
        steps=steps.numpy(),
        final_loss=final.numpy(),
        converged=converged.numpy(),
        diverged=diverged.numpy(),
        seconds=time.perf_counter() - t0,
        max_steps=int(max_steps),
        snapshots=dict(sorted(snapshots.items())),
    )


#: ``compiled="auto"`` compiles the step of a run of at least this many steps: compiling costs 5–15 s per net and
#: shape, and a compiled step saves 0.5–15 ms (docs/performance.md), so shorter runs stay eager
COMPILE_MIN_STEPS = 5000


def _use_compiled(compiled: bool | str, max_steps: int, device: torch.device, model: Callable | None = None) -> bool:
    if compiled not in (True, False, "auto"):
        raise ValueError(f"compiled must be True, False or 'auto', got {compiled!r}")
    if compiled is False:
        return False
    if isinstance(model, Linearized):  # Inductor's kernels of its jvp-in-grad graph wrote through a null pointer
        if compiled is True:
            raise ValueError("compiled=True is refused for a Linearized model: Inductor's kernels of its jvp "
                             "segfaulted under torch 2.13 (docs/known-problems.md); use compiled=False or 'auto'")
        return False
    ok, why = compiled_step.available(device)
    if compiled is True and not ok:
        raise ValueError(f"compiled=True, but torch.compile cannot build kernels here: {why}")
    return ok and (compiled is True or (compiled == "auto" and max_steps >= COMPILE_MIN_STEPS))


def _snapshot_steps(steps: Sequence[int], max_steps: int) -> set[int]:
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
        raise ValueError(f"snapshot_steps must be a sequence of step counts, got {steps!r}")
    bad = [t for t in steps if not (isinstance(t, numbers.Integral) and not isinstance(t, bool)
                                    and 0 <= t <= max_steps)]
    if bad:
        raise ValueError(f"snapshot_steps must be integers in [0, max_steps={max_steps}], got {bad!r}")
    return {int(t) for t in steps}


def _n_members(params: Mapping[str, torch.Tensor]) -> int:
    if not params:
        raise ValueError("params is empty: give a dict of stacked (S, ...) parameter tensors")
    sizes = {v.shape[0] if v.ndim else None for v in params.values()}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(f"params must be stacked on a leading member axis of one length S; got leading sizes "
                         f"{ {k: (tuple(v.shape[:1]) or None) for k, v in params.items()} }")
    return sizes.pop()


def _stops(loss: torch.Tensor, threshold: float | None) -> torch.Tensor:
    """Which members stop at this (double, CPU) loss: non-finite, or below the threshold."""
    stop = ~torch.isfinite(loss)
    if threshold is not None:
        stop |= loss < threshold
    return stop


#: on the CPU the members are stepped in chunks of at most this many bytes of trainable parameters (at least
#: one member a chunk). A chunk's gradients and optimizer temporaries then stay under glibc's mmap threshold
#: (dynamic, at most 32 MiB), so they are recycled from the heap step after step; an S-member tensor above it
#: is mapped, page-faulted (~2 ms per 6 MB on the reference machine) and unmapped at every step. On CUDA (a
#: caching allocator) all members form one chunk.
_CHUNK_BYTES = 16 * 2**20


def _rows(tree, rows):
    """Rows ``rows`` (a slice: views; an index or mask: copies) of every stacked tensor in a (nested) dict;
    other leaves (counters such as Adam's ``t``) are kept as they are."""
    if isinstance(tree, dict):
        return {k: _rows(v, rows) for k, v in tree.items()}
    if isinstance(tree, torch.Tensor) and tree.ndim >= 1:
        return tree[rows]
    return tree


def _counters(state: dict) -> dict:
    return {k: v for k, v in state.items() if not isinstance(v, (dict, torch.Tensor))}


class _Run:
    """The working set of one :func:`train_ensemble` call: the still-active members' rows of the parameters,
    buffers, optimizer state and rates, all owned by the run and updated in place; ``members`` are their
    indices in the ensemble. Stopped members are written back to the full parameters and dropped."""

    def __init__(self, model, loss_fn, opt, params, lr, x, y, x_test, y_test, *, threshold, batch, compiled=False):
        trainable, buffers = split_buffers(params)
        if not trainable:
            raise ValueError(f"params has no trainable entries, only buffers {sorted(buffers)}")
        self.keys = list(params)
        self.params = {k: v.detach().clone() for k, v in trainable.items()}
        self.buffers = {k: v.detach().clone() for k, v in buffers.items()}
        self.full = dict(self.params)  # the ensemble's parameters: the rows of dropped members are final
        self.full_buffers = dict(self.buffers)
        n_members = _n_members(params)
        self.members = torch.arange(n_members)
        self.opt, self.state = opt, opt.init(self.params)
        if isinstance(lr, torch.Tensor) and lr.ndim == 1:
            self.lr = lr.detach().to(next(iter(self.params.values()))).expand(n_members).clone()
        else:
            self.lr = float(lr)
        self.x, self.y, self.x_test, self.y_test = x, y, x_test, y_test
        self.threshold, self.batch = threshold, batch
        first = next(iter(self.params.values()))
        member_bytes = sum(v[0].numel() * v.element_size() for v in self.params.values())
        self.chunk = n_members if first.device.type != "cpu" else max(1, _CHUNK_BYTES // max(1, member_bytes))

        def objective(p, b, xb, yb):
            return loss_fn(model({**p, **b}, xb), yb)

        self.grad_full = vmap(grad_and_value(objective), in_dims=(0, 0, None, None))
        self.grad_batch = vmap(grad_and_value(objective), in_dims=(0, 0, 0, 0))
        self.loss = vmap(objective, in_dims=(0, 0, None, None))
        # the compiled step (no test set, all members in one chunk) keeps every member in its rows — a stopped member
        # is masked, not dropped — so the graph's shapes never change: one static graph, no recompilation. Members
        # spread over several chunks step eagerly: a later chunk's rows are views with a storage offset, which
        # torch.func's jvp (the linearized model) cannot trace under torch 2.13 (an internal assert)
        self.slab = bool(compiled) and x_test is None and self.chunk >= n_members
        self.fused_full = self.fused_batch = None
        if self.slab:  # a new net: the previous runs' graphs (other nets and shapes) would only fill dynamo's cache
            torch.compiler.reset()
            self.fused_full = compiled_step.full_batch_step(objective, opt)
            self.fused_batch = compiled_step.batch_step(objective, opt)
            self.alive = torch.ones(n_members, dtype=torch.bool, device=first.device)

    # ----- chunks of the working rows ---------------------------------------------------------------
    def chunks(self) -> list[slice]:
        """Slices of the rows: the working members', or with the compiled step all members'."""
        n = self.alive.numel() if self.slab else len(self.members)
        return [slice(i, min(i + self.chunk, n)) for i in range(0, n, self.chunk)]

    def evaluate(self, xq: torch.Tensor, yq: torch.Tensor) -> torch.Tensor:
        """The loss on (xq, yq) of every working member, (rows,)."""
        with torch.no_grad():
            out = torch.cat([self.loss(_rows(self.params, sl), _rows(self.buffers, sl), xq, yq)
                             for sl in self.chunks()])
        return out[self.members.to(out.device)] if self.slab else out

    def _apply(self, sl: slice, grads: dict, stop: torch.Tensor | None) -> dict | None:
        """The optimizer step, in place, on the rows ``sl`` except those where ``stop`` (kept as they were);
        returns the chunk's advanced counters."""
        if stop is not None and bool(stop.all()):
            return None
        params, state = _rows(self.params, sl), _rows(self.state, sl)
        lr = self.lr[sl] if isinstance(self.lr, torch.Tensor) else self.lr
        kept = {}
        if stop is not None and bool(stop.any()):  # the only masking: a member stops at this step
            frozen = torch.nonzero(stop).flatten()
            kept = {k: (frozen.to(v.device), v[frozen.to(v.device)]) for k, v in params.items()}
        self.opt.step_(params, self._scratch(grads), state, lr=lr)
        for k, (rows, values) in kept.items():  # the stopping members keep their parameters
            params[k][rows] = values
        return _counters(state)

    def _scratch(self, grads: dict) -> dict:
        """Gradients the optimizer may overwrite: a fresh contiguous tensor per entry (autograd may hand back
        one tensor for two entries, a broadcast view, or an input)."""
        seen = {t.untyped_storage().data_ptr() for t in (self.x, self.y, *self.params.values())}
        out = {}
        for k, g in grads.items():
            if not g.is_contiguous() or g.untyped_storage().data_ptr() in seen:
                g = g.clone(memory_format=torch.contiguous_format)
            seen.add(g.untyped_storage().data_ptr())
            out[k] = g
        return out

    # ----- steps --------------------------------------------------------------------------------------
    def full_batch_step(self, *, update: bool, test: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The full training loss of every working member at the current parameters and, with ``update``, one
        step of each member that this loss does not stop. Returns (loss, test loss): the test loss at the same
        parameters when ``test`` or when a member stops (a record is due), else None.

        Chunk by chunk: gradient, then update. With a test set and no scheduled record, all chunks' losses are
        needed before the first update (a stop calls for the test loss of everyone at these parameters)."""
        if self.slab:
            return (self._fused_full_batch_step() if update else self.evaluate(self.x, self.y)), None
        with_test = test and self.x_test is not None
        stream = update and (self.x_test is None or test)
        losses, tests, pending, counters = [], [], [], None
        for sl in self.chunks():
            p, b = _rows(self.params, sl), _rows(self.buffers, sl)
            if update:
                grads, value = self.grad_full(p, b, self.x, self.y)
            else:
                with torch.no_grad():
                    value = self.loss(p, b, self.x, self.y)
            losses.append(value.detach())
            if with_test:
                with torch.no_grad():
                    tests.append(self.loss(p, b, self.x_test, self.y_test))
            if stream:
                counters = self._apply(sl, grads, _stops(value.detach().double().cpu(), self.threshold)) or counters
            elif update:
                pending.append((sl, grads))
        loss = torch.cat(losses)
        stop = _stops(loss.double().cpu(), self.threshold)
        if self.x_test is not None and not with_test and bool(stop.any()):
            tests = [self.evaluate(self.x_test, self.y_test)]  # before any update: nothing has moved yet
        for sl, grads in pending:
            counters = self._apply(sl, grads, stop[sl]) or counters
        self.state.update(counters or {})
        return loss, torch.cat(tests) if tests else None

    def _fused_args(self, sl: slice) -> tuple:
        tensors, counters = compiled_step.split_state(_rows(self.state, sl))
        lr = self.lr[sl] if isinstance(self.lr, torch.Tensor) else self.lr
        return (_rows(self.params, sl), _rows(self.buffers, sl), tensors,
                compiled_step.counters_in(counters, self.x), lr)

    def _set_counters(self, counters: dict | None) -> None:
        if counters:
            self.state.update(compiled_step.counters_out(counters, self.state))

    def _fused_full_batch_step(self) -> torch.Tensor:
        """:meth:`full_batch_step` with the compiled step (no test set): loss and update in one call per chunk of
        all members (a stopped member's row is computed and kept as it is); the working members' losses."""
        threshold = compiled_step.threshold_value(self.threshold)
        losses, counters = [], None
        for sl in self.chunks():
            value, counters = self.fused_full(*self._fused_args(sl), self.alive[sl], self.x, self.y, threshold)
            losses.append(value.detach())
        self._set_counters(counters)
        return torch.cat(losses)[self.members.to(self.alive.device)]

    def batch_step(self, order: torch.Tensor, k: int) -> None:
        """One step of every working member on its batch k of ``order`` (ensemble members × n)."""
        counters = None
        for sl in self.chunks():
            if self.slab:  # every member's row; the stopped ones masked
                idx = order[sl, k * self.batch: (k + 1) * self.batch].to(self.x.device)
                counters = self.fused_batch(*self._fused_args(sl), self.alive[sl], self.x[idx], self.y[idx])
                continue
            idx = order[self.members[sl], k * self.batch: (k + 1) * self.batch].to(self.x.device)
            grads, _ = self.grad_batch(_rows(self.params, sl), _rows(self.buffers, sl), self.x[idx], self.y[idx])
            counters = self._apply(sl, grads, None)
        if self.slab:
            self._set_counters(counters)
        else:
            self.state.update(counters or {})

    # ----- members ------------------------------------------------------------------------------------
    def drop(self, stop: torch.Tensor) -> None:
        """Write the stopping rows (mask over the working rows) back to the full parameters and compact the
        working set to the others (parameters, buffers, optimizer state, rates)."""
        if not bool(stop.any()):
            return
        if self.slab:  # the rows stay; the stopped ones are masked from now on
            self.members = self.members[~stop]
            self.alive[:] = False
            self.alive[self.members.to(self.alive.device)] = True
            return
        self._write_back(stop)
        keep = ~stop
        dev = keep.to(next(iter(self.params.values())).device)
        self.params = {k: v[dev] for k, v in self.params.items()}
        self.buffers = {k: v[dev] for k, v in self.buffers.items()}
        self.state = _rows(self.state, dev)
        if isinstance(self.lr, torch.Tensor):
            self.lr = self.lr[dev]
        self.members = self.members[keep]

    def _write_back(self, rows: torch.Tensor) -> None:
        for k, v in self.params.items():
            if v is not self.full[k]:
                dev = rows.to(v.device)
                self.full[k][self.members[rows].to(v.device)] = v[dev]

    def snapshot(self) -> Params:
        """A copy of the ensemble's current parameters (and buffers): the working rows where they are, the
        stopped members' final rows."""
        return {k: v.clone() for k, v in self.result().items()}

    def result(self) -> Params:
        """The ensemble's parameters (and buffers) in the order of the input dict (the working rows are written
        back, so this may be called mid-run)."""
        self._write_back(torch.ones(len(self.members), dtype=torch.bool))
        return {k: self.full[k] if k in self.full else self.full_buffers[k] for k in self.keys}


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
                       converged=final < threshold, diverged=~np.isfinite(final), seconds=time.perf_counter() - t0,
                       max_steps=int(max_steps))
