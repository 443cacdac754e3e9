"""Figures of the kernel-spectra experiments: eigenvalue histograms against limit densities.

Every figure is a ``matplotlib.figure.Figure`` in the style of :mod:`rmtjax.experiments.plotting`;
the run context writes it with ``save_figure``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jax.typing import ArrayLike
from matplotlib.figure import Figure

from rmtjax.experiments.plotting import COLORS, legend_outside, new_figure, styled
from rmtjax.spectra import LimitCurve

__all__ = ["spectrum_figure"]


@styled
def spectrum_figure(
    eigenvalues: ArrayLike,
    curve: LimitCurve,
    title: str,
    bins: int = 100,
    surrogate: Any = None,
) -> Figure:
    """Histogram of the eigenvalues (density scale) with the limit density as a curve.

    Two panels: the full range of the eigenvalues and of the limit's support on a logarithmic
    density axis (the NTK's long tail and any outliers stay visible next to its peak), and a
    linear zoom on the bulk, the limit's central mass between its 0.5% and 80% quantiles.

    Args:
      eigenvalues: ``(..., n)`` eigenvalues (pooled).
      curve: the limit law on a grid.
      title: figure title.
      bins: number of histogram bins per panel.
      surrogate: optional ``(..., n)`` eigenvalues of a matrix with the same limit (the NTK's
        surrogate, :func:`rmtjax.nets.ntk_surrogate`), drawn as a step outline.

    Returns:
      A ``matplotlib.figure.Figure``.
    """
    lam = np.ravel(np.asarray(eigenvalues))
    fig, axes = new_figure(1, 2, panel=(3.4, 2.7), extra_width=1.9)
    full, zoom = axes[0]
    lo = min(float(lam.min()), float(curve.x[0]))
    hi = max(float(lam.max()), float(curve.x[-1]))
    pad = 0.02 * (hi - lo)
    _histogram_panel(full, lam, curve, surrogate, (lo - pad, hi + pad), bins)
    full.set_yscale("log")
    floor = 0.3 / (lam.size * (hi - lo + 2 * pad) / bins)  # a third of one eigenvalue per bin
    full.set_ylim(bottom=floor)
    full.set_title("full range (log density)")
    q_lo, q_hi = np.interp([0.005, 0.8], curve.cdf / curve.mass, curve.x)
    pad = 0.1 * (q_hi - q_lo)
    _histogram_panel(zoom, lam, curve, surrogate, (q_lo - pad, q_hi + pad), bins)
    zoom.set_title("bulk (0.5%–80% quantiles of the limit)")
    legend_outside(zoom)
    fig.suptitle(title)
    return fig


def _histogram_panel(
    ax: Any,
    lam: np.ndarray,
    curve: LimitCurve,
    surrogate: Any,
    span: tuple[float, float],
    bins: int,
) -> None:
    """Eigenvalue histogram (and the surrogate's outline) on ``span`` with the limit density.

    Heights are densities of the whole sample, so panels over different spans agree.
    """
    width = (span[1] - span[0]) / bins
    samples = [(lam, dict(color=COLORS[0], alpha=0.6, label="eigenvalues"))]
    if surrogate is not None:
        style = dict(histtype="step", color=COLORS[2], label="surrogate q₋₁I + Σ q_l X_l X_lᵀ")
        samples.append((np.ravel(np.asarray(surrogate)), style))
    for values, style in samples:
        weights = np.full(values.shape, 1.0 / (values.size * width))
        ax.hist(values, bins=bins, range=span, weights=weights, **style)
    inside = (curve.x >= span[0]) & (curve.x <= span[1]) & (curve.density > 0)
    ax.plot(curve.x[inside], curve.density[inside], color=COLORS[1], label="limit density")
    ax.set_xlim(*span)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
