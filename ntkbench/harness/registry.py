"""Which claims there are: the registry of claim specs (:mod:`ntkbench.harness.spec`), filled by importing the
family modules of :mod:`ntkbench.claims` on first use and listed in the catalogue's order (docs/claims.md), whatever
the order in which the families load; a claim that the catalogue lacks (registered from elsewhere) follows, in the
order of registration. The spec's names (:class:`Claim`, :class:`Param`, :func:`register`, ...) are re-exported
here."""

from __future__ import annotations

from collections.abc import Iterable

from . import spec
from .catalogue import ROWS
from .spec import (
    _REGISTRY,
    DEFAULT_PROFILE,
    INT_HIGH,
    KINDS,
    MODES,
    POWER_PROFILE,
    PROFILES,
    ROLES,
    SEED_OFFSET,
    SEED_STRIDE,
    SPREADS,
    Alternative,
    Check,
    Claim,
    Control,
    Expect,
    FittedLine,
    Landing,
    Measurement,
    Param,
    UsageError,
    base_name,
    check_profile,
    parse_sets,
    register,
    validate,
)

__all__ = [
    "Alternative", "Check", "Claim", "Control", "DEFAULT_PROFILE", "Expect", "FittedLine", "INT_HIGH", "KINDS",
    "Landing", "MODES", "Measurement", "POWER_PROFILE", "PROFILES", "Param", "ROLES", "SEED_OFFSET", "SEED_STRIDE",
    "SPREADS", "UsageError", "_REGISTRY", "base_name", "check_profile", "parse_sets", "register", "validate",
    "all_claims", "families", "get", "select",
]


def _load() -> None:
    from .. import claims  # noqa: F401  (importing the family modules registers their claims)


def all_claims() -> list[Claim]:
    """Every registered claim in the catalogue's order (:data:`ntkbench.harness.catalogue.ROWS`), then the others in
    the order of registration."""
    _load()
    rank = {row.id: k for k, row in enumerate(ROWS)}
    return sorted(spec._REGISTRY.values(), key=lambda c: rank.get(c.id, len(rank)))


def families() -> list[str]:
    return sorted({c.family for c in all_claims()})


def get(claim_id: str) -> Claim:
    _load()
    known = spec._REGISTRY  # read at call time: where register() writes (a test may swap it)
    if claim_id not in known:
        raise UsageError(f"unknown claim id {claim_id!r}; known ids: {', '.join(sorted(known))}")
    return known[claim_id]


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


