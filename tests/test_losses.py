import math

import pytest
import torch
import torch.nn.functional as F

from ntkbench.losses import LOSSES, Loss, get_loss

# small hand-checkable tensors (float64)
PRED = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64)
Y = torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64)
# residuals f − y = [-0.5, 0, 3, -1]; margins y f = [0.5, 1, -2, 0]


def test_mse_is_the_mean_of_squared_residuals():
    assert Loss("mse")(PRED, Y).item() == pytest.approx((0.25 + 0 + 9 + 1) / 4, abs=1e-15)
    # vector output: the mean runs over points and outputs
    p2 = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    y2 = torch.zeros(2, 2, dtype=torch.float64)
    assert Loss("mse")(p2, y2).item() == pytest.approx(30 / 4, abs=1e-15)


def test_half_sse_is_half_the_sum_of_squared_residuals():
    assert Loss("half_sse")(PRED, Y).item() == pytest.approx(0.5 * (0.25 + 0 + 9 + 1), abs=1e-15)
    p2 = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    assert Loss("half_sse")(p2, torch.zeros_like(p2)).item() == pytest.approx(15.0, abs=1e-15)


def test_lp_is_the_mean_pth_power_of_absolute_residuals():
    expected4 = (0.5**4 + 0 + 3**4 + 1) / 4
    assert Loss("lp")(PRED, Y).item() == pytest.approx(expected4, abs=1e-13)  # default p = 4 (003 Fig. 1)
    assert Loss("lp", p=4)(PRED, Y).item() == pytest.approx(expected4, abs=1e-13)
    assert Loss("lp", p=3)(PRED, Y).item() == pytest.approx((0.5**3 + 0 + 27 + 1) / 4, abs=1e-13)
    assert Loss("lp", p=1.5)(PRED, Y).item() == pytest.approx((0.5**1.5 + 0 + 3**1.5 + 1) / 4, abs=1e-13)


def test_hinge_and_square_hinge_follow_004_eq1_with_margin():
    # Δ = margin − y f
    for margin in (1.0, 0.5, 2.0):
        delta = [margin - m for m in (0.5, 1.0, -2.0, 0.0)]
        hinge = sum(max(0.0, d) for d in delta) / 4
        sq = sum(0.5 * max(0.0, d) ** 2 for d in delta) / 4
        assert Loss("hinge", margin=margin)(PRED, Y).item() == pytest.approx(hinge, abs=1e-15)
        assert Loss("square_hinge", margin=margin)(PRED, Y).item() == pytest.approx(sq, abs=1e-15)
    # default margin is 1: Δ = [0.5, 0, 3, 1]
    assert Loss("hinge")(PRED, Y).item() == pytest.approx(4.5 / 4, abs=1e-15)
    assert Loss("square_hinge")(PRED, Y).item() == pytest.approx(0.5 * (0.25 + 9 + 1) / 4, abs=1e-15)


def test_binary_cross_entropy_with_pm1_labels_matches_bce_with_logits():
    expected = sum(math.log1p(math.exp(-y * f)) for f, y in zip(PRED.tolist(), Y.tolist(), strict=True)) / 4
    got = Loss("cross_entropy")(PRED, Y)
    assert got.item() == pytest.approx(expected, abs=1e-14)
    ref = F.binary_cross_entropy_with_logits(PRED, (Y + 1) / 2)
    torch.testing.assert_close(got, ref, rtol=1e-14, atol=1e-14)
    # stable for large margins (softplus, not log(1 + exp))
    big = Loss("cross_entropy")(torch.tensor([800.0, -800.0], dtype=torch.float64),
                                torch.tensor([-1.0, 1.0], dtype=torch.float64))
    assert big.item() == pytest.approx(800.0, rel=1e-12)


def test_multiclass_cross_entropy_matches_torch():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 2, 1, 1, 0, 2])
    ref = F.cross_entropy(logits, labels)
    torch.testing.assert_close(Loss("cross_entropy")(logits, labels), ref, rtol=1e-14, atol=1e-14)
    # float-coded labels are accepted too
    torch.testing.assert_close(Loss("cross_entropy")(logits, labels.double()), ref, rtol=1e-14, atol=1e-14)
    hand = -(logits.log_softmax(dim=1)[torch.arange(6), labels]).mean()
    torch.testing.assert_close(ref, hand, rtol=1e-14, atol=1e-14)


def test_losses_are_differentiable_with_the_expected_gradient():
    p = PRED.clone().requires_grad_(True)
    Loss("half_sse")(p, Y).backward()
    torch.testing.assert_close(p.grad, PRED - Y, rtol=0, atol=1e-15)
    p = PRED.clone().requires_grad_(True)
    Loss("square_hinge")(p, Y).backward()
    # d/df ½ max(0, 1 − y f)² / n = −y max(0, 1 − y f) / n
    torch.testing.assert_close(p.grad, -Y * torch.relu(1 - Y * PRED) / 4, rtol=0, atol=1e-15)


def test_shape_mismatch_is_an_error_not_a_silent_broadcast():
    # y (n, 1) against predictions (n,) would broadcast to an (n, n) residual
    for name in ("mse", "half_sse", "lp", "hinge", "square_hinge", "cross_entropy"):
        with pytest.raises(ValueError, match="y has shape"):
            Loss(name)(PRED, Y[:, None])
    with pytest.raises(ValueError, match="y has shape"):
        Loss("cross_entropy")(torch.zeros(4, 3, dtype=torch.float64), torch.zeros(3, dtype=torch.long))


def test_invalid_names_and_options_raise_value_errors_naming_the_argument():
    with pytest.raises(ValueError, match="loss='l2'"):
        Loss("l2")
    with pytest.raises(ValueError, match="loss='nope'"):
        get_loss("nope")
    with pytest.raises(ValueError, match="loss must be a name"):
        get_loss(3)
    with pytest.raises(ValueError, match="option 'p'"):
        Loss("mse", p=2)
    with pytest.raises(ValueError, match="option 'margin'"):
        Loss("lp", margin=1.0)
    with pytest.raises(ValueError, match="option 'margin'"):
        Loss("cross_entropy", margin=1.0)
    with pytest.raises(ValueError, match="p must be > 1"):
        Loss("lp", p=1)
    for bad in (0, -1.0, float("nan"), float("inf"), "four"):
        with pytest.raises(ValueError, match="p must be"):
            Loss("lp", p=bad)
    for bad in (0, -0.5, float("nan")):
        with pytest.raises(ValueError, match="margin must be"):
            Loss("hinge", margin=bad)


def test_get_loss_and_names():
    assert set(LOSSES) == {"mse", "half_sse", "lp", "hinge", "square_hinge", "eps_insensitive", "cross_entropy"}
    sq = Loss("square_hinge", margin=2.0)
    assert get_loss(sq) is sq
    assert get_loss("mse") == Loss("mse")
    assert Loss("lp", p=4) != Loss("lp", p=3)


def test_curvature_of_the_quadratic_losses_and_error_for_the_others():
    assert Loss("mse").curvature(4) == pytest.approx(0.5)
    assert Loss("half_sse").curvature(7) == 1.0
    assert Loss("square_hinge").curvature(5) == pytest.approx(0.2)
    # the curvature is λ_max of the Hessian in the predictions: check it for mse and half_sse
    f = torch.zeros(5, dtype=torch.float64)
    y = torch.arange(5, dtype=torch.float64)
    for name in ("mse", "half_sse"):
        h = torch.autograd.functional.hessian(lambda z: Loss(name)(z, y), f)  # noqa: B023 - called at once
        assert torch.linalg.eigvalsh(h)[-1].item() == pytest.approx(Loss(name).curvature(5), rel=1e-12)
    # square hinge with every margin violated: Hessian y² / n = 1/n
    yy = torch.tensor([1.0, -1, 1, -1, 1], dtype=torch.float64)
    h = torch.autograd.functional.hessian(lambda z: Loss("square_hinge")(z, yy), f)
    assert torch.linalg.eigvalsh(h)[-1].item() == pytest.approx(Loss("square_hinge").curvature(5), rel=1e-12)
    for name, opts in (("lp", {"p": 4}), ("hinge", {}), ("cross_entropy", {})):
        with pytest.raises(ValueError, match="no constant curvature"):
            Loss(name, **opts).curvature(5)


def test_cross_entropy_one_hot_equals_integer_labels():
    pred = torch.randn(6, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    labels = torch.tensor([0, 3, 1, 1, 2, 0])
    one_hot = torch.nn.functional.one_hot(labels, 4).double()
    loss = Loss("cross_entropy")
    torch.testing.assert_close(loss(pred, one_hot), loss(pred, labels), rtol=1e-14, atol=0)


def test_eps_insensitive_is_zero_on_the_band():
    loss = Loss("eps_insensitive", margin=0.5)
    y = torch.zeros(4, dtype=torch.float64)
    assert float(loss(torch.tensor([0.5, -0.5, 0.1, 0.0], dtype=torch.float64), y)) == 0.0
    assert float(loss(torch.tensor([1.5, -1.0, 0.0, 0.0], dtype=torch.float64), y)) == (1.0 + 0.25) / 4
    assert loss.curvature(4) == 0.5
