"""Figures of the kernel-spectra experiments: eigenvalue histograms against limit densities.

Every figure is a ``matplotlib.figure.Figure`` built without pyplot (no global state); the run
context writes it with ``save_figure``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jax.typing import ArrayLike
from matplotlib.figure import Figure

from rmtjax.spectra import LimitCurve

__all__ = ["spectrum_figure"]


def spectrum_figure(
    eigenvalues: ArrayLike,
    curve: LimitCurve,
    title: str,
    bins: int = 100,
    surrogate: Any = None,
) -> Figure:
    """Histogram of the eigenvalues (density scale) with the limit density as a curve.

    Two panels: the whole limit support plus 10% of its width (eigenvalues beyond it are
    counted in the legend), and a zoom on the bulk, the limit's central mass between its 0.5%
    and 80% quantiles (the NTK puts most of its mass in a narrow peak next to a long tail).

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
    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    full, zoom = fig.subplots(1, 2)
    # The range covers the limit's support (plus 10%): far outliers would squash the bulk.
    lo = min(float(lam.min()), float(curve.x[0]))
    hi = min(float(lam.max()), float(curve.x[-1] + 0.1 * (curve.x[-1] - curve.x[0])))
    hi = max(hi, float(curve.x[-1]))
    beyond = int(np.sum(lam > hi))
    _histogram_panel(full, lam, curve, surrogate, (lo, hi), bins, beyond)
    q_lo, q_hi = np.interp([0.005, 0.8], curve.cdf / curve.mass, curve.x)
    pad = 0.1 * (q_hi - q_lo)
    _histogram_panel(zoom, lam, curve, surrogate, (q_lo - pad, q_hi + pad), bins, None)
    zoom.set_title("bulk (0.5%–80% quantiles of the limit)", fontsize=9)
    fig.suptitle(title, fontsize=9)
    return fig


def _histogram_panel(
    ax: Any,
    lam: np.ndarray,
    curve: LimitCurve,
    surrogate: Any,
    span: tuple[float, float],
    bins: int,
    beyond: int | None,
) -> None:
    """Eigenvalue histogram (and the surrogate's outline) on ``span`` with the limit density.

    Heights are densities of the whole sample, so panels over different spans agree.
    """
    width = (span[1] - span[0]) / bins
    label = "eigenvalues" + (f" ({beyond} beyond the plot)" if beyond else "")
    samples = [(lam, dict(color="tab:blue", alpha=0.7, label=label))]
    if surrogate is not None:
        style = dict(histtype="step", color="tab:green", label="surrogate q₋₁I + Σ q_l X_l X_lᵀ")
        samples.append((np.ravel(np.asarray(surrogate)), style))
    for values, style in samples:
        weights = np.full(values.shape, 1.0 / (values.size * width))
        ax.hist(values, bins=bins, range=span, weights=weights, **style)
    inside = (curve.x >= span[0]) & (curve.x <= span[1])
    ax.plot(curve.x[inside], curve.density[inside], color="tab:red", lw=1.2, label="limit density")
    ax.set_xlim(*span)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
