"""Results on disk: atomic writes, the per-claim layout of results/, and the verified cache of finished sweep points.

Layout under an output folder ``OUT`` (``results/`` by default)::

    OUT/<profile>/<family>/<name>/result.json    the result (status, outcome, checks, parameters, versions)
    OUT/<profile>/<family>/<name>/data.csv       the raw measurements, one row per seed and sweep point
    OUT/<profile>/<family>/<name>/figure.png     the figure mirroring the source figure
    OUT/<profile>/<family>/<name>/controls/<control>/...   the same for each negative control that was run
    OUT/<profile>/variants/<variant>/<family>/<name>/...   a run with parameter overrides, or one that erred:
                                                 never in place of the baseline above (see :func:`variant_slug`)
    OUT/<profile>/calibration/<family>__<name>.json   a calibration over reseeds (``ntkbench calibrate``)
    OUT/README.md                                the summary (see :mod:`ntkbench.harness.report`)
    OUT/.cache/points/<key>.csv                  finished sweep points (not committed; see .gitignore)

Every file is written to a unique temporary name in the same folder, flushed to disk and renamed into place
(``os.replace`` is atomic on POSIX and Windows), so an interrupted run never leaves a half-written file and two
processes writing the same file never mix their bytes: the last rename wins, a reader sees one whole version.

A cached point carries what verifies it: its first line records the point's key (the hash of the measurement, the
point's parameters and the code, :func:`point_key`), the number of rows and the sha256 of the key and the CSV bytes
that follow, written in the same atomic write (and the seconds its measurement took, by which the scheduler orders
points). :func:`load_point` recomputes (returns ``None`` and warns with a :class:`CacheWarning` naming the point and
the reason) anything that does not verify: a file truncated or edited by hand, one copied under another point's key,
one without the header, an unparsable one. (Files of the previous format, ``v1``, without the key, are still read
and verified by their checksum, so that an upgrade does not discard hours of cached points; every point written now
is ``v2``.)

A claim's result folder is written as a whole or not at all (:func:`write_folder`); a file that cannot be written
raises :class:`WriteError`, which names the path. A ``result.json`` that cannot be read or has fields of the wrong
type is *damaged* (:func:`result_problem`): :func:`load_results` skips it, raises :class:`DamagedResult` naming the
file, or stands in an error result for it, as the caller asks.
"""

from __future__ import annotations

import contextlib
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

from .spec import MODES, UsageError

CACHE = Path(".cache") / "points"
VARIANTS = "variants"
CALIBRATION = "calibration"
POINT_MAGIC = "# ntkbench-point v2"
_POINT_PREFIX = "# ntkbench-point "
_POINT_HEADER = re.compile(r"^# ntkbench-point v2 key=([0-9A-Za-z_.-]+) rows=(\d+) sha256=([0-9a-f]{64})"
                           r"(?: seconds=([0-9.eE+-]+))?$")
_POINT_HEADER_V1 = re.compile(r"^# ntkbench-point v1 rows=(\d+) sha256=([0-9a-f]{64})(?: seconds=([0-9.eE+-]+))?$")
_SLUG_MAX = 120  # one path component; longer slugs keep a prefix and a hash of the whole


class CacheWarning(UserWarning):
    """A cached sweep point failed verification and is recomputed (the message names the point and why)."""


class WriteError(OSError):
    """A result file could not be written (disk full, no permission): the message names the path and the reason."""


class DamagedResult(UsageError):
    """A ``result.json`` that cannot be read, is not JSON, or has fields of the wrong type (names the file and why)."""


# ----- atomic files ---------------------------------------------------------------------------------------------------
def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a unique temporary file in the same folder, fsync, ``os.replace``,
    then (where the platform allows) fsync of the folder so that the rename itself survives a crash."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise write_error(path, exc) from exc
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are for everyone to read
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise write_error(path, exc) from exc
        raise
    _fsync_dir(path.parent)
    return path


def write_error(path: str | os.PathLike, exc: OSError) -> WriteError:
    """``exc`` as a :class:`WriteError` that names ``path`` (the file meant, not a temporary name) and the reason."""
    if isinstance(exc, WriteError):
        return exc
    err = WriteError(f"cannot write {str(path)!r}: {exc.strerror or exc}")
    err.errno = exc.errno
    return err


def write_folder(folder: str | os.PathLike, files: Mapping[str, bytes]) -> Path:
    """Write ``files`` (name → bytes) into ``folder`` as a whole or not at all: every file is first written and
    flushed in a temporary folder beside it, so that a full disk or a missing permission fails before anything is
    replaced (the temporary folder is removed and a :class:`WriteError` names the path). A new folder is then renamed
    into place at once; into an existing one (it may hold the results of the claim's controls, ``controls/``) the
    files are renamed one by one, ``result.json`` last, so that a reader never sees a result.json without its data."""
    import shutil

    folder = Path(folder)
    where = folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    except OSError as exc:
        raise write_error(folder, exc) from exc
    try:
        os.chmod(tmp, 0o755)  # mkdtemp creates 0700; results are for everyone to read
        for name, data in files.items():
            where = folder / name
            with open(tmp / name, "wb") as fh:
                os.chmod(tmp / name, 0o644)
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        where = folder
        if not folder.exists():
            with contextlib.suppress(OSError):  # created meanwhile by another process: file by file below
                os.rename(tmp, folder)
                _fsync_dir(folder.parent)
                return folder
        folder.mkdir(parents=True, exist_ok=True)
        for name in sorted(files, key=lambda n: n == "result.json"):
            where = folder / name
            os.replace(tmp / name, where)
        _fsync_dir(folder)
    except OSError as exc:
        raise write_error(where, exc) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


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


def csv_bytes(df: pd.DataFrame) -> bytes:
    """The CSV text of ``df`` as written to disk (every float exact: 17 significant digits)."""
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.17g")
    return buf.getvalue().encode("utf-8")


def write_csv(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    return atomic_write_bytes(path, csv_bytes(df))


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
    become ``_``; a slug longer than 120 characters keeps a prefix and (after ``_``) a hash of the whole."""
    parts = [f"{_safe(str(k))}={_safe(_slug_value(v))}"
             for k, v in sorted(overrides.items(), key=lambda kv: str(kv[0]))]
    slug = ",".join(parts)
    if len(slug) > _SLUG_MAX:
        slug = slug[:_SLUG_MAX - 17] + "_" + hashlib.sha256(slug.encode()).hexdigest()[:16]  # a safe name (claim_dir)
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


def _point_digest(key: str, body: bytes) -> str:
    """The checksum of a cached point: sha256 of its key (a line) and its CSV bytes, so that a file copied under
    another point's key, or with its recorded key edited, does not verify."""
    return hashlib.sha256(key.encode() + b"\n" + body).hexdigest()


def save_point(out: str | os.PathLike, key: str, df: pd.DataFrame, seconds: float | None = None) -> Path:
    """Cache a finished point: one atomic write of a header line (the point's key, row count, sha256 of the key and
    the CSV bytes, and the seconds its measurement took when given) and the CSV. Safe when several processes save the
    same key at once (unique temporary names; the last rename wins)."""
    body = csv_bytes(df)
    took = f" seconds={seconds:.6g}" if seconds is not None and math.isfinite(seconds) else ""
    header = f"{POINT_MAGIC} key={key} rows={len(df)} sha256={_point_digest(key, body)}{took}\n".encode()
    return atomic_write_bytes(point_path(out, key), header + body)


def load_point(out: str | os.PathLike, key: str, with_seconds: bool = False):
    """The cached rows of point ``key`` (with ``with_seconds``: a pair (rows, seconds its measurement took, NaN when
    not recorded)), or ``None`` when there are none or they do not verify (then a :class:`CacheWarning` says which
    point and why, and the caller recomputes it): the key recorded inside the file must be ``key`` and the checksum
    over the key and the rows must match."""
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
    legacy = _POINT_HEADER_V1.match(header) if nl and match is None else None
    if match is None and legacy is None:
        why = "empty file" if not raw else ("no checksum header (written by an older ntkbench, or edited by hand)"
                                            if not header.startswith(_POINT_PREFIX) else
                                            "malformed checksum header")
        return _reject(key, path, why)
    if match is not None:
        recorded, rows, digest, took = match.group(1), int(match.group(2)), match.group(3), match.group(4)
        if recorded != key:
            return _reject(key, path, f"it holds the rows of point {recorded}, not of {key} (a file copied or "
                                      "renamed under another point's key)")
        actual = _point_digest(key, body)
    else:  # v1 (no key inside): verified by the checksum of its rows only
        rows, digest, took = int(legacy.group(1)), legacy.group(2), legacy.group(3)
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
        return df, float(took) if took else math.nan
    return df


def _reject(key: str, path: Path, why: str) -> None:
    warnings.warn(f"cached sweep point {key} ({path}) is not valid: {why}; recomputing it", CacheWarning,
                  stacklevel=3)


# ----- saved results --------------------------------------------------------------------------------------------------
_NUMBER = (int, float)
_STATUSES = ("pass", "fail", "invalid", "error")


def _is_number(value: Any) -> bool:
    """A JSON number (NaN and ±inf included, as result.json writes them, or null, as strict JSON writes NaN), not a
    bool."""
    return value is None or (isinstance(value, _NUMBER) and not isinstance(value, bool))


def result_problem(res: Any) -> str:
    """Why a parsed ``result.json`` cannot be used ("" when it can): not an object, or a field that the report, the
    comparison or the scheduler reads has the wrong type (fields may be absent: results of older versions lack
    some; present ones must have their type)."""
    if not isinstance(res, dict):
        return f"a JSON {type(res).__name__}, not an object"
    if not isinstance(res.get("id"), str) or not res["id"]:
        return f"'id' must be a claim id (text), got {res.get('id')!r}"
    if res.get("status") not in _STATUSES:
        return f"'status' must be one of {', '.join(_STATUSES)}, got {res.get('status')!r}"
    for key, kinds, what in (("profile", str, "text"), ("control", (str, type(None)), "text or null"),
                             ("error", str, "text"), ("figure", str, "text"), ("variant", str, "text"),
                             ("params", dict, "an object"), ("overrides", dict, "an object"),
                             ("versions", dict, "an object"), ("checks", list, "a list"),
                             ("timings", list, "a list"), ("outcome", str, "text"), ("ok", bool, "true or false")):
        if key in res and not isinstance(res[key], kinds):
            return f"'{key}' must be {what}, got {type(res[key]).__name__} {res[key]!r:.60}"
    if "seconds" in res and not _is_number(res["seconds"]):
        return f"'seconds' must be a number, got {res['seconds']!r:.60}"
    for i, c in enumerate(res.get("checks") or ()):
        where = f"checks[{i}]"
        if not isinstance(c, dict):
            return f"{where} must be an object, got {c!r:.60}"
        if not isinstance(c.get("name"), str):
            return f"{where}.name must be text, got {c.get('name')!r:.60}"
        where = f"check {c['name']!r}"
        for key in ("measured", "expected", "tolerance"):
            if key in c and not _is_number(c[key]):
                return f"{where}: '{key}' must be a number, got {type(c[key]).__name__} {c[key]!r:.60}"
        if "mode" in c and c["mode"] not in MODES:
            return f"{where}: 'mode' must be one of {', '.join(MODES)}, got {c['mode']!r:.60}"
        if "passed" in c and not isinstance(c["passed"], (bool, type(None))):
            return f"{where}: 'passed' must be true or false, got {c['passed']!r:.60}"
        if c.get("interval") is not None and (not isinstance(c["interval"], list)
                                              or not all(_is_number(v) for v in c["interval"])):
            return f"{where}: 'interval' must be a list of numbers, got {c['interval']!r:.60}"
        if c.get("alternatives") is not None and (not isinstance(c["alternatives"], list)
                                                  or not all(isinstance(a, dict) for a in c["alternatives"])):
            return f"{where}: 'alternatives' must be a list of objects, got {c['alternatives']!r:.60}"
        for key in ("role", "method", "reason"):
            if key in c and not isinstance(c[key], str):
                return f"{where}: '{key}' must be text, got {c[key]!r:.60}"
    for i, t in enumerate(res.get("timings") or ()):
        if not (isinstance(t, dict) and isinstance(t.get("point"), dict) and "seconds" in t
                and _is_number(t["seconds"])):  # null: NaN as strict JSON writes it (not a duration: never used)
            return f"timings[{i}] must be {{\"point\": {{...}}, \"seconds\": number}}, got {t!r:.80}"
    return ""


def _stand_in(path: Path, rel: tuple[str, ...], variant: str, why: str) -> dict[str, Any]:
    """An error result in place of the damaged ``path`` (``rel``: its parts under the output folder), with the id,
    profile and control its place in the layout says, so that the summary counts it."""
    parts = list(rel[3:-1] if variant else rel[1:-1])
    control = parts[-1] if len(parts) >= 4 and parts[-2] == "controls" else None
    claim = parts[:-2] if control else parts
    return {"id": "/".join(claim) or str(path), "profile": rel[0], "control": control, "status": "error",
            "asserted": True, "error": f"damaged result file {path}: {why}", "_damaged": why}


def load_results(out: str | os.PathLike, profile: str | None = None, *, controls: bool = True,
                 variants: bool = False, damaged: str = "skip") -> list[dict]:
    """Every saved result.json under ``out`` (one profile or all), sorted by profile, variant, id and control.

    Results under ``<profile>/variants/`` (runs with overrides, errors) only with ``variants=True``; each result
    gets ``_path`` (its folder) and ``_variant`` (the variant folder name, ``""`` for the baseline layout).
    A damaged file (unreadable, not JSON, wrong types: :func:`result_problem`) is, by ``damaged``: ``"skip"``ped,
    ``"raise"``: a :class:`DamagedResult` naming the file and why, or ``"mark"``: an error result in its place
    (``_damaged`` says why), which the summary counts as an error."""
    if damaged not in ("skip", "raise", "mark"):
        raise ValueError(f"damaged={damaged!r} is not allowed; choose 'skip', 'raise' or 'mark'")
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
            why = result_problem(res)
        except OSError as exc:
            why = f"unreadable ({exc.strerror or exc})"
        except UnicodeDecodeError:
            why = "not UTF-8 text"
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, or a number or nesting JSON cannot hold
            why = f"not valid JSON ({exc}; truncated or edited by hand?)"
        if why:
            if damaged == "raise":
                raise DamagedResult(f"{path}: damaged result file: {why}")
            if damaged == "skip":
                continue
            res = _stand_in(path, rel, variant, why)
        if not controls and res.get("control"):
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
