"""Statistical power of a check: its noise band, its bias and how surely it rejects the alternatives it names.

A check's tolerance is the measured noise of reseeded runs (:func:`noise_tolerance`), never the offset between
the measurement and the theory: that offset is the *bias* (:func:`bias`), reported in units of its standard error
and called ``biased`` beyond :data:`BIAS_LIMIT`. A science check names the values a competing explanation predicts
(:class:`ntkbench.harness.registry.Alternative`); its *power* against one is the probability that a run whose true value
were the alternative would fail the check, at the measured spread (:func:`fail_probability`). Below
:data:`POWER_GOAL` the check is ``not discriminating`` — its own outcome, never a pass — and
:func:`cost_factor` says how much more data (cost ∝ 1/variance) it would need.

The spread comes from the check's calibration record (K reseeded runs, ``ntkbench calibrate``) when one exists
at the run's parameters, else from the run's own 95 % interval (a bootstrap or t interval over its seeds), said
in ``power_source``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, stats

from . import store

FALSE_ALARM = 0.01
POWER_GOAL = 0.99
BIAS_LIMIT = 3.0  # |x̄ − expected| in standard errors s/√K beyond which a check is biased
RULE = ("noise band: a 99 % normal prediction interval for one new reseeded run from the K valid reseeds (sample "
        "SD s), centred on the theory's value: within: t(0.995, K−1)·s·√(1 + 1/K); below/above: t(0.99, K−1)·s·√(1 + "
        "1/K). The offset of the reseeds' mean x̄ from the theory is the bias, reported in standard errors s/√K "
        "(biased beyond 3), never added to the band. Power against an alternative a: the probability that a run "
        "drawn from N(a, s²) fails the check; goal ≥ 99 %.")


def finite(values: Sequence[float]) -> np.ndarray:
    return np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)


def noise_factor(k: int, mode: str) -> float:
    """t·√(1 + 1/K): the noise band in units of the reseeds' SD (two-sided for ``within``, one-sided else)."""
    q = 1 - FALSE_ALARM / 2 if mode == "within" else 1 - FALSE_ALARM
    return float(stats.t.ppf(q, k - 1)) * math.sqrt(1.0 + 1.0 / k)


def noise_tolerance(values: Sequence[float], mode: str) -> float:
    """The band that a new reseeded run misses with probability ≤ 1 % *if the check is unbiased* (:data:`RULE`);
    NaN with fewer than 2 finite values. The bias is not in it."""
    v = finite(values)
    if v.size < 2:
        return math.nan
    return noise_factor(v.size, mode) * float(v.std(ddof=1))


def bias(values: Sequence[float], expected: float) -> dict[str, float | bool]:
    """x̄ − expected, its standard error s/√K, the ratio (``bias_se``) and ``biased`` (|ratio| > 3). Meaningful where
    ``expected`` is the theory's value (a ``within`` check), not where it is a threshold (a one-sided bound)."""
    v = finite(values)
    if v.size < 2:
        return {"bias": math.nan, "se": math.nan, "bias_se": math.nan, "biased": False}
    b, se = float(v.mean()) - expected, float(v.std(ddof=1)) / math.sqrt(v.size)
    z = b / se if se > 0 else (0.0 if b == 0 else math.copysign(math.inf, b))
    return {"bias": b, "se": se, "bias_se": z, "biased": bool(abs(z) > BIAS_LIMIT)}


def fail_probability(expected: float, tolerance: float, mode: str, true_value: float, sd: float,
                     relative: bool = False) -> float:
    """P(the check fails) for a measurement drawn from N(true_value, sd²); sd = 0: 0 or 1. ``relative``: ``sd`` is a
    coefficient of variation and the measurement log-normal about a positive ``true_value`` (a ratio whose noise
    scales with it)."""
    lo, hi = {"within": (expected - tolerance, expected + tolerance), "below": (-math.inf, expected + tolerance),
              "above": (expected - tolerance, math.inf)}[mode]
    if not lo <= hi:
        return 1.0
    if relative:
        if not true_value > 0:
            raise ValueError(f"a relative spread needs a positive alternative, got {true_value!r}")
        lo, hi, true_value = (math.log(lo) if lo > 0 else -math.inf), (math.log(hi) if hi > 0 else -math.inf), \
            math.log(true_value)
        if hi == -math.inf:
            return 1.0
    if not sd > 0:
        return float(not lo <= true_value <= hi)
    inside = stats.norm.cdf((hi - true_value) / sd) - stats.norm.cdf((lo - true_value) / sd)
    return float(1.0 - inside)


def cost_factor(expected: float, tolerance: float, mode: str, alternative: float, sd: float, k: int,
                relative: bool = False) -> float:
    """How many times the data (members, test points, reseeded draws: cost ∝ 1/variance) the check would need for
    power ≥ :data:`POWER_GOAL` against ``alternative``: (sd/sd*)², sd* the largest spread that reaches it. A
    ``within`` band is noise, so it shrinks with the spread (t·√(1 + 1/K)·sd*); a one-sided bound stays where it
    is. 1 when the power is already reached; inf when no spread reaches it (the band contains the alternative)."""
    if not sd > 0 or fail_probability(expected, tolerance, mode, alternative, sd, relative) >= POWER_GOAL:
        return 1.0

    def band(s: float) -> float:
        if mode != "within":
            return tolerance
        return noise_factor(k, mode) * s * (abs(expected) if relative else 1.0)

    def gap(s: float) -> float:
        return fail_probability(expected, band(s), mode, alternative, s, relative) - POWER_GOAL

    if gap(sd) >= 0:  # the noise band of this spread would already reach the goal: the band in force is wider
        return 1.0
    lo = sd
    for _ in range(200):
        lo /= 2
        if gap(lo) > 0:
            break
    else:
        return math.inf
    s_star = optimize.brentq(gap, lo, sd, xtol=sd * 1e-9)
    return float((sd / s_star) ** 2)


def alternatives_power(expect: Mapping[str, Any], sd: float, k: int, mean: float = math.nan) -> list[dict[str, Any]]:
    """Per alternative of a check (a result's check dict: expected, tolerance, mode, spread, alternatives): its
    power at spread ``sd`` (measured about ``mean``; with ``spread="relative"`` as the coefficient of variation
    sd/|mean|) and the cost factor to reach the goal. A ``standardized`` statistic has spread 1 under each
    alternative by construction, whatever ``sd``: its power is its level, and more data cannot raise it (cost 1 or
    inf)."""
    if expect.get("spread") == "standardized":
        out = []
        for a in expect.get("alternatives") or ():
            p = fail_probability(expect["expected"], expect["tolerance"], expect["mode"], a["value"], 1.0)
            out.append({**a, "power": p, "cost_factor": 1.0 if p >= POWER_GOAL else math.inf})
        return out
    relative = expect.get("spread") == "relative"
    if relative:
        sd = sd / abs(mean) if math.isfinite(mean) and mean != 0 else math.nan
    out = []
    for a in expect.get("alternatives") or ():
        if not math.isfinite(sd):
            out.append({**a, "power": math.nan, "cost_factor": math.nan})
            continue
        p = fail_probability(expect["expected"], expect["tolerance"], expect["mode"], a["value"], sd, relative)
        out.append({**a, "power": p, "cost_factor": cost_factor(expect["expected"], expect["tolerance"],
                                                                 expect["mode"], a["value"], sd, k, relative)})
    return out


def detection(expect: Mapping[str, Any], values: Sequence[float]) -> dict[str, Any]:
    """The *sensitivity* of a significance test (a ``standardized`` check: a z that every run of an alternative
    draws from N(a, 1) or below, so its level against them is fixed by construction): the probability that a run
    under the theory passes, at the mean x̄ and SD s of the calibration's reseeds (its false-alarm rate is
    1 − sensitivity). Below :data:`POWER_GOAL` the effect is under the noise at this cost and the check is not
    discriminating — a failure is then no evidence against the theory, a pass none for it. ``sensitivity_cost``:
    the data factor c at which it would reach the goal if the effect's mean grows like √c at the same spread,
    ((threshold + z₀.₉₉·s)/x̄)²; inf when the reseeds' mean shows no effect (x̄ within 3 s/√K of 0 or on the wrong
    side), where this profile gives no estimate."""
    v = finite(values)
    if v.size < 2:
        return {"sensitivity": math.nan, "sensitivity_cost": math.nan}
    mean, sd = float(v.mean()), float(v.std(ddof=1))
    if expect["mode"] == "above":  # pass when x ≥ threshold
        threshold, m = expect["expected"] - expect["tolerance"], mean
    else:  # "below", mirrored: pass when −x ≥ −(expected + tolerance)
        threshold, m = -(expect["expected"] + expect["tolerance"]), -mean
    sens = float(stats.norm.sf((threshold - m) / sd)) if sd > 0 else float(m >= threshold)
    if sens >= POWER_GOAL:
        cost = 1.0
    elif m > BIAS_LIMIT * sd / math.sqrt(v.size) and m > 0:
        cost = float(((threshold + stats.norm.ppf(POWER_GOAL) * sd) / m) ** 2)
    else:
        cost = math.inf
    return {"sensitivity": sens, "sensitivity_cost": cost}


def significance_test(expect: Mapping[str, Any], values: Sequence[float]) -> dict[str, Any]:
    """A ``standardized`` check judged: its alternatives' power (the level, :func:`alternatives_power`), the least
    of them, its sensitivity from the reseeds' ``values`` (:func:`detection`) and ``discriminating`` (both ≥
    :data:`POWER_GOAL`; None while the sensitivity is unknown)."""
    alternatives = alternatives_power(expect, 1.0, 10)
    out = {"alternatives": alternatives, "power": min(a["power"] for a in alternatives), **detection(expect, values)}
    out["discriminating"] = (None if not math.isfinite(out["sensitivity"]) else
                             bool(out["power"] >= POWER_GOAL and out["sensitivity"] >= POWER_GOAL))
    return out


def undecided(checks: Sequence[Mapping[str, Any]]) -> list[str]:
    """The failed science checks of a result whose failure is no evidence against the theory: significance tests
    (``standardized``) that the calibration shows cannot detect the theory's effect at this cost."""
    return [c.get("name", "?") for c in checks if c.get("role") == "science" and c.get("passed") is False
            and c.get("spread") == "standardized" and c.get("discriminating") is False]


def claim_outcome(status: str, checks: Sequence[Mapping[str, Any]]) -> str:
    """A valid claim run's outcome from its status and judged checks: ``as predicted`` when it passed and every
    science check discriminates; ``not discriminating`` when one does not, or when the only checks that failed are
    significance tests that cannot detect the effect at this cost (:func:`undecided`); else ``not as
    predicted``."""
    if status == "pass":
        return "not discriminating" if weak_checks(checks) else "as predicted"
    failed = [c.get("name", "?") for c in checks if c.get("passed") is False and c.get("role") != "precondition"]
    if failed and set(failed) <= set(undecided(checks)):
        return "not discriminating"
    return "not as predicted"


def sd_from_interval(interval: Sequence[float]) -> float:
    """The spread a run's own 95 % interval implies (half-width / 1.96); NaN when it has none."""
    lo, hi = (float(x) for x in interval) if len(interval) == 2 else (math.nan, math.nan)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return math.nan
    return (hi - lo) / (2 * float(stats.norm.ppf(0.975)))


# ----- the calibration a run is judged with ----------------------------------------------------------------------
def baseline_folder() -> Path:
    """The committed results of a source checkout (``results/`` beside the package), where the calibration
    records live."""
    return Path(__file__).resolve().parents[2] / "results"


def find_record(claim_id: str, control: str | None, profile: str, params: Mapping[str, Any],
                folders: Sequence[Path]) -> dict[str, Any] | None:
    """The first calibration record of (claim, control) at ``profile`` in ``folders`` whose parameters (less
    ``seed_offset``) are ``params``; None when none applies (a run with overrides is not the calibrated one)."""
    want = {k: v for k, v in _plain(params).items() if k != "seed_offset"}
    for folder in folders:
        path = store.calibration_path(folder, profile, claim_id, control)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or not isinstance(record.get("params"), dict):
            continue
        have = {k: v for k, v in record["params"].items() if k != "seed_offset"}
        if have == want:
            return {**record, "_path": str(path)}
    return None


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}))


def weak_checks(checks: Sequence[Mapping[str, Any]]) -> list[str]:
    """The names of a result's science checks judged not discriminating (power below :data:`POWER_GOAL`)."""
    return [c.get("name", "?") for c in checks if c.get("role") == "science" and c.get("discriminating") is False]


def power_percent(p: float) -> str:
    """A power as a percentage, rounded down below :data:`POWER_GOAL` (98.6 %, never a misleading "99 %")."""
    if p >= POWER_GOAL:
        return f"{100 * p:.0f} %"
    return f"{math.floor(1000 * p) / 10:.1f} %"


def judge(checks: list[dict[str, Any]], record: Mapping[str, Any] | None) -> None:
    """Add to each science check of a claim's result (in place): ``power`` (the least over its alternatives),
    ``alternatives`` with their power and cost factor, ``power_source``, ``discriminating`` (power ≥ 99 %) and,
    from a calibration record, ``bias_se`` and ``biased``. The spread is the record's SD of that check over its
    reseeds, else the run's own interval (:func:`sd_from_interval`), else unknown (power NaN: not judged)."""
    quantities = (record or {}).get("quantities") or {}
    for c in checks:
        if c.get("role") != "science" or not c.get("alternatives"):
            continue
        q = quantities.get(c["name"]) or {}
        v = finite(q.get("values") or [])
        if c.get("spread") == "standardized":
            c.update(significance_test(c, v))
            c["power_source"] = ("the statistic's construction (level); sensitivity: "
                                 + (f"calibration: {v.size} reseeds" if v.size >= 2 else "none (no calibration "
                                                                                           "record)"))
            continue
        if v.size >= 2:
            sd, k, mean = float(v.std(ddof=1)), int(v.size), float(v.mean())
            source = f"calibration: {k} reseeds"
            if c["mode"] == "within":
                c.update({key: val for key, val in bias(v, c["expected"]).items() if key in ("bias_se", "biased")})
        else:  # as if calibrated with K = 10 reseeds (what `ntkbench calibrate` runs by default)
            sd, k, mean = sd_from_interval(c.get("interval") or ()), 10, c["measured"]
            source = "the run's own 95 % interval"
        if not math.isfinite(sd):
            c.update(power=math.nan, power_source="none (no calibration record, no interval)", discriminating=None)
            continue
        c["alternatives"] = alternatives_power(c, sd, k, mean)
        if not all(math.isfinite(a["power"]) for a in c["alternatives"]):
            c.update(power=math.nan, power_source=source + " (no spread)", discriminating=None)
            continue
        c["power"] = min(a["power"] for a in c["alternatives"])
        c["power_source"] = source
        c["discriminating"] = bool(c["power"] >= POWER_GOAL)
