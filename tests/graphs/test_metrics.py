"""Tests for rmtjax.graphs.metrics."""

import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.graphs.metrics import edge_overlap, recovery_fraction
from rmtjax.graphs.models import permute


def _graph(rng, n, q, batch=()):
    upper = np.triu(rng.random((*batch, n, n)) < q, 1).astype(np.float32)
    return upper + np.swapaxes(upper, -1, -2)


def test_recovery_fraction_counts_agreements_per_batch():
    perm = jnp.array([[0, 1, 2, 3], [3, 2, 1, 0]])
    perm_hat = jnp.array([[0, 1, 3, 2], [3, 2, 1, 0]])
    np.testing.assert_allclose(recovery_fraction(perm_hat, perm), [0.5, 1.0])


def test_edge_overlap_of_the_true_permutation_is_one():
    rng = np.random.default_rng(0)
    A, perm = _graph(rng, 30, 0.3), rng.permutation(30)
    assert float(edge_overlap(A, permute(A, perm), perm)) == pytest.approx(1.0, abs=1e-6)


def test_edge_overlap_counts_common_edges():
    """Reference: the fraction of A's edges (i, j) with (perm[i], perm[j]) an edge of B, for
    graphs with equal edge counts (relabelled copies)."""
    rng = np.random.default_rng(1)
    A = _graph(rng, 25, 0.4)
    B = np.asarray(permute(A, rng.permutation(25)))
    guess = rng.permutation(25)
    edges = np.argwhere(np.triu(A) > 0)
    kept = np.mean([B[guess[i], guess[j]] for i, j in edges])
    assert float(edge_overlap(A, B, guess)) == pytest.approx(kept, abs=1e-6)


def test_edge_overlap_batches():
    rng = np.random.default_rng(2)
    A, B = _graph(rng, 10, 0.5, (3,)), _graph(rng, 10, 0.5, (3,))
    perm = np.stack([rng.permutation(10) for _ in range(3)])
    out = edge_overlap(A, B, perm)
    assert out.shape == (3,)
    ref = [
        np.sum(A[k] * B[k][perm[k]][:, perm[k]]) / np.sqrt(A[k].sum() * B[k].sum())
        for k in range(3)
    ]
    np.testing.assert_allclose(out, ref, rtol=1e-6)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: recovery_fraction(jnp.arange(3), jnp.arange(4)), "same n vertices"),
        (lambda: recovery_fraction(jnp.ones(3), jnp.arange(3)), "integer array"),
        (lambda: edge_overlap(jnp.eye(4), jnp.eye(3), jnp.arange(4)), r"n_A <= n_B"),
        (lambda: edge_overlap(jnp.ones((3, 2)), jnp.eye(3), jnp.arange(3)), "A must be a square"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()
