"""The check builders of ntkbench.claims.checks on hand-made rows (exact where the arithmetic is exact)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ntkbench.claims import checks


def _rows(exponent=-0.5, seeds=5, noise=0.0):
    rng = np.random.default_rng(0)
    xs = [100, 200, 400, 800]
    return pd.DataFrame([{"seed": s, "width": x, "depth": d,
                          "dist": 3.0 * x**exponent * (1 + noise * rng.standard_normal()),
                          "converged": True, "train_loss": 1e-5}
                         for d in (2, 3) for s in range(seeds) for x in xs])


def test_power_law_slope_recovers_an_exact_power_law_with_its_line():
    c = checks.power_law_slope("slope", "dist", x="width", per="depth", expected=lambda L: -0.5, tolerance=0.1,
                               reason="r")
    meas = c.fit(_rows(), {"depth": (2, 3)})
    assert set(meas) == {"slope[L=2]", "slope[L=3]"}
    m = meas["slope[L=2]"]
    assert m.value == pytest.approx(-0.5, abs=1e-12) and m.line.amplitude == pytest.approx(3.0)
    assert (m.line.x_lo, m.line.x_hi) == (100, 800) and "local slopes" in m.method
    assert checks.fitted_values(m.line, [400]) == pytest.approx([3.0 * 400**-0.5])
    exp = c.expect({"depth": (2, 3)})
    assert [(e.name, e.expected, e.role) for e in exp] == [("slope[L=2]", -0.5, "science"),
                                                          ("slope[L=3]", -0.5, "science")]


def test_at_restricts_a_per_check_to_the_values_it_names_in_its_fits_and_its_expectations():
    deep = lambda L, params: L >= params["from"]  # noqa: E731
    params = {"depth": (2, 3), "from": 3}
    c = checks.power_law_slope("slope", "dist", x="width", per="depth", at=deep, expected=-0.5, tolerance=0.1,
                               reason="r")
    s = checks.statistic("n", lambda d, p: checks.Measurement(float(len(d))), per="depth", at=deep, expected=0,
                         tolerance=1, reason="r")
    for check, name in ((c, "slope[L=3]"), (s, "n[L=3]")):
        assert list(check.fit(_rows(), params)) == [name]
        assert [e.name for e in check.expect(params)] == [name]
        assert check.fit(_rows(), {**params, "from": 4}) == {} and check.expect({**params, "from": 4}) == ()
    with pytest.raises(ValueError, match="at needs per"):
        checks.statistic("n", lambda d, p: checks.Measurement(0.0), at=deep, expected=0, tolerance=1, reason="r")


def test_power_law_slope_fit_range_and_a_wrong_exponent():
    c = checks.power_law_slope("slope", "dist", x="width", expected=-0.5, tolerance=0.1, reason="r",
                               fit_min="fit_min")
    m = c.fit(_rows(exponent=-1.0), {"fit_min": 200})["slope"]
    assert m.value == pytest.approx(-1.0) and m.line.x_lo == 200
    assert not c.expect({"fit_min": 200})[0].passes(m.value)


def test_bound_ratio_statistic_and_converged():
    rows = _rows()
    b = checks.bound("dev", "dist", tolerance=1.0, reason="r", reduce="max")
    assert b.fit(rows, {})["dev"].value == rows["dist"].max()
    with pytest.raises(ValueError, match="reduce='sum'"):
        checks.bound("dev", "dist", tolerance=1.0, reason="r", reduce="sum")
    r = checks.ratio("r", "dist", "train_loss", expected=0, tolerance=1, reason="r")
    assert r.fit(rows, {})["r"].value == pytest.approx(rows["dist"].mean() / 1e-5)
    s = checks.statistic("n", lambda d, p: checks.Measurement(float(len(d))), per="depth", expected=0, tolerance=1,
                         reason="r")
    assert {k: m.value for k, m in s.fit(rows, {"depth": (2, 3)}).items()} == {"n[L=2]": 20.0, "n[L=3]": 20.0}
    conv = checks.converged()
    assert conv.fit(rows, {"threshold": 1e-4})["not-converged"].value == 0
    rows.loc[3, ["converged", "train_loss"]] = (False, 7e-4)
    m = conv.fit(rows, {"threshold": 1e-4})["not-converged"]
    assert m.value == 1 and "39/40 trained members" in m.method and "7" in m.method
    (e,) = conv.expect({})
    assert e.role == "precondition" and not e.passes(m.value)


def test_power_law_slope_on_selected_rows_reports_the_curvature():
    rows = _rows(exponent=-1.0)
    rows.loc[rows["width"] == 800, "dist"] *= 4  # a kink the selector leaves out
    c = checks.power_law_slope("slope", "dist", x="width", expected=-1.0, tolerance=0.1, reason="r",
                               rows=lambda d, p: d[d["width"] <= p["w_max"]])
    m = c.fit(rows, {"w_max": 400})["slope"]
    assert m.value == pytest.approx(-1.0) and m.line.x_hi == 400 and "curvature +0.00" in m.method
    kinked = c.fit(rows, {"w_max": 800})["slope"]
    assert "curvature +2.00" in kinked.method


def test_expected_may_depend_on_the_parameters():
    c = checks.bound("dev", "dist", tolerance=0.0, reason="r", per="depth",
                     expected=lambda L, params: 0.05 * L * params["scale"])
    assert [(e.name, e.expected) for e in c.expect({"depth": (2, 3), "scale": 2.0})] == [
        ("dev[L=2]", pytest.approx(0.2)), ("dev[L=3]", pytest.approx(0.3))]


def test_converged_reads_a_swept_threshold_per_row():
    rows = _rows().assign(threshold=1e-3, step_cap=5000)
    rows.loc[0, ["converged", "train_loss"]] = (False, 5e-3)
    m = checks.converged().fit(rows, {})["not-converged"]
    assert m.value == 1 and "= 5" in m.method and "step caps 5000" in m.method


def test_seed_mean_has_a_student_t_interval():
    m = checks.seed_mean(pd.Series([1.0, 2.0, 3.0]), "three seeds")
    half = 4.302652729911275 * 1.0 / np.sqrt(3)  # t_{0.975, 2} · s / √n with s = 1
    assert m.value == 2.0 and m.interval == pytest.approx((2.0 - half, 2.0 + half)) and m.method == "three seeds"
    assert np.isnan(checks.seed_mean(pd.Series([4.0]), "one").interval[0])
