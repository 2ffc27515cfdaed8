"""Issue 34's synthetic rule for family B (optimizers; source 001, Thm 3–5, Example 1, Fig. 3/4/9): every science
check of optim/sgd-equals-gd, optim/adagrad-differs, optim/adaptive-batch-dependence, optim/adagrad-closed-form
and optim/underparam-unique, run through its registered fit at the ``ci`` profile, passes on synthetic rows made
under the theory and fails on rows made under each alternative it names.

The rows carry the columns the fits read. A comparison point (one depth and width) has one row per member seed and
run of :func:`ntkbench.claims.optim.runs` plus GD's: ``dist_gd`` (test-output distance to GD), and per optimizer
and seed ``spread_out`` / ``spread_loss`` (the spread over its runs). The theory's model: SGD's distance to GD and
its spreads are the nets' nonlinearity, a·(m/m0)^-1/2; AdaGrad's and Adam's distance and AdaGrad's spreads over the
batch sizes are O(1) at every width (001 Thm 3, 4). An Example-1 point has ``err_eq9`` (the net's distance to
Eq. 9), a·(m/m0)^-1/2, and ``err_gd`` (to GD's closed form), O(1). Every value carries log-normal noise per member
and a smaller one shared by the members of a width (the data draw). Slopes under the theory are the registered
expected exponents; the one-sided ratio bounds have their edge as expected value, so there the theory is the
model's own ratio at the largest width (SGD / AdaGrad 0.01–0.02, AdaGrad / SGD ≈ 95, the spread ratios 30–65,
Eq. 9 / GD form 0.0016). An alternative replaces one quantity of the model by its registered value: an exponent,
or the ratio it names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ntkbench.experiments.optim import runs
from ntkbench.experiments.trained import member_seeds
from ntkbench.harness.registry import base_name, get

from synthetic import alternative, lognormal, registered, verdicts

SEEDS = range(8)
#: log-SD of a member's value (one seed, one run; the calibrated SGD/AdaGrad gap ratio, 0.0023 ± 0.0003 over 4-seed
#: means, scatters by ≈ 25 % per seed) and of the part shared by the members of a width
MEMBER_NOISE, WIDTH_NOISE = 0.2, 0.05
#: SGD's distance to GD (and its spreads) at the smallest width: the O(m^-1/2) nonlinearity, κ/√m with κ ≈ 0.1
SGD_AT_M0 = 0.01
#: AdaGrad's and Adam's distance to GD (MNIST PCA-20, L = 2: 0.13–0.20, optim_exp.adaptive_rates)
ADAPTIVE_DIST = 0.15
#: AdaGrad's spread over batch sizes and shufflings: of the outputs (relative to ‖f_GD‖) and of the test loss
ADAPTIVE_SPREAD = 0.1
#: AdaGrad's distance to GD grows like split^BATCH_SLOPE (L = 2 at ci: per-seed slopes 0.32–0.41), with a log-SD per
#: run (the per-seed part of the noise is shared by a member's runs)
BATCH_SLOPE, RUN_NOISE = 0.36, 0.05
#: log-SD of a member's full-batch AdaGrad gap to GD against the linearized AdaGrad's (same θ0, same data: their
#: difference is the nonlinearity, 0.005 of a 0.14 gap at L = 2, m ≥ 2000, with an SD of 0.0009 over 4-member means)
LIN_NOISE = 0.013
#: AdaGrad's net against AdaGrad on the linearized model: their distance at the smallest width (the nonlinearity)
LIN_AT_M0 = 0.01
#: Example 1: the net's distance to Eq. 9 at the smallest width (its nonlinearity) and to GD's closed form (O(1))
EQ9_AT_M0, GD_FORM_DIST = 0.0126, 0.5
#: the printed Eq. 9's distance to the net at σ = 1 (0.28–0.43 measured at ci: its f0 term)
PRINTED_AT_1 = 0.35
#: 001 App. A beyond P = N: the runs end about 10^4 times the tolerance's bound apart (4.0 measured at ci)
OVER_DECADES = 4.0

Make = Callable[[int, Mapping[str, Any]], pd.DataFrame]


def power(m: float, m0: float, at_m0: float, exponent: float) -> float:
    """at_m0 · (m/m0)^exponent: a power law through its value at the smallest width."""
    return at_m0 * (m / m0) ** exponent


def widths_of(params: Mapping[str, Any]) -> dict[int, list[int]]:
    """Per depth, the swept widths up to that depth's max_width (the claims' ``where``)."""
    return {int(d): [int(w) for w in params["widths"] if w <= top]
            for d, top in zip(params["depth"], params["max_width"], strict=False)}


def comparison(sgd_slope: float = -0.5, adagrad_slope: float = 0.0, adam_slope: float = 0.0,
               sgd_over_adagrad: float | None = None, adagrad_over_sgd: float | None = None,
               adam_over_sgd: float | None = None, spread_out_ratio: float | None = None,
               spread_loss_ratio: float | None = None, lin_slope: float = -0.5, batch_slope: float | None = None,
               adagrad_spread_slope: float = 0.0, gap_limit: float | None = None) -> Make:
    """Rows of compare_optimizers: SGD's distance a·(m/m0)^sgd_slope, AdaGrad's and Adam's ADAPTIVE_DIST·(m/m0)^slope
    (or a given multiple of SGD's), AdaGrad's times split^BATCH_SLOPE (``batch_slope``), the frozen AdaGrad's
    ADAPTIVE_DIST at every split; spreads SGD's distance (SGD, frozen AdaGrad) and ADAPTIVE_SPREAD·(m/m0)^slope
    (AdaGrad, or a given multiple of SGD's); the linearized AdaGrad's distance to GD AdaGrad's full-batch one, and
    AdaGrad's ``dist_lin`` LIN_AT_M0·(m/m0)^lin_slope; with ``gap_limit`` g AdaGrad's distance to GD is g times the
    linearized AdaGrad's plus (1 − g)·ADAPTIVE_DIST·(m/m0)^-1/2 (g = 0: a net that tracks GD, its gap falling to 0);
    log-normal noise per member, per run, per width, per optimizer and seed for the spreads."""

    def make(seed: int, params: Mapping[str, Any]) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        members = member_seeds(params)
        frames = []
        for depth, widths in widths_of(params).items():
            m0 = widths[0]
            # AdaGrad's full-batch gap to GD (and the linearized AdaGrad's) is set by the data and the rate: a member's
            # level is shared by its widths (measured: per seed, the gap moves 0.144 → 0.141 from m = 4000 to 8000
            # against a spread of 0.016–0.020 over seeds)
            level = lognormal(rng, MEMBER_NOISE, len(members)) * lognormal(rng, WIDTH_NOISE)
            for m in widths:
                sgd = power(m, m0, SGD_AT_M0, sgd_slope)
                adaptive = {"adagrad": power(m, m0, ADAPTIVE_DIST, adagrad_slope),
                            "adam": power(m, m0, ADAPTIVE_DIST, adam_slope)}
                if sgd_over_adagrad is not None:
                    sgd = sgd_over_adagrad * adaptive["adagrad"]
                if adagrad_over_sgd is not None:
                    adaptive["adagrad"] = adagrad_over_sgd * sgd
                if adam_over_sgd is not None:
                    adaptive["adam"] = adam_over_sgd * sgd
                lin = adaptive["adagrad"]
                if gap_limit is not None:
                    adaptive["adagrad"] = gap_limit * lin + (1 - gap_limit) * power(m, m0, ADAPTIVE_DIST, -0.5)
                adaptive["adagrad-frozen"] = ADAPTIVE_DIST
                adaptive["adagrad-norm"] = sgd  # isotropic: GD's minimizer, up to the nonlinearity
                spread = {"gd": (0.0, 0.0), "sgd": (sgd, sgd), "adam": (0.0, 0.0), "adagrad-frozen": (sgd, sgd),
                          "adagrad-lin": (0.0, 0.0), "adagrad-norm": (0.0, 0.0),
                          "adagrad": (power(m, m0, ADAPTIVE_SPREAD, adagrad_spread_slope) if spread_out_ratio is None
                                      else spread_out_ratio * sgd,
                                      ADAPTIVE_SPREAD if spread_loss_ratio is None else spread_loss_ratio * sgd)}
                shared = {k: lognormal(rng, WIDTH_NOISE) for k in spread}
                spreads = {k: (out * shared[k] * lognormal(rng, MEMBER_NOISE, len(members)),
                               loss * shared[k] * lognormal(rng, MEMBER_NOISE, len(members)))
                           for k, (out, loss) in spread.items()}
                member = {k: lognormal(rng, MEMBER_NOISE, len(members)) for k in spread}
                full = lognormal(rng, RUN_NOISE, len(members))  # AdaGrad's full-batch run (either shuffling)
                trend = BATCH_SLOPE if batch_slope is None else batch_slope
                for opt, split, shuffle in [("gd", 1.0, True), *runs(params), ("adagrad-lin", 1.0, True)]:
                    if opt == "gd" or (opt == "sgd" and split == 1.0):
                        dist = np.zeros(len(members))
                    elif opt == "adagrad-lin":  # AdaGrad's full-batch gap
                        dist = lin * level * full * lognormal(
                            rng, LIN_NOISE, len(members))
                    elif opt == "sgd":
                        dist = sgd * shared[opt] * lognormal(rng, MEMBER_NOISE, len(members))
                    else:
                        run = full if opt == "adagrad" and split == 1.0 else lognormal(rng, RUN_NOISE, len(members))
                        own = level if opt == "adagrad" else shared[opt] * member[opt]
                        dist = adaptive[opt] * own * run
                        if opt == "adagrad":
                            dist = dist * split**trend
                    row = {"depth": depth, "width": m, "seed": members, "optimizer": opt, "split": split,
                           "shuffle": shuffle, "dist_gd": dist, "spread_out": spreads[opt][0],
                           "spread_loss": spreads[opt][1], "converged": True, "train_loss": 0.5 * params["threshold"]}
                    if opt == "adagrad" and split == 1.0:
                        row["dist_lin"] = power(m, m0, LIN_AT_M0, lin_slope) * lognormal(rng, MEMBER_NOISE,
                                                                                          len(members))
                    frames.append(pd.DataFrame(row))
        return pd.concat(frames, ignore_index=True)

    return make


def one_point(eq9_slope: float = -0.5, eq9_over_gd: float | None = None, sigma_slope: float | None = None) -> Make:
    """Rows of adagrad_one_point: the width sweep at the first σ, err_eq9 = EQ9_AT_M0·(m/m0)^eq9_slope (or a given
    multiple of err_gd), err_gd = GD_FORM_DIST at every width; the σ sweep at the largest width, err_eq9_printed =
    PRINTED_AT_1·σ^sigma_slope (L by default: f0 ∝ σ^L) plus the σ-independent rest err_eq9; log-normal noise per
    member and per point."""

    def make(seed: int, params: Mapping[str, Any]) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        members = member_seeds(params)
        widths = [int(w) for w in params["widths"]]
        slope = params["depth"] if sigma_slope is None else sigma_slope
        frames = []
        for m, sigma in [(m, params["sigmas"][0]) for m in widths[:-1]] + [(widths[-1], s) for s in params["sigmas"]]:
            gd = GD_FORM_DIST * lognormal(rng, WIDTH_NOISE) * lognormal(rng, MEMBER_NOISE, len(members))
            eq9 = power(m, widths[0], EQ9_AT_M0, eq9_slope) if eq9_over_gd is None else eq9_over_gd * GD_FORM_DIST
            eq9 = eq9 * lognormal(rng, WIDTH_NOISE) * lognormal(rng, MEMBER_NOISE, len(members))
            printed = PRINTED_AT_1 * sigma**slope * lognormal(rng, MEMBER_NOISE, len(members)) + eq9
            frames.append(pd.DataFrame({
                "width": m, "sigma": sigma, "seed": members, "depth": params["depth"], "err_eq9": eq9, "err_gd": gd,
                "err_eq9_printed": printed, "eps_weight": 0.0, "converged": True,
                "train_loss": 0.5 * params["threshold"]}))
        return pd.concat(frames, ignore_index=True)

    return make


def underparameterized(over_decades: float | None = None) -> Make:
    """Rows of underparameterized_fits: per swept P and run (init × optimizer) dev_ratio, below P = N uniform in
    (0.5, 0.95) (inside the bound of the unique minimizer), above it 10^(OVER_DECADES ± 0.3) (the runs' own
    interpolants; ``over_decades`` in its place: 0 is every run at the bound, one minimizer)."""

    def make(seed: int, params: Mapping[str, Any]) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        n, k = params["n_train"], params["seeds"] * len(params["optimizers"])
        decades = OVER_DECADES if over_decades is None else over_decades
        rows = []
        for p in params["widths"]:
            ratio = rng.uniform(0.5, 0.95, k) if p < n else 10 ** (decades + rng.uniform(-0.3, 0.0, k))
            rows.append(pd.DataFrame({"n_params": p, "n_train": n, "dev_ratio": ratio, "spread": ratio * 1e-5,
                                      "optimizer": np.resize(params["optimizers"], k), "converged": True,
                                      "seed": np.arange(k)}))
        return pd.concat(rows, ignore_index=True)

    return make


#: (claim, check) → (the model with the checked quantity set to a value, the theory's value: "expected" for the
#: registered expected value, "model" for the theory model's own)
CASES: dict[tuple[str, str], tuple[Callable[[float | None], Make], str]] = {
    ("optim/sgd-equals-gd", "slope"): (lambda v: comparison(sgd_slope=v), "expected"),
    ("optim/sgd-equals-gd", "gap-ratio"): (lambda v: comparison(sgd_over_adagrad=v), "model"),
    ("optim/adagrad-differs", "lin-slope"): (lambda v: comparison(lin_slope=v), "expected"),
    ("optim/adagrad-differs", "gap-ratio"): (lambda v: comparison(adagrad_over_sgd=v), "model"),
    ("optim/adagrad-differs", "gap-limit"): (lambda v: comparison(gap_limit=v), "expected"),
    ("optim/adagrad-differs", "adam-gap-ratio"): (lambda v: comparison(adam_over_sgd=v), "model"),
    ("optim/adaptive-batch-dependence", "output-spread-ratio"): (lambda v: comparison(spread_out_ratio=v), "model"),
    ("optim/adaptive-batch-dependence", "loss-spread-ratio"): (lambda v: comparison(spread_loss_ratio=v), "model"),
    ("optim/adaptive-batch-dependence", "spread-slope"): (lambda v: comparison(adagrad_spread_slope=v), "expected"),
    ("optim/adagrad-closed-form", "slope"): (lambda v: one_point(eq9_slope=v), "expected"),
    ("optim/adagrad-closed-form", "form-ratio"): (lambda v: one_point(eq9_over_gd=v), "model"),
    ("optim/adagrad-closed-form", "sigma-slope"): (lambda v: one_point(sigma_slope=v), "expected"),
    ("optim/underparam-unique", "excess-spread"): (lambda v: underparameterized(v), "model"),
}
CLAIMS = sorted({claim for claim, _ in CASES})


def science_checks() -> list[tuple[str, str, int]]:
    """(claim, check name, number of alternatives) of every science check of the family's comparison claims."""
    out = []
    for claim_id in CLAIMS:
        claim = get(claim_id)
        params = claim.resolve("ci")
        out += [(claim_id, e.name, len(e.alternatives)) for check in claim.checks for e in check.expect(params)
                if e.role == "science"]
    return out


CHECKS = science_checks()
THEORY = [pytest.param(c, n, id=f"{c}:{n}") for c, n, _ in CHECKS]
ALTERNATIVES = [pytest.param(c, n, i, id=f"{c}:{n}:alternative-{i}") for c, n, k in CHECKS for i in range(k)]


def model(claim_id: str, name: str) -> tuple[Callable[[float | None], Make], str]:
    """The synthetic model of a check and where its theory value comes from."""
    return CASES[(claim_id, base_name(name))]


def test_every_science_check_has_a_model_and_an_alternative():
    assert {(c, base_name(n)) for c, n, _ in CHECKS} == set(CASES)
    assert all(k >= 1 for *_, k in CHECKS)
    assert len(CHECKS) == 18  # per depth at ci (2, 3); the slopes and gap-limit (m → ∞) at L = 2 only


@pytest.mark.parametrize(("claim_id", "name"), THEORY)
def test_science_check_passes_on_data_made_under_the_theory(claim_id, name):
    make, theory = model(claim_id, name)
    _, expect, _ = registered(claim_id, name)
    passed, values = verdicts(claim_id, name, make(expect.expected if theory == "expected" else None), SEEDS)
    assert all(passed), f"{name} = {np.round(values, 4)} against {expect.describe()}"


@pytest.mark.parametrize(("claim_id", "name", "which"), ALTERNATIVES)
def test_science_check_fails_on_data_made_under_each_alternative(claim_id, name, which):
    make, _ = model(claim_id, name)
    _, expect, _ = registered(claim_id, name)
    passed, values = verdicts(claim_id, name, make(alternative(expect, which)), SEEDS)
    assert not any(passed), (f"{name} = {np.round(values, 4)} against {expect.describe()} under "
                             f"{expect.alternatives[which]}")
