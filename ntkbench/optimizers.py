"""First-order optimizers as pure updates on parameter dicts: ``state = opt.init(params)``,
``params, state = opt.step(params, grads, state)``.

Parameters may be stacked over an ensemble axis (leading dimension S); the learning rate may then be a
tensor of shape (S,), one rate per member. Updates follow torch.optim's definitions:

* ``GD`` (also used for mini-batch SGD: batching is the trainer's job; 001 Thm 4(a)).
* ``AdaGrad``: G += g², θ −= η g/(√G + ε) (001 Thm 3, Example 1).
* ``Adam``: bias-corrected moments, β = (0.9, 0.999) (004 methods, full batch).
* ``RMSprop``: v = αv + (1 − α)g², θ −= η g/(√v + ε).
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class GD:
    lr: float | torch.Tensor

    def init(self, params: Mapping[str, torch.Tensor]) -> dict:
        return {}

    def step(self, params, grads, state):
        return {k: p - _rate(self.lr, p) * grads[k] for k, p in params.items()}, state


@dataclass(frozen=True)
class AdaGrad:
    lr: float | torch.Tensor
    eps: float = 1e-10

    def init(self, params):
        return {"sum": {k: torch.zeros_like(p) for k, p in params.items()}}

    def step(self, params, grads, state):
        acc = {k: state["sum"][k] + grads[k] ** 2 for k in params}
        new = {k: p - _rate(self.lr, p) * grads[k] / (acc[k].sqrt() + self.eps) for k, p in params.items()}
        return new, {"sum": acc}


@dataclass(frozen=True)
class Adam:
    lr: float | torch.Tensor
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def init(self, params):
        zeros = {k: torch.zeros_like(p) for k, p in params.items()}
        return {"m": zeros, "v": dict(zeros), "t": 0}

    def step(self, params, grads, state):
        t = state["t"] + 1
        m = {k: self.beta1 * state["m"][k] + (1 - self.beta1) * grads[k] for k in params}
        v = {k: self.beta2 * state["v"][k] + (1 - self.beta2) * grads[k] ** 2 for k in params}
        c1, c2 = 1 - self.beta1**t, 1 - self.beta2**t
        new = {
            k: p - _rate(self.lr, p) * (m[k] / c1) / ((v[k] / c2).sqrt() + self.eps) for k, p in params.items()
        }
        return new, {"m": m, "v": v, "t": t}


@dataclass(frozen=True)
class RMSprop:
    lr: float | torch.Tensor
    alpha: float = 0.99
    eps: float = 1e-8

    def init(self, params):
        return {"v": {k: torch.zeros_like(p) for k, p in params.items()}}

    def step(self, params, grads, state):
        v = {k: self.alpha * state["v"][k] + (1 - self.alpha) * grads[k] ** 2 for k in params}
        new = {k: p - _rate(self.lr, p) * grads[k] / (v[k].sqrt() + self.eps) for k, p in params.items()}
        return new, {"v": v}


OPTIMIZERS = {"gd": GD, "sgd": GD, "adagrad": AdaGrad, "adam": Adam, "rmsprop": RMSprop}


def get_optimizer(name: str, lr: float | torch.Tensor, **options):
    """An optimizer from its name (``gd``, ``sgd``, ``adagrad``, ``adam``, ``rmsprop``)."""
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
