"""Tests for rmtjax/spectra/edges.py and LimitSpectrum.edges: roots of the edge equation.

References: the Marchenko–Pastur edges (1 ± sqrt(gamma))^2 and their gamma-derivative
1 ± 1/sqrt(gamma) in closed form; central finite differences of the edges themselves for CK
and NTK limits of depth 1..3 (h = 1e-5 in float64: truncation error h^2 |e'''| ~ 1e-10, round-off
eps |e| / h ~ 1e-11, so a 1e-6 relative tolerance cannot be met by a wrong derivative).
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.activations import Activation
from rmtjax.spectra import DiscreteMeasure, ck_limit, ntk_limit


def _mp(gamma):
    return ck_limit(DiscreteMeasure([1.0]), (gamma,), "quadratic")


def test_mp_edges_and_their_gamma_derivative(x64):
    gamma = 0.5
    edges = _mp(gamma).edges()
    chex.assert_shape(edges, (1, 2))
    expected = np.array([(1 - np.sqrt(gamma)) ** 2, (1 + np.sqrt(gamma)) ** 2])
    np.testing.assert_allclose(np.asarray(edges[0]), expected, rtol=1e-12)
    grad = jax.grad(lambda g: _mp(g).edges()[0, 1])(gamma)
    np.testing.assert_allclose(float(grad), 1 + 1 / np.sqrt(gamma), rtol=1e-9)


@pytest.mark.slow  # the jitted scan compiles 1 + 6 solves, then the Newton solve
def test_edges_under_jit_with_a_static_count(x64):
    fn = jax.jit(lambda g: _mp(g).edges(intervals=1))
    np.testing.assert_allclose(
        np.asarray(fn(0.3))[0], [(1 - np.sqrt(0.3)) ** 2, (1 + np.sqrt(0.3)) ** 2], rtol=1e-12
    )
    grad = jax.jit(jax.grad(lambda g: _mp(g).edges(intervals=1)[0, 0]))(0.3)
    np.testing.assert_allclose(float(grad), 1 - 1 / np.sqrt(0.3), rtol=1e-9)


@pytest.mark.slow  # the jitted scan compiles 1 + 6 solves, then the Newton solve
def test_wrong_interval_count_under_jit_is_nan_not_a_number(x64):
    edges = jax.jit(lambda g: _mp(g).edges(intervals=2, throw=False))(0.3)
    assert np.all(np.isnan(np.asarray(edges)))


def test_edges_under_jit_need_a_count(x64):
    with pytest.raises(TypeError, match="intervals"):
        jax.jit(lambda g: _mp(g).edges())(0.3)


_MU0 = DiscreteMeasure(jnp.array([0.5, 1.0, 2.0]), jnp.array([0.25, 0.5, 0.25]))


def _edges(kind, alpha, gammas):
    act = Activation.standardized(lambda x, a: jnp.tanh(a * x), alpha)
    return kind(_MU0, tuple(gammas), act).edges()


@pytest.mark.slow
@pytest.mark.parametrize("kind", [ck_limit, ntk_limit], ids=["ck", "ntk"])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("side", [0, 1], ids=["lower", "upper"])
def test_edge_gradients_match_central_differences(x64, kind, depth, side):
    gammas = [0.5, 0.3, 0.8][:depth]
    alpha, h = 1.0, 1e-5

    def by_alpha(a):
        return _edges(kind, a, gammas)[0, side]

    def by_gamma(g):
        return _edges(kind, alpha, [g, *gammas[1:]])[0, side]

    for fn, x in ((by_alpha, alpha), (by_gamma, gammas[0])):
        fd = (fn(x + h) - fn(x - h)) / (2 * h)
        np.testing.assert_allclose(float(jax.grad(fn)(x)), float(fd), rtol=1e-6)


@pytest.mark.slow  # compile-heavy: the default run stays under 10 minutes on 2 cores
def test_ck_depth3_lower_edge_near_0_is_where_the_density_starts(x64):
    # The edge lies below the first scan midpoint (~6e-3): it must be found, not put at 0.
    act = Activation.standardized(lambda x, a: jnp.tanh(a * x), 1.0)
    spec = ck_limit(_MU0, (0.5, 0.3, 0.8), act)
    lower = float(spec.edges()[0, 0])
    assert 0 < lower < 0.1
    rho = np.asarray(spec.density(jnp.array([lower * (1 - 1e-3), lower * (1 + 1e-3)])))
    assert rho[0] == 0 and rho[1] > 0
