"""Check builders: each returns a :class:`~ntkbench.harness.registry.Check` — the fit of one measured quantity over the
rows of all sweep points, together with its expectation — so that a claim lists its checks in a few lines.

* :func:`power_law_slope`: the exponent of a power law (log-log slope of the per-x mean over seeds, bootstrap CI
  over seeds; :func:`ntkbench.fit.power_law`), kept with its fitted line for the figure;
* :func:`bound`: a reduction (max, mean) of a column that must stay below (or above) a bound, e.g. round-off;
* :func:`ratio`: the ratio of the means of two columns (or of their per-row ratio);
* :func:`statistic`: any other scalar of the rows;
* :func:`converged`: the precondition that every trained member reached its training threshold.

``per="depth"`` makes one check per value of the list parameter ``depth`` (named ``name[L=2]``, ``name[L=3]``);
``expected`` may then be a function of that value, and :func:`statistic`'s ``at`` may restrict the check to the
values where its quantity is defined (e.g. the depths whose sweep reaches an asymptotic range fixed in advance).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .. import fit
from ..harness.spec import Alternative, Check, Expect, FittedLine, Measurement

LABELS = {"depth": "L", "width": "m", "sigma": "σ"}
Expected = float | Callable[..., float]  # a constant, f(per-value) or f(per-value, params)
#: the alternatives a science check rules out: (value, which explanation predicts it), the value an Expected
Alternatives = Sequence[tuple[Expected, str]]
#: where a ``per`` check applies: f(per-value, params) → bool (None: at every value)
At = Callable[[Any, Mapping[str, Any]], bool] | None


def _label(per: str | None, value: Any) -> str:
    return "" if per is None else f"[{LABELS.get(per, per)}={value}]"


def _groups(data: pd.DataFrame, per: str | None, params: Mapping[str, Any] | None = None, at: At = None):
    if per is None:
        return [(None, data)]
    return [(key, d) for key, d in data.groupby(per) if at is None or at(key, params)]


def _expects(name: str, per: str | None, params: Mapping[str, Any], expected: Expected, tolerance: float,
             reason: str, mode: str, role: str = "science", alternatives: Alternatives = (),
             spread: str = "absolute", at: At = None) -> tuple[Expect, ...]:
    values = [None] if per is None else [v for v in params[per] if at is None or at(v, params)]
    return tuple(Expect(name + _label(per, v), _expected(expected, v, params), tolerance, reason, mode=mode, role=role,
                        alternatives=tuple(Alternative(_expected(a, v, params), why) for a, why in alternatives),
                        spread=spread)
                 for v in values)


def _expected(expected: Expected, value: Any, params: Mapping[str, Any]) -> float:
    """``expected`` as a number: a constant, f(per-value) or f(per-value, params) (a bound that scales with the
    swept widths)."""
    if not callable(expected):
        return float(expected)
    try:
        n_args = len(inspect.signature(expected).parameters)
    except (TypeError, ValueError):
        n_args = 1
    return float(expected(value, params) if n_args >= 2 else expected(value))


#: the reason of a tolerance set by the rule of :mod:`ntkbench.harness.power` (the numbers live in the record, not here)
NOISE_BAND = ("Tolerance: the noise band of the claim's calibration at ci (K = 10 reseeds of the initializations and "
              "the data split; results/ci/calibration/), never the offset from the theory: that offset is the bias, "
              "reported in standard errors with the power against each alternative in the record and the report.")
#: the reason of a control's landing tolerance
LANDING_BAND = ("the control's own noise band: a 99 % prediction interval for one run from its calibration at ci (K = "
                "10 reseeds; results/ci/calibration/)")
#: the reason of a one-sided threshold that lies between the theory's values and the alternative's
THRESHOLD = ("The bound lies between the claim's calibrated values and the alternative; the power against the "
             "alternative, at the calibrated spread, is in the record (results/ci/calibration/) and the report.")
#: where a check's calibrated values are (its reseeds' mean, SD, pass rate and bias, and its power): not in its reason
CALIBRATED = ("its values over the calibration's reseeds at ci (mean, SD, pass rate, bias, and the power against each "
              "alternative) are in the record (results/ci/calibration/) and the report")

Rows = Callable[[pd.DataFrame, Mapping[str, Any]], pd.DataFrame]


def power_law_slope(name: str, column: str, *, x: str, expected: Expected, tolerance: float, reason: str,
                    alternatives: Alternatives = (), per: str | None = None, fit_min: str | None = None,
                    mode: str = "within", rows: Rows | None = None, role: str = "science",
                    average: str = "mean", at: At = None) -> Check:
    """Exponent p of ``column ∝ x^p``: log-log OLS of the per-x mean (``average="geometric"``: the geometric mean,
    for heavy-tailed values whose logarithm has finite moments) over seeds (the ``seed`` column), percentile
    bootstrap CI over seeds, fitted over x ≥ params[fit_min] (an analysis parameter) when given, on the rows that
    ``rows(data, params)`` keeps (applied per group) when given. The method text lists the local slopes between
    consecutive x and their curvature (last − first), so the approach to the asymptote is visible. ``at``: as for
    :func:`statistic`."""
    if at is not None and per is None:
        raise ValueError(f"power_law_slope {name!r}: at needs per (the parameter whose values it selects)")

    def fit_(data: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Measurement]:
        lo = params[fit_min] if fit_min else None
        out = {}
        for key, d in _groups(data, per, params, at):
            if rows is not None:
                d = rows(d, params)
            r = fit.power_law(d[x], d[column], d["seed"], x_range=(lo, None), average=average)
            trail = local_slope_text(d[x], d[column], d["seed"])
            xs = d[x][d[x] >= lo] if lo is not None else d[x]
            line = FittedLine(r.params["A"], r.exponent, float(xs.min()), float(xs.max()))
            out[name + _label(per, key)] = Measurement(r.exponent, r.ci, f"{r.method}; local slopes {trail}", line)
        return out

    return Check(fit_, lambda params: _expects(name, per, params, expected, tolerance, reason, mode, role,
                                               alternatives, at=at))


def local_slope_text(x: pd.Series, y: pd.Series, seed: pd.Series) -> str:
    """The local log-log slopes between consecutive x (per-x mean over seeds) and their curvature (last − first), as
    text for a method: the approach to the asymptote."""
    local = fit.local_slopes(x, y, seed)
    trail = ", ".join(f"{a:g}→{b:g}: {s:.2f}" for a, b, s in zip(local.x_lo, local.x_hi, local.slope, strict=True))
    if len(local.slope) > 1:
        slopes = np.asarray(local.slope, dtype=float)
        trail += f" (curvature {slopes[-1] - slopes[0]:+.2f})"
    return trail


def largest(d: pd.DataFrame, x: str = "width") -> pd.DataFrame:
    """The rows at the largest value of ``x`` (the most asymptotic point of a sweep)."""
    return d[d[x] == d[x].max()]


REDUCTIONS: dict[str, Callable[[pd.Series], float]] = {"max": lambda s: float(s.max()),
                                                        "mean": lambda s: float(s.mean()),
                                                        "min": lambda s: float(s.min()),
                                                        "median": lambda s: float(s.median())}


def bound(name: str, column: str, *, tolerance: float, reason: str, expected: Expected = 0.0, reduce: str = "max",
          mode: str = "below", per: str | None = None, alternatives: Alternatives = (), role: str = "science") -> Check:
    """``reduce`` (max, mean, min, median) of ``column`` over the rows, against a bound (``mode="below"``:
    ≤ expected + tolerance)."""
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce={reduce!r} is not one of {tuple(REDUCTIONS)}")

    def fit_(data: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Measurement]:
        return {name + _label(per, key): Measurement(REDUCTIONS[reduce](d[column]),
                                                     method=f"{reduce} over {len(d)} rows")
                for key, d in _groups(data, per)}

    return Check(fit_, lambda params: _expects(name, per, params, expected, tolerance, reason, mode, role,
                                               alternatives))


def ratio(name: str, numerator: str, denominator: str, *, expected: Expected, tolerance: float, reason: str,
          mode: str = "within", per: str | None = None,
          rows: Callable[[pd.DataFrame, Mapping], pd.DataFrame] | None = None, paired: bool = False,
          alternatives: Alternatives = (), role: str = "science", spread: str = "relative") -> Check:
    """mean(numerator) / mean(denominator) over the rows (``paired=True``: the mean of the per-row ratios);
    ``rows(data, params)`` selects the rows first (e.g. the largest width)."""

    def fit_(data: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Measurement]:
        out = {}
        for key, d in _groups(data if rows is None else rows(data, params), per):
            if paired:
                value, how = float((d[numerator] / d[denominator]).mean()), "mean of per-row ratios"
            else:
                value, how = float(d[numerator].mean() / d[denominator].mean()), "ratio of means"
            out[name + _label(per, key)] = Measurement(value, method=f"{how} {numerator}/{denominator} over "
                                                                     f"{len(d)} rows")
        return out

    return Check(fit_, lambda params: _expects(name, per, params, expected, tolerance, reason, mode, role, alternatives,
                                               spread))


def statistic(name: str, value: Callable[[pd.DataFrame, Mapping[str, Any]], Measurement], *, expected: Expected,
              tolerance: float, reason: str, mode: str = "within", per: str | None = None,
              role: str = "science", alternatives: Alternatives = (), spread: str = "absolute",
              at: At = None) -> Check:
    """Any scalar of the rows: ``value(rows, params)`` returns the :class:`Measurement` (per group when ``per``;
    only at the groups where ``at(value, params)`` holds, when given); ``role="precondition"``: a condition of
    the set-up (a miss makes the run invalid, not a fail)."""
    if at is not None and per is None:
        raise ValueError(f"statistic {name!r}: at needs per (the parameter whose values it selects)")

    def fit_(data: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Measurement]:
        return {name + _label(per, key): value(d, params) for key, d in _groups(data, per, params, at)}

    return Check(fit_, lambda params: _expects(name, per, params, expected, tolerance, reason, mode, role, alternatives,
                                               spread, at))


def seed_mean(values: pd.Series, method: str) -> Measurement:
    """The mean of one value per seed with its 95 % Student-t interval (NaN ends for a single seed)."""
    mean = float(values.mean())
    if len(values) < 2:
        return Measurement(mean, method=method)
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return Measurement(mean, (mean - half, mean + half), method)


def converged(threshold: str = "threshold") -> Check:
    """Precondition ``not-converged ≤ 0``: the number of trained members (rows with a ``converged`` column) whose
    training loss never dropped below params[threshold]. When it fails the run is *invalid*: the experiment did
    not run as designed, which is no evidence for or against the theory."""

    def fit_(data: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Measurement]:
        data = data[data["converged"].notna()]  # rows of trained members (not, e.g., a group's summary row)
        missed = int((~data["converged"].astype(bool)).sum())
        limit = data["threshold"] if "threshold" in data else params[threshold]  # per row when swept
        if np.all(np.asarray(limit) == 0):  # trained until the loss is exactly 0 (a hinge loss)
            worst = f"worst final training loss = {float(data['train_loss'].max()):.3g} (trained to exactly 0)"
        else:
            worst = f"worst final training loss / threshold = {float((data['train_loss'] / limit).max()):.3g}"
        caps = ""
        if "step_cap" in data:
            lo, hi = int(data["step_cap"].min()), int(data["step_cap"].max())
            caps = f"; step caps {lo}" + (f"–{hi}" if hi != lo else "")
        return {"not-converged": Measurement(float(missed), method=f"{len(data) - missed}/{len(data)} trained "
                                             f"members reached the threshold; {worst}{caps}")}

    reason = ("every member is trained until ½‖f(X) − Y‖² < threshold, so the compared nets fit the data equally "
              "well (000 Fig. 3, 001 Fig. 5); a member that hits max_steps makes the run invalid, not a fail")
    return Check(fit_, lambda params: (Expect("not-converged", 0.0, 0.0, reason, mode="below", role="precondition"),))


def fitted_values(line: FittedLine, xs: np.ndarray) -> np.ndarray:
    """The fitted power law at ``xs``."""
    return line.amplitude * np.asarray(xs, dtype=float) ** line.exponent
