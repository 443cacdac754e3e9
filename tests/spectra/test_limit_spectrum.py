"""Tests for rmtjax/spectra/limit_spectrum.py: shapes, density, support, moments, throw."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.spectra import DiscreteMeasure, LimitSpectrum, ck_limit, marchenko_pastur, mp_map


def test_stieltjes_any_shape(x64):
    spec = mp_map(0.4, jnp.array([1.0]))
    z = jnp.linspace(0.1, 3.0, 8).reshape(2, 4) + 0.3j
    m = spec.stieltjes(z)
    chex.assert_shape(m, (2, 4))
    chex.assert_trees_all_close(m, spec.stieltjes(z.ravel()).reshape(2, 4), rtol=1e-13)
    chex.assert_shape(spec.stieltjes(1.0 + 1j), ())


def test_density_eta_and_mp_support(x64):
    gamma = 0.4
    spec, mp = mp_map(gamma, jnp.array([1.0])), marchenko_pastur(gamma)
    x = jnp.linspace(0.2, 2.0, 8)
    # Poisson smoothing: rho_eta -> rho as eta -> 0, with error O(eta) in the bulk.
    smooth = spec.density(x, eta=1e-7)
    chex.assert_trees_all_close(smooth, spec.density(x), atol=1e-5)
    chex.assert_trees_all_close(spec.density(x), mp.density(x), atol=1e-10)
    np.testing.assert_allclose(spec.support(), mp.support(), atol=1e-9)


def test_moments_are_narayana(x64):
    gamma = 0.4
    # MP moments: m_k = sum_j N(k, j) gamma^{j-1} (Narayana numbers).
    expected = [1, 1, 1 + gamma, 1 + 3 * gamma + gamma**2, 1 + 6 * gamma + 6 * gamma**2 + gamma**3]
    np.testing.assert_allclose(mp_map(gamma, jnp.array([1.0])).moments(4), expected, rtol=1e-11)


def test_unconverged_raises_or_is_nan(x64):
    spec = LimitSpectrum.from_coefficients(
        jnp.array([1.0]), jnp.array([0.4]), 1.0, jnp.array([0.0, 0.0, 1.0]), max_steps=2
    )
    z = jnp.linspace(0.5, 1.5, 8) + 1e-3j
    with pytest.raises(RuntimeError, match="did not converge"):
        spec.stieltjes(z)
    sol = spec.solve(z)
    assert not bool(jnp.any(sol.converged))
    assert bool(jnp.all(jnp.isfinite(sol.value)))  # the raw iterates look like numbers
    # throw=False: NaN in real and imaginary parts, eagerly and under jit.
    for m in (
        spec.stieltjes(z, throw=False),
        jax.jit(lambda s, z: s.stieltjes(z, throw=False))(spec, z),
    ):
        assert bool(jnp.all(jnp.isnan(m.real) & jnp.isnan(m.imag)))
    # Default throw=None: raises eagerly (above), NaN under jit; throw=True raises under jit.
    m = jax.jit(lambda s, z: s.stieltjes(z))(spec, z)
    assert bool(jnp.all(jnp.isnan(m.real) & jnp.isnan(m.imag)))
    with pytest.raises(jax.errors.JaxRuntimeError, match="did not converge at 8 of 8"):
        jax.block_until_ready(jax.jit(lambda s, z: s.stieltjes(z, throw=True))(spec, z))


def test_density_default_throw_is_eager_raise_and_nan_under_jit():
    # The reproducer: an unconverged density under jit was 0, like "outside".
    spec = ck_limit(DiscreteMeasure([1.0]), (0.5,), "tanh", max_steps=1)
    x = jnp.linspace(0.1, 3, 5)
    with pytest.raises(RuntimeError, match="did not converge"):
        spec.density(x)
    rho = jax.jit(lambda s, x: s.density(x))(spec, x)
    assert bool(jnp.all(jnp.isnan(rho)))
    m = jax.jit(lambda s, x: s.stieltjes(x))(spec, x)
    assert bool(jnp.all(jnp.isnan(m.real) & jnp.isnan(m.imag)))
    with pytest.raises(jax.errors.JaxRuntimeError, match="did not converge"):
        jax.block_until_ready(jax.jit(lambda s, x: s.density(x, throw=True))(spec, x))


def test_bad_input(x64):
    spec = mp_map(0.4, jnp.array([1.0]))
    with pytest.raises(TypeError, match="real"):
        spec.density(jnp.array([1.0 + 1j]))
    with pytest.raises(ValueError, match="eta"):
        spec.density(jnp.array([1.0]), eta=0.0)
    with pytest.raises(ValueError, match="upper half-plane"):
        spec.stieltjes(jnp.array([1.0 - 0.1j]))
    with pytest.raises(ValueError, match="q must have shape"):
        LimitSpectrum.from_coefficients(jnp.array([1.0]), jnp.array([0.4]), 1.0, jnp.ones(2))
