"""One claim's run, from its parameters to its judged result: :func:`start_run` resolves the parameters into sweep
points and their cache keys (:func:`code_hash`: the engine and the experiments, by folder), :func:`measure_point`
measures one, :func:`finish_run` fits the checks, judges them (:func:`judge_check`, :func:`status_of`) and writes the
:class:`Result`. :mod:`ntkbench.harness.scheduler` drives these over workers; :mod:`ntkbench.harness.runner` is the
entry point (``run_claim``, ``run_many``) and re-exports them."""

from __future__ import annotations

import functools
import hashlib
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .._validation import check_device
from . import power, registry, store
from .outcome import OK_OUTCOMES, outcome
from .outcome import ok as result_ok  # Result.ok for a saved result (a dict read from result.json)
from .spec import Claim, Control, Measurement, UsageError

STATUSES = ("pass", "fail", "invalid", "error")


@dataclass(frozen=True)
class Context:
    """Where the experiments run: passed to every ``measure(point, ctx)``."""

    device: str = "cpu"
    dtype: torch.dtype = torch.float64

    def key(self) -> dict[str, str]:
        """What, besides the sweep point, determines a point's rows: device type, dtype and the package's code."""
        return {"device": torch.device(self.device).type, "dtype": str(self.dtype), "code": code_hash()}


# The package has three rooms, one folder each. The engine (the top-level modules that compute: networks, kernels,
# training, data, fits) with the experiments (``ntkbench/experiments``: what each claim measures at one sweep point)
# makes the rows; the claims (``ntkbench/claims``: parameter declarations, checks, statistics, figures) judge them;
# the harness (``ntkbench/harness``: registry, runner, scheduler, store, report, calibration, plans, catalogue, CLI)
# declares, schedules, stores and presents. Only the first room can change a measured row, so the cache key hashes
# it, by folder, and nothing else: editing a check, a figure or the CLI keeps hours of cached sweep points. The
# hashed room imports nothing outside it (tests/test_rooms.py holds that rule and that every measurement is in it).
#: the folders outside the cache key
UNHASHED = ("claims", "harness")


#: the entry point of ``python -m ntkbench`` (it only calls the harness's CLI)
ENTRY_POINT = "__main__.py"


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """Hash of the source files that compute measurements (the engine and ``ntkbench/experiments``; not the claims or
    the harness): a change to them invalidates the cache of finished sweep points."""
    return hash_sources(Path(__file__).parents[1])


def hashed(rel: Path) -> bool:
    """Whether the source file at ``rel`` (relative to the package) is in the code hash: everything but the
    :data:`UNHASHED` folders and the entry point."""
    return rel.parts[0] not in UNHASHED and rel.as_posix() != ENTRY_POINT


def hash_sources(root: Path) -> str:
    """The hash of :func:`code_hash` for the package source tree at ``root``."""
    return hash_files((path.relative_to(root), path.read_bytes()) for path in root.rglob("*.py"))


def hash_files(files: Iterable[tuple[Path, bytes]]) -> str:
    """The hash of :func:`code_hash` over a package's source files given as (path relative to the package, bytes)
    — read from a tree (:func:`hash_sources`) or from a commit's archive."""
    h = hashlib.sha256()
    for rel, data in sorted(files, key=lambda f: f[0]):
        if hashed(rel):
            h.update(str(rel).encode())
            h.update(data)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Result:
    """The outcome of one claim (or negative control) at one profile.

    ``status``: ``error`` (it raised), ``invalid`` (a precondition check failed: the experiment did not run as
    designed), else ``pass`` / ``fail`` by the science checks. ``checks``: one dict per expectation (name,
    measured, interval, expected, tolerance, mode, role, passed, reason, method; for a control ``must_fail``).
    ``outcome`` (:func:`ntkbench.harness.outcome.outcome`) compares the status with the prediction: a claim must pass; a
    control must fail on every check it names. ``asserted`` is False at the ``smoke`` profile, which only runs the
    plumbing. ``variant``: "" for a run at the profile's own parameters, else the slug of the overrides (and ``error``)
    under which the files were written, beside the baseline and never over it. ``timings``: each point's parameters
    and the seconds its measurement took (measured now or recorded in the cache), by which the scheduler orders the
    next run's points (:mod:`ntkbench.harness.scheduler`)."""

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
    from .. import __version__

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


def hashed_module(module: str) -> bool:
    """Whether the imported module named ``module`` is one of this package's files in the code hash
    (:func:`hashed`); False for a module of another package or one not imported."""
    file = getattr(sys.modules.get(module), "__file__", None)
    if not file:
        return False
    try:
        rel = Path(file).resolve().relative_to(Path(__file__).resolve().parents[1])
    except ValueError:
        return False
    return hashed(rel)


def measure_code(claim: Claim) -> dict[str, str]:
    """What the cache key adds for a measurement outside the hashed rooms (a claim registered from a user's own
    module, or written into a claims module): the hash of the source file that defines it (of the function alone
    when there is no file). {} for an experiment of ``ntkbench.experiments`` or the engine, which
    :func:`code_hash` covers."""
    import inspect

    fn = claim.measure
    if hashed_module(str(getattr(fn, "__module__", ""))):
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


def finish_run(run: ClaimRun, out: str | os.PathLike | None = None,
               stamp: Mapping[str, Any] | None = None) -> Result:
    """The fit, the verdict, the figure and (with ``out``) the files of a run whose points are all in (or that
    erred): ``result.json``, ``data.csv`` and ``figure.png`` under :func:`store.claim_dir`, a run with overrides or
    one that errs beside the baseline under ``variants/``, never over it. ``stamp``: fields that replace or extend
    the written result.json (a reanalysis keeps the measuring run's provenance), in the same write."""
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
        files["result.json"] = store.to_json({**result.to_dict(), **(stamp or {})}).encode("utf-8")
        store.write_folder(folder, files)  # a WriteError names the path; the points are cached already
    return result


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def declared_values(saved: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parameters as a result.json saved them (:func:`_plain`'s lists) back as the registry declares them (tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in (saved or {}).items()}


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
