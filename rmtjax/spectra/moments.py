"""Moments of a compactly supported measure from its Stieltjes transform (contour trapezoid)."""

from __future__ import annotations

from collections.abc import Callable
from math import comb
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = ["contour_moments"]

Array = jax.Array


def contour_moments(
    stieltjes: Callable[[Array], Array],
    k: int,
    *,
    center: Any,
    radius: ArrayLike,
    n_points: int = 256,
) -> Array:
    """Moments ``m_j = ∫ x^j dmu(x)``, j = 0..k, by the trapezoid rule on a circle.

    For ``|z - c| > r`` with ``supp mu ⊂ [c - r, c + r]``,
    ``m(z) = -sum_j mu_j(c) / (z - c)^{j+1}`` with the central moments
    ``mu_j(c) = ∫ (x - c)^j dmu``, so on ``z_i = c + R e^{2 pi i (i + 1/2)/N}``

        ``mu_j(c) ≈ -(1/N) sum_i m(z_i) (z_i - c)^{j+1}``,

    exact up to ``O((r/R)^N)``. Only the upper half of the circle is evaluated
    (``m(conj z) = conj m(z)`` for a real measure), and the raw moments follow from
    ``m_j = sum_i C(j, i) c^{j-i} mu_i(c)``. With ``c = 0`` this is the circle
    rule of the docs page "Mathematics and conventions".

    Args:
      stieltjes: ``z -> m(z)`` for a 1-D array of ``z`` in the upper half-plane.
      k: highest moment.
      center: ``c``, the middle of an interval containing the support.
      radius: ``R``, larger than the half-width of that interval (twice it is ample).
      n_points: ``N``, even; the trapezoid rule's points on the full circle.

    Returns:
      ``(k + 1,)`` real array ``(m_0, ..., m_k)``.

    References:
      L. N. Trefethen, J. A. C. Weideman, "The exponentially convergent trapezoidal rule",
      SIAM Review 56(3), 2014, §7.
    """
    if n_points < 2 or n_points % 2:
        raise ValueError(f"n_points must be an even integer >= 2; got {n_points}")
    theta = 2 * jnp.pi * (jnp.arange(n_points // 2) + 0.5) / n_points
    w = radius * jnp.exp(1j * theta)
    values = stieltjes(center + w)
    powers = w[None, :] ** jnp.arange(1, k + 2)[:, None]
    central = -2 / n_points * jnp.real(powers @ values)
    binom = jnp.asarray([[comb(j, i) for i in range(k + 1)] for j in range(k + 1)], central.dtype)
    shifts = center ** jnp.maximum(jnp.arange(k + 1)[:, None] - jnp.arange(k + 1)[None, :], 0)
    return (binom * shifts) @ central
