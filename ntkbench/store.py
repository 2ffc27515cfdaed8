"""Results on disk: atomic writes, the per-claim layout of results/, and the verified cache of finished sweep points.

Layout under an output folder ``OUT`` (``results/`` by default)::

    OUT/<profile>/<family>/<name>/result.json    the result (status, outcome, checks, parameters, versions)
    OUT/<profile>/<family>/<name>/data.csv       the raw measurements, one row per seed and sweep point
    OUT/<profile>/<family>/<name>/figure.png     the figure mirroring the source figure
    OUT/<profile>/<family>/<name>/controls/<control>/...   the same for each negative control that was run
    OUT/<profile>/variants/<variant>/<family>/<name>/...   a run with parameter overrides, or one that erred:
                                                 never in place of the baseline above (see :func:`variant_slug`)
    OUT/<profile>/calibration/<family>__<name>.json   a calibration over reseeds (``ntkbench calibrate``)
    OUT/README.md                                the summary (see :mod:`ntkbench.report`)
    OUT/.cache/points/<key>.csv                  finished sweep points (not committed; see .gitignore)

Every file is written to a unique temporary name in the same folder, flushed to disk and renamed into place
(``os.replace`` is atomic on POSIX and Windows), so an interrupted run never leaves a half-written file and two
processes writing the same file never mix their bytes: the last rename wins, a reader sees one whole version.

A cached point carries what verifies it: its first line records the number of rows and the sha256 of the CSV bytes
that follow, written in the same atomic write (and the seconds its measurement took, by which the scheduler orders
points). :func:`load_point` recomputes (returns ``None`` and warns with a
:class:`CacheWarning` naming the point and the reason) anything that does not verify: a file truncated or edited
by hand, one without the header (an older ntkbench), an unparsable one.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

CACHE = Path(".cache") / "points"
VARIANTS = "variants"
CALIBRATION = "calibration"
POINT_MAGIC = "# ntkbench-point v1"
_POINT_HEADER = re.compile(r"^# ntkbench-point v1 rows=(\d+) sha256=([0-9a-f]{64})(?: seconds=([0-9.eE+-]+))?$")
_SLUG_MAX = 120  # one path component; longer slugs keep a prefix and a hash of the whole


class CacheWarning(UserWarning):
    """A cached sweep point failed verification and is recomputed (the message names the point and why)."""


# ----- atomic files ---------------------------------------------------------------------------------------------------
def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a unique temporary file in the same folder, fsync, ``os.replace``,
    then (where the platform allows) fsync of the folder so that the rename itself survives a crash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are for everyone to read
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Best effort: persist a rename in ``folder`` (not possible on Windows, or on some file systems)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, default=_jsonable, allow_nan=True) + "\n"


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def _csv_bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.17g")
    return buf.getvalue().encode("utf-8")


def write_csv(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    return atomic_write_bytes(path, _csv_bytes(df))


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_csv(path)


# ----- layout ---------------------------------------------------------------------------------------------------------
def claim_dir(out: str | os.PathLike, profile: str, claim_id: str, control: str | None = None,
              variant: str = "") -> Path:
    """Where one result's files go: ``OUT/<profile>/<family>/<name>[/controls/<control>]`` for a run at the
    profile's own parameters (``variant=""``, the baseline), ``OUT/<profile>/variants/<variant>/<family>/<name>
    [/controls/<control>]`` otherwise (``variant`` from :func:`variant_slug`)."""
    family = claim_id.split("/", 1)[0]
    if family == VARIANTS:
        raise ValueError(f"claim id {claim_id!r}: the family name {VARIANTS!r} is reserved for the results layout")
    if variant and (variant != _safe(variant) or variant in (".", "..")):
        raise ValueError(f"variant {variant!r} is not a safe folder name; build it with store.variant_slug")
    root = Path(out, profile, VARIANTS, variant) if variant else Path(out, profile)
    d = root.joinpath(*claim_id.split("/"))
    return d / "controls" / control if control else d


def _safe(text: str) -> str:
    """Keep letters, digits and ``. _ - + = ,``; anything else (``/``, spaces, quotes, ...) becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._\-+=,]", "_", text)


def _slug_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "+".join(_slug_value(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value).strip().replace(",", "+")


def variant_slug(overrides: Mapping[str, Any], error: bool = False) -> str:
    """The folder name of a run with parameter ``overrides`` (``--set`` text or values) and/or one that erred.

    ``""`` for neither (the baseline layout). Otherwise ``key=value`` pairs in sorted key order joined by ``,``,
    values as given with list items (or the commas of ``--set depth=2,3``) joined by ``+``: ``depth=2+3,seeds=10``;
    ``,error`` appended for an erring run (``error`` alone without overrides). Characters unsafe in a file name
    become ``_``; a slug longer than 120 characters keeps a prefix and a hash of the whole."""
    parts = [f"{_safe(str(k))}={_safe(_slug_value(v))}"
             for k, v in sorted(overrides.items(), key=lambda kv: str(kv[0]))]
    slug = ",".join(parts)
    if len(slug) > _SLUG_MAX:
        slug = slug[:_SLUG_MAX - 17] + "~" + hashlib.sha256(slug.encode()).hexdigest()[:16]
    if error:
        slug = f"{slug},error" if slug else "error"
    return slug


def calibration_path(out: str | os.PathLike, profile: str, claim_id: str, control: str | None = None) -> Path:
    """``OUT/<profile>/calibration/<family>__<name>[__<control>].json``: where a calibration is written."""
    name = claim_id.replace("/", "__") + (f"__{control}" if control else "")
    return Path(out, profile, CALIBRATION, _safe(name) + ".json")


# ----- the cache of finished sweep points -----------------------------------------------------------------------------
def point_key(measure_name: str, point: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    """Content hash of what determines a sweep point's rows: the measurement, the point, device/dtype, version."""
    blob = json.dumps({"measure": measure_name, "point": point, "context": context}, sort_keys=True,
                      default=_jsonable)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def point_path(out: str | os.PathLike, key: str) -> Path:
    return Path(out, CACHE, f"{key}.csv")


def save_point(out: str | os.PathLike, key: str, df: pd.DataFrame, seconds: float | None = None) -> Path:
    """Cache a finished point: one atomic write of a header line (row count, sha256 of the CSV bytes, and the
    seconds its measurement took when given) and the CSV. Safe when several processes save the same key at once
    (unique temporary names; the last rename wins)."""
    body = _csv_bytes(df)
    took = f" seconds={seconds:.6g}" if seconds is not None and math.isfinite(seconds) else ""
    header = f"{POINT_MAGIC} rows={len(df)} sha256={hashlib.sha256(body).hexdigest()}{took}\n".encode()
    return atomic_write_bytes(point_path(out, key), header + body)


def load_point(out: str | os.PathLike, key: str, with_seconds: bool = False):
    """The cached rows of point ``key`` (with ``with_seconds``: a pair (rows, seconds its measurement took, NaN when
    not recorded)), or ``None`` when there are none or they do not verify (then a :class:`CacheWarning` says which
    point and why, and the caller recomputes it)."""
    path = point_path(out, key)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _reject(key, path, f"unreadable ({exc})")
    head, nl, body = raw.partition(b"\n")
    try:
        header = head.decode("ascii")
    except UnicodeDecodeError:
        header = ""
    match = _POINT_HEADER.match(header) if nl else None
    if match is None:
        why = "empty file" if not raw else ("no checksum header (written by an older ntkbench, or edited by hand)"
                                            if not header.startswith(POINT_MAGIC) else "malformed checksum header")
        return _reject(key, path, why)
    rows, digest = int(match.group(1)), match.group(2)
    actual = hashlib.sha256(body).hexdigest()
    if actual != digest:
        return _reject(key, path, f"checksum mismatch (sha256 {actual[:12]}… of {len(body)} bytes, recorded "
                                  f"{digest[:12]}…): truncated or modified")
    try:
        df = pd.read_csv(io.BytesIO(body))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        return _reject(key, path, f"unparsable CSV ({exc})")
    if len(df) != rows:
        return _reject(key, path, f"{len(df)} rows, recorded {rows}")
    if with_seconds:
        return df, float(match.group(3)) if match.group(3) else math.nan
    return df


def _reject(key: str, path: Path, why: str) -> None:
    warnings.warn(f"cached sweep point {key} ({path}) is not valid: {why}; recomputing it", CacheWarning,
                  stacklevel=3)
    return None


# ----- saved results --------------------------------------------------------------------------------------------------
def load_results(out: str | os.PathLike, profile: str | None = None, *, controls: bool = True,
                 variants: bool = False) -> list[dict]:
    """Every saved result.json under ``out`` (one profile or all), sorted by profile, variant, id and control.

    Results under ``<profile>/variants/`` (runs with overrides, errors) only with ``variants=True``; each result
    gets ``_path`` (its folder) and ``_variant`` (the variant folder name, ``""`` for the baseline layout)."""
    root = Path(out)
    pattern = f"{profile}/**/result.json" if profile else "*/**/result.json"
    found = []
    for path in root.glob(pattern):
        rel = path.relative_to(root).parts
        if CACHE.parts[0] in rel:
            continue
        variant = rel[2] if len(rel) > 3 and rel[1] == VARIANTS else ""
        if variant and not variants:
            continue
        try:
            res = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(res, dict) or (not controls and res.get("control")):
            continue
        res["_path"] = str(path.parent)
        res["_variant"] = variant
        found.append(res)
    return sorted(found, key=lambda r: (str(r.get("profile", "")), r["_variant"], str(r.get("id", "")),
                                        r.get("control") or ""))


def load_calibrations(out: str | os.PathLike, profile: str) -> dict[tuple[str, str | None], dict]:
    """The calibrations under ``OUT/<profile>/calibration/``, by (id, control); unreadable files are skipped."""
    found: dict[tuple[str, str | None], dict] = {}
    folder = Path(out, profile, CALIBRATION)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        try:
            cal = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(cal, dict) and isinstance(cal.get("id"), str):
            cal["_path"] = str(path)
            found[(cal["id"], cal.get("control") or None)] = cal
    return found
