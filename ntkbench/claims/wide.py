"""Family E of the catalogue — the wide limit (source 002, the book chapter "Wide neural networks", §11.1–11.6).

The chapter calls the width n and the number of data points m. Nets: one hidden layer (11.5.1),
Φ(x, w) = vᵀσ(Ux + b) + c, w = (U, b, v, c), with the chapter's two initializations:

* ``init="lecun"`` (11.5.3): U ~ N(0, 1/d), v ~ N(0, 1/n), b = c = 0 (trainable). This is
  ``MLP(d, n, 2, parametrization="standard", bias="zero", sigma=1)`` exactly; K̂_n/n → K^LC (Thm 11.16).
* ``init="ntk"`` (11.6.1–11.6.2): Φ = n^(−1/2) vᵀσ(d^(−1/2)Ux + b) + c, U, v ~ N(0, 1), b = c = 0. This is
  ``MLP(d, n, 2, parametrization="ntk", bias="zero", sigma=1)`` exactly (the hidden bias is not scaled by 1/√d);
  K̂_n → K^NTK (Thm 11.30).

``weights="student-t"`` draws every latent N(0, 1) of the initialization from a Student t with ``df`` degrees of
freedom instead (df = 1.5: infinite variance, outside Assumption 11.14, so the central limits behind Thm 11.16,
11.30 and Prop. 11.28 fail). ``scaling="mean_field"`` replaces the output factor by 1/n (weights and output bias,
U, v ~ N(0, 1)) and the step by h ∝ n: every neuron moves by O(1), the net is not lazy (the negative control of
lazy-movement and linearization-gap). The chapter's loss is f(w) = ‖Φ(X, w) − y‖² (no ½), ∇f = 2∇Φᵀ(Φ − y).

Inputs lie on the unit sphere of R^d (‖x‖ ≤ 1 as Prop. 11.26 takes them); test inputs are uniform in the unit
ball. Everything runs batched over seeds in float64 on the CPU; the tangent kernels are the chapter's (11.5.2) and
(11.6.3), checked against :func:`ntkbench.kernels.empirical_ntk` in tests/test_wide.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..experiments.wide import (
    DATA,
    INITS,
    SCALINGS,
    WEIGHTS,
    design,
    forward,
    measure_gd,
    measure_gp,
    measure_lsq,
    measure_ntk_limit,
)
from ..harness.figures import fitted_line, measured_line, subplots
from ..harness.spec import SEED_STRIDE, Check, Claim, Control, Landing, Measurement, Param, register
from . import checks
from . import params as P

#: the tolerances: each the noise band of its check's K = 10 calibration at ci (results/ci/calibration/wide__*.json,
#: the rule of ntkbench.harness.power), never the offset from the theory; the records hold the mean, SD, bias and power
TOL = {"ntk-limit/lecun": 0.124, "ntk-limit/ntk": 0.117,
       "lazy-movement/lecun": 0.088, "lazy-movement/ntk": 0.056, "lazy-movement/hidden-share": 0.328,
       "linearization-gap/lecun": 0.233, "linearization-gap/ntk": 0.138,
       "gp-init/cov": 0.266, "gp-init/kurt": 0.031, "lsq-projection/rate": 3.0e-5}
#: the controls' landing bands: each the noise band of the control's own K = 10 calibration at ci
LANDS = {"ntk-limit/heavy-tailed/lecun": 0.53, "ntk-limit/heavy-tailed/ntk": 0.57,
         "gp-init/heavy-tailed/cov": 0.717, "gp-init/heavy-tailed/kurt": 0.181,
         "lazy-movement/mean-field/slope-lecun": 0.0139, "lazy-movement/mean-field/slope-ntk": 0.0063,
         "lazy-movement/mean-field/hidden-share": 0.0123,
         "linearization-gap/mean-field/lecun": 0.0685, "linearization-gap/mean-field/ntk": 0.0544,
         "lsq-projection/moved-eigenvalue": 4.5e-5}


def per_init(init: str, check: Check) -> Check:
    """``check`` only when ``init`` is among params["init"] (its rows: data[init == init])."""

    def fit_(data: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Measurement]:
        if init not in params["init"]:
            return {}
        return check.fit(data[data["init"] == init], params)

    return Check(fit_, lambda params: check.expect(params) if init in params["init"] else ())


def _init_param(smoke=INITS, ci=INITS, paper=INITS) -> Param:
    return Param("init", smoke, ci, paper, kind="strs", choices=INITS,
                 help="initializations: lecun (002 (11.5.3)) and/or ntk (002 (11.6.1)–(11.6.2))")


def _common(d_in=(3, 3, 3), activation=("relu",) * 3, weights=True, choices=("relu", "erf")) -> tuple[Param, ...]:
    out = (Param("d_in", *d_in, help="input dimension d (inputs on the unit sphere)", kind="int", low=1),
           Param("activation", *activation, help="activation σ (closed-form limits for relu and erf)", kind="str",
                 choices=choices))
    if weights:
        out += (Param("weights", "normal", "normal", "normal", kind="str", choices=WEIGHTS,
                      help="initial-weight distribution D: normal (Assumption 11.14) or student-t with df degrees of "
                           "freedom (df ≤ 2: infinite variance, the negative control)"),
                Param("df", 1.5, 1.5, 1.5, kind="float", low=0, low_open=True,
                      help="degrees of freedom of the student-t weights (read only then)"))
    return out


def _slope_reason(extra: str = "") -> str:
    """The noise-band reason (the numbers live in the calibration record, not here) and what the check adds."""
    return f"{checks.NOISE_BAND}{' ' + extra if extra else ''}"


def _reference(ax, line, exponent: float, at: float, **style) -> None:
    """A power law x^exponent through the fitted ``line``'s value at x = ``at``, over its range (a theory's or an
    alternative's slope beside the measured one)."""
    fitted_line(ax, (line.x_lo, line.x_hi), line.amplitude * at ** (line.exponent - exponent), exponent, **style)


def _kernel_figure(data: pd.DataFrame, meas, params, expects):
    fig, (ax,) = subplots(1, width=5.0)
    for init, marker in zip(params["init"], "os", strict=False):
        d = data[data["init"] == init]
        g = d.groupby("width")["rel_err"]
        ax.errorbar(g.mean().index, g.mean(), yerr=g.std(), marker=marker, ls="", capsize=2,
                    label=(rf"{init}: $\Vert\hat K_n/n - K^{{\rm LC}}\Vert$" if init == "lecun"
                           else rf"{init}: $\Vert\hat K_n - K^{{\rm NTK}}\Vert$"))
        m = meas.get(f"slope-{init}")
        if m is not None and m.line is not None:
            measured_line(ax, m, label=f"fit $n^{{{m.value:.2f}}}$ ({init})", color="C0" if init == "lecun" else "C1")
            mid = math.sqrt(m.line.x_lo * m.line.x_hi)
            _reference(ax, m.line, -0.5, mid, label=None, color="grey", style=":")
            _reference(ax, m.line, -1.0, mid, label=None, color="lightgrey", style="-.")
    ax.plot([], [], ":", color="grey", label="theory $n^{-1/2}$")
    ax.plot([], [], "-.", color="lightgrey", label="alternative $n^{-1}$ (deterministic error)")
    ax.set(xscale="log", yscale="log", xlabel="width $n$", ylabel="relative Frobenius error",
           title=f"002 Thm 11.16 / 11.30 ({params['activation']}, d = {params['d_in']}, weights {params['weights']})")
    ax.legend(fontsize=6)
    return fig


def _stable_slope(params: Mapping[str, Any]) -> float:
    """The heavy-tailed control's slope: K̂_n's sums of n terms with tail index df/2 < 1 grow like n^(2/df), so the
    relative error grows like n^(2/df − 1); with df ≥ 2 the variance is finite and the theory's −1/2 holds."""
    return 2.0 / params["df"] - 1.0 if params["df"] < 2 else -0.5


_KERNEL_ALTS = ((0.0, "no convergence: the empirical kernel does not approach the chapter's limit (the central limit "
                      "fails, e.g. infinite-variance weights)"),
                (-1.0, "a deterministic error: only the O(1/n) terms (K̂_n/n's bias terms under LeCun) with no "
                       "O(n^-1/2) fluctuation"))

register(Claim(
    id="wide/ntk-limit",
    source="002 Thm 11.16, 11.30, Examples 11.17, 11.31",
    statement="the empirical tangent kernel of a one-hidden-layer net (11.5.1) converges to the analytic kernel: "
              "K̂_n → K^NTK (NTK initialization (11.6.1)–(11.6.2)), K̂_n / n → K^LC (LeCun initialization (11.5.3)), "
              "with the O(n^-1/2) fluctuation of a law of large numbers over the n hidden units",
    measured="per initialization, the slope of log ‖K̂_n/n − K^LC‖_F/‖K^LC‖_F (LeCun) and of log ‖K̂_n − "
             "K^NTK‖_F/‖K^NTK‖_F (NTK) vs log n, on n_points fixed inputs on the unit sphere (geometric mean over "
             "seeds; the "
             "limits from Examples 11.17 and 11.31)",
    params=P.width_axis(((64, 256, 1024), (1024, 4096, 16384, 65536), (1024, 4096, 16384, 65536, 262144)))
    + (Param("seeds", 3, 10, 20, help="independent nets per width and initialization", kind="int", low=2, high=999),
       _init_param(),
       Param("n_points", 6, 8, 8, help="fixed inputs on the unit sphere (the chapter's m)", kind="int", low=1))
    + _common(),
    measure=measure_ntk_limit,
    checks=tuple(per_init(init, checks.power_law_slope(
        f"slope-{init}", "rel_err", x="width", expected=-0.5, tolerance=tol, alternatives=_KERNEL_ALTS,
        average="geometric", reason=_slope_reason())) for init, tol in (("lecun", TOL["ntk-limit/lecun"]),
                                                                        ("ntk", TOL["ntk-limit/ntk"]))),
    controls=(Control("heavy-tailed", {"weights": "student-t"},
                      "Student-t(df) initial weights with df < 2 have infinite variance (outside Assumption 11.14): "
                      "v_i² and σ(uᵢᵀx)² have tail index df/2 < 1, so the sums over the n units in K̂_n grow like "
                      "n^(2/df) (the generalized central limit) instead of n, the law of large numbers behind Thm "
                      "11.16 and 11.30 fails, and the kernel's relative error grows like n^(2/df − 1) (n^(1/3) at "
                      "df = 1.5) instead of falling like n^-1/2",
                      fails=("slope-lecun", "slope-ntk"),
                      lands={f"slope-{init}": Landing(_stable_slope, LANDS[f"ntk-limit/heavy-tailed/{init}"],
                                                            checks.LANDING_BAND)
                             for init in INITS}),),
    figure=_kernel_figure,
    notes="K̂_n/n under LeCun carries the O(1/n) terms (1 + xᵀz)·Σv_i²σ'σ'/n + 1/n of Thm 11.16's proof; compared "
          "with the limit K^LC they give a deterministic error ∝ 1/n (the alternative −1), which the widths keep "
          "below the n^-1/2 fluctuation (the local slopes are in the method text). Under NTK initialization "
          "E K̂_n = K^NTK at every n.",
))


def _gd_params(widths, seeds, steps, data="shared") -> tuple[Param, ...]:
    return (P.width_axis(widths)
            + (Param("seeds", *seeds, help="independent nets per width and initialization (trained together)",
                     kind="int", low=1, high=999),
               _init_param(),
               Param("n_points", 4, 6, 6, help="training inputs m on the unit sphere, targets y ~ N(0, 1)",
                     kind="int", low=1),
               Param("n_test", 8, 32, 64, help="test inputs uniform in the unit ball (‖x‖ ≤ 1, Prop. 11.26)",
                     kind="int", low=1),
               Param("lr_scale", 0.8, 0.8, 0.8, help="step h = lr_scale/λ_max(K̂_n(X, X)), the members' own "
                     "tangent kernel (LeCun: ∝ 1/n as Thm 11.23; NTK: O(1); mean-field: ∝ n)", kind="float", low=0,
                     low_open=True, high=1),
               Param("steps", *steps, help="GD steps (the sup over k runs over all of them)", kind="int", low=1),
               Param("threshold", 1e-2, 1e-3, 1e-4, help="precondition: the final training loss ‖Φ(X, w) − y‖² is "
                     "below this (Thm 11.23: the loss goes to ~0)", kind="float", low=0, low_open=True),
               Param("scaling", "lazy", "lazy", "lazy", kind="str", choices=SCALINGS,
                     help="lazy (the chapter's initializations) or mean_field (output 1/n, step ∝ n: the control)"),
               Param("data", data, data, data, kind="str", choices=DATA,
                     help="training set: shared (one per reseed) or per_member (each member its own, the same at "
                          "every width: a width's average runs over the data sets)"))
            # erf: Thm 11.23 and Prop. 11.25–11.26 assume Lip(σ') ≤ R (Assumption 11.18 (a)), which ReLU breaks; with
            # ReLU the mean-field control's nets also lose their units (a constant output) in a fifth of the reseeds
            + _common(d_in=(16, 16, 16), activation=("erf",) * 3, weights=False))


def _movement_figure(data: pd.DataFrame, meas, params, expects):
    fig, axes = subplots(len(params["init"]), width=4.6)
    for ax, init in zip(axes, params["init"], strict=True):
        d = data[data["init"] == init]
        for c, label in (("movement", "total"), ("move_U", "$U$"), ("move_b", "$b$"),
                         ("move_v", "$v$"), ("move_c", "$c$")):
            g = d.groupby("width")[c].mean()
            if (g > 0).all():
                ax.plot(g.index, g, marker="o", ms=3, label=label)
        m = meas.get(f"slope-{init}")
        if m is not None and m.line is not None:
            measured_line(ax, m, label=f"fit $n^{{{m.value:.2f}}}$")
            theory = -0.5 if init == "lecun" else 0.0
            _reference(ax, m.line, theory, m.line.x_lo, color="grey", style=":",
                       label=f"theory $n^{{{theory:g}}}$" + (" (a bound)" if init == "ntk" else ""))
            _reference(ax, m.line, 0.5, m.line.x_lo, color="lightgrey", style="-.", label="mean-field $n^{1/2}$")
        ax.set(xscale="log", yscale="log", xlabel="width $n$", ylabel=r"$\sup_k \Vert w_k - w_0\Vert$ (per layer)",
               title=f"{init} ({params['scaling']})")
        ax.legend(fontsize=6)
    return fig


_MF_MOVE = ("the mean-field scaling (output 1/n, step ∝ n): every neuron moves by O(1), so the total movement grows "
            "like n^(1/2)")
# the mean-field control's own step and step count: its nets start on a plateau (output O(n^-1/2)) and need more
# steps than the lazy ones at a smaller step (2hλ_max(K̂_n) = 0.6: the kernel grows as the features move)
_MEAN_FIELD = {"scaling": "mean_field", "lr_scale": 0.3, "steps": 2000}

_GD_WIDTHS = ((64, 256, 1024), (512, 1024, 2048, 4096), (512, 1024, 4096, 16384))
_MF_LANDING = checks.LANDING_BAND

register(Claim(
    id="wide/lazy-movement",
    source="002 Thm 11.23, §11.6",
    statement="under GD with step h ~ 1/n (LeCun initialization, Thm 11.23) the loss goes to 0 while the parameters "
              "stay within O(n^-1/2) of their initialization, and GD mostly moves the output layer v (§11.6: the "
              "other layers' share of the movement falls like 1/n); under NTK initialization (step O(1)) each "
              "parameter moves O(n^-1/2), so the total movement stays O(1) as n grows",
    measured="slope of log sup_k ‖w_k − w_0‖ vs log n under LeCun (expected −1/2) and under NTK initialization "
             "(a bound: "
             "≤ 0); slope of log of the hidden layers' share (‖ΔU‖² + ‖Δb‖² + ‖Δc‖²)/‖Δw‖² vs log n under LeCun "
             "(expected −1); the per-layer movements (U, b, v, c) in the data and the figure",
    params=_gd_params(_GD_WIDTHS, (2, 8, 20), (300, 800, 2000)),
    measure=measure_gd,
    checks=(per_init("lecun", checks.power_law_slope(
                "slope-lecun", "movement", x="width", expected=-0.5, tolerance=TOL["lazy-movement/lecun"],
                alternatives=((0.0, "not lazy at the chapter's scale: an O(1) movement"), (0.5, _MF_MOVE)),
                reason=_slope_reason())),
            per_init("ntk", checks.power_law_slope(
                "slope-ntk", "movement", x="width", expected=0.0, tolerance=TOL["lazy-movement/ntk"], mode="below",
                alternatives=((0.5, _MF_MOVE),),
                reason=_slope_reason("A bound: the movement is O(1) (it may still fall at these "
                                     "widths, where the narrowest nets are the least lazy)"))),
            per_init("lecun", checks.power_law_slope(
                "hidden-share", "hidden_share", x="width", expected=-1.0,
                tolerance=TOL["lazy-movement/hidden-share"],
                alternatives=((0.0, "GD moves the hidden layer as much as the output layer at every width (an "
                                    "O(1) share, as under NTK initialization)"),),
                reason=_slope_reason("002 §11.6: under LeCun scaling ∇_vΦ is O(n) against O(1) "
                       "for U, b, c, so the hidden layers' share of K̂_n(X, X), and of the movement, is O(1/n)"))),
            checks.converged()),
    controls=(Control("mean-field", _MEAN_FIELD,
                      "mean-field scaling (output 1/n, weights and output bias; U, v ~ N(0, 1); step ∝ n): the "
                      "function-space dynamics are the same but each neuron moves by O(1), so ‖w_k − w_0‖ grows "
                      "like n^(1/2) and the hidden layer carries an O(1) share of it",
                      fails=("slope-lecun", "slope-ntk", "hidden-share"),
                      lands={"slope-lecun": Landing(0.5, LANDS["lazy-movement/mean-field/slope-lecun"], _MF_LANDING),
                             "slope-ntk": Landing(0.5, LANDS["lazy-movement/mean-field/slope-ntk"], _MF_LANDING),
                             "hidden-share": Landing(0.0, LANDS["lazy-movement/mean-field/hidden-share"],
                                                     _MF_LANDING)}),),
    figure=_movement_figure,
    notes="Under NTK initialization the step is O(1) and the absolute movement ‖w_k − w_0‖ is O(1) (n(d + 2) "
          "parameters moving O(n^-1/2) each; relative to ‖w_0‖ ~ √n it falls like n^-1/2 by arithmetic, so the "
          "assertion is the bound on the absolute movement, which the mean-field control breaks). Under LeCun the "
          "movement is ≈ √(rᵀK̂_n(X, X)⁻¹r) with K̂_n = nK^LC + O(1): the O(1) terms (the hidden layers' share) "
          "bend the slope at the smallest widths, which is why the ci widths start at 512; what is left of it is the "
          "bias the calibration record reports. Under the mean-field "
          "control both initializations are the same mean-field net (the label only names the check).",
    in_tests=False,
))


def _gap_figure(data: pd.DataFrame, meas, params, expects):
    fig, (ax,) = subplots(1, width=5.0)
    for init, marker in zip(params["init"], "os", strict=False):
        d = data[data["init"] == init]
        g = np.log(d["gap"]).groupby(d["width"])
        gm, se = np.exp(g.mean()), g.std() / np.sqrt(g.count())  # the geometric mean and its SE in log space
        ax.errorbar(gm.index, gm, yerr=(gm * (1 - np.exp(-se)), gm * (np.exp(se) - 1)), marker=marker, ls="",
                    ms=4, capsize=2, label=f"{init}: geometric mean over {params['seeds']} members (± 1 SE)")
        m = meas.get(f"slope-{init}")
        if m is not None and m.line is not None:
            measured_line(ax, m, label=f"fit $n^{{{m.value:.2f}}}$ ({init})", color="C0" if init == "lecun" else "C1")
            mid = math.sqrt(m.line.x_lo * m.line.x_hi)
            _reference(ax, m.line, -0.5, mid, label=None, color="grey", style=":")
            _reference(ax, m.line, 0.0, mid, label=None, color="lightgrey", style="-.")
    ax.plot([], [], ":", color="grey", label="Prop. 11.26's bound $n^{-1/2}$")
    ax.plot([], [], "-.", color="lightgrey", label="not lazy: $n^0$")
    ax.set(xscale="log", yscale="log", xlabel="width $n$",
           ylabel=r"$\sup_k \max_{\Vert x\Vert\leq 1} |\Phi(x, w_k) - \Phi_{\rm lin}(x, p_k)|$",
           title=f"002 Prop. 11.26 ({params['scaling']}, {params['activation']}, data {params['data']})")
    ax.legend(fontsize=6)
    return fig


# from 256: the per-member slope's spread falls with the range of log n (the gap is n^p times an O(1) random amplitude
# of ~35 % spread per member); 2000 steps: under NTK initialization (step O(1)) one data set in ten of 6 points has a
# λ_min slow enough to leave the loss above 1e-3 at 1200 steps (1e-3.9 at 1600, measured on 21 reseeds); 16 members at
# ci: with 8 the LeCun slope's spread over reseeds was 0.104 (K = 10), whose noise band reaches within 1.9 SD of the
# not-lazy alternative 0 (power 97 %); the control keeps 8 (its slope is 0, far from the bound)
_GAP_WIDTHS = ((64, 256, 1024), (256, 512, 1024, 2048, 4096), (256, 1024, 4096, 16384))
_NOT_LAZY = ((0.0, "not lazy: the net leaves its linearization by O(1) at every width (the mean-field scaling: the "
                   "features move by O(1))"),)

register(Claim(
    id="wide/linearization-gap",
    source="002 Prop. 11.25, 11.26",
    statement="the net and its linearization at w_0, trained by the same GD (Thm 11.23's setting), stay within "
              "O(n^-1/2) of each other: sup over steps k and inputs ‖x‖ ≤ 1 of |Φ(x, w_k) − Φ_lin(x, p_k)| is "
              "O(n^-1/2)",
    measured="per initialization, the slope of log sup_k max_x |Φ(x, w_k) − Φ_lin(x, p_k)| vs log n (x: the training "
             "inputs and n_test inputs uniform in the unit ball; geometric mean over the members, each with its own "
             "training set), asserted as Prop. 11.26's upper bound n^-1/2",
    params=_gd_params(_GAP_WIDTHS, (2, 16, 32), (300, 2000, 3000), data="per_member"),
    measure=measure_gd,
    checks=tuple(per_init(init, checks.power_law_slope(
        f"slope-{init}", "gap", x="width", expected=-0.5, tolerance=TOL[f"linearization-gap/{init}"], mode="below",
        alternatives=_NOT_LAZY, average="geometric",
        reason=_slope_reason("Prop. 11.26 is a bound: a faster decay passes (the measured exponent is in the "
                             "record; the notes say why it is steeper)")))
        for init in INITS) + (checks.converged(),),
    controls=(Control("mean-field", {**_MEAN_FIELD, "seeds": 8},
                      "the mean-field scaling (output 1/n, step ∝ n; U, v ~ N(0, 1)): the features move by O(1), so "
                      "the net leaves its linearization by O(1) at every width and the gap does not fall (slope 0)",
                      fails=("slope-lecun", "slope-ntk"),
                      lands={f"slope-{init}": Landing(0.0, LANDS[f"linearization-gap/mean-field/{init}"],
                                                      _MF_LANDING) for init in INITS}),),
    figure=_gap_figure,
    notes="Prop. 11.26 is an upper bound, and with a smooth activation (erf, as Assumption 11.18 (a) asks) the gap "
          "falls faster. Under NTK initialization the gap is, to leading order, the second-order Taylor term of Φ in "
          "the movement, n^-1/2 Σ_i [Δv_i σ'(·)ΔU_i x + ½ v_i σ''(·)(ΔU_i x)²] with every Δ of size n^-1/2; each "
          "unit's term carries an odd power of its own v_i (ΔU_i ∝ v_i), so the sum over the units is centred, "
          "O(n^-1/2) rather than O(1), and the gap is O(1/n) (the tangent kernel changes by O(1/n) during training: "
          "Dyer & Gur-Ari, 'Asymptotics of wide networks from Feynman diagrams', ICLR 2020). Under LeCun with h ∝ 1/n "
          "the hidden layer's step is d/n of the output layer's in the NTK coordinates (§11.6), and the gap falls "
          "faster again. The check asserts what the chapter states, the bound, against the alternative that the "
          "gap does not fall. The gap of one net is n^p times a random amplitude of about 35 % spread that depends "
          "on its training set, so one data set per reseed left the slope's spread between reseeds at ±0.15 "
          "whatever the number of members: each member draws its own training set (the same at every width), "
          "a width's geometric mean runs over the members' sets, and the widths start at 256 for a longer lever "
          "arm.",
    in_tests=False,
))


def _fig113(point_like: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """002 Fig. 11.3: ``fig_draws`` arctan nets (11.5.1) of width 250 with initialization (11.5.11) (U ~ N(0, 3/d),
    v ~ N(0, 3/n), b, c ~ N(0, 2); d = 1) before and after 1000 GD steps of size h = 1/n on m = 3 points, on
    ½‖Φ(X, w) − y‖² (with the chapter's ‖·‖² a step 1/n diverges at this initialization's variances)."""
    n, draws, steps = 250, point_like["fig_draws"], point_like["fig_steps"]
    g = torch.Generator().manual_seed(2024 + point_like["seed_offset"])
    w = {"U": torch.randn(draws, n, 1, generator=g, dtype=torch.float64) * math.sqrt(3.0),
         "b": torch.randn(draws, n, generator=g, dtype=torch.float64) * math.sqrt(2.0),
         "v": torch.randn(draws, n, generator=g, dtype=torch.float64) * math.sqrt(3.0 / n),
         "c": torch.randn(draws, generator=g, dtype=torch.float64) * math.sqrt(2.0)}
    xs = torch.linspace(-3, 3, 121, dtype=torch.float64)[:, None]
    X = torch.tensor([[-1.5], [0.3], [1.8]], dtype=torch.float64)
    y = torch.tensor([0.8, -0.6, 0.9], dtype=torch.float64)
    before = forward(w, xs, (1.0, 1.0, 1.0), "arctan")
    w = {k: t.clone().requires_grad_(True) for k, t in w.items()}
    for _ in range(steps):
        loss = 0.5 * ((forward(w, X, (1.0, 1.0, 1.0), "arctan") - y) ** 2).sum()  # ½‖·‖²: with ‖·‖² h = 1/n diverges
        grads = torch.autograd.grad(loss, list(w.values()))
        with torch.no_grad():
            for t, gr in zip(w.values(), grads, strict=True):
                t -= gr / n
    with torch.no_grad():
        after = forward(w, xs, (1.0, 1.0, 1.0), "arctan")
    return {"x": xs[:, 0].numpy(), "before": before.numpy(), "after": after.detach().numpy(), "X": X[:, 0].numpy(),
            "y": y.numpy()}


def _gp_figure(data: pd.DataFrame, meas, params, expects):
    fig, axes = subplots(4, width=4.0)
    ax = axes[0]
    for D, g in data.groupby("draws"):
        gg = g.groupby("width")["cov_err"].mean()
        ax.plot(gg.index, gg, marker="o", ms=3, label=f"D = {D} draws")
    ax.set(xscale="log", yscale="log", xlabel="width $n$", ylabel=r"$\Vert\hat C - c\Vert_F/\Vert c\Vert_F$",
           title="covariance error vs width (Prop. 11.28)")
    ax.legend(fontsize=6)
    ax = axes[1]
    big = data[data["width"] == data["width"].max()]
    g = big.groupby("draws")["cov_err"]
    ax.errorbar(g.mean().index, g.mean(), yerr=g.std(), marker="o", ls="", capsize=2, label="measured")
    m = meas.get("cov-slope")
    if m is not None:
        measured_line(ax, m, label=f"fit $D^{{{m.value:.2f}}}$ (theory $D^{{-1/2}}$; alternative $D^0$)")
    ax.set(xscale="log", yscale="log", xlabel="draws $D$", ylabel="covariance error", title=f"n = {big['width'].max()}")
    ax.legend(fontsize=6)
    ax = axes[2]
    k = data.groupby("width")["abs_kurtosis"].mean()
    ax.plot(k.index, k, "o", label="|excess kurtosis|")
    ax.plot(k.index, 15.0 / k.index.to_numpy(), ":", color="grey", label="theory $15/n$ (ReLU)")
    m = meas.get("kurt-slope")
    if m is not None:
        measured_line(ax, m, label=f"fit $n^{{{m.value:.2f}}}$")
    ax.set(xscale="log", yscale="log", xlabel="width $n$", ylabel="excess kurtosis of the marginals")
    ax.legend(fontsize=6)
    ax = axes[3]
    fig113 = params.get("_fig113")
    if fig113 is None and params.get("fig_draws", 0) > 0:
        fig113 = _fig113(params)
    if fig113 is not None:
        x = fig113["x"]
        for curve in fig113["before"]:
            ax.plot(x, curve, color="C0", alpha=0.15, lw=0.6)
        for curve in fig113["after"]:
            ax.plot(x, curve + 0.0, color="C1", alpha=0.15, lw=0.6)
        ax.plot(x, fig113["before"].mean(0), "--", color="blue", label="mean at initialization")
        ax.plot(x, fig113["after"].mean(0), "--", color="darkorange", label="mean after training")
        ax.plot(fig113["X"], fig113["y"], "o", color="red", label="data (m = 3)")
        ax.set(xlabel="x", ylabel=r"$\Phi(x, w)$", title=f"Fig. 11.3: {len(fig113['before'])} nets, arctan, n = 250, "
                                                     f"{params['fig_steps']} steps h = 1/n")
        ax.legend(fontsize=6)
    return fig


def _kurt_rows(d: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    return d[(d["draws"] == d["draws"].max()) & (d["width"] <= params["kurt_width"])]


def _cov_rows(d: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    return d[d["width"] == d["width"].max()]


P_FLOOR = 1e-300  # p-values below this (scipy returns 0.0) are reported as 1e-300


def _kurtosis_log10_p(_value: Any, params: Mapping[str, Any]) -> float:
    """log10 of normaltest's p-value for marginals with the excess kurtosis 15/kurt_width of a ReLU net of width
    kurt_width (the alternative 'not Gaussian at large width'): K² ≈ 2 + z², z = (15/kurt_width)/√(24/D), and the
    χ²(2) tail e^(−K²/2)."""
    z2 = (15.0 / params["kurt_width"]) ** 2 * params["draws"] / 24.0
    return -(2.0 + z2) / (2.0 * math.log(10.0))


def _p_at(which: str):
    def value(d: pd.DataFrame, params: Mapping[str, Any]) -> Measurement:
        full = d[d["draws"] == d["draws"].max()]
        at = full[full["width"] == (full["width"].max() if which == "wide" else full["width"].min())]
        col = "p_min" if which == "wide" else "p_max"
        pv = float(at[col].min() if which == "wide" else at[col].max())
        return Measurement(math.log10(max(pv, P_FLOOR)),
                           method=f"log10 of the {'smallest' if which == 'wide' else 'largest'} normaltest p-value "
                                  f"({pv:.3g}; floored at {P_FLOOR:g}) over {params['n_points']} inputs × {len(at)} "
                                  f"seeds at n = {int(at['width'].iloc[0])} (D = {int(full['draws'].max())}; "
                                  f"K² = {float(at['k2'].median()):.3g} median)")

    return value


register(Claim(
    id="wide/gp-init",
    source="002 Prop. 11.28, Fig. 11.3",
    statement="at initialization the outputs of LeCun nets (11.5.3) on a finite set of inputs tend to a centered "
              "Gaussian with the NNGP covariance c(x, z) = E[σ(uᵀx)σ(uᵀz)]: the empirical covariance over D draws "
              "approaches c like D^-1/2 and the marginals' excess kurtosis falls like 1/n (the CLT's fourth "
              "cumulant); a normality test passes at large width and fails at width 1–2",
    measured="slope of log ‖Ĉ_D − c‖_F/‖c‖_F vs log D at the largest width; slope of log |excess kurtosis| vs log n "
             "(n ≤ kurt_width); log10 of scipy.stats.normaltest's smallest p-value over the inputs at the largest "
             "width and of its largest p-value at the smallest; Fig. 11.3 redrawn (arctan, (11.5.11))",
    params=P.width_axis(((1, 2, 8, 64), (1, 2, 4, 8, 16, 32, 64, 1024), (1, 2, 4, 8, 16, 32, 64, 256, 4096)))
    + (Param("seeds", 2, 10, 10, help="independent batches of draws per width", kind="int", low=2, high=999),
       Param("draws", 4000, 16000, 64000, help="independent nets per batch (the covariance is also measured after "
             "draws/8, /4, /2)", kind="int", low=16),
       Param("n_points", 4, 4, 6, help="inputs on the unit sphere", kind="int", low=1),
       Param("kurt_width", 64, 64, 64, help="the kurtosis slope is fitted over n ≤ this (above, 15/n sinks into "
             "the estimator's noise √(24/D))", kind="int", low=2, analysis=True),
       Param("fig_draws", 10, 80, 80, help="Fig. 11.3's number of nets (0: no panel)", kind="int", low=0,
             analysis=True),
       Param("fig_steps", 100, 1000, 1000, help="Fig. 11.3's GD steps", kind="int", low=1, analysis=True))
    + _common(d_in=(3, 3, 3)),
    measure=measure_gp,
    checks=(checks.power_law_slope(
                "cov-slope", "cov_err", x="draws", rows=_cov_rows, expected=-0.5, tolerance=TOL["gp-init/cov"],
                average="geometric",
                alternatives=((0.0, "the outputs' covariance is not c(x, z) (or has none): the error does not fall "
                                    "with the draws"),),
                reason=_slope_reason("(x = the number of draws D; the covariance is exact at "
                                     "every width for one hidden layer)")),
            checks.power_law_slope(
                "kurt-slope", "abs_kurtosis", x="width", rows=_kurt_rows, expected=-1.0, tolerance=TOL["gp-init/kurt"],
                alternatives=((0.0, "no Gaussian limit: the marginals' shape does not change with the width"),
                              (-0.5, "a Berry–Esseen-like rate n^-1/2 for a symmetric sum, whose fourth cumulant "
                                     "is κ4/n")),
                reason=_slope_reason()),
            checks.statistic(
                "normal-wide", _p_at("wide"), expected=-4.0, tolerance=0.0, mode="above",
                alternatives=((_kurtosis_log10_p, "not Gaussian at large width: the marginals keep the excess kurtosis "
                                                  "15/kurt_width of a narrower net"),),
                reason="log10 p: the smallest of n_points × seeds p-values under H0 (Gaussian) is ≥ 1e-4 with "
                       "probability ≥ 1 − 1e-4·n_points·seeds (Bonferroni; 99.8 % at ci); the residual kurtosis 15/n "
                       "at the largest width adds (15/n)²·D/24 to K² (0.14 at ci)"),
            checks.statistic(
                "normal-narrow", _p_at("narrow"), expected=-6.0, tolerance=0.0, mode="below",
                alternatives=((math.log10(0.5), "Gaussian at every width: the p-values are uniform"),),
                reason="log10 p: at width 1 a ReLU net is v·relu(uᵀx), half its mass at 0 (excess kurtosis 15): "
                       "normaltest rejects with p ≪ 1e-6 at these D")),
    controls=(Control("heavy-tailed", {"weights": "student-t"},
                      "Student-t(df < 2) weights: infinite variance, so the outputs have no covariance and no "
                      "Gaussian limit (Prop. 11.28's CLT fails; the generalized one gives a stable law): Φ² has tail "
                      "index df/2 < 1, so Ĉ_D grows like D^(2/df − 1) and its error with it, the marginals' shape "
                      "does not change with n (kurtosis slope 0), and they fail the normality test at every width",
                      fails=("cov-slope", "kurt-slope", "normal-wide"),
                      lands={"cov-slope": Landing(_stable_slope, LANDS["gp-init/heavy-tailed/cov"],
                                                  checks.LANDING_BAND),
                             "kurt-slope": Landing(0.0, LANDS["gp-init/heavy-tailed/kurt"], checks.LANDING_BAND)}),),
    figure=_gp_figure,
    notes="The covariance of a one-hidden-layer LeCun net's outputs is c(x, z) at every width (Prop. 11.28's proof: "
          "Φ = n^-1/2 Σ Z_i with E Z_i Z_iᵀ = C); what the width does is the shape: the excess kurtosis of the ReLU "
          "net's marginals is exactly 15/n (E ṽ⁴ E σ⁴ / (E σ²)² − 3 = 3·6 − 3 over n units).",
    in_tests=False,
))


def _theory_rate(params: Mapping[str, Any], eig: float | None = None) -> float:
    """−log(1 − 2hλ_min) with 2h = lr_scale/λ_max = lr_scale: the slowest eigendirection's rate per step."""
    return -math.log(1.0 - params["lr_scale"] * (params["eig_min"] if eig is None else eig))


def _rate(d: pd.DataFrame, params: Mapping[str, Any]) -> Measurement:
    r = d["rate"] / _theory_rate(params)
    return checks.seed_mean(r, f"fitted rate / −log(1 − 2hλ_min) of the declared design "
                               f"(λ_min = {params['eig_min']:g}),"
                               f" mean over {len(r)} seeds; rates {', '.join(f'{v:.5f}' for v in d['rate'])}")


def _lsq_figure(data: pd.DataFrame, meas, params, expects):
    fig, (ax,) = subplots(1, width=5.0)
    seed = int(data["seed"].iloc[0])
    pt = {**params, "seeds": 1, "seed_offset": params["seed_offset"]}
    A = design(params["n_points"], params["d_in"], params["eig_min"], params["eig_shift"],
               params["seed_offset"] * SEED_STRIDE + seed, params["eig_gap"])
    g = torch.Generator().manual_seed(params["seed_offset"] * SEED_STRIDE + seed + 17)
    y, w0 = torch.randn(A.shape[0], generator=g, dtype=torch.float64), torch.randn(A.shape[1], generator=g,
                                                                                    dtype=torch.float64)
    pinv = torch.linalg.pinv(A)
    w_lim = pinv @ y + w0 - pinv @ (A @ w0)
    h = params["lr_scale"] / 2.0 / float(torch.linalg.matrix_norm(A, ord=2)) ** 2
    w, dist = w0.clone(), []
    for _ in range(pt["steps"]):
        w = w - 2 * h * A.T @ (A @ w - y)
        dist.append(float((w - w_lim).norm()))
    k = np.arange(1, len(dist) + 1)
    ax.plot(k, dist, label=r"$\Vert w_k - (w_* + \hat w_0)\Vert$")
    for eig, style, label in ((params["eig_min"] * params["eig_shift"], ":", r"$(1 - 2h\lambda_{\min})^k$"),
                              (1.0, "-.", r"$(1 - 2h\lambda_{\max})^k$ (alternative)")):
        ax.plot(k, dist[len(dist) // 2] * (1 - params["lr_scale"] * eig) ** (k - len(dist) // 2), style, label=label)
    ax.set(yscale="log", ylim=(1e-16, 10 * max(dist)), xlabel="GD step $k$", ylabel="distance to the Thm 11.3 limit",
           title="002 Thm 11.3")
    ax.legend(fontsize=6)
    return fig


register(Claim(
    id="wide/lsq-projection",
    source="002 Prop. 11.2, Thm 11.3, Remark 11.4, Example 11.5",
    statement="GD on linear least squares from w0 converges to the min-norm solution plus the component of w0 "
              "orthogonal to span{x_i} (Thm 11.3), and kernel least squares in feature space to Remark 11.4's "
              "K(x, X)K(X, X)⁻¹y + φ(x)ᵀ(I − P)w0; the distance falls like (1 − 2hλ_min)^k, the slowest "
              "eigendirection's rate",
    measured="max over seeds of ‖w_K − (A⁺y + (I − A⁺A)w0)‖/‖·‖ and of the kernel prediction's relative error "
             "(identities: round-off and the GD tolerance); the fitted per-step rate of log ‖w_k − w_lim‖ over the "
             "range where it lies between 1e-6 and 1e-12 of its start, relative to −log(1 − 2hλ_min) of the declared "
             "design (mean over seeds)",
    params=(Param("seeds", 2, 10, 20, help="random designs, targets and w0", kind="int", low=1, high=999),
            Param("n_points", 10, 20, 40, help="data points m (rows of A; m < d)", kind="int", low=1),
            Param("d_in", 30, 50, 100, help="dimension d of w (d > m: the minimum-norm solution is not unique "
                  "without it)", kind="int", low=2),
            Param("eig_min", 0.05, 0.05, 0.05, help="smallest non-zero eigenvalue of AAᵀ (λ_max = 1) the claim "
                  "declares", kind="float", low=0, low_open=True, high=1),
            Param("eig_shift", 1.0, 1.0, 1.0, help="the design's smallest eigenvalue is eig_min × eig_shift (the "
                  "control moves it)", kind="float", low=0, low_open=True),
            Param("eig_gap", 4.0, 4.0, 4.0, help="the other eigenvalues of AAᵀ are geometric from eig_gap × eig_min "
                  "to 1 (> eig_shift: the smallest stays isolated, so its rate is the distance's within float64)",
                  kind="float", low=1, low_open=True),
            Param("lr_scale", 0.5, 0.5, 0.5, help="h = lr_scale/(2 s_max(A)²) (Thm 11.3: lr_scale < 1)",
                  kind="float", low=0, low_open=True, high=1),
            Param("steps", 800, 1400, 2000, help="GD steps K", kind="int", low=10)),
    measure=measure_lsq,
    checks=(checks.bound("limit-error", "limit_err", tolerance=1e-9, role="identity",
                         reason="Thm 11.3: exact in the limit; after K steps the distance is (1 − 2hλ_min)^K ≈ "
                                "0.975^1400 ≈ 1e-15.5 relative, i.e. round-off (measured at ci: see the record)"),
            checks.bound("kernel-error", "kernel_err", tolerance=1e-9, role="identity",
                         reason="Remark 11.4 / Example 11.5: GD in feature space run until (1 − 2hλ_min)^k ≤ e^-40; "
                                "what is left is round-off"),
            checks.statistic("rate", _rate, expected=1.0, tolerance=TOL["lsq-projection/rate"],
                             alternatives=((lambda v, p: -math.log(1 - p["lr_scale"]) / _theory_rate(p),
                                            "the largest eigenvalue's rate (1 − 2hλ_max)^k: GD would not be limited "
                                            "by the slowest direction"),),
                             reason=_slope_reason(), spread="relative")),
    controls=(Control("moved-eigenvalue", {"eig_shift": 2.0},
                      "the design's smallest eigenvalue doubled: Thm 11.3's proof puts the rate at −log(1 − "
                      "2h·2λ_min), twice the declared design's, and the limit identities still hold",
                      fails=("rate",),
                      lands={"rate": Landing(lambda p: _theory_rate(p, p["eig_min"] * p["eig_shift"]) / _theory_rate(p),
                                             LANDS["lsq-projection/moved-eigenvalue"], checks.LANDING_BAND)}),),
    figure=_lsq_figure,
))
