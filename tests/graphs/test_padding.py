"""Unequal sizes n_A < n_B: padding recovers a planted subgraph (rmtjax.graphs.match)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.graphs import correlated_erdos_renyi, edge_overlap, match, permute


def _planted(n_b, n_a, seed):
    """B = a relabelled graph on n_b vertices; A = its induced subgraph on n_a of them."""
    rng = np.random.default_rng(seed)
    A_big = np.asarray(correlated_erdos_renyi(jax.random.key(seed), n_b, 0.3, 0.0).A)
    perm = rng.permutation(n_b)
    B = np.asarray(permute(A_big, perm))
    return A_big[:n_a, :n_a], B, perm[:n_a]


@pytest.mark.parametrize("padding", ["adopted", "naive"])
@pytest.mark.parametrize("method", ["grampa", "isorank", "degree_profile"])
def test_padding_recovers_a_planted_subgraph(method, padding):
    """Fishkind et al. (2019): an induced subgraph on 50 of the 60 vertices of an ER graph
    (q = 0.3), matched into its relabelled host with 6 seed pairs and 20 refinement steps: every
    padding and method recovers the planted vertices, and every edge of A lands on an edge of B
    (edge overlap 1: an exact embedding)."""
    A, B, truth = _planted(60, 50, 0)
    seeds = (np.arange(6), truth[:6])
    perm = match(A, B, method, refine_steps=20, padding=padding, seeds=seeds)
    assert perm.shape == (50,)
    assert len(set(np.asarray(perm).tolist())) == 50
    np.testing.assert_array_equal(perm, truth)
    assert float(edge_overlap(A, B, perm)) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_unseeded_grampa_with_padding(seed):
    A, B, truth = _planted(60, 50, seed)
    np.testing.assert_array_equal(match(A, B, "grampa", refine_steps=20), truth)


def test_more_vertices_in_A_is_refused():
    A = jnp.zeros((5, 5))
    with pytest.raises(ValueError, match="n_A <= n_B"):
        match(A, jnp.zeros((4, 4)))
    with pytest.raises(ValueError, match="unknown padding"):
        match(A[:4, :4], A, padding="zeros")
