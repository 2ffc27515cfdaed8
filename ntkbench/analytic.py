"""Infinite-width kernels of ``MLP`` networks: the NNGP Σ^L and the analytic NTK Θ^∞ (any depth).

These are the limits that ``empirical_ntk`` (and the covariance of the initial outputs) converge to
as every hidden width → ∞, for exactly the conventions of ``networks.py``:
h^l = c_l W^l a^{l-1} + s_b b^l, a^l = φ(h^l), f = h^L (000 Eq. 1; 000 Eq. 4 for the kernel).

Recursion (Jacot et al. 2018's NTK recursion; the closed-form arc-cosine / arcsine expectations as in
Arora et al. 2019, Cho & Saul 2009 and Williams 1997). Write c̃_l² = σ²/fan_in_l for the *forward*
weight variance (the same in both parametrizations: "ntk" and "standard" nets with the same seed are
the same function at initialization), m_l for the width of layer l, and β for the variance the
initial biases add to a pre-activation (σ² for ``bias="normal"``, 0 for "zero" and "none"):

* A^0(x, x') = x·x'                                        (the input layer is exact)
* Σ^l(x, x') = c̃_l² A^{l-1}(x, x') + β                     (covariance of one unit of h^l, l = 1..L)
* A^l(x, x') = m_l E_{(u,v)~N(0, Σ^l)}[φ(u) φ(v)]          (l = 1..L-1: the hidden sums a^l·a'^l)
* Σ̇^l(x, x') = E_{(u,v)~N(0, Σ^l)}[φ'(u) φ'(v)]             (l = 1..L-1)
* B^L = 1,  B^l = c̃_{l+1}² m_l Σ̇^l B^{l+1}                  (the backprop overlap δ^l·δ'^l)
* Θ_l = (c_l² A^{l-1} + s_b²) B^l,  Θ = Σ_l Θ_l             (weights and biases of layer l together)

with the *net's own* c_l and s_b (``net.weight_scales``, ``net.bias_scales``): the bias term s_b² is
present whenever the biases are trainable (``bias="zero"`` as well as "normal"), even when they start
at zero, while β (the NNGP) only sees the initial bias distribution.

* ``parametrization="ntk"``: c_l² = σ²/fan_in_l, s_b² = σ²; each hidden sum is an average, so Θ is the
  width-independent limit of Jacot et al. For one hidden layer, ReLU, σ = 1 and trainable biases this
  is K^NTK of 002 Theorem 11.30 / Example 11.31: (1 + xᵀz/d)(π − θ)/(2π) + ‖x‖‖z‖/(2πd)(sin θ +
  (π − θ) cos θ) + 1.
* ``parametrization="standard"`` (LeCun): c_l = s_b = 1, so Θ_l = (fan_in_l/σ²)·Θ_ntk,l(weights) +
  (1/σ²)·Θ_ntk,l(bias) (the gradient w.r.t. the standard weight is √fan_in/σ times that w.r.t. the
  NTK-parametrized one). The empirical kernel grows with the width (002 §11.6), so this function
  returns its expectation *at the net's actual widths* to leading order: m_l E[·] with the true m_l.
  The relative error of ``empirical_ntk`` against it still decays like width^(-1/2), and for one
  hidden layer of width n, Θ/n → K^LC of 002 Theorem 11.16 / Example 11.17,
  ‖x‖‖z‖/(2πd)(sin θ + (π − θ) cos θ) (the output-layer block Θ_2/n equals it exactly).

Closed forms, for pre-activation covariances q11 = Σ(x, x), q22 = Σ(x', x'), q12 = Σ(x, x'):

* ReLU (arc-cosine kernel of degree 1 / 0): with θ = arccos(q12/√(q11 q22)) (argument clipped to
  [−1, 1]), E[φ(u)φ(v)] = √(q11 q22)/(2π)·(sin θ + (π − θ) cos θ), E[φ'(u)φ'(v)] = (π − θ)/(2π).
  A zero-variance input (x = 0 without biases) gives 0 for both (u ≡ 0 and torch's relu'(0) = 0).
* erf (arcsine kernel): E[φ(u)φ(v)] = (2/π) arcsin(2 q12/√((1 + 2 q11)(1 + 2 q22))),
  E[φ'(u)φ'(v)] = (4/π)/√((1 + 2 q11)(1 + 2 q22) − 4 q12²).

Other activations (tanh, arctan) have no closed form here and raise ValueError.

Scope: i.i.d. initialization of every layer. ``init_scheme="orthogonal"`` has the same infinite-width
limit (each row of a scaled Haar-orthogonal matrix is asymptotically N(0, I) and rows decouple), so
it gets the same kernels. A ``fan_in`` override is honoured (c̃_l² = σ²/fan_in_l with the true widths
m_l in the sums), but nets built by ``doubling_trick`` have duplicated, not independent, units and are
not described by these formulas. ``analytic_ntk`` also accepts ``ASI``, ``Centered`` and ``Shifted``
wrappers: their tangent kernel has the limit of the base network.

Shapes follow ``empirical_ntk``: (n1, n2) for ``d_out=1``, (n1, n2, k, k) = Θ ⊗ I_k for k outputs
(independent output units); ``per_layer=True`` adds a leading axis of length L.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import torch

from ._validation import check_dtype, check_inputs
from .kernels import row_spans
from .networks import ASI, MLP, Centered, Shifted

__all__ = ["analytic_nngp", "analytic_ntk", "chapter_kernel", "expected_imprint", "SUPPORTED_ACTIVATIONS"]

SUPPORTED_ACTIVATIONS = ("relu", "erf")


# ----- the pairs of inputs the recursion runs over ----------------------------------------------
#: Θ(X, X)'s Gram matrix x·x' is computed in row blocks on and above the diagonal (b blocks cost (b + 1)/(2b) of the
#: full product; torch has no syrk): blocks of at least this many rows, at most _GRAM_BLOCKS of them
_GRAM_ROWS, _GRAM_BLOCKS = 128, 16


@functools.lru_cache(maxsize=2)
def _triangle(n: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(rows, cols, flat positions of (i, j) and of (j, i) in an n × n matrix, positions of the self-pairs) of the
    packed upper triangle i ≤ j. Kept for the last two (n, device): a sweep computes kernels at the same n again and
    again, and building them is a tenth of Θ(X, X)'s time at n = 2 000, depth 2 (they hold 2n² int64, 64 MB there)."""
    rows, cols = torch.triu_indices(n, n, device=device)
    upper, lower = rows * n + cols, cols * n + rows
    return rows, cols, upper, lower, torch.nonzero(rows == cols).squeeze(1)


def _upper_gram(x: torch.Tensor) -> torch.Tensor:
    """x·xᵀ with only its row blocks on and above the diagonal filled (the rest of the buffer is garbage)."""
    out = x.new_empty(x.shape[0], x.shape[0])
    for rows in row_spans(x.shape[0], _GRAM_ROWS, _GRAM_BLOCKS):
        out[rows, rows.start:] = x[rows] @ x[rows.start:].T
    return out


@dataclass(frozen=True)
class _Pairs:
    """The (x, x') pairs of one kernel. For K(X, X) only the upper triangle i ≤ j, packed into one axis: the
    recursion is elementwise over pairs, so each of its steps costs half, and the result is symmetric by
    construction. For K(X1, X2) the full n1 × n2 grid (``rows`` None). ``diag``: the positions (in the flattened
    pair axis) of the self-pairs (i, i), whose angle is exactly 0 (arccos near 1 would turn a round-off of ε
    into θ ≈ √(2ε)); ``upper``/``lower``: the flat positions of (i, j) and (j, i) in the n × n matrix."""

    n1: int
    n2: int
    rows: torch.Tensor | None = None
    cols: torch.Tensor | None = None
    diag: torch.Tensor | None = None
    upper: torch.Tensor | None = None
    lower: torch.Tensor | None = None

    @staticmethod
    def of(x1: torch.Tensor, x2: torch.Tensor | None) -> tuple[_Pairs, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The pairs and the Gram values x·x' over them, with the two point-wise diagonals."""
        if x2 is not None:
            return _Pairs(x1.shape[0], x2.shape[0]), x1 @ x2.T, (x1 * x1).sum(1), (x2 * x2).sum(1)
        n = x1.shape[0]
        rows, cols, upper, lower, diag = _triangle(n, x1.device)
        gram = _upper_gram(x1).view(-1)[upper]
        sq = (x1 * x1).sum(1)
        return _Pairs(n, n, rows, cols, diag, upper, lower), gram, sq, sq

    def expand(self, v1: torch.Tensor, v2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Point-wise values v1 (n1,) and v2 (n2,) aligned with the pairs (broadcastable against them)."""
        if self.rows is None:
            return v1[:, None], v2[None, :]
        return v1[self.rows], v2[self.cols]

    def full(self, t: torch.Tensor) -> torch.Tensor:
        """(…, pairs) → (…, n1, n2): the packed triangle mirrored into the full symmetric matrix."""
        if self.rows is None:
            return t
        n = self.n1
        out = t.new_empty(*t.shape[:-1], n * n)
        out[..., self.upper] = t
        out[..., self.lower] = t
        return out.view(*t.shape[:-1], n, n)


# ----- closed-form Gaussian expectations ---------------------------------------------------------
def _relu_moments(q12: torch.Tensor, q11: torch.Tensor, q22: torch.Tensor, pairs: _Pairs):
    """(E[relu(u)relu(v)], E[relu'(u)relu'(v)]) for (u, v) ~ N(0, [[q11, q12], [q12, q22]]) over the pairs.

    ``q11`` (n1,) and ``q22`` (n2,) are point-wise; ``q12`` holds one value per pair. In place where it can be:
    each step is a pass over n1·n2 (or n(n + 1)/2) numbers."""
    s1, s2 = pairs.expand(q11.sqrt(), q22.sqrt())
    root = s1 * s2
    zero_var = not (bool((q11 > 0).all()) and bool((q22 > 0).all()))
    if zero_var:  # a zero-variance input (x = 0 without biases): u ≡ 0 and relu'(0) = 0, both moments 0
        ok = root > 0
        cos = torch.where(ok, q12 / torch.where(ok, root, torch.ones_like(root)), torch.zeros_like(q12))
    else:
        cos = q12 / root
    cos.clamp_(-1.0, 1.0)
    if pairs.diag is not None:
        cos.view(-1)[pairs.diag] = 1.0
    pm = torch.arccos(cos).neg_().add_(math.pi)  # π − θ
    sin = (cos * cos).neg_().add_(1.0).clamp_min_(0.0).sqrt_()
    e_phi = (pm * cos).add_(sin).mul_(root).mul_(1.0 / (2 * math.pi))
    e_dphi = pm.mul_(1.0 / (2 * math.pi))
    if zero_var:
        e_phi.masked_fill_(~ok, 0.0)
        e_dphi.masked_fill_(~ok, 0.0)
    return e_phi, e_dphi


def _relu_diag(q: torch.Tensor) -> torch.Tensor:
    """E[relu(u)²] = q/2 for u ~ N(0, q)."""
    return 0.5 * q


def _erf_moments(q12: torch.Tensor, q11: torch.Tensor, q22: torch.Tensor, pairs: _Pairs):
    """(E[erf(u)erf(v)], E[erf'(u)erf'(v)]) (Williams 1997)."""
    p1, p2 = pairs.expand(1.0 + 2.0 * q11, 1.0 + 2.0 * q22)
    prod = p1 * p2
    e_phi = (2.0 / math.pi) * torch.arcsin((2.0 * q12 / torch.sqrt(prod)).clamp(-1.0, 1.0))
    # (1+2a)(1+2b) − 4c² ≥ 1 + 2a + 2b ≥ 1 when c² ≤ ab: the clamp only guards round-off
    e_dphi = (4.0 / math.pi) / torch.sqrt((prod - 4.0 * q12 * q12).clamp_min(1.0))
    return e_phi, e_dphi


def _erf_diag(q: torch.Tensor) -> torch.Tensor:
    return (2.0 / math.pi) * torch.arcsin(2.0 * q / (1.0 + 2.0 * q))


_MOMENTS = {"relu": (_relu_moments, _relu_diag), "erf": (_erf_moments, _erf_diag)}


# ----- argument handling -------------------------------------------------------------------------
def _unwrap(net: Any, allow_wrappers: bool) -> MLP:
    base = net
    while allow_wrappers and isinstance(base, (ASI, Centered, Shifted)):
        base = base.base
    if isinstance(base, MLP):
        return base
    if isinstance(net, (ASI, Centered)):
        raise ValueError(
            f"net is a {type(net).__name__} whose output is identically 0 at initialization, so its NNGP "
            "is 0; pass net.base for the covariance of the underlying MLP"
        )
    raise ValueError(f"net must be an MLP (or, for analytic_ntk, an ASI/Centered/Shifted MLP), got "
                     f"{type(net).__name__}")


def _prepare(net: Any, x1: Any, x2: Any, dtype: Any, allow_wrappers: bool):
    mlp = _unwrap(net, allow_wrappers)
    if mlp.parametrization == "mean_field":
        raise ValueError(
            "parametrization='mean_field' has no finite infinite-width tangent kernel (it vanishes like 1/m); "
            "analytic kernels support parametrization 'ntk' and 'standard'"
        )
    if mlp.init_scheme == "glorot":
        raise ValueError(
            "init_scheme='glorot' scales each layer by its fan-out too (σ_l = σ√(2 fan_in/(fan_in + fan_out))), which "
            "these formulas (one σ for every layer) do not describe; analytic kernels support init_scheme 'normal' "
            "and 'orthogonal'"
        )
    if mlp.activation not in _MOMENTS:
        raise ValueError(
            f"activation={mlp.activation!r} has no closed-form infinite-width kernel here; "
            f"supported activation values: {', '.join(map(repr, SUPPORTED_ACTIVATIONS))}"
        )
    dt = torch.float64 if dtype is None else check_dtype(dtype)
    check_inputs(x1, mlp.d_in, "x1")
    if x2 is not None:
        check_inputs(x2, mlp.d_in, "x2")
    x1 = x1.detach().to(device=mlp.device, dtype=dt)
    x2 = None if x2 is None else x2.detach().to(device=mlp.device, dtype=dt)
    return mlp, x1, x2


def _recursion(net: MLP, x1: torch.Tensor, x2: torch.Tensor | None):
    """Forward recursion over the pairs: the pairs and the lists A^0..A^{L-1}, Σ^1..Σ^L and Σ̇^1..Σ̇^{L-1} (one value
    per pair)."""
    pairs, gram, a11, a22 = _Pairs.of(x1, x2)
    A, Sigma, Sdot = [gram], [], []
    for q12, e_dphi, a12 in _layers(net, pairs, gram, a11, a22):
        Sigma.append(q12)
        if e_dphi is not None:
            A.append(a12)
            Sdot.append(e_dphi)
    return pairs, A, Sigma, Sdot


def _layers(net: MLP, pairs: _Pairs, a12: torch.Tensor, a11: torch.Tensor, a22: torch.Tensor):
    """Per layer l = 1..L: (Σ^l, Σ̇^l, A^l) over the pairs; Σ̇^L and A^L are None (the output)."""
    moments, diag = _MOMENTS[net.activation]
    sizes, fan_in, s2 = net.layer_sizes, net.fan_in, net.sigma**2
    beta = s2 if net.bias == "normal" else 0.0
    for l in range(1, net.depth + 1):
        ct2 = s2 / fan_in[l - 1]
        q12, q11, q22 = ct2 * a12 + beta, ct2 * a11 + beta, ct2 * a22 + beta
        if l == net.depth:
            yield q12, None, None
            return
        e_phi, e_dphi = moments(q12, q11, q22, pairs)
        m = sizes[l]
        a12, a11, a22 = e_phi.mul_(m), m * diag(q11), m * diag(q22)
        yield q12, e_dphi, a12


def _finish(k: torch.Tensor, d_out: int) -> torch.Tensor:
    """Tensor with I_k for k outputs."""
    if d_out == 1:
        return k
    eye = torch.eye(d_out, dtype=k.dtype, device=k.device)
    return k[..., None, None] * eye


# ----- public API --------------------------------------------------------------------------------
def analytic_nngp(
    net: MLP,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    per_layer: bool = False,
    dtype: torch.dtype | str | None = None,
) -> torch.Tensor:
    """NNGP kernel Σ^L(x1, x2) = lim Cov[f(x1; θ0), f(x2; θ0)] over the initialization θ0.

    It is the covariance of the *initial* function, so it sees the initial bias distribution: biases add
    σ² per layer for ``bias="normal"`` (s_b² Var b = σ² in both parametrizations) and nothing for
    ``"zero"`` or ``"none"``. The same in both parametrizations (002 §11.5.5, 002 Example 11.17 gives the
    ReLU one-hidden-layer case: Σ^2 = σ² K^LC). For one hidden layer it is exact at every width.

    Returns (n1, n2), or (n1, n2, k, k) = Σ^L ⊗ I_k for ``d_out = k > 1``. ``per_layer=True`` returns
    instead the stack (L, n1, n2) of Σ^1..Σ^L, the covariance of any single unit of h^l (no k axes).
    Computed in ``dtype`` (float64 by default) on ``net.device``; x1, x2 may live on any device.
    """
    net, x1, x2 = _prepare(net, x1, x2, dtype, allow_wrappers=False)
    pairs, a12, a11, a22 = _Pairs.of(x1, x2)
    if per_layer:
        return pairs.full(torch.stack([q12 for q12, *_ in _layers(net, pairs, a12, a11, a22)]))
    *_, (last, *_) = _layers(net, pairs, a12, a11, a22)
    return _finish(pairs.full(last), net.d_out)


def analytic_ntk(
    net: MLP,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    per_layer: bool = False,
    dtype: torch.dtype | str | None = None,
) -> torch.Tensor:
    """Infinite-width NTK Θ(x1, x2): what ``empirical_ntk(net, net.init(seed), x1, x2)`` converges to.

    Per layer l (module docstring for the recursion): Θ_l = (c_l² A^{l-1} + s_b²)·Π_{l'≥l} c̃_{l'+1}² m_{l'}
    Σ̇^{l'}, the first factor from ∂h^l/∂(W^l, b^l), the product from backpropagation to the output.
    Jacot et al. 2018 (recursion), Arora et al. 2019 (arc-cosine form); for one hidden layer the
    result is 002 Example 11.31's K^NTK (``parametrization="ntk"``) or n·K^LC + O(1) of 002 Example 11.17
    (``"standard"``: the LeCun kernel grows with the width n and K̂_n/n → K^LC; this function keeps the
    net's real widths so that it is the leading-order expectation of the empirical kernel).

    Orthogonal initialization has the same limit. ``ASI``, ``Centered`` and ``Shifted`` nets give the kernel
    of their base network. Shapes as ``empirical_ntk``: (n1, n2), (n1, n2, k, k) = Θ ⊗ I_k for k outputs, and a
    leading axis of length L with ``per_layer=True``. Computed in ``dtype`` (float64 by default) on
    ``net.device``; x1, x2 may live on any device.
    """
    net, x1, x2 = _prepare(net, x1, x2, dtype, allow_wrappers=True)
    sizes, fan_in, s2 = net.layer_sizes, net.fan_in, net.sigma**2
    w2 = [c * c for c in net.weight_scales]
    sb2 = [s * s for s in net.bias_scales]
    L = net.depth
    if per_layer:
        pairs, A, _, Sdot = _recursion(net, x1, x2)
        back = torch.ones_like(A[0])  # B^L
        blocks = [None] * L
        for l in range(L, 0, -1):
            blocks[l - 1] = (w2[l - 1] * A[l - 1] + sb2[l - 1]) * back
            if l > 1:  # B^{l-1} = c̃_l² m_{l-1} Σ̇^{l-1} B^l
                back = (s2 / fan_in[l - 1]) * sizes[l - 1] * Sdot[l - 2] * back
        return _finish(pairs.full(torch.stack(blocks)), net.d_out)
    # the sum over layers, forward: T^1 = c_1² A^0 + s_b,1², T^l = c_l² A^{l-1} + s_b,l² + c̃_l² m_{l-1} Σ̇^{l-1} T^{l-1}
    # (T^L = Σ_l Θ_l: the same products as B^l, accumulated from the input side), holding one layer at a time
    pairs, gram, a11, a22 = _Pairs.of(x1, x2)
    theta = w2[0] * gram + sb2[0]
    for l, (_, e_dphi, a12) in enumerate(_layers(net, pairs, gram, a11, a22), start=2):
        if e_dphi is None:
            break
        theta.mul_(e_dphi).mul_((s2 / fan_in[l - 1]) * sizes[l - 1]).add_(a12, alpha=w2[l - 1]).add_(sb2[l - 1])
    return _finish(pairs.full(theta), net.d_out)


def expected_imprint(net: MLP, x_train: torch.Tensor, x_test: torch.Tensor) -> torch.Tensor:
    """003 Thm 3's imprint in expectation, per test point: E I(x)² for I = h_ini − h(·; 0, X, h_ini(X)), the part
    of the initial output that kernel regression with the NTK Θ from the training inputs X does not remove:

        E I(x)² = Σ(x, x) − 2 a(x)ᵀ Σ(X, x) + a(x)ᵀ Σ(X, X) a(x),   a(x) = Θ(X, X)⁻¹ Θ(X, x),

    Σ the NNGP kernel (the covariance of h_ini over the initialization), Θ the analytic NTK. Only h_ini's
    covariance enters, so no training and no Gaussianity is assumed; the net's own kernel fluctuates around Θ by
    O(m^-1/2). With Θ = Σ it is the Gaussian-process posterior variance. Returns (n_test,)."""
    if net.d_out != 1:
        raise ValueError(f"net must have one output (003 Thm 3 is for scalar regression), got d_out={net.d_out}")
    theta_xx, theta_xt = analytic_ntk(net, x_train), analytic_ntk(net, x_train, x_test)
    sigma_xx, sigma_xt = analytic_nngp(net, x_train), analytic_nngp(net, x_train, x_test)
    prior = torch.diagonal(analytic_nngp(net, x_test))
    chol = torch.linalg.cholesky(theta_xx)
    a = torch.cholesky_solve(theta_xt, chol)  # (n_train, n_test)
    return prior - 2 * (a * sigma_xt).sum(dim=0) + (a * (sigma_xx @ a)).sum(dim=0)


def chapter_kernel(x1: torch.Tensor, x2: torch.Tensor | None = None, *, kernel: str = "lc",
                   activation: str = "relu") -> torch.Tensor:
    """002's one-hidden-layer limits written as the chapter writes them, for u with i.i.d. N(0, 1/d) entries:

    * ``kernel="lc"``: K^LC(x, z) = E[σ(uᵀx)σ(uᵀz)] (Thm 11.16; for ReLU Example 11.17:
      ‖x‖‖z‖/(2πd)(sin θ + (π − θ)cos θ)); it is also the NNGP covariance c(x, z) of Prop. 11.28;
    * ``kernel="ntk"``: K^NTK(x, z) = (1 + xᵀz/d)E[σ'(uᵀx)σ'(uᵀz)] + E[σ(uᵀx)σ(uᵀz)] + 1 (Thm 11.30; for ReLU
      Example 11.31: E[σ'σ'] = (π − θ)/(2π)); the "+1" and "1 +" are the trainable output and hidden biases
      (initialized at 0) of (11.6.1), whose hidden bias is not scaled by 1/√d.

    Closed forms for ``activation`` relu (the chapter's) and erf (Williams 1997); computed directly from these
    formulas, independently of :func:`analytic_ntk`'s layer recursion, which gives the same kernels for
    ``MLP(d, n, 2, parametrization="standard"/"ntk", bias="zero", sigma=1)`` (tests/test_analytic.py). Float64,
    shape (n1, n2)."""
    if kernel not in ("lc", "ntk"):
        raise ValueError(f"kernel must be 'lc' (002 Thm 11.16) or 'ntk' (002 Thm 11.30), got {kernel!r}")
    if activation not in SUPPORTED_ACTIVATIONS:
        raise ValueError(f"activation={activation!r} has no closed form here; choose from {SUPPORTED_ACTIVATIONS}")
    if not isinstance(x1, torch.Tensor) or x1.ndim != 2 or x1.shape[0] == 0:
        raise ValueError(f"x1 must be a non-empty (n, d) tensor, got {x1!r}")
    same = x2 is None
    x1 = x1.detach().to(torch.float64)
    x2 = x1 if same else x2.detach().to(torch.float64)
    if x2.ndim != 2 or x2.shape[1] != x1.shape[1]:
        raise ValueError(f"x2 must be (n2, {x1.shape[1]}), got {tuple(x2.shape)}")
    d = x1.shape[1]
    dot = x1 @ x2.T
    if activation == "relu":
        norms = x1.norm(dim=1)[:, None] * x2.norm(dim=1)[None, :]
        ok = norms > 0
        cos = torch.where(ok, dot / torch.where(ok, norms, torch.ones_like(norms)), torch.zeros_like(dot))
        cos = cos.clamp(-1.0, 1.0)
        if same:
            cos.diagonal().fill_(1.0)
        theta = torch.arccos(cos)
        e_phi = norms / (2 * math.pi * d) * (torch.sin(theta) + (math.pi - theta) * cos)
        e_dphi = torch.where(ok, (math.pi - theta) / (2 * math.pi), torch.zeros_like(dot))
    else:
        q11, q22 = (x1 * x1).sum(1) / d, (x2 * x2).sum(1) / d
        e_phi, e_dphi = _erf_moments(dot / d, q11, q22, _Pairs(*dot.shape))
    if kernel == "lc":
        return e_phi
    return (1.0 + dot / d) * e_dphi + e_phi + 1.0
