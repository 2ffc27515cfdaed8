"""The summary of saved results (``OUT/README.md``) and the comparison of two result folders.

:func:`build` renders every ``result.json`` under an output folder (see :mod:`ntkbench.harness.store`) as Markdown that
a code
host displays: per profile, the results grouped by source document (the plans of ``reproduce/``, with the figure,
table or theorem each claim mirrors), a table of the claims (every check with its measured value, interval,
expectation and verdict; the calibration pass rate when ``OUT/<profile>/calibration/`` has one; the figure link), a
table of the negative controls (the checks each control names as must-fail are marked), the invalid runs with their
reasons, the runs with parameter overrides or errors (``OUT/<profile>/variants/``, never mixed with the baseline),
the tracebacks of errors, and the σ-mitigation run when ``OUT/<profile>/mitigation/mitigation.json`` exists. A result
run with other parameters than the registry resolves now is marked stale (:func:`stale_params`).

:func:`compare` lists what got worse from a baseline folder to a new one (:class:`Regression`); variants are ignored.

Outcomes (:func:`ntkbench.harness.outcome.outcome`, derived from each result's status and checks): ``as predicted``,
``not as predicted``, ``not discriminating`` (a claim that passed, but one of its science checks rejects its named
alternative with power < 99 %: never a pass), ``invalid`` (a precondition failed: neither pass nor fail),
``error``, ``not asserted`` (the smoke profile). Checks are of three roles: *science* (evidence for the paper,
each naming what it rules out, with its power), *identity* (true for any network: it tests the engine; listed in
its own section and never counted as evidence) and *precondition*.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import power, store
from .outcome import OUTCOMES, asserted, ok, outcome
from .spec import PROFILES, UsageError

README = "README.md"
MITIGATION = Path("mitigation") / "mitigation.json"
TRACEBACK_LINES = 25
VERSION_KEYS = ("python", "torch", "ntkbench", "git")
REPO = Path(__file__).resolve().parents[2]
CATALOGUE_DOC = Path("docs") / "claims.md"
REFERENCES = "README.md#references"

_STATUS = {"pass": "pass", "fail": "**fail** ❌", "invalid": "**invalid** ⚠️", "error": "**error** ⚠️"}


# ----- number and cell formatting ------------------------------------------------------------------------------------
def fmt(x: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, trailing zeros dropped; scientific below 1e-3 and from 1e4
    (``6.0e-13``, ``1.2e5``); ``nan``/``inf`` as such; anything else via ``str``."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return "—" if x is None else str(x)
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "−inf"
    if x == 0:
        return "0"
    if abs(x) < 1e-3 or abs(x) >= 1e4:
        mantissa, exp = f"{x:.{digits - 1}e}".split("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0")
            mantissa += "0" if mantissa.endswith(".") else ""
        return f"{mantissa}e{int(exp)}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    text = f"{x:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def expectation(check: Mapping[str, Any]) -> str:
    """``e ± t`` (within), ``≤ e + t`` (below), ``≥ e − t`` (above)."""
    e, t, mode = check.get("expected"), check.get("tolerance"), check.get("mode", "within")
    if mode == "below":
        return f"≤ {fmt(e)} + {fmt(t)}"
    if mode == "above":
        return f"≥ {fmt(e)} − {fmt(t)}"
    return f"{fmt(e)} ± {fmt(t)}"


def rules_out(check: Mapping[str, Any]) -> str:
    """``; rules out −0.269 (power 55 %, not discriminating: ×2.6 the data), 0 (power 100 %)``: the alternatives of
    a science check with their power (:mod:`ntkbench.harness.power`), and its bias when a calibration measured one."""
    parts = []
    for a in check.get("alternatives") or ():
        text = fmt(a.get("value"))
        if is_finite(a.get("power")):
            text += f" (power {power.power_percent(a['power'])}"
            if a["power"] < power.POWER_GOAL:
                cost = a.get("cost_factor")
                text += ", not discriminating" + (f": ×{fmt(cost, 2)} the data" if is_finite(cost) else "")
            text += ")"
        parts.append(text)
    out = f"; rules out {', '.join(parts)}" if parts else ""
    if is_finite(check.get("sensitivity")):
        out += f"; detects the theory's effect with probability {power.power_percent(check['sensitivity'])}"
        if check["sensitivity"] < power.POWER_GOAL:
            cost = check.get("sensitivity_cost")
            out += (", not discriminating: " + (f"×{fmt(cost, 2)} the data" if is_finite(cost) else
                                                 "no effect in the calibration's mean, no cost estimate"))
    if check.get("biased"):
        out += f"; **biased** ({fmt(check.get('bias_se'), 2)} SE)"
    return out


def measured(check: Mapping[str, Any]) -> str:
    """The measured value and, when both ends are finite, its interval ``[lo, hi]``."""
    text = fmt(check.get("measured"))
    lo, hi = (list(check.get("interval") or []) + [math.nan, math.nan])[:2]
    if is_finite(lo) and is_finite(hi):
        text += f" [{fmt(lo)}, {fmt(hi)}]"
    return text


def percent(rate: Any) -> str:
    """A pass rate in [0, 1] as ``90%`` (``—`` when not a number)."""
    return f"{100 * float(rate):.0f}%" if is_finite(rate) else "—"


def is_finite(x: Any) -> bool:
    """True for a finite int or float (not a bool, ``None``, text, NaN or infinity): a number worth printing."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _cell(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def _row(cells: Iterable[Any]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    return [_row(header), "| " + " | ".join("---" for _ in header) + " |", *(_row(r) for r in rows)]


# ----- outcomes -------------------------------------------------------------------------------------------------------
# asserted, outcome, ok and OUTCOMES are those of ntkbench.harness.outcome (imported above): the one source of a
# result's
# outcome, shared with the runner that stores it in result.json.


def invalid_reason(result: Mapping[str, Any]) -> str:
    """Why a result is invalid: its ``invalid_reason`` text when it has one, else each precondition check that
    failed, with its value and what its ``method`` says (``not-converged 2 vs ≤ 0 + 0: 3/5 trained members reached
    the threshold; ...``)."""
    if result.get("invalid_reason"):
        return str(result["invalid_reason"])
    failed = [c for c in result.get("checks") or [] if c.get("role") == "precondition" and c.get("passed") is False]
    if not failed:
        return "a precondition failed"
    return "precondition failed: " + "; ".join(
        f"{c.get('name', '?')} {fmt(c.get('measured'))} vs {expectation(c)}"
        + (f": {c['method']}" if c.get("method") else "") for c in failed)


def outcome_text(result: Mapping[str, Any]) -> str:
    """One phrase for a progress line or a table cell: ``as predicted``, ``NOT AS PREDICTED`` (with what happened),
    ``INVALID (why)``, ``error``, ``ran, nothing asserted (smoke)``."""
    out = outcome(result)
    if out == "not as predicted":
        what = "the control passed" if result.get("control") else result.get("status", "")
        return f"NOT AS PREDICTED ({what})" if what else "NOT AS PREDICTED"
    if out == "invalid":
        return f"INVALID ({invalid_reason(result)})"
    if out == "not asserted":
        return f"ran, nothing asserted ({result.get('profile') or 'smoke'})"
    if out == "not discriminating":
        return f"NOT DISCRIMINATING ({', '.join(power.weak_checks(result.get('checks') or []))})"
    return out


def variant(result: Mapping[str, Any]) -> str:
    """The variant folder of a result (``""``: the baseline layout)."""
    return str(result.get("variant") or result.get("_variant") or "")


def label(result: Mapping[str, Any]) -> str:
    """How a result is named on a progress line or in a list: ``id``, then ``[control]`` and ``{variant}`` when it
    has them (``scaling/ntk-fluctuations [flat] {width=64}``)."""
    v = variant(result)
    return result.get("id", "?") + (f" [{result['control']}]" if result.get("control") else "") + (
        f" {{{v}}}" if v else "")


# ----- the summary ----------------------------------------------------------------------------------------------------
def build(out: str | os.PathLike, profile: str | None = None, *, plans_dir: str | os.PathLike | None = None,
          damaged: list[str] | None = None) -> Path:
    """Write ``OUT/README.md`` from the saved results (every profile present, or only ``profile``); return its path.

    Results are grouped by source document after the plans of ``plans_dir`` (default: the checkout's
    ``reproduce/``). A damaged ``result.json`` (unreadable, not JSON, wrong types) is counted and listed as an
    error, and, when ``damaged`` is a list, ``"PATH: why"`` is appended to it. Raises
    :class:`~ntkbench.harness.registry.UsageError` when ``out`` holds neither results nor a mitigation run."""
    out = Path(out)
    results = store.load_results(out, profile, variants=True, damaged="mark")
    if damaged is not None:
        damaged += [f"{Path(r['_path']) / 'result.json'}: {r['_damaged']}" for r in results if r.get("_damaged")]
    by_profile: dict[str, list[dict]] = {}
    for r in sorted(results, key=_catalogue_order()):
        by_profile.setdefault(r.get("profile") or Path(r["_path"]).relative_to(out).parts[0], []).append(r)
    for prof in _mitigation_profiles(out, profile):
        by_profile.setdefault(prof, [])
    if not by_profile:
        where = f" for profile {profile!r}" if profile else ""
        raise UsageError(f"no results under {str(out)!r}{where}: run `ntkbench run --out {out}` first")
    plans, plan_error = _plans(plans_dir)
    order = sorted(by_profile, key=lambda p: (PROFILES.index(p) if p in PROFILES else len(PROFILES), p))
    lines = ["# ntkbench results", "",
             "Generated by `ntkbench report` from the `result.json` files below this folder; do not edit by hand. "
             f"Each claim of the catalogue ({_repo_link(out, CATALOGUE_DOC, 'docs/claims.md')}; the source documents: "
             f"{_repo_link(out, Path(REFERENCES), 'references')}) is checked against its expectation (`e ± t`: "
             "within, `≤ e + t`: below, `≥ e − t`: above; ✗ marks a check that failed). A negative control is *as "
             "predicted* when the checks it names (*must fail*) fail and its preconditions hold; a run whose "
             "preconditions fail (a net that did not reach its training threshold) is *invalid*: neither a pass nor "
             "a fail.", ""]
    if plan_error:
        lines += [f"*The reproduction plans could not be read: {plan_error}*", ""]
    if plans and results:
        lines += _papers_section(out, plans, by_profile, order)
    for prof in order:
        lines += _profile_section(out, prof, by_profile[prof])
    return store.atomic_write_text(out / README, "\n".join(lines).rstrip() + "\n")


def _plans(folder: str | os.PathLike | None) -> tuple[list, str]:
    from . import plans

    try:
        return plans.load_all(folder), ""
    except UsageError as exc:  # a broken plan must not stop the summary of results that exist
        return [], str(exc)
    except UnicodeDecodeError as exc:  # plans.load reads TOML, which must be UTF-8
        return [], f"a plan of {folder or 'reproduce/'} is not UTF-8 text ({exc.reason} at byte {exc.start})"


def _repo_link(out: Path, target: Path, text: str) -> str:
    """A relative link from ``OUT/README.md`` to a file of the checkout when ``out`` lies inside it, else the path
    in words (a results folder elsewhere cannot link into the repository)."""
    path = target.as_posix().partition("#")[0]
    anchor = target.as_posix().partition("#")[2]
    try:
        out_abs = out.resolve()
        out_abs.relative_to(REPO)
    except (ValueError, OSError):
        return f"`{target.as_posix()}` of the ntkbench repository"
    rel = Path(os.path.relpath(REPO / path, out_abs)).as_posix()
    return f"[{text}]({rel}{'#' + anchor if anchor else ''})"


def _catalogue_order():
    """Sort key: registered claims in catalogue order, unknown ids after them; controls after their claim;
    variants after the baseline results."""
    from .registry import all_claims

    rank = {c.id: i for i, c in enumerate(all_claims())}
    return lambda r: (variant(r) != "", variant(r), rank.get(r.get("id"), len(rank)), r.get("id", ""),
                      r.get("control") or "")


def _mitigation_profiles(out: Path, profile: str | None) -> list[str]:
    candidates = [profile] if profile else [p.name for p in out.iterdir() if p.is_dir()] if out.is_dir() else []
    return [p for p in candidates if (out / p / MITIGATION).is_file()]


def _profile_section(out: Path, profile: str, results: list[dict]) -> list[str]:
    base = [r for r in results if not variant(r)]
    claims = [r for r in base if not r.get("control")]
    controls = [r for r in base if r.get("control")]
    variants = [r for r in results if variant(r)]
    calibrations = store.load_calibrations(out, profile)
    lines = [f"## Profile `{profile}`", ""]
    if base:
        lines += [_header(claims, controls), ""]
    if profile == "smoke" and results:
        lines += ["*smoke profile: nothing is asserted — a result only says that the plumbing ran.*", ""]
    if claims:
        lines += ["### Claims", ""]
        lines += _table(("claim", "source", "check", "measured [interval]", "expected", "status", "s", "figure",
                         "calibration"),
                        (row for r in claims for row in _claim_rows(out, r, calibrations)))
        lines.append("")
    if controls:
        lines += ["### Negative controls", "",
                  "Each control changes a setting so that the theory predicts the checks it names to **fail** "
                  "(marked *must fail*); its other checks (preconditions) must still hold.", ""]
        lines += _table(("claim", "control", "why", "check", "measured [interval]", "expected", "status",
                         "as predicted", "s", "figure", "calibration"),
                        (row for r in controls for row in _control_rows(out, r, calibrations)))
        lines.append("")
    identities = [(r, c) for r in claims for c in r.get("checks") or [] if c.get("role") == "identity"]
    if identities:
        lines += ["### Identities", "",
                  "Checks that hold for any network by algebra or round-off: they test the engine (a failure means "
                  "the code is wrong), not the papers, and are not counted as evidence.", ""]
        lines += _table(("claim", "identity", "measured", "bound", "held"),
                        ([r.get("id", "?"), c.get("name", "?"), measured(c), expectation(c),
                          "yes" if c.get("passed") else "**no** ❌"] for r, c in identities))
        lines.append("")
    invalid = [r for r in base if outcome(r) == "invalid"]
    if invalid:
        lines += ["### Invalid runs", "",
                  f"{len(invalid)} of {len(base)} results are invalid: a precondition failed, so they neither pass "
                  "nor fail.", ""]
        lines += [f"- `{label(r)}`: {invalid_reason(r)}" for r in invalid] + [""]
    if calibrations:
        lines += _calibration_section(out, calibrations)
    if variants:
        lines += _variants_section(out, variants)
    errors = [r for r in results if r.get("error")]
    if errors:
        lines += ["### Errors", ""]
        for r in errors:
            tail = "\n".join(r["error"].rstrip().splitlines()[-TRACEBACK_LINES:]).replace("```", "ʼʼʼ")
            last = r["error"].rstrip().splitlines()[-1] if r["error"].strip() else ""
            lines += ["<details>", f"<summary><code>{_html(label(r))}</code> ({r.get('status', '?')}): "
                      f"{_html(last[:200])}</summary>", "", "```text", tail, "```", "", "</details>", ""]
    mitigation = out / profile / MITIGATION
    if mitigation.is_file():
        lines += _mitigation_section(out, profile, mitigation)
    return lines


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _header(claims: list[dict], controls: list[dict]) -> str:
    results = claims + controls
    seconds = sum(float(r.get("seconds") or 0.0) for r in results)
    vers = []
    for key in VERSION_KEYS:
        values = sorted({str(r.get("versions", {}).get(key, "")) for r in results} - {""})
        if values:
            vers.append(f"{key} {' / '.join(values)}" + (" (mixed!)" if len(values) > 1 else ""))
    if results and not any(asserted(r) for r in results):
        errors = sum(outcome(r) == "error" for r in results)
        parts = [f"**{len(results) - errors} ran / {errors} error** (nothing asserted)"]
        if controls:
            parts.append(f"controls ran without error {sum(ok(r) for r in controls)}/{len(controls)} (not asserted)")
    else:
        counts = {o: sum(outcome(r) == o for r in claims) for o in OUTCOMES}
        parts = [f"**{counts['as predicted']} pass / {counts['not discriminating']} not discriminating / "
                 f"{counts['not as predicted']} fail / {counts['invalid']} invalid / {counts['error']} error**"]
        checks = [c for r in claims for c in r.get("checks") or []]
        science = [c for c in checks if c.get("role", "science") == "science"]
        parts.append(f"science checks {sum(c.get('passed') is True for c in science)}/{len(science)} passed, "
                     f"{sum(c.get('discriminating') is False for c in science)} not discriminating, "
                     f"{sum(bool(c.get('biased')) for c in science)} biased; identities "
                     f"{sum(c.get('passed') is True for c in checks if c.get('role') == 'identity')}/"
                     f"{sum(c.get('role') == 'identity' for c in checks)} held")
        if controls:
            parts.append(f"controls failing as predicted {sum(ok(r) for r in controls)}/{len(controls)}")
            inval = sum(outcome(r) == "invalid" for r in controls)
            if inval:
                parts.append(f"{inval} control{'s' if inval > 1 else ''} invalid")
    return " · ".join(parts + vers + [f"{fmt(seconds)} s in total"])


def _rel(out: Path, path: str | os.PathLike) -> str:
    return Path(os.path.relpath(path, out)).as_posix()


def _figure(out: Path, result: Mapping[str, Any]) -> str:
    if not result.get("figure"):
        return ""
    return f"[figure]({_rel(out, Path(result['_path']) / result['figure'])})"


def _check_cells(result: Mapping[str, Any], check: Mapping[str, Any]) -> tuple[str, str, str]:
    name = check.get("name", "?")
    if check.get("must_fail"):
        name += " (must fail)"
        if "lands_at" in check:
            name += f" (lands at {fmt(check['lands_at'])} ± {fmt(check.get('lands_tolerance'))}" + (
                ": ✗)" if check.get("landed") is False else ")")
    elif check.get("role") in ("precondition", "identity"):
        name += f" ({check['role']})"
    if asserted(result) and check.get("passed") is False:
        name += " ✗"
    return name, measured(check), expectation(check) + rules_out(check)


def stale_params(result: Mapping[str, Any]) -> list[str]:
    """The parameters on which a saved result differs from what the registry resolves now for its claim, profile,
    control and overrides: a result run before a parameter changed (its checks may still pass, but it is not the
    experiment the code defines). Empty when they agree, or when the claim, control or overrides are not known to
    the registry (a result from another checkout or a hand-made one)."""
    from .registry import get

    saved = result.get("params")
    if not isinstance(saved, Mapping) or "id" not in result:
        return []
    try:
        claim = get(result["id"])
        control = result.get("control")
        ctrl = next(c for c in claim.controls if c.name == control) if control else None
        overrides = {**(ctrl.overrides if ctrl else {}), **dict(result.get("overrides") or {})}
        now = json.loads(store.to_json(claim.resolve(str(result.get("profile", "ci")), overrides)))
    except (UsageError, StopIteration, KeyError, TypeError, ValueError):
        return []
    return _differing(saved, now)


def _differing(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The keys whose values differ between two parameter dicts (missing on one side counts), sorted."""
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _stale_text(result: Mapping[str, Any]) -> str:
    keys = stale_params(result)
    return f" · **stale**: run before {', '.join(keys)} changed" if keys else ""


def _status(r: Mapping[str, Any]) -> str:
    if not asserted(r) and r.get("status") != "error":
        return "ran (not asserted)" + _stale_text(r)
    text = _STATUS.get(r.get("status"), str(r.get("status")))
    if r.get("status") == "invalid":
        text += f" ({invalid_reason(r)})"
    return text + _stale_text(r)


def _calibration_cell(out: Path, r: Mapping[str, Any], calibrations: Mapping) -> str:
    cal = calibrations.get((r.get("id"), r.get("control") or None))
    if not cal:
        return ""
    k = cal.get("reseeds")
    return f"[{percent(cal.get('pass_rate'))} of {k if k is not None else '?'}]({_rel(out, cal['_path'])})"


def _claim_rows(out: Path, r: Mapping[str, Any], calibrations: Mapping) -> list[list[str]]:
    first = [r.get("id", "?"), r.get("source", ""), *_first_check(r), _status(r), fmt(r.get("seconds")),
             _figure(out, r), _calibration_cell(out, r, calibrations)]
    rest = [["", "", *_check_cells(r, c), "", "", "", ""] for c in r.get("checks", [])[1:]]
    return [first, *rest]


def _control_rows(out: Path, r: Mapping[str, Any], calibrations: Mapping) -> list[list[str]]:
    predicted = {"as predicted": "yes", "not asserted": "yes", "invalid": "invalid ⚠️",
                 "error": "**NO** ❌"}.get(outcome(r), "**NO** ❌")
    status = r.get("status", "?") if r.get("status") not in ("error", "invalid") else _status(r)
    if not asserted(r) and r.get("status") != "error":
        status = _status(r)
    first = [r.get("id", "?"), r.get("control", ""), r.get("control_why", ""), *_first_check(r), status, predicted,
             fmt(r.get("seconds")), _figure(out, r), _calibration_cell(out, r, calibrations)]
    rest = [["", "", "", *_check_cells(r, c), "", "", "", "", ""] for c in r.get("checks", [])[1:]]
    return [first, *rest]


def _first_check(r: Mapping[str, Any]) -> tuple[str, str, str]:
    checks = r.get("checks") or []
    return _check_cells(r, checks[0]) if checks else ("—", "—", "—")


def _papers_section(out: Path, plans: list, by_profile: Mapping[str, list[dict]], order: list[str]) -> list[str]:
    """Per source document (its plan in reproduce/): each figure, table or theorem, the claim that mirrors it, and
    its outcome at every profile present, linked to the result and its figure."""
    profiles = [p for p in order if by_profile.get(p) or (out / p / MITIGATION).is_file()]
    index = {p: {(r.get("id"), variant(r), r.get("control") or None): r for r in by_profile.get(p, [])}
             for p in profiles}
    lines = ["## By source document", "",
             "The reproduction plans of `reproduce/`, one per document (`nox -s reproduce -- 004` runs one): for each "
             "figure, table or theorem, the claim that reproduces it and its outcome at each profile (linked to the "
             "result; details in the profile sections below).", ""]
    for plan in plans:
        by = f" ({plan.authors})" if plan.authors else ""
        lines += [f"### {plan.document} — {plan.title}{by}", ""]
        rows = []
        for e in plan.claims:
            overrides = ", ".join(f"{k}={plain(v)}" for k, v in e.overrides.items())
            rows.append([e.mirrors, f"`{e.id}`" + (f" ({overrides})" if overrides else ""),
                         *(_paper_cell(out, index[p], e.id, _entry_variant(e, p)) for p in profiles)])
        rows += [[p.mirrors, f"`{p.id}`", *(["pending: not registered yet"] * len(profiles))] for p in plan.pending]
        if plan.mitigation:
            rows.append([plan.mitigation, "σ-shrinking mitigation (`ntkbench mitigate`)",
                         *(f"[ran]({_rel(out, out / p / MITIGATION)})" if (out / p / MITIGATION).is_file() else "—"
                           for p in profiles)])
        lines += _table(("mirrors", "claim", *(f"`{p}`" for p in profiles)), rows) + [""]
    return lines


def _entry_variant(entry, profile: str) -> str:
    """The variant folder of a plan entry's run at ``profile``: the slug of the overrides that change a value there
    (as the runner names it), "" when none does."""
    from .registry import get

    overrides = dict(entry.overrides)
    try:
        claim = get(entry.id)
        base, new = claim.resolve(profile), claim.resolve(profile, overrides)
        overrides = {k: v for k, v in overrides.items() if new[k] != base[k]}
    except UsageError:
        pass
    return store.variant_slug(overrides)


def _paper_cell(out: Path, index: Mapping, claim_id: str, slug: str) -> str:
    r = index.get((claim_id, slug, None))
    if r is None:
        return "—"
    text = f"[{outcome_text(r)}]({_rel(out, Path(r['_path']) / 'result.json')}){_stale_text(r)}"
    ctrls = [c for (cid, v, ctrl), c in index.items() if cid == claim_id and v == slug and ctrl]
    if ctrls:
        what = "as predicted" if any(asserted(c) for c in ctrls) else "ran"
        text += f"; controls {what} {sum(ok(c) for c in ctrls)}/{len(ctrls)}"
    if r.get("figure"):
        text += f" · {_figure(out, r)}"
    return text


def _calibration_section(out: Path, calibrations: Mapping) -> list[str]:
    lines = ["### Calibration", "",
             "Each calibration reruns a claim (or control) with K reseeds (`ntkbench calibrate`): the spread of each "
             "measured quantity, how often it passed its current tolerance, its noise band (a 99 % prediction "
             "interval for one reseeded run, centred on the theory: the tolerance a check should have), the bias "
             "of the reseeds' mean from the theory in standard errors (biased beyond 3: fixed in the experiment, "
             "never absorbed into the band), and the power against each alternative the check rules out (goal ≥ "
             "99 %; below it, the factor of data that would reach it).", ""]
    rows = []
    for (cid, ctrl), cal in sorted(calibrations.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        quantities = cal.get("quantities") or {}
        first = True
        for name, q in quantities.items() if isinstance(quantities, Mapping) else ():
            q = q if isinstance(q, Mapping) else {}
            head = [cid, ctrl or "", f"[{percent(cal.get('pass_rate'))} of {cal.get('reseeds', '?')}]"
                    f"({_rel(out, cal['_path'])})"] if first else ["", "", ""]
            bias = f"{fmt(q.get('bias_se'), 2)} SE" + (" **biased**" if q.get("biased") else "") \
                if is_finite(q.get("bias_se")) else ""
            powers = ", ".join(f"{fmt(a.get('value'))}: {percent(a.get('power'))}"
                               + ("" if not is_finite(a.get("power")) or a["power"] >= power.POWER_GOAL
                                  else f" (×{fmt(a.get('cost_factor'), 2)})")
                               for a in q.get("alternatives") or () if "power" in a)
            if "lands_at" in q:
                powers = (f"lands at {fmt(q['lands_at'])} ± {fmt(q.get('lands_tolerance'))}: "
                          f"{percent(q.get('landed_rate'))}, bias {fmt(q.get('landing_bias_se'), 2)} SE")
            rows.append([*head, name + ("" if q.get("role", "science") == "science" else f" ({q.get('role')})"),
                         f"{fmt(q.get('mean'))} ± {fmt(q.get('sd'))}", percent(q.get("pass_rate")),
                         fmt(q.get("tolerance")), fmt(q.get("suggested_tolerance")), bias, powers])
            first = False
        if first:
            rows.append([cid, ctrl or "", f"[{percent(cal.get('pass_rate'))} of {cal.get('reseeds', '?')}]"
                         f"({_rel(out, cal['_path'])})", "—", "", "", "", "", "", ""])
    return lines + _table(("claim", "control", "pass rate", "quantity", "mean ± sd", "passed", "tolerance",
                           "noise band", "bias", "power vs alternatives (cost); a control's landing"), rows) + [""]


def _variants_section(out: Path, results: list[dict]) -> list[str]:
    lines = ["### Runs with overrides / errors", "",
             "Runs whose parameters differ from the profile's (`--set`, a plan's overrides) or that erred are kept "
             "under `variants/` and never replace a baseline result; they are not compared by `ntkbench compare`.",
             ""]
    rows = []
    for r in results:
        checks = "; ".join(f"{c.get('name', '?')} {fmt(c.get('measured'))} vs {expectation(c)}"
                           + (" ✗" if asserted(r) and c.get("passed") is False else "")
                           for c in r.get("checks") or []) or "—"
        rows.append([f"`{variant(r)}`", r.get("id", "?"), r.get("control") or "", outcome_text(r), checks,
                     fmt(r.get("seconds")), _figure(out, r)])
    return lines + _table(("variant", "claim", "control", "outcome", "checks", "s", "figure"), rows) + [""]


def _mitigation_section(out: Path, profile: str, path: Path) -> list[str]:
    lines = ["### Mitigation: shrinking σ (001 Sect. 3)", ""]
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
        history = list(m.get("history") or [])
    except (OSError, json.JSONDecodeError, TypeError, AttributeError) as exc:
        return lines + [f"`{path.relative_to(out).as_posix()}` is unreadable: {exc}", ""]
    if m.get("status") == "error":
        lines += [f"**error** ⚠️ — see `{path.relative_to(out).as_posix()}`", "", "```text",
                  "\n".join(str(m.get("error", "")).rstrip().splitlines()[-TRACEBACK_LINES:]), "```", ""]
    if m.get("status") == "error" and not history:
        return lines
    start = history[0].get("sigma") if history else None
    lines += [f"σ {fmt(start)} → {fmt(m.get('chosen_sigma'))}: validation loss {fmt(m.get('val_loss_start'))} → "
              f"{fmt(m.get('val_loss_chosen'))}, test loss {fmt(m.get('test_loss_start'))} → "
              f"{fmt(m.get('test_loss_chosen'))}; stopped because: {m.get('stop_reason') or '—'} "
              f"({fmt(m.get('seconds'))} s).", ""]
    params = m.get("params") or {}
    if params:
        lines += ["Settings: " + ", ".join(f"`{k}={plain(v)}`" for k, v in params.items()), ""]
    if history:
        chosen = m.get("chosen_sigma")
        lines += _table(("σ", "train loss", "val loss", "test loss", "steps", "converged"),
                        ([fmt(h.get("sigma")) + (" ← chosen" if h.get("sigma") == chosen else ""),
                          fmt(h.get("train_loss")), fmt(h.get("val_loss")), fmt(h.get("test_loss")),
                          fmt(h.get("steps")), {True: "yes", False: "**no**"}.get(h.get("converged"), "—")]
                         for h in history))
        lines.append("")
    if m.get("figure"):
        rel = (path.parent / m["figure"]).relative_to(out).as_posix()
        lines += [f"[figure]({rel})", ""]
    return lines


def plain(value: Any) -> str:
    """A parameter value as the command line's ``--set`` takes it: a list or tuple comma-separated (``2,3``),
    anything else via ``str``."""
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


# ----- comparison -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Regression:
    """One way in which a result got worse from the baseline to the new folder.

    ``kind``: ``missing`` (the result, or one of its checks, is absent from the new folder), ``status`` (the status
    changed, errors included), ``moved`` (a "within" check moved by more than its tolerance), ``verdict`` (a
    "below"/"above" check changed its pass/fail verdict), ``params`` (the two runs used different parameters)."""

    id: str
    control: str | None
    check: str | None
    kind: str
    detail: str

    def __str__(self) -> str:
        where = self.id + (f" [{self.control}]" if self.control else "") + (f" {self.check}" if self.check else "")
        return f"{where}: {self.kind}: {self.detail}"


def _index(out: str | os.PathLike, profile: str) -> dict[tuple[str, str | None], dict]:
    """The baseline results of ``profile`` under ``out`` by (id, control); a damaged one raises
    :class:`~ntkbench.harness.store.DamagedResult` (an input error: leaving it out would hide a regression)."""
    return {(r["id"], r.get("control")): r for r in store.load_results(out, profile, damaged="raise")}


def _folder(path: str | os.PathLike, which: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"{which} {str(path)!r}: no such folder" if not path.exists() else
                         f"{which} {str(path)!r} is not a folder")
    return path


def verdict(check: Mapping[str, Any], by: Mapping[str, Any] | None = None) -> bool:
    """Whether a saved check passes, judged from its measured value by the expectation, tolerance and mode of
    ``by`` (default: its own), never from its stored ``passed`` flag: a value that is not a finite number never
    passes."""
    by = check if by is None else by
    value, e, t = check.get("measured"), _num(by.get("expected")), _num(by.get("tolerance"))
    if not is_finite(value):
        return False
    mode = by.get("mode", "within")
    if mode == "below":
        return value <= e + t
    if mode == "above":
        return value >= e - t
    return abs(value - e) <= t


def compare(baseline: str | os.PathLike, new: str | os.PathLike, profile: str = "ci") -> list[Regression]:
    """Regressions of ``new`` with respect to ``baseline`` at ``profile`` (claims and controls alike).

    Results present only in ``new`` are additions, not regressions: they are ignored here (see :func:`added`).
    A status change counts even when it is an improvement (fail → pass), since the recorded baseline no longer
    describes the code. For a "within" check the allowed movement is the baseline's tolerance; "below"/"above"
    checks (round-off bounds or 0) are compared by their verdict only, each side's measured value judged by the
    baseline's bound (:func:`verdict`; the stored ``passed`` flags are not trusted). Results whose parameters differ
    are reported once as ``params`` and not compared further. Runs with overrides or errors (``variants/``) are not
    baselines and are ignored on both sides. Raises :class:`~ntkbench.harness.registry.UsageError` when ``baseline``
    has no
    results for ``profile``, when either folder does not exist, and (:class:`~ntkbench.harness.store.DamagedResult`)
    when a
    result.json on either side is damaged (unreadable, not JSON, wrong types), naming the file."""
    _folder(baseline, "BASELINE")
    _folder(new, "NEW")
    base = _index(baseline, profile)
    if not base:
        raise UsageError(f"no results for profile {profile!r} under {str(baseline)!r}; "
                         f"profiles there: {_profiles(baseline) or 'none'}")
    cur = _index(new, profile)
    regressions: list[Regression] = []
    for (cid, ctrl), b in base.items():
        n = cur.get((cid, ctrl))
        if n is None:
            regressions.append(Regression(cid, ctrl, None, "missing", f"in {str(baseline)!r} but not in {str(new)!r}"))
        else:
            regressions += compare_result(b, n)
    return regressions


def compare_result(b: Mapping[str, Any], n: Mapping[str, Any]) -> list[Regression]:
    """The regressions of one result ``n`` from its baseline ``b`` (the same claim or control; result.json dicts),
    by the rules of :func:`compare`."""
    cid, ctrl = b["id"], b.get("control")
    regressions: list[Regression] = []

    def reg(kind: str, detail: str, check: str | None = None) -> None:
        regressions.append(Regression(cid, ctrl, check, kind, detail))

    if b.get("params") != n.get("params"):
        bp, np_ = b.get("params") or {}, n.get("params") or {}
        diff = [f"{k}: {plain(bp.get(k, '—'))} → {plain(np_.get(k, '—'))}" for k in _differing(bp, np_)]
        reg("params", "the runs used different parameters (" + "; ".join(diff) + "), so comparing their "
            "values is meaningless; rerun both with the same settings")
        return regressions
    if b.get("status") != n.get("status"):
        last = n.get("error", "").strip().splitlines()[-1:] if n.get("status") == "error" else []
        reg("status", f"{b.get('status')} → {n.get('status')}" + (f" ({last[0]})" if last else ""))
    new_checks = {c["name"]: c for c in n.get("checks", [])}
    for bc in b.get("checks", []):
        nc = new_checks.get(bc["name"])
        if nc is None:
            if n.get("status") != "error":  # an error is already reported as a status change
                reg("missing", "this check is no longer measured", bc["name"])
            continue
        if bc.get("mode", "within") == "within":
            vb, vn, tol = _num(bc.get("measured")), _num(nc.get("measured")), _num(bc.get("tolerance"))
            if (math.isnan(vb) != math.isnan(vn)) or (not math.isnan(vb) and abs(vn - vb) > tol):
                reg("moved", f"{fmt(vb)} → {fmt(vn)}: |Δ| = {fmt(abs(vn - vb))} > tolerance {fmt(tol)}", bc["name"])
        elif verdict(bc) != verdict(nc, by=bc):  # from the values, never from the stored "passed" flags
            reg("verdict", f"{'passed' if verdict(bc) else 'failed'} → "
                f"{'passed' if verdict(nc, by=bc) else 'failed'} ({fmt(bc.get('measured'))} → "
                f"{fmt(nc.get('measured'))}, expected {expectation(bc)})", bc["name"])
    return regressions


def baseline_index(baseline: str | os.PathLike, profiles: Iterable[str]) -> dict[tuple[str, str, str | None], dict]:
    """The results in ``baseline`` at each of ``profiles`` by (profile, id, control), empty when the folder does not
    exist; a damaged result.json raises :class:`~ntkbench.harness.store.DamagedResult` naming the file. Read before a
    run
    that may write over them (``--update-baseline``)."""
    if not Path(baseline).is_dir():
        return {}
    return {(p, *key): r for p in dict.fromkeys(profiles) for key, r in _index(baseline, p).items()}


def against_baseline(index: Mapping[tuple[str, str, str | None], Mapping[str, Any]],
                     results: Sequence[Mapping[str, Any]]) -> tuple[list[Regression], list[str]]:
    """How the results just run compare with the baseline's (``index``: :func:`baseline_index`), as
    pytest-regressions reports: the regressions of each run without overrides or error (variant "") from the
    baseline's result of the same claim or control at its profile (:func:`compare_result`), and the labels of those
    the baseline lacks. Runs with overrides are not baselines and are not compared."""
    regressions: list[Regression] = []
    new: list[str] = []
    for r in results:
        if variant(r):
            continue
        b = index.get((r.get("profile", ""), r["id"], r.get("control")))
        if b is None:
            new.append(label(r))
        else:
            regressions += compare_result(b, r)
    return regressions, new


def _num(x: Any) -> float:
    """A number from result.json (None, as strict JSON writes NaN, becomes NaN)."""
    return math.nan if x is None else float(x)


def added(baseline: str | os.PathLike, new: str | os.PathLike, profile: str = "ci") -> list[str]:
    """Labels (``id`` or ``id [control]``) of the results in ``new`` that ``baseline`` lacks (not regressions)."""
    base = _index(baseline, profile)
    return [label(r) for key, r in _index(new, profile).items() if key not in base]


def _profiles(out: str | os.PathLike) -> str:
    return ", ".join(sorted({r.get("profile", "?") for r in store.load_results(out)}))
