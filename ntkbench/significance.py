"""Significance tests whose statistic is standardized under the alternative they test against.

A check built on one (``spread="standardized"``, :mod:`ntkbench.harness.power`) reads a z that every run of its
alternative
draws from N(0, 1) or below, so its level is fixed by construction (z ≥ 3: 0.13 %) and its calibration measures
the other side, how often the theory's effect is detected at the profile's cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: the z of a p-value below the float's resolution: a test this decisive is reported at this value, not as inf
Z_CAP = float(stats.norm.isf(1e-15))
#: an effect detected beyond the noise: z ≥ this (a run without the effect passes ≤ 0.13 % of the time)
Z_DETECT = 3.0


@dataclass(frozen=True)
class OneSided:
    """A one-sided test of "the mean of the samples is below 0": ``z`` = Φ⁻¹(1 − p) (capped at :data:`Z_CAP`),
    ``p`` its p-value, ``t`` the statistic, ``mean`` and ``sd`` of the samples, ``n`` their number."""

    z: float
    p: float
    t: float
    mean: float
    sd: float
    n: int


def mean_below_zero(samples: Sequence[float]) -> OneSided:
    """The one-sided t-test that the samples' mean is < 0 (e.g. per-seed log ratios variant/reference of paired
    runs: a gain), p = P(T_{n−1} ≤ t) with t = mean / (sd/√n), turned into z = Φ⁻¹(1 − p). Under a mean ≥ 0 and
    normal samples, z is N(0, 1) or below. Needs ≥ 2 finite samples (``samples`` with NaN or inf is refused: say
    which runs failed before testing); equal samples give ±:data:`Z_CAP` (or 0 when all are 0)."""
    x = np.asarray(samples, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"samples: need a 1-D sequence of at least 2 values, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("samples: every value must be finite")
    n, mean, sd = int(x.size), float(x.mean()), float(x.std(ddof=1))
    if sd == 0:
        t = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        p = 0.5 if mean == 0 else float(mean > 0)
    else:
        t = mean / (sd / math.sqrt(n))
        p = float(stats.t.cdf(t, n - 1))
    z = float(np.clip(stats.norm.isf(p), -Z_CAP, Z_CAP))
    return OneSided(z, p, t, mean, sd, n)
