"""Synthetic data for the science checks (issue 34's rule: each science check fails on data made under the
alternative it names and passes on data made under the theory). The check is always the registered one, at the
``ci`` profile's parameters: its fit reads the synthetic rows, its expectation judges the value."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ntkbench.harness.registry import Expect, get


def registered(claim_id: str, name: str, profile: str = "ci", overrides: Mapping[str, Any] | None = None):
    """(check, expectation, params) of the science check ``name`` (e.g. ``slope[L=2]``) of ``claim_id``."""
    claim = get(claim_id)
    params = claim.resolve(profile, overrides)
    for check in claim.checks:
        for e in check.expect(params):
            if e.name == name:
                assert e.role == "science", f"{claim_id} {name} is a {e.role} check"
                return check, e, params
    raise KeyError(f"{claim_id} has no check {name!r}")


def alternative(expect: Expect, which: int = 0) -> float:
    """The value of the ``which``-th alternative the registered check names."""
    return expect.alternatives[which].value


def verdicts(claim_id: str, name: str, make: Callable[[int, Mapping[str, Any]], pd.DataFrame],
             seeds: Iterable[int] = range(10), **kw) -> tuple[list[bool], list[float]]:
    """Judge the registered check on ``make(seed, params)`` for every seed: (passed per seed, measured values)."""
    check, e, params = registered(claim_id, name, **kw)
    values = [check.fit(make(s, params), params)[name].value for s in seeds]
    return [e.passes(v) for v in values], values


def lognormal(rng: np.random.Generator, sigma: float, size: int | tuple[int, ...] = ()) -> np.ndarray:
    """exp(N(0, sigma²)) draws: multiplicative measurement noise."""
    return np.exp(rng.normal(0.0, sigma, size))
