"""Running claims: cached and resumable sweep points, errors recorded, files written, ok semantics, workers."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from ntkbench.harness import lifecycle, registry, runner, store
from ntkbench.harness.registry import Alternative, Check, Claim, Control, Expect, Measurement, Param, UsageError

CALLS: list[int] = []
EXPLODE: dict[int, BaseException] = {}


def toy_measure(point, ctx):
    CALLS.append(point["i"] + 1000 * point["seed_offset"])
    if point["i"] in EXPLODE:
        raise EXPLODE[point["i"]]
    return pd.DataFrame([{"i": point["i"], "y": point["value"] + 1e-3 * point["i"], "device": str(ctx.device),
                          "converged": point["value"] != 7.0}])


def toy_fit(data, params):
    y = data["y"]
    return {"mean": Measurement(float(y.mean()), (float(y.min()), float(y.max())), "mean over points"),
            "spread": Measurement(float(y.max() - y.min()), method="max − min")}


def toy_figure(data, meas, params, expects):
    from ntkbench.harness.figures import subplots

    fig, (ax,) = subplots(1)
    ax.plot(data["i"], data["y"], "o")
    return fig


def broken_figure(data, meas, params, expects):
    raise RuntimeError("cannot draw")


def always_fails(point, ctx):
    raise RuntimeError(f"boom at point {point['i']}")


TOY_CHECKS = (
    Check(toy_fit, lambda p: (Expect("mean", 1.0, 0.1, "toy noise", alternatives=(Alternative(0.0, "no effect"),)),
                              Expect("spread", 0.0, 0.01, "toy", mode="below",
                                     alternatives=(Alternative(1.0, "spread"),)))),
    Check(lambda data, p: {"converged": Measurement(float(data["converged"].all()))},
          lambda p: (Expect("converged", 1.0, 0.0, "toy precondition", mode="above", role="precondition"),)),
)


def _claim(claim_id: str = "toy/counter", **kw) -> Claim:
    spec = dict(
        id=claim_id, source="test", statement="a toy claim that counts its measurements", measured="mean of y",
        params=(Param("n", 3, 5, 5, "sweep points", axis="i"),
                Param("value", 1.0, 1.0, 1.0, "the measured level", kind="float")),
        measure=toy_measure, checks=TOY_CHECKS,
        controls=(Control("shifted", {"value": 5.0}, "5 is far from 1: the check must fail", fails=("mean",)),
                  Control("harmless", {"value": 1.0005}, "within the tolerance: the check passes (a bad control)",
                          fails=("mean",)),
                  Control("spread-only", {"value": 1.0}, "names mean, but only spread can fail", fails=("mean",)),
                  Control("broken", {"value": 7.0}, "the precondition fails: invalid", fails=("mean",))),
    )
    return Claim(**{**spec, **kw})


@pytest.fixture
def toy(monkeypatch):
    """The toy claim, registered for this test only (real claims stay; the registry is restored afterwards)."""
    registry.all_claims()  # load the real claims first so that the teardown only removes the toy ones
    CALLS.clear()
    EXPLODE.clear()
    claim = _claim()
    monkeypatch.setitem(registry._REGISTRY, claim.id, claim)
    yield claim
    CALLS.clear()
    EXPLODE.clear()


def _cached(out) -> int:
    folder = out / store.CACHE
    return len(list(folder.glob("*.csv"))) if folder.is_dir() else 0


# ----- resuming ------------------------------------------------------------------------------------------------------
def test_resume_after_keyboard_interrupt(toy, tmp_path):
    EXPLODE[2] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        runner.run_claim("toy/counter", "ci", out=tmp_path)
    assert CALLS == [0, 1, 2] and _cached(tmp_path) == 2
    assert not (store.claim_dir(tmp_path, "ci", "toy/counter") / "result.json").exists()

    EXPLODE.clear()
    CALLS.clear()
    res = runner.run_claim("toy/counter", "ci", out=tmp_path)
    assert CALLS == [2, 3, 4]  # points 0 and 1 come from the cache
    assert (res.status, res.points, res.points_cached) == ("pass", 5, 2)
    assert res.data["i"].tolist() == [0, 1, 2, 3, 4]

    CALLS.clear()
    again = runner.run_claim("toy/counter", "ci", out=tmp_path)
    assert CALLS == [] and again.points_cached == 5
    assert again.checks == res.checks  # the cached rows give the same measurement to the last bit

    fresh = runner.run_claim("toy/counter", "ci", out=tmp_path, fresh=True)
    assert CALLS == [0, 1, 2, 3, 4] and fresh.points_cached == 0 and fresh.status == "pass"


def test_error_at_third_point_is_recorded_and_resumed(toy, tmp_path):
    EXPLODE[2] = RuntimeError("boom at 2")
    res = runner.run_claim("toy/counter", "ci", out=tmp_path)
    assert res.status == "error" and not res.ok and res.checks == []
    assert "Traceback" in res.error and "RuntimeError: boom at 2" in res.error
    assert math.isnan(res.measured) and res.figure == ""
    saved = json.loads((store.claim_dir(tmp_path, "ci", "toy/counter", variant="error") / "result.json").read_text())
    assert saved["status"] == "error" and "boom at 2" in saved["error"] and saved["ok"] is False
    assert saved["variant"] == "error" and not (store.claim_dir(tmp_path, "ci", "toy/counter") / "result.json").exists()

    EXPLODE.clear()
    CALLS.clear()
    res = runner.run_claim("toy/counter", "ci", out=tmp_path)
    assert CALLS == [2, 3, 4] and res.status == "pass" and res.points_cached == 2


def test_no_out_means_no_files_and_no_cache(toy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner.run_claim("toy/counter", "ci")
    runner.run_claim("toy/counter", "ci")
    assert CALLS == [0, 1, 2, 3, 4] * 2
    assert list(tmp_path.iterdir()) == []


# ----- errors and run_many -------------------------------------------------------------------------------------------
def test_run_many_goes_on_after_an_error(toy, tmp_path, monkeypatch):
    bad = _claim("toy/broken", measure=always_fails, controls=())
    monkeypatch.setitem(registry._REGISTRY, bad.id, bad)
    results = runner.run_many(registry.select(["toy/broken", "toy/counter"]), "ci", out=tmp_path)
    assert [(r.id, r.status) for r in results] == [("toy/broken", "error"), ("toy/counter", "pass")]
    assert "boom at point 0" in results[0].error
    assert sorted(r["id"] for r in store.load_results(tmp_path, variants=True)) == ["toy/broken", "toy/counter"]
    assert [r["id"] for r in store.load_results(tmp_path)] == ["toy/counter"]  # an error never replaces a baseline


def test_fit_without_an_expected_measurement_is_an_error(toy):
    claim = _claim(checks=(Check(lambda data, p: {"mean": Measurement(1.0)}, TOY_CHECKS[0].expect),))
    res = runner.run_claim(claim, "ci")
    assert res.status == "error" and "returned no measurement 'spread'" in res.error


def test_usage_errors_raise_before_measuring(toy, tmp_path):
    with pytest.raises(UsageError, match=r"no negative control 'nope'; its controls: \['shifted', 'harmless'"):
        runner.run_claim("toy/counter", "ci", control="nope")
    with pytest.raises(UsageError, match="choose from"):
        runner.run_claim("toy/counter", "fast")
    with pytest.raises(UsageError, match="no parameter 'width'"):
        runner.run_claim("toy/counter", "ci", {"width": 3})
    with pytest.raises(UsageError,
                       match="--set width: no selected claim has this parameter; allowed keys: n, seed_offset, value"):
        runner.run_many([toy], "ci", {"width": "3"}, out=tmp_path)
    with pytest.raises(UsageError, match="'n' expects int"):
        runner.run_many([toy], "ci", {"n": "three"}, out=tmp_path)
    assert CALLS == [] and not tmp_path.joinpath("ci").exists()


# ----- files ---------------------------------------------------------------------------------------------------------
def test_files_written(toy, tmp_path, monkeypatch):
    claim = _claim(figure=toy_figure)
    monkeypatch.setitem(registry._REGISTRY, claim.id, claim)
    res = runner.run_claim(claim.id, "ci", {"n": "4"}, out=tmp_path)
    folder = store.claim_dir(tmp_path, "ci", claim.id, variant="n=4")
    assert res.variant == "n=4" and not store.claim_dir(tmp_path, "ci", claim.id).exists()  # the baseline is untouched
    assert sorted(p.name for p in folder.iterdir()) == ["data.csv", "figure.png", "result.json"]
    assert (folder / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and res.figure == "figure.png"
    pd.testing.assert_frame_equal(store.read_csv(folder / "data.csv"), res.data)
    saved = json.loads((folder / "result.json").read_text())
    assert saved == json.loads(store.to_json(res.to_dict()))
    assert saved["params"] == {"n": 4, "value": 1.0, "seed_offset": 0} and saved["points"] == 4
    assert saved["overrides"] == {"n": "4"} and saved["params_differ"] is True
    assert saved["measured"] == saved["checks"][0]["measured"] and saved["checks"][1]["name"] == "spread"
    assert set(saved["versions"]) >= {"python", "torch", "ntkbench", "git"}


def test_broken_figure_is_reported_but_the_result_stands(toy, tmp_path):
    res = runner.run_claim(_claim(figure=broken_figure), "ci", out=tmp_path)
    assert res.status == "pass" and res.figure == "" and res.error.startswith("figure failed:")
    assert "cannot draw" in res.error


def test_controls_are_written_under_controls(toy, tmp_path):
    results = runner.run_many([toy], "ci", controls=True, out=tmp_path)
    assert [(r.control, r.status) for r in results] == [(None, "pass"), ("shifted", "fail"), ("harmless", "pass"),
                                                        ("spread-only", "pass"), ("broken", "invalid")]
    assert all(r.variant == "" for r in results)  # a control is part of the spec, not an override
    assert (store.claim_dir(tmp_path, "ci", "toy/counter", "shifted") / "result.json").is_file()
    assert results[1].params["value"] == 5.0 and results[1].control_why.startswith("5 is far")


# ----- ok semantics --------------------------------------------------------------------------------------------------
def test_ok_claims_pass_and_controls_fail_on_their_named_checks(toy):
    claim = runner.run_claim("toy/counter", "ci")
    shifted = runner.run_claim("toy/counter", "ci", control="shifted")
    harmless = runner.run_claim("toy/counter", "ci", control="harmless")
    failing = runner.run_claim("toy/counter", "ci", {"value": "3"})
    assert (claim.status, claim.outcome, claim.ok) == ("pass", "as predicted", True)
    assert (shifted.status, shifted.outcome, shifted.ok) == ("fail", "as predicted", True)
    assert (harmless.status, harmless.outcome, harmless.ok) == ("pass", "not as predicted", False)
    assert (failing.status, failing.outcome, failing.ok) == ("fail", "not as predicted", False)
    assert [(c["name"], c["passed"], c["must_fail"]) for c in shifted.checks] == [
        ("mean", False, True), ("spread", True, False), ("converged", True, False)]
    for r in (claim, shifted, harmless, failing):
        assert r.to_dict()["ok"] == r.ok == runner.result_ok(json.loads(store.to_json(r.to_dict())))


def test_a_control_failing_on_another_check_is_not_as_predicted(toy, monkeypatch):
    claim = _claim(checks=(TOY_CHECKS[0], Check(lambda d, p: {"extra": Measurement(1.0)},
                                                lambda p: (Expect("extra", 0.0, 0.1, "always fails",
                                                                  alternatives=(Alternative(1.0, "x"),)),)),
                           TOY_CHECKS[1]))
    res = runner.run_claim(claim, "ci", control="spread-only")
    assert res.status == "fail" and res.outcome == "not as predicted"  # it failed, but not on 'mean'


def test_a_failed_precondition_makes_claims_and_controls_invalid(toy):
    for res in (runner.run_claim("toy/counter", "ci", {"value": "7"}), runner.run_claim("toy/counter", "ci",
                                                                                          control="broken")):
        assert (res.status, res.outcome, res.ok) == ("invalid", "invalid", False)
        assert [c["role"] for c in res.checks] == ["science", "science", "precondition"]
    smoke = runner.run_claim("toy/counter", "smoke", {"value": "7"})
    assert smoke.status == "invalid" and smoke.outcome == "not asserted" and smoke.ok


def test_a_check_that_cannot_be_fitted_is_invalid_when_a_precondition_failed(toy, monkeypatch):
    def unfittable(data, params):
        raise ValueError("y contains NaN")  # what diverged members leave behind

    claim = replace(toy, checks=(Check(unfittable, TOY_CHECKS[0].expect), TOY_CHECKS[1]))
    monkeypatch.setitem(registry._REGISTRY, claim.id, claim)
    res = runner.run_claim(claim.id, "ci", {"value": "7"})  # the precondition fails: invalid, with the reason
    assert res.status == "invalid" and math.isnan(res.checks[0]["measured"])
    assert "not measured: y contains NaN" in res.checks[0]["method"]
    ok = runner.run_claim(claim.id, "ci")  # the experiment ran as designed: a broken fit is an error
    assert ok.status == "error" and "y contains NaN" in ok.error


def test_result_ok_on_saved_dicts():
    assert runner.result_ok({"status": "pass"}) and not runner.result_ok({"status": "fail"})
    assert runner.result_ok({"status": "fail", "control": "c"})
    assert not runner.result_ok({"status": "pass", "control": "c"})
    assert not runner.result_ok({"status": "error", "asserted": False})
    assert not runner.result_ok({"status": "error", "control": "c"})
    assert not runner.result_ok({"status": "invalid"}) and not runner.result_ok({"status": "invalid", "control": "c"})
    assert runner.result_ok({"status": "pass", "control": "c", "asserted": False})
    named = [{"passed": False, "must_fail": True}, {"passed": True, "must_fail": False}]
    assert runner.result_ok({"status": "fail", "control": "c", "checks": named})
    assert not runner.result_ok({"status": "fail", "control": "c", "checks": named[::-1] and [
        {"passed": True, "must_fail": True}, {"passed": False, "must_fail": False}]})


def test_smoke_never_asserts(toy):
    res = runner.run_claim("toy/counter", "smoke", {"value": "5"})
    assert res.status == "fail" and res.outcome == "not asserted" and res.asserted is False and res.ok
    assert res.checks[0]["passed"] is False  # the check itself is still computed and recorded
    ctrl = runner.run_claim("toy/counter", "smoke", control="harmless")
    assert ctrl.outcome == "not asserted" and ctrl.ok and len(CALLS) == 6  # n = 3 at smoke
    EXPLODE[0] = RuntimeError("boom")
    assert not runner.run_claim("toy/counter", "smoke").ok  # an error is never ok


# ----- parameters reach the experiment -------------------------------------------------------------------------------
def test_a_declared_parameter_the_measurement_never_reads_is_an_error(toy):
    claim = _claim(params=(*_claim().params[:2], Param("ignored", 1, 1, 1, "never read")))
    res = runner.run_claim(claim, "ci")
    assert res.status == "error" and "never read the declared parameter(s) ['ignored']" in res.error


def test_seed_offset_reaches_the_experiment(toy):
    res = runner.run_claim("toy/counter", "ci", {"seed_offset": "2"})
    assert CALLS == [2000, 2001, 2002, 2003, 2004] and res.variant == "seed_offset=2"
    real = runner.run_claim("init-scale/homogeneity", "smoke", {"seed_offset": "1"})
    assert sorted(set(real.data["seed"])) == [1000, 1001] == real.seeds


def test_a_trained_claim_runs_on_another_embedded_data_set():
    # 2-D inputs need more than smoke's m = 64 zero-bias ReLU features: at m = 64 the 12 × 12 Gram of the bump's
    # training points is singular (rank 11), at m = 400 it is not
    res = runner.run_claim("init-scale/last-layer-exact", "smoke", {"dataset": "bump2d", "width": "400"})
    assert res.status != "error", res.error
    assert res.params["dataset"] == "bump2d" and res.variant == "dataset=bump2d,width=400"


def test_an_override_equal_to_the_profile_is_no_variant(toy, tmp_path):
    res = runner.run_claim("toy/counter", "ci", {"value": "1.0", "n": "5"}, out=tmp_path)
    assert res.variant == "" and res.overrides == {}
    assert (store.claim_dir(tmp_path, "ci", "toy/counter") / "result.json").is_file()


# ----- the cache key and threads -------------------------------------------------------------------------------------
def test_the_cache_key_hashes_the_engine_and_experiments_not_the_claims_or_harness(tmp_path):
    import shutil
    from pathlib import Path

    import ntkbench

    root = tmp_path / "pkg"
    shutil.copytree(Path(ntkbench.__file__).parent, root, ignore=shutil.ignore_patterns("__pycache__"))
    before = runner.hash_sources(root)
    for name in ("harness/report.py", "harness/cli.py", "harness/figures.py", "harness/store.py",
                 "harness/registry.py", "claims/init_scale.py", "claims/checks.py", "__main__.py"):
        (root / name).write_text((root / name).read_text() + "\n# edited\n")
    assert runner.hash_sources(root) == before
    for name in ("train.py", "experiments/init_scale.py", "experiments/trained.py", "experiments/__init__.py",
                 "__init__.py"):
        (root / name).write_text((root / name).read_text() + "\n# edited\n")
        assert runner.hash_sources(root) != before
        before = runner.hash_sources(root)


def test_threads_per_worker_divides_the_free_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(runner.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert runner.threads_per_worker(1) == (4, "") and runner.threads_per_worker(2)[0] == 2
    assert runner.threads_per_worker(8)[0] == 1
    monkeypatch.setattr(runner.os, "getloadavg", lambda: (3.9, 0.0, 0.0))
    threads, note = runner.threads_per_worker(1)
    assert threads == 1 and "busy" in note


def test_threads_per_worker_keeps_to_omp_num_threads(monkeypatch):
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(runner.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert runner.threads_per_worker(1)[0] == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "8")  # a cap, never more than the free cores
    assert runner.threads_per_worker(1)[0] == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "auto")  # not a count: ignored
    assert runner.threads_per_worker(2)[0] == 2


# ----- worker processes (spawned workers re-import the registry: real, cheap claims only) ----------------------------
def test_run_many_with_two_workers(tmp_path):
    claims = registry.select(["init-scale/homogeneity", "init-scale/decomposition"])
    results = runner.run_many(claims, "smoke", out=tmp_path, jobs=2)
    assert [(r.id, r.outcome, r.ok) for r in results] == [
        ("init-scale/homogeneity", "not asserted", True), ("init-scale/decomposition", "not asserted", True)]
    assert all(r.checks and r.checks[0]["measured"] < 1e-10 for r in results)
    saved = store.load_results(tmp_path, "smoke")
    assert sorted(r["id"] for r in saved) == ["init-scale/decomposition", "init-scale/homogeneity"]
    assert all((tmp_path / "smoke" / "init-scale" / n / "data.csv").is_file() for n in ("homogeneity", "decomposition"))


# ----- reanalysis: the saved data fitted again ---------------------------------------------------------------------
def test_reanalyse_fits_the_saved_data_again_and_keeps_the_runs_provenance(tmp_path, monkeypatch):
    runner.run_claim("init-scale/homogeneity", "smoke", out=tmp_path)
    [saved] = store.load_results(tmp_path, "smoke")
    saved["versions"] = {**saved["versions"], "git": "abc1234"}  # measured by a clean commit ...
    monkeypatch.setattr(runner, "measuring_code_at", lambda commit: runner.code_hash())  # ... with this engine
    assert runner.reanalysable(saved) == ""
    folder = Path(saved["_path"])
    data = store.read_csv(folder / "data.csv")
    store.write_csv(folder / "data.csv", data.assign(rel_dev=data["rel_dev"] + 0.25))  # the data are what is read
    new = runner.reanalyse(saved, tmp_path)
    assert new["checks"][0]["measured"] == pytest.approx(float(data["rel_dev"].max()) + 0.25)
    assert (new["versions"], new["seconds"]) == (saved["versions"], saved["seconds"])  # what measured it, its cost
    assert new["reanalysed"]["by"] and "nothing was measured again" in new["reanalysed"]["note"]
    on_disk = json.loads((folder / "result.json").read_text())
    assert on_disk["reanalysed"] == new["reanalysed"] and on_disk["versions"]["git"] == "abc1234"


def test_reanalyse_refuses_data_that_other_code_measured(tmp_path, monkeypatch):
    runner.run_claim("init-scale/homogeneity", "smoke", out=tmp_path)
    [saved] = store.load_results(tmp_path, "smoke")
    dirty = {**saved, "versions": {**saved["versions"], "git": "abc1234+dirty"}}
    assert "uncommitted code" in runner.reanalysable(dirty)
    clean = {**saved, "versions": {**saved["versions"], "git": "abc1234 (judged at def5678)"}}
    monkeypatch.setattr(runner, "measuring_code_at", lambda commit: "" if commit != "abc1234" else "other")
    assert "changed since abc1234" in runner.reanalysable(clean)  # the measuring commit is the first word
    assert "cannot be read" in runner.reanalysable({**clean, "versions": {"git": "0000000"}})
    with pytest.raises(ValueError, match="changed since abc1234"):
        runner.reanalyse(clean, tmp_path)
    (Path(saved["_path"]) / "data.csv").unlink()
    assert "no data.csv" in runner.reanalysable(clean)
    left = runner.reanalyse_folder(tmp_path, "smoke")
    assert [why for _, why in left] == ["no data.csv saved: rerun it"]


def test_the_measuring_code_of_a_commit_is_read_from_git():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(runner.__file__).parent, capture_output=True,
                          text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "ntkbench"],
                             cwd=Path(runner.__file__).parent, capture_output=True, text=True).stdout
    engine_changed = [line for line in changed.splitlines()
                      if lifecycle.hashed(Path(line[3:]).relative_to("ntkbench"))]
    at_head = runner.measuring_code_at(head.stdout.strip())
    assert at_head == runner.code_hash() or engine_changed  # the checkout's engine is HEAD's unless edited
    assert runner.measuring_code_at("0" * 40) == ""


def test_a_folder_is_stamped_with_the_commit_before_its_first_rewrite(tmp_path, monkeypatch):
    # rewriting a committed baseline makes the checkout dirty after the first result: every result of the folder
    # names the commit read before any was written
    runner.run_claim("init-scale/homogeneity", "smoke", out=tmp_path)
    runner.run_claim("init-scale/homogeneity", "smoke", out=tmp_path, control="tanh")
    calls = iter(range(100))
    monkeypatch.setattr(runner, "versions", lambda *a, **k: {"git": f"c{next(calls)}"})
    monkeypatch.setattr(runner, "reanalysable", lambda r: "")
    assert {new["reanalysed"]["by"] for new, _ in runner.reanalyse_folder(tmp_path, "smoke")} == {"c0"}
    assert {new["rejudged"]["by"] for new in runner.rejudge_folder(tmp_path, "smoke")} == {"c1"}
