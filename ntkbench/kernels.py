"""Empirical neural tangent kernels Θ(x, x') = ∇θ f(x) · ∇θ f(x') (000 Eq. 4, 002 §11.5.2, 004 Eq. 7).

Three methods, chosen by name:

* ``"jacobian"``: per-input Jacobians by ``vmap(jacrev)``, contracted (the reference; builds n × P).
* ``"ntvp"``: NTK-vector products, Θ v = J1 (J2ᵀ v) with ``vjp`` then ``jvp``, column block by block.
* ``"structured"``: for fully-connected nets, layer l contributes
  (c_l² a^{l-1}(x)·a^{l-1}(x') + s_b²) · δ^l(x)·δ^l(x'), with δ^l = ∂f/∂h^l the backprop signal.
  One forward and one backward sweep over the batch; never forms the n × P Jacobian.

Shapes: (n1, n2) for a scalar output, (n1, n2, k, k) for k outputs; ``per_layer=True`` adds a leading
axis of length L (one block per layer, weights and biases of that layer together).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import torch
from torch.func import jacrev, jvp, vjp, vmap

from ._validation import check_choice, check_inputs, check_positive_int
from .networks import ACTIVATIONS, ASI, MLP, Centered, Shifted, split_buffers

METHODS = ("structured", "jacobian", "ntvp")


def empirical_ntk(
    net,
    params: Mapping[str, torch.Tensor],
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    method: str = "structured",
    per_layer: bool = False,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Empirical NTK Θ(x1, x2) of ``net`` at ``params`` (x2 = x1 when omitted).

    ``chunk_size`` bounds the rows of x1 (structured, jacobian) or the kernel columns (ntvp) handled
    at once, trading speed for memory.
    """
    check_choice("method", method, METHODS)
    check_inputs(x1, net.d_in, "x1")
    if x2 is not None:
        check_inputs(x2, net.d_in, "x2")
    if chunk_size is not None:
        check_positive_int("chunk_size", chunk_size)
    if method == "structured":
        return _structured(net, params, x1, x2, per_layer, chunk_size)
    if method == "jacobian":
        return _jacobian(net, params, x1, x2, per_layer, chunk_size)
    return _ntvp(net, params, x1, x2, per_layer, chunk_size)


def _finish(theta: torch.Tensor, symmetric: bool, d_out: int) -> torch.Tensor:
    """(…, n1, n2, k, k) → squeeze k = 1, and symmetrize Θ(X, X) against round-off."""
    if symmetric:
        theta = 0.5 * (theta + theta.transpose(-3, -4).transpose(-1, -2))
    return theta[..., 0, 0] if d_out == 1 else theta


# ----- structured ----------------------------------------------------------------------------------
# Θ(X, X) is symmetric: above two blocks of _GRAM_BLOCK rows, the kernel is assembled from the blocks on
# and above the diagonal only (b blocks cost (b + 1)/(2b) of the Gram products, which dominate at n ≈ m;
# torch has no syrk), each block mirrored once. README "Performance" has the measurements.
_GRAM_BLOCK = 256
_GRAM_MAX_BLOCKS = 8


def row_spans(n: int, block: int = _GRAM_BLOCK, max_blocks: int = _GRAM_MAX_BLOCKS) -> list[slice]:
    """Row blocks of a symmetric n × n product assembled from its blocks on and above the diagonal: ⌊n/block⌋ of
    them (at least 1, at most ``max_blocks``), as equal as can be (also the analytic kernels' Gram product)."""
    nb = max(1, min(max_blocks, n // block))
    edges = [round(i * n / nb) for i in range(nb + 1)]
    return [slice(lo, hi) for lo, hi in itertools.pairwise(edges)]


def _backprop_signals(net: MLP, params: Mapping[str, torch.Tensor], pre: list) -> list:
    """δ^l = ∂f/∂h^l for l = 1..L, each of shape (n, k, m_l) (δ^L = I_k, expanded, not materialized)."""
    dphi = ACTIVATIONS[net.activation][1]
    n, k, L = pre[-1].shape[0], net.d_out, net.depth
    deltas = [torch.eye(k, dtype=pre[-1].dtype, device=pre[-1].device).expand(n, k, k)]
    scales = net.weight_scales
    if L > 1:  # δ^{L-1} = c_L W^L ⊙ φ'(h^{L-1}): no product with the identity δ^L
        delta = (scales[L - 1] * params[f"W{L}"]).unsqueeze(0) * dphi(pre[L - 2]).unsqueeze(1)
        deltas.append(delta)
    for l in range(L - 2, 0, -1):  # δ^l = c_{l+1} (δ^{l+1} W^{l+1}) ⊙ φ'(h^l), scaled in place
        delta = (delta @ params[f"W{l + 1}"]).mul_(scales[l]).mul_(dphi(pre[l - 1]).unsqueeze(1))
        deltas.append(delta)
    return deltas[::-1]


def _mlp_features(net: MLP, params, x):
    pre, acts = net.forward_cache(params, x)
    return acts, _backprop_signals(net, params, pre)


def _layer_blocks(net: MLP, a1, d1, a2, d2, per_layer: bool) -> torch.Tensor:
    """Σ_l (c_l² a1^{l-1}·a2^{l-1} + s_b,l²) δ1^l·δ2^l, (n1, n2, k, k); (L, n1, n2, k, k) with ``per_layer``."""
    n1, n2, k = a1[0].shape[0], a2[0].shape[0], net.d_out
    sb = net.bias_scales
    blocks, total = [], None
    for l in range(net.depth):
        act = (a1[l] @ a2[l].T).mul_(net.weight_scales[l] ** 2)
        if sb[l]:
            act.add_(sb[l] ** 2)
        act = act[:, :, None, None]
        if l == net.depth - 1:  # δ^L·δ'^L = I_k
            block = act * torch.eye(k, dtype=act.dtype, device=act.device)
        else:
            back = d1[l].reshape(n1 * k, -1) @ d2[l].reshape(n2 * k, -1).T
            block = back.reshape(n1, k, n2, k).permute(0, 2, 1, 3).mul_(act)
        if per_layer:
            blocks.append(block)
        else:
            total = block if total is None else total.add_(block)
    return torch.stack(blocks) if per_layer else total


def _mlp_block(net: MLP, f1, f2, per_layer: bool) -> torch.Tensor:
    """Kernel (n1, n2, k, k) from (activations, backprop signals) of two batches, or the stack
    (L, n1, n2, k, k) of the layer blocks. ``f1 is f2`` (Θ(X, X)): upper row blocks only, mirrored."""
    (a1, d1), (a2, d2) = f1, f2
    spans = row_spans(a1[0].shape[0]) if f1 is f2 else []
    if len(spans) < 2:
        return _layer_blocks(net, a1, d1, a2, d2, per_layer)
    n, k = a1[0].shape[0], net.d_out
    out = a1[0].new_empty(((net.depth,) if per_layer else ()) + (n, n, k, k))
    for i, si in enumerate(spans):
        for sj in spans[i:]:
            block = _layer_blocks(net, [a[si] for a in a1], [d[si] for d in d1],
                                  [a[sj] for a in a1], [d[sj] for d in d1], per_layer)
            out[..., si, sj, :, :] = block
            if sj is not si:
                out[..., sj, si, :, :] = block.transpose(-3, -4).transpose(-1, -2)
    return out


def _structured_mlp(net: MLP, params, x1, x2, per_layer, chunk_size) -> torch.Tensor:
    with torch.no_grad():
        f2 = _mlp_features(net, params, x1 if x2 is None else x2)
        if chunk_size is None or chunk_size >= x1.shape[0]:
            f1 = f2 if x2 is None else _mlp_features(net, params, x1)
            return _mlp_block(net, f1, f2, per_layer)
        rows = [
            _mlp_block(net, _mlp_features(net, params, xc), f2, per_layer)
            for xc in torch.split(x1, chunk_size)
        ]
        return torch.cat(rows, dim=1 if per_layer else 0)


def _structured(net, params, x1, x2, per_layer, chunk_size) -> torch.Tensor:
    if isinstance(net, Centered):
        return _structured(net.base, params, x1, x2, per_layer, chunk_size)
    if isinstance(net, Shifted):  # the fixed reference adds no kernel
        return _structured(net.base, split_buffers(params)[0], x1, x2, per_layer, chunk_size)
    if isinstance(net, ASI):
        first, second = net.split(params)
        theta = 0.5 * (
            _structured_mlp(net.base, first, x1, x2, per_layer, chunk_size)
            + _structured_mlp(net.base, second, x1, x2, per_layer, chunk_size)
        )
    elif isinstance(net, MLP):
        theta = _structured_mlp(net, params, x1, x2, per_layer, chunk_size)
    else:
        raise ValueError(
            f"method='structured' applies to MLP, ASI, Centered and Shifted networks, not {type(net).__name__}; "
            "use method='jacobian' or method='ntvp'"
        )
    return _finish(theta, x2 is None, net.d_out)


# ----- jacobian contraction -------------------------------------------------------------------------
def _jacobians(net, params, x) -> dict[str, torch.Tensor]:
    """name → (n, k, P_name) per-input Jacobians, by vmap(jacrev)."""

    def f(p, xi):
        return net(p, xi.unsqueeze(0)).reshape(-1)

    jac = vmap(jacrev(f), in_dims=(None, 0))(dict(params), x)
    return {name: j.reshape(x.shape[0], net.d_out, -1) for name, j in jac.items()}


def _contract(net, j1, j2) -> torch.Tensor:
    blocks = [None] * net.depth
    for name in j1:
        term = torch.einsum("iap,jbp->ijab", j1[name], j2[name])
        l = net.layer_of(name) - 1
        blocks[l] = term if blocks[l] is None else blocks[l] + term
    return torch.stack(blocks)


def _jacobian(net, params, x1, x2, per_layer, chunk_size) -> torch.Tensor:
    j2 = _jacobians(net, params, x1 if x2 is None else x2)
    if x2 is None and (chunk_size is None or chunk_size >= x1.shape[0]):
        theta = _contract(net, j2, j2)
    else:
        step = chunk_size or x1.shape[0]
        theta = torch.cat(
            [_contract(net, _jacobians(net, params, xc), j2) for xc in torch.split(x1, step)], dim=1
        )
    theta = theta if per_layer else theta.sum(0)
    return _finish(theta.detach(), x2 is None, net.d_out)


def parameter_kernels(net, params: Mapping[str, torch.Tensor], x1: torch.Tensor,
                      x2: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The tangent kernel split by parameter tensor: {name: ∇_{θ_name} f(x1) · ∇_{θ_name} f(x2)} (003 App. 12's
    k_{W^[l]}, k_{b^[l]}), each of the shape of :func:`empirical_ntk`'s result; they sum to it. By per-input
    Jacobians (``method="jacobian"``), so any net of (params, x) works (ASI, a doubled net)."""
    check_inputs(x1, net.d_in, "x1")
    if x2 is not None:
        check_inputs(x2, net.d_in, "x2")
    j1 = _jacobians(net, params, x1)
    j2 = j1 if x2 is None else _jacobians(net, params, x2)
    return {name: _finish(torch.einsum("iap,jbp->ijab", j1[name], j2[name]).detach(), x2 is None, net.d_out)
            for name in j1}


# ----- NTK-vector products ------------------------------------------------------------------------
def _ntvp(net, params, x1, x2, per_layer, chunk_size) -> torch.Tensor:
    params = dict(params)
    x2_ = x1 if x2 is None else x2
    n1, n2, k = x1.shape[0], x2_.shape[0], net.d_out
    _, pullback = vjp(lambda p: net(p, x2_).reshape(-1), params)
    layers = range(1, net.depth + 1) if per_layer else [None]

    def column(v: torch.Tensor, layer: int | None) -> torch.Tensor:
        (cot,) = pullback(v)
        if layer is not None:
            cot = {n: (t if net.layer_of(n) == layer else torch.zeros_like(t)) for n, t in cot.items()}
        return jvp(lambda p: net(p, x1).reshape(-1), (params,), (cot,))[1]

    eye = torch.eye(n2 * k, dtype=x1.dtype, device=x1.device)
    step = chunk_size or n2 * k
    out = []
    for layer in layers:
        # (n2 k, n1 k); the lambda is called at once, within this iteration
        cols = torch.cat([vmap(lambda v: column(v, layer))(e) for e in torch.split(eye, step)])  # noqa: B023
        out.append(cols.T.reshape(n1, k, n2, k).permute(0, 2, 1, 3))
    theta = torch.stack(out)
    theta = theta if per_layer else theta[0]
    return _finish(theta.detach(), x2 is None, net.d_out)
