"""The Markdown summary of saved results and the comparison of two result folders."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from ntkbench import registry, report, runner, store
from ntkbench.registry import UsageError
from ntkbench.report import Regression

VERSIONS = {"python": "3.11.7", "torch": "2.13.0+cpu", "ntkbench": "0.1.0", "git": "abc1234"}
TRACEBACK = 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nValueError: bad thing\n'


def _check(name, measured, expected, tolerance, mode="within", interval=(math.nan, math.nan), passed=None):
    if passed is None:
        passed = registry.Expect(name, expected, tolerance, "r", mode=mode).passes(measured)
    return {"name": name, "measured": measured, "interval": list(interval), "expected": expected,
            "tolerance": tolerance, "mode": mode, "passed": passed, "reason": "because", "method": "m"}


def _write(out: Path, claim_id: str, status: str, checks: list, *, profile: str = "ci", control: str | None = None,
           **fields) -> dict:
    res = {"id": claim_id, "family": claim_id.split("/")[0], "source": f"src {claim_id}", "statement": "s",
           "status": status, "profile": profile, "params": {"seeds": 5, "depth": [2, 3]}, "seeds": [0, 1],
           "checks": checks, "seconds": 1.5, "versions": VERSIONS, "control": control, "control_why": "",
           "asserted": profile != "smoke", "points": 3, "points_cached": 0, "error": "", "figure": ""}
    res.update(fields)
    res["ok"] = runner.result_ok(res)
    store.atomic_write_text(store.claim_dir(out, profile, claim_id, control) / "result.json", store.to_json(res))
    return res


@pytest.fixture
def handmade(tmp_path) -> Path:
    """A ci results folder: a pass with a figure and two checks, a fail, an error, and three controls."""
    out = tmp_path / "base"
    _write(out, "fam/a", "pass", [_check("slope", 2.01, 2.0, 0.4, interval=(1.9, 2.1)),
                                  _check("round-off", 6.0e-13, 0.0, 1e-8, mode="below")], figure="figure.png")
    _write(out, "fam/b", "fail", [_check("gap", 0.5, 1.0, 0.1, mode="above")], seconds=12345.0)
    _write(out, "fam/c", "error", [], error=TRACEBACK)
    _write(out, "fam/a", "fail", [_check("slope", 0.1, 2.0, 0.4)], control="flat",
           control_why="flat | no growth", params={"seeds": 5, "depth": [2, 3], "init": "asi"})
    bad = _write(out, "fam/a", "pass", [_check("slope", 2.0, 2.0, 0.4)], control="harmless", control_why="nothing")
    path = store.claim_dir(out, "ci", "fam/a", "harmless") / "result.json"
    bad.pop("ok")  # an older result.json without "ok": recomputed
    store.atomic_write_text(path, store.to_json(bad))
    return out


@pytest.fixture(scope="module")
def smoke_out(tmp_path_factory) -> Path:
    """Real smoke runs of the two cheap claims and their controls."""
    out = tmp_path_factory.mktemp("smoke")
    claims = registry.select(["init-scale/homogeneity", "init-scale/decomposition"])
    results = runner.run_many(claims, "smoke", controls=True, out=out)
    assert all(r.ok for r in results)
    return out


# ----- formatting ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("x", "text"), [
    (6.0e-13, "6.0e-13"), (5.732913348342013e-17, "5.73e-17"), (2.0, "2"), (0.698979, "0.699"), (1234.5, "1234"),
    (12345.6, "1.23e4"), (-3.2e-5, "-3.2e-5"), (0, "0"), (0.001, "0.001"), (9.996, "10"), (127.7, "128"),
    (math.nan, "nan"), (math.inf, "inf"), (None, "—"), (7, "7"), (1e-8, "1.0e-8"),
])
def test_fmt(x, text):
    assert report.fmt(x) == text


def test_expectation_and_measured_cells():
    assert report.expectation(_check("x", 1, 2.0, 0.4)) == "2 ± 0.4"
    assert report.expectation(_check("x", 1, 0.0, 1e-10, mode="below")) == "≤ 0 + 1.0e-10"
    assert report.expectation(_check("x", 1, 1.0, 0.1, mode="above")) == "≥ 1 − 0.1"
    assert report.measured(_check("x", 2.01, 2, 1, interval=(1.9, 2.1))) == "2.01 [1.9, 2.1]"
    assert report.measured(_check("x", 2.01, 2, 1, interval=(1.9, math.nan))) == "2.01"


# ----- build ---------------------------------------------------------------------------------------------------------
def test_build_from_real_smoke_runs(smoke_out):
    path = report.build(smoke_out)
    assert path == smoke_out / "README.md"
    text = path.read_text(encoding="utf-8")
    assert "## Profile `smoke`" in text and "nothing is asserted" in text
    assert "**2 pass / 0 fail / 0 error**" in text and "controls ran without error 3/3 (not asserted)" in text
    assert "torch " in text and "ntkbench 0.1.0" in text
    claims_table = text.split("### Claims")[1].split("### Negative controls")[0]
    assert claims_table.index("| init-scale/homogeneity |") < claims_table.index("| init-scale/decomposition |")
    assert "|  |  | init-term train/test |" in claims_table  # the second check of decomposition has its own row
    controls_table = text.split("### Negative controls")[1]
    for name in ("| normal-bias |", "| tanh |"):
        assert name in controls_table
    assert "<details>" not in text and not list(smoke_out.glob(".README*"))


def test_build_from_handmade_results(handmade):
    text = report.build(handmade).read_text(encoding="utf-8")
    assert "**1 pass / 1 fail / 1 error**" in text and "controls failing as predicted 1/2" in text
    assert "python 3.11.7 · torch 2.13.0+cpu · ntkbench 0.1.0 · git abc1234" in text
    assert "1.24e4 s in total" in text  # 1.5 + 12345 + 1.5 × 3
    assert ("| fam/a | src fam/a | slope | 2.01 [1.9, 2.1] | 2 ± 0.4 | pass | 1.5 | [figure](ci/fam/a/figure.png) |"
            in text)
    assert "|  |  | round-off | 6.0e-13 | ≤ 0 + 1.0e-8 |  |  |  |" in text
    assert "| fam/b | src fam/b | gap ✗ | 0.5 | ≥ 1 − 0.1 | **fail** ❌ | 1.23e4 |  |" in text
    assert "| fam/c | src fam/c | — | — | — | **error** ⚠️ |" in text
    assert "| fam/a | flat | flat \\| no growth | slope ✗ | 0.1 | 2 ± 0.4 | fail | yes |" in text
    assert "| fam/a | harmless | nothing | slope | 2 | 2 ± 0.4 | pass | **NO** ❌ |" in text
    details = text.split("### Errors")[1]
    assert "<summary><code>fam/c</code> (error): ValueError: bad thing</summary>" in details
    assert 'File "x.py", line 1' in details and "</details>" in details


def test_build_one_profile_and_empty_folders(handmade, smoke_out, tmp_path):
    shutil.copytree(smoke_out / "smoke", handmade / "smoke")
    text = report.build(handmade).read_text(encoding="utf-8")
    assert text.index("## Profile `smoke`") < text.index("## Profile `ci`")  # smoke, ci, paper order
    text = report.build(handmade, "ci").read_text(encoding="utf-8")
    assert "## Profile `ci`" in text and "## Profile `smoke`" not in text
    with pytest.raises(UsageError, match="no results under .*empty"):
        report.build(tmp_path / "empty")
    with pytest.raises(UsageError, match="for profile 'paper'"):
        report.build(handmade, "paper")


MITIGATION = {
    "profile": "ci", "params": {"sigma_start": 1.0, "factor": 0.5, "widths": [1000]},
    "history": [
        {"sigma": 1.0, "val_loss": 0.5, "test_loss": 0.52, "train_loss": 9e-5, "steps": 1200, "converged": True},
        {"sigma": 0.5, "val_loss": 0.2, "test_loss": 0.21, "train_loss": 8e-5, "steps": 900, "converged": True},
        {"sigma": 0.25, "val_loss": 0.1, "test_loss": 0.12, "train_loss": 7e-5, "steps": 800, "converged": True},
        {"sigma": 0.125, "val_loss": 0.11, "test_loss": 0.13, "train_loss": 2e-3, "steps": 20000, "converged": False},
    ],
    "chosen_sigma": 0.25, "stop_reason": "validation loss rose at σ = 0.125", "val_loss_start": 0.5,
    "val_loss_chosen": 0.1, "test_loss_start": 0.52, "test_loss_chosen": 0.12, "seconds": 42.0,
    "versions": VERSIONS, "figure": "figure.png",
}


def test_mitigation_section(handmade):
    path = handmade / "ci" / "mitigation" / "mitigation.json"
    store.atomic_write_text(path, json.dumps(MITIGATION))
    text = report.build(handmade).read_text(encoding="utf-8")
    section = text.split("### Mitigation: shrinking σ (001 Sect. 3)")[1]
    assert "σ 1 → 0.25: validation loss 0.5 → 0.1, test loss 0.52 → 0.12" in section
    assert "stopped because: validation loss rose at σ = 0.125" in section
    assert "`sigma_start=1.0`" in section and "`widths=1000`" in section
    assert "| 0.25 ← chosen | 7.0e-5 | 0.1 | 0.12 | 800 | yes |" in section
    assert "| 0.125 | 0.002 | 0.11 | 0.13 | 2.0e4 | **no** |" in section
    assert "[figure](ci/mitigation/figure.png)" in section


def test_mitigation_alone_and_unreadable(tmp_path):
    path = tmp_path / "smoke" / "mitigation" / "mitigation.json"
    store.atomic_write_text(path, json.dumps({**MITIGATION, "figure": "", "history": []}))
    text = report.build(tmp_path).read_text(encoding="utf-8")
    assert "## Profile `smoke`" in text and "σ — → 0.25" in text and "[figure]" not in text
    path.write_text("{broken")
    assert "`smoke/mitigation/mitigation.json` is unreadable" in report.build(tmp_path).read_text(encoding="utf-8")


# ----- compare -------------------------------------------------------------------------------------------------------
def _edit(out: Path, claim_id: str, control: str | None = None, profile: str = "ci", **changes) -> None:
    path = store.claim_dir(out, profile, claim_id, control) / "result.json"
    res = json.loads(path.read_text())
    res.update(changes)
    path.write_text(store.to_json(res))


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "new"
    shutil.copytree(src, dst)
    return dst


def test_identical_runs_have_no_regressions(handmade, smoke_out, tmp_path):
    assert report.compare(handmade, _copy(handmade, tmp_path)) == []
    assert report.compare(smoke_out, smoke_out, "smoke") == []


def test_moved_beyond_tolerance_but_not_within(handmade, tmp_path):
    new = _copy(handmade, tmp_path)
    _edit(new, "fam/a", checks=[_check("slope", 2.35, 2.0, 0.4), _check("round-off", 9e-13, 0.0, 1e-8, "below")])
    assert report.compare(handmade, new) == []  # |Δ| = 0.34 ≤ 0.4, and a below check moving inside its bound
    _edit(new, "fam/a", checks=[_check("slope", 2.45, 2.0, 0.4, passed=True),
                                _check("round-off", 9e-13, 0.0, 1e-8, "below")])
    [reg] = report.compare(handmade, new)
    assert (reg.id, reg.control, reg.check, reg.kind) == ("fam/a", None, "slope", "moved")
    assert reg.detail == "2.01 → 2.45: |Δ| = 0.44 > tolerance 0.4"
    assert str(reg) == "fam/a slope: moved: 2.01 → 2.45: |Δ| = 0.44 > tolerance 0.4"


def test_status_change_and_verdict(handmade, tmp_path):
    new = _copy(handmade, tmp_path)
    _edit(new, "fam/a", status="fail", checks=[_check("slope", 2.01, 2.0, 0.4),
                                               _check("round-off", 1e-6, 0.0, 1e-8, "below")])
    regs = report.compare(handmade, new)
    assert [(r.kind, r.check) for r in regs] == [("status", None), ("verdict", "round-off")]
    assert regs[0].detail == "pass → fail"
    assert regs[1].detail == "passed → failed (6.0e-13 → 1.0e-6, expected ≤ 0 + 1.0e-8)"


def test_error_in_new_is_a_status_change(handmade, tmp_path):
    new = _copy(handmade, tmp_path)
    _edit(new, "fam/a", "flat", status="error", checks=[], error=TRACEBACK)
    [reg] = report.compare(handmade, new)
    assert (reg.id, reg.control, reg.kind) == ("fam/a", "flat", "status")
    assert reg.detail == "fail → error (ValueError: bad thing)" and str(reg).startswith("fam/a [flat]: status:")


def test_missing_result_and_missing_check(handmade, tmp_path):
    new = _copy(handmade, tmp_path)
    shutil.rmtree(store.claim_dir(new, "ci", "fam/b"))
    _edit(new, "fam/a", checks=[_check("slope", 2.01, 2.0, 0.4)])
    regs = report.compare(handmade, new)
    assert [(r.id, r.check, r.kind) for r in regs] == [("fam/a", "round-off", "missing"), ("fam/b", None, "missing")]


def test_params_mismatch_is_reported_once(handmade, tmp_path):
    new = _copy(handmade, tmp_path)
    _edit(new, "fam/a", params={"seeds": 3, "depth": [2, 3]}, status="fail",
          checks=[_check("slope", 9.0, 2.0, 0.4), _check("round-off", 1.0, 0.0, 1e-8, "below")])
    [reg] = report.compare(handmade, new)
    assert reg.kind == "params" and "seeds: 5 → 3" in reg.detail and "meaningless" in reg.detail


def test_results_only_in_new_are_not_regressions(handmade, tmp_path):
    new = _copy(handmade, tmp_path)
    _write(new, "fam/d", "fail", [_check("x", 0.0, 1.0, 0.1)])
    assert report.compare(handmade, new) == []
    assert report.added(handmade, new) == ["fam/d"]


def test_nan_measurements(handmade, tmp_path):
    new = _copy(handmade, tmp_path)
    _edit(new, "fam/a", checks=[_check("slope", math.nan, 2.0, 0.4, passed=True),
                                _check("round-off", 6.0e-13, 0.0, 1e-8, "below")])
    [reg] = report.compare(handmade, new)
    assert reg.kind == "moved" and "nan" in reg.detail


def test_baseline_without_the_profile(handmade, tmp_path):
    with pytest.raises(UsageError, match="no results for profile 'smoke' under .*; profiles there: ci"):
        report.compare(handmade, handmade, "smoke")
    regs = report.compare(handmade, tmp_path / "nothing")
    assert {r.kind for r in regs} == {"missing"} and len(regs) == 5


def test_regression_is_frozen():
    reg = Regression("a/b", None, None, "missing", "gone")
    with pytest.raises(AttributeError):
        reg.kind = "status"  # type: ignore[misc]
    assert str(reg) == "a/b: missing: gone"
