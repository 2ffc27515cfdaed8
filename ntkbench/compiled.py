"""The compiled training step: one step of a stacked ensemble — the loss's gradient (``torch.func``) and the
optimizer's update (the pure ``step`` of :mod:`ntkbench.optimizers`) — traced by ``torch.compile`` into one graph
(TorchInductor: elementwise work fused into a few loops, no per-operation dispatch, the update's temporaries never
materialized). :func:`ntkbench.train.train_ensemble` uses it for long runs (its ``compiled`` argument).

The trainer keeps every member in the graph's rows for the whole run: a member that has stopped is masked
(``alive`` false: its parameters are kept), not dropped, so the shapes never change and the graph compiles once,
statically (a graph recompiled for a shrinking ensemble, with dynamic shapes, crashed Inductor's kernels of the
linearized model's ``jvp`` in torch 2.13: a segfault, and an error on a symbolic storage offset). It does so when
all members fit in one of the trainer's chunks (16 MiB of parameters on the CPU); larger ensembles step eagerly.
A full-batch step also applies the eager trainer's stopping rule: a member whose loss at the current parameters is below
``threshold`` or not finite keeps its parameters. The parameters and the optimizer's state tensors are written in
place; the state's counters (Adam's ``t``) go in and come out as 0-d tensors, so that one graph serves every
step.

The values are the eager step's to round-off, not bit for bit: Inductor fuses and reorders floating-point
operations, and the compiled update follows ``step``'s formulas where the eager trainer runs ``step_``'s fused
in-place ones (tests/test_compiled.py measures the difference; docs/performance.md says where it shows).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable

import torch
from torch.func import grad_and_value, vmap

#: one compile thread: the sweeps run one single-threaded worker per core, with no pool beside them
_OPTIONS = {"compile_threads": 1}


def available(device: torch.device | str = "cpu") -> tuple[bool, str]:
    """Whether ``torch.compile`` can build kernels for ``device`` here, and why not: TorchInductor compiles C++ for
    the CPU (it needs a C++ compiler on the PATH) and Triton for CUDA."""
    kind = torch.device(device).type
    if kind == "cpu":
        for cxx in ("c++", "g++", "clang++"):
            if shutil.which(cxx):
                return True, ""
        return False, "no C++ compiler (c++, g++ or clang++) on the PATH for TorchInductor's CPU kernels"
    if kind == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return False, "triton is not installed (TorchInductor's CUDA kernels)"
        return True, ""
    return False, f"no compiled step for device type {kind!r}"


def split_state(state: dict) -> tuple[dict, dict]:
    """An optimizer state's stacked tensors (nested dicts kept) and its counters (top-level scalars: Adam's t)."""
    tensors = {k: v for k, v in state.items() if isinstance(v, (dict, torch.Tensor))}
    return tensors, {k: v for k, v in state.items() if k not in tensors}


def counters_in(counters: dict, like: torch.Tensor) -> dict:
    """The counters as 0-d float64 tensors on ``like``'s device (a traced input, not a constant per step)."""
    return {k: torch.tensor(float(v), dtype=torch.float64, device=like.device) for k, v in counters.items()}


def counters_out(counters: dict, like: dict) -> dict:
    """Counters returned by a compiled step, back to the Python numbers of the eager state ``like``."""
    return {k: type(like[k])(round(float(v))) if isinstance(like[k], int) else float(v) for k, v in counters.items()}


def _copy_tree_(dst: dict, src: dict) -> None:
    for k, v in dst.items():
        if isinstance(v, dict):
            _copy_tree_(v, src[k])
        elif isinstance(v, torch.Tensor):
            v.copy_(src[k])


def _rows_like(mask: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return mask.reshape(-1, *([1] * (p.ndim - 1)))


def full_batch_step(objective: Callable, opt) -> Callable:
    """``step(params, buffers, tensors, counters, lr, alive, x, y, threshold) -> (loss, counters)``: the loss of each
    member (rows of the stacked ``params``) on (x, y) at the current parameters and, for each ``alive`` member it
    does not stop, the optimizer's update, in place. ``objective(p, b, x, y)`` is one member's loss."""
    grad = vmap(grad_and_value(objective), in_dims=(0, 0, None, None))

    def step(params, buffers, tensors, counters, lr, alive, x, y, threshold):
        grads, value = grad(params, buffers, x, y)
        v = value.detach().to(torch.float64)
        go = alive & torch.isfinite(v) & ~(v < threshold)
        new, state = opt.step(params, grads, {**tensors, **counters}, lr=lr)
        for k, p in params.items():
            p.copy_(torch.where(_rows_like(go, p), new[k], p))
        _copy_tree_(tensors, state)
        return value, {k: state[k] for k in counters}

    return torch.compile(step, dynamic=False, options=_OPTIONS)


def batch_step(objective: Callable, opt) -> Callable:
    """``step(params, buffers, tensors, counters, lr, alive, xb, yb) -> counters``: one update of each ``alive``
    member on its own batch (xb, yb: a leading member axis), in place."""
    grad = vmap(grad_and_value(objective), in_dims=(0, 0, 0, 0))

    def step(params, buffers, tensors, counters, lr, alive, xb, yb):
        grads, _ = grad(params, buffers, xb, yb)
        new, state = opt.step(params, grads, {**tensors, **counters}, lr=lr)
        for k, p in params.items():
            p.copy_(torch.where(_rows_like(alive, p), new[k], p))
        _copy_tree_(tensors, state)
        return {k: state[k] for k in counters}

    return torch.compile(step, dynamic=False, options=_OPTIONS)


def threshold_value(threshold: float | None) -> float:
    """The stopping threshold a compiled step compares with (None: no threshold, only non-finite losses stop)."""
    return -math.inf if threshold is None else float(threshold)
