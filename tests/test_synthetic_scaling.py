"""Issue 34's synthetic rule for family D (source 004): every science check of the scaling and jamming claims,
through the registered check at ci, passes on rows made under 004's law and fails on rows made under each
alternative it names. (The kernel's change-slope and the ensemble's error-vs-delta2 are in tests/test_scaling.py.)"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from ntkbench.claims import jamming, scaling
from ntkbench.experiments import scaling as scaling_exp
from ntkbench.harness.registry import get

from synthetic import alternative, registered, verdicts

SEEDS = range(8)


def _truths(claim_id: str, name: str) -> list[tuple[str, float | None]]:
    """("theory", None) and ("alternative i", its value) for the registered check."""
    _, e, _ = registered(claim_id, name)
    return [("theory", None)] + [(f"alternative {i}", alternative(e, i)) for i in range(len(e.alternatives))]


def _cases(claim_id: str, names: tuple[str, ...], weak: dict[tuple[str, str], str] | None = None):
    """(claim, check, which, value) cases; ``weak``: {(check, which): why} — a check reported `not discriminating`
    against that alternative, where the test is a strict xfail (it must start passing when the power is fixed)."""
    weak = weak or {}
    return [pytest.param(claim_id, n, which, value, id=f"{claim_id}:{n}:{which}",
                         marks=[pytest.mark.xfail(strict=True, reason=weak[n, which])] if (n, which) in weak else [])
            for n in names for which, value in _truths(claim_id, n)]


def _assert(passed: list[bool], values: list[float], which: str) -> None:
    if which == "theory":
        assert all(passed), values
    else:
        assert not any(passed), values


# ----- the width sweep: N^v laws per member ----------------------------------------------------------------------
def _n_params(params, width: int) -> int:
    ctx = SimpleNamespace(dtype=torch.float64, device="cpu")
    net = scaling_exp.scaling_net({"depth": params["depth"], "bottleneck": 0}, ctx, scaling._d_in(params), width)
    return net.n_params


def _sweep_rows(column: str, exponent: float, seed: int, params, noise: float) -> pd.DataFrame:
    """``column`` = A N^exponent per member, log-normal member noise ``noise``, at the ci widths and members."""
    rng = np.random.default_rng(seed)
    rows = []
    for h in params["widths"]:
        n = _n_params(params, h)
        for s in range(params["members"]):
            rows.append({"width": h, "n_params": n, "seed": s,
                         column: 3.0 * n ** exponent * math.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("claim_id", "name", "which", "value"),
                         _cases("scaling/ntk-fluctuations", ("slope",))
                         + _cases("scaling/output-fluctuations", ("slope",)))
def test_fluctuation_slopes_pass_under_n_to_the_minus_quarter_and_fail_under_their_alternatives(claim_id, name,
                                                                                             which, value):
    _, e, _ = registered(claim_id, name)
    column = "kernel_dev" if claim_id.endswith("ntk-fluctuations") else "out_dev"
    exponent = e.expected if value is None else value
    passed, values = verdicts(claim_id, name, lambda s, p: _sweep_rows(column, exponent, s, p, 0.1), SEEDS)
    _assert(passed, values, which)


def _excess_rows(exponent: float, seed: int, params) -> pd.DataFrame:
    """ε_N − ε̄_N = 2(ε¹ − ε²) = 0.3 N^exponent per member with 60 % member noise (a few test points each)."""
    d = _sweep_rows("excess_pair", exponent, seed, params, 0.6)
    return d.assign(excess_err=d["excess_pair"])


@pytest.mark.parametrize(("claim_id", "name", "which", "value"), _cases("scaling/test-error", ("slope",), weak={
    ("slope", "alternative 0"): "not discriminating at ci (the report says so): the noise band ±0.26 excludes the "
                                "first-order −1/(2 s_N) by 0.008 only: data made there pass in some seeds even at "
                                "a slope spread of 0.02"}))
def test_test_error_slope_passes_under_n_to_the_minus_half_and_fails_under_its_alternatives(claim_id, name, which,
                                                                                         value):
    _, e, _ = registered(claim_id, name)
    exponent = e.expected if value is None else value
    passed, values = verdicts(claim_id, name, lambda s, p: _excess_rows(exponent, s, p), SEEDS)
    _assert(passed, values, which)


# ----- the ensemble: disjoint groups of n members -------------------------------------------------------------------
def _group_rows(error_power: float, delta_power: float, seed: int, params) -> pd.DataFrame:
    """004 Fig. 4: per group of n, ε^n = 0.13 + 0.02 n^error_power and δ_n = 0.3 n^delta_power, each with the
    binomial-like noise of a test set of a few thousand points (0.003 on ε, 3 % on δ)."""
    rng = np.random.default_rng(seed)
    rows = [{"n": n, "group": g, "seed": g,
             "test_err": 0.13 + 0.02 * n ** error_power + 0.001 * rng.standard_normal(),
             "delta": 0.3 * n ** delta_power * math.exp(0.03 * rng.standard_normal())}
            for n in params["group_sizes"] for g in range(params["members"] // n)]
    return pd.DataFrame(rows).assign(ens_err=0.13)


@pytest.mark.parametrize(("claim_id", "name", "which", "value"),
                         _cases("scaling/ensemble", ("error-exponent",)))
def test_ensemble_exponents_pass_under_the_central_limit_and_fail_under_their_alternatives(claim_id, name, which,
                                                                                        value):
    _, e, _ = registered(claim_id, name)
    exponent = e.expected if value is None else value
    passed, values = verdicts(claim_id, name, lambda s, p: _group_rows(exponent, -0.5, s, p), SEEDS)
    _assert(passed, values, which)


# ----- the jamming sweep ------------------------------------------------------------------------------------------
#: the synthetic members' own jamming points N*_i: uniform over (N0 + 5, 150), N0 = 100 the divergence's point (at
#: ci's N grid: none fits at 91, some at 115, most at 141)
N0, N_STAR_TOP = 100.0, 150.0


def _jamming_rows(seed: int, params, *, diverges: bool = True, cusp: str = "n_star",
                  ensemble_flat: bool = True) -> pd.DataFrame:
    """A ci sweep: member i fits at N > N*_i; a fitted member's ‖f‖ = 3.1 + 300 (N − N0)^-1 (``diverges``; else
    3.1), with 0.05 noise; the single nets' test error falls from 0.4 at N = 15 to 0.15 at N = 69, then
    (``cusp``) ``"n_star"``: rises to 0.20 at N* and falls as 0.1 + N^-1/2; ``"p"``: rises to 0.20 at the swept N
    nearest P = 500 (465) and falls as 0.2 (465/N)^0.3 (the square loss's interpolation peak); ``"none"``: keeps
    falling as 0.15 (69/N)^0.3; member SD 0.01; above N = 91 the ensemble's error is 0.1 + (single − 0.1)/16
    (``ensemble_flat``; else the single's)."""
    rng = np.random.default_rng(seed)
    rows = []
    for h in params["widths"]:
        n = _n_params(params, h)
        if n <= 69:
            mean = 0.4 * (n / 15) ** -0.6
        elif cusp == "n_star":
            mean = min(0.15 + 0.05 * (n - 69) / 72, 0.1 + n ** -0.5)
        elif cusp == "p":
            mean = 0.15 + 0.05 * math.log(n / 69) / math.log(465 / 69) if n <= 465 else 0.2 * (465 / n) ** 0.3
        else:
            mean = 0.15 * (n / 69) ** -0.3
        single = []
        for s in range(params["members"]):
            fitted = n > rng.uniform(N0 + 5, N_STAR_TOP)
            norm = 3.1 + (300 / (n - N0) if diverges and n > N0 else 0.0) + 0.05 * rng.standard_normal()
            err = mean + 0.01 * rng.standard_normal()
            single.append(err)
            rows.append({"n_params": n, "seed": s, "converged": fitted, "unsat": 0 if fitted else 10, "norm": norm,
                         "test_err": err, **{jamming.norm_column(t): norm for t in params["times"]}})
        ens = 0.1 + (np.mean(single) - 0.1) / 16 if ensemble_flat and n > 91 else float(np.mean(single))
        for r in rows[-params["members"]:]:
            r["ens_err"] = ens
    return pd.DataFrame(rows)


def test_the_synthetic_jamming_sweep_is_located_like_cis():
    _, _, params = registered("scaling/jamming-norm", "alpha")
    d = _jamming_rows(0, params)
    assert jamming.located(d, params).value == 0 and jamming.n_star_inside(d, params).value == 0


@pytest.mark.parametrize(("claim_id", "name", "which", "value"),
                         _cases("scaling/jamming-norm", ("alpha", "blow-up")))
def test_the_norm_diverges_under_the_theory_and_the_checks_fail_when_it_stays_bounded(claim_id, name, which, value):
    # both alternatives are "no divergence": the fitted nets' ‖f‖ at N* is the plateau's
    passed, values = verdicts(claim_id, name, lambda s, p: _jamming_rows(s, p, diverges=value is None), SEEDS)
    _assert(passed, values, which)


@pytest.mark.parametrize(("claim_id", "name", "which", "value"), _cases("scaling/jamming-cusp", ("peak",)))
def test_the_peak_is_placed_at_jamming_and_not_at_the_interpolation_threshold(claim_id, name, which, value):
    cusp = "n_star" if value is None else "p"
    passed, values = verdicts(claim_id, name, lambda s, p: _jamming_rows(s, p, cusp=cusp), SEEDS)
    _assert(passed, values, which)


def test_a_monotone_curve_puts_the_peak_near_n_star_which_is_why_the_rise_rules_it_out():
    # the peak's window starts at n_none, so a monotone curve peaks there, inside the peak's band: the rise (next
    # test) is the check that rejects it
    passed, values = verdicts("scaling/jamming-cusp", "peak", lambda s, p: _jamming_rows(s, p, cusp="none"), SEEDS)
    assert all(passed) and all(abs(v) < 0.2 for v in values), values


@pytest.mark.parametrize(("claim_id", "name", "which", "value"), _cases("scaling/jamming-cusp", ("rise",)))
def test_the_rise_is_found_under_the_theory_and_not_on_a_monotone_curve(claim_id, name, which, value):
    cusp = "n_star" if value is None else "none"
    passed, values = verdicts(claim_id, name, lambda s, p: _jamming_rows(s, p, cusp=cusp), SEEDS)
    _assert(passed, values, which)


@pytest.mark.parametrize(("claim_id", "name", "which", "value"), _cases("scaling/jamming-cusp", ("flatness",)))
def test_flatness_passes_when_averaging_removes_the_fluctuations_and_fails_when_it_removes_nothing(claim_id, name,
                                                                                              which, value):
    passed, values = verdicts(claim_id, name, lambda s, p: _jamming_rows(s, p, ensemble_flat=value is None), SEEDS)
    _assert(passed, values, which)


def test_every_science_check_of_family_d_has_a_synthetic_test():
    here = {"scaling/ntk-fluctuations": {"slope", "change-slope"}, "scaling/output-fluctuations": {"slope"},
            "scaling/test-error": {"slope"}, "scaling/ensemble": {"error-exponent", "error-vs-delta2"},
            "scaling/jamming-norm": {"alpha", "blow-up"}, "scaling/jamming-cusp": {"peak", "rise", "flatness"}}
    for claim_id, names in here.items():
        claim = get(claim_id)
        science = {e.name for e in claim.expect(claim.resolve("ci")) if e.role == "science"}
        assert science == names, claim_id
