"""The Markdown summary of saved results and the comparison of two result folders."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest

from ntkbench.harness import registry, report, runner, store
from ntkbench.harness.registry import UsageError
from ntkbench.harness.report import Regression

VERSIONS = {"python": "3.11.7", "torch": "2.13.0+cpu", "ntkbench": "0.1.0", "git": "abc1234"}
TRACEBACK = 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nValueError: bad thing\n'


def _check(name, measured, expected, tolerance, mode="within", interval=(math.nan, math.nan), passed=None):
    if passed is None:
        passed = registry.Expect(name, expected, tolerance, "r", mode=mode).passes(measured)
    return {"name": name, "measured": measured, "interval": list(interval), "expected": expected,
            "tolerance": tolerance, "mode": mode, "passed": passed, "reason": "because", "method": "m"}


def _params(claim_id: str, profile: str, control: str | None) -> dict:
    """A registered claim's parameters as the registry resolves them now (a current result); else a stand-in."""
    if claim_id not in {c.id for c in registry.all_claims()}:
        return {"seeds": 5, "depth": [2, 3]}
    claim = registry.get(claim_id)
    ctrl = next((c for c in claim.controls if c.name == control), None)
    return json.loads(store.to_json(claim.resolve(profile, ctrl.overrides if ctrl else None)))


def _write(out: Path, claim_id: str, status: str, checks: list, *, profile: str = "ci", control: str | None = None,
           variant: str = "", **fields) -> dict:
    res = {"id": claim_id, "family": claim_id.split("/")[0], "source": f"src {claim_id}", "statement": "s",
           "status": status, "profile": profile, "params": _params(claim_id, profile, control), "seeds": [0, 1],
           "checks": checks, "seconds": 1.5, "versions": VERSIONS, "control": control, "control_why": "",
           "asserted": profile != "smoke", "points": 3, "points_cached": 0, "error": "", "figure": ""}
    res.update(fields)
    res["ok"] = report.ok(res)
    store.atomic_write_text(store.claim_dir(out, profile, claim_id, control, variant) / "result.json",
                            store.to_json(res))
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
    assert "**5 ran / 0 error** (nothing asserted)" in text and "controls ran without error 3/3 (not asserted)" in text
    assert "| pass |" not in text and "ran (not asserted)" in text  # smoke never says "pass"
    assert "torch " in text and "ntkbench 0.1.0" in text
    claims_table = text.split("### Claims")[1].split("### Negative controls")[0]
    assert claims_table.index("| init-scale/homogeneity |") < claims_table.index("| init-scale/decomposition |")
    # the second check of decomposition has its own row
    assert "|  |  | init-term train/test (identity) |" in claims_table
    controls_table = text.split("### Negative controls")[1]
    for name in ("| normal-bias |", "| tanh |"):
        assert name in controls_table
    assert "<details>" not in text and not list(smoke_out.glob(".README*"))


def test_build_from_handmade_results(handmade):
    text = report.build(handmade).read_text(encoding="utf-8")
    assert "**1 pass / 0 not discriminating / 1 fail / 0 invalid / 1 error**" in text
    assert "controls failing as predicted 1/2" in text
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


def test_a_damaged_result_is_counted_as_an_error_and_named(handmade):
    """Issue 39 item 4: a damaged result showed as "not run", without a word."""
    path = store.claim_dir(handmade, "ci", "fam/a") / "result.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"checks": [', '"checks": 7, "x": ['), encoding="utf-8")
    damaged: list[str] = []
    text = report.build(handmade, damaged=damaged).read_text(encoding="utf-8")
    assert damaged == [f"{path}: 'checks' must be a list, got int 7"]
    assert "**0 pass / 0 not discriminating / 1 fail / 0 invalid / 2 error**" in text
    assert "| fam/a | ci/fam/a/result.json? |" not in text
    details = text.split("### Errors")[1]
    assert f"<summary><code>fam/a</code> (error): damaged result file {path}: 'checks' must be a list" in details


def test_build_one_profile_and_empty_folders(handmade, smoke_out, tmp_path):
    shutil.copytree(smoke_out / "smoke", handmade / "smoke")
    text = report.build(handmade).read_text(encoding="utf-8")
    assert text.index("## Profile `smoke`") < text.index("## Profile `ci`")  # smoke, ci, paper order
    text = report.build(handmade, "ci").read_text(encoding="utf-8")
    assert "## Profile `ci`" in text and "## Profile `smoke`" not in text
    with pytest.raises(UsageError, match=r"no results under .*empty"):
        report.build(tmp_path / "empty")
    with pytest.raises(UsageError, match="for profile 'paper'"):
        report.build(handmade, "paper")


CATALOGUE_IDS = (  # the fixed ids of the catalogue (docs/claims.md)
    "init-scale/sigma-2L", "init-scale/kernel-limit", "init-scale/lin-closeness", "init-scale/last-layer-exact",
    "init-scale/homogeneity", "init-scale/decomposition", "optim/sgd-equals-gd", "optim/adagrad-differs",
    "optim/adagrad-closed-form", "optim/adaptive-batch-dependence", "optim/underparam-unique", "loss/invariance",
    "init-output/eq6", "init-output/asi-exact", "init-output/doubling-kernel", "init-output/asi-generalization",
    "init-output/error-decomposition", "scaling/ntk-fluctuations", "scaling/output-fluctuations", "scaling/test-error",
    "scaling/ensemble", "scaling/jamming-norm", "scaling/jamming-cusp", "wide/ntk-limit", "wide/lazy-movement",
    "wide/linearization-gap", "wide/gp-init", "wide/lsq-projection",
)


@pytest.mark.parametrize(("fields", "expected", "text"), [
    ({"status": "pass"}, "as predicted", "as predicted"),
    ({"status": "fail"}, "not as predicted", "NOT AS PREDICTED (fail)"),
    ({"status": "pass", "control": "x"}, "not as predicted", "NOT AS PREDICTED (the control passed)"),
    ({"status": "fail", "control": "x"}, "as predicted", "as predicted"),
    ({"status": "error"}, "error", "error"),
    ({"status": "pass", "asserted": False, "profile": "smoke"}, "not asserted", "ran, nothing asserted (smoke)"),
    ({"status": "invalid", "invalid_reason": "1 of 5 members did not reach the threshold"}, "invalid",
     "INVALID (1 of 5 members did not reach the threshold)"),
    # a stored field is never read: the outcome is derived from the status and the checks, as the runner derived it
    ({"status": "pass", "outcome": "invalid", "ok": False}, "as predicted", "as predicted"),
])
def test_outcomes_old_and_new_results(fields, expected, text):
    assert report.outcome(fields) == expected and report.outcome_text(fields) == text
    assert report.ok(fields) is (expected in ("as predicted", "not asserted"))


def test_the_report_and_the_runner_judge_by_the_same_function():
    """One source for a result's outcome: the report's, the runner's and the calibration's names are the functions of
    ntkbench.harness.outcome (the same objects), and every committed result.json stores the outcome they derive from
    it."""
    from ntkbench.harness import calibrate, outcome

    assert report.outcome is runner.outcome is calibrate.outcome is outcome.outcome
    assert report.ok is runner.result_ok is outcome.ok and report.asserted is outcome.asserted
    assert report.OUTCOMES is outcome.OUTCOMES
    saved = list((report.REPO / "results").rglob("result.json"))
    for path in saved:
        r = json.loads(path.read_text(encoding="utf-8"))
        assert (r.get("outcome"), r.get("ok")) in ((None, None), (outcome.outcome(r), outcome.ok(r))), path


def test_invalid_runs_and_the_checks_a_control_must_fail(tmp_path):
    out = tmp_path / "r"
    pre = {**_check("train-loss/threshold", 1.4, 1.0, 0.0, mode="below"), "role": "precondition",
           "method": "3/5 trained members reached the threshold"}
    _write(out, "fam/a", "invalid", [{**_check("slope", 2.0, 2.0, 0.4), "role": "science"}, pre],
           outcome="invalid", invalid_reason="2 of 5 members did not reach the threshold 1e-4")
    _write(out, "fam/a", "fail", [{**_check("slope", 0.1, 2.0, 0.4), "role": "science", "must_fail": True},
                                  {**_check("train-loss/threshold", 1.0, 1.0, 0.0, mode="below"),
                                   "role": "precondition", "must_fail": False}],
           control="flat", control_why="no growth", outcome="as predicted")
    _write(out, "fam/b", "invalid", [pre], control="c", outcome="invalid")  # no reason given: the preconditions
    text = report.build(out).read_text(encoding="utf-8")
    assert "**0 pass / 0 not discriminating / 0 fail / 1 invalid / 0 error**" in text
    assert "controls failing as predicted 1/2" in text
    assert "1 control invalid" in text
    assert "| fam/a | src fam/a | slope | 2 | 2 ± 0.4 | **invalid** ⚠️ (2 of 5 members did not reach the threshold " \
           "1e-4) |" in text
    assert "|  |  | train-loss/threshold (precondition) ✗ | 1.4 | ≤ 1 + 0 |" in text
    assert "| fam/a | flat | no growth | slope (must fail) ✗ | 0.1 | 2 ± 0.4 | fail | yes |" in text
    assert "|  |  |  | train-loss/threshold (precondition) | 1 | ≤ 1 + 0 |" in text
    assert "| fam/b | c |  | train-loss/threshold (precondition) ✗ | 1.4 | ≤ 1 + 0 | **invalid** ⚠️" in text
    invalid = text.split("### Invalid runs")[1]
    assert "2 of 3 results are invalid" in invalid
    assert "- `fam/a`: 2 of 5 members did not reach the threshold 1e-4" in invalid
    assert ("- `fam/b [c]`: precondition failed: train-loss/threshold 1.4 vs ≤ 1 + 0: 3/5 trained members reached "
            "the threshold") in invalid


def test_calibration_pass_rate_next_to_each_claim(handmade):
    cal = {"id": "fam/a", "control": None, "profile": "ci", "reseeds": 10, "pass_rate": 0.9,
           "quantities": {"slope": {"values": [2.0] * 10, "mean": 2.01, "sd": 0.05, "pass_rate": 0.9,
                                    "tolerance": 0.4, "suggested_tolerance": 0.2, "rule": "4 sd"},
                          "round-off": {"values": [1e-13] * 10, "mean": 1e-13, "sd": 1e-14, "pass_rate": 1.0,
                                        "tolerance": 1e-8, "suggested_tolerance": 1e-8, "rule": "round-off"}}}
    store.atomic_write_text(store.calibration_path(handmade, "ci", "fam/a"), store.to_json(cal))
    store.atomic_write_text(store.calibration_path(handmade, "ci", "fam/a", "flat"),
                            store.to_json({**cal, "control": "flat", "pass_rate": 0.0, "quantities": {}}))
    text = report.build(handmade).read_text(encoding="utf-8")
    assert ("| fam/a | src fam/a | slope | 2.01 [1.9, 2.1] | 2 ± 0.4 | pass | 1.5 | [figure](ci/fam/a/figure.png) | "
            "[90% of 10](ci/calibration/fam__a.json) |") in text
    assert "| fam/b | src fam/b | gap ✗ | 0.5 | ≥ 1 − 0.1 | **fail** ❌ | 1.23e4 |  |  |" in text  # none for fam/b
    assert "[0% of 10](ci/calibration/fam__a__flat.json) |" in text.split("### Negative controls")[1]
    section = text.split("### Calibration")[1]
    assert "| fam/a |  | [90% of 10](ci/calibration/fam__a.json) | slope | 2.01 ± 0.05 | 90% | 0.4 | 0.2 |  |  |" \
        in section
    assert "|  |  |  | round-off | 1.0e-13 ± 1.0e-14 | 100% | 1.0e-8 | 1.0e-8 |  |  |" in section
    assert "| fam/a | flat | [0% of 10](ci/calibration/fam__a__flat.json) | — |" in section


def test_variants_have_their_own_section_and_are_not_compared(handmade, tmp_path):
    new = _copy(handmade, tmp_path)
    _write(new, "fam/a", "fail", [_check("slope", 3.0, 2.0, 0.4)], variant="depth=3", variant_name="depth=3",
           params={"seeds": 5, "depth": [3]}, params_differ=True)
    _write(new, "fam/b", "error", [], variant="error", error=TRACEBACK)
    text = report.build(new).read_text(encoding="utf-8")
    claims_table = text.split("### Claims")[1].split("### Negative controls")[0]
    assert claims_table.count("| fam/a |") == 1 and "| fam/a | src fam/a | slope | 2.01" in claims_table
    assert "**1 pass / 0 not discriminating / 1 fail / 0 invalid / 1 error**" in text  # the baseline's counts only
    section = text.split("### Runs with overrides / errors")[1]
    assert "| `depth=3` | fam/a |  | NOT AS PREDICTED (fail) | slope 3 vs 2 ± 0.4 ✗ |" in section
    assert "[figure]" not in section and "| `error` | fam/b |  | error | — |" in section
    assert "<summary><code>fam/b {error}</code> (error): ValueError: bad thing</summary>" in text
    assert report.compare(handmade, new) == [] and report.added(handmade, new) == []
    assert [r["id"] for r in store.load_results(new, "ci", controls=False)] == ["fam/a", "fam/b", "fam/c"]


def _plan_dir(tmp_path: Path, pending: str | None) -> Path:
    folder = tmp_path / "plans"
    folder.mkdir()
    text = """document = "000"
title = "A title"
authors = "A. Author"
profile = "ci"

[[claims]]
id = "init-scale/homogeneity"
mirrors = "App. C Eq. 15"

[[claims]]
id = "init-scale/homogeneity"
mirrors = "Fig. 9 (wider)"
overrides = { width = 8 }

[[claims]]
id = "init-scale/decomposition"
mirrors = "Eq. 14"

[mitigation]
mirrors = "Sect. 3"
"""
    if pending:
        text += f'\n[[pending]]\nid = "{pending}"\nmirrors = "Fig. 2"\n'
    (folder / "000.toml").write_text(text, encoding="utf-8")
    return folder


def test_results_grouped_by_source_document(tmp_path):
    out = tmp_path / "r"
    hom = "init-scale/homogeneity"
    _write(out, hom, "pass", [_check("max-rel-dev", 1e-15, 0.0, 1e-10, mode="below")], figure="figure.png")
    _write(out, hom, "fail", [_check("max-rel-dev", 0.3, 0.0, 1e-10, mode="below")], control="tanh")
    _write(out, hom, "fail", [_check("max-rel-dev", 0.2, 0.0, 1e-10, mode="below")], variant="width=8")
    _write(out, hom, "pass", [_check("max-rel-dev", 1e-15, 0.0, 1e-10, mode="below")], profile="smoke")
    registered = {c.id for c in registry.all_claims()}
    pending = next((i for i in CATALOGUE_IDS if i not in registered), None)
    text = report.build(out, plans_dir=_plan_dir(tmp_path, pending)).read_text(encoding="utf-8")
    assert text.index("## By source document") < text.index("## Profile `smoke`") < text.index("## Profile `ci`")
    section = text.split("## By source document")[1].split("## Profile")[0]
    assert "### 000 — A title (A. Author)" in section and "| mirrors | claim | `smoke` | `ci` |" in section
    assert (f"| App. C Eq. 15 | `{hom}` | [ran, nothing asserted (smoke)](smoke/init-scale/homogeneity/result.json) "
            "| [as predicted](ci/init-scale/homogeneity/result.json); controls as predicted 1/1 · "
            "[figure](ci/init-scale/homogeneity/figure.png) |") in section
    assert (f"| Fig. 9 (wider) | `{hom}` (width=8) | — | "
            "[NOT AS PREDICTED (fail)](ci/variants/width=8/init-scale/homogeneity/result.json) |") in section
    assert "| Eq. 14 | `init-scale/decomposition` | — | — |" in section
    assert "| Sect. 3 | σ-shrinking mitigation (`ntkbench mitigate`) | — | — |" in section
    if pending:
        assert f"| Fig. 2 | `{pending}` | pending: not registered yet | pending: not registered yet |" in section
    store.atomic_write_text(out / "ci" / "mitigation" / "mitigation.json", json.dumps(MITIGATION))
    text = report.build(out, plans_dir=tmp_path / "plans").read_text(encoding="utf-8")
    row = "| Sect. 3 | σ-shrinking mitigation (`ntkbench mitigate`) | — | [ran](ci/mitigation/mitigation.json) |"
    assert row in text
    (tmp_path / "plans" / "000.toml").write_text("document = ", encoding="utf-8")
    text = report.build(out, plans_dir=tmp_path / "plans").read_text(encoding="utf-8")
    assert "The reproduction plans could not be read" in text and "not valid TOML" in text
    assert "## By source document" not in text and "### Claims" in text  # the results are still summarized


def test_the_checkouts_plans_group_real_results(smoke_out):
    text = report.build(smoke_out).read_text(encoding="utf-8")
    section = text.split("## By source document")[1].split("## Profile")[0]
    assert "### 000 — Wide neural networks are interpolating kernel methods" in section
    assert "### 001 — Which Minimizer Does My Neural Network Converge To?" in section
    assert ("| App. C Eq. 15 | `init-scale/homogeneity` | [ran, nothing asserted (smoke)]"
            "(smoke/init-scale/homogeneity/result.json); controls ran 2/2 |") in section
    assert "| Thm 4, Fig. 1 (MNIST rows) | `init-scale/sigma-2L` | — |" in section


def test_links_to_the_catalogue_never_to_shared(handmade, tmp_path, monkeypatch):
    text = report.build(handmade).read_text(encoding="utf-8")
    assert "../shared" not in text and "CLAIMS.md" not in text
    assert "`docs/claims.md` of the ntkbench repository" in text  # a results folder outside the checkout
    monkeypatch.setattr(report, "REPO", tmp_path)
    inside = tmp_path / "results"
    shutil.copytree(handmade, inside)
    text = report.build(inside).read_text(encoding="utf-8")
    assert "[docs/claims.md](../docs/claims.md)" in text and "[references](../README.md#references)" in text
    assert "../shared" not in text


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
    with pytest.raises(UsageError, match=r"no results for profile 'smoke' under .*; profiles there: ci"):
        report.compare(handmade, handmade, "smoke")
    (tmp_path / "empty").mkdir()
    regs = report.compare(handmade, tmp_path / "empty")
    assert {r.kind for r in regs} == {"missing"} and len(regs) == 5


def test_a_folder_that_does_not_exist_is_an_input_error(handmade, tmp_path):
    """Issue 39 item 10: a missing NEW folder was reported as five "missing" results."""
    with pytest.raises(UsageError, match=f"^NEW {str(tmp_path / 'nothing')!r}: no such folder$"):
        report.compare(handmade, tmp_path / "nothing")
    with pytest.raises(UsageError, match=f"^BASELINE {str(tmp_path / 'nothing')!r}: no such folder$"):
        report.compare(tmp_path / "nothing", handmade)


def _retype(path_text: str, change) -> str:
    res = json.loads(path_text)
    change(res)
    return json.dumps(res)


@pytest.mark.parametrize("side", ["baseline", "new"])
@pytest.mark.parametrize(("damage", "why"), [
    (lambda text: text[:200], "not valid JSON"),
    (lambda text: _retype(text, lambda r: r["checks"][1].update(measured="small")),
     "check 'round-off': 'measured' must be a number, got str 'small'"),
    (lambda text: _retype(text, lambda r: r.update(params="seeds=5")), "'params' must be an object, got str"),
], ids=["truncated", "measured-text", "params-text"])
def test_a_damaged_result_on_either_side_is_an_input_error(handmade, tmp_path, side, damage, why):
    """Issue 39 item 1: a baseline result.json cut to 200 bytes was left out and compare said "no regressions"."""
    new = _copy(handmade, tmp_path)
    _edit(new, "fam/a", status="fail", checks=[_check("slope", 9.0, 2.0, 0.4),  # a regression that the damage
                                               _check("round-off", 6.0e-13, 0.0, 1e-8, mode="below")])  # must not hide
    path = store.claim_dir(handmade if side == "baseline" else new, "ci", "fam/a") / "result.json"
    path.write_text(damage(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(store.DamagedResult, match=re.escape(f"{path}: damaged result file: ") + ".*" + re.escape(why)):
        report.compare(handmade, new)


def test_a_below_verdict_is_judged_from_the_value_not_the_stored_flag(handmade, tmp_path):
    """Issue 39 item 1: compare trusted the stored "passed" flag."""
    new = _copy(handmade, tmp_path)
    _edit(new, "fam/a", checks=[_check("slope", 2.01, 2.0, 0.4), _check("round-off", 1e-6, 0.0, 1e-8, "below",
                                                                         passed=True)])
    [reg] = report.compare(handmade, new)
    assert (reg.check, reg.kind) == ("round-off", "verdict")
    assert reg.detail == "passed → failed (6.0e-13 → 1.0e-6, expected ≤ 0 + 1.0e-8)"
    _edit(new, "fam/a", checks=[_check("slope", 2.01, 2.0, 0.4), _check("round-off", math.inf, 0.0, 1e-8, "below",
                                                                         passed=True)])
    assert [r.kind for r in report.compare(handmade, new)] == ["verdict"]
    assert report.verdict({"measured": None, "expected": 0.0, "tolerance": 1.0, "mode": "below"}) is False
    assert report.verdict({"measured": 0.5, "expected": 0.0, "tolerance": 1.0, "mode": "below"}) is True


def test_regression_is_frozen():
    reg = Regression("a/b", None, None, "missing", "gone")
    with pytest.raises(AttributeError):
        reg.kind = "status"  # type: ignore[misc]
    assert str(reg) == "a/b: missing: gone"


def test_the_summary_counts_weak_checks_and_lists_identities_apart(tmp_path):
    out = tmp_path / "power"
    weak = {**_check("slope", -0.5, -0.5, 0.2), "role": "science", "discriminating": False, "power": 0.55,
            "alternatives": [{"value": -0.25, "why": "first order", "power": 0.55, "cost_factor": 2.6}]}
    strong = {**_check("slope", -0.5, -0.5, 0.2), "role": "science", "discriminating": True, "power": 1.0,
              "biased": True, "bias_se": 4.2, "alternatives": [{"value": 0.0, "why": "none", "power": 1.0}]}
    identity = {**_check("zero", 0.0, 0.0, 1e-12, mode="below"), "role": "identity"}
    _write(out, "fam/weak", "pass", [weak])
    _write(out, "fam/strong", "pass", [strong, identity])
    text = report.build(out).read_text(encoding="utf-8")
    assert "**1 pass / 1 not discriminating / 0 fail / 0 invalid / 0 error**" in text
    assert "science checks 2/2 passed, 1 not discriminating, 1 biased; identities 1/1 held" in text
    assert "### Identities" in text and "| fam/strong | zero |" in text
    assert "rules out -0.25 (power 55.0 %, not discriminating: ×2.6 the data)" in text
    assert "**biased** (4.2 SE)" in text
    assert report.outcome_text(json.loads((store.claim_dir(out, "ci", "fam/weak") / "result.json").read_text())) \
        == "NOT DISCRIMINATING (slope)"


def test_a_claim_that_failed_only_an_insensitive_significance_test_counts_as_not_discriminating(tmp_path):
    out = tmp_path / "undecided"
    z = {**_check("rise", 0.2, 3.0, 0.0, mode="above"), "role": "science", "spread": "standardized",
         "passed": False, "discriminating": False, "power": 0.9987, "sensitivity": 0.09, "sensitivity_cost": math.inf,
         "alternatives": [{"value": 0.0, "why": "monotone", "power": 0.9987, "cost_factor": 1.0}]}
    _write(out, "fam/cusp", "fail", [z])
    text = report.build(out).read_text(encoding="utf-8")
    assert "**0 pass / 1 not discriminating / 0 fail / 0 invalid / 0 error**" in text
    assert "detects the theory's effect with probability 9.0 %, not discriminating: no effect in the calibration's " \
           "mean, no cost estimate" in text


def test_a_result_run_before_its_parameters_changed_is_marked_stale(tmp_path):
    """A saved result whose parameters differ from what the registry resolves now (here: a width sweep that has
    changed) is marked stale in its status and in the by-document table; a current one is not."""
    out = tmp_path / "r"
    hom = "init-scale/homogeneity"
    current = _write(out, hom, "pass", [_check("max-rel-dev", 1e-15, 0.0, 1e-10, mode="below")])
    assert report.stale_params(current) == []
    old = _write(out, hom, "pass", [_check("max-rel-dev", 1e-15, 0.0, 1e-10, mode="below")], profile="paper",
                 params={**_params(hom, "paper", None), "seeds": 2, "retired": 1})
    assert report.stale_params(old) == ["retired", "seeds"]
    assert report.stale_params({**old, "id": "fam/unknown"}) == []  # not in the registry: nothing to compare with
    text = report.build(out, plans_dir=_plan_dir(tmp_path, None)).read_text(encoding="utf-8")
    section = text.split("## By source document")[1].split("## Profile")[0]
    assert ("[as predicted](paper/init-scale/homogeneity/result.json) · **stale**: run before retired, seeds "
            "changed") in section
    assert "[as predicted](ci/init-scale/homogeneity/result.json) |" in section
    paper = text.split("## Profile `paper`")[1]
    assert "pass · **stale**: run before retired, seeds changed" in paper
