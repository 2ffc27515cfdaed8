"""ntkbench.figures: a figure's fitted line is the measurement's own, and a fit that did not happen draws nothing."""

import math

import numpy as np
import pytest

from ntkbench.figures import measured_line, render, subplots
from ntkbench.registry import FittedLine, Measurement


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
