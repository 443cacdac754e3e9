"""Gradients: IsoRank (walk series), EigenAlign (implicit in the Krylov coefficients) and the
Sinkhorn soft matching, each against central finite differences in float64 (a local
jax.enable_x64 context)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.graphs import (
    correlated_erdos_renyi,
    eigenalign,
    isorank,
    match,
    sinkhorn,
    soft_match,
)


def _problem(n=10, key=1):
    # n = 10, key 1: both Krylov spaces of (A, 1) and (B, 1) have full dimension 10
    pair = correlated_erdos_renyi(jax.random.key(key), n, 0.5, 0.2)
    W = jax.random.normal(jax.random.key(2), (n, n))
    E = jax.random.normal(jax.random.key(3), (n, n))
    return pair, W, E + E.T


def _check(f, h=1e-5):
    g = jax.grad(f)(0.0)
    fd = (f(h) - f(-h)) / (2 * h)
    np.testing.assert_allclose(float(g), float(fd), rtol=1e-5, atol=1e-9)
    assert abs(float(g)) > 1e-6  # a test that could fail


@pytest.mark.parametrize("fn", [isorank, eigenalign])
@pytest.mark.parametrize("target", ["A", "B"])
def test_fixed_point_gradients_match_finite_differences(fn, target):
    """Directions along the edges (|A_ij| is not differentiable at a zero entry)."""
    with jax.enable_x64(True):
        pair, W, E = _problem()
        A, B = pair.A.astype(jnp.float64), pair.B.astype(jnp.float64)
        W, E = W.astype(jnp.float64), E.astype(jnp.float64)
        if target == "A":
            _check(lambda t: jnp.sum(W * fn(A + t * E * A, B).value))
        else:
            _check(lambda t: jnp.sum(W * fn(A, B + t * E * B).value))


def test_eigenalign_gradient_is_nan_where_the_krylov_space_is_deficient():
    """n = 8, key 1: A's Krylov space has dimension 4 < 8 and carries the eigenvector to its
    last direction; the perturbed graph's space has more, which a derivative through the
    basis cannot see (finite differences give -44.8): NaN, not a wrong number."""
    with jax.enable_x64(True):
        pair, W, E = _problem(8)
        A, B = pair.A.astype(jnp.float64), pair.B.astype(jnp.float64)
        g = jax.grad(lambda t: jnp.sum(W * eigenalign(A + t * E * A, B).value))(0.0)
        assert np.isnan(float(g))
        assert bool(eigenalign(A, B).converged)  # the value itself is fine


def test_isorank_gradient_in_alpha():
    with jax.enable_x64(True):
        pair, W, _ = _problem()
        A, B = pair.A.astype(jnp.float64), pair.B.astype(jnp.float64)
        _check(lambda t: jnp.sum(W.astype(jnp.float64) * isorank(A, B, 0.8 + t).value))


@pytest.mark.parametrize("method", ["grampa", "isorank"])
def test_soft_match_gradient_matches_finite_differences(method):
    with jax.enable_x64(True):
        pair, W, E = _problem(10)
        A, B = pair.A.astype(jnp.float64), pair.B.astype(jnp.float64)
        W, E = W.astype(jnp.float64), E.astype(jnp.float64)

        def f(t):
            P = soft_match(A + t * E * A, B, method, temperature=0.3, normalize=True)
            return jnp.sum(W * P)

        _check(f)


def test_sinkhorn_ignores_row_and_column_constants():
    """The similarities of IsoRank and EigenAlign are defined up to such constants."""
    with jax.enable_x64(True):
        X = jax.random.normal(jax.random.key(6), (12, 12), jnp.float64)
        r, c = jax.random.normal(jax.random.key(7), (2, 12), jnp.float64) * 50
        P = sinkhorn(X, 0.2)
        np.testing.assert_allclose(sinkhorn(X + r[:, None] + c[None, :], 0.2), P, atol=1e-10)
        assert float(jnp.max(P)) < 0.99  # still soft: the constants did not shrink tau s


def test_soft_match_tends_to_the_exact_matching():
    pair = correlated_erdos_renyi(jax.random.key(4), 40, 0.5, 0.0)
    P = soft_match(pair.A, pair.B, "grampa", temperature=0.01, sinkhorn_steps=300)
    np.testing.assert_allclose(P.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(jnp.argmax(P, axis=-1), match(pair.A, pair.B, "grampa"))


def test_grad_through_match_passes():
    """match's integer output has a zero tangent: a loss indexing with it differentiates."""
    pair = correlated_erdos_renyi(jax.random.key(5), 20, 0.5, 0.0)

    def loss(A):
        perm = match(A, pair.B, "grampa", normalize=False)
        return jnp.sum(A * pair.B[perm][:, perm])

    g = jax.grad(loss)(pair.A)
    perm = match(pair.A, pair.B, "grampa", normalize=False)
    np.testing.assert_allclose(g, pair.B[perm][:, perm])
