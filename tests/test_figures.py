"""ntkbench.harness.figures: a figure's fitted line is the measurement's own, and a fit that did not happen draws
nothing."""

import math

import numpy as np
import pytest

from ntkbench.harness.figures import measured_line, render, subplots
from ntkbench.harness.registry import FittedLine, Measurement


def test_measured_line_draws_the_fit_and_skips_a_missing_one():
    _fig, (ax,) = subplots(1)
    fitted = Measurement(-0.5, line=FittedLine(amplitude=3.0, exponent=-0.5, x_lo=100.0, x_hi=1600.0))
    assert measured_line(ax, fitted, label="fit")
    (drawn,) = ax.get_lines()
    x, y = drawn.get_data()
    assert x[0] == pytest.approx(100.0) and x[-1] == pytest.approx(1600.0)
    np.testing.assert_allclose(y, 3.0 * x**-0.5, rtol=1e-12)
    assert not measured_line(ax, Measurement(math.nan, method="too few points"), label="none")  # e.g. invalid run
    assert len(ax.get_lines()) == 1


def test_measured_line_on_squared_axes_keeps_the_same_curve():
    _fig, (ax,) = subplots(1)
    sigma_fit = Measurement(4.0, line=FittedLine(amplitude=0.01, exponent=4.0, x_lo=2.0, x_hi=16.0))
    measured_line(ax, sigma_fit, x_power=2, label="fit")  # plotted against σ²: y = A (σ²)^(p/2)
    x, y = ax.get_lines()[0].get_data()
    assert x[0] == pytest.approx(4.0) and x[-1] == pytest.approx(256.0)
    np.testing.assert_allclose(y, 0.01 * np.sqrt(x) ** 4.0, rtol=1e-12)


def test_a_figure_of_a_run_whose_fit_failed_renders():
    def figure(data, meas, params, expects):
        fig, (ax,) = subplots(1)
        ax.plot([1, 2], [1, 2], "o")
        measured_line(ax, meas["slope"], label=f"fit m^{meas['slope'].value:.2f}")
        return fig

    png = render(figure, None, {"slope": Measurement(math.nan)}, {}, ())
    assert png[:4] == b"\x89PNG"


def test_figures_use_a_constrained_layout_and_are_made_in_one_place():
    """Every figure comes from figures.subplots, whose constrained layout keeps each panel's labels clear of the next
    (no figure is made elsewhere, and none switches to tight_layout afterwards)."""
    from pathlib import Path

    from matplotlib.layout_engine import ConstrainedLayoutEngine

    fig, _axes = subplots(3)
    assert isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
    package = Path(__file__).resolve().parents[1] / "ntkbench"
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "tight_layout" not in text, path
        assert path.name == "figures.py" or ("Figure(" not in text and "plt.subplots" not in text), path


@pytest.mark.parametrize(("lo", "hi"), [(0.3, 0.9), (1.5, 1.9), (15.0, 160.0), (2e-5, 3e-4), (1e-6, 1e2)])
def test_every_log_axis_gets_at_least_two_labelled_ticks(lo, hi):
    from ntkbench.harness.figures import readable_log_ticks

    fig, (ax,) = subplots(1)
    ax.plot([lo, hi], [lo, hi])
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi))
    readable_log_ticks(fig)
    fig.canvas.draw()
    for axis in (ax.xaxis, ax.yaxis):
        inside = [t for t in axis.get_major_ticks() if lo * (1 - 1e-9) <= t.get_loc() <= hi * (1 + 1e-9)]
        shown = [t.label1.get_text() for t in inside if t.label1.get_visible() and t.label1.get_text()]
        assert len(shown) >= 2, (lo, hi, shown)
        assert not [t.get_text() for t in axis.get_minorticklabels() if t.get_text()]


def test_log_tick_labels_are_plain_numbers_or_mathtext():
    from ntkbench.harness.figures import log_tick_label

    assert [log_tick_label(x) for x in (0.002, 0.5, 20.0, 5000.0)] == ["0.002", "0.5", "20", "5000"]
    assert log_tick_label(1e-5) == "$10^{-5}$" and log_tick_label(2e-5) == r"$2\times10^{-5}$"
    assert log_tick_label(0.0) == "" and log_tick_label(math.nan) == ""
