"""Empirical NTK Θ(X, X) by each method, one forward+backward pass for reference, and their ratios.

Network: ``nb.MLP(d_in=d, width=width, depth=depth)`` (NTK parametrization, ReLU, zero biases, scalar
output), n inputs. Points over the memory or time limits of ``common.check_feasible`` are skipped:
"jacobian" holds the n × P Jacobian (n·P·itemsize bytes: 24 GB at n = 1000, width 1000, depth 5) and
its contraction costs 2n²P flops; "ntvp" runs n NTK-vector products at once (≈ 6n²P flops, n × P
cotangents and n × n × width tangents), so both are only run at the smaller sizes. "structured" needs
O(n·width·depth + n²) memory and runs everywhere.
"""

from __future__ import annotations

import ntkbench as nb

from . import common

GRID = (list(common.N), list(common.WIDTHS), list(common.DEPTHS), list(common.DS), list(common.DTYPES))
GRID_NAMES = ["n", "width", "depth", "d", "dtype"]
PAPER_SCALE = dict(n=100, width=4000, depth=2, d=784, dtype="float64")  # the 000/001 set-up


class EmpiricalNTK:
    """``empirical_ntk(net, params, x, method=...)``: time and peak memory."""

    params = (list(common.METHODS), *GRID)
    param_names = ["method", *GRID_NAMES]
    timeout = 300
    repeat = (1, 5, 10.0)  # full runs: at most 5 samples or 10 s per point (324 points)

    def setup(self, method, n, width, depth, d, dtype):
        common.set_threads()
        seconds = common.check_feasible(method, n, width, depth, d, dtype)
        self.net, self.p, self.x = common.problem(n, width, depth, d, dtype)
        common.warm_call(lambda: nb.empirical_ntk(self.net, self.p, self.x, method=method), seconds)
        common.reset_peak_rss()

    def time_empirical_ntk(self, method, n, width, depth, d, dtype):
        nb.empirical_ntk(self.net, self.p, self.x, method=method)

    def peakmem_empirical_ntk(self, method, n, width, depth, d, dtype):
        nb.empirical_ntk(self.net, self.p, self.x, method=method)


class ForwardBackward:
    """One forward and one backward pass over the batch (autograd, gradient of Σ_i f(x_i)): the
    reference cost the structured kernel is measured against."""

    params = GRID
    param_names = GRID_NAMES
    timeout = 300
    repeat = (1, 5, 10.0)

    def setup(self, n, width, depth, d, dtype):
        common.set_threads()
        seconds = common.check_feasible("fwd_bwd", n, width, depth, d, dtype)
        net, p, x = common.problem(n, width, depth, d, dtype)
        self.run = common.forward_backward(net, p, x)
        common.warm_call(self.run, seconds)
        common.reset_peak_rss()

    def time_forward_backward(self, n, width, depth, d, dtype):
        self.run()

    def peakmem_forward_backward(self, n, width, depth, d, dtype):
        self.run()


class StructuredOverhead:
    """track: time(structured Θ) / time(one forward+backward pass), best of a few calls each; the goal
    is ≤ 1.5."""

    params = GRID
    param_names = GRID_NAMES
    timeout = 300
    unit = "ratio"

    def setup(self, n, width, depth, d, dtype):
        common.set_threads()
        common.check_feasible("structured", n, width, depth, d, dtype)
        self.net, self.p, self.x = common.problem(n, width, depth, d, dtype)
        self.fwd_bwd = common.forward_backward(self.net, self.p, self.x)

    def track_structured_over_forward_backward(self, n, width, depth, d, dtype):
        structured = common.best_time(lambda: nb.empirical_ntk(self.net, self.p, self.x), budget=0.5)
        return structured / common.best_time(self.fwd_bwd, budget=0.5)


class StructuredSpeedup:
    """track: time(method) / time(structured) at the 000/001 scale (n = 100, d = 784, width 4000, one
    hidden layer, float64); the goal for "jacobian" is ≥ 100."""

    params = (["jacobian", "ntvp"],)
    param_names = ["method"]
    timeout = 300
    unit = "ratio"

    def setup(self, method):
        common.set_threads()
        common.check_feasible(method, **PAPER_SCALE, time_limit=30.0)  # ntvp: ~10 s
        self.net, self.p, self.x = common.problem(**PAPER_SCALE)

    def track_speedup_of_structured(self, method):
        other = common.best_time(lambda: nb.empirical_ntk(self.net, self.p, self.x, method=method),
                                 min_repeat=1, max_repeat=2, budget=0.0)
        return other / common.best_time(lambda: nb.empirical_ntk(self.net, self.p, self.x))
