"""Comparing an empirical spectrum with a limit law: the density on a grid and the KS distance.

A limit law is given by its Stieltjes transform ``m(z)`` (a :class:`LimitSpectrum`); its density
is ``ρ(x) = Im m(x + i0) / π`` on the support. :func:`limit_curve` evaluates ``ρ`` on points
shared among the support intervals by mass and integrates it into the CDF ``F``;
:func:`ks_distance` is the Kolmogorov–Smirnov distance ``sup_x |F_n(x) − F(x)|`` between the
empirical spectral CDF ``F_n`` of a sample of eigenvalues and ``F``.

References:
  Z. Fan and Z. Wang, "Spectra of the Conjugate Kernel and Neural Tangent Kernel for
  linear-width neural networks", NeurIPS 2020, Figures 1 and 2 (histograms against the limit
  densities).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtjax.spectra.limit_spectrum import LimitSpectrum

__all__ = ["LimitCurve", "ks_distance", "limit_curve"]


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
    included (the CK and NTK limits have none when every hidden width ``d_l >= n``).

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


def ks_distance(eigenvalues: ArrayLike, curve: LimitCurve) -> float:
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
