"""Tests for rmtjax/_linalg.py: one batched eigh call equals one call per matrix."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from rmtjax._linalg import eigh_stacked, eigvalsh_stacked


def _symmetric(seed, shape):
    a = np.random.default_rng(seed).standard_normal(shape)
    return jnp.asarray(a + np.swapaxes(a, -1, -2))


def test_eigh_stacked_matches_numpy_per_matrix(x64):
    mats = [_symmetric(s, (3, 6, 6)) for s in range(3)]  # a leading batch axis too
    for M, (vals, vecs) in zip(mats, eigh_stacked(*mats), strict=True):
        chex.assert_shape([vals, vecs], [(3, 6), (3, 6, 6)])
        np.testing.assert_allclose(vals, np.linalg.eigvalsh(np.asarray(M)), atol=1e-12)
        # Eigenvectors up to sign: M V = V diag(vals), V orthonormal.
        chex.assert_trees_all_close(M @ vecs, vecs * vals[..., None, :], atol=1e-11)
        chex.assert_trees_all_close(
            jnp.swapaxes(vecs, -1, -2) @ vecs, jnp.broadcast_to(jnp.eye(6), (3, 6, 6)), atol=1e-12
        )


def test_eigvalsh_stacked_under_jit_and_vmap(x64):
    mats = _symmetric(7, (2, 5, 5))
    fn = jax.jit(jax.vmap(lambda M: eigvalsh_stacked(M, 2.0 * M, M + 1.0)))
    out = fn(mats)
    chex.assert_shape(out, (2, 3, 5))
    expected = np.stack(
        [
            np.linalg.eigvalsh(np.asarray(f(mats)))
            for f in (lambda M: M, lambda M: 2.0 * M, lambda M: M + 1.0)
        ],
        axis=1,
    )
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_batch_dimensions_broadcast(x64):
    A, B = _symmetric(8, (1, 4, 4)), _symmetric(9, (3, 4, 4))
    (lam, _), (mu, _) = eigh_stacked(A, B)
    chex.assert_shape([lam, mu], (3, 4))
    np.testing.assert_allclose(lam, np.broadcast_to(np.linalg.eigvalsh(A), (3, 4)), atol=1e-12)
    np.testing.assert_allclose(mu, np.linalg.eigvalsh(B), atol=1e-12)
