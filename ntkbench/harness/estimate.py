"""What a run will cost before it runs (``ntkbench estimate``): per claim, its CPU time, the largest working set
of its points and the wall time of the whole selection on k workers, from a cost model fitted to the timings of a
profile that has run (the committed ``ci`` baseline).

The model, per sweep point (docs/performance.md, "Cost before running"):

* **work** — every net trains side by side with the others of its point (:func:`ntkbench.train.train_ensemble`), a
  member leaving the batch when it converges; one full-batch step of one net costs 6 n P floating-point operations
  (forward 2 n P, backward 4 n P; n training inputs, P parameters);
* **seconds** = ``per_step`` × the layers × the longest member's steps (the fixed cost of a step: dispatch, small
  kernels, the stopping rule, each op once per layer) + ``per_flop`` × 6 n P × the member-steps summed over the
  point's trainings; the two coefficients
  are fitted per experiment (the measure function) by non-negative least squares on the relative error over the
  reference profile's points, whose steps are read from their committed rows (``steps`` per member);
* **steps at the target profile** — measured convergence, not the cap: each member of the nearest reference point
  (the swept axes, on a log scale) with its steps scaled by ln(threshold)/ln(threshold_ref) (linear convergence:
  the steps to reach a loss grow with its logarithm) and capped at the target's ``max_steps``; a member that ran to
  the reference's cap (it never converged) runs to the target's; every member at its cap is the upper bound, also
  printed;
* **memory** — the training working set: 8 bytes × nets × (4 P + 2 n Σ widths) (parameters, gradient, two optimizer
  moments; activations and their gradients);
* **wall time on k workers** — the points, each measured once however many claims share it, dealt largest first to
  k workers (the scheduler's order).

What it leaves out, and :func:`validate` measures against the runs at the target profile that exist: steps that
grow with the number of training points or with depth (the nearest reference point has the reference's n and
depth), experiments whose time is not in training (kernels, Jacobians: their one "step" is scaled like a training
step), and the machine's load when the reference ran (the committed timings were taken with ``--jobs 2`` on 2
cores).
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from . import store
from .lifecycle import ClaimRun, Task, declared_values, start_run
from .scheduler import _point_id, _seconds  # a point's identity across runs; a recorded duration

#: input dimension of each data set before PCA (``pca`` > 0 replaces it); experiments without a data set name
#: theirs (``d_in``)
INPUT_DIMS = {"mnist01": 784, "mnist_parity": 784, "mnist_local": 784, "fashion_mnist_local": 784, "boston": 13,
              "bump2d": 2, "sin1d": 1}
#: floating-point operations of one full-batch training step per training input and parameter (forward + backward)
FLOPS_PER_INPUT_PARAM = 6
#: bytes per number (float64)
BYTES = 8
#: the reference profile whose committed timings the model is fitted to
REFERENCE = "ci"
#: the fit separates a step's fixed cost from its arithmetic only over points whose operations per step span this
#: factor
SPAN = 2.0


# ----- what a point computes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Size:
    """What one sweep point trains, read off its parameters: ``nets`` side by side, each on ``n`` inputs with
    ``params`` parameters and hidden widths summing to ``units``; ``cap``: its step cap (None: a fixed number of
    steps, or no training); ``threshold``: the loss it trains to (None: none declared); ``layers``: its weight
    layers (the depth), which set the ops, and so the fixed cost, of one step."""

    nets: int
    n: int
    params: int
    units: int
    cap: int | None
    threshold: float | None
    layers: int = 1

    @property
    def flops_per_step(self) -> float:
        """Operations of one training step of one net."""
        return float(FLOPS_PER_INPUT_PARAM * self.n * self.params)

    @property
    def memory(self) -> float:
        """Bytes of the training working set (module docstring)."""
        return float(BYTES * self.nets * (4 * self.params + 2 * self.n * self.units))


def _int(value: Any, default: int = 1) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def size(point: Mapping[str, Any]) -> Size:
    """The :class:`Size` of a point from the parameter names the experiments share: ``members`` or ``seeds`` (nets;
    a point with one ``seed`` is one net), ``n_train`` / ``n_points`` / ``n`` (inputs), ``depth`` (or the deepest
    of ``depths``), ``width`` (at most ``max_width`` when a sweep caps it, times ``width_factor``; the last hidden
    layer ``bottleneck`` wide when one is set), ``pca`` / ``d_in`` / the data set (input dimension), ``bias``
    (``"none"``: weights only), ``max_steps`` (cap) and ``threshold`` (or the smallest of ``thresholds``)."""
    nets = _int(point.get("members"), _int(point.get("seeds")))
    n = _int(point.get("n_train"), _int(point.get("n_points"), _int(point.get("n"))))
    depth = _int(point.get("depth"), max((_int(d) for d in point.get("depths") or ()), default=2))
    width = _int(point.get("width"), 1)
    if "max_width" in point:
        width = min(width, _int(point["max_width"], width))
    factor = point.get("width_factor", 1.0)
    width = max(1, round(width * (factor if isinstance(factor, (int, float)) and factor > 0 else 1.0)))
    d_in = _int(point.get("pca"), 0) or _int(point.get("d_in"), INPUT_DIMS.get(str(point.get("dataset")), 1))
    hidden = [width] * (depth - 1)
    if hidden and _int(point.get("bottleneck"), 0):
        hidden[-1] = _int(point["bottleneck"])
    layers = [d_in, *hidden, 1]
    per_bias = 0 if point.get("bias") == "none" else 1
    params = sum((a + per_bias) * b for a, b in itertools.pairwise(layers))
    thresholds = [t for t in [point.get("threshold"), *(point.get("thresholds") or ())]
                  if isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0]
    cap = _int(point.get("max_steps"), 0) or None
    return Size(nets, n, params, sum(hidden), cap, min(thresholds) if thresholds else None, len(layers) - 1)


@dataclass(frozen=True)
class Steps:
    """A point's training length: ``longest`` — the steps of its slowest member (how long the batch runs) —
    and ``total`` — the member-steps summed over its trainings."""

    longest: float
    total: float


def fixed_steps(point: Mapping[str, Any], s: Size) -> Steps:
    """The steps of a point that trains for a declared number of ``steps`` (every net), or of one that does not
    train (one evaluation)."""
    steps = _int(point.get("steps"), 1)
    return Steps(float(steps), float(steps * s.nets))


def measured_steps(rows: pd.DataFrame, point: Mapping[str, Any], s: Size) -> tuple[Steps, np.ndarray | None]:
    """The steps of a point from its rows (one per member and training, column ``steps``; rows of other parts —
    figures' profiles and curves — left out), with the per-row steps; without a ``steps`` column,
    :func:`fixed_steps`."""
    if "part" in rows.columns:
        rows = rows[rows["part"].isna() | (rows["part"] == "member")]
    if "steps" not in rows.columns or rows.empty:
        return fixed_steps(point, s), None
    steps = pd.to_numeric(rows["steps"], errors="coerce").dropna().to_numpy(float)
    if steps.size == 0:
        return fixed_steps(point, s), None
    return Steps(float(steps.max()), float(steps.sum())), steps


# ----- the reference profile's points ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One measured point of the reference profile: its claim and control, measure, parameters, size, steps (with
    the per-row steps when its rows record them) and the seconds it took."""

    claim: str
    control: str | None
    measure: str
    point: Mapping[str, Any]
    size: Size
    steps: Steps
    row_steps: np.ndarray | None
    seconds: float


def _swept(timings: Sequence[Mapping[str, Any]]) -> list[str]:
    """The point keys that vary between a result's points (its sweep axes), but not the seed offset."""
    keys = set().union(*(t["point"] for t in timings)) - {"seed_offset"}
    return sorted(k for k in keys if len({json.dumps(t["point"].get(k), sort_keys=True, default=str)
                                          for t in timings}) > 1)


def _rows_of(data: pd.DataFrame, point: Mapping[str, Any], swept: Sequence[str]) -> pd.DataFrame:
    """The rows of ``data`` that belong to ``point``: equal on each swept key that is a column (a key on which no
    row is equal is passed over)."""
    keep = pd.Series(True, index=data.index)
    for k in swept:
        if k in data.columns and isinstance(point.get(k), (int, float, str)):
            narrower = keep & (data[k] == point[k])
            if narrower.any():  # a column that holds another quantity under the key's name (the trained width
                keep = narrower  # where the point sweeps a nominal one) narrows nothing
    return data[keep]


def _plain(point: Mapping[str, Any]) -> dict[str, Any]:
    """A point without its seed offset (a reseed costs the same)."""
    return {k: v for k, v in point.items() if k != "seed_offset"}


def _measure_of(claim_id: str) -> str:
    from . import registry

    m = registry.get(claim_id).measure
    return f"{m.__module__}.{m.__qualname__}"


def samples(baseline: str | Path, profile: str = REFERENCE) -> list[Sample]:
    """Every point with a recorded time in ``baseline/<profile>`` (result.json ``timings``; the steps from the
    result's data.csv), once per claim and control that recorded it (claims that share a sweep record its points
    once each: :func:`fit_rates` counts each once) — for claims still registered."""
    from . import registry

    registered = {c.id for c in registry.all_claims()}
    out, seen = [], set()
    for res in store.load_results(baseline, profile):
        # the entries the scheduler's ordering also reads (scheduler.recorded_seconds), and only those of a
        # positive time: the fit is on the relative error
        timings = [t for t in res.get("timings") or () if isinstance(t, Mapping) and isinstance(t.get("point"),
                   Mapping) and _seconds(t.get("seconds")) and t["seconds"] > 0]
        if not timings or res.get("id") not in registered:
            continue
        measure = _measure_of(res["id"])
        path = Path(res["_path"]) / "data.csv"
        data = store.read_csv(path) if path.is_file() else pd.DataFrame()
        swept = _swept(timings)
        for t in timings:
            ident = _point_id(res["id"], res.get("control"), t["point"])
            if ident in seen:
                continue
            seen.add(ident)
            s = size(t["point"])
            steps, row_steps = measured_steps(_rows_of(data, t["point"], swept), t["point"], s)
            out.append(Sample(res["id"], res.get("control"), measure, dict(t["point"]), s, steps, row_steps,
                              float(t["seconds"])))
    return out


# ----- the fitted rates -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rate:
    """seconds = ``per_step`` × layers × longest steps + ``per_flop`` × operations, fitted to ``points``
    reference points of one measure; ``error``: the root-mean-square relative error of the fit over them (log
    scale)."""

    measure: str
    per_step: float
    per_flop: float
    points: int
    error: float

    def seconds(self, s: Size, steps: Steps) -> float:
        return self.per_step * s.layers * steps.longest + self.per_flop * steps.total * s.flops_per_step

    @property
    def flop_rate(self) -> float:
        """The achieved rate of the training arithmetic (operations per second; inf when the fit put all the time
        in the steps' fixed cost)."""
        return 1.0 / self.per_flop if self.per_flop > 0 else math.inf


def fit_rate(measure: str, points: Sequence[Sample]) -> Rate:
    """The :class:`Rate` of one measure by non-negative least squares on the relative error. With one point, or
    points whose nets span less than :data:`SPAN` in operations per step (the fixed and the arithmetic cost of a
    step cannot be told apart: scaling::ensemble's two data splits of one net), the fit is not determined: all of
    the time goes to the arithmetic, so that larger nets at the target profile cost in proportion to their
    operations (an upper estimate where the reference points were dispatch-bound)."""
    if not points:
        raise ValueError(f"no reference points for measure {measure!r}")
    t = np.array([p.seconds for p in points])
    a = np.array([[p.size.layers * p.steps.longest, p.steps.total * p.size.flops_per_step] for p in points]) \
        / t[:, None]
    scale = a.max(axis=0)
    scale[scale == 0] = 1.0
    sizes = [p.size.flops_per_step for p in points]
    if len(points) >= 2 and max(sizes) >= SPAN * min(sizes) and np.linalg.matrix_rank(a / scale) == 2:
        coef, _ = nnls(a / scale, np.ones(len(points)))
        coef = coef / scale
    else:
        flops = a[:, 1]
        coef = np.array([0.0, float(np.mean(1.0 / flops))]) if (flops > 0).all() else \
            np.array([float(np.mean(1.0 / a[:, 0])), 0.0])
    pred = a @ coef
    err = float(np.sqrt(np.mean(np.log(np.where(pred > 0, pred, 1e-12)) ** 2)))
    return Rate(measure, float(coef[0]), float(coef[1]), len(points), err)


def fit_rates(reference: Sequence[Sample]) -> dict[tuple[str, str | None] | str, Rate]:
    """One :class:`Rate` per measure over all its reference points (key: the measure), and one per measure and
    control name over those of the claims, or of that control, alone (key: (measure, control); a control such as
    ``asi`` trains twice the parameters its point names)."""
    by: dict[Any, dict[str, Sample]] = {}
    for s in reference:  # a point that several claims share counts once in each group
        ident = json.dumps([s.measure, _plain(s.point)], sort_keys=True, default=str)
        by.setdefault(s.measure, {}).setdefault(ident, s)
        by.setdefault((s.measure, s.control), {}).setdefault(ident, s)
    return {k: fit_rate(k if isinstance(k, str) else k[0], list(pts.values())) for k, pts in by.items()}


def rate_for(rates: Mapping[Any, Rate], measure: str, control: str | None) -> Rate | None:
    """The rate of ``measure`` under ``control`` (or of the claims themselves), else of the measure overall."""
    return rates.get((measure, control)) or rates.get(measure)


# ----- a point at the target profile -------------------------------------------------------------------------------
def _distance(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """How far two points lie apart: the summed |log ratio| of their positive numeric parameters (a key only one of
    them has, or a non-numeric one that differs, counts 1)."""
    d = 0.0
    for k in (set(a) | set(b)) - {"seed_offset", "seed"}:
        x, y = a.get(k), b.get(k)
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool) \
                and not isinstance(y, bool) and x > 0 and y > 0:
            d += abs(math.log(x / y))
        elif json.dumps(x, sort_keys=True, default=str) != json.dumps(y, sort_keys=True, default=str):
            d += 1.0
    return d


def nearest(point: Mapping[str, Any], candidates: Sequence[Sample]) -> Sample:
    """The reference point nearest ``point`` (:func:`_distance`)."""
    return min(candidates, key=lambda c: _distance(point, c.point))


def predicted_steps(point: Mapping[str, Any], s: Size, ref: Sample) -> tuple[Steps, Steps]:
    """(likely, at the cap) steps of ``point`` from the measured convergence of its reference point (module
    docstring); a point with a fixed number of steps gets it in both."""
    if ref.row_steps is None or s.cap is None:
        steps = fixed_steps(point, s)
        return steps, steps
    factor = 1.0
    if s.threshold and ref.size.threshold and s.threshold < 1 and ref.size.threshold < 1:
        factor = math.log(s.threshold) / math.log(ref.size.threshold)
    per_row = np.minimum(ref.row_steps * factor, s.cap)
    if ref.size.cap:  # a member that ran to the reference's cap (it never converged there) runs to the target's
        per_row = np.where(ref.row_steps >= ref.size.cap, float(s.cap), per_row)
    members = s.nets / max(ref.size.nets, 1)
    likely = Steps(float(per_row.max()), float(per_row.sum() * members))
    return likely, Steps(float(s.cap), float(ref.row_steps.size * members * s.cap))


@dataclass(frozen=True)
class PointCost:
    """One point of a claim at the target profile: its cache key, parameters, size, the reference point it was
    scaled from, its predicted seconds (likely and with every member at its cap) and working set."""

    key: str
    point: Mapping[str, Any]
    size: Size
    reference: Mapping[str, Any]
    seconds: float
    seconds_cap: float

    @property
    def memory(self) -> float:
        return self.size.memory


@dataclass(frozen=True)
class ClaimCost:
    """The predicted cost of one claim (or control) at the target profile: its points, or ``error`` saying why it
    cannot be estimated (no reference points, or a sweep that cannot be built)."""

    claim: str
    control: str | None
    profile: str
    points: tuple[PointCost, ...] = ()
    error: str = ""

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.points)

    @property
    def seconds_cap(self) -> float:
        return sum(p.seconds_cap for p in self.points)

    @property
    def memory(self) -> float:
        return max((p.memory for p in self.points), default=0.0)

    @property
    def label(self) -> str:
        return self.claim + (f" [{self.control}]" if self.control else "")


def claim_cost(run: ClaimRun, reference: Sequence[Sample], rates: Mapping[Any, Rate]) -> ClaimCost:
    """The :class:`ClaimCost` of a resolved run (:func:`~ntkbench.harness.lifecycle.start_run`): each point scaled
    from the nearest reference point of the same claim and control (else of the claim, else of its measure)."""
    measure = _measure_of(run.claim.id)
    ctrl = run.ctrl.name if run.ctrl else None
    base = ClaimCost(run.claim.id, ctrl, run.profile)
    if run.error:
        return ClaimCost(**{**base.__dict__, "error": run.error.strip().splitlines()[-1]})
    pool = ([r for r in reference if r.claim == run.claim.id and r.control == ctrl]
            or [r for r in reference if r.claim == run.claim.id]
            or [r for r in reference if r.measure == measure])
    rate = rate_for(rates, measure, ctrl)
    if not pool or rate is None:
        return ClaimCost(**{**base.__dict__, "error": f"no timed points of {measure} at {REFERENCE} to fit to"})
    points = []
    for key, point in zip(run.keys, run.points, strict=True):
        s = size(point)
        ref = nearest(point, pool)
        likely, capped = predicted_steps(point, s, ref)
        points.append(PointCost(key, point, s, ref.point, rate.seconds(s, likely), rate.seconds(s, capped)))
    return ClaimCost(run.claim.id, ctrl, run.profile, tuple(points))


def wall(seconds: Iterable[float], workers: int) -> float:
    """The wall time of units of work dealt largest first to ``workers`` workers, each taking the next unit as it
    frees up (the scheduler's order)."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    loads = [0.0] * workers
    for s in sorted(seconds, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + s)
    return max(loads)


@dataclass(frozen=True)
class Estimate:
    """The costs of a selection of claims: per claim (:class:`ClaimCost`), the fitted :class:`Rate` per measure,
    and the totals over the distinct points (a point shared by several claims is measured once)."""

    claims: tuple[ClaimCost, ...]
    rates: Mapping[Any, Rate] = field(default_factory=dict)

    def _unique(self) -> list[PointCost]:
        seen: dict[str, PointCost] = {}
        for c in self.claims:
            for p in c.points:
                seen.setdefault(p.key, p)
        return list(seen.values())

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self._unique())

    @property
    def seconds_cap(self) -> float:
        return sum(p.seconds_cap for p in self._unique())

    def wall(self, workers: int, cap: bool = False) -> float:
        return wall([p.seconds_cap if cap else p.seconds for p in self._unique()], workers)


def estimate(tasks: Sequence[Task], baseline: str | Path = "results", reference: str = REFERENCE) -> Estimate:
    """The :class:`Estimate` of ``tasks`` from the committed timings of ``baseline/<reference>``; a claim with no
    reference points, or whose sweep cannot be built, carries ``error`` and the others go on."""
    ref = samples(baseline, reference)
    rates = fit_rates(ref)
    costs = [claim_cost(start_run(t.claim, t.profile, t.overrides, control=t.control), ref, rates) for t in tasks]
    return Estimate(tuple(costs), rates)


# ----- against what ran ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One run at the target profile that exists: its measured seconds (the sum of its points' timings when it
    recorded them, else its total; NaN when every point came from the cache and none was timed) against the
    estimate at its recorded parameters."""

    claim: str
    control: str | None
    measured: float
    predicted: float
    predicted_cap: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.predicted / self.measured if self.measured > 0 else math.nan


def validate(baseline: str | Path = "results", profile: str = "paper", reference: str = REFERENCE) -> list[Check]:
    """The estimate of every run recorded in ``baseline/<profile>`` at the parameters it recorded, against the
    seconds it took. A run whose parameters the claim no longer declares is estimated at today's declaration
    (``note`` says which differ); a run measured by other code than this checkout's engine and experiments says
    so (``note``: its time is that code's, which the estimate does not model)."""
    from . import registry
    from .runner import measured_by_other_code
    from .spec import UsageError

    ref = samples(baseline, reference)
    rates = fit_rates(ref)
    checks = []
    registered = {c.id for c in registry.all_claims()}
    for res in store.load_results(baseline, profile):
        if res.get("id") not in registered or not res.get("seconds"):
            continue
        claim = registry.get(res["id"])
        declared = set(claim.param_names())
        recorded = declared_values(res.get("params"))
        kept = {k: v for k, v in recorded.items() if k in declared}
        note = ", ".join(sorted(set(recorded) - declared))
        try:
            run = start_run(claim, profile, kept, control=res.get("control"))
        except UsageError as exc:
            run, note = start_run(claim, profile, control=res.get("control")), f"today's declaration ({exc})"
        cost = claim_cost(run, ref, rates)
        timings = [t["seconds"] for t in res.get("timings") or () if isinstance(t, Mapping)
                   and isinstance(t.get("seconds"), (int, float))]
        cached = int(res.get("points_cached") or 0)
        measured = float(sum(timings)) if timings else math.nan if cached >= int(res.get("points") or 0) \
            else float(res["seconds"])
        notes = [f"parameters no longer declared: {note}" if note and "declaration" not in note else note,
                 cost.error, f"timed by other code: {stale}" if (stale := measured_by_other_code(res)) else ""]
        if cached and not timings:
            notes.append(f"{cached} of {res.get('points')} points came from the cache and the run recorded no "
                         "per-point timings: the measured time covers the others only")
        checks.append(Check(res["id"], res.get("control"), measured, cost.seconds, cost.seconds_cap,
                            "; ".join(n for n in notes if n)))
    return checks


# ----- what the command prints ---------------------------------------------------------------------------------------
def _duration(seconds: float) -> str:
    """Seconds as s / min / h / d."""
    if not math.isfinite(seconds):
        return "—"
    for unit, size_ in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size_:
            return f"{seconds / size_:.3g} {unit}"
    return f"{seconds:.3g} s"


def _bytes(n: float) -> str:
    for unit, size_ in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size_:
            return f"{n / size_:.3g} {unit}"
    return f"{n:.0f} B"


def render(est: Estimate, workers: int) -> list[str]:
    """The table ``ntkbench estimate`` prints: per claim, its points, CPU time (likely and at the cap), largest
    point and working set; then the totals over the distinct points and the wall time on ``workers`` workers."""
    profile = est.claims[0].profile if est.claims else "?"
    lines = [f"estimate at {profile} (cost model fitted to the committed {REFERENCE} timings; docs/performance.md)",
             f"{'claim':<52} {'points':>6} {'CPU likely':>11} {'at cap':>11} {'largest':>10} {'memory':>10}"]
    for c in est.claims:
        if c.error:
            lines.append(f"{c.label:<52} not estimated: {c.error}")
            continue
        largest = max((p.seconds for p in c.points), default=0.0)
        lines.append(f"{c.label:<52} {len(c.points):>6} {_duration(c.seconds):>11} {_duration(c.seconds_cap):>11} "
                     f"{_duration(largest):>10} {_bytes(c.memory):>10}")
    lines += [f"distinct points: CPU {_duration(est.seconds)} likely, {_duration(est.seconds_cap)} at the cap; "
              f"wall on {workers} worker(s): {_duration(est.wall(workers))} likely, "
              f"{_duration(est.wall(workers, cap=True))} at the cap",
              "validated against the runs that exist: `ntkbench estimate --validate` (the model's error there is "
              "its uncertainty)"]
    return lines


def as_dict(est: Estimate, workers: int) -> dict[str, Any]:
    """The estimate as JSON-ready data (``ntkbench estimate --json``)."""
    return {"workers": workers, "seconds": est.seconds, "seconds_cap": est.seconds_cap,
            "wall": est.wall(workers), "wall_cap": est.wall(workers, cap=True),
            "claims": [{"id": c.claim, "control": c.control, "profile": c.profile, "error": c.error,
                        "seconds": c.seconds, "seconds_cap": c.seconds_cap, "memory_bytes": c.memory,
                        "points": [{"point": dict(p.point), "reference": dict(p.reference), "seconds": p.seconds,
                                    "seconds_cap": p.seconds_cap, "memory_bytes": p.memory} for p in c.points]}
                       for c in est.claims],
            "rates": [{"measure": r.measure, "control": k[1] if isinstance(k, tuple) else None,
                       "per_step_s": r.per_step, "flop_rate": r.flop_rate, "points": r.points, "error": r.error}
                      for k, r in est.rates.items()]}


def render_validation(checks: Sequence[Check], profile: str) -> list[str]:
    """The table of ``ntkbench estimate --validate``."""
    if not checks:
        return [f"no runs recorded at {profile} to validate against"]
    lines = [f"the estimate against the runs recorded at {profile}",
             f"{'claim':<52} {'measured':>10} {'predicted':>10} {'ratio':>6} {'at cap':>10}  note"]
    for c in checks:
        label = c.claim + (f" [{c.control}]" if c.control else "")
        ratio = f"{c.ratio:.2f}" if math.isfinite(c.ratio) else "—"
        lines.append(f"{label:<52} {_duration(c.measured):>10} {_duration(c.predicted):>10} {ratio:>6} "
                     f"{_duration(c.predicted_cap):>10}  {c.note}".rstrip())
    return lines
