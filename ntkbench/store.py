"""Results on disk: atomic writes, the per-claim layout of results/, and the cache of finished sweep points.

Layout under an output folder ``OUT`` (``results/`` by default)::

    OUT/<profile>/<family>/<name>/result.json    the result (status, measured, expected, parameters, versions)
    OUT/<profile>/<family>/<name>/data.csv       the raw measurements, one row per seed and sweep point
    OUT/<profile>/<family>/<name>/figure.png     the figure mirroring the source figure
    OUT/<profile>/<family>/<name>/controls/<control>/...   the same for each negative control that was run
    OUT/README.md                                the summary (see :mod:`ntkbench.report`)
    OUT/.cache/points/<key>.csv                  finished sweep points (not committed; see .gitignore)

Every file is written to a temporary name in the same folder and renamed into place (``os.replace`` is atomic
on POSIX and Windows), so an interrupted run never leaves a half-written file; a rerun finds the finished sweep
points in the cache and resumes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

CACHE = Path(".cache") / "points"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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


def write_csv(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.17g")
    return atomic_write_text(path, buf.getvalue())


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_csv(path)


def claim_dir(out: str | os.PathLike, profile: str, claim_id: str, control: str | None = None) -> Path:
    d = Path(out, profile, *claim_id.split("/"))
    return d / "controls" / control if control else d


def point_key(measure_name: str, point: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    """Content hash of what determines a sweep point's rows: the measurement, the point, device/dtype, version."""
    blob = json.dumps({"measure": measure_name, "point": point, "context": context}, sort_keys=True,
                      default=_jsonable)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def load_point(out: str | os.PathLike, key: str) -> pd.DataFrame | None:
    path = Path(out, CACHE, f"{key}.csv")
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return None  # unreadable (cannot happen with atomic writes, but never trust a cache): recompute


def save_point(out: str | os.PathLike, key: str, df: pd.DataFrame) -> Path:
    return write_csv(Path(out, CACHE, f"{key}.csv"), df)


def load_results(out: str | os.PathLike, profile: str | None = None, *, controls: bool = True) -> list[dict]:
    """Every saved result.json under ``out`` (one profile or all), sorted by profile, id and control."""
    root = Path(out)
    pattern = f"{profile}/**/result.json" if profile else "*/**/result.json"
    found = []
    for path in root.glob(pattern):
        if CACHE.parts[0] in path.parts:
            continue
        try:
            res = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if not controls and res.get("control"):
            continue
        res["_path"] = str(path.parent)
        found.append(res)
    return sorted(found, key=lambda r: (r.get("profile", ""), r.get("id", ""), r.get("control") or ""))
