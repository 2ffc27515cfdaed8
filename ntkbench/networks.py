"""Fully-connected networks as pure functions of (params dict, inputs), ready for torch.func.

Conventions (000 Eq. 1, 001 Eq. 1, 002 §11.5–11.6, 004 §1.1). Layers l = 1..L (``depth`` = L weight
layers; L = 2 is one hidden layer), a^0 = x, h^l = c_l W^l a^{l-1} + s_b b^l, a^l = φ(h^l), f = h^L.

* ``parametrization="ntk"``: c_l = σ/√fan_in_l, s_b = σ, and W, b ~ N(0, 1) (000 Eq. 1, 002 (11.6.1)).
* ``parametrization="standard"`` (LeCun, 002 (11.5.3)): c_l = s_b = 1, W ~ N(0, σ²/fan_in), b ~ N(0, σ²).
* ``parametrization="mean_field"``: as "ntk" except the output layer, c_L = σ/fan_in_L (an average, not a
  1/√m sum) and its bias s_b,L = σ/√fan_in_L (its kernel term O(1/m) as the rest). Its tangent kernel
  vanishes like 1/m and, with the learning rate c/λ_max(Θ), the hidden features move O(1): the net is *not* lazy.
  ntkbench uses it as the negative control of the linearization claims (the NTK theory's prediction must fail there).
* ``init_scheme="glorot"`` (003 §7; standard parametrization only): every weight and bias of layer l is drawn from
  N(0, σ² · 2/(fan_in_l + fan_out_l)), σ playing 003's v_std ("Glorot scaled by v_std"). Between hidden layers
  of equal width m this is LeCun's N(0, σ²/m); a 1-D input layer gets 2σ²/(1 + m), the output layer 2σ²/(m + 1).
  At initialization the function is the NTK-parametrized net's with per-layer scales σ_l = σ √(2 fan_in_l /
  (fan_in_l + fan_out_l)) (biases of the weights' variance, not σ_l²); the gradients are the standard
  parametrization's, i.e. the NTK ones divided by c_l = σ_l/√fan_in_l, so layer l's kernel is fan_in_l/σ_l²
  times its NTK counterpart: it grows like the width, and a stable learning rate falls like 1/width (ntkbench
  takes c/λ_max(Θ)).

The same seed gives the same function at initialization in both parametrizations; only the gradients
(and hence the tangent kernel and the training dynamics) differ, as 002 §11.6 explains.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ._validation import (
    check_choice,
    check_device,
    check_dtype,
    check_positive_float,
    check_positive_int,
)

Params = dict[str, torch.Tensor]

PARAMETRIZATIONS = ("ntk", "standard", "mean_field")
BIAS_MODES = ("none", "zero", "normal")
INITS = ("normal", "orthogonal", "glorot")

_SQRT_2_OVER_PI = 2.0 / math.sqrt(math.pi)


def _relu_grad(h: torch.Tensor) -> torch.Tensor:
    # derivative 0 at h = 0, as torch's autograd uses (000 App. C)
    return (h > 0).to(h.dtype)


ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
    "relu": (torch.relu, _relu_grad),
    "erf": (torch.erf, lambda h: _SQRT_2_OVER_PI * torch.exp(-h * h)),
    "tanh": (torch.tanh, lambda h: 1.0 - torch.tanh(h) ** 2),
    "arctan": (torch.atan, lambda h: 1.0 / (1.0 + h * h)),
}

_KEY = re.compile(r"^([Wb])(\d+)$")


@dataclass(frozen=True)
class MLP:
    """A fully-connected network f(params, x) with scalar (``d_out=1``) or vector output.

    ``width`` is an int (every hidden layer) or a sequence of ``depth - 1`` ints. ``fan_in`` overrides
    the fan-ins used in the NTK normalization σ/√fan_in (the doubling trick keeps the original ones);
    leave it ``None`` otherwise.
    """

    d_in: int
    width: int | Sequence[int] = 1024
    depth: int = 2
    d_out: int = 1
    sigma: float = 1.0
    bias: str = "zero"
    parametrization: str = "ntk"
    activation: str = "relu"
    init_scheme: str = "normal"
    dtype: torch.dtype | str = torch.float64
    device: torch.device | str = "cpu"
    fan_in: tuple[int, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_positive_int("d_in", self.d_in)
        check_positive_int("depth", self.depth)
        check_positive_int("d_out", self.d_out)
        if isinstance(self.width, int) and not isinstance(self.width, bool):
            check_positive_int("width", self.width)
            widths = (self.width,) * (self.depth - 1)
        elif isinstance(self.width, Sequence) and not isinstance(self.width, str):
            widths = tuple(self.width)
            if len(widths) != self.depth - 1:
                raise ValueError(
                    f"width has {len(widths)} entries but depth={self.depth} needs depth - 1 = {self.depth - 1}"
                )
            for w in widths:
                check_positive_int("width", w)
        else:
            raise ValueError(f"width must be a positive int or a list of ints, got {self.width!r}")
        object.__setattr__(self, "width", widths if not isinstance(self.width, int) else self.width)
        object.__setattr__(self, "sigma", check_positive_float("sigma", self.sigma))
        check_choice("bias", self.bias, BIAS_MODES)
        check_choice("parametrization", self.parametrization, PARAMETRIZATIONS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("init_scheme", self.init_scheme, INITS)
        if self.init_scheme == "glorot" and self.parametrization != "standard":
            raise ValueError(f"init_scheme='glorot' (003 §7: N(0, σ²·2/(fan_in + fan_out)) for every parameter) is a "
                             f"standard-parametrization scheme; got parametrization={self.parametrization!r}")
        object.__setattr__(self, "dtype", check_dtype(self.dtype))
        object.__setattr__(self, "device", check_device(self.device))
        sizes = (self.d_in, *widths, self.d_out)
        if self.fan_in is None:
            object.__setattr__(self, "fan_in", sizes[:-1])
        elif len(self.fan_in) != self.depth:
            raise ValueError(f"fan_in must have depth={self.depth} entries, got {self.fan_in!r}")

    # ----- shape -----------------------------------------------------------------------------------
    @property
    def hidden(self) -> tuple[int, ...]:
        """Hidden widths m_1..m_{L-1}."""
        return self.layer_sizes[1:-1]

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        w = self.width
        widths = (w,) * (self.depth - 1) if isinstance(w, int) else tuple(w)
        return (self.d_in, *widths, self.d_out)

    @property
    def n_params(self) -> int:
        s = self.layer_sizes
        per_bias = 0 if self.bias == "none" else 1
        return sum((s[l] + per_bias) * s[l + 1] for l in range(self.depth))

    @property
    def weight_scales(self) -> tuple[float, ...]:
        """c_l in h^l = c_l W^l a^{l-1} + s_b b^l."""
        if self.parametrization == "ntk":
            return tuple(self.sigma / math.sqrt(f) for f in self.fan_in)
        if self.parametrization == "mean_field":
            return tuple(self.sigma / math.sqrt(f) for f in self.fan_in[:-1]) + (self.sigma / self.fan_in[-1],)
        return (1.0,) * self.depth

    @property
    def bias_scales(self) -> tuple[float, ...]:
        """s_b,l in h^l = c_l W^l a^{l-1} + s_b,l b^l (0 when there are no biases): 1 (standard), σ (ntk), and for
        mean_field σ in the hidden layers and σ/√fan_in_L at the output, so that the output bias's tangent kernel,
        s_b,L², is O(1/m) as the rest of Θ: an O(1) bias term would set the rate c/λ_max(Θ) O(1) instead of O(m),
        and the hidden features would move m times slower than the mean-field dynamics."""
        if self.bias == "none":
            return (0.0,) * self.depth
        if self.parametrization == "standard":
            return (1.0,) * self.depth
        if self.parametrization == "mean_field":
            return (self.sigma,) * (self.depth - 1) + (self.sigma / math.sqrt(self.fan_in[-1]),)
        return (self.sigma,) * self.depth

    def layer_of(self, name: str) -> int:
        """The layer (1..L) that parameter ``name`` ('W3', 'b1', ...) belongs to."""
        m = _KEY.match(name)
        if m is None or not 1 <= int(m.group(2)) <= self.depth:
            raise ValueError(f"{name!r} is not a parameter of this network (W1..W{self.depth}, b1..b{self.depth})")
        return int(m.group(2))

    # ----- initialization --------------------------------------------------------------------------
    def init(self, seed: int = 0, *, shared_seed: int | None = None, correlation: float = 0.0) -> Params:
        """Draw θ0 (drawn in float64 on the CPU with ``seed``, then cast: identical across devices).

        ``correlation`` c > 0 with ``shared_seed``: every latent standard normal of the draw is √c z_shared +
        √(1 − c) z_seed (z_shared from ``shared_seed``), so each draw has a plain draw's distribution (orthogonal
        weights stay Haar) while draws that share ``shared_seed`` are correlated: c = 0 independent, c → 1 copies."""
        gen = _Latent(seed, shared_seed, correlation)
        s = self.layer_sizes
        params: Params = {}
        for l in range(1, self.depth + 1):
            fan_in, fan_out = s[l - 1], s[l]
            if self.init_scheme == "orthogonal":
                w = _orthogonal(fan_out, fan_in, gen) * math.sqrt(max(fan_in, fan_out))
            else:
                w = gen.randn(fan_out, fan_in)
            glorot = self.sigma * math.sqrt(2.0 / (fan_in + fan_out))  # 003 §7, for weights and biases alike
            if self.init_scheme == "glorot":
                w = w * glorot
            elif self.parametrization == "standard":
                w = w * (self.sigma / math.sqrt(self.fan_in[l - 1]))
            params[f"W{l}"] = w
            if self.bias == "normal":
                b = gen.randn(fan_out)
                scale = glorot if self.init_scheme == "glorot" else self.sigma
                params[f"b{l}"] = b * (scale if self.parametrization == "standard" else 1.0)
            elif self.bias == "zero":
                params[f"b{l}"] = torch.zeros(fan_out, dtype=torch.float64)
        return {k: v.to(dtype=self.dtype, device=self.device) for k, v in params.items()}

    # ----- forward ---------------------------------------------------------------------------------
    def forward_cache(self, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> tuple[list, list]:
        """Pre-activations [h^1..h^L] and activations [a^0 = x, a^1..a^{L-1}] (for the structured NTK)."""
        phi = ACTIVATIONS[self.activation][0]
        scales, sb = self.weight_scales, self.bias_scales
        acts, pre = [x], []
        a = x
        for l in range(1, self.depth + 1):
            h = scales[l - 1] * (a @ params[f"W{l}"].T)
            if sb[l - 1]:
                h = h + sb[l - 1] * params[f"b{l}"]
            pre.append(h)
            if l < self.depth:
                a = phi(h)
                acts.append(a)
        return pre, acts

    def __call__(self, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """f(x; θ): shape (n,) for ``d_out=1`` and (n, d_out) otherwise; a single input (d,) gives () or (d_out,)."""
        if x.shape[-1] != self.d_in or x.ndim not in (1, 2):
            raise ValueError(f"x must have shape (n, {self.d_in}) or ({self.d_in},), got {tuple(x.shape)}")
        pre, _ = self.forward_cache(params, x)
        out = pre[-1]
        return out.squeeze(-1) if self.d_out == 1 else out


class _Latent:
    """The standard normals an initialization is drawn from: ``seed``'s stream, or with ``correlation`` c > 0
    √c z_shared + √(1 − c) z_seed, z_shared from ``shared_seed``'s stream (the same N(0, 1) marginal)."""

    def __init__(self, seed: int, shared_seed: int | None = None, correlation: float = 0.0) -> None:
        if isinstance(correlation, bool) or not isinstance(correlation, (int, float)) or not 0 <= correlation < 1:
            raise ValueError(f"correlation must be a number in [0, 1) (1 would make copies), got {correlation!r}")
        if correlation and shared_seed is None:
            raise ValueError("correlation > 0 needs shared_seed: the seed of the component the draws share")
        self.own = torch.Generator().manual_seed(int(seed))
        self.shared = torch.Generator().manual_seed(int(shared_seed)) if correlation else None
        self.c = float(correlation)

    def randn(self, *shape: int) -> torch.Tensor:
        z = torch.randn(*shape, generator=self.own, dtype=torch.float64)
        if self.shared is None:
            return z
        return math.sqrt(self.c) * torch.randn(*shape, generator=self.shared, dtype=torch.float64) \
            + math.sqrt(1 - self.c) * z


def _orthogonal(rows: int, cols: int, gen: _Latent) -> torch.Tensor:
    """A Haar-random semi-orthogonal (rows × cols) matrix (Saxe et al.; 004 methods): the Q of a Gaussian
    matrix's QR, signs fixed by R's diagonal."""
    a = gen.randn(max(rows, cols), min(rows, cols))
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones(()))
    return q if rows >= cols else q.T


@dataclass(frozen=True)
class ASI:
    """Antisymmetrical initialization (003 §6): h_ASI(x; θ, θ') = (h(x; θ) − h(x; θ'))/√2, θ'(0) = θ(0).

    The primed copy's parameters carry a trailing "'" in the params dict ('W1' and "W1'")."""

    base: MLP

    @property
    def depth(self) -> int:
        return self.base.depth

    @property
    def d_in(self) -> int:
        return self.base.d_in

    @property
    def d_out(self) -> int:
        return self.base.d_out

    @property
    def dtype(self) -> torch.dtype:
        return self.base.dtype

    @property
    def device(self) -> torch.device:
        return self.base.device

    @property
    def n_params(self) -> int:
        return 2 * self.base.n_params

    def layer_of(self, name: str) -> int:
        return self.base.layer_of(name.removesuffix("'"))

    def split(self, params: Mapping[str, torch.Tensor]) -> tuple[Params, Params]:
        """(θ, θ') as two parameter dicts of the base network."""
        first = {k: v for k, v in params.items() if not k.endswith("'")}
        second = {k[:-1]: v for k, v in params.items() if k.endswith("'")}
        return first, second

    def init(self, seed: int = 0) -> Params:
        p = self.base.init(seed)
        return {**p, **{f"{k}'": v.clone() for k, v in p.items()}}

    def __call__(self, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        first, second = self.split(params)
        return (self.base(first, x) - self.base(second, x)) / math.sqrt(2.0)


#: RND's second copy θ' is drawn with seed + RND_SEED_SHIFT (far above the seeds claims use; torch reads a seed mod 2³²)
RND_SEED_SHIFT = 2**31


@dataclass(frozen=True)
class RND(ASI):
    """003 §7.2.1's reference "RND": the ASI architecture, (h(x; θ) − h(x; θ'))/√2, with θ' drawn independently of θ
    from the same distribution (seed + :data:`RND_SEED_SHIFT`). Twice the parameters, like ASI; an initial output of
    the original's variance and (at large width) the original's kernel, ½(Θ_θ + Θ_θ'), instead of ASI's exact
    zero output and exactly equal kernel."""

    def init(self, seed: int = 0) -> Params:
        p, q = self.base.init(seed), self.base.init(int(seed) + RND_SEED_SHIFT)
        return {**p, **{f"{k}'": v for k, v in q.items()}}


#: θ0's copy of parameter "W1" in a params dict is "W1@0": a per-member buffer that rides along with the
#: parameters (so that it can be stacked and vmapped with them) but is not trained (see :class:`Centered`).
REFERENCE_SUFFIX = "@0"


def split_buffers(params: Mapping[str, torch.Tensor]) -> tuple[Params, Params]:
    """(trainable, buffers): the buffers are the entries whose name ends in ``REFERENCE_SUFFIX`` ("W1@0")."""
    trainable = {k: v for k, v in params.items() if not k.endswith(REFERENCE_SUFFIX)}
    buffers = {k: v for k, v in params.items() if k.endswith(REFERENCE_SUFFIX)}
    return trainable, buffers


@dataclass(frozen=True, eq=False)
class Centered:
    """Centered training (004 footnote 5): f(x; θ) − f(x; θ0) with θ0 held fixed, so that the variance of f at
    initialization does not mask the fluctuations of training.

    θ0 is taken, per call, from the params dict itself when it holds it as buffers ("W1@0", ... next to "W1",
    ...; :func:`split_buffers`): that form stacks and vmaps, so each member of an ensemble is centred on its
    own θ0 (``init_ensemble(Centered(net), seeds)``, or :meth:`attach` on existing parameters). Otherwise θ0
    is ``params0``, one fixed parameter set. θ0 enters detached: gradients, trainers and tangent kernels see
    only θ. The centered net outputs 0 at θ = θ0 and has the same tangent kernel as ``base``."""

    base: Any
    params0: Mapping[str, torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if self.params0 is not None:
            object.__setattr__(self, "params0", {k: v.detach() for k, v in self.params0.items()})

    def __getattr__(self, name: str) -> Any:
        # depth, d_in, d_out, dtype, device, n_params: those of the base network
        if name in ("base", "params0"):
            raise AttributeError(name)
        return getattr(self.base, name)

    def layer_of(self, name: str) -> int:
        return self.base.layer_of(name.removesuffix(REFERENCE_SUFFIX))

    @staticmethod
    def attach(params: Mapping[str, torch.Tensor]) -> Params:
        """``params`` with a copy of themselves attached as θ0 ("W1@0", ...): single or stacked (S, ...)."""
        trainable, _ = split_buffers(params)
        return {**trainable, **{k + REFERENCE_SUFFIX: v.detach().clone() for k, v in trainable.items()}}

    def init(self, seed: int = 0, **draw: Any) -> Params:
        """With ``params0``: θ0 itself, cloned. Without: the base network's θ0 for ``seed`` (``draw``: the base's
        keyword arguments, e.g. a correlated draw) with θ0 attached as buffers (:meth:`attach`)."""
        if self.params0 is not None:
            if draw:
                raise ValueError(f"a Centered net with params0 has one fixed θ0; {sorted(draw)} cannot apply")
            return {k: v.clone() for k, v in self.params0.items()}
        return self.attach(self.base.init(seed, **draw))

    def __call__(self, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        theta, buffers = split_buffers(params)
        if buffers:
            theta0 = {k.removesuffix(REFERENCE_SUFFIX): v.detach() for k, v in buffers.items()}
            if theta0.keys() != theta.keys():
                raise ValueError(f"params hold θ0 for {sorted(theta0)} but θ for {sorted(theta)}: attach θ0 for "
                                 "every parameter (Centered.attach)")
        elif self.params0 is not None:
            theta0 = self.params0
        else:
            raise ValueError("this Centered net has no params0, so params must hold θ0 as buffers ('W1@0', ...): "
                             "use Centered(net).init(seed), init_ensemble(Centered(net), seeds) or "
                             "Centered.attach(params)")
        return self.base(theta, x) - self.base(theta0, x)


@dataclass(frozen=True, eq=False)
class Shifted:
    """``base`` plus a fixed function: f(x; θ) + h(x; θ_ref) with θ_ref held fixed. With ``base`` = ASI(net) and
    θ_ref = the original's θ0 it is 003 §6's ASI net with the original's initial output put back: at θ0 the same
    output and the same tangent kernel as the original (003 Thm 4), so under the linearized dynamics the same
    trajectory — what ASI gains over the original, this net must not.

    θ_ref rides in the params dict as buffers ("W1@0", ...; :func:`split_buffers`), so that it stacks and vmaps
    with each member's parameters (:meth:`attach`); it enters detached: gradients, trainers and tangent kernels see
    only θ."""

    base: Any
    reference: MLP

    def __getattr__(self, name: str) -> Any:
        # depth, d_in, d_out, dtype, device, n_params: those of the base network
        if name in ("base", "reference"):
            raise AttributeError(name)
        return getattr(self.base, name)

    def layer_of(self, name: str) -> int:
        if name.endswith(REFERENCE_SUFFIX):
            return self.reference.layer_of(name.removesuffix(REFERENCE_SUFFIX))
        return self.base.layer_of(name)

    @staticmethod
    def attach(params: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor]) -> Params:
        """``params`` (of the base network) with ``reference`` (the fixed net's parameters) attached as buffers:
        single or stacked (S, ...)."""
        return {**params, **{k + REFERENCE_SUFFIX: v.detach().clone() for k, v in reference.items()}}

    def init(self, seed: int = 0) -> Params:
        """The base network's θ for ``seed`` with the reference net's θ for the same seed attached."""
        return self.attach(self.base.init(seed), self.reference.init(seed))

    def __call__(self, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        theta, buffers = split_buffers(params)
        if not buffers:
            raise ValueError("params hold no reference parameters ('W1@0', ...): use Shifted.attach(params, "
                             "reference_params) or init_ensemble(Shifted(base, reference), seeds)")
        ref = {k.removesuffix(REFERENCE_SUFFIX): v.detach() for k, v in buffers.items()}
        return self.base(theta, x) + self.reference(ref, x)


@dataclass(frozen=True, eq=False)
class FixedNorm:
    """The output with its norm fixed (004 Sect. 6: "a regularization imposed to fix ‖f‖_μ = λ"): f̃(x) =
    λ f(x) / ‖f‖_ref, ‖f‖_ref the root mean square of f over the reference inputs ``x_ref`` (the training set).
    The net cannot rescale its output, so a hinge loss with margin ε_m acts with the effective margin ε_m / λ
    however it trains. ``base`` is any network whose output on ``x_ref`` is not identically 0 (a :class:`Centered`
    net's is, at θ0: no norm to fix); parameters, initialization and attributes are the base network's."""

    base: Any
    x_ref: torch.Tensor
    norm: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.norm, bool) or not isinstance(self.norm, (int, float)) or \
                not (math.isfinite(self.norm) and self.norm > 0):
            raise ValueError(f"norm must be a finite number > 0 (the fixed ‖f‖ on x_ref), got {self.norm!r}")
        if not isinstance(self.x_ref, torch.Tensor) or self.x_ref.ndim != 2 or self.x_ref.shape[0] == 0:
            raise ValueError(f"x_ref must be a non-empty (n, d) tensor of reference inputs, got {self.x_ref!r}")

    def __getattr__(self, name: str) -> Any:
        if name in ("base", "x_ref", "norm"):
            raise AttributeError(name)
        return getattr(self.base, name)

    def init(self, seed: int = 0, **draw: Any) -> Params:
        return self.base.init(seed, **draw)

    def __call__(self, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        scale = self.base(params, self.x_ref).pow(2).mean().sqrt()
        return self.norm * self.base(params, x) / scale


def doubling_trick(net: MLP, params: Mapping[str, torch.Tensor]) -> tuple[MLP, Params]:
    """Chizat–Bach doubling trick as analysed in 003 §6 / App. 12.

    The last hidden layer is duplicated (same input weights and biases) and the output weights become
    (W^L, −W^L), so f(·; θ'(0)) = 0. The output layer keeps its original normalization, so that the
    per-layer kernels of layers L−1 and L double and those of layers ≤ L−2 vanish (003 Thm 10).

    ``params`` is one parameter set or S of them stacked on a leading axis (``init_ensemble``); stacked,
    each member's layers are doubled on its own (the concatenations run over the trailing axes).
    """
    if not isinstance(net, MLP):
        raise ValueError(f"net must be an MLP, got {type(net).__name__}")
    if net.depth < 2:
        raise ValueError(f"the doubling trick needs a hidden layer: depth must be >= 2, got {net.depth}")
    _check_layout(net, params)
    L = net.depth
    hidden = list(net.hidden)
    hidden[-1] *= 2
    doubled = MLP(
        d_in=net.d_in, width=hidden, depth=L, d_out=net.d_out, sigma=net.sigma, bias=net.bias,
        parametrization=net.parametrization, activation=net.activation, init_scheme=net.init_scheme,
        dtype=net.dtype, device=net.device, fan_in=net.fan_in,
    )
    new = dict(params)
    new[f"W{L - 1}"] = torch.cat([params[f"W{L - 1}"], params[f"W{L - 1}"]], dim=-2)
    if f"b{L - 1}" in params:
        new[f"b{L - 1}"] = torch.cat([params[f"b{L - 1}"], params[f"b{L - 1}"]], dim=-1)
    new[f"W{L}"] = torch.cat([params[f"W{L}"], -params[f"W{L}"]], dim=-1)
    return doubled, new


def _check_layout(net: MLP, params: Mapping[str, torch.Tensor]) -> None:
    """params must be those of ``net``, unstacked or all stacked on one leading axis of the same length."""
    sizes = net.layer_sizes
    expected = {f"W{l}": (sizes[l], sizes[l - 1]) for l in range(1, net.depth + 1)}
    if net.bias != "none":
        expected.update({f"b{l}": (sizes[l],) for l in range(1, net.depth + 1)})
    if set(params) != set(expected):
        raise ValueError(f"params must have the entries {sorted(expected)} of this network, got {sorted(params)}")
    leading = set()
    for k, shape in expected.items():
        got = tuple(params[k].shape)
        if got[len(got) - len(shape):] != shape or len(got) - len(shape) > 1:
            raise ValueError(f"params[{k!r}] has shape {got}; expected {shape} or (S, {', '.join(map(str, shape))})")
        leading.add(got[: len(got) - len(shape)])
    if len(leading) > 1:
        raise ValueError(f"params mix stacked and unstacked entries (leading shapes {sorted(leading)})")


def n_params(params: Mapping[str, torch.Tensor]) -> int:
    """Number of scalar parameters in a params dict."""
    return sum(v.numel() for v in params.values())
