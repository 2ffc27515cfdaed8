"""Running registered claims: sweep points (cached, resumable), the fit, the verdict, and the files in results/.

:func:`run_claim` runs one claim (or one of its negative controls) and returns a :class:`Result`; with ``out``
it writes ``result.json``, ``data.csv`` and ``figure.png`` (see :mod:`ntkbench.harness.store`; the folder as a
whole or not at all) and caches every finished sweep point, so an interrupted run resumes. A claim that raises is
recorded as ``status="error"`` with its traceback; :func:`run_many` goes on with the others (optionally in ``jobs``
worker processes). A run's life — resolve, measure, judge, write — is :mod:`ntkbench.harness.lifecycle` (its names
are re-exported here); the scheduling of many over workers is :mod:`ntkbench.harness.scheduler`, which this module
drives and which never imports it back.
"""

from __future__ import annotations

import functools
import io
import math
import os
import subprocess
import tarfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from . import power, registry, store
from .lifecycle import (  # noqa: F401  (the run lifecycle, re-exported: runner.start_run, runner.Result, ...)
    ENTRY_POINT,
    STATUSES,
    UNHASHED,
    ClaimRun,
    Context,
    Result,
    Task,
    _control,
    _fit_checks,
    _git_commit,
    _measure_name,
    _plain,
    _ReadTracker,
    _seeds,
    changed_overrides,
    code_hash,
    declared_values,
    finish_run,
    hash_files,
    hash_sources,
    hashed,
    hashed_module,
    judge_check,
    load_cached,
    measure_code,
    measure_point,
    result_ok,
    start_run,
    status_of,
    threads_per_worker,
    versions,
)
from .outcome import OK_OUTCOMES, outcome
from .scheduler import SerialBackend, run, schedule
from .spec import Claim, UsageError


def run_claim(
    claim: Claim | str,
    profile: str = registry.DEFAULT_PROFILE,
    overrides: Mapping[str, Any] | None = None,
    *,
    control: str | None = None,
    out: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.float64,
    fresh: bool = False,
    progress: bool = False,
) -> Result:
    """Run one claim (or its negative control ``control``) at ``profile`` with parameter ``overrides``, in this
    process, point after point (:func:`ntkbench.harness.scheduler.schedule` on its serial backend).

    Bad arguments (unknown id, profile, parameter, value out of range, control) raise :class:`UsageError`;
    failures inside the experiment give a result with ``status="error"``. With ``out`` the result's files are
    written there (see :func:`finish_run`) and finished sweep points are cached in ``cache`` (default: ``out``),
    so an interrupted run resumes; ``fresh=True`` recomputes every point."""
    run = start_run(claim, profile, overrides, control=control, device=device, dtype=dtype)
    return schedule([run], SerialBackend(), out=out, cache=cache, fresh=fresh, progress=progress)[0]


def split_overrides(claims: Sequence[Claim], sets: Mapping[str, str], profile: str = registry.DEFAULT_PROFILE,
                    controls: bool = False) -> dict[str, dict[str, str]]:
    """Per claim, the ``--set`` keys it declares; a key that no selected claim declares, or a value that does not
    resolve at ``profile`` (with each control's overrides too, when ``controls``), is a usage error."""
    allowed = sorted({p.name for c in claims for p in c.params})
    unknown = sorted(set(sets) - set(allowed))
    if unknown:
        raise UsageError(f"--set {unknown[0]}: no selected claim has this parameter; allowed keys: "
                         f"{', '.join(allowed)}")
    per = {c.id: {k: v for k, v in sets.items() if k in c.param_names()} for c in claims}
    for c in claims:  # resolve now, so that a bad value is a usage error before anything runs
        c.resolve(profile, per[c.id])
        for ctrl in c.controls if controls else ():
            c.resolve(profile, {**per[c.id], **ctrl.overrides})
    return per


def run_many(
    claims: Iterable[Claim],
    profile: str = registry.DEFAULT_PROFILE,
    sets: Mapping[str, str] | None = None,
    *,
    controls: bool = False,
    out: str | os.PathLike | None = None,
    device: str = "cpu",
    jobs: int = 1,
    scheduler: str | None = None,
    fresh: bool = False,
    progress: bool = False,
) -> list[Result]:
    """Run each claim (and, with ``controls=True``, each of its negative controls); never stops at a failure.
    The sweep points of all of them are the units of work (:mod:`ntkbench.harness.scheduler`): in this process, on
    ``jobs``
    local worker processes, or on the Dask cluster ``scheduler`` (an address, or ``local``)."""
    return run(tasks_for(claims, profile, sets, controls), jobs=jobs, scheduler=scheduler, out=out, device=device,
               fresh=fresh, progress=progress)


def tasks_for(claims: Iterable[Claim], profile: str = registry.DEFAULT_PROFILE, sets: Mapping[str, str] | None = None,
              controls: bool = False, only: Collection[str] | None = None) -> list[Task]:
    """One :class:`Task` per claim with its ``--set`` keys (:func:`split_overrides`), then,
    with ``controls``, one per negative control (only those named in ``only``, when given)."""
    claims = list(claims)
    per = split_overrides(claims, sets or {}, profile, controls)
    tasks = [Task(c, profile, per[c.id]) for c in claims]
    if controls:
        tasks += [Task(c, profile, per[c.id], ctrl.name) for c in claims for ctrl in c.controls
                  if only is None or ctrl.name in only]
    return tasks


def rejudge(result: Mapping[str, Any], out: str | os.PathLike | None = None, by: str | None = None) -> dict[str, Any]:
    """A saved result (a result.json dict) judged again by the current declarations, its measured values kept:
    each check's expectation, band, role, spread, alternatives (and a control's landing) as the registry declares
    them now at the result's parameters, its verdict, the status, the power (:func:`ntkbench.harness.power.judge`, with
    the
    calibration records of ``out`` and the committed baseline) and the outcome. Valid while the experiment did not
    change since the run (versions.git); ``rejudged`` says so. A check the code no longer declares is dropped; one
    it declares that the run lacks makes the rejudged result an error (it needs a rerun). ``by``: the judging
    commit (default: this checkout's now; a caller that rewrites several results reads it once, before the first
    write makes the checkout dirty)."""
    by = versions().get("git", "") if by is None else by
    claim = registry.get(result["id"])
    ctrl = _control(claim, result.get("control")) if result.get("control") else None
    params = claim.resolve(result["profile"], declared_values(result.get("params")))
    measured = {c["name"]: c for c in result.get("checks") or []}
    checks, missing = [], []
    for exp in claim.expect(params):
        old = measured.get(exp.name)
        if old is None:
            missing.append(exp.name)
            continue
        value = float(old["measured"]) if old.get("measured") is not None else math.nan
        checks.append(judge_check(exp, value, old.get("interval", [math.nan, math.nan]), old.get("method", ""), ctrl,
                                  params))
    new = {k: v for k, v in result.items() if not k.startswith("_")}
    if result.get("status") == "error" or missing:
        new.update(status="error", error=result.get("error") or f"rejudged: the code now declares {missing}, "
                   "which this run did not measure: rerun it")
    else:
        new["status"] = status_of(checks)
    if not ctrl:
        folders = ([] if out is None else [Path(out)]) + [power.baseline_folder()]
        power.judge(checks, power.find_record(claim.id, None, result["profile"], params, folders))
    new.update(checks=checks, statement=claim.statement, control_why=ctrl.why if ctrl else "",
               control_fails=list(ctrl.fails) if ctrl else [])
    first = checks[0] if checks else {}
    new.update(measured=first.get("measured", math.nan), interval=first.get("interval", [math.nan, math.nan]),
               expected=first.get("expected", math.nan), tolerance=first.get("tolerance", math.nan))
    new["outcome"] = outcome(new)
    new["ok"] = new["outcome"] in OK_OUTCOMES
    new["rejudged"] = {"by": by, "note": "the values measured by this run (versions.git) "
                       "judged again by the current declarations (bands, roles, alternatives, power); nothing "
                       "was rerun"}
    return new


@functools.cache
def measuring_code_at(commit: str) -> str:
    """:func:`code_hash` of the package as committed at ``commit`` (read with ``git archive``, nothing checked
    out); "" when it cannot be read (no git, an unknown commit). Read once per commit and process: a folder's
    results share a few measuring commits, and :func:`reanalyse` asks again what :func:`reanalyse_folder` asked."""
    root = Path(__file__).resolve().parents[2]
    try:
        tar = subprocess.run(["git", "archive", "--format=tar", commit, "ntkbench"], cwd=root, capture_output=True,
                             timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        return hash_files((Path(m.name).relative_to("ntkbench"), t.extractfile(m).read()) for m in t.getmembers()
                          if m.isfile() and m.name.endswith(".py"))


def reanalysable(result: Mapping[str, Any]) -> str:
    """Why the saved ``result`` cannot be fitted again from its data.csv by this code ("" when it can): its
    measurements must come from the code that measures now — a clean commit (``versions.git``, the first word: a
    rejudged result names its measuring commit first) whose engine and experiments (:func:`code_hash`) are this
    checkout's."""
    if not (Path(result["_path"]) / "data.csv").is_file():
        return "no data.csv saved: rerun it"
    why = measured_by_other_code(result)
    return f"{why}: rerun it" if why else ""


def measured_by_other_code(result: Mapping[str, Any]) -> str:
    """Why the saved ``result`` was not measured by this checkout's engine and experiments ("" when it was): its
    commit (``versions.git``, the first word) is unrecorded, dirty, unreadable from git, or hashes
    (:func:`code_hash`) otherwise. Its values, and its timings, are then another code's."""
    commit = str((result.get("versions") or {}).get("git", "")).split(" ")[0]
    if not commit or commit.endswith("+dirty"):
        return f"measured by uncommitted code ({commit or 'no commit recorded'})"
    at = measuring_code_at(commit)
    if not at:
        return f"the code of commit {commit} cannot be read from git here"
    if at != code_hash():
        return f"the engine or experiments changed since {commit}, which measured it"
    return ""


def reanalyse(result: Mapping[str, Any], out: str | os.PathLike, by: str | None = None) -> dict[str, Any]:
    """A saved result (a result.json dict from :func:`store.load_results` under ``out``) fitted and judged again
    from its data.csv by the current claims' analysis — the fit, the checks, the figure — nothing measured again.
    Valid only when :func:`reanalysable` says so (raises ``ValueError`` with its reason otherwise). Its folder is
    rewritten as a whole; the run's own provenance stays (``versions``, ``seconds``, ``timings``: what measured it
    and what that cost) and ``reanalysed`` names the commit whose analysis it now carries (``by``, as
    :func:`rejudge`'s)."""
    by = versions().get("git", "") if by is None else by
    why = reanalysable(result)
    if why:
        raise ValueError(f"{result['id']}: {why}")
    run = start_run(result["id"], result["profile"], declared_values(result.get("overrides")),
                    control=result.get("control"))
    if run.error:
        raise ValueError(f"{result['id']}: its sweep cannot be built by this code:\n{run.error}")
    run.frames = [store.read_csv(Path(result["_path"]) / "data.csv")]
    stamp = {k: result[k] for k in ("seconds", "versions", "timings", "points_cached") if k in result}
    stamp["reanalysed"] = {"by": by, "note": "the data measured by this run (versions.git) fitted and judged again "
                           "by the current analysis; nothing was measured again"}
    return {**finish_run(run, out, stamp).to_dict(), **stamp}


def reanalyse_folder(out: str | os.PathLike, profile: str) -> list[tuple[dict[str, Any], str]]:
    """:func:`reanalyse` every baseline result of ``profile`` under ``out`` that can be (variants are left alone);
    per result the new dict and "" — or the saved one and why it was left as it is."""
    done, by = [], versions().get("git", "")  # the commit before the first rewrite
    for r in store.load_results(out, profile, damaged="raise"):
        why = reanalysable(r)
        done.append((r, why) if why else (reanalyse(r, out, by), ""))
    return done


def rejudge_folder(out: str | os.PathLike, profile: str) -> list[dict[str, Any]]:
    """:func:`rejudge` every baseline result.json of ``profile`` under ``out`` (variants are left alone), rewriting
    each in place; returns the rejudged results."""
    done, by = [], versions().get("git", "")  # the commit before the first rewrite
    for r in store.load_results(out, profile, damaged="raise"):  # a damaged file is named, never rewritten
        new = rejudge(r, out, by)
        store.atomic_write_text(Path(r["_path"]) / "result.json", store.to_json(new))
        done.append(new)
    return done
