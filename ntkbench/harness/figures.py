"""Figures for the claims (seaborn styling on matplotlib's Agg canvas), rendered to PNG bytes.

A claim's ``figure(data, measurements, params, expects)`` returns a matplotlib Figure; :func:`render` turns it into
PNG bytes for an atomic write. :func:`subplots` makes the figure and its axes (with a constrained layout, so that
labels never run into the next panel), :func:`fitted_line` draws a fitted power law over its fit range, and
:func:`readable_log_ticks` (applied by :func:`render`) gives every log axis at least two labelled ticks. Labels use
matplotlib's mathtext for formulas (``$m^{-1/2}$``, ``$e_0$``).

Nothing here touches matplotlib's global state: figures are :class:`matplotlib.figure.Figure` objects drawn on
their own :class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`, never through pyplot, so importing ntkbench
or rendering a figure leaves the user's backend (``matplotlib.get_backend()``) as it was and needs no display;
seaborn's theme is applied inside :func:`matplotlib.rc_context` for the one render, so the user's rcParams come
back unchanged too.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter


def render(figure: Callable, data, measurements, params, expects) -> bytes:
    """``figure(data, measurements, params, expects)`` drawn in the seaborn "paper" theme, as PNG bytes (110 dpi)."""
    import matplotlib as mpl
    import seaborn as sns

    with mpl.rc_context():  # the theme holds for this render only (rc_context never resets the backend)
        sns.set_theme(context="paper", style="whitegrid")
        fig = figure(data, measurements, params, expects)
        readable_log_ticks(fig)
        try:
            if not isinstance(fig.canvas, FigureCanvasAgg):
                FigureCanvasAgg(fig)  # a figure made elsewhere: draw it on Agg all the same
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
            return buf.getvalue()
        finally:
            if getattr(fig.canvas, "manager", None) is not None:  # made through pyplot: release it there
                import matplotlib.pyplot as plt

                plt.close(fig)


def subplots(ncols: int = 1, width: float = 4.2, height: float = 3.4):
    """A figure with ``ncols`` axes side by side, on its own Agg canvas (not registered with pyplot), laid out by
    matplotlib's constrained layout (each panel's labels, titles and legend kept clear of its neighbours)."""
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)
    return fig, list(axes[0])


def log_tick_label(x: float, _pos=None) -> str:
    """A log axis's tick label: plain (``0.02``, ``500``) from 10⁻³ to 10⁴, else mathtext (``$2\\times10^{-5}$``)."""
    if not (x > 0 and math.isfinite(x)):
        return ""
    e = math.floor(math.log10(x) + 1e-9)
    if -3 <= e <= 3:
        return f"{x:.6g}"
    m = x / 10.0**e
    return f"$10^{{{e}}}$" if abs(m - 1) < 1e-6 else f"${m:.3g}\\times10^{{{e}}}$"


def readable_log_ticks(fig) -> None:
    """At least two labelled ticks on every log axis of ``fig`` whose ticks the figure left to matplotlib (its
    default one tick per decade labels a single tick on an axis that spans about a decade or less): under a decade,
    plain numbers at round linear steps; up to three decades, 1, 2 and 5 times the powers of ten; beyond, the
    default powers of ten. Minor ticks stay unlabelled."""
    for ax in fig.axes:
        for axis, limits in ((ax.xaxis, ax.get_xlim), (ax.yaxis, ax.get_ylim)):
            if axis.get_scale() != "log" or not isinstance(axis.get_major_locator(), LogLocator):
                continue  # linear, symlog, or ticks the figure chose itself
            lo, hi = sorted(limits())
            if not (lo > 0 and math.isfinite(hi) and hi > lo):
                continue
            decades = math.log10(hi / lo)
            if decades < 1:
                axis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
            elif decades <= 3:
                axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            else:
                continue
            axis.set_major_formatter(FuncFormatter(log_tick_label))
            axis.set_minor_formatter(NullFormatter())


def fitted_line(ax, x_range: Sequence[float], amplitude: float, exponent: float, *, label: str,
                color: str = "black", style: str = "--") -> None:
    """Draw y = amplitude · x^exponent over ``x_range`` (log axes)."""
    xs = np.geomspace(x_range[0], x_range[1], 50)
    ax.plot(xs, amplitude * xs**exponent, style, color=color, lw=1.2, label=label)


def hypotheses(ax, xs, start: float, exponent: float, *, theory: str, alternative: str) -> None:
    """The theory's power law y ∝ x^exponent and the alternative's flat line, both through (xs[0], ``start``):
    where the measured curve should go, and where it would go if the theory failed."""
    xs = np.asarray(xs, dtype=float)
    ax.plot(xs, start * (xs / xs[0]) ** exponent, "k--", lw=1, label=theory)
    ax.plot(xs, np.full_like(xs, start), "k:", lw=1, label=alternative)


def measured_line(ax, measurement, *, label: str, x_power: float = 1.0, **style) -> bool:
    """Draw a measurement's fitted power law (its ``line``) against x^``x_power`` (e.g. 2 for σ² axes); a fit that
    did not happen (no line: too few points, a failed precondition) draws nothing. Returns whether it drew."""
    line = getattr(measurement, "line", None)
    if line is None:
        return False
    fitted_line(ax, (line.x_lo**x_power, line.x_hi**x_power), line.amplitude, line.exponent / x_power, label=label,
                **style)
    return True
