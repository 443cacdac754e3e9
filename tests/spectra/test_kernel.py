"""Tests for rmtjax/spectra/kernel.py: the flattened t_L(z, w) recursion."""

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.spectra import DiscreteMeasure, kernel_solve, kernel_stieltjes, marchenko_pastur
from rmtjax.spectra.kernel import layer_bounds


def _mu0():
    return DiscreteMeasure(np.array([0.5, 1.0, 2.0]), np.array([0.25, 0.5, 0.25]))


def _zvecs(rng, count, L):
    """NTK-like z-vectors (-z + q_{-1}, q_0..q_L) with q >= 0 and z in C+."""
    z = rng.uniform(-1, 6, count) + 1j * rng.uniform(0.01, 1, count)
    q = rng.uniform(0.1, 1.0, (count, L + 2))
    return jnp.asarray(q.astype(complex)).at[:, 0].add(-z)


def test_t_of_z_z_is_one(x64):
    # t_L(z, z) = (1/n) tr[A^{-1} A] = 1 for every z-vector: an exact identity of the limit.
    zvec = _zvecs(np.random.default_rng(0), 8, 2)
    t = kernel_stieltjes(zvec, zvec, _mu0(), jnp.array([0.7, 1.6]), 0.8)
    chex.assert_trees_all_close(t, jnp.ones(8, t.dtype), atol=1e-10)


def test_t_is_linear_in_w(x64):
    rng = np.random.default_rng(1)
    zvec = _zvecs(rng, 8, 2)
    w1, w2 = jnp.asarray(rng.normal(size=(2, 4)))
    t = lambda w: kernel_stieltjes(zvec, w, _mu0(), jnp.array([0.7, 1.6]), 0.8)  # noqa: E731
    chex.assert_trees_all_close(t(w1 + 2 * w2), t(w1) + 2 * t(w2), rtol=1e-10)


@pytest.mark.parametrize("b", [0.0, 0.6, 1.0])
def test_one_layer_on_delta_one_is_marchenko_pastur(x64, b):
    # (1 - b^2) + b^2 * 1 = 1, so mu_1 = rho_gamma ⊠ δ1 = MP_gamma for every b.
    z = jnp.linspace(0.05, 4.0, 8) + 0.01j
    zvec = jnp.stack([-z, jnp.zeros_like(z), jnp.ones_like(z)], -1)
    t = kernel_stieltjes(zvec, jnp.array([1.0, 0, 0]), jnp.array([1.0]), jnp.array([1.3]), b)
    chex.assert_trees_all_close(t, marchenko_pastur(1.3).stieltjes(z), rtol=1e-10)


def test_solution_record_shapes(x64):
    zvec = _zvecs(np.random.default_rng(2), 6, 2).reshape(2, 3, 4)
    sol = kernel_solve(zvec, jnp.array([1.0, 0, 0, 0]), _mu0(), jnp.array([0.7, 1.6]), 0.8)
    for leaf in sol:
        chex.assert_shape(leaf, (2, 3))
    assert bool(jnp.all(sol.converged)) and int(jnp.max(sol.iterations)) < 100


def test_bad_input():
    mu0, gammas = jnp.array([1.0]), jnp.array([0.5])
    w = jnp.array([1.0, 0, 0])
    with pytest.raises(ValueError, match="zvec must have shape"):
        kernel_stieltjes(jnp.ones(4), w, mu0, gammas, 0.5)
    with pytest.raises(ValueError, match="Im <= 0"):
        kernel_stieltjes(jnp.array([1j, 0, 1]), w, mu0, gammas, 0.5)
    with pytest.raises(ValueError, match="b must lie"):
        kernel_stieltjes(jnp.array([-1j, 0, 1]), w, mu0, gammas, 1.5)
    with pytest.raises(ValueError, match="gammas"):
        kernel_stieltjes(jnp.array([-1j, 0, 1]), w, mu0, jnp.ones((1, 1)), 0.5)
    with pytest.raises(TypeError, match="mu0"):
        kernel_stieltjes(jnp.array([-1j, 0, 1]), w, "delta", gammas, 0.5)


@pytest.mark.parametrize(("b2", "gammas"), [(0.0, [0.5, 2.0]), (0.5, [0.5]), (1.0, [2.0])])
def test_layer_bounds_are_the_marchenko_pastur_edge_on_delta_one(x64, b2, gammas):
    # nu_1 = (1 - b^2) + b^2 δ1 = δ1 (and nu_k = δ1 for every k when b = 0): each bound is then
    # the Marchenko–Pastur edge (1 + sqrt(gamma_k))^2.
    gammas = jnp.array(gammas)
    h = layer_bounds(DiscreteMeasure(np.array([1.0])), gammas, b2)
    chex.assert_trees_all_close(h, jnp.concatenate([jnp.ones(1), (1 + jnp.sqrt(gammas)) ** 2]))


def test_layer_bound_contains_and_hugs_the_design_reference_support(x64):
    # DESIGN §4: rho_{1/2} ⊠ (0.3δ1 + 0.5δ3 + 0.2δ8) has support top 15.073108121. With b = 1
    # the layer law is exactly that; Gordon's bound (sqrt 8 + sqrt(0.5 * 3.4))^2 = 17.07 holds
    # it, where the cruder (1 + sqrt(gamma))^2 * 8 = 23.3 does not hug it.
    nu = DiscreteMeasure(np.array([1.0, 3.0, 8.0]), np.array([0.3, 0.5, 0.2]))
    h1 = float(layer_bounds(nu, jnp.array([0.5]), 1.0)[1])
    np.testing.assert_allclose(h1, (np.sqrt(8) + np.sqrt(0.5 * 3.4)) ** 2, rtol=1e-12)
    assert 15.073108121 <= h1 < 1.15 * 15.073108121
