"""Infinite-width kernels ``analytic_ntk`` / ``analytic_nngp`` (arc-cosine recursion) at the n and depth
of the empirical-kernel grid. Cost O(n²·(d + depth)), independent of the width (width 1024 here)."""

from __future__ import annotations

import ntkbench as nb

from . import common

KERNELS = {"ntk": nb.analytic_ntk, "nngp": nb.analytic_nngp}


class AnalyticKernel:
    params = (list(KERNELS), list(common.N), list(common.DEPTHS), list(common.DS))
    param_names = ["kernel", "n", "depth", "d"]
    timeout = 120

    def setup(self, kernel, n, depth, d):
        common.set_threads()
        self.net = nb.MLP(d_in=d, width=1024, depth=depth)
        self.x = common.inputs(n, d)
        self.fn = KERNELS[kernel]
        common.warm_call(lambda: self.fn(self.net, self.x))
        common.reset_peak_rss()

    def time_analytic(self, kernel, n, depth, d):
        self.fn(self.net, self.x)

    def peakmem_analytic(self, kernel, n, depth, d):
        self.fn(self.net, self.x)
