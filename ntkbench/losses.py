"""Training losses as small pure functions of (predictions, targets), chosen by name.

* ``"mse"``: mean over points (and outputs) of (f − y)² (003 Sect. 7, 004 regression form).
* ``"half_sse"``: ½ Σ (f − y)², the convention of 000 Eq. 2 and 001 (the one the closed forms of
  :mod:`ntkbench.linearize` assume).
* ``"lp"``: mean |f − y|^p (003 §4, p = 4 in its Fig. 1); option ``p`` > 1.
* ``"hinge"``: mean max(0, Δ), Δ = margin − y f (004 footnote 6); option ``margin``.
* ``"square_hinge"``: mean ½ max(0, Δ)² (004 Eq. 1); option ``margin``.
* ``"eps_insensitive"``: mean max(0, |f − y| − margin)², zero on a band of half-width ``margin`` around the targets:
  its minimizers on the training data are every fit within the band, not only the interpolant (the control of
  003 Thm 5, whose losses have their unique minimum at zero residual).
* ``"cross_entropy"``: logistic loss mean log(1 + e^{−y f}) for a scalar output and labels ±1;
  softmax cross-entropy with integer class labels (n,) or one-hot targets (n, k) for a vector output
  (003 §7.2.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ._validation import check_choice, check_positive_float


def mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((pred - y) ** 2).mean()


def half_sse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((pred - y) ** 2).sum()


def lp(pred: torch.Tensor, y: torch.Tensor, p: float = 4.0) -> torch.Tensor:
    return ((pred - y).abs() ** p).mean()


def hinge(pred: torch.Tensor, y: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    return torch.relu(margin - y * pred).mean()


def square_hinge(pred: torch.Tensor, y: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    return 0.5 * (torch.relu(margin - y * pred) ** 2).mean()


def eps_insensitive(pred: torch.Tensor, y: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    return (torch.relu((pred - y).abs() - margin) ** 2).mean()


def cross_entropy(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if pred.ndim == 1:  # scalar output, labels ±1
        return F.softplus(-y * pred).mean()
    if pred.shape == y.shape:  # k outputs, one-hot or probability targets (n, k)
        return F.cross_entropy(pred, y.to(pred.dtype))
    return F.cross_entropy(pred, y.long())  # k outputs, integer class labels (n,)


_FUNCTIONS = {
    "mse": (mse, ()),
    "half_sse": (half_sse, ()),
    "lp": (lp, ("p",)),
    "hinge": (hinge, ("margin",)),
    "square_hinge": (square_hinge, ("margin",)),
    "eps_insensitive": (eps_insensitive, ("margin",)),
    "cross_entropy": (cross_entropy, ()),
}
LOSSES = tuple(_FUNCTIONS)

#: curvature of the loss in the predictions (λ_max of ∂²loss/∂f²) for the quadratic losses, for n predicted
#: values (points × outputs: the means run over every entry)
_CURVATURE = {"mse": lambda n: 2.0 / n, "half_sse": lambda n: 1.0, "square_hinge": lambda n: 1.0 / n,
              "eps_insensitive": lambda n: 2.0 / n}


@dataclass(frozen=True)
class Loss:
    """A named loss with its options, e.g. ``Loss("lp", p=4)`` or ``Loss("square_hinge", margin=1)``."""

    name: str
    p: float | None = None
    margin: float | None = None
    _options: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_choice("loss", self.name, LOSSES)
        allowed = _FUNCTIONS[self.name][1]
        opts = {}
        for key in ("p", "margin"):
            value = getattr(self, key)
            if value is None:
                continue
            if key not in allowed:
                raise ValueError(f"loss {self.name!r} takes no option {key!r} (its options: {list(allowed) or 'none'})")
            opts[key] = check_positive_float(key, value)
        if "p" in opts and opts["p"] <= 1:
            raise ValueError(f"p must be > 1 for the lp loss (003 §4), got {opts['p']}")
        object.__setattr__(self, "_options", opts)

    def __call__(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # no silent broadcasting: y of shape (n, 1) against predictions (n,) would pair every point with every target
        multiclass = self.name == "cross_entropy" and pred.ndim == y.ndim + 1 and pred.shape[:-1] == y.shape
        if pred.shape != y.shape and not multiclass:
            raise ValueError(
                f"y has shape {tuple(y.shape)} but the predictions have shape {tuple(pred.shape)}; the "
                f"{self.name!r} loss needs equal shapes"
                + (" (or integer class labels (n,) for k-output logits (n, k))" if self.name == "cross_entropy" else "")
            )
        return _FUNCTIONS[self.name][0](pred, y, **self._options)

    def curvature(self, n: int) -> float:
        """λ_max of the loss Hessian in the n predictions, for the learning rate c/(curvature·λ_max(Θ))."""
        if self.name not in _CURVATURE:
            raise ValueError(
                f"loss {self.name!r} has no constant curvature; give the learning rate explicitly "
                f"(a kernel-based rate is defined for {', '.join(_CURVATURE)})"
            )
        return _CURVATURE[self.name](n)


def get_loss(loss: str | Loss) -> Loss:
    """A :class:`Loss` from its name or itself."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise ValueError(f"loss must be a name ({', '.join(LOSSES)}) or a Loss, got {loss!r}")
    return Loss(loss)
