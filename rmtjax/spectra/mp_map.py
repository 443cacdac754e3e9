"""The Marchenko–Pastur map ``nu -> rho_gamma ⊠ nu`` (sample covariance spectra)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from rmtjax.spectra.kernel import as_ratios
from rmtjax.spectra.limit_spectrum import LimitSpectrum

__all__ = ["mp_map", "mp_map_stieltjes"]

Array = jax.Array


def mp_map(
    gamma: ArrayLike, nu: Any, *, tol: float | None = None, max_steps: int = 300
) -> LimitSpectrum:
    """The law ``rho_gamma ⊠ nu`` as a :class:`~rmtjax.spectra.LimitSpectrum`.

    ``rho_gamma ⊠ nu`` is the limit spectrum of the ``n x n`` matrix
    ``T^{1/2} G^T G T^{1/2} / d`` (``G: (d, n)`` iid standard, ``spec T -> nu``,
    ``gamma = n/d``); its Stieltjes transform solves
    ``m = ∫ dnu(x) / (x (1 - gamma - gamma z m) - z)``. It is the one-layer CK limit with
    ``b = 1`` and ``mu0 = nu``, and is solved by the same fixed point.

    Args:
      gamma: ratio ``n/d > 0``.
      nu: a :class:`~rmtjax.spectra.DiscreteMeasure` on ``[0, ∞)``, a 1-D array of atoms, or
        any measure with ``stieltjes``, ``mean`` and ``bounds`` (``marchenko_pastur``, ...).
      tol: solver tolerance (None: 1e-12 float64, 1e-5 float32).
      max_steps: Newton step cap per point.

    References:
      V. Marchenko, L. Pastur, Math. USSR-Sbornik 1(4), 1967; J. Silverstein, Z. Bai,
      J. Multivariate Anal. 54(2), 1995, eq. (1.2).
    """
    gammas = as_ratios([gamma])
    q = jnp.asarray([0.0, 0.0, 1.0], gammas.dtype)
    return LimitSpectrum.from_coefficients(nu, gammas, 1.0, q, tol=tol, max_steps=max_steps)


def mp_map_stieltjes(
    z: ArrayLike,
    gamma: ArrayLike,
    nu: Any,
    *,
    tol: float | None = None,
    max_steps: int = 300,
    throw: bool | None = None,
) -> Array:
    """Stieltjes transform of ``rho_gamma ⊠ nu`` at ``z`` of any shape (``Im z >= 0``).

    Solves ``m = ∫ dnu(x) / (x (1 - gamma - gamma z m) - z)`` (the docs page "Mathematics and
    conventions"). For ``nu = delta_1`` this is the Marchenko–Pastur law
    ``m = (1 - gamma - z + sqrt(z - a) sqrt(z - b)) / (2 gamma z)``.

    Args:
      z: complex array, any shape, closed upper half-plane (real ``z``: boundary values).
      gamma: ratio ``n/d > 0``.
      nu: a :class:`~rmtjax.spectra.DiscreteMeasure` on ``[0, ∞)``, a 1-D array of atoms, or
        any measure with ``stieltjes``, ``mean`` and ``bounds`` (``marchenko_pastur``, ...).
      tol: solver tolerance (None: 1e-12 float64, 1e-5 float32).
      max_steps: Newton step cap per point.
      throw: raise on an unconverged point (``RuntimeError`` at once; under ``jit`` a
        ``jax.errors.JaxRuntimeError`` when the program runs), else NaN there; use
        ``mp_map(gamma, nu).solve(z)`` for the full convergence record. Default ``None``:
        raise eagerly, NaN under ``jit``; ``True`` raises under ``jit`` too.

    Returns:
      Complex array of the shape of ``z``.

    References:
      J. Silverstein, Z. Bai, J. Multivariate Anal. 54(2), 1995.
    """
    return mp_map(gamma, nu, tol=tol, max_steps=max_steps).stieltjes(z, throw=throw)
