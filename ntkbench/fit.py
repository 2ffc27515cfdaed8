"""Exponent fits with confidence intervals: power laws, power laws on a floor, critical divergences, and limits with a
correction term of known exponent.

Conventions shared by every function of this module:

* **Inputs** are raw measurements: 1-D arrays ``x``, ``y`` of equal length and optionally ``groups`` (the seed
  of each measurement). Several points may share an ``x`` (one per seed); a seed need not appear at every ``x``.
  ``y`` must be > 0 everywhere (the fits are made in log space or in relative residuals).
* **Point estimate**: every fit is made to the per-x average ``ybar_j`` of all points at the distinct value
  ``x_j``, each distinct ``x`` weighted equally. ``average="mean"`` (default) is the arithmetic mean, i.e. the usual
  "mean test loss vs σ" curve, so the fitted law describes E[y]; ``average="geometric"`` uses exp(mean log y).
* **Sign of exponents**: ``power_law`` and ``power_law_offset`` report ``p`` in ``y ∝ x^p`` (the log-log slope,
  negative for a decay); ``critical`` reports ``alpha > 0`` in ``y ∝ (x − x_c)^(−alpha)``.
* **Confidence interval**: when ``groups`` holds ≥ 2 distinct labels, a percentile bootstrap over groups
  (``scipy.stats.bootstrap`` draws the resamples): seeds are drawn with replacement (all points of a drawn seed come
  along, which keeps the within-seed correlation across ``x``), the per-x averages and the whole fit are
  recomputed, ``n_boot`` times, vectorized over the resamples. Use ≥ 5 seeds:
  with fewer the bootstrap distribution is too coarse to be trusted; with 10 seeds a nominal 95% percentile
  interval covers the truth about 90% of the time (tests/test_fit.py measures it), so set check tolerances from
  the seed-to-seed spread, not from the CI alone. Otherwise a t interval of the least-squares fit of the per-x
  averages (exact OLS for ``power_law``, linearized/Wald for the nonlinear fits).
* Everything is deterministic given ``seed``; arrays come in, python floats come out.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import elementwise, minimize

__all__ = ["FitResult", "power_law", "power_law_offset", "limit", "critical", "critical_excess", "local_slopes",
           "asymptotic_range"]

AVERAGES = ("mean", "geometric")
MIN_BOOT = 100
_N_GRID = 401


# --------------------------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitResult:
    """One fitted exponent with its confidence interval.

    ``exponent`` is ``p`` in ``y ∝ x^p`` for kind ``"power_law"`` / ``"power_law_offset"`` and ``alpha > 0`` in
    ``y ∝ (x − x_c)^(−alpha)`` for kind ``"critical"``; for kind ``"limit"`` it is the correction's exponent, fixed
    by the caller (``ci`` = (p, p)). ``params`` holds the other fitted parameters (``A``: the prefactor; ``c``: the
    floor, or the limit; ``x_c``: the critical point). ``param_ci`` holds their bootstrap intervals (empty when the
    interval came from the t/Wald approximation; ``limit`` gives its t intervals there). ``n_points`` counts the raw
    points fitted (after ``x_range``); ``n_groups`` the bootstrap units (distinct seeds among them; 1 when ``groups``
    was not given).
    """

    kind: str
    exponent: float
    ci: tuple[float, float]
    level: float
    params: Mapping[str, float]
    n_points: int
    n_groups: int
    method: str
    param_ci: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "exponent", float(self.exponent))
        object.__setattr__(self, "ci", (float(self.ci[0]), float(self.ci[1])))
        object.__setattr__(self, "level", float(self.level))
        object.__setattr__(self, "params", MappingProxyType({k: float(v) for k, v in self.params.items()}))
        object.__setattr__(
            self,
            "param_ci",
            MappingProxyType({k: (float(v[0]), float(v[1])) for k, v in self.param_ci.items()}),
        )

    def contains(self, value: float, tol: float = 0.0) -> bool:
        """True when ``value`` lies in the CI widened by ``tol`` on each side; False when the CI is undefined."""
        lo, hi = self.ci
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return False
        return bool(lo - tol <= float(value) <= hi + tol)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly dict (tuples become lists)."""
        return {
            "kind": self.kind,
            "exponent": self.exponent,
            "ci": list(self.ci),
            "level": self.level,
            "params": dict(self.params),
            "param_ci": {k: list(v) for k, v in self.param_ci.items()},
            "n_points": self.n_points,
            "n_groups": self.n_groups,
            "method": self.method,
        }


# --------------------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------------------


def _array(name: str, a: Any) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D array of real numbers, got {type(a).__name__}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: it needs at least one value")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} contains NaN or infinite values (first at index {int(np.argmax(bad))})")
    return arr


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}")
    return value


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _level(level: Any) -> float:
    try:
        v = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level must be a number in (0, 1), got {level!r}") from None
    if not 0.0 < v < 1.0:
        raise ValueError(f"level must be in (0, 1) (e.g. 0.95), got {level!r}")
    return v


def _rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or a numpy Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def _pair(name: str, value: Any, *, open_ends: bool) -> tuple[float, float]:
    """A (lo, hi) pair of numbers with lo < hi (lo <= hi for ranges); None ends are open when allowed."""
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (lo, hi), got {value!r}") from None
    ends = []
    for end, default in ((lo, -math.inf), (hi, math.inf)):
        if end is None and open_ends:
            ends.append(default)
            continue
        try:
            v = float(end)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a pair of numbers (lo, hi), got {value!r}") from None
        if math.isnan(v) or (not open_ends and math.isinf(v)):
            raise ValueError(f"{name} must be a pair of {'' if open_ends else 'finite '}numbers, got {value!r}")
        ends.append(v)
    if not ends[0] < ends[1] and not (open_ends and ends[0] == ends[1]):
        raise ValueError(f"{name} must satisfy lo < hi, got {value!r}")
    return ends[0], ends[1]


@dataclass(frozen=True)
class _Data:
    """Measurements tabulated per (group, distinct x): S = sum of y (or log y), C = counts."""

    ux: np.ndarray  # (J,) distinct x, increasing
    S: np.ndarray  # (G, J)
    C: np.ndarray  # (G, J)
    geometric: bool
    n_points: int
    n_groups: int
    grouped: bool  # True when a bootstrap over groups is possible (>= 2 labels)

    def averages(self, W: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-x averages (B, J) for group weights W (B, G) (None: the data itself, B = 1), and their mask."""
        if W is None:
            W = np.ones((1, self.S.shape[0]))
        s, c = W @ self.S, W @ self.C
        mask = c > 0
        m = s / np.where(mask, c, 1.0)
        ybar = np.exp(m) if self.geometric else m
        return np.where(mask, ybar, 1.0), mask.astype(float)


def _prepare(
    x: Any,
    y: Any,
    groups: Any,
    *,
    x_range: Any = None,
    average: Any = "mean",
    min_x: int = 2,
    positive_x: bool = True,
    positive_y: bool = True,
) -> _Data:
    x = _array("x", x)
    y = _array("y", y)
    if y.shape != x.shape:
        raise ValueError(f"y has length {y.size} but x has length {x.size}: they must match")
    if positive_y and (y <= 0).any():
        raise ValueError(f"y must be > 0 everywhere (fits are in log space); y[{int(np.argmax(y <= 0))}] <= 0")
    if positive_x and (x <= 0).any():
        raise ValueError(f"x must be > 0 everywhere for a log-log fit; x[{int(np.argmax(x <= 0))}] <= 0")
    geometric = _choice("average", average, AVERAGES) == "geometric"
    if groups is None:
        gidx, n_groups = np.zeros(x.size, dtype=int), 1
    else:
        g = np.asarray(groups)
        if g.ndim != 1:
            raise ValueError(f"groups must be 1-D (one seed label per point), got shape {g.shape}")
        if g.shape != x.shape:
            raise ValueError(f"groups has length {g.size} but x has length {x.size}: they must match")
        if g.dtype.kind == "f" and not np.isfinite(g).all():
            raise ValueError("groups contains NaN or infinite labels")
        try:
            _, gidx = np.unique(g, return_inverse=True)
        except TypeError:
            raise ValueError("groups must hold sortable labels of one type (ints or strings)") from None
        gidx = gidx.ravel()
        n_groups = int(gidx.max()) + 1
    if x_range is not None:
        lo, hi = _pair("x_range", x_range, open_ends=True)
        keep = (x >= lo) & (x <= hi)
        x, y, gidx = x[keep], y[keep], gidx[keep]
    ux, xidx = np.unique(x, return_inverse=True)
    if ux.size < min_x:
        where = f" inside x_range={x_range!r}" if x_range is not None else ""
        raise ValueError(f"x needs at least {min_x} distinct values{where} for this fit, got {ux.size}")
    G, J = n_groups, ux.size
    S, C = np.zeros((G, J)), np.zeros((G, J))
    np.add.at(S, (gidx, xidx), np.log(y) if geometric else y)
    np.add.at(C, (gidx, xidx), 1.0)
    used = C.sum(axis=1) > 0
    S, C = S[used], C[used]
    n_used = int(used.sum())
    return _Data(ux, S, C, geometric, int(x.size), n_used, groups is not None and n_used >= 2)


def _bootstrap(data: _Data, estimate: Callable[[np.ndarray, np.ndarray], Mapping[str, np.ndarray]], n_boot: int,
               rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The bootstrap distributions of ``estimate`` (per-x averages ``ybar, mask`` (B, J) -> arrays (B, ...)) over
    resamples of the seeds: ``scipy.stats.bootstrap`` draws the seeds with replacement, ``n_boot`` times; each
    resample becomes the weights (B, G) of the seeds (how often each was drawn), and the fit runs on all resamples
    at once. The intervals are read from these distributions by :func:`_percentile` (which leaves out the resamples
    whose fit failed: scipy's own would be NaN then)."""
    G = data.S.shape[0]
    shapes: dict[str, tuple[int, ...]] = {}

    def statistic(draws: np.ndarray, axis: int = -1) -> np.ndarray:
        B = draws.shape[0]  # weights (B, G): how often each seed is drawn in each resample
        flat = (draws.astype(np.intp) + G * np.arange(B)[:, None]).ravel()
        weights = np.bincount(flat, minlength=B * G).reshape(B, G).astype(float)
        est = estimate(*data.averages(weights))
        shapes.update({k: np.shape(v)[1:] for k, v in est.items()})
        return np.concatenate([np.reshape(v, (len(weights), -1)).T for v in est.values()])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's own interval of a distribution with NaNs
        dist = stats.bootstrap((np.arange(G),), statistic, n_resamples=n_boot, vectorized=True, method="percentile",
                               rng=rng).bootstrap_distribution
    out, i = {}, 0
    for k, shape in shapes.items():
        size = int(np.prod(shape))
        out[k] = dist[i:i + size].T.reshape((n_boot, *shape))
        i += size
    return out


def _percentile(values: np.ndarray, level: float) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size < 10:
        return math.nan, math.nan
    lo, hi = np.quantile(v, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


def _avg_name(data: _Data) -> str:
    return "geometric mean" if data.geometric else "mean"


# --------------------------------------------------------------------------------------------------------------
# estimators, vectorized over B rows of per-x averages (ybar, mask: (B, J))
# --------------------------------------------------------------------------------------------------------------


def _ols(u: np.ndarray, ybar: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slope and intercept of log ybar on u (J,), row by row, masked points left out."""
    u0 = u.mean()
    uc = u - u0
    v = np.log(ybar) * mask
    n = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ubar = (mask @ uc) / n
        vbar = v.sum(axis=1) / n
        suu = mask @ uc**2 - n * ubar**2
        slope = (v @ uc - n * ubar * vbar) / suu
        ok = (n >= 2) & (suu > 1e-14 * np.maximum(mask @ uc**2, 1e-300))
        slope = np.where(ok, slope, np.nan)
        intercept = vbar - slope * (ubar + u0)
    return slope, intercept


def _minimize_rows(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray], grid: np.ndarray, F: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row minimizer of ``f(t, rows)`` (the objective of the given rows at t): the best point of the grid
    values F (B, K), refined between its two neighbours by scipy's vectorized bracket minimizer
    (``scipy.optimize.elementwise.find_minimum``, Chandrupatla's method, all rows at once). A row whose best grid
    point is an end of the grid keeps it (the callers warn about an estimate on its bounds); one with no finite
    value is NaN."""
    F = np.where(np.isfinite(F), F, np.inf)
    k = np.argmin(F, axis=1)
    rows = np.arange(F.shape[0])
    best_x, best_f = grid[k].astype(float), F[rows, k]
    inner = np.flatnonzero((k > 0) & (k < grid.size - 1) & np.isfinite(best_f))
    if inner.size:
        ki = k[inner]

        def objective(t: np.ndarray, r: np.ndarray) -> np.ndarray:
            val = f(t, r.astype(int))
            return np.where(np.isfinite(val), val, np.inf)

        with np.errstate(invalid="ignore", divide="ignore"):
            res = elementwise.find_minimum(objective, (grid[ki - 1], grid[ki], grid[ki + 1]), args=(inner,))
        better = np.isfinite(res.f_x) & (res.f_x < best_f[inner])
        best_x[inner] = np.where(better, res.x, best_x[inner])
        best_f[inner] = np.where(better, res.f_x, best_f[inner])
    best_x = np.where(np.isfinite(best_f), best_x, np.nan)
    return best_x, best_f


def _offset_solve(
    S0: np.ndarray, S1: np.ndarray, S2: np.ndarray, T0: np.ndarray, T1: np.ndarray, Tyy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """min over c >= 0, A >= 0 of sum w (y - c - A z)^2 from its normal-equation sums; returns sse, c, A."""
    with np.errstate(invalid="ignore", divide="ignore"):
        det = S0 * S2 - S1**2
        c_i = (S2 * T0 - S1 * T1) / det
        a_i = (S0 * T1 - S1 * T0) / det
        ok_i = (det > 1e-12 * S0 * S2) & (c_i >= 0) & (a_i >= 0)
        sse_i = np.where(ok_i, Tyy - c_i * T0 - a_i * T1, np.inf)
        a_1 = np.maximum(T1 / S2, 0.0)  # face c = 0
        sse_1 = Tyy - 2 * a_1 * T1 + a_1**2 * S2
        c_2 = np.maximum(T0 / S0, 0.0)  # face A = 0
        sse_2 = Tyy - 2 * c_2 * T0 + c_2**2 * S0
    sse = np.minimum(np.minimum(sse_i, sse_1), sse_2)
    c = np.where(sse == sse_i, c_i, np.where(sse == sse_1, 0.0, c_2))
    a = np.where(sse == sse_i, a_i, np.where(sse == sse_1, a_1, 0.0))
    return sse, c, a


def _offset_fit(
    lt: np.ndarray, ybar: np.ndarray, mask: np.ndarray, p_lo: float, p_hi: float
) -> dict[str, np.ndarray]:
    """y = c + A t^p with t = x / x0 (lt = log t), minimizing the relative residuals sum ((ybar - model)/ybar)^2."""
    w = mask / ybar**2
    wy = w * ybar
    S0, T0, Tyy = (w.sum(1)[:, None], wy.sum(1)[:, None], (wy * ybar).sum(1)[:, None])
    grid = np.linspace(p_lo, p_hi, _N_GRID)
    Z = np.exp(grid[:, None] * lt[None, :])  # (K, J)
    F, _, _ = _offset_solve(S0, w @ Z.T, w @ (Z**2).T, T0, wy @ Z.T, Tyy)

    def parts(p: np.ndarray, r: np.ndarray | slice = slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = np.exp(p[:, None] * lt[None, :])
        wr, wyr = w[r], wy[r]
        _, c, a = _offset_solve(S0[r, 0], (wr * z).sum(1), (wr * z * z).sum(1), T0[r, 0], (wyr * z).sum(1), Tyy[r, 0])
        return z, c, a

    def sse(p: np.ndarray, r: np.ndarray) -> np.ndarray:
        z, c, a = parts(p, r)
        return (w[r] * (ybar[r] - c[:, None] - a[:, None] * z) ** 2).sum(1)

    p, _ = _minimize_rows(sse, grid, F)
    _, c, a = parts(np.nan_to_num(p))
    return {"exponent": p, "c": np.where(np.isfinite(p), c, np.nan), "A_scaled": np.where(np.isfinite(p), a, np.nan)}


def _critical_fit(
    dx: np.ndarray, ybar: np.ndarray, mask: np.ndarray, s_lo: float, s_hi: float
) -> dict[str, np.ndarray]:
    """log y = log A − alpha log(dx + d), d = min(x) − x_c = exp(s), profiled over s (OLS in the other two)."""
    v = np.log(ybar) * mask
    n = mask.sum(1)[:, None]
    sv, svv = v.sum(1)[:, None], (v * v).sum(1)[:, None]
    grid = np.linspace(s_lo, s_hi, _N_GRID)
    U = np.log1p(dx[None, :] / np.exp(grid)[:, None])  # log(x − x_c) − log d, (K, J)
    su, suu, suv = mask @ U.T, mask @ (U**2).T, v @ U.T
    with np.errstate(invalid="ignore", divide="ignore"):
        cuu = suu - su**2 / n
        cuv = suv - su * sv / n
        F = (svv - sv**2 / n) - cuv**2 / cuu

    def sse(s: np.ndarray, r: np.ndarray) -> np.ndarray:
        u = np.log1p(dx[None, :] / np.exp(s)[:, None])
        slope, icpt = _ols_rows(u, v[r], mask[r])
        return (mask[r] * (v[r] - icpt[:, None] - slope[:, None] * u) ** 2).sum(1)

    s, _ = _minimize_rows(sse, grid, F)
    u = np.log1p(dx[None, :] / np.exp(np.nan_to_num(s))[:, None])
    slope, icpt = _ols_rows(u, v, mask)
    alpha = np.where(np.isfinite(s), -slope, np.nan)
    return {"exponent": alpha, "logA": icpt + alpha * s, "s": s}


def _ols_rows(u: np.ndarray, v: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masked OLS of v on u where u differs per row (both (B, J)); v already multiplied by the mask."""
    n = mask.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ubar = (mask * u).sum(1) / n
        vbar = v.sum(1) / n
        du = (u - ubar[:, None]) * mask
        slope = (du * v).sum(1) / (du * du).sum(1)
        icpt = vbar - slope * ubar
    return slope, icpt


# --------------------------------------------------------------------------------------------------------------
# t / Wald intervals (no groups)
# --------------------------------------------------------------------------------------------------------------


def _wald(resid: np.ndarray, jac: np.ndarray, index: int, level: float) -> tuple[tuple[float, float], int]:
    """t interval for parameter ``index`` of a least-squares fit, from the residuals and their Jacobian."""
    dof = resid.size - jac.shape[1]
    if dof < 1:
        return (math.nan, math.nan), dof
    try:
        cov = np.linalg.inv(jac.T @ jac) * float(resid @ resid) / dof
    except np.linalg.LinAlgError:
        return (math.nan, math.nan), dof
    se = math.sqrt(max(float(cov[index, index]), 0.0))
    half = float(stats.t.ppf(0.5 + level / 2.0, dof)) * se
    return (-half, half), dof


def _at_edge(value: float, lo: float, hi: float) -> bool:
    return abs(value - lo) <= 1e-6 * (hi - lo) or abs(value - hi) <= 1e-6 * (hi - lo)


# --------------------------------------------------------------------------------------------------------------
# public fits
# --------------------------------------------------------------------------------------------------------------


def _power_law_core(
    data: _Data, u: np.ndarray, *, n_boot: int, level: float, rng: np.random.Generator
) -> tuple[float, float, tuple[float, float], tuple[float, float] | None, str]:
    """Log-log OLS on per-x averages against u (J,): slope, intercept, slope CI, intercept CI, CI description."""
    ybar, mask = data.averages()
    slope, icpt = (float(a[0]) for a in _ols(u, ybar, mask))
    if data.grouped:
        b = _bootstrap(data, lambda yb, m: dict(zip(("slope", "icpt"), _ols(u, yb, m), strict=True)), n_boot, rng)
        return (slope, icpt, _percentile(b["slope"], level), _percentile(b["icpt"], level),
                _boot_text(data, n_boot, b["slope"]))
    v = np.log(ybar[0])
    resid = v - icpt - slope * u
    (lo, hi), dof = _wald(resid, np.column_stack([np.ones_like(u), u]), 1, level)
    return slope, icpt, (slope + lo, slope + hi), None, f"t interval of the OLS slope (df={dof})"


def _boot_text(data: _Data, n_boot: int, est: np.ndarray) -> str:
    n_ok = int(np.isfinite(est).sum())
    usable = "" if n_ok == n_boot else f", {n_ok} usable"
    return f"percentile bootstrap over {data.n_groups} seeds (B={n_boot}{usable})"


def power_law(
    x: Any,
    y: Any,
    groups: Any = None,
    *,
    x_range: tuple[float | None, float | None] | None = None,
    average: str = "mean",
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> FitResult:
    """Fit y = A x^p by OLS of log(ybar_j) on log(x_j) (ybar_j: per-x average); ``exponent`` is the slope p.

    ``x_range=(lo, hi)`` keeps only lo <= x <= hi (either end may be None). CI: bootstrap over ``groups`` when
    it holds >= 2 seeds, else the t interval of the OLS slope (needs >= 3 distinct x; with 2 it is NaN).
    """
    data = _prepare(x, y, groups, x_range=x_range, average=average, min_x=2, positive_x=True)
    n_boot, level, rng = _int("n_boot", n_boot, MIN_BOOT), _level(level), _rng(seed)
    u = np.log(data.ux)
    slope, icpt, ci, ici, how = _power_law_core(data, u, n_boot=n_boot, level=level, rng=rng)
    return FitResult(
        kind="power_law",
        exponent=slope,
        ci=ci,
        level=level,
        params={"A": math.exp(icpt)},
        param_ci={} if ici is None else {"A": (math.exp(ici[0]), math.exp(ici[1]))},
        n_points=data.n_points,
        n_groups=data.n_groups,
        method=f"log-log OLS of the per-x {_avg_name(data)} over {data.ux.size} distinct x; {how}",
    )


def power_law_offset(
    x: Any,
    y: Any,
    groups: Any = None,
    *,
    p_bounds: tuple[float, float] = (-10.0, 10.0),
    x_range: tuple[float | None, float | None] | None = None,
    average: str = "mean",
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> FitResult:
    """Fit y = c + A x^p with a floor c >= 0 and A >= 0 (e.g. ε_N = ε_∞ + B N^(−1/2), 004 Eq. 10).

    Minimizes sum_j ((ybar_j − c − A x_j^p) / ybar_j)^2, the relative (≈ log) residuals, which is linear in (c, A)
    for fixed p: (c, A) are solved exactly (with their bounds) and p is found by a grid over ``p_bounds`` refined by
    scipy's bracket minimizer (``elementwise.find_minimum``). x is scaled by its geometric mean internally for
    conditioning. Needs >= 3 distinct x.
    """
    data = _prepare(x, y, groups, x_range=x_range, average=average, min_x=3, positive_x=True)
    p_lo, p_hi = _pair("p_bounds", p_bounds, open_ends=False)
    n_boot, level, rng = _int("n_boot", n_boot, MIN_BOOT), _level(level), _rng(seed)
    x0 = float(np.exp(np.log(data.ux).mean()))
    lt = np.log(data.ux / x0)
    ybar, mask = data.averages()
    est = {k: float(v[0]) for k, v in _offset_fit(lt, ybar, mask, p_lo, p_hi).items()}
    p, c, a_s = est["exponent"], est["c"], est["A_scaled"]
    if _at_edge(p, p_lo, p_hi):
        warnings.warn(f"power_law_offset: the exponent {p:.4g} sits on p_bounds={p_bounds!r}", RuntimeWarning, 2)
    if not a_s > 0:
        warnings.warn("power_law_offset: the best fit is the constant c (A = 0); p is undetermined", RuntimeWarning, 2)
    param_ci: dict[str, tuple[float, float]] = {}
    if data.grouped:
        b = _bootstrap(data, lambda yb, m: _offset_fit(lt, yb, m, p_lo, p_hi), n_boot, rng)
        ci = _percentile(b["exponent"], level)
        param_ci = {"c": _percentile(b["c"], level), "A": _percentile(b["A_scaled"] * x0 ** -b["exponent"], level)}
        how = _boot_text(data, n_boot, b["exponent"])
    else:
        z = np.exp(p * lt)
        yb = ybar[0]
        resid = (yb - c - a_s * z) / yb
        cols = [z / yb, a_s * z * lt / yb]  # d model / d(A, p), relative
        if c > 0:
            cols.insert(0, 1.0 / yb)
        (lo, hi), dof = _wald(resid, np.column_stack(cols), len(cols) - 1, level)
        ci = (p + lo, p + hi) if a_s > 0 else (math.nan, math.nan)
        how = f"Wald t interval from the linearized fit (df={dof}{', c at its bound 0' if c == 0 else ''})"
    return FitResult(
        kind="power_law_offset",
        exponent=p,
        ci=ci,
        level=level,
        params={"c": c, "A": a_s * x0**-p},
        param_ci=param_ci,
        n_points=data.n_points,
        n_groups=data.n_groups,
        method=(
            f"least squares of relative residuals of the per-x {_avg_name(data)} to c + A x^p over "
            f"{data.ux.size} distinct x (c >= 0, A >= 0, p in [{p_lo:g}, {p_hi:g}]); {how}"
        ),
    )


def limit(
    x: Any,
    y: Any,
    groups: Any = None,
    *,
    correction: float,
    x_range: tuple[float | None, float | None] | None = None,
    average: str = "mean",
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> FitResult:
    """The limit c of y = c + A x^p as x → ∞, with the correction's exponent p < 0 given by the theory (e.g. an
    O(m^-1/2) finite-width term: ``correction=-0.5``), not fitted: OLS of the per-x averages on x^p.

    ``params``: ``c`` (the limit) and ``A``; ``param_ci`` holds their intervals (percentile bootstrap over groups,
    else the t interval of the OLS intercept and slope). Needs >= 2 distinct x (3 for a t interval). y may take
    either sign with ``average="mean"`` (e.g. a slope's limit); the geometric average needs y > 0.
    """
    try:
        p = float(correction)
    except (TypeError, ValueError):
        raise ValueError(f"correction must be a negative number (the exponent of the vanishing term), got "
                         f"{correction!r}") from None
    if not p < 0:
        raise ValueError(f"correction must be < 0 (a term that vanishes as x grows), got {correction!r}")
    data = _prepare(x, y, groups, x_range=x_range, average=average, min_x=2, positive_x=True,
                    positive_y=average == "geometric")  # a limit in linear space: y of any sign (e.g. a slope)
    n_boot, level, rng = _int("n_boot", n_boot, MIN_BOOT), _level(level), _rng(seed)
    z = data.ux ** p

    def fit_(ybar: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        a, c = _ols_rows(np.broadcast_to(z, ybar.shape), ybar * mask, mask)
        return {"c": c, "A": a}

    est = {k: float(v[0]) for k, v in fit_(*data.averages()).items()}
    if data.grouped:
        b = _bootstrap(data, fit_, n_boot, rng)
        param_ci = {k: _percentile(b[k], level) for k in ("c", "A")}
        how = _boot_text(data, n_boot, b["c"])
    else:
        yb = data.averages()[0][0]
        jac = np.column_stack([np.ones_like(z), z])
        resid = yb - est["c"] - est["A"] * z
        (lo, hi), dof = _wald(resid, jac, 0, level)
        (alo, ahi), _ = _wald(resid, jac, 1, level)
        param_ci = {"c": (est["c"] + lo, est["c"] + hi), "A": (est["A"] + alo, est["A"] + ahi)}
        how = f"t interval of the OLS intercept (df={dof})"
    return FitResult(
        kind="limit",
        exponent=p,
        ci=(p, p),
        level=level,
        params=est,
        param_ci=param_ci,
        n_points=data.n_points,
        n_groups=data.n_groups,
        method=f"OLS of the per-x {_avg_name(data)} on x^{p:g} over {data.ux.size} distinct x (the limit c of "
               f"c + A x^{p:g}); {how}",
    )


def critical(
    x: Any,
    y: Any,
    groups: Any = None,
    *,
    x_c: float | None = None,
    x_c_bounds: tuple[float, float | None] | None = None,
    x_range: tuple[float | None, float | None] | None = None,
    average: str = "mean",
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> FitResult:
    """Fit a divergence y = A (x − x_c)^(−alpha), x > x_c; ``exponent`` is alpha (004 Sect. 6, Fig. 7).

    With ``x_c`` free (default) the fit is least squares on log ybar with x_c < min(x) inside ``x_c_bounds``
    (default: (min(x) − (max(x) − min(x)), min(x))); x_c is profiled on a grid in log(min(x) − x_c) refined by
    scipy's bracket minimizer, (log A, alpha) by OLS. Such fits are sloppy (004 Sect. 6): read the CI of x_c in
    ``param_ci`` and prefer fixing ``x_c`` when it was located independently (e.g. where the training loss stops
    reaching 0); then this is a plain log-log fit in (x − x_c). Needs >= 3 distinct x (2 with x_c fixed).
    """
    fixed = x_c is not None
    data = _prepare(x, y, groups, x_range=x_range, average=average, min_x=2 if fixed else 3, positive_x=False)
    n_boot, level, rng = _int("n_boot", n_boot, MIN_BOOT), _level(level), _rng(seed)
    x_min, span = float(data.ux[0]), float(data.ux[-1] - data.ux[0])
    if fixed:
        if x_c_bounds is not None:
            raise ValueError("x_c_bounds is only used with x_c=None (x_c free); pass one of them")
        try:
            xc = float(x_c)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"x_c must be a number or None, got {x_c!r}") from None
        if not (math.isfinite(xc) and xc < x_min):
            raise ValueError(f"x_c must be finite and < min(x) = {x_min:g} of the fitted points, got {x_c!r}")
        slope, icpt, ci, ici, how = _power_law_core(data, np.log(data.ux - xc), n_boot=n_boot, level=level, rng=rng)
        return FitResult(
            kind="critical",
            exponent=-slope,
            ci=(-ci[1], -ci[0]),
            level=level,
            params={"A": math.exp(icpt), "x_c": xc},
            param_ci={} if ici is None else {"A": (math.exp(ici[0]), math.exp(ici[1]))},
            n_points=data.n_points,
            n_groups=data.n_groups,
            method=f"log-log OLS of the per-x {_avg_name(data)} against x − x_c, x_c = {xc:g} fixed; {how}",
        )
    if x_c_bounds is None:
        lo_b, hi_b = x_min - span, x_min
    else:
        lo_b, hi_b = _pair("x_c_bounds", x_c_bounds, open_ends=True)
        if not math.isfinite(lo_b):
            raise ValueError(f"x_c_bounds needs a finite lower end, got {x_c_bounds!r}")
        if lo_b >= x_min:
            raise ValueError(f"x_c_bounds={x_c_bounds!r} leaves no x_c below min(x) = {x_min:g}")
    d_lo = max(x_min - hi_b, 1e-8 * span)
    d_hi = x_min - lo_b
    if not d_lo < d_hi:
        raise ValueError(f"x_c_bounds={x_c_bounds!r} is too narrow below min(x) = {x_min:g}")
    s_lo, s_hi = math.log(d_lo), math.log(d_hi)
    dx = data.ux - x_min
    ybar, mask = data.averages()
    est = {k: float(v[0]) for k, v in _critical_fit(dx, ybar, mask, s_lo, s_hi).items()}
    alpha, s, log_a = est["exponent"], est["s"], est["logA"]
    xc = x_min - math.exp(s)
    edge = _at_edge(s, s_lo, s_hi)
    if edge:
        warnings.warn(
            f"critical: x_c = {xc:.6g} sits on the edge of its bounds [{x_min - d_hi:.6g}, {x_min - d_lo:.6g}]; "
            "widen x_c_bounds, fix x_c, or the data do not show a divergence",
            RuntimeWarning,
            2,
        )
    param_ci: dict[str, tuple[float, float]] = {}
    if data.grouped:
        b = _bootstrap(data, lambda yb, m: _critical_fit(dx, yb, m, s_lo, s_hi), n_boot, rng)
        ci = _percentile(b["exponent"], level)
        param_ci = {"A": _percentile(np.exp(b["logA"]), level), "x_c": _percentile(x_min - np.exp(b["s"]), level)}
        how = _boot_text(data, n_boot, b["exponent"])
    else:
        r = data.ux - xc
        lr = np.log(r)
        resid = np.log(ybar[0]) - (log_a - alpha * lr)
        cols = [np.ones_like(r), -lr] + ([] if edge else [alpha / r])
        (lo, hi), dof = _wald(resid, np.column_stack(cols), 1, level)
        ci = (alpha + lo, alpha + hi)
        how = f"Wald t interval from the linearized fit (df={dof}{', x_c held at its bound' if edge else ''})"
    return FitResult(
        kind="critical",
        exponent=alpha,
        ci=ci,
        level=level,
        params={"A": math.exp(log_a), "x_c": xc},
        param_ci=param_ci,
        n_points=data.n_points,
        n_groups=data.n_groups,
        method=(
            f"least squares on log of the per-x {_avg_name(data)} over {data.ux.size} distinct x, x_c free in "
            f"[{x_min - d_hi:g}, {x_min - d_lo:g}] (profiled); {how}"
        ),
    )


def critical_excess(
    x: Any,
    excess: Any,
    x_ref: float,
    x_c_bounds: tuple[float, float],
    *,
    level: float = 0.95,
    grid: int = 400,
) -> FitResult:
    """Fit a divergence measured against a reference point on the same law: excess_j = y(x_j) − y(x_ref) =
    A [(x_j − x_c)^(−alpha) − (x_ref − x_c)^(−alpha)], x_c < min(x) < max(x) < x_ref (004 Sect. 6: ‖f‖_N above
    the norm at the widest swept N, which still carries the divergence's tail A (x_ref − x_c)^(−alpha); reading
    that point as the N → ∞ plateau steepens a fitted alpha). ``exponent`` is alpha; ``params``: A, x_c and
    ``c`` = the tail at x_ref (y(∞) = y(x_ref) − c).

    Least squares on log(excess) over one value per x: (x_c, alpha) profiled on a grid (x_c in ``x_c_bounds``,
    open, on a log scale of min(x) − x_c; alpha in (0, 6]) then refined (Nelder–Mead), log A by its closed
    form; a Wald t interval on alpha (x_c held when it sits on an end of its bounds: ``method`` says so). Needs
    ≥ 4 distinct x (3 parameters)."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(excess, dtype=float)
    if xs.ndim != 1 or xs.shape != ys.shape or len(np.unique(xs)) != xs.size or xs.size < 4:
        raise ValueError(f"critical_excess needs >= 4 distinct x with one excess each, got {xs.size} values")
    if not (np.isfinite(ys).all() and (ys > 0).all()):
        raise ValueError("critical_excess: every excess must be finite and > 0")
    level = _level(level)
    lo_b, hi_b = _pair("x_c_bounds", x_c_bounds, open_ends=True)
    x_min = float(xs.min())
    if not (math.isfinite(lo_b) and lo_b < x_min and float(xs.max()) < x_ref):
        raise ValueError(f"critical_excess needs a finite x_c_bounds below min(x) = {x_min:g} and x_ref = {x_ref!r} "
                         f"above max(x) = {float(xs.max()):g}; got x_c_bounds={x_c_bounds!r}")
    span = float(x_ref - x_min)
    s_lo, s_hi = math.log(max(x_min - hi_b, 1e-6 * span)), math.log(x_min - lo_b)
    ly = np.log(ys)

    def shape(s: float, alpha: float) -> np.ndarray:
        xc = x_min - math.exp(s)
        return (xs - xc) ** -alpha - (x_ref - xc) ** -alpha

    def sse(s: float, alpha: float) -> tuple[float, float]:
        lg = np.log(shape(s, alpha))
        log_a = float((ly - lg).mean())
        r = ly - log_a - lg
        return float(r @ r), log_a

    ss = np.linspace(s_lo, s_hi, grid)
    alphas = np.linspace(6.0 / grid, 6.0, grid)
    xc_grid = (x_min - np.exp(ss))[:, None, None]
    lg = np.log((xs - xc_grid) ** -alphas[None, :, None] - (x_ref - xc_grid) ** -alphas[None, :, None])
    r = ly - lg
    r -= r.mean(axis=-1, keepdims=True)
    i, j = np.unravel_index(np.argmin((r * r).sum(axis=-1)), (grid, grid))
    best = (sse(ss[i], alphas[j])[0], float(ss[i]), float(alphas[j]))

    def objective(v: np.ndarray) -> float:
        s, a = float(np.clip(v[0], s_lo, s_hi)), float(np.clip(v[1], 1e-6, 6.0))
        return sse(s, a)[0]

    res = minimize(objective, np.array(best[1:]), method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000})
    s, alpha = float(np.clip(res.x[0], s_lo, s_hi)), float(np.clip(res.x[1], 1e-6, 6.0))
    if objective(res.x) > best[0]:
        s, alpha = best[1], best[2]
    _, log_a = sse(s, alpha)
    xc = x_min - math.exp(s)
    edge = _at_edge(s, s_lo, s_hi) or abs(s - s_lo) < (ss[1] - ss[0]) / 2 or abs(s - s_hi) < (ss[1] - ss[0]) / 2
    if edge:
        warnings.warn(f"critical_excess: x_c = {xc:.6g} sits on the edge of its bounds {x_c_bounds!r}", RuntimeWarning,
                      2)

    def resid(v: np.ndarray) -> np.ndarray:
        sv = s if edge else float(v[2])
        return ly - float(v[0]) - np.log(shape(sv, float(v[1])))

    theta = np.array([log_a, alpha] + ([] if edge else [s]))
    r0 = resid(theta)
    steps = 1e-6 * np.maximum(1.0, np.abs(theta))
    jac = np.column_stack([-(resid(theta + e) - r0) / h for e, h in zip(np.diag(steps), steps, strict=True)])
    (lo, hi), dof = _wald(r0, jac, 1, level)
    tail = math.exp(log_a) * (x_ref - xc) ** -alpha
    return FitResult(
        kind="critical",
        exponent=alpha,
        ci=(alpha + lo, alpha + hi),
        level=level,
        params={"A": math.exp(log_a), "x_c": xc, "c": tail},
        n_points=int(xs.size),
        n_groups=1,
        method=(f"least squares on log of the excess over the value at x_ref = {x_ref:g}, which carries the "
                f"divergence's tail {tail:.3g}; x_c free in ({lo_b:g}, {min(hi_b, x_min):g})"
                f"{' (on an end: held there)' if edge else ''}; Wald t interval (df={dof})"),
    )


# --------------------------------------------------------------------------------------------------------------
# diagnostics
# --------------------------------------------------------------------------------------------------------------


def local_slopes(
    x: Any,
    y: Any,
    groups: Any = None,
    *,
    average: str = "mean",
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> pd.DataFrame:
    """Log-log slope between consecutive distinct x of the per-x averages: shows the slope reaching its asymptote.

    Columns: x_lo, x_hi, x_mid (= sqrt(x_lo x_hi), the log-midpoint), slope; plus ci_low, ci_high (percentile
    bootstrap over seeds) when ``groups`` holds >= 2 seeds.
    """
    data = _prepare(x, y, groups, average=average, min_x=2, positive_x=True)
    n_boot, level, rng = _int("n_boot", n_boot, MIN_BOOT), _level(level), _rng(seed)
    lx = np.log(data.ux)

    def slopes(ybar: np.ndarray, mask: np.ndarray) -> np.ndarray:
        ly = np.where(mask > 0, np.log(ybar), np.nan)
        return np.diff(ly, axis=1) / np.diff(lx)

    out = pd.DataFrame(
        {
            "x_lo": data.ux[:-1],
            "x_hi": data.ux[1:],
            "x_mid": np.sqrt(data.ux[:-1] * data.ux[1:]),
            "slope": slopes(*data.averages())[0],
        }
    )
    if data.grouped:
        b = _bootstrap(data, lambda yb, m: {"slopes": slopes(yb, m)}, n_boot, rng)["slopes"]
        cis = np.array([_percentile(b[:, j], level) for j in range(b.shape[1])])
        out["ci_low"], out["ci_high"] = cis[:, 0], cis[:, 1]
    return out


def asymptotic_range(x: Any, k: int, *, side: str = "high") -> tuple[float, float]:
    """The inclusive (lo, hi) window of the k largest (``side="high"``) or smallest (``"low"``) distinct x.

    Pass it as ``x_range`` to fit only the asymptotic regime, e.g. large σ for the σ^(2L) law.
    """
    ux = np.unique(_array("x", x))
    side = _choice("side", side, ("high", "low"))
    k = _int("k", k, 2)
    if k > ux.size:
        raise ValueError(f"k={k} exceeds the {ux.size} distinct values of x")
    window = ux[-k:] if side == "high" else ux[:k]
    return float(window[0]), float(window[-1])
