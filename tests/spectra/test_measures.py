"""Tests for rmtjax/spectra/measures.py against direct sums, quadrature and numpy."""

import chex
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from rmtjax.spectra import DiscreteMeasure, marchenko_pastur, semicircle


def _stieltjes_by_quadrature(density, lo, hi, z):
    """m(z) = ∫ rho(x)/(x - z) dx by adaptive quadrature (independent of the closed form)."""
    re = integrate.quad(lambda x: (density(x) / (x - z)).real, lo, hi, limit=200)[0]
    im = integrate.quad(lambda x: (density(x) / (x - z)).imag, lo, hi, limit=200)[0]
    return re + 1j * im


def test_discrete_stieltjes_moments_and_shapes(x64):
    mu = DiscreteMeasure(jnp.array([0.5, 1.0, 4.0]), jnp.array([0.2, 0.5, 0.3]))
    z = jnp.array([[1 + 1j, -2 + 0.1j], [3 + 0.5j, 0.7 + 2j]])
    expected = sum(w / (x - z) for x, w in [(0.5, 0.2), (1.0, 0.5), (4.0, 0.3)])
    chex.assert_trees_all_close(mu.stieltjes(z), expected, rtol=1e-14)
    chex.assert_trees_all_close(
        mu.moments(3), jnp.array([1.0, 1.8, 0.05 + 0.5 + 4.8, 0.025 + 0.5 + 19.2]), rtol=1e-14
    )


def test_from_eigenvalues_matches_numpy(x64):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 20)) / np.sqrt(20)
    mu = DiscreteMeasure.from_eigenvalues(X)
    ref = np.clip(np.linalg.eigvalsh(X @ X.T), 0, None)
    chex.assert_trees_all_close(jnp.sort(mu.atoms), jnp.asarray(np.sort(ref)), atol=1e-12)
    assert float(jnp.min(mu.atoms)) >= 0  # rank 20 < 30: ten zero eigenvalues, clipped
    chex.assert_trees_all_close(mu.weights, jnp.full(30, 1 / 30))


def test_thin_is_equal_weight_quantiles(x64):
    mu = DiscreteMeasure(jnp.arange(1000.0)[::-1])  # unsorted input
    thin = mu.thin(10)
    # Quantile Q(p) = min{x : F(x) >= p} at p = 0.05, 0.15, ...: atom 100 j + 49 (ties at
    # F = p exactly may round to the next atom).
    chex.assert_trees_all_close(thin.atoms, jnp.arange(10) * 100.0 + 49.5, atol=0.5)
    chex.assert_trees_all_close(jnp.sum(thin.weights), 1.0)


@pytest.mark.parametrize("gamma", [0.3, 1.0, 2.5])
def test_marchenko_pastur_closed_form_vs_quadrature(x64, gamma):
    mp = marchenko_pastur(gamma)
    a, b = (float(e) for e in mp.edges())
    atom = max(1 - 1 / gamma, 0.0)
    for z in [0.5 + 0.3j, 2.0 + 0.05j, -1.0 + 1.0j, 6.0 + 0.2j]:
        dens = lambda x: np.sqrt(max((b - x) * (x - a), 0.0)) / (2 * np.pi * gamma * x)  # noqa: E731
        ref = _stieltjes_by_quadrature(dens, a, b, z) + atom / (0 - z)
        np.testing.assert_allclose(complex(mp.stieltjes(z)), ref, rtol=1e-7)
    assert float(mp.atom_at_zero()) == pytest.approx(atom)


def test_semicircle_closed_form_vs_quadrature(x64):
    sc = semicircle(2.0)
    edge = 2 * np.sqrt(2.0)
    for z in [0.3 + 0.2j, -2.5 + 0.01j, 4.0 + 1.0j]:
        ref = _stieltjes_by_quadrature(lambda x: float(sc.density(x)), -edge, edge, z)
        np.testing.assert_allclose(complex(sc.stieltjes(z)), ref, rtol=1e-7)
    np.testing.assert_allclose(sc.support(), [[-edge, edge]])


def test_bad_measures_raise():
    with pytest.raises(ValueError, match="weights must sum to 1"):
        DiscreteMeasure(jnp.array([1.0, 2.0]), jnp.array([0.5, 0.6]))
    with pytest.raises(ValueError, match="weights"):
        DiscreteMeasure(jnp.array([1.0, 2.0]), jnp.array([1.5, -0.5]))
    with pytest.raises(ValueError, match="atoms contains NaN"):
        DiscreteMeasure(jnp.array([1.0, jnp.nan]))
    with pytest.raises(ValueError, match="1-D"):
        DiscreteMeasure(jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="gamma"):
        marchenko_pastur(0.0)
    with pytest.raises(ValueError, match="var"):
        semicircle(-1.0)
