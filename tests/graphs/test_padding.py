"""Unequal sizes n_A < n_B: padding recovers a planted subgraph (rmtjax.graphs.match)."""

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from rmtjax.graphs import correlated_erdos_renyi, edge_overlap, from_networkx, match, permute


def _planted(n_b, n_a, seed, A_big=None):
    """B = a relabelled graph on n_b vertices; A = its induced subgraph on n_a of them."""
    rng = np.random.default_rng(seed)
    if A_big is None:
        A_big = np.asarray(correlated_erdos_renyi(jax.random.key(seed), n_b, 0.3, 0.0).A)
    perm = rng.permutation(n_b)
    B = np.asarray(permute(A_big, perm))
    return A_big[:n_a, :n_a], B, perm[:n_a]


@pytest.mark.parametrize("padding", ["adopted", "naive"])
@pytest.mark.parametrize("method", ["grampa", "isorank", "degree_profile"])
def test_padding_recovers_a_planted_subgraph(method, padding):
    """Fishkind et al. (2019): matching an induced subgraph into its host graph; with 20
    refinement steps every padding and method finds a matching that keeps every edge of A
    (edge overlap 1: an exact embedding) and recovers the planted vertices."""
    A, B, truth = _planted(60, 45, 3)
    perm = match(A, B, method, refine_steps=20, padding=padding)
    assert perm.shape == (45,)
    assert len(set(np.asarray(perm).tolist())) == 45
    assert float(edge_overlap(A, B, perm)) == pytest.approx(1.0)
    assert np.mean(np.asarray(perm) == truth) >= 0.95


def test_adopted_beats_naive_without_refinement():
    """Without refinement, naive padding makes GRAMPA prefer the sparse part of B (Fishkind et
    al., Sec. 2.2); adopted (centred) padding does not."""
    karate = np.asarray(from_networkx(nx.karate_club_graph()))
    scores = {}
    for padding in ("adopted", "naive"):
        rec = []
        for seed in range(3):
            A, B, truth = _planted(34, 30, seed, karate)
            rec.append(np.mean(np.asarray(match(A, B, "grampa", padding=padding)) == truth))
        scores[padding] = np.mean(rec)
    assert scores["adopted"] > scores["naive"], scores


def test_more_vertices_in_A_is_refused():
    A = jnp.zeros((5, 5))
    with pytest.raises(ValueError, match="n_A <= n_B"):
        match(A, jnp.zeros((4, 4)))
    with pytest.raises(ValueError, match="unknown padding"):
        match(A[:4, :4], A, padding="zeros")
