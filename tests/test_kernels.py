import itertools

import pytest
import torch

from ntkbench import ASI, MLP, empirical_ntk

GEN = torch.Generator().manual_seed(3)
X1 = torch.randn(7, 5, generator=GEN, dtype=torch.float64)
X2 = torch.randn(4, 5, generator=GEN, dtype=torch.float64)

CASES = [
    dict(depth=d, bias=b, parametrization=p, d_out=k, activation=a)
    for d, b, p, (k, a) in itertools.product(
        (1, 2, 3, 5), ("none", "zero", "normal"), ("ntk", "standard", "mean_field"), ((1, "relu"), (3, "erf"))
    )
]


def rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c.values())))
def test_three_methods_agree(case):
    """jacobian, ntvp and structured give the same Θ (1e-10 relative, float64), per layer and cross."""
    net = MLP(d_in=5, width=[6, 9, 7, 8][: case["depth"] - 1], sigma=1.3, **case)
    p = net.init(11)
    for x2 in (None, X2):
        ref = empirical_ntk(net, p, X1, x2, method="jacobian", per_layer=True)
        for method in ("structured", "ntvp"):
            got = empirical_ntk(net, p, X1, x2, method=method, per_layer=True)
            assert got.shape == ref.shape
            assert rel(got, ref) < 1e-10, method


def test_shapes_and_per_layer_sum():
    net = MLP(d_in=5, width=8, depth=3, d_out=2)
    p = net.init(0)
    full = empirical_ntk(net, p, X1, X2)
    layers = empirical_ntk(net, p, X1, X2, per_layer=True)
    assert full.shape == (7, 4, 2, 2) and layers.shape == (3, 7, 4, 2, 2)
    torch.testing.assert_close(layers.sum(0), full)
    scalar = MLP(d_in=5, width=8, depth=3)
    assert empirical_ntk(scalar, scalar.init(0), X1).shape == (7, 7)


def test_gram_is_symmetric_psd_and_cross_kernel_consistent():
    net = MLP(d_in=5, width=32, depth=3, bias="normal")
    p = net.init(0)
    k = empirical_ntk(net, p, X1)
    assert torch.equal(k, k.T)
    assert torch.linalg.eigvalsh(k)[0] > -1e-10 * k.diagonal().max()
    both = torch.cat([X1, X2])
    big = empirical_ntk(net, p, both)
    torch.testing.assert_close(empirical_ntk(net, p, X1, X2), big[:7, 7:], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["structured", "jacobian", "ntvp"])
def test_chunking_changes_nothing(method):
    net = MLP(d_in=5, width=16, depth=3, d_out=2)
    p = net.init(0)
    whole = empirical_ntk(net, p, X1, X2, method=method, per_layer=True)
    chunked = empirical_ntk(net, p, X1, X2, method=method, per_layer=True, chunk_size=3)
    torch.testing.assert_close(chunked, whole, rtol=1e-12, atol=1e-12)


def test_asi_kernel_by_every_method():
    asi = ASI(MLP(d_in=5, width=8, depth=3, bias="normal"))
    p = asi.init(0)
    ref = empirical_ntk(asi, p, X1, method="jacobian")
    assert rel(empirical_ntk(asi, p, X1), ref) < 1e-12
    assert rel(empirical_ntk(asi, p, X1, method="ntvp"), ref) < 1e-12


def test_ntk_scales_like_sigma_to_the_2L():
    """Θ is homogeneous of degree 2L in σ for zero-bias ReLU nets (000 §6)."""
    a = MLP(d_in=5, width=16, depth=3, bias="none", sigma=1.0)
    b = MLP(d_in=5, width=16, depth=3, bias="none", sigma=2.0)
    torch.testing.assert_close(empirical_ntk(b, b.init(0), X1), 2.0**6 * empirical_ntk(a, a.init(0), X1))


def test_structured_needs_a_known_architecture():
    net = MLP(d_in=5, width=8)

    def plain(params, x):
        return net(params, x)

    plain.d_in, plain.d_out, plain.depth, plain.layer_of = 5, 1, 2, net.layer_of
    p = net.init(0)
    with pytest.raises(ValueError, match="structured"):
        empirical_ntk(plain, p, X1)
    torch.testing.assert_close(empirical_ntk(plain, p, X1, method="jacobian"), empirical_ntk(net, p, X1))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(method="autodiff"), "method"),
        (dict(x1=torch.zeros(0, 5, dtype=torch.float64)), "x1"),
        (dict(x1=torch.zeros(3, 4, dtype=torch.float64)), "x1"),
        (dict(x2=torch.full((2, 5), float("nan"), dtype=torch.float64)), "x2"),
        (dict(chunk_size=0), "chunk_size"),
    ],
)
def test_bad_arguments(kwargs, name):
    net = MLP(d_in=5, width=8)
    args = dict(x1=X1, x2=None)
    args.update({k: v for k, v in kwargs.items() if k in args})
    opts = {k: v for k, v in kwargs.items() if k not in args}
    with pytest.raises(ValueError, match=name):
        empirical_ntk(net, net.init(0), args["x1"], args["x2"], **opts)


def test_float32_agrees_with_float64():
    n64 = MLP(d_in=5, width=64, depth=3)
    n32 = MLP(d_in=5, width=64, depth=3, dtype=torch.float32)
    k64 = empirical_ntk(n64, n64.init(0), X1)
    k32 = empirical_ntk(n32, n32.init(0), X1.float())
    assert k32.dtype == torch.float32
    assert rel(k32.double(), k64) < 1e-5


@pytest.mark.parametrize(("d_out", "per_layer"), [(1, False), (2, True)])
def test_structured_block_symmetric_path_agrees(d_out, per_layer):
    """n ≥ 2 row blocks: Θ(X, X) is assembled from its upper blocks; same as the jacobian contraction."""
    x = torch.randn(700, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    net = MLP(d_in=3, width=[6, 5], depth=3, d_out=d_out, bias="normal")
    p = net.init(2)
    got = empirical_ntk(net, p, x, per_layer=per_layer)
    ref = empirical_ntk(net, p, x, method="jacobian", per_layer=per_layer)
    assert rel(got, ref) < 1e-12
    assert torch.equal(got, got.transpose(-3, -4).transpose(-1, -2) if d_out > 1 else got.T)
    torch.testing.assert_close(empirical_ntk(net, p, x, chunk_size=300, per_layer=per_layer), got)


def test_parameter_kernels_sum_to_the_ntk():
    from ntkbench.kernels import parameter_kernels

    net = MLP(d_in=2, width=12, depth=3, bias="normal")
    p = net.init(1)
    x = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    parts = parameter_kernels(net, p, x)
    assert sorted(parts) == sorted(p)
    torch.testing.assert_close(sum(parts.values()), empirical_ntk(net, p, x), rtol=1e-12, atol=1e-12)
