"""Reproduction plans: one TOML file per source document under ``reproduce/`` (``reproduce/004.toml``).

A plan says which registered claims reproduce a document, at which profile and with which parameter overrides,
and which figure, table or theorem of the document each one mirrors; the catalogue's claims that are not
registered yet are listed under ``[[pending]]`` with what they will mirror. ``ntkbench run --plan reproduce/004.toml``
(or ``nox -s reproduce -- 004``) runs one, and the summary (:mod:`ntkbench.harness.report`) groups results by plan so
that a
reader of a paper finds its reproduction in one place. The format::

    document = "004"                      # the document's number (the file is reproduce/<document>.toml)
    title = "Scaling description of generalization with number of parameters in deep learning"
    authors = "Geiger, Jacot, ..."        # optional
    profile = "ci"                        # smoke | ci | paper
    notes = "..."                         # optional

    [[claims]]                            # one per run: a registered claim id, what it mirrors, optional overrides
    id = "scaling/output-fluctuations"
    mirrors = "Eq. 9, Fig. 5"
    overrides = { seeds = 10 }            # optional: declared parameters (runs with overrides are variants)
    controls = ["one-hidden-layer"]       # optional: the claim's controls this entry runs with --controls (all
                                          # when absent; [] for none)

    [[pending]]                           # a catalogue claim not registered yet (it must not be registered)
    id = "scaling/jamming-norm"
    mirrors = "Sect. 6, Fig. 7"

    [mitigation]                          # optional: the document's mitigation procedure (`ntkbench mitigate`)
    mirrors = "Sect. 3"

Validation (:func:`load`) raises :class:`PlanError` (a usage error) naming the file and the offending id or key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .spec import PROFILES, UsageError

try:
    import tomllib as _toml
except ModuleNotFoundError:  # Python 3.10: the tomli backport (a dependency there, see pyproject.toml)
    try:
        import tomli as _toml  # type: ignore[no-redef]
    except ModuleNotFoundError:
        _toml = None  # type: ignore[assignment]

PLANS_DIR = Path(__file__).resolve().parents[2] / "reproduce"
_TOP = {"document", "title", "authors", "profile", "notes", "claims", "pending", "mitigation"}
_ENTRY = {"id", "mirrors", "overrides", "controls", "notes"}
_PENDING = {"id", "mirrors", "notes"}


class PlanError(UsageError):
    """A plan file that cannot be used (unreadable, malformed, unknown claim id or parameter)."""


@dataclass(frozen=True)
class Entry:
    """One run of a plan: a registered claim, what of the document it mirrors, its parameter overrides and the
    names of the negative controls it runs under ``--controls`` (``None``: all of the claim's)."""

    id: str
    mirrors: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    notes: str = ""
    controls: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Pending:
    """A catalogue claim of the document that is not registered yet, and what it will mirror."""

    id: str
    mirrors: str
    notes: str = ""


@dataclass(frozen=True)
class Plan:
    path: Path
    document: str
    title: str
    profile: str
    claims: tuple[Entry, ...]
    pending: tuple[Pending, ...] = ()
    authors: str = ""
    notes: str = ""
    mitigation: str = ""  # what the mitigation run mirrors ("" when the document has none)

    @property
    def ids(self) -> list[str]:
        """The registered claim ids of the plan, in plan order, without duplicates."""
        return list(dict.fromkeys(e.id for e in self.claims))

    @property
    def label(self) -> str:
        return f"{self.document} — {self.title}"


def plans_dir() -> Path | None:
    """The ``reproduce/`` folder beside the package (a source checkout or an editable install), if present."""
    return PLANS_DIR if PLANS_DIR.is_dir() else None


def find(ref: str | os.PathLike) -> Path:
    """The plan file for ``ref``: a path to a TOML file, or a document number (``004`` → ``reproduce/004.toml``)."""
    path = Path(ref)
    if path.is_file():
        return path
    folder = plans_dir()
    if re.fullmatch(r"\d{3}", str(ref)) and folder is not None and (folder / f"{ref}.toml").is_file():
        return folder / f"{ref}.toml"
    known = ", ".join(p.stem for p in sorted(folder.glob("*.toml"))) if folder else "none (no reproduce/ folder)"
    raise PlanError(f"--plan {str(ref)!r}: no such plan file; the plans of this checkout: {known}")


def _read(path: Path) -> dict[str, Any]:
    if _toml is None:
        raise PlanError(f"{path}: reading a plan needs Python >= 3.11 (tomllib) or the tomli package "
                        "(pip install tomli)")
    try:
        with open(path, "rb") as fh:
            return _toml.load(fh)
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the plan ({exc.strerror or exc})") from None
    except _toml.TOMLDecodeError as exc:
        raise PlanError(f"{path}: not valid TOML: {exc}") from None


def _text(path: Path, where: str, table: Mapping[str, Any], key: str, required: bool = True) -> str:
    value = table.get(key, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise PlanError(f"{path}: {where}{key!r} must be a non-empty string, got {value!r}")
    return value.strip()


def _unknown(path: Path, where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise PlanError(f"{path}: {where}unknown key {extra[0]!r}; allowed keys: {', '.join(sorted(allowed))}")


def _tables(path: Path, data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(t, dict) for t in items):
        raise PlanError(f"{path}: {key!r} must be a list of tables ([[{key}]] sections)")
    return items


def load(path: str | os.PathLike, *, registered: Mapping[str, Any] | None = None) -> Plan:
    """Read and validate the plan at ``path`` against the registry (or ``registered``: id → Claim).

    Every ``[[claims]]`` id must be registered and its overrides must resolve at the plan's profile; every
    ``[[pending]]`` id must *not* be registered (move it to ``[[claims]]`` when it is) and, when the catalogue
    module is available, must be a catalogue id. Raises :class:`PlanError` naming the file and the problem."""
    path = Path(path)
    data = _read(path)
    if registered is None:
        from . import registry

        registered = {c.id: c for c in registry.all_claims()}
    _unknown(path, "", data, _TOP)
    document = _text(path, "", data, "document")
    if not re.fullmatch(r"\d{3}", document):
        raise PlanError(f"{path}: 'document' must be a three-digit document number such as '004', got {document!r}")
    profile = _text(path, "", data, "profile")
    if profile not in PROFILES:
        raise PlanError(f"{path}: profile {profile!r} is not one of {', '.join(PROFILES)}")

    pending: list[Pending] = []
    for i, t in enumerate(_tables(path, data, "pending")):
        where = f"[[pending]] #{i + 1}: "
        _unknown(path, where, t, _PENDING)
        p = Pending(_text(path, where, t, "id"), _text(path, where, t, "mirrors"), _text(path, where, t, "notes",
                                                                                         False))
        if p.id in registered:
            raise PlanError(f"{path}: pending claim {p.id!r} is registered now: move it from [[pending]] to "
                            "[[claims]]")
        if p.id in {q.id for q in pending}:
            raise PlanError(f"{path}: pending claim {p.id!r} is listed twice")
        pending.append(p)
    catalogue = catalogue_ids()
    if catalogue is not None:
        strays = [p.id for p in pending if p.id not in catalogue]
        if strays:
            raise PlanError(f"{path}: pending claim {strays[0]!r} is not in the catalogue (docs/claims.md)")

    entries: list[Entry] = []
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(_tables(path, data, "claims")):
        where = f"[[claims]] #{i + 1}: "
        _unknown(path, where, t, _ENTRY)
        cid = _text(path, where, t, "id")
        if cid in {p.id for p in pending}:
            raise PlanError(f"{path}: claim {cid!r} is listed both under [[claims]] and under [[pending]]")
        if cid not in registered:
            raise PlanError(f"{path}: claim {cid!r} is not registered; list it under [[pending]] if it is a catalogue "
                            f"claim not implemented yet (registered ids: {', '.join(sorted(registered))})")
        overrides = t.get("overrides", {})
        if not isinstance(overrides, dict):
            raise PlanError(f"{path}: {where}'overrides' must be a table (overrides = {{ key = value }})")
        try:
            registered[cid].resolve(profile, overrides)
        except UsageError as exc:
            raise PlanError(f"{path}: claim {cid!r}: {exc}") from None
        key = (cid, repr(sorted(overrides.items())))
        if key in seen:
            raise PlanError(f"{path}: claim {cid!r} is listed twice with the same overrides")
        seen.add(key)
        entries.append(Entry(cid, _text(path, where, t, "mirrors"), dict(overrides), _text(path, where, t, "notes",
                                                                                         False),
                             _controls(path, where, t, registered[cid])))
    mitigation = data.get("mitigation", {})
    if not isinstance(mitigation, dict):
        raise PlanError(f"{path}: 'mitigation' must be a table ([mitigation] with mirrors = \"...\")")
    _unknown(path, "[mitigation]: ", mitigation, {"mirrors"})
    return Plan(path=path, document=document, title=_text(path, "", data, "title"), profile=profile,
                claims=tuple(entries), pending=tuple(pending), authors=_text(path, "", data, "authors", False),
                notes=_text(path, "", data, "notes", False),
                mitigation=_text(path, "[mitigation]: ", mitigation, "mirrors") if mitigation else "")


def _controls(path: Path, where: str, table: Mapping[str, Any], claim: Any) -> tuple[str, ...] | None:
    """An entry's ``controls``: absent (None: all of the claim's) or a list of the claim's control names."""
    if "controls" not in table:
        return None
    names = table["controls"]
    known = [c.name for c in claim.controls]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise PlanError(f"{path}: {where}'controls' must be a list of control names (controls = [\"name\", ...] or "
                        f"[]), got {names!r}")
    for n in names:
        if n not in known:
            raise PlanError(f"{path}: {where}claim {claim.id!r} has no control {n!r}; its controls: "
                            f"{', '.join(known) or 'none'}")
    return tuple(dict.fromkeys(names))


def load_all(folder: str | os.PathLike | None = None) -> list[Plan]:
    """Every plan of ``folder`` (default: the checkout's ``reproduce/``), sorted by document number; [] when there
    is no such folder. Raises :class:`PlanError` for the first invalid plan."""
    folder = Path(folder) if folder is not None else plans_dir()
    if folder is None or not folder.is_dir():
        return []
    from . import registry

    registered = {c.id: c for c in registry.all_claims()}
    plans = [load(p, registered=registered) for p in sorted(folder.glob("*.toml"))]
    return sorted(plans, key=lambda p: (p.document, str(p.path)))


def catalogue_ids() -> set[str] | None:
    """The ids of the full catalogue (registered or not) from :mod:`ntkbench.harness.catalogue`, or None when that
    module
    is not available or exposes no ids in a form recognized here."""
    try:
        from . import catalogue
    except ImportError:
        return None
    for name in ("ids", "catalogue_ids", "all_ids"):
        fn = getattr(catalogue, name, None)
        if callable(fn):
            try:
                return {str(i) for i in fn()}
            except Exception:  # noqa: BLE001 - an unexpected API: no check rather than a crash
                return None
    for name in ("CATALOGUE", "CLAIMS", "ENTRIES", "ROWS"):
        rows = getattr(catalogue, name, None)
        if isinstance(rows, Mapping):
            return {str(k) for k in rows}
        if isinstance(rows, (list, tuple)) and rows:
            ids = {getattr(r, "id", None) or (r.get("id") if isinstance(r, Mapping) else None) for r in rows}
            if None not in ids:
                return {str(i) for i in ids}
    return None
