"""Tests for rmtjax/_linalg.py: one LAPACK call per matrix on the CPU, equal to jnp.linalg.eigh."""

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax._linalg import eigh, eigh_stacked, eigvalsh, eigvalsh_stacked


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


def test_eigh_equals_jnp_linalg_eigh_bitwise_under_jit_and_vmap(x64):
    mats = _symmetric(10, (3, 2, 7, 7))
    values, vectors = jax.jit(jax.vmap(eigh))(mats)
    ref_values, ref_vectors = jnp.linalg.eigh(mats)  # same LAPACK routine, batched
    np.testing.assert_array_equal(values, ref_values)
    np.testing.assert_array_equal(vectors, ref_vectors)
    np.testing.assert_array_equal(eigvalsh(mats), ref_values)


def test_cpu_program_calls_lapack_once_per_matrix_even_under_vmap():
    """The mechanism: no batched syevd in the compiled CPU program (batch 1 runs inline)."""
    mats = _symmetric(11, (4, 5, 6, 6)).astype(jnp.float32)
    hlo = jax.jit(jax.vmap(lambda m: eigh(m)[1])).lower(mats).as_text()
    assert _syevd_operands(hlo) == {"tensor<6x6xf32>"}
    batched = jax.jit(jnp.linalg.eigh).lower(mats).as_text()  # the control: one (4, 5) batch
    assert _syevd_operands(batched) == {"tensor<4x5x6x6xf32>"}


def _syevd_operands(hlo: str) -> set[str]:
    """Operand types of the LAPACK ``ssyevd`` custom calls in a lowered program."""
    lines = [line for line in hlo.splitlines() if "lapack_ssyevd_ffi" in line]
    return {re.search(r": \((tensor<[^>]*>)\) ->", line).group(1) for line in lines}


def test_eigh_gradient_matches_jnp_linalg_eigh(x64):
    mats = _symmetric(12, (2, 5, 5))

    def loss(f):
        return lambda m: jnp.sum(f(m)[0][..., -1] + f(m)[1][..., 0, -1] ** 2)

    chex.assert_trees_all_close(
        jax.grad(loss(eigh))(mats), jax.grad(loss(jnp.linalg.eigh))(mats), atol=1e-12
    )
    tangent = _symmetric(13, (2, 5, 5))
    chex.assert_trees_all_close(
        jax.jvp(eigvalsh, (mats,), (tangent,))[1],
        jax.jvp(jnp.linalg.eigvalsh, (mats,), (tangent,))[1],
        atol=1e-12,
    )


@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_eigh_rejects_non_square_input(shape):
    with pytest.raises(ValueError, match=r"a must be a \(\.\.\., n, n\) array"):
        eigh(jnp.ones(shape))
