"""Tests for rmtjax/graphs/_bilinear.py: the bilinear form up to row and column constants.

References: the literal ``Phi^T C Psi`` minus the two halved quadratic forms (float64), its
autodiff gradient for the custom VJP, and float32 resolution where the literal form cancels.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from rmtjax.graphs._bilinear import bilinear_up_to_constants


def _literal(Phi, C, Psi):
    S = (C + C.T) / 2
    rows = 0.5 * jnp.einsum("li,lm,mi->i", Phi, S, Phi)
    cols = 0.5 * jnp.einsum("lj,lm,mj->j", Psi, S, Psi)
    return Phi.T @ C @ Psi - rows[:, None] - cols[None, :]


def _problem(r=5, n_a=7, n_b=6):
    keys = jax.random.split(jax.random.key(0), 3)
    Phi = jax.random.normal(keys[0], (r, n_a), jnp.float64)
    C = jax.random.normal(keys[1], (r, r), jnp.float64)  # not symmetric
    Psi = jax.random.normal(keys[2], (r, n_b), jnp.float64)
    return Phi, C, Psi


def test_equals_the_literal_form(x64):
    Phi, C, Psi = _problem()
    chex.assert_trees_all_close(bilinear_up_to_constants(Phi, C, Psi), _literal(Phi, C, Psi))


def test_count_keeps_the_leading_coordinates(x64):
    Phi, C, Psi = _problem()
    keep = jnp.arange(5) < 3
    zeroed = (Phi * keep[:, None], C * keep[:, None] * keep[None, :], Psi * keep[:, None])
    chex.assert_trees_all_close(
        bilinear_up_to_constants(*zeroed, count=3), _literal(*zeroed), atol=1e-14
    )


def test_custom_vjp_equals_autodiff_of_the_literal_form(x64):
    Phi, C, Psi = _problem()
    W = jax.random.normal(jax.random.key(1), (7, 6), jnp.float64)
    ours = jax.grad(lambda *a: jnp.sum(W * bilinear_up_to_constants(*a)), argnums=(0, 1, 2))
    ref = jax.grad(lambda *a: jnp.sum(W * _literal(*a)), argnums=(0, 1, 2))
    chex.assert_trees_all_close(ours(Phi, C, Psi), ref(Phi, C, Psi), rtol=1e-12, atol=1e-12)


def test_float32_resolves_what_the_literal_form_cancels():
    """Coordinates 1 + 1e-4 u_i (as dense walk profiles): the swap gain of a true pair over a
    false one is ~1e-8 of the entries of Phi^T C Psi, below float32's 1.2e-7."""
    u = np.random.default_rng(0).normal(size=(3, 50))
    Phi = jnp.asarray(1 + 1e-4 * u, jnp.float32)
    C = jnp.diag(jnp.asarray([1.0, 0.5, 0.25], jnp.float32))
    ours, literal = bilinear_up_to_constants(Phi, C, Phi), _literal(Phi, C, Phi)
    with jax.enable_x64(True):  # the exact form of the same (float32) coordinates
        truth = np.asarray(_literal(*(jnp.asarray(a, jnp.float64) for a in (Phi, C, Phi))))
    off = ~np.eye(50, dtype=bool)

    def gains(M):  # of the identity over each 2-swap
        M = np.asarray(M, np.float64)
        return (np.diag(M)[:, None] + np.diag(M)[None, :] - M - M.T)[off]

    np.testing.assert_allclose(gains(ours), gains(truth), rtol=1e-4)
    assert np.max(np.abs(gains(literal) / gains(truth) - 1)) > 0.1  # the literal one cannot
