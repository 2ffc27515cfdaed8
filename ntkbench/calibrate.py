"""Calibration of tolerances from measured noise: rerun a claim (and its controls) on K fresh draws of randomness.

:func:`calibrate` runs each claim with ``seed_offset`` = 1 … K (every initialization seed and the data split
shifted; offset 0 is the baseline's randomness) and writes, per measured quantity, the K values, their mean and
standard deviation, the pass rate under the current tolerance, and the tolerance that the observed spread calls
for (:func:`suggested_tolerance`), to ``OUT/<profile>/calibration/<family>__<name>[__<control>].json`` with a
figure beside it. Runs that are ``invalid`` (a precondition failed) or err are counted, not used for the spread.
The sweep points are cached under OUT like any run's, so a calibration resumes and shares points with runs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from . import registry, store
from .runner import Result, outcome
from .scheduler import Task, run

FALSE_ALARM = 0.01
RULE = ("suggested tolerance: a 99 % normal prediction interval for one new reseeded run, from the K valid reseeds "
        "(mean x̄, sample SD s): within: |x̄ − expected| + t(0.995, K−1)·s·√(1 + 1/K); below: x̄ − expected + "
        "t(0.99, K−1)·s·√(1 + 1/K) (at least 0); above: expected − x̄ + the same. Under normality a new run then "
        "misses it with probability ≤ 1 %.")


def suggested_tolerance(values: Sequence[float], expected: float, mode: str) -> float:
    """The tolerance with a ≤ 1 % false-alarm rate at the observed spread of ``values`` (see :data:`RULE`); NaN
    with fewer than 2 finite values."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    k = v.size
    if k < 2:
        return math.nan
    mean, sd = float(v.mean()), float(v.std(ddof=1))
    widen = math.sqrt(1.0 + 1.0 / k)
    if mode == "within":
        return abs(mean - expected) + float(stats.t.ppf(1 - FALSE_ALARM / 2, k - 1)) * sd * widen
    one_sided = float(stats.t.ppf(1 - FALSE_ALARM, k - 1)) * sd * widen
    return max(0.0, (mean - expected if mode == "below" else expected - mean) + one_sided)


def summarize(claim_id: str, control: str | None, profile: str, results: Sequence[Result]) -> dict[str, Any]:
    """The calibration record of one claim or control from its reseeded results."""
    valid = [r for r in results if r.status in ("pass", "fail")]
    quantities: dict[str, dict[str, Any]] = {}
    for r in valid:
        for c in r.checks:
            q = quantities.setdefault(c["name"], {"expected": c["expected"], "tolerance": c["tolerance"],
                                                  "mode": c["mode"], "role": c["role"],
                                                  "must_fail": bool(c.get("must_fail")), "values": [],
                                                  "passed": []})
            q["values"].append(c["measured"])
            q["passed"].append(bool(c["passed"]))
    for q in quantities.values():
        v = np.asarray(q["values"], dtype=float)
        q["mean"] = float(np.nanmean(v)) if v.size else math.nan
        q["sd"] = float(np.nanstd(v, ddof=1)) if v.size > 1 else math.nan
        q["pass_rate"] = float(np.mean(q.pop("passed"))) if v.size else math.nan
        q["suggested_tolerance"] = suggested_tolerance(q["values"], q["expected"], q["mode"])
        q["rule"] = RULE
    # as the theory predicts, judged as at an asserting profile (a smoke calibration still counts its checks)
    as_predicted = sum(outcome({**r.to_dict(), "asserted": True}) == "as predicted" for r in results)
    return {
        "id": claim_id, "control": control, "profile": profile, "reseeds": len(results),
        "seed_offsets": [r.params.get("seed_offset") for r in results],
        "pass_rate": as_predicted / len(results) if results else math.nan,
        "pass_rate_means": "fraction of the reseeded runs whose outcome is 'as predicted' (a claim passes; a control "
                           "fails on its named checks); invalid and erring runs count as not",
        "invalid": sum(r.status == "invalid" for r in results), "errors": sum(r.status == "error" for r in results),
        "invalid_detail": [next((c["method"] for c in r.checks if c["role"] == "precondition" and not c["passed"]), "")
                           for r in results if r.status == "invalid"],
        "quantities": quantities,
        "versions": results[0].versions if results else {},
    }


def calibrate(claim_ids: Iterable[str], reseeds: int = 10, profile: str = registry.DEFAULT_PROFILE, *,
              jobs: int = 1, scheduler: str | None = None, out: str | os.PathLike = "results",
              controls: bool | Iterable[str] = False, claims_too: bool = True, device: str = "cpu",
              progress: bool = False, cache: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Run every selected claim (ids or families; with ``controls``, each negative control too) at ``profile``
    with seed_offset = 1 … ``reseeds`` (``controls``: True for every control, or the names of the controls to
    calibrate, e.g. one costly control alone; with ``claims_too=False`` the claims themselves are not rerun, so their
    records stay as they are); write and return one calibration record per claim/control, rewritten
    after each of its runs (``complete`` says whether all ``reseeds`` are in; an interrupted calibration keeps what it
    measured, and the points are cached in ``cache``, default ``out``, so a rerun resumes). The sweep points of all
    reseeds are scheduled together (:mod:`ntkbench.scheduler`): in this process, on ``jobs`` local workers or on
    the Dask cluster ``scheduler``."""
    if isinstance(reseeds, bool) or not isinstance(reseeds, int) or reseeds < 2:
        raise registry.UsageError(f"reseeds must be an integer >= 2 (a spread needs two runs), got {reseeds!r}")
    registry.check_profile(profile)
    claims = registry.select(claim_ids)
    names = set() if isinstance(controls, bool) else {str(n) for n in controls}
    known = {k.name for c in claims for k in c.controls}
    if names - known:
        raise registry.UsageError(f"controls: {', '.join(sorted(names - known))} is not a negative control of the "
                                  f"selected claims (allowed: {', '.join(sorted(known)) or 'none'})")
    if not claims_too and not controls:
        raise registry.UsageError("controls only: name the controls to calibrate (controls=True or their names), "
                                  "or calibrate the claims too")
    targets = [(c.id, None) for c in claims if claims_too] + [(c.id, k.name) for c in claims for k in c.controls
                                                if controls is True or (controls and k.name in names)]
    cache = out if cache is None else cache
    tasks = [(cid, k, ctrl) for cid, ctrl in targets for k in range(1, reseeds + 1)]
    done: dict[tuple[str, str | None], list[Result]] = {t: [] for t in targets}
    records: dict[tuple[str, str | None], dict[str, Any]] = {}

    def finished(index: int, result: Result) -> None:  # write a target's record as soon as its K runs are in
        cid, k, ctrl = tasks[index]
        done[cid, ctrl].append(result)
        if progress:
            print(f"{result.id}{f' [{result.control}]' if result.control else ''} seed_offset={k}: "
                  f"{result.outcome} ({result.seconds:.0f} s)", flush=True)
        runs = sorted(done[cid, ctrl], key=lambda r: r.params["seed_offset"])  # rewritten after every run: an
        record = summarize(cid, ctrl, profile, runs)  # interrupted calibration keeps what it measured
        record["complete"] = len(runs) == reseeds
        records[cid, ctrl] = _write(record, out, profile, figure=record["complete"])

    run([Task(cid, profile, {"seed_offset": k}, ctrl) for cid, k, ctrl in tasks], jobs=jobs, scheduler=scheduler,
        cache=cache, device=device, progress=progress, on_result=finished)
    return [records[t] for t in targets if t in records]


def _write(record: dict[str, Any], out: str | os.PathLike, profile: str, figure: bool = True) -> dict[str, Any]:
    path = store.calibration_path(out, profile, record["id"], record["control"])
    if figure:
        try:
            from .figures import render

            store.atomic_write_bytes(path.with_suffix(".png"), render(_figure, record, {}, {}, ()))
            record["figure"] = path.with_suffix(".png").name
        except Exception as exc:  # noqa: BLE001 - the numbers stand without their figure
            record["figure_error"] = repr(exc)
    store.atomic_write_text(path, store.to_json(record))
    return record


def _figure(record: Mapping[str, Any], meas, params, expects):
    from .figures import subplots

    qs = [(n, q) for n, q in record["quantities"].items() if q["values"]]
    fig, axes = subplots(max(1, len(qs)), width=3.2)
    for ax, (name, q) in zip(axes, qs):
        v = np.asarray(q["values"], dtype=float)
        ax.plot(np.zeros_like(v) + np.linspace(-0.1, 0.1, v.size), v, "o", alpha=0.7, label="reseeded runs")
        e, t, s = q["expected"], q["tolerance"], q["suggested_tolerance"]
        lo, hi = {"within": (e - t, e + t), "below": (-math.inf, e + t), "above": (e - t, math.inf)}[q["mode"]]
        pad = 0.1 * (float(np.nanmax(v)) - float(np.nanmin(v))) + abs(t)  # an open side of a bound: past the data
        ax.axhspan(lo if math.isfinite(lo) else min(float(np.nanmin(v)), e) - pad,
                   hi if math.isfinite(hi) else max(float(np.nanmax(v)), e) + pad, color="green", alpha=0.12,
                   label=f"tolerance ({q['pass_rate']:.0%} pass)")
        if math.isfinite(s):
            for y in ((e - s, e + s) if q["mode"] == "within" else ((e + s,) if q["mode"] == "below" else (e - s,))):
                ax.axhline(y, color="black", ls="--", lw=0.8)
        ax.axhline(e, color="grey", ls=":", lw=0.8)
        ax.set(xticks=[], title=name, xlabel=f"K = {v.size}")
        ax.legend(fontsize=6)
    title = record["id"] + (f" [{record['control']}]" if record["control"] else "")
    fig.suptitle(f"{title}: {record['pass_rate']:.0%} as predicted over {record['reseeds']} reseeds "
                 f"(dashed: suggested tolerance)", fontsize=8)
    return fig
