"""Results on disk: atomic writes, the point cache, the layout and load_results."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ntkbench import store


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_creates_replaces_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "deep" / "er" / "result.json"
    assert store.atomic_write_text(path, "first") == path
    assert path.read_text() == "first"
    store.atomic_write_text(path, "second, longer ünïcode")
    assert path.read_text(encoding="utf-8") == "second, longer ünïcode"
    store.atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert _leftovers(path.parent) == []


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_crash_at_rename_keeps_the_old_file(tmp_path, monkeypatch, exc):
    path = tmp_path / "result.json"
    store.atomic_write_text(path, "old")

    def crash(src, dst):
        raise exc

    monkeypatch.setattr(store.os, "replace", crash)
    with pytest.raises(type(exc)):
        store.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_crash_while_writing_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "data.csv"
    store.atomic_write_text(path, "old")

    def crash(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(store.os, "fsync", crash)
    with pytest.raises(OSError, match="I/O error"):
        store.atomic_write_text(path, "new" * 1000)
    assert path.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_point_cache_round_trip_is_exact(tmp_path):
    floats = [0.1, 1 / 3, math.pi * 1e10, 1e-300, 5e-324, -2.5e-17, 123456789.123456789, np.nextafter(1.0, 2.0)]
    df = pd.DataFrame({"x": floats, "i": range(len(floats)), "ok": [True, False] * 4, "tag": list("abcdefgh"),
                       "nan": [math.nan] * 8})
    key = store.point_key("mod.measure", {"seed": 1, "width": 64}, {"device": "cpu"})
    assert store.load_point(tmp_path, key) is None
    store.save_point(tmp_path, key, df)
    assert (tmp_path / store.CACHE / f"{key}.csv").is_file()
    back = store.load_point(tmp_path, key)
    assert [float(v).hex() for v in back["x"]] == [float(v).hex() for v in floats]
    assert back["i"].tolist() == list(range(8)) and back["ok"].tolist() == [True, False] * 4
    assert back["tag"].tolist() == list("abcdefgh") and back["nan"].isna().all()


def test_unreadable_cache_entry_is_recomputed(tmp_path):
    key = "0" * 24
    (tmp_path / store.CACHE).mkdir(parents=True)
    (tmp_path / store.CACHE / f"{key}.csv").write_text("")
    assert store.load_point(tmp_path, key) is None


def test_point_key_depends_on_everything_but_dict_order():
    k = store.point_key("m.f", {"a": 1, "b": (2, 3)}, {"device": "cpu", "dtype": "float64"})
    assert k == store.point_key("m.f", {"b": [2, 3], "a": 1}, {"dtype": "float64", "device": "cpu"})
    assert len(k) == 24
    assert k != store.point_key("m.g", {"a": 1, "b": (2, 3)}, {"device": "cpu", "dtype": "float64"})
    assert k != store.point_key("m.f", {"a": 2, "b": (2, 3)}, {"device": "cpu", "dtype": "float64"})
    assert k != store.point_key("m.f", {"a": 1, "b": (2, 3)}, {"device": "cuda", "dtype": "float64"})


def test_claim_dir_layout(tmp_path):
    assert store.claim_dir(tmp_path, "ci", "init-scale/sigma-2L") == tmp_path / "ci" / "init-scale" / "sigma-2L"
    assert store.claim_dir(tmp_path, "ci", "a/b", "asi") == tmp_path / "ci" / "a" / "b" / "controls" / "asi"


def test_to_json_handles_numpy_tuples_paths_and_nan():
    d = json.loads(store.to_json({"a": np.float64(0.5), "b": (1, 2), "c": Path("x/y"), "d": math.nan,
                                  "e": np.int64(3), "f": frozenset({1})}))
    assert d["a"] == 0.5 and d["b"] == [1, 2] and d["c"] == "x/y" and math.isnan(d["d"]) and d["e"] == 3
    assert d["f"] == [1]


def _result(out: Path, profile: str, claim_id: str, control: str | None = None) -> Path:
    path = store.claim_dir(out, profile, claim_id, control) / "result.json"
    store.atomic_write_text(path, store.to_json({"id": claim_id, "profile": profile, "control": control,
                                                 "status": "pass"}))
    return path


def test_load_results_filters_sorts_and_skips_the_cache(tmp_path):
    _result(tmp_path, "ci", "b/x")
    _result(tmp_path, "ci", "a/y", "ctrl")
    _result(tmp_path, "ci", "a/y")
    _result(tmp_path, "smoke", "a/y")
    stray = tmp_path / store.CACHE / "junk" / "result.json"  # a result.json inside the cache is not a result
    stray.parent.mkdir(parents=True)
    stray.write_text(json.dumps({"id": "cache/junk", "profile": "ci", "status": "pass"}))
    broken = tmp_path / "ci" / "c" / "z" / "result.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")

    found = store.load_results(tmp_path)
    assert [(r["profile"], r["id"], r["control"]) for r in found] == [
        ("ci", "a/y", None), ("ci", "a/y", "ctrl"), ("ci", "b/x", None), ("smoke", "a/y", None)]
    assert found[1]["_path"] == str(tmp_path / "ci" / "a" / "y" / "controls" / "ctrl")
    assert [r["id"] for r in store.load_results(tmp_path, "smoke")] == ["a/y"]
    assert [r.get("control") for r in store.load_results(tmp_path, "ci", controls=False)] == [None, None]
    assert store.load_results(tmp_path / "nowhere") == []


def test_write_csv_is_exact_and_atomic(tmp_path):
    df = pd.DataFrame({"v": [1 / 7, 2e-20]})
    path = store.write_csv(tmp_path / "data.csv", df)
    back = store.read_csv(path)
    assert back["v"].tolist() == df["v"].tolist()
    assert _leftovers(tmp_path) == []
    assert not any(name.startswith(".") for name in os.listdir(tmp_path))
