"""The fits of ``ntkbench.fit`` with their bootstrap over seeds (B = 2000 resamples, the default): the
analysis every check runs, at the shapes of the sweeps (8–12 distinct x, 10 seeds). The bootstrap and the profiled
parameter of the nonlinear fits run on all resamples at once (``scipy.stats.bootstrap``,
``scipy.optimize.elementwise.find_minimum``)."""

from __future__ import annotations

import numpy as np

import ntkbench as nb


def _data(kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    if kind == "critical":
        x = np.repeat(np.linspace(1000, 5000, 12), 10)
        y = 7 * (x - 900) ** -1.0
    else:
        x = np.repeat(np.logspace(1, 4, 8), 10)
        y = 2 * x**-0.5 + (0.05 if kind in ("power_law_offset", "limit") else 0.0)
    seeds = np.tile(np.arange(10), x.size // 10)
    return x, y * np.exp(0.1 * rng.standard_normal(x.size)), seeds


class Fit:
    params = (["power_law", "power_law_offset", "limit", "critical"],)
    param_names = ["fit"]
    timeout = 60

    def setup(self, fit):
        self.fn = getattr(nb.fit, fit)
        self.args = _data(fit)
        self.kw = {"correction": -0.5} if fit == "limit" else {}

    def time_fit(self, fit):
        self.fn(*self.args, **self.kw)
