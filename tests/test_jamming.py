"""Family D part 2's building blocks (ntkbench.claims.jamming): the per-member rows of a width of the sweep and the
location of N*. The claims themselves are tested through the registry (tests/test_claims.py)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from ntkbench.claims import jamming
from ntkbench.experiments import jamming as jamming_exp

CTX = SimpleNamespace(dtype=torch.float64, device=torch.device("cpu"))


def _point(**kw):
    base = dict(dataset="mnist_parity", n_train=40, n_test=60, pca=5, data_seed=0, seed_offset=0, depth=3,
                members=4, bottleneck=0, centered=False, loss="square_hinge", optimizer="adam", lr=0.3,
                max_steps=400, width=3, times=(0, 50, 400), correlation=0.0, margin=1.0, fixed_norm=0.0)
    return {**base, **kw}


def test_rows_of_a_jammed_and_of_a_fitted_width_match_their_definitions():
    narrow = jamming_exp.jamming_point(_point(), CTX)  # h = 3: 34 parameters for 40 patterns, some stay unsatisfied
    assert len(narrow) == 4 and not narrow["converged"].any() and (narrow["steps"] == 400).all()
    assert (narrow["unsat"] > 0).all() and (narrow["train_loss"] > 0).all()
    assert np.array_equal(narrow["norm"], narrow["norm_t400"])
    wide = jamming_exp.jamming_point(_point(width=40, max_steps=3000, times=(0, 3000)), CTX)
    assert wide["converged"].all() and (wide["unsat"] == 0).all() and (wide["train_err"] == 0).all()
    assert (wide["train_loss"] == 0).all() and np.array_equal(wide["norm"], wide["norm_t3000"])
    assert wide["n_params"].iloc[0] == 40 * 5 + 40 + 40 * 40 + 40 + 40 + 1
    # ‖f‖ at t = 0 is the initial net's; the ensemble average errs no more often than the average member here
    assert (wide["norm_t0"] != wide["norm"]).all() and wide["ens_err"].nunique() == 1
    # correlated initializations: trained members stay closer to one another than independent ones
    close = jamming_exp.jamming_point(_point(width=40, max_steps=3000, times=(0,), correlation=0.95), CTX)
    assert close["converged"].all() and close["seed"].nunique() == 4
    assert close["norm_t0"].std() < wide["norm_t0"].std()
    for bad in ((500,), (-1, 50)):
        with pytest.raises(ValueError, match="times must be"):
            jamming_exp.jamming_point(_point(times=bad), CTX)
    with pytest.raises(ValueError, match="fixed_norm > 0 needs centered=false"):
        jamming_exp.jamming_point(_point(centered=True, fixed_norm=3.0), CTX)


def _rows(spec):
    """Rows from {N: (fitted, members)}: the first ``fitted`` members converged."""
    rows = []
    for n, (k, m) in spec.items():
        for i in range(m):
            rows.append({"n_params": n, "converged": i < k, "unsat": 0 if i < k else 3})
    return pd.DataFrame(rows)


def test_locate_brackets_n_star_by_the_fitted_fraction():
    j = jamming.locate(_rows({50: (0, 4), 70: (1, 4), 90: (4, 4), 110: (3, 4), 130: (4, 4)}))
    assert (j.n_lo, j.n_hi) == (70.0, 90.0) and j.bracketed  # one trapped member at 110 does not move it
    assert j.counts[1] == (70, 1, 4, 2.25)
    assert "N* in (70, 90]" in j.text()
    strict = jamming.locate(_rows({50: (0, 4), 70: (1, 4), 90: (4, 4), 110: (3, 4), 130: (4, 4)}), fraction=1.0)
    assert (strict.n_lo, strict.n_hi) == (110.0, 130.0)
    above = jamming.locate(_rows({90: (4, 4), 110: (4, 4)}))
    assert not above.bracketed and math.isnan(above.n_lo) and "starts above N*" in above.text()
    below = jamming.locate(_rows({50: (0, 4), 70: (1, 4)}))
    assert not below.bracketed and below.n_lo == 70 and "ends below N*" in below.text()
    with pytest.raises(ValueError, match="fraction"):
        jamming.locate(_rows({50: (0, 4)}), fraction=0)
    assert below.n_none == 50 and above.n_none != above.n_none  # NaN: every swept N has a fitted member


def _sweep(law, *, n=(20, 60, 80, 100, 120, 150, 200, 300, 500, 2000), fitted=None, members=4, times=()):
    """Synthetic sweep rows: ``law(N, member)`` the norm of a fitted member; ``fitted`` {N: count} (default: none
    fitted below 100, all from 100); the test error falls as 0.1 + N^-1/2 beyond its peak at 100; the ensemble's
    is 0.1 + 0.1·(single − 0.1)."""
    rows = []
    for N in n:
        k = (fitted or {}).get(N, 0 if N < 100 else members)
        single = 0.1 + (N ** -0.5 if N >= 100 else 0.1 * N / 100)
        for i in range(members):
            norm = law(N, i)
            rows.append({"n_params": N, "seed": i, "converged": i < k, "unsat": 0 if i < k else 5, "norm": norm,
                         "test_err": single + 0.001 * (i - 1.5), "ens_err": 0.1 + 0.1 * (single - 0.1),
                         **{jamming_exp.norm_column(t): 3 + (norm - 3) * t / max(times) for t in times}})
    return pd.DataFrame(rows)


def test_divergence_recovers_a_known_law_and_needs_its_window():
    # ‖f‖ = 3 + 60 (N − 90)^-1 exactly, at the widest N too (its tail 0.06 is fitted, not read as the plateau 3);
    # N* = 90 lies in the window between the last N with no member fitted (80) and the first with half (100)
    d = _sweep(lambda n, i: 3 + 60 / (n - 90), n=(20, 60, 80, 100, 120, 150, 200, 300, 500, 1100))
    r = jamming.divergence(d)
    assert isinstance(r, jamming.Divergence)
    assert r.alpha == pytest.approx(1.0, abs=1e-6) and r.n_star == pytest.approx(90, abs=1e-3)
    assert r.plateau == pytest.approx(3, abs=1e-6) and list(r.n) == [100, 120, 150, 200, 300, 500]
    assert jamming.located(d, {}).value == 0
    # members that did not fit are left out of ‖f‖: a trapped member with a huge norm changes nothing
    trapped = d.copy()
    trapped.loc[(trapped["n_params"] == 150) & (trapped["seed"] == 3), ["converged", "norm"]] = (False, 1e6)
    assert jamming.divergence(trapped).alpha == pytest.approx(1.0, abs=1e-6)
    # no plateau 10 N* above, or no N without fitted members: not fitted, and the precondition says why
    short = d[d["n_params"] <= 500]
    assert "no plateau" in jamming.divergence(short) and jamming.located(short, {}).value == 1
    early = _sweep(lambda n, i: 3 + 60 / (n - 90), n=(20, 60, 80, 100, 120, 150, 200, 300, 500, 1100),
                   fitted={20: 1, 60: 1, 80: 1})  # a member fits at every N: where the first nets fit is not swept
    assert "start it lower" in jamming.divergence(early) and jamming.located(early, {}).value == 1
    stuck = d.assign(converged=d["converged"] & (d["n_params"] < 1100))  # the widest nets trapped: no plateau,
    assert "ends below N*" in jamming.divergence(stuck) and jamming.located(stuck, {}).value == 1  # no bracket
    flat = _sweep(lambda n, i: 3.0, n=(20, 60, 80, 100, 120, 150, 200, 300, 500, 1100))
    assert jamming.divergence(flat).startswith("no divergence") and jamming.n_star_inside(flat, {}).value == 0
    m = jamming._alpha(flat, {"times": ()})
    assert math.isnan(m.value) and "no divergence" in m.method


def test_the_fit_ends_where_the_norm_reaches_its_plateau_within_the_noise():
    # members scattered by ±0.15 about 3 + 60 (N − 90)^-1 (the SE of a difference of two means 0.091): at N = 500
    # the excess over N = 11 000 (0.141) is inside 2 SE, so the fit ends at N = 300 and still reads the law
    n = (20, 60, 80, 100, 120, 150, 200, 300, 500, 5000, 11000)
    d = _sweep(lambda n, i: 3 + 60 / (n - 90) + 0.1 * (i - 1.5), n=n)
    r = jamming.divergence(d)
    assert isinstance(r, jamming.Divergence) and list(r.n) == [100, 120, 150, 200, 300]
    assert r.alpha == pytest.approx(1.0, abs=1e-6) and "so the fit ends at N = 300" in r.method
    assert jamming.n_star_inside(d, {}).value == 0
    # a plateau reached 3 swept N above N*: too few resolved N for 3 parameters — the sweep does not allow the fit
    # (invalid), never "no divergence"
    early = _sweep(lambda n, i: 3 + 60 / (n - 90) + 0.1 * (i - 1.5), n=(20, 60, 80, 100, 120, 150, 5000, 11000))
    why = jamming.divergence(early)
    assert why.startswith("not fitted") and "at 3 swept N" in why and jamming.n_star_inside(early, {}).value == 1
    # the norm at N* within the noise of the widest N's: no divergence, whatever the later N read
    noisy = _sweep(lambda n, i: 3.0 + 40.0 * (i - 1.5) * (n == 100) + 60 / (n - 90) * (n > 100), n=n)
    assert jamming.divergence(noisy, blow_up=1.0).startswith("no divergence")
    lone = d[~((d["n_params"] == 150) & (d["seed"] > 0))]  # one fitted member at N = 150: no standard error
    assert "one fitted member at N = 150" in jamming.divergence(lone) and jamming.n_star_inside(lone, {}).value == 1


def test_alpha_fits_every_training_time_and_blow_up_reads_n_star():
    d = _sweep(lambda n, i: 3 + 60 / (n - 90), n=(20, 60, 80, 100, 120, 150, 200, 300, 500, 1100), times=(10, 100))
    m = jamming._alpha(d, {"times": (100, 10)})
    assert m.value == pytest.approx(1.0, abs=1e-6) and m.line.exponent == pytest.approx(-1.0, abs=1e-6)
    # after t = 10 the excess is a tenth of the final one: the same exponent, a tenth of the norm's excess at N*
    assert "t = 10: α = 1.00, ‖f‖_N* = 3.6" in m.method and "t = 100: α = 1.00, ‖f‖_N* = 9" in m.method
    b = jamming._blow_up(d, {})
    assert b.value == pytest.approx((3 + 60 / 10) / (3 + 60 / 1010))


_NS = (20, 60, 80, 100, 120, 150, 200, 300, 500, 1100)


def test_the_peak_sits_between_the_divergences_n_star_and_n_equal_p():
    d = _sweep(lambda n, i: 3 + 60 / (n - 90), n=_NS)  # N* = 90 (the fit's), the error's peak at N = 100
    peak = jamming._peak(d, {"n_train": 1000})
    assert peak.value == pytest.approx(math.log(100 / 90) / math.log(1000 / 90), rel=1e-6)
    assert "N_peak = 100 (over N ≥ 80)" in peak.method and "N* = 90" in peak.method
    at_p = d.assign(test_err=np.where(d["n_params"] == 1100, 1.0, d["test_err"]))  # the peak at N = P
    assert jamming._peak(at_p, {"n_train": 1100}).value == pytest.approx(1.0, rel=1e-6)
    # no divergence: no N* to place the peak against; N* at or above P: nothing between them
    bounded = _sweep(lambda n, i: 3.0, n=_NS)
    assert math.isnan(jamming._peak(bounded, {"n_train": 1000}).value)
    assert "no N*" in jamming._peak(bounded, {"n_train": 1000}).method
    assert math.isnan(jamming._peak(d, {"n_train": 80}).value)


def test_flatness_of_the_test_error():
    d = _sweep(lambda n, i: 3.0)
    flat = jamming._flatness(d, {})
    assert flat.value == pytest.approx(0.1, rel=1e-9)  # the ensemble keeps a tenth of the single nets' excess
    copies = d.assign(ens_err=d.groupby("n_params")["test_err"].transform("mean"))
    assert jamming._flatness(copies, {}).value == pytest.approx(1.0, rel=1e-12)
    rising = d.assign(test_err=d["n_params"] * 1e-5)
    assert math.isnan(jamming._flatness(rising, {}).value)
    unlocated = d[d["n_params"] >= 100]
    assert math.isnan(jamming._peak(unlocated, {"n_train": 1000}).value)
    assert math.isnan(jamming._flatness(unlocated, {}).value)


def test_peak_leaves_out_the_nets_below_the_first_fit():
    d = _sweep(lambda n, i: 3 + 60 / (n - 90), n=_NS)
    d.loc[d["n_params"] == 60, "test_err"] = 0.5  # N = 60 < n_none = 80: capacity-limited, not the cusp
    assert "N_peak = 100" in jamming._peak(d, {"n_train": 1000}).method


def test_a_sweep_that_starts_above_a_quarter_of_n_star_is_not_located():
    d = _sweep(lambda n, i: 3 + 60 / (n - 90), n=(60, 80, 100, 120, 150, 200, 300, 500, 1100))
    m = jamming.located(d, {})
    assert m.value == 1 and "N*/4" in m.method


def test_the_fitted_n_star_must_lie_inside_the_datas_bracket():
    # under the theory: ‖f‖ − ‖f‖_∞ = 40 (N − 90)^-1 with N* = 90 inside the bracket (80, 100]
    inside = _sweep(lambda n, i: 3 + 60 / (n - 90), n=(20, 60, 80, 100, 120, 150, 200, 300, 500, 1100))
    assert jamming.n_star_inside(inside, {}).value == 0
    # a divergence whose singularity lies far below the bracket (N = 30, where no member fits): the fit would put N*
    # on the bracket's end, which is not a location: invalid
    outside = _sweep(lambda n, i: 3 + 400 / (n - 30), n=(20, 60, 80, 100, 120, 150, 200, 300, 500, 1100))
    m = jamming.n_star_inside(outside, {})
    assert m.value == 1 and "on an end" in m.method


def test_rise_tells_a_cusp_from_a_monotone_curve():
    cusp = _sweep(lambda n, i: 3.0)  # the error rises 0.1 + 0.1 N/100 to its peak at N* = 100, member SD 0.0013
    z = jamming._rise(cusp, {})
    assert z.value > jamming.RISE_Z and "at N = 100 (" in z.method
    falling = cusp.assign(test_err=0.3 - cusp["n_params"] * 1e-4 + 0.001 * (cusp["seed"] - 1.5))
    assert jamming._rise(falling, {}).value < -3  # every pair falls: as unlikely as it gets under a flat curve
    alone = cusp[cusp["n_params"] >= 80]  # no swept N below the window's first point but the window itself
    assert jamming.rise_test(np.array([0.2, 0.1]), np.array([0.01, 0.01]), np.array([True, False]))[0] == -np.inf
    assert math.isfinite(jamming._rise(alone, {}).value)
    # nets too small to leave a constant output all score one error (no spread, as at paper's N = 21): their mean
    # has no standard error, the pairs with a spread are still weighed, the rise still read
    constant = cusp.assign(test_err=np.where(cusp["n_params"] == 20, 0.5, cusp["test_err"]))
    z0 = jamming._rise(constant, {})
    assert z0.value > jamming.RISE_Z and "at N = 100 (" in z0.method
    one = cusp[~((cusp["n_params"] == 20) & (cusp["seed"] > 0))]  # one member at a swept N: no standard error
    assert math.isnan(jamming._rise(one, {}).value)


def test_the_rise_keeps_its_level_on_flat_curves_despite_picking_the_best_pair():
    # 14 swept N, 10 of them in the window, equal true means: the largest of the 85 standardized pair rises is
    # > 3 SE in 4 % of the curves, 30 times the 0.13 % a single pair would give; the corrected z keeps its level
    rng = np.random.default_rng(0)
    se, near = np.full(14, 0.003), np.arange(14) >= 4
    raw, z = [], []
    for _ in range(200):
        observed, _, zi = jamming.rise_test(0.15 + se * rng.standard_normal(14), se, near, draws=4000, seed=1)
        raw.append(observed)
        z.append(zi)
    assert np.mean(np.array(raw) >= 3) > 0.02
    assert np.mean(np.array(z) >= 3) <= 0.01
