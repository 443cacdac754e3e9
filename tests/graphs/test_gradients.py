"""Gradients: implicit (IsoRank, EigenAlign fixed points) and the Sinkhorn soft matching, each
against central finite differences in float64 (a local jax.enable_x64 context)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.graphs import correlated_erdos_renyi, eigenalign, isorank, match, soft_match


def _problem(n=8):
    pair = correlated_erdos_renyi(jax.random.key(1), n, 0.5, 0.2)
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
            _check(lambda t: jnp.sum(W * fn(A + t * E * A, B).X))
        else:
            _check(lambda t: jnp.sum(W * fn(A, B + t * E * B).X))


def test_isorank_gradient_in_alpha():
    with jax.enable_x64(True):
        pair, W, _ = _problem()
        A, B = pair.A.astype(jnp.float64), pair.B.astype(jnp.float64)
        _check(lambda t: jnp.sum(W.astype(jnp.float64) * isorank(A, B, 0.8 + t).X))


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
