"""The figure style of every experiment and the helpers that keep figures readable in a paper.

One place for how figures look: font sizes, line widths and a colour cycle (:data:`STYLE`,
applied while a figure is built by :func:`styled`), panels with a constrained (tight) layout
(:func:`new_figure`), error bars from standard errors (:func:`errorbars`), legends outside the
data (:func:`legend_outside`), one x-range across the panels of a figure (:func:`share_xrange`),
log scales where the data span decades (:func:`log_scale_if_decades`) and writing a figure as
PNG, PDF or SVG (:func:`save_figure`, formats :data:`FORMATS`).

Figures are ``matplotlib.figure.Figure`` objects built without pyplot (no global state). An
experiment's figure function is decorated with :func:`styled` and returns the figure; the run
context writes it in the format the run asked for (``rmtjax run ... --format pdf``)::

    @styled
    def _figure(config, x, mean, stderr) -> Figure:
        fig, axes = new_figure(1, 2)
        errorbars(axes[0, 0], x, mean, stderr, label="GRAMPA")
        legend_outside(axes[0, -1])
        return fig
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import IO, Any, ParamSpec, TypeVar

import matplotlib as mpl
import numpy as np
from jax.typing import ArrayLike
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "COLORS",
    "FORMATS",
    "STYLE",
    "check_format",
    "errorbars",
    "legend_outside",
    "log_scale_if_decades",
    "new_figure",
    "save_figure",
    "share_xrange",
    "styled",
]

FORMATS = ("png", "pdf", "svg")
"""Figure file formats: ``png`` (raster, 200 dpi) and the vector formats ``pdf`` and ``svg``."""

COLORS = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
"""The colour cycle: Okabe–Ito's palette, distinguishable with colour-vision deficiencies."""

STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 7.5,
    "figure.titlesize": 10,
    "lines.linewidth": 1.4,
    "lines.markersize": 4,
    "axes.linewidth": 0.8,
    "axes.prop_cycle": mpl.cycler(color=COLORS),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "errorbar.capsize": 2,
    "legend.frameon": False,
    "pdf.fonttype": 42,  # TrueType in PDF: editable text, accepted by journals
    "svg.fonttype": "none",  # text stays text in SVG
}
"""Matplotlib settings of every experiment figure (sized for a two-column paper)."""

_DPI = 200
P = ParamSpec("P")
R = TypeVar("R")


def styled(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a figure function so that everything it draws uses :data:`STYLE`.

    Matplotlib reads its settings when an artist is created, so the style is applied for the
    whole call (``matplotlib.rc_context``), not only when the figure is made.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with mpl.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    panel: tuple[float, float] = (3.0, 2.4),
    extra_width: float = 0.0,
    **subplot_kw: Any,
) -> tuple[Figure, np.ndarray]:
    """A figure of ``nrows x ncols`` panels with a constrained (tight) layout.

    Args:
      nrows: rows of panels.
      ncols: columns of panels.
      panel: ``(width, height)`` of one panel in inches.
      extra_width: inches added on the right (room for a legend outside the panels).
      **subplot_kw: passed to ``Figure.subplots`` (``sharex``, ``sharey``, ...).

    Returns:
      ``(fig, axes)`` with ``axes`` an ``(nrows, ncols)`` array of ``Axes``.
    """
    size = (panel[0] * ncols + extra_width, panel[1] * nrows)
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def errorbars(
    ax: Axes, x: ArrayLike, mean: ArrayLike, stderr: ArrayLike | None, **style: Any
) -> Any:
    """Plot ``mean`` against ``x`` with bars of ± one standard error (markers and a line).

    Args:
      ax: the panel.
      x: ``(m,)`` abscissae.
      mean: ``(m,)`` means over trials.
      stderr: ``(m,)`` standard errors of the means, or None (no bars, e.g. one trial).
      **style: passed to ``Axes.errorbar`` (``label``, ``color``, ``marker``, ...).

    Returns:
      The ``ErrorbarContainer``.
    """
    style = {"marker": "o", "ms": 3, **style}
    yerr = None if stderr is None else np.asarray(stderr)
    return ax.errorbar(np.asarray(x), np.asarray(mean), yerr=yerr, **style)


def legend_outside(ax: Axes, *, loc: str = "right", **kwargs: Any) -> Any:
    """Put ``ax``'s legend outside its data area: to the right of the panel or below it.

    Args:
      ax: the panel whose labelled artists go in the legend (usually the last one).
      loc: ``"right"`` (a column beside the panel) or ``"below"`` (rows under it).
      **kwargs: passed to ``Axes.legend``.

    Returns:
      The ``Legend``.
    """
    if loc == "right":
        place = {"loc": "center left", "bbox_to_anchor": (1.02, 0.5)}
    elif loc == "below":
        place = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.22), "ncols": 3}
    else:
        raise ValueError(f"loc must be 'right' or 'below'; got {loc!r}")
    return ax.legend(**{**place, **kwargs})


def share_xrange(axes: Iterable[Axes], lo: float | None = None, hi: float | None = None) -> None:
    """Give every panel the same x-range: ``[lo, hi]``, or the union of their current ranges."""
    axes = list(np.ravel(np.asarray(axes, dtype=object)))
    lows, highs = zip(*(ax.get_xlim() for ax in axes), strict=True)
    lo = min(lows) if lo is None else lo
    hi = max(highs) if hi is None else hi
    for ax in axes:
        ax.set_xlim(lo, hi)


def log_scale_if_decades(
    ax: Axes, values: ArrayLike, axis: str = "y", decades: float = 2.0
) -> bool:
    """Use a log scale on ``axis`` when the positive ``values`` span at least ``decades``.

    Args:
      ax: the panel.
      values: the data drawn along ``axis`` (non-positive values are ignored).
      axis: ``"x"`` or ``"y"``.
      decades: the smallest ratio ``log10(max / min)`` that switches to a log scale.

    Returns:
      True when the scale was set to log.
    """
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y'; got {axis!r}")
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    if v.size < 2 or np.log10(v.max() / v.min()) < decades:
        return False
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    return True


def check_format(fmt: str) -> str:
    """Return ``fmt`` if it is one of :data:`FORMATS`, else raise ``ValueError``."""
    if fmt not in FORMATS:
        raise ValueError(f"figure format must be one of {list(FORMATS)}; got {fmt!r}")
    return fmt


def save_figure(fig: Figure, file: IO[bytes], fmt: str = "png") -> None:
    """Write ``fig`` to the binary file ``file`` as ``fmt`` (one of :data:`FORMATS`).

    PNG at 200 dpi; PDF and SVG are vector files with text kept as text (:data:`STYLE`).
    """
    with mpl.rc_context(STYLE):
        fig.savefig(file, format=check_format(fmt), dpi=_DPI)
