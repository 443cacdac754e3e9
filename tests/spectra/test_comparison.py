"""Tests for rmtjax/spectra/comparison.py: the limit curve and the KS distance.

References: the closed-form Marchenko–Pastur density (its mass, moments and CDF by adaptive
scipy quadrature) and ``scipy.stats.kstest`` on the same CDF.
"""

import chex
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from rmtjax.spectra import (
    DiscreteMeasure,
    LimitCurve,
    ck_limit,
    ks_distance,
    limit_curve,
    marchenko_pastur,
)


def _mp_limit(gamma: float):
    """MP law rho_gamma as a LimitSpectrum: the CK limit with b = 0 and mu0 = delta_1."""
    return ck_limit(DiscreteMeasure(jnp.array([1.0])), jnp.array([gamma]), (1.0, 0.0))


def _mp_density(gamma: float):
    """Closed-form MP density ``sqrt((hi - x)(x - lo)) / (2 pi gamma x)`` in numpy."""
    lo, hi = (1 - np.sqrt(gamma)) ** 2, (1 + np.sqrt(gamma)) ** 2
    return lambda x: np.sqrt(max((hi - x) * (x - lo), 0.0)) / (2 * np.pi * gamma * x)


def _mp_cdf(gamma: float):
    """The MP density integrated by adaptive quadrature (independent of the grid)."""
    lo, hi = (1 - np.sqrt(gamma)) ** 2, (1 + np.sqrt(gamma)) ** 2
    density = _mp_density(gamma)

    def cdf(x):
        x = np.clip(np.atleast_1d(x), lo, hi)
        return np.array([integrate.quad(density, lo, t, epsabs=1e-12, limit=200)[0] for t in x])

    return cdf


def _uniform_curve() -> LimitCurve:
    x = np.linspace(0.0, 1.0, 201)
    return LimitCurve(x, np.ones_like(x), x.copy(), np.array([[0.0, 1.0]]), 0)


def test_ks_distance_matches_scipy_kstest_uniform():
    sample = np.random.default_rng(0).beta(2.0, 3.0, size=500)
    expected = stats.kstest(sample, "uniform").statistic
    np.testing.assert_allclose(ks_distance(sample, _uniform_curve()), expected, rtol=1e-12)
    # Midpoint quantiles are the closest n-point sample to the law: KS = 1/(2n) exactly.
    n = 40
    np.testing.assert_allclose(ks_distance((np.arange(n) + 0.5) / n, _uniform_curve()), 0.5 / n)


@pytest.mark.parametrize("gamma", [0.25, 0.7])
def test_mp_curve_density_mass_and_moments(x64, gamma):
    curve = limit_curve(_mp_limit(gamma), points=512)
    law = marchenko_pastur(gamma)
    assert curve.unconverged == 0
    chex.assert_shape(curve.density, curve.x.shape)
    assert np.all(np.diff(curve.x) > 0) and np.all(np.diff(curve.cdf) >= 0)
    np.testing.assert_allclose(curve.support, law.support(), atol=1e-6)
    np.testing.assert_allclose(curve.density, np.vectorize(_mp_density(gamma))(curve.x), atol=1e-6)
    # Trapezoid in the Chebyshev angle on 512 points: mass 1 to ~1e-5.
    np.testing.assert_allclose(curve.mass, 1.0, atol=1e-4)
    np.testing.assert_allclose(curve.cdf, _mp_cdf(gamma)(curve.x), atol=1e-4)
    mid = (curve.x[1:] + curve.x[:-1]) / 2
    dF = np.diff(curve.cdf)
    # Mean 1 and variance gamma of rho_gamma.
    np.testing.assert_allclose(np.sum(mid * dF), 1.0, rtol=1e-3)
    np.testing.assert_allclose(np.sum(mid**2 * dF), 1.0 + gamma, rtol=1e-3)


def test_ks_distance_of_mp_samples_matches_kstest(x64):
    gamma, n = 0.5, 400
    lo, hi = (1 - np.sqrt(gamma)) ** 2, (1 + np.sqrt(gamma)) ** 2
    density = np.vectorize(_mp_density(gamma))
    rng = np.random.default_rng(1)
    # iid draws by rejection from the closed-form density under 1.05 x its peak.
    peak = float(np.max(density(np.linspace(lo, hi, 4001))))
    draws = rng.uniform(lo, hi, 20 * n)
    keep = rng.uniform(0, 1.05 * peak, draws.size) < density(draws)
    sample = draws[keep][:n]
    assert sample.size == n
    expected = stats.kstest(sample, _mp_cdf(gamma)).statistic
    curve = limit_curve(_mp_limit(gamma), points=512)
    got = ks_distance(sample, curve)
    # The grid CDF matches the quadrature CDF to ~1e-5 (see above), so the suprema agree.
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # The distance sees a wrong law: the same sample spread twice as wide is far off.
    assert ks_distance(1.0 + 2.0 * (sample - 1.0), curve) > 0.1
