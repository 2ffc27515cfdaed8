"""Running registered claims: sweep points (cached, resumable), the fit, the verdict, and the files in results/.

:func:`run_claim` runs one claim (or one of its negative controls) and returns a :class:`Result`; with ``out``
it writes ``result.json``, ``data.csv`` and ``figure.png`` (see :mod:`ntkbench.store`) and caches every finished
sweep point, so an interrupted run resumes. A claim that raises is recorded as ``status="error"`` with its
traceback; :func:`run_many` goes on with the others (optionally in ``jobs`` worker processes).
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
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import registry, store
from ._validation import check_device
from .registry import Claim, Control, UsageError

STATUSES = ("pass", "fail", "error")


@dataclass(frozen=True)
class Context:
    """Where the experiments run: passed to every ``measure(point, ctx)``."""

    device: str = "cpu"
    dtype: torch.dtype = torch.float64

    def key(self) -> dict[str, str]:
        """What, besides the sweep point, determines a point's rows: device type, dtype and the package's code."""
        return {"device": torch.device(self.device).type, "dtype": str(self.dtype), "code": code_hash()}


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """Hash of every source file of the installed ntkbench package: any change to the code invalidates the cache
    of finished sweep points (a resumed run reuses points only when the code is the one that computed them)."""
    root = Path(__file__).parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Result:
    """The outcome of one claim (or negative control) at one profile.

    ``checks``: one dict per expectation (name, measured, interval, expected, tolerance, mode, passed, reason,
    method); the top-level ``measured``/``interval``/``expected``/``tolerance`` are those of the first check.
    ``asserted`` is False at the ``smoke`` profile, whose status only says that the plumbing ran."""

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
    asserted: bool = True
    points: int = 0
    points_cached: int = 0
    error: str = ""
    figure: str = ""
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
    def ok(self) -> bool:
        """As the theory predicts: a claim passes, a negative control fails (at ``smoke``, where nothing is
        asserted: it ran without error)."""
        return result_ok(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("data")
        d.update(measured=self.measured, interval=list(self.interval), expected=self.expected,
                 tolerance=self.tolerance)
        d["ok"] = result_ok(d)
        return d


def result_ok(result: Mapping[str, Any]) -> bool:
    """:attr:`Result.ok` for a saved result (a dict read from result.json)."""
    if result["status"] == "error":
        return False
    if not result.get("asserted", True):
        return True
    return result["status"] == ("fail" if result.get("control") else "pass")


def versions(device: str = "cpu") -> dict[str, str]:
    from . import __version__

    v = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
         "pandas": pd.__version__, "ntkbench": __version__, "git": _git_commit(), "platform": platform.platform()}
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
    return list(range(int(n))) if isinstance(n, int) else []


def run_claim(
    claim: Claim | str,
    profile: str = registry.DEFAULT_PROFILE,
    overrides: Mapping[str, Any] | None = None,
    *,
    control: str | None = None,
    out: str | os.PathLike | None = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.float64,
    fresh: bool = False,
    progress: bool = False,
) -> Result:
    """Run one claim (or its negative control ``control``) at ``profile`` with parameter ``overrides``.

    Bad arguments (unknown id, profile, parameter, control) raise :class:`UsageError`; failures inside the
    experiment give a result with ``status="error"``. ``fresh=True`` ignores cached sweep points."""
    claim = registry.get(claim) if isinstance(claim, str) else claim
    registry.check_profile(profile)
    check_device(device)
    ctrl = _control(claim, control)
    params = claim.resolve(profile, {**(overrides or {}), **(ctrl.overrides if ctrl else {})})
    ctx = Context(device=str(device), dtype=dtype)
    t0 = time.perf_counter()
    status, checks, error, data, meas, n_points, n_cached = "error", [], "", None, {}, 0, 0
    try:
        points = claim.points(params)
        n_points = len(points)
        frames = []
        for point in _bar(points, progress, claim.id if not ctrl else f"{claim.id} [{ctrl.name}]"):
            key = store.point_key(_measure_name(claim), point, ctx.key())
            df = None if (fresh or out is None) else store.load_point(out, key)
            if df is None:
                df = pd.DataFrame(claim.measure(point, ctx))
                if out is not None:
                    store.save_point(out, key, df)
            else:
                n_cached += 1
            frames.append(df)
        data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        meas = claim.fit(data, params)
        for exp in claim.expect(params):
            if exp.name not in meas:
                raise KeyError(f"the fit of {claim.id!r} returned no measurement {exp.name!r}")
            m = meas[exp.name]
            checks.append({"name": exp.name, "measured": float(m.value), "interval": [float(v) for v in m.interval],
                           "expected": float(exp.expected), "tolerance": float(exp.tolerance), "mode": exp.mode,
                           "passed": exp.passes(float(m.value)), "reason": exp.reason, "method": m.method})
        status = "pass" if profile == "smoke" or all(c["passed"] for c in checks) else "fail"
    except Exception:  # noqa: BLE001 - a failing claim never stops the others; the traceback is recorded
        error = traceback.format_exc()
    figure = ""
    seconds = time.perf_counter() - t0
    if out is not None:
        folder = store.claim_dir(out, profile, claim.id, ctrl.name if ctrl else None)
        if data is not None and status != "error" and claim.figure is not None:
            try:
                from .figures import render

                store.atomic_write_bytes(folder / "figure.png",
                                         render(claim.figure, data, meas, params, claim.expect(params)))
                figure = "figure.png"
            except Exception:  # noqa: BLE001 - a broken figure is reported, the result still stands
                error = "figure failed:\n" + traceback.format_exc()
    result = Result(
        id=claim.id, family=claim.family, source=claim.source, statement=claim.statement, status=status,
        profile=profile, params=_plain(params), seeds=_seeds(params), checks=checks, seconds=seconds,
        versions=versions(device), control=ctrl.name if ctrl else None, control_why=ctrl.why if ctrl else "",
        asserted=profile != "smoke", points=n_points, points_cached=n_cached, error=error, figure=figure, data=data,
    )
    if out is not None:
        if data is not None:
            store.write_csv(folder / "data.csv", data)
        store.atomic_write_text(folder / "result.json", store.to_json(result.to_dict()))
    return result


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def _bar(items: Iterable, enabled: bool, desc: str, total: int | None = None):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, total=total)


def split_overrides(claims: Sequence[Claim], sets: Mapping[str, str], profile: str = registry.DEFAULT_PROFILE,
                    controls: bool = False) -> dict[str, dict[str, str]]:
    """Per claim, the ``--set`` keys it declares; a key that no selected claim declares, or a value that does not
    resolve at ``profile`` (with each control's overrides too, when ``controls``), is a usage error."""
    allowed = sorted({p.name for c in claims for p in c.params})
    unknown = sorted(set(sets) - set(allowed))
    if unknown:
        raise UsageError(f"--set {unknown[0]}: no selected claim has this parameter; allowed keys: {', '.join(allowed)}")
    per = {c.id: {k: v for k, v in sets.items() if k in c.param_names()} for c in claims}
    for c in claims:  # resolve now, so that a bad value is a usage error before anything runs
        c.resolve(profile, per[c.id])
        for ctrl in c.controls if controls else ():
            c.resolve(profile, {**per[c.id], **ctrl.overrides})
    return per


def _job(args: tuple) -> Result:
    claim_id, profile, overrides, control, out, device, fresh, threads = args
    if threads:
        torch.set_num_threads(threads)
    return run_claim(claim_id, profile, overrides, control=control, out=out, device=device, fresh=fresh)


def run_many(
    claims: Iterable[Claim],
    profile: str = registry.DEFAULT_PROFILE,
    sets: Mapping[str, str] | None = None,
    *,
    controls: bool = False,
    out: str | os.PathLike | None = None,
    device: str = "cpu",
    jobs: int = 1,
    fresh: bool = False,
    progress: bool = False,
) -> list[Result]:
    """Run each claim (and, with ``controls=True``, each of its negative controls); never stops at a failure."""
    claims = list(claims)
    per = split_overrides(claims, sets or {}, profile, controls)
    tasks = [(c.id, None) for c in claims]
    if controls:
        tasks += [(c.id, ctrl.name) for c in claims for ctrl in c.controls]
    if jobs <= 1:
        results = []
        for cid, ctrl in _bar(tasks, progress, "claims"):
            results.append(run_claim(cid, profile, per[cid], control=ctrl, out=out, device=device, fresh=fresh,
                                     progress=progress))
        return results
    threads = max(1, (os.cpu_count() or 1) // jobs)
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_job, (cid, profile, per[cid], ctrl, out, device, fresh, threads))
                   for cid, ctrl in tasks]
        for _ in _bar(as_completed(futures), progress, "claims", total=len(futures)):
            pass
        return [f.result() for f in futures]
