"""What a claim is: one :class:`Claim` per row of the catalogue (docs/claims.md), registered under its fixed id
(:func:`register`; which claims there are: :mod:`ntkbench.harness.registry`).

A claim is a spec, not code paths:

* its declared parameters (:class:`Param`: one value per profile, an allowed range, and a *role*: a sweep
  ``axis`` expands into one sweep point per value, an ``analysis`` parameter is read only by the checks, every
  other parameter is copied into every sweep point);
* a measurement per sweep point (``measure(point, ctx)`` → tidy DataFrame rows). The sweep is the grid of
  :meth:`Claim.points`: every declared parameter reaches every point, so an override can never be measured at a
  default under the same cache key;
* its checks (:class:`Check`: the fit of one measured quantity over all rows, its :class:`Expect` with the written
  reason for its tolerance, and whether it is a *precondition* — training converged — or the science);
* its negative controls (:class:`Control`: overrides under which the theory predicts that the named checks fail).

Adding a claim is one ``register(Claim(...))`` in the module of its family (``ntkbench/claims/<family>.py``), built
from the shared parameter groups, measurements and check builders of :mod:`ntkbench.claims`; the CLI, the runner,
the report and the pytest collection find it through this registry. Every claim also accepts ``seed_offset``
(:data:`SEED_OFFSET`), which shifts every initialization seed and the data split.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..experiments import SEED_STRIDE  # the experiments' seed arithmetic (keyed by the cache); re-exported

PROFILES = ("smoke", "ci", "paper")
DEFAULT_PROFILE = "ci"
KINDS = ("int", "float", "str", "bool", "ints", "floats", "strs")
MODES = ("within", "below", "above")
#: how a check's noise scales when its true value moves (:mod:`ntkbench.harness.power`): ``absolute`` — the same SD at
#: the
#: alternative (exponents, slopes); ``relative`` — the same coefficient of variation (positive ratios and norms);
#: ``standardized`` — a significance test's z, drawn from N(a, 1) or below under each alternative a by construction
#: (its level is fixed; the calibration measures its sensitivity to the theory's effect, :func:`power.detection`)
SPREADS = ("absolute", "relative", "standardized")
ROLES = ("science", "precondition", "identity")
#: the profile at which registration requires every science check's band to exclude its alternatives (the goal of
#: power ≥ 99 % is set at ci; at other profiles, and with overrides, a run whose band contains an alternative is
#: judged ``not discriminating`` by its power, :mod:`ntkbench.harness.power`)
POWER_PROFILE = "ci"

#: the largest value of any integer parameter: seeds are built as seed_offset·SEED_STRIDE + member (+ small salts,
#: + data_seed), and torch takes seeds below 2**63, so every integer that can enter a seed stays ≤ 1e15 (1e18 after
#: the stride: a margin of 9× for the salts and sums); larger values are usage errors, never an overflow mid-run
INT_HIGH = 10 ** 15


class UsageError(ValueError):
    """Bad user input to the registry (unknown id, profile, parameter or value): exit code 2 in the CLI."""


@dataclass(frozen=True)
class Param:
    """A declared parameter of a claim with its value per profile (``smoke``, ``ci``, ``paper``).

    ``kind`` says how ``--set name=text`` is parsed: int, float, str, bool, or a comma-separated list of
    ints/floats. ``choices`` restricts the allowed values; ``low``/``high`` bound numeric values (each element of
    a list; ``low_open`` makes the lower bound strict, e.g. σ > 0).

    Role in the sweep (:meth:`Claim.points`): ``axis="sigma"`` makes a list parameter (``sigmas``) one sweep
    point per value, under the key ``sigma``; an int parameter with an axis counts (``seeds=5`` → ``seed`` 0..4).
    ``analysis=True``: read only by the checks (a fit range), never part of a point, so changing it reuses the
    cached points. ``per="depth"`` declares a list aligned with the list parameter ``depth`` (one value per entry,
    or one for all); when ``depth`` is overridden alone, each depth takes the value declared for it, and a depth
    the profile does not list takes the value of the nearest listed depth (said in ``ntkbench show``)."""

    name: str
    smoke: Any
    ci: Any
    paper: Any
    help: str
    kind: str = "int"
    choices: tuple[Any, ...] = ()
    per: str | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    axis: str | None = None
    analysis: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Param {self.name!r}: kind={self.kind!r} is not one of {KINDS}")
        if self.axis is not None and self.kind not in ("ints", "floats", "int"):
            raise ValueError(f"Param {self.name!r}: an axis must be a list (ints, floats) or a count (int)")
        if self.analysis and (self.axis or self.per):
            raise ValueError(f"Param {self.name!r}: an analysis parameter is neither an axis nor per-{self.per}")
        for profile in PROFILES:
            self.check(getattr(self, profile))

    def value(self, profile: str) -> Any:
        return getattr(self, profile)

    def allowed(self) -> str:
        """The allowed range in words (``> 0``, ``1 … 10``), or '' when unbounded."""
        lo = "" if self.low is None else f"{'>' if self.low_open else '≥'} {self.low:g}"
        hi = "" if self.high is None else f"≤ {self.high:g}"
        return " and ".join(s for s in (lo, hi) if s)

    def check(self, value: Any) -> Any:
        """Validate a value of this parameter; return it normalized (lists become tuples)."""
        if self.kind in ("ints", "floats", "strs"):
            if not isinstance(value, (list, tuple)) or not value:
                raise UsageError(f"parameter {self.name!r} must be a non-empty list of {self.kind[:-1]}s, "
                                 f"got {value!r}")
            value = tuple(value)
        items = value if isinstance(value, tuple) else (value,)
        if self.choices:
            bad = [v for v in items if v not in self.choices]
            if bad:
                raise UsageError(f"parameter {self.name!r}: {bad[0]!r} is not allowed; choose from {self.choices}")
        if self.kind in ("int", "float", "ints", "floats"):
            for v in items:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise UsageError(f"parameter {self.name!r} must be a finite number, got {v!r}")
                too_low = self.low is not None and (v <= self.low if self.low_open else v < self.low)
                if too_low or (self.high is not None and v > self.high):
                    raise UsageError(f"parameter {self.name!r} must be {self.allowed()}, got {v!r}")
                if self.kind in ("int", "ints") and abs(v) > INT_HIGH:
                    raise UsageError(f"parameter {self.name!r} must be ≤ 10**15 in absolute value (seeds are built "
                                     f"from integer parameters, seed_offset·{SEED_STRIDE} + member, and must stay "
                                     f"below 2**63), got {v!r}")
        return value

    def parse(self, text: str) -> Any:
        """Parse the text of ``--set name=text`` into a checked value."""
        try:
            if self.kind == "int":
                value: Any = int(text)
            elif self.kind == "float":
                value = float(text)
            elif self.kind == "bool":
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                value = text.lower() in ("true", "1", "yes")
            elif self.kind == "ints":
                value = tuple(int(t) for t in text.split(","))
            elif self.kind == "floats":
                value = tuple(float(t) for t in text.split(","))
            elif self.kind == "strs":
                value = tuple(t.strip() for t in text.split(","))
            else:
                value = text
        except ValueError:
            raise UsageError(f"parameter {self.name!r} expects {self.kind}, got {text!r}") from None
        if self.kind == "float" and not math.isfinite(value):
            raise UsageError(f"parameter {self.name!r} must be finite, got {text!r}")
        return self.check(value)


SEED_OFFSET = Param("seed_offset", 0, 0, 0, kind="int", low=0,
                    help=f"reseed: shifts every initialization seed by seed_offset·{SEED_STRIDE} and the data split "
                         "seed by seed_offset (0: the baseline's randomness)")


@dataclass(frozen=True)
class FittedLine:
    """A fitted power law y = amplitude · x^exponent over [x_lo, x_hi], kept so that figures draw the fit."""

    amplitude: float
    exponent: float
    x_lo: float
    x_hi: float


@dataclass(frozen=True)
class Measurement:
    """A fitted value with its confidence interval (NaN ends when none applies), how it was obtained, and for a
    power-law fit the fitted line."""

    value: float
    interval: tuple[float, float] = (math.nan, math.nan)
    method: str = ""
    line: FittedLine | None = None


@dataclass(frozen=True)
class Alternative:
    """What a competing explanation predicts for a measured quantity (``value``), and which explanation (``why``):
    the value a science check must exclude. E.g. the first-order exponent −1/4 where the theory's second order
    gives −1/2, or 0 for "no effect"."""

    value: float
    why: str

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(f"Alternative {self.why!r}: value must be finite, got {self.value!r}")
        if not self.why:
            raise ValueError("Alternative: say which explanation predicts the value (why=...)")


@dataclass(frozen=True)
class Expect:
    """Expectation on the measured quantity ``name``.

    ``mode="within"``: pass when |measured − expected| ≤ tolerance; ``"below"``: measured ≤ expected + tolerance
    (e.g. a deviation that must be 0 to round-off); ``"above"``: measured ≥ expected − tolerance.
    ``reason``: where the tolerance comes from (the measured noise of reseeded runs, or round-off).
    ``role``: ``"science"`` — evidence for the theory; it names the ``alternatives`` it rules out, and its band must
    exclude each of them (:func:`validate`); ``"precondition"`` — the experiment ran as designed (every net
    reached its threshold): when it fails the run is ``invalid``, neither a pass nor a fail of the science;
    ``"identity"`` — holds for any network by algebra or round-off (it tests the engine, not the paper): it
    decides pass/fail like a science check but is reported apart and never counted as evidence.
    ``spread``: how the noise moves with the value, for the power against an alternative (:data:`SPREADS`)."""

    name: str
    expected: float
    tolerance: float
    reason: str
    mode: str = "within"
    role: str = "science"
    alternatives: tuple[Alternative, ...] = ()
    spread: str = "absolute"

    def __post_init__(self) -> None:
        if self.spread not in SPREADS:
            raise ValueError(f"Expect {self.name!r}: spread={self.spread!r} is not one of {SPREADS}")
        if self.mode not in MODES:
            raise ValueError(f"Expect {self.name!r}: mode={self.mode!r} is not one of {MODES}")
        if self.role not in ROLES:
            raise ValueError(f"Expect {self.name!r}: role={self.role!r} is not one of {ROLES}")
        if not self.tolerance >= 0:
            raise ValueError(f"Expect {self.name!r}: tolerance must be >= 0, got {self.tolerance!r}")
        if self.spread == "standardized" and self.mode == "within":
            raise ValueError(f"Expect {self.name!r}: a standardized statistic is a one-sided significance test "
                             "(mode 'above' or 'below'), not 'within'")
        if self.alternatives and self.role != "science":
            raise ValueError(f"Expect {self.name!r}: only a science check names alternatives (role={self.role!r})")

    @property
    def base(self) -> str:
        return base_name(self.name)

    def passes(self, measured: float) -> bool:
        if not math.isfinite(measured):
            return False
        if self.mode == "within":
            return abs(measured - self.expected) <= self.tolerance
        if self.mode == "below":
            return measured <= self.expected + self.tolerance
        return measured >= self.expected - self.tolerance

    def contained(self) -> list[Alternative]:
        """The alternatives that the band does not exclude (a run at exactly that value would pass)."""
        return [a for a in self.alternatives if self.passes(a.value)]

    def describe(self) -> str:
        sign = {"within": "±", "below": "≤ +", "above": "≥ −"}[self.mode]
        return f"{self.expected:g} {sign}{self.tolerance:g}"


def base_name(check_name: str) -> str:
    """``slope[L=2]`` → ``slope``: the name a control uses for all instances of a check."""
    return check_name.partition("[")[0]


@dataclass(frozen=True)
class Check:
    """One measured quantity of a claim: ``fit(data, params)`` → {name: Measurement} and ``expect(params)`` → the
    matching :class:`Expect` (several names when the check is made per depth, ``slope[L=2]``, ``slope[L=3]``).
    Built by the check builders of :mod:`ntkbench.claims.checks`."""

    fit: Callable[[pd.DataFrame, Mapping[str, Any]], dict[str, Measurement]]
    expect: Callable[[Mapping[str, Any]], tuple[Expect, ...]]


@dataclass(frozen=True)
class Landing:
    """Where the theory puts a control's value of one named check (``value``: a constant or f(params), e.g. the
    alternative's exponent −1/2 that one hidden layer realizes), within ``tolerance`` — the control's own noise
    band from its calibration (``reason``)."""

    value: float | Callable[[Mapping[str, Any]], float]
    tolerance: float
    reason: str

    def __post_init__(self) -> None:
        if not self.tolerance >= 0:
            raise ValueError(f"Landing: tolerance must be >= 0, got {self.tolerance!r}")

    def at(self, params: Mapping[str, Any]) -> float:
        return float(self.value(params) if callable(self.value) else self.value)


@dataclass(frozen=True)
class Control:
    """A negative control: parameter overrides under which the theory predicts that the checks named in ``fails``
    (base names: ``slope`` covers ``slope[L=2]`` and ``slope[L=3]``) fail, every one of them. Its preconditions
    must still hold; otherwise the control is ``invalid``. ``lands``: for a control that realizes an alternative
    physically, per named check (base name) where it must land (:class:`Landing`) — failing the claim's band
    anywhere else is not as predicted."""

    name: str
    overrides: Mapping[str, Any]
    why: str
    fails: tuple[str, ...]
    lands: Mapping[str, Landing] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """One registered check (see the module docstring for the roles of the fields)."""

    id: str
    source: str
    statement: str
    measured: str
    params: tuple[Param, ...]
    measure: Callable[..., pd.DataFrame]
    checks: tuple[Check, ...]
    controls: tuple[Control, ...] = ()
    figure: Callable[..., Any] | None = None
    notes: str = ""
    in_tests: bool = True  # False: the ci profile is too slow for `nox -s tests`; it runs in `nox -s claims`
    extra: Mapping[str, Any] = field(default_factory=dict)
    where: Callable[[Mapping[str, Any], Mapping[str, Any]], bool] | None = None  # keep(point, params): a partial grid

    def __post_init__(self) -> None:
        if all(p.name != SEED_OFFSET.name for p in self.params):
            object.__setattr__(self, "params", (*self.params, SEED_OFFSET))

    @property
    def family(self) -> str:
        return self.id.split("/", 1)[0]

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise UsageError(f"claim {self.id!r} has no parameter {name!r}; its parameters: {self.param_names()}")

    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def resolve(self, profile: str = DEFAULT_PROFILE, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The parameter values at ``profile`` with ``overrides`` (values or ``--set`` text) applied."""
        check_profile(profile)
        values = {p.name: p.check(p.value(profile)) for p in self.params}
        overrides = dict(overrides or {})
        for name, value in overrides.items():
            p = self.param(name)
            values[name] = p.parse(value) if isinstance(value, str) else p.check(value)
        for p in self.params:
            if p.per is None:
                continue
            keys, vals = values[p.per], values[p.name]
            if p.per in overrides and p.name not in overrides:
                declared_keys, declared = self.param(p.per).value(profile), p.value(profile)
                if len(declared) == len(declared_keys):
                    table = dict(zip(declared_keys, declared, strict=True))
                    nearest = lambda k: table[min(table, key=lambda d: (abs(d - k), -d))]  # noqa: E731, B023 - used at once
                    vals = values[p.name] = tuple(table.get(k, nearest(k)) for k in keys)
            if len(vals) not in (1, len(keys)):
                raise UsageError(f"parameter {p.name!r} has {len(vals)} values for {p.per}={list(keys)}: give one "
                                 f"value per {p.per} or a single value (e.g. --set {p.name}={vals[0]})")
        return values

    def points(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The sweep: the grid over the axis parameters (in declaration order), less the points that ``where``
        rejects (e.g. a width sweep only at the largest σ); every non-analysis parameter is in every point (axes
        under their axis key, per-axis lists as the value for that point's axis key)."""
        axes = [p for p in self.params if p.axis]
        fixed = {p.name: params[p.name] for p in self.params if not (p.axis or p.per or p.analysis)}
        per = [p for p in self.params if p.per]
        values = [range(params[p.name]) if p.kind == "int" else params[p.name] for p in axes]
        out = []
        for combo in itertools.product(*values):
            point = dict(fixed)
            point.update({p.axis: v for p, v in zip(axes, combo, strict=True)})
            for p in per:
                keys, vals = params[p.per], params[p.name]
                table = dict(zip(keys, vals if len(vals) == len(keys) else vals * len(keys), strict=False))
                axis = self.param(p.per).axis
                point[p.name] = table[point[axis]] if axis else tuple(table[k] for k in keys)
            if self.where is None or self.where(point, params):
                out.append(point)
        return out

    def fit(self, data: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Measurement]:
        out: dict[str, Measurement] = {}
        for check in self.checks:
            out.update(check.fit(data, params))
        return out

    def expect(self, params: Mapping[str, Any]) -> tuple[Expect, ...]:
        return tuple(e for check in self.checks for e in check.expect(params))


_REGISTRY: dict[str, Claim] = {}


def validate(claim: Claim) -> None:
    """Registration errors of a claim spec (raises ValueError): id form, duplicate parameters or check names, and
    controls that name no science check, override unknown parameters, or change no sweep point at some profile
    (such a control would rerun the claim itself)."""
    if "/" not in claim.id:
        raise ValueError(f"claim id {claim.id!r} must be 'family/name' as in the catalogue")
    names = claim.param_names()
    if len(set(names)) != len(names):
        raise ValueError(f"claim {claim.id!r} declares a parameter twice: {names}")
    for profile in PROFILES:
        params = claim.resolve(profile)
        expects = claim.expect(params)
        if len({e.name for e in expects}) != len(expects):
            raise ValueError(f"claim {claim.id!r}: two checks share a name at {profile}: {[e.name for e in expects]}")
        if profile == POWER_PROFILE:
            for e in expects:
                if e.role == "science" and not e.alternatives:
                    raise ValueError(f"claim {claim.id!r}, check {e.name!r}: a science check names what it rules out "
                                     "(alternatives=...), or is declared an identity (role='identity')")
                inside = e.contained()
                if inside:
                    raise ValueError(f"claim {claim.id!r}, check {e.name!r} at {profile}: its band {e.describe()} "
                                     f"contains the alternative {inside[0].value:g} ({inside[0].why}), so it cannot "
                                     "tell the theory from it")
        for control in claim.controls:
            where = f"claim {claim.id!r}, control {control.name!r}"
            unknown = set(control.overrides) - set(names)
            if unknown:
                raise ValueError(f"{where}: unknown parameters {sorted(unknown)}")
            if not control.fails:
                raise ValueError(f"{where}: name the checks that must fail (fails=...)")
            stray = sorted(set(control.lands) - set(control.fails))
            if stray:
                raise ValueError(f"{where}: lands={stray} must name checks of fails={list(control.fails)}")
            ctrl_params = claim.resolve(profile, control.overrides)
            science = {e.base for e in claim.expect(ctrl_params) if e.role in ("science", "identity")}
            missing = sorted(set(control.fails) - science)
            if missing and profile == POWER_PROFILE:  # elsewhere a check may not apply (checks.statistic's at)
                raise ValueError(f"{where}: fails={missing} names no science or identity check; they are: "
                                 f"{sorted(science)}")
            analysis = [p.name for p in claim.params if p.analysis]
            same_analysis = all(ctrl_params[n] == params[n] for n in analysis)
            if claim.points(ctrl_params) == claim.points(params) and same_analysis:
                raise ValueError(f"{where}: its overrides change no sweep point and no analysis parameter at profile "
                                 f"{profile!r}, so it would measure the claim itself")


def register(claim: Claim) -> Claim:
    """Add ``claim`` to the registry after :func:`validate` (ids are unique; a family module registers each of
    its claims once)."""
    if claim.id in _REGISTRY and _REGISTRY[claim.id] is claim:
        return claim
    if claim.id in _REGISTRY:
        raise ValueError(f"claim id {claim.id!r} is already registered")
    validate(claim)
    _REGISTRY[claim.id] = claim
    return claim


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise UsageError(f"profile={profile!r} is not allowed; choose from {PROFILES}")
    return profile


def parse_sets(items: Sequence[str]) -> dict[str, str]:
    """``["key=value", ...]`` from ``--set`` into a dict (values stay text, parsed per claim); a key given twice is
    a usage error (the last one winning silently would run something else than the command line seems to say)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {item!r}")
        key = key.strip()
        if key in out:
            raise UsageError(f"--set {key}: given twice ({key}={out[key]} and {key}={value.strip()}); give each key "
                             "once")
        out[key] = value.strip()
    return out
