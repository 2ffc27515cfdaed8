"""Linearization around θ0 and the closed forms of kernel gradient descent.

* f_lin(x; θ) = f(x; θ0) + ∇θ f(x; θ0)(θ − θ0) (000 Lemma 1, 002 §11.5.2), by ``torch.func.jvp``.
* Minimum-norm kernel interpolant f_int(x) = K(x, X) K(X, X)⁻¹ Y (000 Eq. 5, 9).
* Infinite-time GD of the linearized model (000 Eq. 13).
* Its two-term decomposition f_int + (1/L) φ(x)(1 − P_F) θ0 (000 Lemma 2 Eq. 14, 001 Thm 1 Eq. 4).
* Finite-time GD of the linearized model (000 Eq. 8), squared loss ½‖f(X) − Y‖².

Kernel systems are solved by Cholesky (or eigh for the spectral forms), never an explicit inverse. A Gram
matrix that is singular to working precision raises :class:`IllConditionedKernel` with its condition number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.func import jvp

from ._validation import check_inputs, check_positive_float, check_positive_int, check_targets
from .kernels import empirical_ntk
from .networks import REFERENCE_SUFFIX, Centered, split_buffers

Params = Mapping[str, torch.Tensor]


class IllConditionedKernel(ValueError):
    """A kernel Gram matrix is singular to working precision."""


def linearize(net, params0: Params) -> Callable[[Params, torch.Tensor], torch.Tensor]:
    """Return f_lin(params, x) = f(x; θ0) + ⟨∇θ f(x; θ0), θ − θ0⟩ (a pure function, like ``net``)."""
    p0 = {k: v.detach() for k, v in params0.items()}

    def f_lin(params: Params, x: torch.Tensor) -> torch.Tensor:
        tangent = {k: params[k] - p0[k] for k in p0}
        f0, df = jvp(lambda p: net(p, x), (p0,), (tangent,))
        return f0 + df

    return f_lin


@dataclass(frozen=True, eq=False)
class Linearized:
    """The linearization of ``base`` around each member's own θ0, as a network that trains and stacks: θ0 rides in
    the params dict as buffers ("W1@0", ... as :class:`~ntkbench.networks.Centered`), so an ensemble's members are
    each linearized around their own θ0 (``init_ensemble(Linearized(net), seeds)``, or :meth:`attach`). Any
    optimizer then trains f_lin(x; θ) = f(x; θ0) + ∇θ f(x; θ0)(θ − θ0) — e.g. 001 Thm 3's AdaGrad on the linearized
    model, which the wide net's AdaGrad approaches like m^-1/2."""

    base: Any

    def __getattr__(self, name: str) -> Any:
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    attach = staticmethod(Centered.attach)  # ``params`` with a copy of themselves attached as θ0 ("W1@0", ...)

    def init(self, seed: int = 0, **draw: Any) -> dict[str, torch.Tensor]:
        return self.attach(self.base.init(seed, **draw))

    def __call__(self, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        theta, buffers = split_buffers(params)
        if not buffers:
            raise ValueError("params hold no θ0 ('W1@0', ...): use Linearized.attach(params) or "
                             "init_ensemble(Linearized(net), seeds)")
        p0 = {k.removesuffix(REFERENCE_SUFFIX): v.detach() for k, v in buffers.items()}
        f0, df = jvp(lambda p: self.base(p, x), (p0,), ({k: theta[k] - p0[k] for k in p0},))
        return f0 + df


def condition_number(gram: torch.Tensor) -> float:
    """λ_max / λ_min of a symmetric PSD Gram matrix (inf when λ_min ≤ 0)."""
    ev = torch.linalg.eigvalsh(gram)
    lo, hi = ev[0].item(), ev[-1].item()
    return float("inf") if lo <= 0 else hi / lo


def psd_solve(gram: torch.Tensor, rhs: torch.Tensor, *, max_cond: float | None = None) -> torch.Tensor:
    """Solve K a = rhs for a symmetric positive-definite Gram K by Cholesky.

    Raises :class:`IllConditionedKernel` (with the condition number) when K is not numerically
    positive definite or its condition number exceeds ``max_cond`` (default 1/(100 ε) of the dtype).
    """
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1]:
        raise ValueError(f"gram must be a square matrix, got shape {tuple(gram.shape)}")
    limit = max_cond if max_cond is not None else 1.0 / (100 * torch.finfo(gram.dtype).eps)
    cond = condition_number(gram)
    chol, info = torch.linalg.cholesky_ex(gram)
    if int(info) != 0 or cond > limit:
        raise IllConditionedKernel(
            f"the kernel Gram matrix ({gram.shape[0]} × {gram.shape[0]}, {gram.dtype}) is singular to working "
            f"precision: condition number {cond:.3g} > {limit:.3g}. Duplicate or near-duplicate training inputs, "
            "too few features (width) for the number of points, or float32: use float64 or fewer points."
        )
    vec = rhs.ndim == 1
    sol = torch.cholesky_solve(rhs.unsqueeze(-1) if vec else rhs, chol)
    return sol.squeeze(-1) if vec else sol


def kernel_interpolant(k_train: torch.Tensor, y: torch.Tensor, k_test_train: torch.Tensor) -> torch.Tensor:
    """Minimum-RKHS-norm interpolant f_int(x*) = K(x*, X) K(X, X)⁻¹ Y (000 Eq. 5, 9–11)."""
    return k_test_train @ psd_solve(k_train, y)


@dataclass(frozen=True)
class LinearizedSolution:
    """Closed-form predictions of the linearized net trained by GD to convergence (000 Eq. 13, 14).

    ``test``: f_lin on the test inputs (Eq. 13); ``interpolant``: f_int (first term of Eq. 14);
    ``init_term``: (1/L) φ(x)(1 − P_F)θ0 (second term), on test inputs; ``init_term_train``: the same
    term on the training inputs (0 up to round-off)."""

    test: torch.Tensor
    interpolant: torch.Tensor
    init_term: torch.Tensor
    init_term_train: torch.Tensor


def _scalar_output(net) -> None:
    if net.d_out != 1:
        raise ValueError(f"the closed forms are implemented for a scalar output (d_out=1), got d_out={net.d_out}")


def gd_infinite_time(net, params0: Params, x_train: torch.Tensor, y_train: torch.Tensor,
                     x_test: torch.Tensor) -> torch.Tensor:
    """000 Eq. 13: f_lin(x) = f0(x) + Θ(x, X) Θ(X, X)⁻¹ (Y − f0(X))."""
    _scalar_output(net)
    check_inputs(x_train, net.d_in, "x_train")
    check_inputs(x_test, net.d_in, "x_test")
    check_targets(y_train, x_train.shape[0], "y_train")
    with torch.no_grad():
        k_tt = empirical_ntk(net, params0, x_train)
        k_st = empirical_ntk(net, params0, x_test, x_train)
        resid = y_train - net(params0, x_train)
        return net(params0, x_test) + k_st @ psd_solve(k_tt, resid)


def decomposition(net, params0: Params, x_train: torch.Tensor, y_train: torch.Tensor,
                  x_test: torch.Tensor) -> LinearizedSolution:
    """000 Lemma 2 Eq. 14 / 001 Thm 1 Eq. 4: f_lin = f_int + (1/L) φ(x)[1 − φ(X)ᵀ(φ(X)φ(X)ᵀ)⁻¹φ(X)] θ0.

    φ(x)θ0 is computed as a Jacobian-vector product along θ0 (not from f0), so comparing with
    :func:`gd_infinite_time` tests the homogeneity f0 = (1/L)φ θ0 (000 App. C) that Eq. 14 relies on.
    Exact for zero-bias ReLU nets (biases zero at θ0 are allowed)."""
    _scalar_output(net)
    check_inputs(x_train, net.d_in, "x_train")
    check_inputs(x_test, net.d_in, "x_test")
    check_targets(y_train, x_train.shape[0], "y_train")
    p0 = {k: v.detach() for k, v in params0.items()}

    def phi_theta0(x: torch.Tensor) -> torch.Tensor:
        return jvp(lambda p: net(p, x), (p0,), (p0,))[1]

    with torch.no_grad():
        k_tt = empirical_ntk(net, p0, x_train)
        k_st = empirical_ntk(net, p0, x_test, x_train)
        alpha = psd_solve(k_tt, torch.stack([y_train, phi_theta0(x_train)], dim=1))
        interp = k_st @ alpha[:, 0]
        proj_test = k_st @ alpha[:, 1]
        proj_train = k_tt @ alpha[:, 1]
        L = net.depth
        init_term = (phi_theta0(x_test) - proj_test) / L
        init_train = (phi_theta0(x_train) - proj_train) / L
    return LinearizedSolution(interp + init_term, interp, init_term, init_train)


def gd_finite_time(net, params0: Params, x_train: torch.Tensor, y_train: torch.Tensor,
                   x_test: torch.Tensor, *, lr: float, steps: int) -> torch.Tensor:
    """000 Eq. 8: t GD steps of size η on ½‖f_lin(X) − Y‖² give
    f_t(x) = f0(x) + Θ(x, X) Θ⁻¹ [1 − (1 − ηΘ)^t] (Y − f0(X)), Θ = Θ(X, X).

    Evaluated spectrally (Θ = U Λ Uᵀ): Θ⁻¹[1 − (1 − ηΘ)^t] = U diag((1 − (1 − ηλ)^t)/λ) Uᵀ, whose
    λ → 0 limit ηt is finite, so no inverse of a singular Gram is ever formed."""
    _scalar_output(net)
    lr = check_positive_float("lr", lr)
    check_positive_int("steps", steps, minimum=0)
    check_inputs(x_train, net.d_in, "x_train")
    check_inputs(x_test, net.d_in, "x_test")
    check_targets(y_train, x_train.shape[0], "y_train")
    with torch.no_grad():
        k_tt = empirical_ntk(net, params0, x_train)
        k_st = empirical_ntk(net, params0, x_test, x_train)
        return linear_path(k_tt, k_st, y_train - net(params0, x_train), net(params0, x_test), lr=lr, steps=[steps])[0]


def linear_path(k_tt: torch.Tensor, k_st: torch.Tensor, resid0: torch.Tensor, f0_test: torch.Tensor, *, lr: float,
                steps) -> torch.Tensor:
    """000 Eq. 8 at several step counts from the kernels: f_t(x) = f0(x) + Θ(x, X) Θ⁻¹[1 − (1 − ηΘ)^t] r0 for each
    t of ``steps``, (T, n_test). Evaluated spectrally (Θ = U Λ Uᵀ), whose λ → 0 limit ηt is finite, so no
    inverse of a singular Gram is ever formed."""
    lam, u = torch.linalg.eigh(k_tt)
    lam = lam.clamp_min(0)
    small = lam * lr < 1e-12
    safe = torch.where(small, torch.ones_like(lam), lam)
    proj = u.T @ resid0
    out = []
    for t in steps:
        gain = torch.where(small, lr * t * torch.ones_like(lam), (1 - (1 - lr * lam) ** t) / safe)
        out.append(f0_test + k_st @ (u @ (gain * proj)))
    return torch.stack(out)


def linear_steps(gram: torch.Tensor, resid0: torch.Tensor, *, lr: float, threshold: float) -> float:
    """The number of GD steps of size ``lr`` the linearized model needs until ½‖f_t(X) − Y‖² < ``threshold``
    (000 Eq. 8: the residual along eigenvector u_i of Θ(X, X) decays like (1 − ηλ_i)^t, so the loss after t steps
    is ½ Σ_i (u_iᵀ r0)² (1 − ηλ_i)^(2t)). It grows like κ(Θ)·log(loss0/threshold) for η = c/λ_max; ``inf`` when a
    direction with a non-negligible residual does not decay (λ_i ≈ 0, or ηλ_i ≥ 2)."""
    lr = check_positive_float("lr", lr)
    threshold = check_positive_float("threshold", threshold)
    lam, u = torch.linalg.eigh(gram.to(torch.float64))
    p2 = (u.T @ resid0.to(torch.float64)) ** 2
    q2 = (1 - lr * lam) ** 2
    loss = lambda t: float(0.5 * (p2 * q2**t).sum())  # noqa: E731
    if loss(0) < threshold:
        return 0.0
    if 0.5 * float(p2[q2 >= 1 - 1e-15].sum()) >= threshold:  # the non-decaying part alone stays above
        return math.inf
    hi = 1
    while loss(hi) >= threshold:
        hi *= 2
        if hi > 2**40:
            return math.inf
    lo = hi // 2
    while hi - lo > 1:  # loss(lo) ≥ threshold > loss(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if loss(mid) >= threshold else (lo, mid)
    return float(hi)
