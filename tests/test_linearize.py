import pytest
import torch
from torch.func import jacrev

from ntkbench import MLP, empirical_ntk
from ntkbench.linearize import (
    IllConditionedKernel,
    Linearized,
    decomposition,
    gd_finite_time,
    gd_infinite_time,
    kernel_interpolant,
    linearize,
    psd_solve,
)
from ntkbench.train import init_ensemble, train_ensemble

GEN = torch.Generator().manual_seed(5)
XT = torch.nn.functional.normalize(torch.randn(12, 6, generator=GEN, dtype=torch.float64), dim=1)
YT = torch.randn(12, generator=GEN, dtype=torch.float64)
XS = torch.nn.functional.normalize(torch.randn(9, 6, generator=GEN, dtype=torch.float64), dim=1)


def net_and_params(depth=3, sigma=1.5, bias="zero", width=256):
    net = MLP(d_in=6, width=width, depth=depth, sigma=sigma, bias=bias)
    return net, net.init(2)


def test_linearization_matches_value_and_jacobian_at_theta0_and_is_affine():
    net, p0 = net_and_params()
    f_lin = linearize(net, p0)
    torch.testing.assert_close(f_lin(p0, XS), net(p0, XS), rtol=0, atol=0)
    j_net = jacrev(lambda p: net(p, XS))(p0)
    j_lin = jacrev(lambda p: f_lin(p, XS))(p0)
    for k in p0:
        torch.testing.assert_close(j_lin[k], j_net[k], rtol=1e-12, atol=1e-12)
    d = {k: torch.randn(v.shape, generator=GEN, dtype=v.dtype) for k, v in p0.items()}
    at = lambda a: f_lin({k: p0[k] + a * d[k] for k in p0}, XS)  # noqa: E731
    torch.testing.assert_close(at(2.0) - at(0.0), 2.0 * (at(1.0) - at(0.0)), rtol=1e-12, atol=1e-12)
    # the network itself is not affine in θ
    g = lambda a: net({k: p0[k] + a * d[k] for k in p0}, XS)  # noqa: E731
    assert (g(2.0) - g(0.0) - 2.0 * (g(1.0) - g(0.0))).abs().max() > 1e-3


def test_interpolant_interpolates():
    net, p0 = net_and_params()
    k = empirical_ntk(net, p0, XT)
    torch.testing.assert_close(kernel_interpolant(k, YT, k), YT, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("bias", ["none", "zero"])
def test_eq14_equals_eq13_and_init_term_vanishes_on_train(depth, bias):
    """000 Lemma 2: Eq. 14 = Eq. 13 exactly for zero-bias ReLU nets; the second term is 0 on X."""
    net, p0 = net_and_params(depth=depth, bias=bias, sigma=2.0)
    eq13 = gd_infinite_time(net, p0, XT, YT, XS)
    sol = decomposition(net, p0, XT, YT, XS)
    scale = eq13.abs().max()
    assert (sol.test - eq13).abs().max() < 1e-10 * scale
    assert sol.init_term_train.abs().max() < 1e-10 * sol.init_term.abs().max()
    assert sol.init_term.abs().max() > 1e-3 * scale  # the second term matters off the training set
    torch.testing.assert_close(sol.interpolant + sol.init_term, sol.test)


def test_eq14_fails_for_nonzero_biases():
    """Negative control: with biases ≠ 0 at θ0 the homogeneity, hence Eq. 14 = Eq. 13, fails."""
    net, p0 = net_and_params(bias="normal")
    eq13 = gd_infinite_time(net, p0, XT, YT, XS)
    assert (decomposition(net, p0, XT, YT, XS).test - eq13).abs().max() > 1e-3 * eq13.abs().max()


def test_finite_time_tends_to_infinite_time_and_starts_at_f0():
    net, p0 = net_and_params()
    lam = torch.linalg.eigvalsh(empirical_ntk(net, p0, XT))
    lr = 1.0 / lam[-1].item()
    torch.testing.assert_close(gd_finite_time(net, p0, XT, YT, XS, lr=lr, steps=0), net(p0, XS))
    steps = int(60 * lam[-1] / lam[0])
    torch.testing.assert_close(
        gd_finite_time(net, p0, XT, YT, XS, lr=lr, steps=steps), gd_infinite_time(net, p0, XT, YT, XS),
        rtol=1e-8, atol=1e-8,
    )


def test_singular_gram_raises_with_condition_number():
    net, p0 = net_and_params()
    x = torch.cat([XT, XT[:1]])  # a duplicated input makes Θ(X, X) singular
    y = torch.cat([YT, YT[:1]])
    with pytest.raises(IllConditionedKernel, match="condition number"):
        gd_infinite_time(net, p0, x, y, XS)
    with pytest.raises(ValueError, match="square"):
        psd_solve(torch.ones(2, 3, dtype=torch.float64), torch.ones(2, dtype=torch.float64))


def test_closed_forms_validate_inputs():
    net, p0 = net_and_params()
    with pytest.raises(ValueError, match="y_train"):
        gd_infinite_time(net, p0, XT, YT[:-1], XS)
    with pytest.raises(ValueError, match="x_test"):
        gd_infinite_time(net, p0, XT, YT, XS[:, :3])
    with pytest.raises(ValueError, match="lr"):
        gd_finite_time(net, p0, XT, YT, XS, lr=-1.0, steps=3)
    vec = MLP(d_in=6, width=8, d_out=2)
    with pytest.raises(ValueError, match="d_out"):
        gd_infinite_time(vec, vec.init(0), XT, YT, XS)


def test_linear_steps_counts_the_gd_steps_of_the_linearized_model():
    from ntkbench.linearize import linear_steps

    a = torch.randn(6, 6, generator=GEN, dtype=torch.float64)
    gram = a @ a.T + 0.1 * torch.eye(6, dtype=torch.float64)
    r0 = torch.randn(6, generator=GEN, dtype=torch.float64)
    lr = 1.0 / float(torch.linalg.eigvalsh(gram)[-1])
    steps, r = 0, r0.clone()
    while 0.5 * float(r @ r) >= 1e-6:  # GD on ½‖f − Y‖²: r ← (1 − ηΘ) r
        r, steps = r - lr * gram @ r, steps + 1
    assert linear_steps(gram, r0, lr=lr, threshold=1e-6) == steps
    assert linear_steps(gram, r0, lr=lr, threshold=1e6) == 0


def test_linear_steps_is_infinite_when_a_fitted_direction_never_decays():
    from ntkbench.linearize import linear_steps

    gram = torch.diag(torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert linear_steps(gram, torch.tensor([1.0, 1.0], dtype=torch.float64), lr=1.0, threshold=1e-3) == float("inf")
    assert linear_steps(gram, torch.tensor([1.0, 1e-4], dtype=torch.float64), lr=1.0, threshold=1e-3) == 1
    with pytest.raises(ValueError, match="threshold"):
        linear_steps(gram, torch.ones(2, dtype=torch.float64), lr=1.0, threshold=0.0)


def test_linearized_net_is_each_members_own_linearization_and_trains():
    net = MLP(d_in=3, width=16, depth=2)
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    lin = Linearized(net)
    stacked = init_ensemble(lin, [0, 1])
    for s in (0, 1):  # at θ0 each member is its own net; a step away it is its own affine model
        p0 = net.init(s)
        one = {k: v[s] for k, v in stacked.items()}
        assert torch.allclose(lin(one, x), net(p0, x), atol=1e-14)
        shifted = {**one, **{k: p0[k] + 0.01 for k in p0}}
        assert torch.allclose(lin(shifted, x), linearize(net, p0)({k: p0[k] + 0.01 for k in p0}, x), atol=1e-13)
    y = torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    res = train_ensemble(lin, stacked, x, y, optimizer="adagrad", lr=0.05, threshold=1e-8, max_steps=20000,
                         record_every=20000)
    assert res.converged.all()
    assert all(torch.equal(res.params[k + "@0"], stacked[k + "@0"]) for k in net.init(0))  # θ0 stays put
    with pytest.raises(ValueError, match="no θ0"):
        lin(net.init(0), x)
