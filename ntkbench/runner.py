"""Running registered claims: sweep points (cached, resumable), the fit, the verdict, and the files in results/.

:func:`run_claim` runs one claim (or one of its negative controls) and returns a :class:`Result`; with ``out``
it writes ``result.json``, ``data.csv`` and ``figure.png`` (see :mod:`ntkbench.store`; the folder as a whole or not
at all) and caches every finished sweep point, so an interrupted run resumes. A claim that raises is recorded as
``status="error"`` with its traceback; :func:`run_many` goes on with the others (optionally in ``jobs`` worker
processes).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import platform
import subprocess
import time
import traceback
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import power, registry, store
from ._validation import check_device
from .outcome import OK_OUTCOMES, outcome
from .outcome import ok as result_ok  # Result.ok for a saved result (a dict read from result.json)
from .registry import Claim, Control, Measurement, UsageError

STATUSES = ("pass", "fail", "invalid", "error")


@dataclass(frozen=True)
class Context:
    """Where the experiments run: passed to every ``measure(point, ctx)``."""

    device: str = "cpu"
    dtype: torch.dtype = torch.float64

    def key(self) -> dict[str, str]:
        """What, besides the sweep point, determines a point's rows: device type, dtype and the package's code."""
        return {"device": torch.device(self.device).type, "dtype": str(self.dtype), "code": code_hash()}


# The package has three rooms. The engine (the top-level modules that compute: networks, kernels, training, data,
# fits) and the experiments (``ntkbench/experiments``: what each claim measures at one sweep point) make the rows;
# the claims (``ntkbench/claims``: checks, statistics, figures, parameter declarations) judge them; the harness (the
# modules below) declares, schedules, stores and presents. Only the first two can change a measured row, so the
# cache key hashes them and nothing else: editing a check, a figure or the CLI keeps hours of cached sweep points.
# An experiment never imports the claims or the harness (tests/test_rooms.py holds both rules).
HARNESS = frozenset({"cli.py", "report.py", "figures.py", "store.py", "runner.py", "scheduler.py", "calibrate.py",
                     "plans.py", "catalogue.py", "mitigation.py", "dask_plugins.py", "power.py", "outcome.py",
                     "stop.py", "registry.py", "__main__.py"})
#: the folder of the claims room, never hashed
CLAIMS = "claims"


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """Hash of the source files that compute measurements (the engine and ``ntkbench/experiments``; not the claims
    room nor the :data:`HARNESS` modules): a change to them invalidates the cache of finished sweep points."""
    return hash_sources(Path(__file__).parent)


def hashed(rel: Path) -> bool:
    """Whether the source file at ``rel`` (relative to the package) is in the code hash: an engine module (top level,
    not :data:`HARNESS`) or anything under ``experiments/``."""
    if len(rel.parts) == 1:
        return rel.name not in HARNESS
    return rel.parts[0] == "experiments"


def hash_sources(root: Path) -> str:
    """The hash of :func:`code_hash` for the package source tree at ``root``."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if not hashed(rel):
            continue
        h.update(str(rel).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Result:
    """The outcome of one claim (or negative control) at one profile.

    ``status``: ``error`` (it raised), ``invalid`` (a precondition check failed: the experiment did not run as
    designed), else ``pass`` / ``fail`` by the science checks. ``checks``: one dict per expectation (name,
    measured, interval, expected, tolerance, mode, role, passed, reason, method; for a control ``must_fail``).
    ``outcome`` (:func:`ntkbench.outcome.outcome`) compares the status with the prediction: a claim must pass; a
    control must fail on every check it names. ``asserted`` is False at the ``smoke`` profile, which only runs the
    plumbing. ``variant``: "" for a run at the profile's own parameters, else the slug of the overrides (and ``error``)
    under which the files were written, beside the baseline and never over it. ``timings``: each point's parameters
    and the seconds its measurement took (measured now or recorded in the cache), by which the scheduler orders the
    next run's points (:mod:`ntkbench.scheduler`)."""

    id: str
    family: str
    source: str
    statement: str
    status: str
    profile: str
    params: dict[str, Any]
    seeds: list[int]
    checks: list[dict[str, Any]]
    seconds: float
    versions: dict[str, str]
    control: str | None = None
    control_why: str = ""
    control_fails: list[str] = field(default_factory=list)
    asserted: bool = True
    points: int = 0
    points_cached: int = 0
    error: str = ""
    figure: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    variant: str = ""
    timings: list[dict[str, Any]] = field(default_factory=list, repr=False, compare=False)
    data: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def _first(self, key: str) -> Any:
        return self.checks[0][key] if self.checks else math.nan

    @property
    def measured(self) -> float:
        return self._first("measured")

    @property
    def interval(self) -> tuple[float, float]:
        return tuple(self._first("interval")) if self.checks else (math.nan, math.nan)

    @property
    def expected(self) -> float:
        return self._first("expected")

    @property
    def tolerance(self) -> float:
        return self._first("tolerance")

    @property
    def outcome(self) -> str:
        return outcome(self.to_dict())

    @property
    def ok(self) -> bool:
        """As the theory predicts (at ``smoke``, where nothing is asserted: it ran without error)."""
        return result_ok(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("data")
        d.update(measured=self.measured, interval=list(self.interval), expected=self.expected,
                 tolerance=self.tolerance, params_differ=bool(self.overrides))
        d["outcome"] = outcome(d)
        d["ok"] = d["outcome"] in OK_OUTCOMES
        return d


def versions(device: str = "cpu") -> dict[str, str]:
    """Versions of the software that produced a result. ``git`` is the commit of the package's checkout, or the
    environment variable NTKBENCH_GIT when set (``nox -s reproduce`` records the state before anything it runs
    rewrites tracked files)."""
    from . import __version__

    v = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
         "pandas": pd.__version__, "ntkbench": __version__, "git": os.environ.get("NTKBENCH_GIT") or _git_commit(),
         "platform": platform.platform()}
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        v["device"] = torch.cuda.get_device_name()
    return v


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5).stdout
        return out.stdout.strip() + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def _measure_name(claim: Claim) -> str:
    return f"{claim.measure.__module__}.{claim.measure.__qualname__}"


def measure_code(claim: Claim) -> dict[str, str]:
    """What the cache key adds for a measurement outside the hashed rooms (a claim registered from a user's own
    module, or written into a claims module): the hash of the source file that defines it (of the function alone
    when there is no file). {} for an experiment of ``ntkbench.experiments`` or the engine, which
    :func:`code_hash` covers."""
    import inspect

    fn = claim.measure
    parts = str(getattr(fn, "__module__", "")).split(".")
    if parts[0] == "ntkbench" and hashed(Path(*parts[1:-1], parts[-1] + ".py") if len(parts) > 1
                                         else Path("__init__.py")):
        return {}
    try:
        source = Path(inspect.getsourcefile(fn) or "").read_bytes()
    except (OSError, TypeError):
        try:
            source = inspect.getsource(fn).encode()
        except (OSError, TypeError):
            source = repr(fn).encode()
    return {"measure_code": hashlib.sha256(source).hexdigest()[:16]}


def _control(claim: Claim, name: str | None) -> Control | None:
    if name is None:
        return None
    for c in claim.controls:
        if c.name == name:
            return c
    raise UsageError(f"claim {claim.id!r} has no negative control {name!r}; "
                     f"its controls: {[c.name for c in claim.controls]}")


def _seeds(params: Mapping[str, Any]) -> list[int]:
    n = params.get("seeds")
    offset = params.get("seed_offset", 0) * registry.SEED_STRIDE
    return [offset + s for s in range(int(n))] if isinstance(n, int) else []


class _ReadTracker(dict):
    """A sweep point that remembers which keys the measurement read (``point[k]``, ``point.get(k)``)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def _fit_checks(claim: Claim, data: pd.DataFrame, params) -> tuple[dict, dict[str, Exception]]:
    """Every check's measurements; a check whose fit raises is recorded by its expectation names, so that a run
    whose preconditions failed (diverged members, NaN rows) is reported ``invalid`` rather than ``error``."""
    meas: dict = {}
    raised: dict[str, Exception] = {}
    for check in claim.checks:
        try:
            meas.update(check.fit(data, params))
        except Exception as exc:  # noqa: BLE001 - re-raised by the caller unless a precondition failed
            raised.update({e.name: exc for e in check.expect(params)})
    return meas, raised


def measure_point(claim: Claim, point: Mapping[str, Any], ctx: Context) -> pd.DataFrame:
    """``claim.measure(point, ctx)``, checking that it read every key of the point: a declared parameter that the
    experiment ignores would be measured at a default while the cache key and the report say otherwise."""
    tracked = _ReadTracker(point)
    df = pd.DataFrame(claim.measure(tracked, ctx))
    unread = sorted(set(point) - tracked.read)
    if unread:
        raise RuntimeError(f"claim {claim.id!r}: its measurement never read the declared parameter(s) {unread}; "
                           "an override of them would not reach the experiment (declare them analysis=True if only "
                           "the checks use them, or read them in measure)")
    return df


def changed_overrides(claim: Claim, profile: str, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The overrides whose resolved value differs from the profile's (these make a run a variant)."""
    if not overrides:
        return {}
    base, new = claim.resolve(profile), claim.resolve(profile, overrides)
    return {k: v for k, v in overrides.items() if new[k] != base[k]}


@dataclass(frozen=True)
class Task:
    """One claim or negative control to run: the claim, the profile, its parameter overrides, the control's name."""

    claim: Claim | str
    profile: str = registry.DEFAULT_PROFILE
    overrides: Mapping[str, Any] = field(default_factory=dict)
    control: str | None = None


@dataclass
class ClaimRun:
    """One claim (or one of its negative controls) being run: what :func:`start_run` resolved (parameters, sweep
    points and their cache keys) and the rows of each point as they arrive; :func:`finish_run` turns it into a
    :class:`Result`. ``error``: the traceback that makes the result ``status="error"`` (the sweep could not be
    built, or a point raised); the points after it are then not measured."""

    claim: Claim
    profile: str
    ctrl: Control | None
    user: dict[str, Any]
    params: dict[str, Any]
    ctx: Context
    points: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    frames: list[pd.DataFrame | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # per point: measured now, or as recorded in the cache
    cached: int = 0
    spent: float = 0.0  # seconds of the points measured in this run (not those read from the cache)
    error: str = ""

    @property
    def measure_name(self) -> str:
        return _measure_name(self.claim)


def start_run(claim: Claim | str, profile: str = registry.DEFAULT_PROFILE,
              overrides: Mapping[str, Any] | None = None, *, control: str | None = None, device: str = "cpu",
              dtype: torch.dtype = torch.float64) -> ClaimRun:
    """Resolve a run: bad arguments (unknown id, profile, parameter, value out of range, control) raise
    :class:`UsageError`; a sweep that cannot be built is recorded in ``error``."""
    claim = registry.get(claim) if isinstance(claim, str) else claim
    registry.check_profile(profile)
    check_device(device)
    ctrl = _control(claim, control)
    user = changed_overrides(claim, profile, overrides)
    params = claim.resolve(profile, {**(overrides or {}), **(ctrl.overrides if ctrl else {})})
    run = ClaimRun(claim, profile, ctrl, user, params, Context(device=str(device), dtype=dtype))
    try:
        run.points = claim.points(params)
        context = {**run.ctx.key(), **measure_code(claim)}
        run.keys = [store.point_key(run.measure_name, p, context) for p in run.points]
    except Exception:  # noqa: BLE001 - a failing claim never stops the others; the traceback is recorded
        run.error = traceback.format_exc()
    run.frames = [None] * len(run.points)
    run.seconds = [math.nan] * len(run.points)
    return run


def load_cached(run: ClaimRun, cache: str | os.PathLike | None) -> list[int]:
    """Fill ``run`` with its points cached in ``cache``; return the indices of the points still to measure."""
    todo = []
    for i, key in enumerate(run.keys):
        found = None if cache is None else store.load_point(cache, key, with_seconds=True)
        if found is None:
            todo.append(i)
        else:
            run.frames[i], run.seconds[i] = found
            run.cached += 1
    return todo


def status_of(checks: Iterable[Mapping[str, Any]]) -> str:
    """``invalid`` when a precondition failed, else ``pass`` when every science and identity check passed, else
    ``fail``."""
    checks = list(checks)
    if not all(c["passed"] for c in checks if c["role"] == "precondition"):
        return "invalid"
    return "pass" if all(c["passed"] for c in checks if c["role"] != "precondition") else "fail"


def judge_check(exp: registry.Expect, value: float, interval: list[float], method: str, ctrl: Control | None,
                params: Mapping[str, Any]) -> dict[str, Any]:
    """A result's check dict: the measured ``value`` judged by its expectation ``exp`` (and, for a control, whether
    the check must fail and where it must land)."""
    check = {"name": exp.name, "measured": value, "interval": interval, "expected": float(exp.expected),
             "tolerance": float(exp.tolerance), "mode": exp.mode, "role": exp.role, "passed": exp.passes(value),
             "reason": exp.reason, "method": method, "spread": exp.spread,
             "alternatives": [{"value": a.value, "why": a.why} for a in exp.alternatives]}
    if ctrl:
        check["must_fail"] = exp.base in ctrl.fails
        if exp.base in ctrl.lands:
            landing = ctrl.lands[exp.base]
            at = landing.at(params)
            check.update(lands_at=at, lands_tolerance=landing.tolerance, lands_reason=landing.reason,
                         landed=bool(abs(value - at) <= landing.tolerance))
    return check


def finish_run(run: ClaimRun, out: str | os.PathLike | None = None) -> Result:
    """The fit, the verdict, the figure and (with ``out``) the files of a run whose points are all in (or that
    erred): ``result.json``, ``data.csv`` and ``figure.png`` under :func:`store.claim_dir`, a run with overrides or
    one that errs beside the baseline under ``variants/``, never over it."""
    t0 = time.perf_counter()
    claim, ctrl, params = run.claim, run.ctrl, run.params
    status, checks, error, data, meas = "error", [], run.error, None, {}
    if not error:
        try:
            data = pd.concat(run.frames, ignore_index=True) if run.frames else pd.DataFrame()
            meas, raised = _fit_checks(claim, data, params)
            for exp in claim.expect(params):
                if exp.name not in meas and exp.name in raised:
                    meas[exp.name] = Measurement(math.nan, method=f"not measured: {raised[exp.name]}")
                if exp.name not in meas:
                    raise KeyError(f"the fit of {claim.id!r} returned no measurement {exp.name!r}")
                m = meas[exp.name]
                checks.append(judge_check(exp, float(m.value), [float(v) for v in m.interval], m.method, ctrl,
                                          params))
            verdict = status_of(checks)
            if verdict != "invalid" and raised:  # a science check could not be fitted although the experiment ran
                raise next(iter(raised.values()))  # as designed
            status = verdict
            if not ctrl:
                folders = ([] if out is None else [Path(out)]) + [power.baseline_folder()]
                power.judge(checks, power.find_record(claim.id, None, run.profile, params, folders))
        except Exception:  # noqa: BLE001 - a failing claim never stops the others; the traceback is recorded
            error = traceback.format_exc()
    variant = store.variant_slug(run.user, error=status == "error")
    figure = ""
    files: dict[str, bytes] = {}  # written together at the end: the folder as a whole or not at all
    if out is not None:
        folder = store.claim_dir(out, run.profile, claim.id, ctrl.name if ctrl else None, variant=variant)
        if data is not None and status != "error" and claim.figure is not None:
            try:
                from .figures import render

                files["figure.png"] = render(claim.figure, data, meas, params, claim.expect(params))
                figure = "figure.png"
            except Exception:  # noqa: BLE001 - a broken figure is reported, the result still stands
                error = "figure failed:\n" + traceback.format_exc()
    timings = [{"point": _plain(p), "seconds": s} for p, s in zip(run.points, run.seconds, strict=True)
               if math.isfinite(s)]
    result = Result(
        id=claim.id, family=claim.family, source=claim.source, statement=claim.statement, status=status,
        profile=run.profile, params=_plain(params), seeds=_seeds(params), checks=checks,
        seconds=run.spent + time.perf_counter() - t0, versions=versions(run.ctx.device),
        control=ctrl.name if ctrl else None, control_why=ctrl.why if ctrl else "",
        control_fails=list(ctrl.fails) if ctrl else [], asserted=run.profile != "smoke", points=len(run.points),
        points_cached=run.cached, error=error, figure=figure, overrides=_plain(run.user), variant=variant,
        timings=timings, data=data,
    )
    if out is not None:
        if data is not None:
            files["data.csv"] = store.csv_bytes(data)
        files["result.json"] = store.to_json(result.to_dict()).encode("utf-8")
        store.write_folder(folder, files)  # a WriteError names the path; the points are cached already
    return result


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
    process, point after point (:func:`ntkbench.scheduler.schedule` on its serial backend).

    Bad arguments (unknown id, profile, parameter, value out of range, control) raise :class:`UsageError`;
    failures inside the experiment give a result with ``status="error"``. With ``out`` the result's files are
    written there (see :func:`finish_run`) and finished sweep points are cached in ``cache`` (default: ``out``),
    so an interrupted run resumes; ``fresh=True`` recomputes every point."""
    from .scheduler import SerialBackend, schedule

    run = start_run(claim, profile, overrides, control=control, device=device, dtype=dtype)
    return schedule([run], SerialBackend(), out=out, cache=cache, fresh=fresh, progress=progress)[0]


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


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


def threads_per_worker(jobs: int) -> tuple[int, str]:
    """Intra-op threads for each of ``jobs`` worker processes: the cores divided among the workers, less the
    cores other work keeps busy (1-minute load average), at most ``OMP_NUM_THREADS`` when that is set (a job
    started first cannot see the ones started after it); a note when the machine is oversubscribed. Two
    processes with two threads each on two cores slow each other ~30× (README, "Claims")."""
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    free = max(1, round(cores - busy))
    threads = max(1, min(cores // max(1, jobs), free // max(1, jobs)))
    cap = os.environ.get("OMP_NUM_THREADS", "").strip()
    if cap.isdigit() and int(cap) > 0:
        threads = min(threads, int(cap))
    note = ""
    if busy >= cores - 0.5:
        note = (f"note: the machine is busy (load {busy:.1f} on {cores} cores): {jobs} worker(s) × {threads} "
                "thread(s); runs will be slower than usual")
    return threads, note


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
    The sweep points of all of them are the units of work (:mod:`ntkbench.scheduler`): in this process, on ``jobs``
    local worker processes, or on the Dask cluster ``scheduler`` (an address, or ``local``)."""
    from .scheduler import run

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


def rejudge(result: Mapping[str, Any], out: str | os.PathLike | None = None) -> dict[str, Any]:
    """A saved result (a result.json dict) judged again by the current declarations, its measured values kept:
    each check's expectation, band, role, spread, alternatives (and a control's landing) as the registry declares
    them now at the result's parameters, its verdict, the status, the power (:func:`ntkbench.power.judge`, with the
    calibration records of ``out`` and the committed baseline) and the outcome. Valid while the experiment did not
    change since the run (versions.git); ``rejudged`` says so. A check the code no longer declares is dropped; one
    it declares that the run lacks makes the rejudged result an error (it needs a rerun)."""
    claim = registry.get(result["id"])
    ctrl = _control(claim, result.get("control")) if result.get("control") else None
    params = claim.resolve(result["profile"], {k: (tuple(v) if isinstance(v, list) else v)
                                               for k, v in (result.get("params") or {}).items()})
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
    new["rejudged"] = {"by": versions().get("git", ""), "note": "the values measured by this run (versions.git) "
                       "judged again by the current declarations (bands, roles, alternatives, power); nothing "
                       "was rerun"}
    return new


def rejudge_folder(out: str | os.PathLike, profile: str) -> list[dict[str, Any]]:
    """:func:`rejudge` every baseline result.json of ``profile`` under ``out`` (variants are left alone), rewriting
    each in place; returns the rejudged results."""
    done = []
    for r in store.load_results(out, profile, damaged="raise"):  # a damaged file is named, never rewritten
        new = rejudge(r, out)
        store.atomic_write_text(Path(r["_path"]) / "result.json", store.to_json(new))
        done.append(new)
    return done
