"""Tests for rmtjax/spectra/mp_map.py: MP closed form, DESIGN reference values, moments."""

import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.spectra import DiscreteMeasure, marchenko_pastur, mp_map, mp_map_stieltjes
from tests.spectra._oracles import free_moments


def _nu():
    """DESIGN §4 reference measure 0.3 δ1 + 0.5 δ3 + 0.2 δ8 (built under x64)."""
    return DiscreteMeasure(np.array([1.0, 3.0, 8.0]), np.array([0.3, 0.5, 0.2]))


@pytest.mark.parametrize("gamma", [0.3, 1.0, 2.5])
def test_mp_closed_form(x64, gamma):
    mp = marchenko_pastur(gamma)
    a, b = (float(e) for e in mp.edges())
    # 200 points: bulk and outside on three heights, plus ±1e-6 around both edges.
    x = np.concatenate([np.linspace(a - 0.5, b + 0.5, 46), a + 1e-6 * np.array([-1, 1])])
    x = np.concatenate([x, b + 1e-6 * np.array([-1, 1])])
    eta = np.array([1e-6, 1e-3, 0.3, 2.0])
    z = (x[:, None] + 1j * eta[None, :]).ravel()
    assert z.shape == (200,)
    m = mp_map_stieltjes(jnp.asarray(z), gamma, jnp.array([1.0]))
    np.testing.assert_array_less(np.abs(m - mp.stieltjes(z)) / np.abs(mp.stieltjes(z)), 1e-9)
    # Density on the real axis (eta = 0 solve) vs the MP density away from the edges.
    xs = np.linspace(a, b, 200)[2:-2] if gamma != 1.0 else np.linspace(0.05, b - 0.05, 196)
    rho = mp_map(gamma, jnp.array([1.0])).density(jnp.asarray(np.pad(xs, (0, 4), mode="edge")))
    np.testing.assert_array_less(np.abs(rho[:196] - mp.density(xs)), 1e-7)


def test_mp_atom_at_zero(x64):
    gamma = 2.5
    eta = np.logspace(-9, -5, 8)
    m = mp_map_stieltjes(jnp.asarray(1j * eta), gamma, jnp.array([1.0]))
    # m(i eta) = -w / (i eta) + O(1): the atom's mass is lim -i eta m(i eta) = 1 - 1/gamma.
    np.testing.assert_allclose(np.real(-1j * eta * m), 1 - 1 / gamma, rtol=1e-4)


def test_design_reference_values(x64):
    spec = mp_map(0.5, _nu())
    np.testing.assert_allclose(spec.support(), [[0.147720031, 15.073108121]], atol=1e-8)
    rho = spec.density(jnp.array([0.3, 1, 2, 5.5, 10, 15]))
    ref = [0.4813285067, 0.2216297827, 0.1467338604, 0.0386249036, 0.0238035093, 0.0025086582]
    np.testing.assert_allclose(rho, ref, atol=1e-8)
    np.testing.assert_allclose(
        complex(mp_map_stieltjes(2.0, 0.5, _nu())), -0.1710528104 + 0.4609780178j, atol=1e-8
    )
    np.testing.assert_allclose(spec.moments(4)[1:], [3.4, 23.38, 215.786, 2281.8082], rtol=1e-10)


@pytest.mark.parametrize("gamma", [0.2, 1.7])
def test_moments_match_free_cumulant_formula(x64, gamma):
    H = DiscreteMeasure(np.array([0.5, 2.0, 3.5]), np.array([0.5, 0.25, 0.25]))
    h = np.asarray(H.moments(4))[1:]
    moments = mp_map(gamma, H).moments(4)
    np.testing.assert_allclose(moments[0], 1.0, rtol=1e-10)
    np.testing.assert_allclose(moments[1:], free_moments(h, gamma), rtol=1e-8)


def test_herglotz_and_mass(x64):
    spec = mp_map(1.7, _nu())
    rng = np.random.default_rng(2)
    z = rng.uniform(-2, 30, 128) + 1j * 10 ** rng.uniform(-4, 1, 128)
    m = spec.stieltjes(jnp.asarray(z))
    assert np.all(np.imag(m) > 0)
    assert np.all(np.abs(m) <= 1 / z.imag)
    # ∫ rho = 1 - (1 - 1/gamma) (the atom at 0), by the trapezoid rule on the support.
    ((lo, hi),) = spec.support()
    # x = lo + (hi - lo)(1 - cos t)/2 absorbs the square-root edges; midpoint rule in t.
    t = np.pi * (np.arange(1024) + 0.5) / 1024
    x = lo + (hi - lo) * (1 - np.cos(t)) / 2
    rho = np.asarray(spec.density(jnp.asarray(x)))
    mass = np.sum(rho * (hi - lo) / 2 * np.sin(t)) * np.pi / 1024
    np.testing.assert_allclose(mass, 1 / 1.7, atol=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="gammas"):
        mp_map_stieltjes(1 + 1j, 0.0, jnp.array([1.0]))
    with pytest.raises(ValueError, match="gammas"):
        mp_map_stieltjes(1 + 1j, -1.0, jnp.array([1.0]))
    with pytest.raises(ValueError, match="upper half-plane"):
        mp_map_stieltjes(1 - 1j, 0.5, jnp.array([1.0]))
    with pytest.raises(ValueError, match="NaN"):
        mp_map_stieltjes(1 + 1j, 0.5, jnp.array([1.0, jnp.nan]))
    with pytest.raises(ValueError, match="sum to 1"):
        mp_map_stieltjes(1 + 1j, 0.5, DiscreteMeasure(jnp.array([1.0, 2.0]), jnp.array([0.5, 0.7])))
    with pytest.raises(ValueError, match=r"\[0, inf\)"):
        mp_map_stieltjes(1 + 1j, 0.5, jnp.array([-1.0, 2.0]))
    with pytest.raises(ValueError, match="z contains NaN"):
        mp_map_stieltjes(jnp.nan + 1j, 0.5, jnp.array([1.0]))
