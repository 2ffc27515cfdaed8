"""Shared set-up for the asv suite and ``benchmarks/compare_methods.py``.

* Threads: every benchmark runs with ``torch.set_num_threads(THREADS)``, 1 unless the environment
  variable ``NTKBENCH_BENCH_THREADS`` says otherwise (one thread gives the steadiest numbers on a shared
  2-core machine; the ratios the suite tracks hardly depend on it).
* Feasibility: the grids are declared in full; a point that would not fit in ``MEM_LIMIT`` bytes or
  would take more than ``TIME_LIMIT`` seconds by the estimates below is skipped by raising
  ``NotImplementedError`` in ``setup`` (asv records it as skipped, "n/a").
* Peak memory: asv's ``peakmem_`` is the benchmark process's maximum RSS. ``reset_peak_rss()`` at the
  end of a ``setup`` clears the high-water mark (Linux ``/proc/self/clear_refs``), so the number is the
  resident baseline (interpreter, torch, the inputs) plus the peak of the call itself, not the set-up's.
"""

from __future__ import annotations

import math
import os
import time

import torch

import ntkbench as nb

THREADS = int(os.environ.get("NTKBENCH_BENCH_THREADS", "1"))
MEM_LIMIT = float(os.environ.get("NTKBENCH_BENCH_MEM_GB", "4")) * 2**30  # bytes one point may allocate
TIME_LIMIT = float(os.environ.get("NTKBENCH_BENCH_TIME_S", "5"))  # estimated seconds for one call

DTYPES = {"float32": torch.float32, "float64": torch.float64}
METHODS = ("structured", "jacobian", "ntvp")
N = (16, 100, 1000)
WIDTHS = (256, 1024, 4000)
DEPTHS = (2, 3, 5)
DS = (10, 784)

# Effective rates on the reference machine (1 thread, AVX-512, float64; float32 about twice), fitted to
# measured times and peak memory (benchmarks/compare_methods.py, within ~1.5x); only used to decide
# what to skip.
_GEMM_FLOPS = 8e10  # dense products (forward, backprop, Gram matrices, contraction)
_JAC_SECONDS_PER_ENTRY = 4e-9  # vmap(jacrev): writing one entry of the n × P Jacobian
_NTVP_SECONDS_PER_ENTRY = 4.5e-9  # one n-column block of vjp/jvp: per entry of the n × P cotangents
_NTVP_FLOPS = 2.9e10  # 6n²P flops of batched vjp + jvp, much less efficient than a plain GEMM
_NTVP_SECONDS_PER_TANGENT = 6e-8  # per entry of the n × n × (d + Σ widths) batched tangents (memory-bound)


def set_threads() -> None:
    torch.set_num_threads(THREADS)


def skip(reason: str):
    """Tell asv this parameter combination is not run (shown as n/a)."""
    raise NotImplementedError(reason)


def reset_peak_rss() -> None:
    """Reset the process's peak-RSS high-water mark (Linux ≥ 4.0); a no-op where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def rss_status() -> dict[str, int]:
    """Current (VmRSS) and peak (VmHWM) resident set size in bytes, from /proc/self/status."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":")
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def warm_up() -> None:
    """Pay torch.func's one-time lazy imports (~1.5 s on the first ``grad``/``vmap``/``jvp`` call) once,
    at import: asv's fork server imports the suite once and forks per benchmark, so no timed call (in
    ``--quick`` runs the only call) includes them. Tiny tensors only, so no thread pool is started."""
    net = nb.MLP(d_in=3, width=4, depth=2)
    params, x = net.init(0), inputs(2, 3)
    for method in METHODS:
        nb.empirical_ntk(net, params, x, method=method)
    nb.train(net, params, x, torch.zeros(2), lr=0.1, max_steps=1)
    nb.train(net, params, x, torch.zeros(2), lr=0.1, max_steps=1, batch_fraction=0.5)


# ----- problems -------------------------------------------------------------------------------------
def n_params(width: int, depth: int, d: int, d_out: int = 1) -> int:
    """P of ``nb.MLP(d_in=d, width=width, depth=depth)`` with biases (the default ``bias="zero"``)."""
    sizes = (d, *([width] * (depth - 1)), d_out)
    return sum((sizes[l] + 1) * sizes[l + 1] for l in range(depth))


def inputs(n: int, d: int, dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    """n Gaussian inputs scaled to norm ≈ 1."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=gen, dtype=torch.float64) / math.sqrt(d)).to(dtype)


def problem(n: int, width: int, depth: int, d: int, dtype: str = "float64"):
    """(net, params, x) for an NTK-parametrized ReLU MLP with zero biases. The parameters are what
    ``net.init`` draws (N(0, 1) weights, zero biases) but drawn directly in ``dtype``: 3× faster for the
    48M weights of width 4000, depth 5, which matters in a --quick run of ~900 set-ups."""
    dt = DTYPES[dtype]
    net = nb.MLP(d_in=d, width=width, depth=depth, dtype=dt)
    gen = torch.Generator().manual_seed(0)
    sizes = net.layer_sizes
    params = {}
    for l in range(1, depth + 1):
        params[f"W{l}"] = torch.randn(sizes[l], sizes[l - 1], generator=gen, dtype=dt)
        params[f"b{l}"] = torch.zeros(sizes[l], dtype=dt)
    return net, params, inputs(n, d, dt)


def forward_backward(net, params, x):
    """A callable doing one forward and one backward pass (gradient of Σ f(x_i) for every parameter)."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    names = list(leaves)

    def run():
        out = net(leaves, x).sum()
        return torch.autograd.grad(out, [leaves[k] for k in names])

    return run


# ----- cost estimates (seconds, bytes) --------------------------------------------------------------
def _pass_flops(n: int, width: int, depth: int, d: int) -> float:
    """Multiply-adds × 2 of one forward sweep (= one backprop sweep of the signals)."""
    return 2.0 * n * (d * width + (depth - 2) * width * width + width)


def estimate(method: str, n: int, width: int, depth: int, d: int, dtype: str) -> tuple[float, float]:
    """Rough (seconds, bytes) of one ``empirical_ntk`` call (``method="fwd_bwd"``: one forward+backward)."""
    item = 8 if dtype == "float64" else 4
    speed = 1.0 if dtype == "float64" else 2.0
    P = n_params(width, depth, d)
    sweep = _pass_flops(n, width, depth, d)
    features = item * n * (d + 2 * (depth - 1) * width)  # activations and backprop signals
    if method == "structured":
        gram = 2.0 * n * n * (d + 2 * (depth - 1) * width)
        return (2 * sweep + gram) / (_GEMM_FLOPS * speed), features + 4 * item * n * n + item * P
    if method == "fwd_bwd":
        return 3 * sweep / (_GEMM_FLOPS * speed), 2 * features + 2 * item * P
    if method == "jacobian":  # the n × P Jacobian
        seconds = _JAC_SECONDS_PER_ENTRY * n * P / speed + 2.0 * n * n * P / (_GEMM_FLOPS * speed)
        return seconds, item * n * P + features
    if method == "ntvp":  # vmap over n columns: n cotangents of size P, n × n × width tangents per layer
        tangents = n * n * (d + (depth - 1) * width)
        seconds = (_NTVP_SECONDS_PER_ENTRY * n * P + 6.0 * n * n * P / _NTVP_FLOPS
                   + _NTVP_SECONDS_PER_TANGENT * tangents) / speed
        return seconds, item * n * P + 2 * item * tangents
    raise ValueError(f"unknown method {method!r}")


def check_feasible(method: str, n: int, width: int, depth: int, d: int, dtype: str,
                   time_limit: float | None = None) -> float:
    """Skip (NotImplementedError) a point over MEM_LIMIT bytes or ``time_limit`` (TIME_LIMIT) seconds by
    ``estimate``; return the estimated seconds of one call."""
    time_limit = TIME_LIMIT if time_limit is None else time_limit
    seconds, nbytes = estimate(method, n, width, depth, d, dtype)
    if nbytes > MEM_LIMIT:
        skip(f"{method}: needs ~{nbytes / 2**30:.1f} GiB (n × P × itemsize = "
             f"{n}×{n_params(width, depth, d)}×{8 if dtype == 'float64' else 4}), over {MEM_LIMIT / 2**30:.1f} GiB")
    if seconds > time_limit:
        skip(f"{method}: ~{seconds:.0f} s per call, over {time_limit:.0f} s")
    return seconds


WARM_UP_BELOW = 0.1  # seconds: cheaper calls are made once in setup, before anything is measured


def warm_call(fn, estimated_seconds: float = 0.0) -> None:
    """Call ``fn`` once in ``setup`` (first-call costs: allocator, dispatch caches) when it is cheap; a
    ``--quick`` run times a single call, so this keeps one-time costs out of the small benchmarks."""
    if estimated_seconds < WARM_UP_BELOW:
        fn()


# ----- timing for the track_ ratios -----------------------------------------------------------------
def best_time(fn, *, min_repeat: int = 2, max_repeat: int = 7, budget: float = 1.0) -> float:
    """Best wall time of ``fn()`` over ``min_repeat``..``max_repeat`` calls (stops after ``budget`` seconds),
    after one untimed warm-up call."""
    fn()
    best, spent, k = math.inf, 0.0, 0
    while k < min_repeat or (k < max_repeat and spent < budget):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent, k = min(best, dt), spent + dt, k + 1
    return best


def best_times(*fns, min_rounds: int = 3, max_rounds: int = 9, budget: float = 3.0) -> list[float]:
    """Best wall time of each of ``fns`` over rounds in which each is called once, in turn (after one untimed
    warm-up call each): on a machine shared with other work, load that comes and goes weighs on all alike.
    ``min_rounds``..``max_rounds`` rounds; stops after ``budget`` seconds."""
    for fn in fns:
        fn()
    best, spent, k = [math.inf] * len(fns), 0.0, 0
    while k < min_rounds or (k < max_rounds and spent < budget):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            best[i], spent = min(best[i], dt), spent + dt
        k += 1
    return best
