"""First-order optimizers as pure updates on parameter dicts: ``state = opt.init(params)``,
``params, state = opt.step(params, grads, state, lr=None)``; and the same update in place, for a trainer that owns
its buffers: ``opt.step_(params, grads, state, lr=None)`` (GD, Adam: no new S × P tensor; AdaGrad, RMSprop: one).

Parameters may be stacked over an ensemble axis (leading dimension S); the learning rate may then be a
tensor of shape (S,), one rate per member. Updates follow torch.optim's definitions:

* ``GD`` (also used for mini-batch SGD: batching is the trainer's job; 001 Thm 4(a)).
* ``AdaGrad``: G += g², θ −= η g/(√G + ε) (001 Thm 3, Example 1).
* ``AdaGradNorm``: one G per member, G += ‖g‖², θ −= η g/(√G + ε): isotropic, so it keeps GD's minimizer.
* ``Adam``: bias-corrected moments, β = (0.9, 0.999) (004 methods, full batch).
* ``RMSprop``: v = αv + (1 − α)g², θ −= η g/(√v + ε).
* ``Preconditioned``: θ −= η D g with a fixed diagonal D (``scale``, shaped like the parameters): AdaGrad with its
  preconditioner frozen (001 Thm 5's boundary: a fixed linear preconditioning, whose minimizer does not depend on
  the batches).

``step`` is the reference, written as the formulas above. ``step_`` does the same arithmetic with the fused
in-place operations of torch.optim's single-tensor implementations (``add_``, ``lerp_``, ``addcmul_``,
``addcdiv_``), so the two agree to round-off. ``step_`` updates ``params`` and the state's tensors in place,
advances the state's counters (Adam's ``t``), may use ``grads`` as scratch (overwriting them) and
takes the rates of the members it is given from ``lr`` when given (a subset of the members, e.g. a chunk of
them or the ones still training), else from ``self.lr``; so does ``step``. ``step`` is also what a compiled
training step traces (:mod:`ntkbench.compiled`): the state's counters (Adam's ``t``) may then be 0-d tensors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

import torch

from ._validation import check_choice, check_positive_float

Params = dict[str, torch.Tensor]


def _rate(lr: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
    """Broadcast a per-member rate (S,) against a stacked tensor (S, ...)."""
    if isinstance(lr, torch.Tensor) and lr.ndim == 1:
        return lr.to(like).reshape(-1, *([1] * (like.ndim - 1)))
    return lr


def _scaled_sub_(p: torch.Tensor, num: torch.Tensor, den: torch.Tensor | None, rate, scratch: torch.Tensor) -> None:
    """p −= rate · num / den in place (den None: rate · num); ``rate`` a number or a broadcast (S, 1, ...)
    tensor. ``scratch`` (num's shape, may be num or den itself) receives the step for a tensor rate."""
    if not isinstance(rate, torch.Tensor):
        if den is None:
            p.add_(num, alpha=-rate)
        else:
            p.addcdiv_(num, den, value=-rate)
        return
    if den is None:
        torch.mul(num, rate, out=scratch)
    else:
        torch.div(num, den, out=scratch)
        scratch.mul_(rate)
    p.sub_(scratch)


@dataclass(frozen=True)
class GD:
    lr: float | torch.Tensor

    def init(self, params: Mapping[str, torch.Tensor]) -> dict:
        return {}

    def step(self, params, grads, state, lr=None):
        lr = self.lr if lr is None else lr
        return {k: p - _rate(lr, p) * grads[k] for k, p in params.items()}, state

    def step_(self, params, grads, state, lr=None) -> None:
        lr = self.lr if lr is None else lr
        for k, p in params.items():
            _scaled_sub_(p, grads[k], None, _rate(lr, p), grads[k])


@dataclass(frozen=True)
class AdaGrad:
    lr: float | torch.Tensor
    eps: float = 1e-10

    def init(self, params):
        return {"sum": {k: torch.zeros_like(p) for k, p in params.items()}}

    def step(self, params, grads, state, lr=None):
        lr = self.lr if lr is None else lr
        acc = {k: state["sum"][k] + grads[k] ** 2 for k in params}
        new = {k: p - _rate(lr, p) * grads[k] / (acc[k].sqrt() + self.eps) for k, p in params.items()}
        return new, {"sum": acc}

    def step_(self, params, grads, state, lr=None) -> None:
        lr = self.lr if lr is None else lr
        for k, p in params.items():
            g, acc = grads[k], state["sum"][k]
            acc.addcmul_(g, g, value=1)
            den = acc.sqrt().add_(self.eps)
            _scaled_sub_(p, g, den, _rate(lr, p), g)


@dataclass(frozen=True)
class AdaGradNorm:
    """AdaGrad-Norm (Ward, Wu & Bottou 2019, "AdaGrad stepsizes: sharp convergence over nonconvex landscapes",
    JMLR 21(219)): one accumulator per member, G += ‖g‖² over all of its parameters, θ −= η g/(√G + ε). Adaptive in
    time like AdaGrad but isotropic — a scalar rate per member and step — so on the linearized model its steps stay
    in the span of the training gradients and it reaches GD's interpolant: 001 Thm 3's mechanism, AdaGrad's
    coordinate-wise preconditioner D, removed. The parameters must be stacked (leading member axis S)."""

    lr: float | torch.Tensor
    eps: float = 1e-10

    def init(self, params):
        p = next(iter(params.values()))
        return {"sum": torch.zeros(p.shape[0], dtype=p.dtype, device=p.device)}

    @staticmethod
    def _squares(grads) -> torch.Tensor:
        return sum(g.pow(2).reshape(g.shape[0], -1).sum(dim=1) for g in grads.values())

    def step(self, params, grads, state, lr=None):
        lr = self.lr if lr is None else lr
        acc = state["sum"] + self._squares(grads)
        den = acc.sqrt() + self.eps
        new = {k: p - _rate(lr, p) * grads[k] / _rate(den, p) for k, p in params.items()}
        return new, {"sum": acc}

    def step_(self, params, grads, state, lr=None) -> None:
        lr = self.lr if lr is None else lr
        acc = state["sum"].add_(self._squares(grads))
        den = acc.sqrt().add_(self.eps)
        for k, p in params.items():
            g = grads[k]
            _scaled_sub_(p, g, _rate(den, p), _rate(lr, p), g)


@dataclass(frozen=True)
class Adam:
    lr: float | torch.Tensor
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def init(self, params):
        return {"m": {k: torch.zeros_like(p) for k, p in params.items()},
                "v": {k: torch.zeros_like(p) for k, p in params.items()}, "t": 0}  # distinct: step_ is in place

    def step(self, params, grads, state, lr=None):
        lr = self.lr if lr is None else lr
        t = state["t"] + 1
        m = {k: self.beta1 * state["m"][k] + (1 - self.beta1) * grads[k] for k in params}
        v = {k: self.beta2 * state["v"][k] + (1 - self.beta2) * grads[k] ** 2 for k in params}
        c1, c2 = 1 - self.beta1**t, 1 - self.beta2**t
        new = {
            k: p - _rate(lr, p) * (m[k] / c1) / ((v[k] / c2).sqrt() + self.eps) for k, p in params.items()
        }
        return new, {"m": m, "v": v, "t": t}

    def step_(self, params, grads, state, lr=None) -> None:
        lr = self.lr if lr is None else lr
        state["t"] = t = state["t"] + 1
        c1, sqrt_c2 = 1 - self.beta1**t, math.sqrt(1 - self.beta2**t)
        for k, p in params.items():
            g, m, v = grads[k], state["m"][k], state["v"][k]
            m.lerp_(g, 1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            den = torch.sqrt(v, out=g).div_(sqrt_c2).add_(self.eps)  # g is no longer needed: its buffer is the scratch
            _scaled_sub_(p, m, den, _rate(lr, p) / c1, den)


@dataclass(frozen=True)
class RMSprop:
    lr: float | torch.Tensor
    alpha: float = 0.99
    eps: float = 1e-8

    def init(self, params):
        return {"v": {k: torch.zeros_like(p) for k, p in params.items()}}

    def step(self, params, grads, state, lr=None):
        lr = self.lr if lr is None else lr
        v = {k: self.alpha * state["v"][k] + (1 - self.alpha) * grads[k] ** 2 for k in params}
        new = {k: p - _rate(lr, p) * grads[k] / (v[k].sqrt() + self.eps) for k, p in params.items()}
        return new, {"v": v}

    def step_(self, params, grads, state, lr=None) -> None:
        lr = self.lr if lr is None else lr
        for k, p in params.items():
            g, v = grads[k], state["v"][k]
            v.mul_(self.alpha).addcmul_(g, g, value=1 - self.alpha)
            den = v.sqrt().add_(self.eps)
            _scaled_sub_(p, g, den, _rate(lr, p), g)


@dataclass(frozen=True, eq=False)
class Preconditioned:
    lr: float | torch.Tensor
    scale: Mapping[str, torch.Tensor] | None = None

    def init(self, params):
        if self.scale is None or set(self.scale) != set(params) or \
                any(self.scale[k].shape != p.shape for k, p in params.items()):
            raise ValueError(f"scale must hold one tensor shaped like each parameter ({sorted(params)}), got "
                             f"{None if self.scale is None else {k: tuple(v.shape) for k, v in self.scale.items()}}")
        return {"scale": {k: self.scale[k].detach().clone() for k in params}}  # sliced with the members

    def step(self, params, grads, state, lr=None):
        lr = self.lr if lr is None else lr
        return {k: p - _rate(lr, p) * state["scale"][k] * grads[k] for k, p in params.items()}, state

    def step_(self, params, grads, state, lr=None) -> None:
        lr = self.lr if lr is None else lr
        for k, p in params.items():
            g = grads[k].mul_(state["scale"][k])
            _scaled_sub_(p, g, None, _rate(lr, p), g)


OPTIMIZERS = {"gd": GD, "sgd": GD, "adagrad": AdaGrad, "adagrad-norm": AdaGradNorm, "adam": Adam,
              "rmsprop": RMSprop, "preconditioned": Preconditioned}


def get_optimizer(name: str, lr: float | torch.Tensor, **options):
    """An optimizer from its name (``gd``, ``sgd``, ``adagrad``, ``adagrad-norm``, ``adam``, ``rmsprop``,
    ``preconditioned``: its option ``scale`` is required)."""
    check_choice("optimizer", name, OPTIMIZERS)
    if isinstance(lr, torch.Tensor):
        if lr.ndim > 1 or not bool((lr > 0).all()) or not bool(torch.isfinite(lr).all()):
            raise ValueError("lr must be a positive number or a 1-D tensor of positive per-member rates")
    else:
        lr = check_positive_float("lr", lr)
    allowed = [f.name for f in fields(OPTIMIZERS[name]) if f.name != "lr"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"optimizer_options {unknown} are not options of {name!r} (its options: {allowed or 'none'})")
    return OPTIMIZERS[name](lr=lr, **options)
