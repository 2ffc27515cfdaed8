import pytest
import torch

from ntkbench.optimizers import GD, OPTIMIZERS, AdaGrad, Adam, RMSprop, get_optimizer

STEPS = 20
GEN = torch.Generator().manual_seed(3)
# a fixed, ill-conditioned quadratic ½ (θ − θ*)ᵀ A (θ − θ*) over two parameter tensors (5 + 6 = 11 numbers)
_M = torch.randn(11, 11, generator=GEN, dtype=torch.float64)
A = _M @ _M.T / 11 + 0.1 * torch.eye(11, dtype=torch.float64)
TARGET = torch.randn(11, generator=GEN, dtype=torch.float64)
SHAPES = {"a": (5,), "B": (2, 3)}


def flat(params):
    return torch.cat([params["a"].reshape(-1), params["B"].reshape(-1)])


def quad_grads(params):
    g = A @ (flat(params) - TARGET)
    return {"a": g[:5].reshape(5), "B": g[5:].reshape(2, 3)}


def init_params(seed):
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=gen, dtype=torch.float64) for k, s in SHAPES.items()}


def run_ours(opt, params, steps=STEPS, grads_fn=quad_grads):
    state = opt.init(params)
    traj = []
    for _ in range(steps):
        params, state = opt.step(params, grads_fn(params), state)
        traj.append(flat(params))
    return torch.stack(traj)


def run_torch(make, params, steps=STEPS):
    ps = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    opt = make(list(ps.values()))
    traj = []
    for _ in range(steps):
        opt.zero_grad()
        r = flat(ps) - TARGET
        (0.5 * r @ A @ r).backward()
        opt.step()
        traj.append(flat({k: v.detach() for k, v in ps.items()}))
    return torch.stack(traj)


CASES = [
    ("gd", {}, 0.05, lambda p: torch.optim.SGD(p, lr=0.05)),
    ("sgd", {}, 0.05, lambda p: torch.optim.SGD(p, lr=0.05)),
    ("adagrad", {}, 0.3,
     lambda p: torch.optim.Adagrad(p, lr=0.3, eps=1e-10, initial_accumulator_value=0.0, lr_decay=0.0)),
    ("adam", {}, 0.05, lambda p: torch.optim.Adam(p, lr=0.05)),
    ("adam", {"beta1": 0.8, "beta2": 0.99, "eps": 1e-6}, 0.02,
     lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6)),
    ("rmsprop", {}, 0.01, lambda p: torch.optim.RMSprop(p, lr=0.01)),
    ("rmsprop", {"alpha": 0.9, "eps": 1e-6}, 0.01, lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6)),
]


@pytest.mark.parametrize(("name", "options", "lr", "make"), CASES, ids=[f"{c[0]}{c[1] or ''}" for c in CASES])
def test_trajectory_matches_torch_optim(name, options, lr, make):
    p0 = init_params(0)
    ours = run_ours(get_optimizer(name, lr, **options), p0)
    ref = run_torch(make, p0)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    # the trajectory actually moves (so the comparison is not vacuous)
    assert (ours[-1] - flat(p0)).abs().max() > 1e-2
    # purity: the input parameters are not modified in place
    torch.testing.assert_close(flat(p0), flat(init_params(0)), rtol=0, atol=0)


def test_defaults_match_torch_defaults():
    assert (Adam(lr=1.0).beta1, Adam(lr=1.0).beta2, Adam(lr=1.0).eps) == (0.9, 0.999, 1e-8)
    assert (RMSprop(lr=1.0).alpha, RMSprop(lr=1.0).eps) == (0.99, 1e-8)
    assert AdaGrad(lr=1.0).eps == 1e-10
    assert OPTIMIZERS["gd"] is GD and OPTIMIZERS["sgd"] is GD


@pytest.mark.parametrize("name", ["gd", "adagrad", "adam", "rmsprop"])
def test_per_member_rates_on_stacked_params_equal_separate_runs(name):
    S = 3
    rates = [0.01, 0.03, 0.07]
    members = [init_params(s) for s in range(S)]
    stacked = {k: torch.stack([m[k] for m in members]) for k in SHAPES}

    def stacked_grads(p):
        gs = [quad_grads({k: v[i] for k, v in p.items()}) for i in range(S)]
        return {k: torch.stack([g[k] for g in gs]) for k in SHAPES}

    opt = get_optimizer(name, torch.tensor(rates, dtype=torch.float64))
    state = opt.init(stacked)
    p = stacked
    for _ in range(STEPS):
        p, state = opt.step(p, stacked_grads(p), state)
    for i in range(S):
        alone = run_ours(get_optimizer(name, rates[i]), members[i])[-1]
        torch.testing.assert_close(flat({k: v[i] for k, v in p.items()}), alone, rtol=1e-12, atol=1e-12)
    # the members really used different rates
    assert not torch.allclose(p["a"][0], p["a"][2])


def test_invalid_names_lr_and_options_raise_value_errors():
    with pytest.raises(ValueError, match="optimizer='sgdm'"):
        get_optimizer("sgdm", 0.1)
    with pytest.raises(ValueError, match="optimizer='Adam'"):
        get_optimizer("Adam", 0.1)
    for bad in (0, -0.1, float("nan"), float("inf"), "fast", None):
        with pytest.raises(ValueError, match="lr must be"):
            get_optimizer("gd", bad)
    for bad in ([0.1, 0.0], [0.1, -0.2], [0.1, float("nan")], [0.1, float("inf")]):
        with pytest.raises(ValueError, match="lr must be"):
            get_optimizer("adam", torch.tensor(bad, dtype=torch.float64))
    with pytest.raises(ValueError, match="lr must be"):
        get_optimizer("gd", torch.full((2, 2), 0.1))
    with pytest.raises(ValueError, match="optimizer_options"):
        get_optimizer("gd", 0.1, eps=1e-8)
    with pytest.raises(ValueError, match=r"optimizer_options \['beta'\]"):
        get_optimizer("adam", 0.1, beta=0.9)
    # a scalar tensor rate is accepted and behaves as the float
    p0 = init_params(1)
    torch.testing.assert_close(run_ours(get_optimizer("adam", torch.tensor(0.05, dtype=torch.float64)), p0),
                               run_ours(get_optimizer("adam", 0.05), p0), rtol=0, atol=1e-15)


# ----- the in-place step_ used by the trainer ---------------------------------------------------------

def _stacked(members):
    return {k: torch.stack([m[k] for m in members]) for k in SHAPES}


def _stacked_grads(p):
    n = p["a"].shape[0]
    gs = [quad_grads({k: v[i] for k, v in p.items()}) for i in range(n)]
    return {k: torch.stack([g[k] for g in gs]) for k in SHAPES}


@pytest.mark.parametrize(("name", "options", "lr", "make"), CASES, ids=[f"{c[0]}{c[1] or ''}" for c in CASES])
def test_in_place_step_equals_the_pure_step(name, options, lr, make):
    """step_ (fused in-place updates) follows step's trajectory to round-off, on the trainer's own buffers."""
    opt = get_optimizer(name, lr, **options)
    p = init_params(0)
    buffers = {k: v.clone() for k, v in p.items()}
    state = opt.init(buffers)
    for _ in range(STEPS):
        opt.step_(buffers, quad_grads(buffers), state)
    torch.testing.assert_close(flat(buffers), run_ours(opt, p)[-1], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(flat(buffers), run_torch(make, p)[-1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["gd", "adagrad", "adam", "rmsprop"])
def test_in_place_step_on_row_chunks_with_their_rates(name):
    """The trainer steps chunks of members (views of its buffers) with the chunk's rates: the same as the pure
    step of the whole ensemble with per-member rates. Adam's shared counter advances once per step."""
    S, rates = 5, torch.tensor([0.01, 0.03, 0.07, 0.02, 0.05], dtype=torch.float64)
    opt = get_optimizer(name, rates)
    ref = _stacked([init_params(s) for s in range(S)])
    ref_state = opt.init(ref)
    own = {k: v.clone() for k, v in ref.items()}
    state = opt.init(own)
    for _ in range(STEPS):
        ref, ref_state = opt.step(ref, _stacked_grads(ref), ref_state)
        grads = _stacked_grads(own)
        counters = {}
        for rows in (slice(0, 2), slice(2, 4), slice(4, 5)):
            chunk_state = {k: ({j: w[rows] for j, w in v.items()} if isinstance(v, dict) else v)
                           for k, v in state.items()}
            opt.step_({k: v[rows] for k, v in own.items()}, {k: v[rows] for k, v in grads.items()}, chunk_state,
                      lr=rates[rows])
            counters = {k: v for k, v in chunk_state.items() if not isinstance(v, dict)}
        state.update(counters)
    for k in SHAPES:
        torch.testing.assert_close(own[k], ref[k], rtol=1e-12, atol=1e-12)
    if name == "adam":
        assert state["t"] == ref_state["t"] == STEPS


def test_adam_moments_are_distinct_buffers():
    state = Adam(lr=0.1).init(init_params(0))
    assert all(state["m"][k] is not state["v"][k] for k in SHAPES)


def test_preconditioned_steps_scale_the_gradient_and_the_in_place_step_agrees():
    params = {"w": torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)}
    grads = {"w": torch.tensor([[0.2, 0.4], [-1.0, 0.1]], dtype=torch.float64)}
    scale = {"w": torch.tensor([[2.0, 0.5], [1.0, 10.0]], dtype=torch.float64)}
    opt = get_optimizer("preconditioned", torch.tensor([0.1, 0.3], dtype=torch.float64), scale=scale)
    state = opt.init(params)
    new, _ = opt.step(params, grads, state)
    expect = params["w"] - torch.tensor([[0.1], [0.3]], dtype=torch.float64) * scale["w"] * grads["w"]
    assert torch.allclose(new["w"], expect, atol=1e-15)
    inplace = {"w": params["w"].clone()}
    opt.step_(inplace, {"w": grads["w"].clone()}, state)
    assert torch.allclose(inplace["w"], expect, atol=1e-15)
    scale["w"].fill_(0.0)  # the state holds its own copy: the caller's tensor does not move the run
    assert torch.equal(state["scale"]["w"], torch.tensor([[2.0, 0.5], [1.0, 10.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="scale must hold"):
        get_optimizer("preconditioned", 0.1).init(params)
    with pytest.raises(ValueError, match="scale must hold"):
        get_optimizer("preconditioned", 0.1, scale={"w": torch.ones(3)}).init(params)


# ----- AdaGrad-Norm: one accumulator per member ---------------------------------------------------------

def test_adagrad_norm_is_adagrad_with_one_accumulator_per_member():
    """G_s += Σ‖g_s‖² over the member's parameters, θ_s −= η g_s/(√G_s + ε), per member; step_ (also on row
    chunks, with their rates) equals step."""
    S, rates = 3, torch.tensor([0.05, 0.1, 0.2], dtype=torch.float64)
    opt = get_optimizer("adagrad-norm", rates)
    p = _stacked([init_params(s) for s in range(S)])
    state = opt.init(p)
    acc = torch.zeros(S, dtype=torch.float64)
    own = {k: v.clone() for k, v in p.items()}
    own_state = opt.init(own)
    for _ in range(STEPS):
        g = _stacked_grads(p)
        acc = acc + sum(v.pow(2).reshape(S, -1).sum(1) for v in g.values())
        expect = {k: v - (rates / (acc.sqrt() + 1e-10)).reshape(-1, *([1] * (v.ndim - 1))) * g[k]
                  for k, v in p.items()}
        p, state = opt.step(p, g, state)
        for k in SHAPES:
            torch.testing.assert_close(p[k], expect[k], rtol=1e-13, atol=1e-15)
        grads = _stacked_grads(own)
        for rows in (slice(0, 2), slice(2, 3)):
            opt.step_({k: v[rows] for k, v in own.items()}, {k: v[rows] for k, v in grads.items()},
                      {"sum": own_state["sum"][rows]}, lr=rates[rows])
    for k in SHAPES:
        torch.testing.assert_close(own[k], p[k], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(own_state["sum"], state["sum"], rtol=1e-13, atol=0)


def test_adagrad_norm_keeps_gds_minimizer_where_adagrad_does_not():
    """Underdetermined least squares from θ0 = 0 (the linearized model of 001 Thm 3): GD and AdaGrad-Norm (a scalar
    rate) end at the minimum-norm interpolant, AdaGrad (a coordinate-wise rate) at another interpolant."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(3, 8, generator=gen, dtype=torch.float64)
    y = torch.randn(3, generator=gen, dtype=torch.float64)
    min_norm = torch.linalg.pinv(a) @ y
    ends = {}
    for name, lr in (("gd", 0.02), ("adagrad-norm", 0.5), ("adagrad", 0.5)):
        opt = get_optimizer(name, lr)
        p = {"w": torch.zeros(1, 8, dtype=torch.float64)}
        state = opt.init(p)
        for _ in range(20000):
            p, state = opt.step(p, {"w": (a.T @ (a @ p["w"][0] - y))[None]}, state)
        assert (a @ p["w"][0] - y).abs().max() < 1e-8  # each interpolates
        ends[name] = p["w"][0]
    assert (ends["gd"] - min_norm).abs().max() < 1e-8
    assert (ends["adagrad-norm"] - min_norm).abs().max() < 1e-8
    assert (ends["adagrad"] - min_norm).norm() > 1e-2 * min_norm.norm()


@pytest.mark.parametrize("name", ["gd", "adagrad", "adagrad-norm", "adam", "rmsprop"])
def test_pure_step_takes_the_rates_of_the_members_it_is_given(name):
    """``step(..., lr=rates)`` (what the compiled step traces) equals the step of an optimizer built with them."""
    S, rates = 3, torch.tensor([0.01, 0.03, 0.07], dtype=torch.float64)
    p = _stacked([init_params(s) for s in range(S)])
    g = _stacked_grads(p)
    built, generic = get_optimizer(name, rates), get_optimizer(name, 1.0)
    want, _ = built.step(p, g, built.init(p))
    got, _ = generic.step(p, g, generic.init(p), lr=rates)
    for k in SHAPES:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0)
