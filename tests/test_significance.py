"""ntkbench.significance: the one-sided test's z is N(0, 1) under its null, grows with a real effect, and refuses
input it cannot test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ntkbench import significance


def test_z_matches_the_t_distribution():
    x = [-0.6, -1.5, -0.5, -1.6, -0.7, -1.1]
    r = significance.mean_below_zero(x)
    t = np.mean(x) / (np.std(x, ddof=1) / math.sqrt(6))
    assert r.t == pytest.approx(t, rel=1e-12) and r.p == pytest.approx(stats.t.cdf(t, 5), rel=1e-12)
    assert r.z == pytest.approx(stats.norm.isf(r.p), rel=1e-12) and r.z > 2.9 and r.n == 6


def test_under_the_null_z_is_standard_normal_and_its_level_holds():
    rng = np.random.default_rng(0)
    z = np.array([significance.mean_below_zero(rng.normal(0.0, 1.0, 6)).z for _ in range(4000)])
    assert abs(z.mean()) < 0.06 and abs(z.std() - 1) < 0.05
    assert (z >= 3).mean() <= 0.005  # nominal 0.13 %
    above = np.array([significance.mean_below_zero(rng.normal(0.5, 1.0, 6)).z for _ in range(500)])
    assert (above >= 3).mean() == 0 and above.mean() < -1  # a loss, not a gain: z below the null's


def test_degenerate_and_invalid_samples():
    assert significance.mean_below_zero([0.0, 0.0]).z == 0.0
    assert significance.mean_below_zero([-1.0, -1.0]).z == significance.Z_CAP
    assert significance.mean_below_zero([-50 + 0.01 * k for k in range(20)]).z == significance.Z_CAP  # p below 1e-15
    with pytest.raises(ValueError, match="samples"):
        significance.mean_below_zero([1.0])
    with pytest.raises(ValueError, match="finite"):
        significance.mean_below_zero([1.0, math.nan])
