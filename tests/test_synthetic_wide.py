"""Synthetic rows for every science check of family E (issue 34's rule): each check, registered and judged at the
``ci`` profile's parameters, passes on rows made under the theory and fails on rows made under each alternative it
names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ntkbench.harness.registry import get

from synthetic import alternative, lognormal, registered, verdicts

Make = Callable[[int, Mapping[str, Any]], pd.DataFrame]
NOISE = 0.03  # multiplicative noise of one member's value (a few % — below the calibrated spreads)
RATE_NOISE = 2e-5  # relative noise of one design's fitted rate (its calibrated spread, with λ_min isolated)


def power_rows(column: str, exponent: float, x: str = "width", extra: Mapping[str, Any] | None = None) -> Make:
    """Rows of ``column`` = x^exponent × lognormal noise, per seed and x (for every init when the claim has one)."""

    def make(seed: int, params: Mapping[str, Any]) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        xs = params["widths"] if x == "width" else [params["draws"] // f for f in (8, 4, 2, 1)]
        rows = []
        for init in params.get("init", ("lecun",)):
            for s in range(params["seeds"]):
                for v in xs:
                    row = {"seed": s, "init": init, x: v, column: float(v) ** exponent * lognormal(rng, NOISE)}
                    if x == "draws":
                        row["width"] = max(params["widths"])
                    row.update(extra or {})
                    rows.append(row)
        return pd.DataFrame(rows)

    return make


def gp_rows(kurt: float = -1.0, p_wide: float = 0.3, p_narrow: float = 1e-30) -> Make:
    def make(seed: int, params: Mapping[str, Any]) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        rows = []
        for s in range(params["seeds"]):
            for n in params["widths"]:
                for f in (8, 4, 2, 1):
                    rows.append({"seed": s, "width": n, "draws": params["draws"] // f,
                                 "cov_err": (params["draws"] // f) ** -0.5 * lognormal(rng, NOISE),
                                 "abs_kurtosis": 15.0 * n ** kurt * lognormal(rng, NOISE),
                                 "p_min": p_wide if n == max(params["widths"]) else p_narrow,
                                 "p_max": p_narrow if n == min(params["widths"]) else p_wide, "k2": 1.0})
        return pd.DataFrame(rows)

    return make


def rate_rows(ratio: float) -> Make:
    def make(seed: int, params: Mapping[str, Any]) -> pd.DataFrame:
        import math

        rng = np.random.default_rng(seed)
        r = -math.log(1 - params["lr_scale"] * params["eig_min"])
        return pd.DataFrame([{"seed": s, "rate": ratio * r * (1 + RATE_NOISE * rng.standard_normal())}
                             for s in range(params["seeds"])])

    return make


MODELS: dict[tuple[str, str], Callable[[float], Make]] = {
    ("wide/ntk-limit", "slope-lecun"): lambda p: power_rows("rel_err", p),
    ("wide/ntk-limit", "slope-ntk"): lambda p: power_rows("rel_err", p),
    ("wide/lazy-movement", "slope-lecun"): lambda p: power_rows("movement", p),
    ("wide/lazy-movement", "slope-ntk"): lambda p: power_rows("movement", p),
    ("wide/lazy-movement", "hidden-share"): lambda p: power_rows("hidden_share", p),
    ("wide/linearization-gap", "slope-lecun"): lambda p: power_rows("gap", p),
    ("wide/linearization-gap", "slope-ntk"): lambda p: power_rows("gap", p),
    ("wide/gp-init", "cov-slope"): lambda p: power_rows("cov_err", p, x="draws"),
    ("wide/gp-init", "kurt-slope"): lambda p: gp_rows(kurt=p),
    ("wide/gp-init", "normal-wide"): lambda p: gp_rows(p_wide=10.0**p),  # the checks read log10 p
    ("wide/gp-init", "normal-narrow"): lambda p: gp_rows(p_narrow=10.0**p),
    ("wide/lsq-projection", "rate"): rate_rows,
}
THEORY = {"normal-wide": -0.5, "normal-narrow": -30.0}  # log10 p under the theory


def science_checks() -> list[tuple[str, str, int]]:
    out = []
    for claim_id in ("wide/ntk-limit", "wide/lazy-movement", "wide/linearization-gap", "wide/gp-init",
                     "wide/lsq-projection"):
        claim = get(claim_id)
        params = claim.resolve("ci")
        for e in claim.expect(params):
            if e.role == "science":
                out += [(claim_id, e.name, i) for i in range(len(e.alternatives))]
    return out


def test_every_science_check_has_a_model():
    names = {(c, n) for c, n, _ in science_checks()}
    assert names == set(MODELS)


@pytest.mark.parametrize(("claim_id", "name"), sorted({(c, n) for c, n, _ in science_checks()}))
def test_science_check_passes_under_the_theory(claim_id, name):
    _, e, _ = registered(claim_id, name)
    theory = THEORY.get(name, e.expected)
    passed, values = verdicts(claim_id, name, lambda s, p: MODELS[(claim_id, name)](theory)(s, p))
    assert all(passed), values


@pytest.mark.parametrize(("claim_id", "name", "which"), science_checks())
def test_science_check_fails_under_each_alternative(claim_id, name, which):
    _, e, _ = registered(claim_id, name)
    alt = alternative(e, which)
    passed, values = verdicts(claim_id, name, lambda s, p: MODELS[(claim_id, name)](alt)(s, p))
    assert not any(passed), (alt, values)
