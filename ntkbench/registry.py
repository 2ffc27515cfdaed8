"""Claims as data: one :class:`Claim` per row of ../shared/CLAIMS.md, registered under its fixed id.

A claim is a spec, not code paths: its declared parameters (:class:`Param`, one value per profile), a sweep
(``points``: parameters → list of sweep points, each a JSON-able dict), a measurement per point (``measure``:
point → tidy DataFrame rows), a fit over all rows (``fit``: rows → named :class:`Measurement`), the expectations
(``expect``: parameters → :class:`Expect` per measured quantity, each with the written reason for its tolerance) and
its negative controls (:class:`Control`: parameter overrides under which the theory predicts a failure).

Adding a claim is one ``register(Claim(...))`` in the module of its family (``ntkbench/claims/<family>.py``); the
CLI, the runner, the report and the pytest collection find it through this registry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

PROFILES = ("smoke", "ci", "paper")
DEFAULT_PROFILE = "ci"
KINDS = ("int", "float", "str", "bool", "ints", "floats")
MODES = ("within", "below", "above")


class UsageError(ValueError):
    """Bad user input to the registry (unknown id, profile, parameter or value): exit code 2 in the CLI."""


@dataclass(frozen=True)
class Param:
    """A declared parameter of a claim with its value per profile (``smoke``, ``ci``, ``paper``).

    ``kind`` says how ``--set name=text`` is parsed: int, float, str, bool, or a comma-separated list of
    ints/floats. ``choices`` restricts the allowed values (for str kinds). ``per="depth"`` declares a list
    aligned with the list parameter ``depth`` (one value per entry, or a single value for all): when only
    ``depth`` is overridden, the values declared for the chosen depths are kept (``--set depth=3`` takes the
    profile's width for L = 3)."""

    name: str
    smoke: Any
    ci: Any
    paper: Any
    help: str
    kind: str = "int"
    choices: tuple[Any, ...] = ()
    per: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Param {self.name!r}: kind={self.kind!r} is not one of {KINDS}")
        for profile in PROFILES:
            self.check(getattr(self, profile))

    def value(self, profile: str) -> Any:
        return getattr(self, profile)

    def check(self, value: Any) -> Any:
        """Validate a value of this parameter; return it normalized (lists become tuples)."""
        if self.kind in ("ints", "floats"):
            if not isinstance(value, (list, tuple)) or not value:
                raise UsageError(f"parameter {self.name!r} must be a non-empty list of {self.kind[:-1]}s, got {value!r}")
            value = tuple(value)
        if self.choices:
            items = value if isinstance(value, tuple) else (value,)
            bad = [v for v in items if v not in self.choices]
            if bad:
                raise UsageError(f"parameter {self.name!r}: {bad[0]!r} is not allowed; choose from {self.choices}")
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
            else:
                value = text
        except ValueError:
            raise UsageError(f"parameter {self.name!r} expects {self.kind}, got {text!r}") from None
        if self.kind == "float" and not math.isfinite(value):
            raise UsageError(f"parameter {self.name!r} must be finite, got {text!r}")
        return self.check(value)


@dataclass(frozen=True)
class Measurement:
    """A fitted value with its confidence interval (NaN ends when none applies) and how it was obtained."""

    value: float
    interval: tuple[float, float] = (math.nan, math.nan)
    method: str = ""


@dataclass(frozen=True)
class Expect:
    """Expectation on the measured quantity ``name``.

    ``mode="within"``: pass when |measured − expected| ≤ tolerance; ``"below"``: measured ≤ expected + tolerance
    (e.g. a deviation that must be 0 to round-off); ``"above"``: measured ≥ expected − tolerance.
    ``reason``: where the tolerance comes from (measured noise, profile, round-off)."""

    name: str
    expected: float
    tolerance: float
    reason: str
    mode: str = "within"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"Expect {self.name!r}: mode={self.mode!r} is not one of {MODES}")
        if not self.tolerance >= 0:
            raise ValueError(f"Expect {self.name!r}: tolerance must be >= 0, got {self.tolerance!r}")

    def passes(self, measured: float) -> bool:
        if not math.isfinite(measured):
            return False
        if self.mode == "within":
            return abs(measured - self.expected) <= self.tolerance
        if self.mode == "below":
            return measured <= self.expected + self.tolerance
        return measured >= self.expected - self.tolerance

    def describe(self) -> str:
        sign = {"within": "±", "below": "≤ +", "above": "≥ −"}[self.mode]
        return f"{self.expected:g} {sign}{self.tolerance:g}"


@dataclass(frozen=True)
class Control:
    """A negative control: parameter overrides under which the theory predicts that the check fails."""

    name: str
    overrides: Mapping[str, Any]
    why: str


@dataclass(frozen=True)
class Claim:
    """One registered check (see the module docstring for the roles of the callables)."""

    id: str
    source: str
    statement: str
    measured: str
    params: tuple[Param, ...]
    points: Callable[[Mapping[str, Any]], list[dict[str, Any]]]
    measure: Callable[..., pd.DataFrame]
    fit: Callable[[pd.DataFrame, Mapping[str, Any]], dict[str, Measurement]]
    expect: Callable[[Mapping[str, Any]], tuple[Expect, ...]]
    controls: tuple[Control, ...] = ()
    figure: Callable[..., Any] | None = None
    notes: str = ""
    in_tests: bool = True  # False: the ci profile is too slow for `nox -s tests`; it runs in `nox -s claims`
    extra: Mapping[str, Any] = field(default_factory=dict)

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
                declared = dict(zip(self.param(p.per).value(profile), p.value(profile)))
                if len(p.value(profile)) == len(self.param(p.per).value(profile)) and all(k in declared for k in keys):
                    vals = values[p.name] = tuple(declared[k] for k in keys)
            if len(vals) not in (1, len(keys)):
                raise UsageError(f"parameter {p.name!r} has {len(vals)} values for {p.per}={list(keys)}: give one "
                                 f"value per {p.per} or a single value (e.g. --set {p.name}={vals[0]})")
        return values


_REGISTRY: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    """Add ``claim`` to the registry (ids are unique; a family module registers each of its claims once)."""
    if "/" not in claim.id:
        raise ValueError(f"claim id {claim.id!r} must be 'family/name' as in CLAIMS.md")
    if claim.id in _REGISTRY and _REGISTRY[claim.id] is not claim:
        raise ValueError(f"claim id {claim.id!r} is already registered")
    names = claim.param_names()
    if len(set(names)) != len(names):
        raise ValueError(f"claim {claim.id!r} declares a parameter twice: {names}")
    for control in claim.controls:
        unknown = set(control.overrides) - set(names)
        if unknown:
            raise ValueError(f"claim {claim.id!r}, control {control.name!r}: unknown parameters {sorted(unknown)}")
    _REGISTRY[claim.id] = claim
    return claim


def _load() -> None:
    from . import claims  # noqa: F401  (importing the family modules registers their claims)


def all_claims() -> list[Claim]:
    _load()
    return list(_REGISTRY.values())  # catalogue order: the order of registration


def families() -> list[str]:
    return sorted({c.family for c in all_claims()})


def get(claim_id: str) -> Claim:
    _load()
    if claim_id not in _REGISTRY:
        raise UsageError(f"unknown claim id {claim_id!r}; known ids: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[claim_id]


def select(names: Iterable[str] = ()) -> list[Claim]:
    """Claims by id or family name (all when ``names`` is empty), in catalogue order, without duplicates."""
    claims = all_claims()
    names = list(names)
    if not names:
        return claims
    chosen: list[Claim] = []
    for name in names:
        hits = [c for c in claims if c.id == name or c.family == name]
        if not hits:
            raise UsageError(
                f"{name!r} is neither a claim id nor a family; families: {', '.join(families())}; "
                f"ids: {', '.join(c.id for c in claims)}"
            )
        chosen += [c for c in hits if c not in chosen]
    return chosen


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise UsageError(f"profile={profile!r} is not allowed; choose from {PROFILES}")
    return profile


def parse_sets(items: Sequence[str]) -> dict[str, str]:
    """``["key=value", ...]`` from ``--set`` into a dict (values stay text, parsed per claim)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out
