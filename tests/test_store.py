"""Results on disk: atomic writes, the verified point cache (also under concurrent writers), the layout with
variants, load_results and the calibration files."""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import re
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ntkbench.harness import store


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
    with pytest.warns(store.CacheWarning, match=f"cached sweep point {key} .* not valid: empty file; recomputing"):
        assert store.load_point(tmp_path, key) is None


def _five_rows() -> pd.DataFrame:
    return pd.DataFrame({"seed": range(5), "loss": [0.125, 1 / 3, 2.5e-7, math.pi, 42.0]})


def test_point_truncated_by_hand_is_recomputed(tmp_path):
    """The bug: a cached point cut to 2 of its 5 rows (the last value cut too) was read back as finished."""
    key = "a" * 24
    path = store.save_point(tmp_path, key, _five_rows())
    lines = path.read_text().splitlines(keepends=True)
    assert lines[0].startswith(store.POINT_MAGIC) and "rows=5" in lines[0]
    path.write_text("".join(lines[:3]) + lines[3][:4])  # header, column names, row 1, half of row 2
    with pytest.warns(store.CacheWarning, match=f"{key} .*checksum mismatch.*truncated or modified"):
        assert store.load_point(tmp_path, key) is None
    store.save_point(tmp_path, key, _five_rows())  # the recomputed point replaces it and verifies
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.load_point(tmp_path, key)["loss"].tolist() == _five_rows()["loss"].tolist()


def test_point_without_checksum_or_with_wrong_row_count_is_recomputed(tmp_path):
    key = "b" * 24
    store.write_csv(store.point_path(tmp_path, key), _five_rows())  # an older ntkbench's cache: no header
    with pytest.warns(store.CacheWarning, match="no checksum header"):
        assert store.load_point(tmp_path, key) is None
    body = _five_rows().to_csv(index=False).encode()
    digest = hashlib.sha256(key.encode() + b"\n" + body).hexdigest()
    header = f"{store.POINT_MAGIC} key={key} rows=4 sha256={digest}\n".encode()
    store.point_path(tmp_path, key).write_bytes(header + body)  # a consistent checksum but a wrong row count
    with pytest.warns(store.CacheWarning, match="5 rows, recorded 4"):
        assert store.load_point(tmp_path, key) is None
    store.point_path(tmp_path, key).write_bytes(b"# ntkbench-point v1 rows=x\n" + body)
    with pytest.warns(store.CacheWarning, match="malformed checksum header"):
        assert store.load_point(tmp_path, key) is None
    store.point_path(tmp_path, key).write_bytes(b"\xff\xfe garbage")
    with pytest.warns(store.CacheWarning, match="no checksum header"):
        assert store.load_point(tmp_path, key) is None


def test_point_copied_under_another_key_is_recomputed(tmp_path):
    """Issue 39 item 3: a cache file copied under another point's key was accepted (one seed's rows twice)."""
    mine, other = "c" * 24, "d" * 24
    store.save_point(tmp_path, mine, _five_rows(), seconds=1.5)
    store.point_path(tmp_path, other).write_bytes(store.point_path(tmp_path, mine).read_bytes())
    with pytest.warns(store.CacheWarning, match=f"{other} .*holds the rows of point {mine}, not of {other}"):
        assert store.load_point(tmp_path, other) is None
    path = store.point_path(tmp_path, other)  # the recorded key edited to match: the checksum covers the key
    path.write_bytes(path.read_bytes().replace(f"key={mine}".encode(), f"key={other}".encode(), 1))
    with pytest.warns(store.CacheWarning, match="checksum mismatch"):
        assert store.load_point(tmp_path, other) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows, seconds = store.load_point(tmp_path, mine, with_seconds=True)
    assert rows["loss"].tolist() == _five_rows()["loss"].tolist() and seconds == 1.5


def test_point_of_the_previous_format_is_still_read(tmp_path):
    """A v1 file (checksum of the rows only, no key) verifies as before: an upgrade keeps the cached points."""
    key = "e" * 24
    body = store.csv_bytes(_five_rows())
    header = f"# ntkbench-point v1 rows=5 sha256={hashlib.sha256(body).hexdigest()} seconds=2\n".encode()
    store.point_path(tmp_path, key).parent.mkdir(parents=True)
    store.point_path(tmp_path, key).write_bytes(header + body)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows, seconds = store.load_point(tmp_path, key, with_seconds=True)
    assert len(rows) == 5 and seconds == 2.0
    store.point_path(tmp_path, key).write_bytes(header + body[:-3])
    with pytest.warns(store.CacheWarning, match="checksum mismatch"):
        assert store.load_point(tmp_path, key) is None


def test_save_point_fsyncs_the_file_and_its_folder(tmp_path, monkeypatch):
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(store.os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    store.save_point(tmp_path, "c" * 24, _five_rows())
    assert len(synced) == (2 if os.name == "posix" else 1)  # the temporary file, then the folder of the rename


def _frames(n: int) -> list[pd.DataFrame]:
    """Distinct frames of different lengths: a reader that saw a mix of two writes could not match any."""
    return [pd.DataFrame({"writer": [w] * (50 + 7 * w), "x": np.linspace(0, 1, 50 + 7 * w) + w}) for w in range(n)]


def _write_many(out: str, key: str, writer: int, rounds: int) -> None:
    df = _frames(writer + 1)[writer]
    for _ in range(rounds):
        store.save_point(out, key, df)


def test_concurrent_writers_of_one_point_never_expose_a_partial_file(tmp_path):
    key, writers, rounds = "d" * 24, 4, 40
    frames = _frames(writers)
    seen: list[int] = []
    stop = threading.Event()
    problems: list[str] = []

    def reader():
        while not stop.is_set():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                df = store.load_point(tmp_path, key)
            problems.extend(str(w.message) for w in caught)
            if df is not None:
                w = int(df["writer"].iloc[0])
                if not df.equals(frames[w]):
                    problems.append(f"a frame of writer {w} came back altered")
                seen.append(w)

    threads = [threading.Thread(target=_write_many, args=(str(tmp_path), key, w, rounds)) for w in range(writers)]
    read = threading.Thread(target=reader)
    read.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    read.join()
    assert problems == [] and seen, problems[:3]
    assert _leftovers(tmp_path / store.CACHE) == []
    assert store.load_point(tmp_path, key) is not None


def test_two_processes_writing_the_same_point(tmp_path):
    key = "e" * 24
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), key, w, 30)) for w in range(2)]
    for p in procs:
        p.start()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a reader meanwhile sees nothing or one whole, verified version
        while any(p.is_alive() for p in procs):
            df = store.load_point(tmp_path, key)
            assert df is None or df.equals(_frames(2)[int(df["writer"].iloc[0])])
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert int(store.load_point(tmp_path, key)["writer"].iloc[0]) in (0, 1)
    assert _leftovers(tmp_path / store.CACHE) == []


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
    assert store.claim_dir(tmp_path, "ci", "a/b", variant="") == tmp_path / "ci" / "a" / "b"
    assert (store.claim_dir(tmp_path, "ci", "a/b", variant="depth=3,seed_offset=2")
            == tmp_path / "ci" / "variants" / "depth=3,seed_offset=2" / "a" / "b")
    assert (store.claim_dir(tmp_path, "ci", "a/b", "asi", variant="error")
            == tmp_path / "ci" / "variants" / "error" / "a" / "b" / "controls" / "asi")
    for bad in ("../x", "a/b", "..", "x y"):
        with pytest.raises(ValueError, match="not a safe folder name"):
            store.claim_dir(tmp_path, "ci", "a/b", variant=bad)
    with pytest.raises(ValueError, match="reserved"):
        store.claim_dir(tmp_path, "ci", "variants/b")


@pytest.mark.parametrize(("overrides", "error", "slug"), [
    ({}, False, ""),
    ({}, True, "error"),
    ({"depth": 3}, True, "depth=3,error"),
    ({"seed_offset": 2, "depth": 3}, False, "depth=3,seed_offset=2"),
    ({"depth": "2,3"}, False, "depth=2+3"),  # --set text
    ({"depth": (2, 3)}, False, "depth=2+3"),  # parsed values
    ({"sigmas": [0.5, 1.0]}, False, "sigmas=0.5+1.0"),
    ({"init": "asi", "exact": True}, False, "exact=true,init=asi"),
    ({"data": "../etc/pass wd"}, False, "data=.._etc_pass_wd"),
])
def test_variant_slug(overrides, error, slug):
    assert store.variant_slug(overrides, error=error) == slug
    if slug:
        assert store.claim_dir("o", "ci", "a/b", variant=slug).parts[:4] == ("o", "ci", "variants", slug)


def test_variant_slug_of_long_overrides_is_bounded_and_distinct():
    a = store.variant_slug({"widths": list(range(100))})
    b = store.variant_slug({"widths": list(range(101))})
    assert a != b and len(a) <= 120 and a.startswith("widths=0+1+2")
    assert len(store.variant_slug({"widths": list(range(100))}, error=True)) <= 126
    for slug in (a, store.variant_slug({"widths": list(range(100))}, error=True)):  # a hashed slug is a folder
        assert store.claim_dir("o", "ci", "a/b", variant=slug).parts[:4] == ("o", "ci", "variants", slug)


def test_to_json_handles_numpy_tuples_paths_and_nan():
    d = json.loads(store.to_json({"a": np.float64(0.5), "b": (1, 2), "c": Path("x/y"), "d": math.nan,
                                  "e": np.int64(3), "f": frozenset({1})}))
    assert d["a"] == 0.5 and d["b"] == [1, 2] and d["c"] == "x/y" and math.isnan(d["d"]) and d["e"] == 3
    assert d["f"] == [1]


def _result(out: Path, profile: str, claim_id: str, control: str | None = None, variant: str = "") -> Path:
    path = store.claim_dir(out, profile, claim_id, control, variant) / "result.json"
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

    _result(tmp_path, "ci", "a/y", variant="depth=3")
    _result(tmp_path, "ci", "a/y", "ctrl", variant="error")

    found = store.load_results(tmp_path)
    assert [(r["profile"], r["id"], r["control"]) for r in found] == [
        ("ci", "a/y", None), ("ci", "a/y", "ctrl"), ("ci", "b/x", None), ("smoke", "a/y", None)]
    assert found[1]["_path"] == str(tmp_path / "ci" / "a" / "y" / "controls" / "ctrl")
    assert {r["_variant"] for r in found} == {""}
    assert [r["id"] for r in store.load_results(tmp_path, "smoke")] == ["a/y"]
    assert [r.get("control") for r in store.load_results(tmp_path, "ci", controls=False)] == [None, None]
    assert store.load_results(tmp_path / "nowhere") == []
    every = store.load_results(tmp_path, "ci", variants=True)
    assert [(r["_variant"], r["id"], r["control"]) for r in every] == [
        ("", "a/y", None), ("", "a/y", "ctrl"), ("", "b/x", None), ("depth=3", "a/y", None), ("error", "a/y", "ctrl")]
    assert every[-1]["_path"] == str(tmp_path / "ci" / "variants" / "error" / "a" / "y" / "controls" / "ctrl")


def test_calibration_files(tmp_path):
    path = store.calibration_path(tmp_path, "ci", "init-scale/sigma-2L")
    assert path == tmp_path / "ci" / "calibration" / "init-scale__sigma-2L.json"
    assert store.calibration_path(tmp_path, "ci", "a/b", "asi").name == "a__b__asi.json"
    store.atomic_write_text(path, store.to_json({"id": "init-scale/sigma-2L", "control": None, "pass_rate": 1.0}))
    store.atomic_write_text(store.calibration_path(tmp_path, "ci", "a/b", "asi"),
                            store.to_json({"id": "a/b", "control": "asi", "pass_rate": 0.0}))
    (tmp_path / "ci" / "calibration" / "broken.json").write_text("{")
    found = store.load_calibrations(tmp_path, "ci")
    assert sorted(found) == [("a/b", "asi"), ("init-scale/sigma-2L", None)]
    assert found[("a/b", "asi")]["_path"] == str(tmp_path / "ci" / "calibration" / "a__b__asi.json")
    assert store.load_calibrations(tmp_path, "smoke") == {}


def test_write_csv_is_exact_and_atomic(tmp_path):
    df = pd.DataFrame({"v": [1 / 7, 2e-20]})
    path = store.write_csv(tmp_path / "data.csv", df)
    back = store.read_csv(path)
    assert back["v"].tolist() == df["v"].tolist()
    assert _leftovers(tmp_path) == []
    assert not any(name.startswith(".") for name in os.listdir(tmp_path))


# ----- damaged result files (issue 39 items 1, 4, 9) ----------------------------------------------------------------
DAMAGED = [
    ("truncated", lambda text: text[:200], "not valid JSON"),
    ("not UTF-8", lambda text: "\udcff", "not UTF-8 text"),
    ("a list", lambda text: "[1, 2]", "a JSON list, not an object"),
    ("measured is text", lambda text: text.replace('"measured": 2.0', '"measured": "tiny"'),
     "check 'slope': 'measured' must be a number, got str 'tiny'"),
    ("checks is text", lambda text: text.replace('"checks": [', '"checks": "x", "unused": ['),
     "'checks' must be a list"),
    ("status unknown", lambda text: text.replace('"status": "pass"', '"status": 3'), "'status' must be one of"),
    ("seconds is text", lambda text: text.replace('"seconds": 2.0', '"seconds": "2 s"'), "'seconds' must be a number"),
]


def _full_result(out: Path, claim_id: str = "fam/a") -> Path:
    check = {"name": "slope", "measured": 2.0, "interval": [1.9, 2.1], "expected": 2.0, "tolerance": 0.4,
             "mode": "within", "passed": True, "reason": "r", "method": "m"}
    res = {"id": claim_id, "profile": "ci", "status": "pass", "params": {"n": 1}, "checks": [check], "seconds": 2.0,
           "versions": {}, "control": None, "error": "", "figure": "", "timings": [{"point": {"n": 1}, "seconds": 1.0}]}
    path = store.claim_dir(out, "ci", claim_id) / "result.json"
    store.atomic_write_text(path, store.to_json(res))
    return path


@pytest.mark.parametrize(("damage", "why"), [(d, w) for _, d, w in DAMAGED], ids=[n for n, _, _ in DAMAGED])
def test_a_damaged_result_is_skipped_raised_or_marked(tmp_path, damage, why):
    _full_result(tmp_path, "fam/b")
    path = _full_result(tmp_path)
    text = damage(path.read_text(encoding="utf-8"))
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert [r["id"] for r in store.load_results(tmp_path)] == ["fam/b"]
    with pytest.raises(store.DamagedResult, match=re.escape(f"{path}: damaged result file: ") + ".*" + re.escape(why)):
        store.load_results(tmp_path, damaged="raise")
    marked = store.load_results(tmp_path, damaged="mark")
    assert [(r["id"], r["status"]) for r in marked] == [("fam/a", "error"), ("fam/b", "pass")]
    assert why in marked[0]["_damaged"] and str(path) in marked[0]["error"]


def test_a_damaged_control_or_variant_stands_in_at_its_place(tmp_path):
    for folder in (store.claim_dir(tmp_path, "ci", "fam/a", "ctrl"),
                   store.claim_dir(tmp_path, "ci", "fam/a", variant="n=2")):
        folder.mkdir(parents=True)
        (folder / "result.json").write_text("{")
    marked = store.load_results(tmp_path, variants=True, damaged="mark")
    assert [(r["id"], r["control"], r["_variant"], r["profile"]) for r in marked] == [
        ("fam/a", "ctrl", "", "ci"), ("fam/a", None, "n=2", "ci")]


def test_committed_results_have_no_damaged_file():
    found = store.load_results(Path(__file__).resolve().parents[1] / "results", variants=True, damaged="raise")
    assert found


def test_a_null_timing_is_a_number_left_unknown(tmp_path):
    path = _full_result(tmp_path)
    path.write_text(path.read_text().replace('"seconds": 1.0', '"seconds": null'))
    assert store.result_problem(json.loads(path.read_text())) == ""
    path.write_text(path.read_text().replace('"seconds": null', '"seconds": "1 s"'))
    assert store.result_problem(json.loads(path.read_text())).startswith("timings[0] must be")


# ----- a claim's folder as a whole or not at all (issue 39 item 7) --------------------------------------------------
def test_write_folder_creates_or_replaces_the_files(tmp_path):
    folder = tmp_path / "ci" / "fam" / "a"
    store.write_folder(folder, {"data.csv": b"x\n1\n", "result.json": b"{}"})
    assert sorted(p.name for p in folder.iterdir()) == ["data.csv", "result.json"]
    (folder / "controls" / "c").mkdir(parents=True)  # the controls' results live inside the claim's folder
    store.write_folder(folder, {"data.csv": b"x\n2\n", "result.json": b'{"new": 1}'})
    assert (folder / "data.csv").read_bytes() == b"x\n2\n" and (folder / "controls" / "c").is_dir()
    assert [p.name for p in folder.parent.iterdir()] == ["a"]  # no temporary folder left


@pytest.mark.parametrize("exists", [False, True])
def test_write_folder_on_a_full_disk_writes_nothing(tmp_path, monkeypatch, exists):
    folder = tmp_path / "fam" / "a"
    if exists:
        store.write_folder(folder, {"data.csv": b"old", "result.json": b"old"})
    real_fsync, calls = os.fsync, []

    def full(fd):  # the second file does not fit
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(store.os, "fsync", full)
    with pytest.raises(store.WriteError, match=re.escape(f"cannot write {str(folder / 'result.json')!r}: No space "
                                                         "left on device")):
        store.write_folder(folder, {"data.csv": b"new", "result.json": b"new"})
    assert [p.name for p in folder.parent.iterdir()] == (["a"] if exists else [])
    if exists:
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == {"data.csv": b"old", "result.json": b"old"}
