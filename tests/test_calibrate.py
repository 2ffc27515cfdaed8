"""Calibration: reseeded runs of a claim, per-quantity spread, pass rate and the suggested tolerance."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ntkbench.harness import calibrate, registry, store
from ntkbench.harness.registry import Alternative, Check, Claim, Control, Expect, Measurement, Param, UsageError

RAN: list[float] = []  # the level of every measured point (the serial calibration runs in this process)
STOP_AT: set[int] = set()  # seed offsets at which the measurement is interrupted (Ctrl-C)


def noisy_measure(point, ctx):
    if point["seed_offset"] in STOP_AT:
        raise KeyboardInterrupt
    RAN.append(point["level"])
    rng = np.random.default_rng(point["seed_offset"])  # the reseed changes the noise, as it changes real seeds
    return pd.DataFrame([{"y": point["level"] + 0.01 * rng.standard_normal(), "converged": point["level"] < 9}])


def _claim() -> Claim:
    return Claim(
        id="toycal/level", source="test", statement="a noisy level", measured="y",
        params=(Param("level", 1.0, 1.0, 1.0, "the level", kind="float"),),
        measure=noisy_measure,
        checks=(Check(lambda d, p: {"y": Measurement(float(d["y"].mean()))},
                      lambda p: (Expect("y", 1.0, 0.05, "toy", alternatives=(Alternative(0.0, "no effect"),)),)),
                Check(lambda d, p: {"ok": Measurement(float(d["converged"].all()))},
                      lambda p: (Expect("ok", 1.0, 0.0, "toy", mode="above", role="precondition"),))),
        controls=(Control("far", {"level": 2.0}, "2 is not 1", fails=("y",)),
                  Control("broken", {"level": 9.0}, "precondition fails", fails=("y",))),
    )


@pytest.fixture
def toy(monkeypatch):
    registry.all_claims()
    claim = _claim()
    monkeypatch.setitem(registry._REGISTRY, claim.id, claim)
    RAN.clear()
    STOP_AT.clear()
    yield claim
    STOP_AT.clear()


def test_suggested_tolerance_is_the_noise_band_of_a_99_percent_prediction_interval():
    """Noise only: the offset of the mean from the expected value (the bias) is never part of it."""
    v = [1.0, 1.1, 0.9, 1.05, 0.95]
    k, sd = len(v), float(np.std(v, ddof=1))
    widen = math.sqrt(1 + 1 / k)
    for expected in (1.2, 1.0, -3.0):
        assert calibrate.suggested_tolerance(v, expected, "within") == pytest.approx(
            stats.t.ppf(0.995, k - 1) * sd * widen)
    for mode in ("below", "above"):
        assert calibrate.suggested_tolerance(v, 0.0, mode) == pytest.approx(stats.t.ppf(0.99, k - 1) * sd * widen)
    assert math.isnan(calibrate.suggested_tolerance([1.0], 1.0, "within"))


def test_a_normal_quantity_misses_the_suggested_tolerance_about_one_percent_of_the_time():
    rng = np.random.default_rng(0)
    misses = 0
    trials = 4000
    for _ in range(trials):
        sample = rng.normal(0.3, 1.0, size=11)
        tol = calibrate.suggested_tolerance(sample[:10], 0.0, "within")
        misses += abs(sample[10]) > tol
    assert 0.003 < misses / trials < 0.02  # ≤ 1 % two-sided by construction (plus Monte-Carlo noise)


def test_calibrate_writes_one_record_per_claim_and_control(toy, tmp_path):
    records = calibrate.calibrate(["toycal/level"], reseeds=4, profile="ci", out=tmp_path, controls=True)
    by = {r["control"]: r for r in records}
    assert set(by) == {None, "far", "broken"}
    claim = by[None]
    assert claim["reseeds"] == 4 and claim["seed_offsets"] == [1, 2, 3, 4] and claim["pass_rate"] == 1.0
    y = claim["quantities"]["y"]
    assert len(y["values"]) == 4 and len(set(y["values"])) == 4  # the reseeds changed the noise
    assert y["mean"] == pytest.approx(np.mean(y["values"])) and y["pass_rate"] == 1.0
    assert 0 < y["suggested_tolerance"] < 0.15 and "prediction interval" in y["rule"]  # t(0.995, 3) ≈ 5.8 SDs
    assert by["far"]["pass_rate"] == 1.0 and by["far"]["quantities"]["y"]["must_fail"]  # fails as predicted
    assert by["broken"]["invalid"] == 4 and by["broken"]["pass_rate"] == 0.0 and by["broken"]["quantities"] == {}
    for r in records:
        path = store.calibration_path(tmp_path, "ci", r["id"], r["control"])
        assert json.loads(path.read_text())["pass_rate"] == r["pass_rate"]
        assert path.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "ci" / "toycal").exists()  # reseeded runs write no result over the baseline
    assert all(r["complete"] for r in records)


def test_an_interrupted_calibration_keeps_what_it_measured(toy, tmp_path, monkeypatch):
    STOP_AT.add(3)
    with pytest.raises(KeyboardInterrupt):
        calibrate.calibrate(["toycal/level"], reseeds=4, profile="ci", out=tmp_path)
    saved = json.loads(store.calibration_path(tmp_path, "ci", "toycal/level").read_text())
    assert saved["reseeds"] == 2 and saved["complete"] is False and len(saved["quantities"]["y"]["values"]) == 2


def test_calibrate_rejects_bad_arguments(toy, tmp_path):
    with pytest.raises(UsageError, match="reseeds must be an integer >= 2"):
        calibrate.calibrate(["toycal/level"], reseeds=1, out=tmp_path)
    with pytest.raises(UsageError, match="neither a claim id nor a family"):
        calibrate.calibrate(["nope"], reseeds=2, out=tmp_path)
    with pytest.raises(UsageError, match=r"controls: near is not a negative control .*\(allowed: broken, far\)"):
        calibrate.calibrate(["toycal/level"], reseeds=2, out=tmp_path, controls=["near"])


def test_calibrate_from_a_later_first_seed_runs_unseen_reseeds(toy, tmp_path):
    records = calibrate.calibrate(["toycal/level"], reseeds=3, profile="ci", out=tmp_path, first_seed=11)
    assert records[0]["seed_offsets"] == [11, 12, 13] and records[0]["complete"]
    for bad in (0, -1, True, 1.5):
        with pytest.raises(UsageError, match="first_seed"):
            calibrate.calibrate(["toycal/level"], reseeds=2, out=tmp_path, first_seed=bad)


def test_calibrate_can_take_one_named_control(toy, tmp_path):
    records = calibrate.calibrate(["toycal/level"], reseeds=2, profile="ci", out=tmp_path, controls=["far"])
    assert [r["control"] for r in records] == [None, "far"]


def test_a_control_alone_leaves_the_claims_record_as_it_is(toy, tmp_path, monkeypatch):
    calibrate.calibrate(["toycal/level"], reseeds=2, profile="ci", out=tmp_path)
    claim_path = store.calibration_path(tmp_path, "ci", "toycal/level")
    before = claim_path.read_bytes()
    RAN.clear()
    records = calibrate.calibrate(["toycal/level"], reseeds=3, profile="ci", out=tmp_path, controls=["far"],
                                  claims_too=False)
    assert [r["control"] for r in records] == ["far"] and records[0]["reseeds"] == 3 and records[0]["complete"]
    assert RAN == [2.0] * 3 and claim_path.read_bytes() == before  # the claim was not rerun nor rewritten
    with pytest.raises(UsageError, match="controls only: name the controls to calibrate"):
        calibrate.calibrate(["toycal/level"], reseeds=2, out=tmp_path, claims_too=False)
