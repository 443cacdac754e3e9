"""Shared pieces of the kernel-spectra experiments: limit CDFs, KS distances, histogram figures.

``ck_ntk_spectra``, ``real_data_spectra`` and ``spiked_propagation`` compare empirical
eigenvalues with a limit law given by its Stieltjes transform (a
:class:`~rmtjax.spectra.LimitSpectrum`). This module turns the limit into a density and a CDF
on a grid, measures the Kolmogorov–Smirnov distance to the empirical spectral CDF, and draws
the histogram-versus-density figures. It also holds the config fields and the single-network
trial shared by the two CK/NTK experiments.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats
from matplotlib.figure import Figure

from rmtjax._linalg import eigvalsh_stacked
from rmtjax.experiments.config import ConfigError, ExperimentConfig, param
from rmtjax.nets import PRESETS, conjugate_kernel, init_mlp, ntk, ntk_surrogate
from rmtjax.spectra import DiscreteMeasure, LimitSpectrum, ck_limit, ntk_limit

__all__ = [
    "KernelSpectraConfig",
    "LimitCurve",
    "ck_ntk_trial",
    "compare_with_limits",
    "data_key",
    "ks_distance",
    "limit_curve",
    "spectrum_figure",
]

# Trial t uses fold_in(key(seed), t); the fixed inputs use this stream, which no trial reaches.
_DATA_STREAM = 2**32 - 1

ACTIVATIONS = tuple(PRESETS)


@dataclasses.dataclass(frozen=True)
class KernelSpectraConfig(ExperimentConfig):
    """Fields of the experiments that compare simulated CK/NTK spectra with their limits.

    Subclasses add the input data and define :meth:`sample_count`; every hidden width must be
    at least the number of samples so that the limit laws have no atoms.
    """

    widths: tuple[int, ...] = param(
        (6000,) * 5, low=1, doc="hidden widths d_1..d_L (each >= n: limits without atoms)"
    )
    activation: str = param("arctan", choices=ACTIVATIONS, doc="activation (standardised)")
    trials: int = param(
        1, low=1, in_fingerprint=False, doc="independent networks on the same inputs (pooled)"
    )
    chunk_size: int = param(1, low=1, in_fingerprint=False, doc="networks per compiled batch")
    grid: int = param(1024, low=16, in_fingerprint=False, doc="grid points of the limit density")
    bins: int = param(100, low=2, in_fingerprint=False, doc="histogram bins")

    def sample_count(self) -> int:
        """The number of samples n the networks see."""
        raise NotImplementedError

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.widths:
            raise ConfigError("widths must list at least one hidden width")
        n = self.sample_count()
        if min(self.widths) < n:
            raise ConfigError(f"widths must all be >= n = {n}; got {list(self.widths)}")


# A limit grid whose density integrates to 1 +- this is trusted for KS distances.
_MASS_TOL = 1e-2


class LimitCurve(NamedTuple):
    """A limit law on a grid: points ``x`` (ascending), density, CDF of the density.

    Attributes:
      x: ``(m,)`` grid points (Chebyshev-clustered towards the edges of each support interval).
      density: ``(m,)`` the density at ``x`` (``Im m(x + i0) / pi``).
      cdf: ``(m,)`` ``∫_{-inf}^x density`` (trapezoid rule in the Chebyshev angle).
      support: ``(k, 2)`` the support intervals.
      unconverged: number of grid points where the fixed-point solve did not converge (left
        out of ``x``; the CDF bridges them, and an interval with fewer than two converged
        points is left out, so ``mass`` falls short of 1 by its mass).
    """

    x: np.ndarray
    density: np.ndarray
    cdf: np.ndarray
    support: np.ndarray
    unconverged: int

    @property
    def mass(self) -> float:
        """Total mass of the density (1 for an absolutely continuous law, up to quadrature)."""
        return float(self.cdf[-1]) if self.cdf.size else 0.0


def data_key(seed: int) -> jax.Array:
    """The key of an experiment's fixed inputs: ``fold_in(key(seed), 2**32 - 1)``.

    Trials use ``fold_in(key(seed), t)`` for ``t < n_trials``, so the inputs are independent of
    every network draw.
    """
    return jax.random.fold_in(jax.random.key(seed), _DATA_STREAM)


def limit_curve(spectrum: LimitSpectrum, points: int = 1024) -> LimitCurve:
    """Density and CDF of the absolutely continuous part of a limit law on an adaptive grid.

    Each support interval ``[lo, hi]`` (from :meth:`LimitSpectrum.support`) gets points
    ``x(θ) = lo + (hi - lo)(1 - cos θ)/2`` at equispaced ``θ ∈ [0, π]``, so they cluster at the
    edges. In ``θ`` the integrand ``ρ(x(θ)) x'(θ) = ρ(x) (hi - lo) sin θ / 2`` is smooth even at
    square-root (or ``x^{-1/2}``) edges, and the trapezoid rule in ``θ`` gives the CDF
    accurately. A coarse pass (``_COARSE`` points per interval) estimates each interval's mass;
    the ``points`` are then shared in proportion to it (at least ``_COARSE`` each), so a law
    with one heavy bulk and many light bumps (inputs with a few large principal components)
    still resolves its bulk. Each pass is one batched solve. Atoms of the limit are not
    included (the experiments use widths ``d_l >= n``, where the CK and NTK limits have none).

    Args:
      spectrum: the limit law.
      points: grid points of the fine pass (shared by the intervals); also the scan grid of
        ``support(grid=points)``.

    Returns:
      A :class:`LimitCurve`.
    """
    support = spectrum.support(grid=points)
    if support.shape[0] == 0:
        raise RuntimeError("the limit law has no absolutely continuous part to compare with")
    coarse, _ = _interval_curves(spectrum, support, [_COARSE] * support.shape[0])
    mass = np.array([0.0 if c is None else c[2][-1] for c in coarse])
    share = mass / mass.sum() if mass.sum() > 0 else np.full(mass.shape, 1 / mass.size)
    counts = np.maximum(np.round(share * points).astype(int), _COARSE)
    pieces, bad = _interval_curves(spectrum, support, counts)
    xs, dens, cdfs, offset = [], [], [], 0.0
    for piece in pieces:
        if piece is None:
            continue
        x, rho, cdf = piece
        xs.append(x)
        dens.append(rho)
        cdfs.append(offset + cdf)
        offset += cdf[-1]
    if not xs:
        raise RuntimeError("the limit density did not converge at any grid point")
    return LimitCurve(np.concatenate(xs), np.concatenate(dens), np.concatenate(cdfs), support, bad)


# Points per support interval in limit_curve's coarse pass (and the fewest in the fine pass).
_COARSE = 16


def _interval_curves(
    spectrum: LimitSpectrum, support: np.ndarray, counts: Any
) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray] | None], int]:
    """Per interval ``(x, density, cdf from 0)`` on ``counts[i]`` Chebyshev points, and the
    number of points whose solve did not converge (left out).

    All intervals are solved in one batch. An interval with fewer than two converged points
    is None (its mass is lost).
    """
    thetas = [np.linspace(0.0, np.pi, int(c)) for c in counts]
    lo, hi = support[:, 0], support[:, 1]
    xs = [lo[i] + (hi[i] - lo[i]) * (1 - np.cos(t)) / 2 for i, t in enumerate(thetas)]
    sol = spectrum.solve(jnp.asarray(np.concatenate(xs), spectrum.q.dtype))
    ok_all = np.asarray(sol.converged) & np.isfinite(np.asarray(sol.value))
    rho_all = np.maximum(np.imag(np.asarray(sol.value, np.complex128)), 0.0) / np.pi
    ends = np.cumsum([x.size for x in xs])
    pieces = []
    for i, (theta, x) in enumerate(zip(thetas, xs, strict=True)):
        ok, rho = ok_all[ends[i] - x.size : ends[i]], rho_all[ends[i] - x.size : ends[i]]
        if ok.sum() < 2:
            pieces.append(None)
            continue
        t, f = theta[ok], (rho * (hi[i] - lo[i]) * np.sin(theta) / 2)[ok]
        cdf = np.concatenate([[0.0], np.cumsum(np.diff(t) * (f[1:] + f[:-1]) / 2)])
        pieces.append((x[ok], rho[ok], cdf))
    return pieces, int(np.sum(~ok_all))


def ks_distance(eigenvalues: Any, curve: LimitCurve) -> float:
    """Kolmogorov–Smirnov distance ``sup_x |F_n(x) - F(x)|`` between spectral CDFs.

    ``F_n(x) = #{i : λ_i <= x} / n`` jumps at the sorted eigenvalues, so the supremum is attained
    at a jump: ``max_i max(|i/n - F(λ_(i))|, |(i-1)/n - F(λ_(i))|)``. ``F`` is the curve's CDF,
    interpolated linearly between grid points (0 below, the total mass above).

    Args:
      eigenvalues: ``(..., n)`` eigenvalues (all leading axes are pooled into one sample).
      curve: the limit law on a grid (:func:`limit_curve`).

    Returns:
      The distance, in ``[0, 1]``.
    """
    lam = np.sort(np.ravel(np.asarray(eigenvalues, np.float64)))
    n = lam.size
    F = np.interp(lam, curve.x, curve.cdf, left=0.0, right=curve.mass)
    upper = np.arange(1, n + 1) / n
    return float(np.max(np.maximum(np.abs(upper - F), np.abs(upper - 1 / n - F))))


def spectrum_figure(
    eigenvalues: Any,
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


@functools.cache
def ck_ntk_trial(widths: tuple[int, ...], activation: str):
    """The trial ``(key, X) -> {"ck", "ntk", "ntk_surrogate"}``: one network's eigenvalues.

    Draws one network ``init_mlp(key, widths)`` and returns the ascending eigenvalues
    (``(n,)`` each) of ``K_CK = X_L X_Lᵀ``, of the structured ``K_NTK`` and of its Fan–Wang
    surrogate ``q_{-1} I + Σ q_l X_l X_lᵀ`` on the fixed inputs ``X``. Cached per argument set
    so that every call reuses the engine's compiled chunk.
    """

    def trial(key: jax.Array, X: jax.Array) -> dict[str, jax.Array]:
        params = init_mlp(key, widths, X.dtype)
        kernels = {"ck": conjugate_kernel, "ntk": ntk, "ntk_surrogate": ntk_surrogate}
        values = eigvalsh_stacked(*(f(params, X, activation) for f in kernels.values()))
        return dict(zip(kernels, values, strict=True))

    return trial


def compare_with_limits(
    ctx: Any,
    X: jax.Array,
    config: KernelSpectraConfig,
    *,
    label: str,
    **data: Any,
) -> dict[str, Any]:
    """CK and NTK eigenvalues of ``config.trials`` networks on ``X`` against the Fan–Wang limits.

    The limits use ``mu0`` = the empirical spectrum of the input Gram matrix ``X Xᵀ`` and
    ``gamma_l = n / d_l``, and are solved in float64 (``jax.enable_x64`` for their scope only;
    in float32 the NTK solve fails near the edges at the talk's size). The NTK's surrogate
    ``q_{-1} I + Σ q_l X_l X_lᵀ`` of the same networks (:func:`rmtjax.nets.ntk_surrogate`) is
    held against the NTK limit too, and against the NTK's eigenvalues: the NTK converges to
    its limit more slowly than the CK (its deviation from the surrogate is ``O(d^{-1/2})``),
    and the two distances show which approximation a large ``ks_ntk`` comes from. Saves
    ``data.npz`` (eigenvalues ``input``, ``ck``, ``ntk``, ``ntk_surrogate`` of shape
    ``(trials, n)``, the limit grids ``{ck,ntk}_x``, ``_density``, ``_cdf``, and ``data``) and
    the figures ``ck_spectrum.png`` and ``ntk_spectrum.png`` (with the surrogate's histogram
    as an outline).

    Args:
      ctx: the run context.
      X: ``(n, d_0)`` inputs, rows of norm ≈ 1.
      config: the hidden widths, activation, ``trials`` (independent networks, eigenvalues
        pooled for the KS distance), limit ``grid`` points and histogram ``bins``.
      label: figure title prefix (the data and sizes).
      **data: further arrays for ``data.npz``.

    Returns:
      ``ks_ck``, ``ks_ntk``, ``ks_ntk_surrogate`` (KS distances to the limits; None, with a
      warning, when the limit grid carries a mass off 1 by more than 1%: the solver failed on
      part of the support), ``ks_ntk_vs_surrogate`` (two-sample KS distance between the NTK's
      and the surrogate's eigenvalues), ``n``, ``widths`` (``d_0, …, d_L``), ``gammas``,
      ``trials``, ``limit_mass`` and ``unconverged`` (kernel -> value).
    """
    n, d0 = X.shape
    widths, activation, trials = (d0, *config.widths), config.activation, config.trials
    out = ctx.trials("kernels", ck_ntk_trial(widths, activation), trials, params=X)
    mu0 = DiscreteMeasure.from_eigenvalues(X)
    gammas = n / np.asarray(config.widths, np.float64)
    limits = {"ck": ck_limit, "ntk": ntk_limit}
    with jax.enable_x64(True):  # the limits in float64 (scoped): the solver's tight tolerance
        mu0_64 = DiscreteMeasure(np.asarray(mu0.atoms, np.float64))
        curves = {
            k: limit_curve(f(mu0_64, gammas, activation), config.grid) for k, f in limits.items()
        }
    ks = {k: _checked_ks(out[k], curves[k.split("_")[0]], k) for k in out}
    arrays = {f"{k}_{f}": getattr(c, f) for k, c in curves.items() for f in ("x", "density", "cdf")}
    ctx.save_data(input=np.asarray(mu0.atoms), **out, **arrays, **data)
    surrogate = {"ntk": out["ntk_surrogate"]}
    for k, c in curves.items():
        shown = "n/a (limit not resolved)" if ks[k] is None else f"{ks[k]:.4f}"
        title = f"{label}: {k.upper()} ({trials} network(s)), KS = {shown}"
        figure = spectrum_figure(out[k], c, title, config.bins, surrogate=surrogate.get(k))
        ctx.save_figure(f"{k}_spectrum", figure)
    return {
        **{f"ks_{k}": v for k, v in ks.items()},
        "ks_ntk_vs_surrogate": _two_sample_ks(out["ntk"], out["ntk_surrogate"]),
        "n": n,
        "widths": list(widths),
        "gammas": gammas,
        "trials": trials,
        "limit_mass": {k: c.mass for k, c in curves.items()},
        "unconverged": {k: c.unconverged for k, c in curves.items()},
    }


def _two_sample_ks(a: Any, b: Any) -> float:
    """Kolmogorov–Smirnov distance between the pooled empirical CDFs of two spectra."""
    return float(scipy.stats.ks_2samp(np.ravel(a), np.ravel(b)).statistic)


def _checked_ks(eigenvalues: Any, curve: LimitCurve, name: str) -> float | None:
    """``ks_distance``, or None with a warning when the limit CDF is not resolved."""
    if abs(curve.mass - 1) > _MASS_TOL:
        warnings.warn(
            f"{name} limit: the density on the grid has mass {curve.mass:.4f} "
            f"({curve.unconverged} unconverged points: the fixed-point solver failed on part of "
            "the support); KS distance not reported.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return ks_distance(eigenvalues, curve)
