"""Figures for the claims (seaborn on matplotlib's non-interactive Agg backend), rendered to PNG bytes.

A claim's ``figure(data, measurements, params, expects)`` returns a matplotlib Figure; :func:`render` turns it into
PNG bytes for an atomic write. :func:`fitted_line` draws a fitted power law over its fit range.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402


def render(figure: Callable, data, measurements, params, expects) -> bytes:
    sns.set_theme(context="paper", style="whitegrid")
    fig = figure(data, measurements, params, expects)
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(fig)


def subplots(ncols: int = 1, width: float = 4.2, height: float = 3.4):
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def fitted_line(ax, x_range: Sequence[float], amplitude: float, exponent: float, *, label: str,
                color: str = "black", style: str = "--") -> None:
    """Draw y = amplitude · x^exponent over ``x_range`` (log axes)."""
    xs = np.geomspace(x_range[0], x_range[1], 50)
    ax.plot(xs, amplitude * xs**exponent, style, color=color, lw=1.2, label=label)
