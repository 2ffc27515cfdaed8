"""Calibration of tolerances from measured noise: rerun a claim (and its controls) on K fresh draws of randomness.

:func:`calibrate` runs each claim with ``seed_offset`` = 1 … K (every initialization seed and the data split
shifted; offset 0 is the baseline's randomness) and writes, per measured quantity, the K values, their mean and
standard deviation, the pass rate under the current tolerance, and the tolerance that the observed spread calls
for (:func:`suggested_tolerance`), to ``OUT/<profile>/calibration/<family>__<name>[__<control>].json`` with a
figure beside it. Runs that are ``invalid`` (a precondition failed) or err are counted, not used for the spread.
The sweep points are cached under OUT like any run's, so a calibration resumes and shares points with runs.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from . import power, registry, store
from .outcome import outcome
from .runner import Result, judge_check, status_of
from .scheduler import Task, run

RULE = power.RULE


def suggested_tolerance(values: Sequence[float], expected: float, mode: str) -> float:
    """The noise band of a check (:func:`ntkbench.harness.power.noise_tolerance`): a new reseeded run of an unbiased
    check
    misses it with probability ≤ 1 %. ``expected`` is not used: the offset from the theory is the bias, reported
    apart (:func:`ntkbench.harness.power.bias`) and never absorbed into the band. NaN with fewer than 2 finite
    values."""
    del expected  # the band is noise only
    return power.noise_tolerance(values, mode)


def _quantity(q: dict[str, Any], control: bool) -> dict[str, Any]:
    """The statistics of one check over the K reseeds (in place): mean, SD, pass rate, the noise band, the bias in
    standard errors and, for a claim's science check, the power against each alternative at the measured spread
    and the cost at which it would reach 99 %; for a control's check that must land at a value, how often it did."""
    v = np.asarray(q["values"], dtype=float)
    q["mean"] = float(np.nanmean(v)) if v.size else math.nan
    q["sd"] = float(np.nanstd(v, ddof=1)) if v.size > 1 else math.nan
    q["pass_rate"] = float(np.mean(q.pop("passed"))) if v.size else math.nan
    q["suggested_tolerance"] = suggested_tolerance(q["values"], q["expected"], q["mode"])
    q["rule"] = RULE
    if not control and q["mode"] == "within" and q["role"] != "precondition":  # expected: the theory's value
        q.update(power.bias(q["values"], q["expected"]))
    if "lands_at" in q:
        landed = [abs(x - q["lands_at"]) <= q["lands_tolerance"] for x in q["values"]]
        q["landed_rate"] = float(np.mean(landed)) if landed else math.nan
        q.update({f"landing_{k}": val for k, val in power.bias(q["values"], q["lands_at"]).items()})
        q["landing_noise_band"] = power.noise_tolerance(q["values"], "within")
    if not control and q["role"] == "science" and q.get("alternatives"):
        if q.get("spread") == "standardized":
            q.update(power.significance_test(q, q["values"]))
            q["discriminating"] = bool(q["discriminating"])  # a record: an unknown sensitivity is not discriminating
            return q
        sd = q["sd"] if math.isfinite(q["sd"]) else 0.0
        q["alternatives"] = power.alternatives_power(q, sd, max(2, len(power.finite(q["values"]))), q["mean"])
        q["power"] = min(a["power"] for a in q["alternatives"])
        q["discriminating"] = bool(q["power"] >= power.POWER_GOAL)
    return q


def summarize(claim_id: str, control: str | None, profile: str, results: Sequence[Result]) -> dict[str, Any]:
    """The calibration record of one claim or control from its reseeded results."""
    valid = [r for r in results if r.status in ("pass", "fail")]
    quantities: dict[str, dict[str, Any]] = {}
    for r in valid:
        for c in r.checks:
            q = quantities.setdefault(c["name"], {"expected": c["expected"], "tolerance": c["tolerance"],
                                                  "mode": c["mode"], "role": c["role"],
                                                  "must_fail": bool(c.get("must_fail")), "values": [],
                                                  "passed": [], "spread": c.get("spread", "absolute"),
                                                  "alternatives": [{"value": a["value"], "why": a["why"]}
                                                                   for a in c.get("alternatives") or ()]})
            for key in ("lands_at", "lands_tolerance"):
                if key in c:
                    q[key] = c[key]
            q["values"].append(c["measured"])
            q["passed"].append(bool(c["passed"]))
    params = {k: v for k, v in (results[0].params if results else {}).items() if k != "seed_offset"}
    for q in quantities.values():
        _quantity(q, control is not None)
    # as the theory predicts, judged as at an asserting profile (a smoke calibration still counts its checks), each
    # science check's power from this record
    as_predicted = sum(_as_predicted({**r.to_dict(), "asserted": True}, quantities) for r in results)
    return _record(claim_id, control, profile, results, quantities, as_predicted, params)


def _as_predicted(result: Mapping[str, Any], quantities: Mapping[str, Mapping[str, Any]]) -> bool:
    """A reseeded run's outcome is as the theory predicts (``not discriminating`` counts: it is no evidence
    against it), its science checks' power judged by the record's ``quantities``."""
    checks = [{**c, "discriminating": quantities.get(c.get("name"), {}).get("discriminating")}
              if c.get("role") == "science" else c for c in result.get("checks") or []]
    return outcome({**result, "checks": checks}) in ("as predicted", "not discriminating")


def _record(claim_id, control, profile, results, quantities, as_predicted, params) -> dict[str, Any]:
    science = {n for n, q in quantities.items() if q["role"] == "science" and not control}
    return {
        "id": claim_id, "control": control, "profile": profile, "reseeds": len(results),
        "seed_offsets": [r.params.get("seed_offset") for r in results],
        "params": json.loads(json.dumps(params)),
        "pass_rate": as_predicted / len(results) if results else math.nan,
        "pass_rate_means": "fraction of the reseeded runs whose science checks pass (a claim) or whose named checks "
                           "fail and land where the theory puts them (a control); invalid and erring runs count as "
                           "not. A claim's power is judged per check (discriminating), apart from this rate",
        "invalid": sum(r.status == "invalid" for r in results), "errors": sum(r.status == "error" for r in results),
        "invalid_detail": [next((c["method"] for c in r.checks if c["role"] == "precondition" and not c["passed"]), "")
                           for r in results if r.status == "invalid"],
        "biased": sorted(n for n, q in quantities.items() if q.get("biased")),
        "not_discriminating": sorted(n for n, q in quantities.items() if n in science
                                     and q.get("discriminating") is False),
        "quantities": quantities,
        "versions": results[0].versions if results else {},
    }


def calibrate(claim_ids: Iterable[str], reseeds: int = 10, profile: str = registry.DEFAULT_PROFILE, *,
              jobs: int = 1, scheduler: str | None = None, out: str | os.PathLike = "results",
              controls: bool | Iterable[str] = False, claims_too: bool = True, device: str = "cpu",
              progress: bool = False, cache: str | os.PathLike | None = None,
              first_seed: int = 1, replace: bool = False) -> list[dict[str, Any]]:
    """Run every selected claim (ids or families; with ``controls``, each negative control too) at ``profile``
    with seed_offset = ``first_seed`` … ``first_seed`` + ``reseeds`` − 1 (1 … K by default; a later first seed gives
    reseeds that no earlier calibration saw, to check a choice made after looking at those, in another ``out``)
    (``controls``: True for every control, or the names of the controls to
    calibrate, e.g. one costly control alone; with ``claims_too=False`` the claims themselves are not rerun, so their
    records stay as they are); write and return one calibration record per claim/control, rewritten
    after each of its runs (``complete`` says whether all ``reseeds`` are in; an interrupted calibration keeps what it
    measured, and the points are cached in ``cache``, default ``out``, so a rerun resumes). The sweep points of all
    reseeds are scheduled together (:mod:`ntkbench.harness.scheduler`): in this process, on ``jobs`` local workers or on
    the Dask cluster ``scheduler``. A record in ``out`` with more reseeds than ``reseeds`` is never replaced
    unless ``replace`` (``--update-baseline``): a :class:`~ntkbench.harness.registry.UsageError` names it before
    anything
    runs."""
    if isinstance(reseeds, bool) or not isinstance(reseeds, int) or reseeds < 2:
        raise registry.UsageError(f"reseeds must be an integer >= 2 (a spread needs two runs), got {reseeds!r}")
    if isinstance(first_seed, bool) or not isinstance(first_seed, int) or first_seed < 1:
        raise registry.UsageError(f"first_seed must be an integer >= 1 (seed_offset 0 is the baseline run), got "
                                  f"{first_seed!r}")
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
    if not replace:
        _refuse_fewer(targets, reseeds, out, profile)
    cache = out if cache is None else cache
    tasks = [(cid, k, ctrl) for cid, ctrl in targets for k in range(first_seed, first_seed + reseeds)]
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


def _refuse_fewer(targets: Iterable[tuple[str, str | None]], reseeds: int, out: str | os.PathLike,
                  profile: str) -> None:
    """A :class:`~ntkbench.harness.registry.UsageError` naming each record in ``out`` that a calibration with
    ``reseeds``
    reseeds would replace with fewer (an unreadable record is left to the calibration, which rewrites it)."""
    records = store.load_calibrations(out, profile)
    larger = []
    for target in targets:
        had = records.get(target, {}).get("reseeds")
        if isinstance(had, int) and not isinstance(had, bool) and had > reseeds:
            larger.append(f"{records[target]['_path']} ({had} reseeds)")
    if larger:
        raise registry.UsageError(f"a {reseeds}-reseed calibration would replace records with more reseeds: "
                                  f"{'; '.join(larger)}; write to another --out, or pass --update-baseline to "
                                  f"replace them")


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
    for ax, (name, q) in zip(axes, qs, strict=False):
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
                 f"(dashed: the noise band)", fontsize=8)
    return fig


def recompute(record: Mapping[str, Any]) -> dict[str, Any]:
    """A calibration record rejudged from its stored values under the current code: each check's expectation,
    band, alternatives and landing as the registry declares them now at the record's parameters (a record without
    them: the profile's, with the control's overrides), the noise band, bias and power (:func:`_quantity`), and the
    pass rate from the per-reseed values. Valid when the experiment did not change since the reseeds ran (the
    measured values are reused as they are, never rerun); ``recomputed`` says so in the record. Checks that the
    code no longer declares are dropped (listed); checks it declares that the record lacks are listed as
    ``missing`` (they need a rerun)."""
    claim = registry.get(record["id"])
    control = record.get("control")
    ctrl = next((k for k in claim.controls if k.name == control), None) if control else None
    if control and ctrl is None:
        raise registry.UsageError(f"{record['id']}: no control {control!r} in the registry now")
    profile = record["profile"]
    params = claim.resolve(profile, {**(ctrl.overrides if ctrl else {}),
                                     **{k: v for k, v in (record.get("params") or {}).items()
                                        if k != "seed_offset"}})
    params = {k: v for k, v in params.items() if k != "seed_offset"}
    expects = {e.name: e for e in claim.expect({**params, "seed_offset": 0})}
    old = record.get("quantities") or {}
    quantities: dict[str, dict[str, Any]] = {}
    for name, q in old.items():
        e = expects.get(name)
        if e is None:
            continue
        values = [float(x) if x is not None else math.nan for x in q.get("values", [])]
        new = {"expected": e.expected, "tolerance": e.tolerance, "mode": e.mode, "role": e.role,
               "must_fail": bool(ctrl and e.base in ctrl.fails), "values": values,
               "passed": [e.passes(x) for x in values],
               "spread": e.spread, "alternatives": [{"value": a.value, "why": a.why} for a in e.alternatives]}
        if ctrl and e.base in ctrl.lands:
            new.update(lands_at=ctrl.lands[e.base].at(params), lands_tolerance=ctrl.lands[e.base].tolerance)
        quantities[name] = new
    runs = {len(q["values"]) for q in quantities.values()}
    k_valid = min(runs) if runs else 0
    verdicts = []
    for i in range(k_valid):  # each reseed judged as a run is (runner.judge_check, outcome.outcome)
        checks = [judge_check(expects[n], q["values"][i], [math.nan, math.nan], "", ctrl, params)
                  for n, q in quantities.items()]
        verdicts.append({"status": status_of(checks), "checks": checks, "control": control})
    for q in quantities.values():
        _quantity(q, ctrl is not None)
    verdicts = [_as_predicted(v, quantities) for v in verdicts]
    reseeds = int(record.get("reseeds") or k_valid)
    out = {key: record[key] for key in ("id", "control", "profile", "reseeds", "seed_offsets", "invalid", "errors",
                                         "invalid_detail", "complete", "versions") if key in record}
    summary = _record(record["id"], control, profile, [], quantities, sum(verdicts), params)
    out.update({k: summary[k] for k in ("params", "pass_rate_means", "biased", "not_discriminating", "quantities")})
    out["pass_rate"] = sum(verdicts) / reseeds if reseeds else math.nan
    out["recomputed"] = {
        "note": "the values measured by the reseeded runs (versions.git) rejudged by the current code's expectations, "
                "bands and alternatives under the noise-only rule; nothing was rerun",
        "dropped": sorted(set(old) - set(quantities)), "missing": sorted(set(expects) - set(old))}
    return out


def recompute_all(out: str | os.PathLike, profile: str, claim_ids: Iterable[str] = ()) -> list[dict[str, Any]]:
    """:func:`recompute` every calibration record under ``OUT/<profile>/calibration`` of the selected claims (all
    when none is named), rewriting each record and its figure."""
    wanted = {c.id for c in registry.select(claim_ids)}
    rows = []
    for path in sorted(store.calibration_path(out, profile, "x/x").parent.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("id") not in wanted:
            continue
        rows.append(_write(recompute(record), out, profile))
    return rows
