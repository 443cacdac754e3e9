"""Continuous input laws (marchenko_pastur, semicircle, mixtures) in the Fan–Wang recursion.

Two independent references:
- a 20 000-atom midpoint-quantile discretization of the same law. For a density with
  square-root edges the midpoint-quantile rule errs by O(N^{-3/2}) on smooth integrands
  (N^{-3/2} = 3.5e-7 at N = 20 000; the integrands 1/(p + q x) at Im z >= 0.1 have O(1)
  derivatives here), so we allow 1e-6; a wrong law (e.g. a shifted or rescaled MP) differs
  by > 1e-3 (checked below);
- a small numpy fixed-point solver written here from the recursion (damped plain iteration at
  Im z >= 0.1, where it contracts), with the input law entering only through the numpy closed
  forms of its Stieltjes transform.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.spectra import (
    DiscreteMeasure,
    ck_limit,
    marchenko_pastur,
    mixture,
    mp_map_stieltjes,
    ntk_limit,
    semicircle,
)

Z = np.array([1.0 + 0.3j, 3.0 + 0.1j, 0.4 + 0.2j])


def _mp_quantiles(g0, n):
    """Midpoint quantiles of MP(g0), g0 < 1, by inverting a fine trapezoid CDF."""
    a, b = (1 - np.sqrt(g0)) ** 2, (1 + np.sqrt(g0)) ** 2
    xs = np.linspace(a, b, 400_001)
    dens = np.sqrt(np.maximum((b - xs) * (xs - a), 0)) / (2 * np.pi * g0 * xs)
    cdf = np.concatenate([[0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(xs))])
    return np.interp((np.arange(n) + 0.5) / n, cdf / cdf[-1], xs)


def _np_mp_stieltjes(z, g0):
    a, b = (1 - np.sqrt(g0)) ** 2, (1 + np.sqrt(g0)) ** 2
    root = np.sqrt(z - a) * np.sqrt(z - b)
    return (1 - g0 - z + root) / (2 * g0 * z)


def _np_recursion(z, stieltjes, mean, gammas, b, q):
    """The flattened Fan–Wang recursion in numpy, m(z) = t_L((-z + q_-1, q_0..q_L), e_-1)."""
    L, b2 = len(gammas), b * b
    s = np.full(L, 1j)
    for _ in range(20_000):
        zc = np.array(q, complex)
        zc[0] -= z
        R = [0j] * (L + 1)
        for k in range(L, 0, -1):
            denom = 1 + gammas[k - 1] * zc[k + 1] * s[k - 1]
            c = zc[k + 1] / denom
            R[k] = s[k - 1] / denom
            zc[0] += (1 - b2) * c
            zc[k] += b2 * c
        p, qq = zc[0], zc[1]
        T = 1 / p if qq == 0 else stieltjes(-p / qq) / qq
        R[0] = mean / p if qq == 0 else (1 - p * T) / qq
        new = np.array([(1 - b2) * T + b2 * R[k - 1] for k in range(1, L + 1)])
        if np.max(np.abs(new - s)) < 1e-15:
            break
        s = 0.5 * s + 0.5 * new
    return T


@pytest.mark.parametrize("gammas", [(0.5,), (0.5, 0.3)])
def test_mp_input_matches_its_discretization(x64, gammas):
    g0, b = 0.5, 0.8
    exact = ck_limit(marchenko_pastur(g0), gammas, (1.0, b)).stieltjes(Z)
    fine = ck_limit(_mp_quantiles(g0, 20_000), gammas, (1.0, b)).stieltjes(Z)
    np.testing.assert_allclose(np.asarray(exact), np.asarray(fine), atol=1e-6, rtol=0)
    wrong = ck_limit(_mp_quantiles(0.45, 20_000), gammas, (1.0, b)).stieltjes(Z)
    assert np.max(np.abs(np.asarray(exact - wrong))) > 1e-3


def test_mp_input_matches_independent_recursion(x64):
    g0, gammas, (a, b) = 0.5, (0.5, 0.7), (1.3, 0.7)
    spec = ntk_limit(marchenko_pastur(g0), gammas, (a, b))
    got = np.asarray(spec.stieltjes(Z))
    q = np.asarray(spec.q)
    ref = [_np_recursion(z, lambda w: _np_mp_stieltjes(w, g0), 1.0, gammas, b, q) for z in Z]
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_mixture_with_atoms_matches_independent_recursion(x64):
    mu = mixture([DiscreteMeasure([0.0, 2.0]), marchenko_pastur(0.3)], [0.3, 0.7])
    got = np.asarray(ck_limit(mu, (0.4,), (1.0, 0.9)).stieltjes(Z))

    def m(w):
        return 0.3 * (0.5 / (0.0 - w) + 0.5 / (2.0 - w)) + 0.7 * _np_mp_stieltjes(w, 0.3)

    ref = [_np_recursion(z, m, 0.3 + 0.7, (0.4,), 0.9, [0.0, 0.0, 1.0]) for z in Z]
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_semicircle_input_matches_independent_recursion(x64):
    got = np.asarray(mp_map_stieltjes(Z + 1j, 0.5, semicircle(0.2)))

    def m(w):
        e = 2 * np.sqrt(0.2)
        return (-w + np.sqrt(w - e) * np.sqrt(w + e)) / (2 * 0.2)

    ref = [_np_recursion(z, m, 0.0, (0.5,), 1.0, [0.0, 0.0, 1.0]) for z in Z + 1j]
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_mp_input_gradient_in_its_ratio(x64):
    def f(g0):
        return jnp.imag(ck_limit(marchenko_pastur(g0), (0.5,), (1.0, 0.8)).stieltjes(Z[0]))

    h = 1e-5
    fd = (f(0.5 + h) - f(0.5 - h)) / (2 * h)
    chex.assert_trees_all_close(jax.grad(f)(0.5), fd, rtol=1e-7)
