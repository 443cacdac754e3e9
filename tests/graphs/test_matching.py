"""Tests for rmtjax.graphs.matching."""

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings

from rmtjax.graphs.matching import match, refine
from rmtjax.graphs.metrics import edge_overlap, recovery_fraction
from rmtjax.graphs.models import correlated_wigner, from_networkx, permute

N = 40


@pytest.fixture(scope="module")
def wigner():
    return correlated_wigner(jax.random.key(0), N, 0.1)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), method=st.sampled_from(["grampa", "top_eigenvector"]))
def test_match_is_permutation_equivariant(wigner, seed, method):
    """Matching (A, B relabelled by pi) gives pi composed with the matching of (A, B)."""
    pi = np.random.default_rng(seed).permutation(N)
    base = np.asarray(match(wigner.A, wigner.B, method))
    moved = np.asarray(match(wigner.A, permute(wigner.B, pi), method))
    np.testing.assert_array_equal(moved, pi[base])


def test_batched_match_equals_loop():
    rng = np.random.default_rng(1)
    A, B = (np.float32(m + np.swapaxes(m, -1, -2)) for m in rng.standard_normal((2, 3, 30, 30)))
    out = match(A, B, eta=0.3)
    assert out.shape == (3, 30) and out.dtype == jnp.int32
    for k in range(3):
        np.testing.assert_array_equal(out[k], match(A[k], B[k], eta=0.3))


def test_refinement_repairs_a_damaged_matching(wigner):
    """Projected power iterations from a 70%-correct seed recover the truth at low noise
    (Araya–Braun–Tyagi, Thm. 1: one step suffices from a good seed for small sigma)."""
    rng = np.random.default_rng(2)
    seed = np.asarray(wigner.perm).copy()
    wrong = rng.choice(N, 12, replace=False)
    seed[wrong] = seed[np.roll(wrong, 1)]
    assert float(recovery_fraction(jnp.asarray(seed), wigner.perm)) <= 0.7
    refined = refine(wigner.A, wigner.B, jnp.asarray(seed), steps=3)
    assert float(recovery_fraction(refined, wigner.perm)) == 1.0


def test_refine_steps_in_match(wigner):
    perm = match(wigner.A, wigner.B, "umeyama", refine_steps=2, rounding="greedy")
    assert float(recovery_fraction(perm, wigner.perm)) == 1.0


def test_real_graph_with_different_edge_counts():
    """A relabelled copy of a bundled networkx graph with 5% of its edges removed."""
    g1 = nx.les_miserables_graph()
    rng = np.random.default_rng(3)
    g2 = g1.copy()
    edges = list(g2.edges())
    g2.remove_edges_from([edges[i] for i in rng.choice(len(edges), len(edges) // 20, False)])
    A, B0 = from_networkx(g1), from_networkx(g2)
    pi = rng.permutation(A.shape[0])
    B = permute(B0, pi)
    assert float(B.sum()) < float(A.sum())
    perm_hat = match(A, B, refine_steps=5)
    assert float(edge_overlap(A, B, perm_hat)) > 0.9
    assert float(recovery_fraction(perm_hat, jnp.asarray(pi, jnp.int32))) > 0.5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rounding": "nope"}, "unknown rounding 'nope'"),
        ({"method": "nope"}, "unknown method 'nope'"),
        ({"refine_steps": -1}, "refine_steps must be a non-negative int"),
        ({"eta": 0.0}, "eta must be finite and > 0"),
    ],
)
def test_bad_options_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        match(np.eye(3), np.eye(3), **kwargs)


def test_aliases_and_return_info(wigner):
    A, B = wigner.A[:20, :20], wigner.A[:20, :20]
    np.testing.assert_array_equal(
        match(A, B, "qp_doubly_stochastic", tol=1e-3), match(A, B, "qp", tol=1e-3)
    )
    perm, info = match(A, B, "eigenalign", return_info=True)
    assert (
        perm.shape == (20,)
        and bool(info.converged)
        and int(info.iterations) > 1
        and float(info.residual) <= 1e-6
    )
    assert info.value.shape == (20, 20)
    _, info = match(A, B, "grampa", return_info=True)
    assert bool(info.converged) and int(info.iterations) == 0
    with pytest.raises(ValueError, match="unknown method 'qp_ds'"):
        match(A, B, "qp_ds")


def test_normalize_auto_equals_explicit_normalization():
    """0/1 graphs: 'auto' gives GRAMPA normalize_adjacency of both, IsoRank the raw graphs."""
    from rmtjax.graphs import correlated_erdos_renyi, isorank, normalize_adjacency

    pair = correlated_erdos_renyi(jax.random.key(3), 30, 0.3, 0.1)
    An, Bn = normalize_adjacency(pair.A), normalize_adjacency(pair.B)
    np.testing.assert_array_equal(
        match(pair.A, pair.B, "grampa"), match(An, Bn, "grampa", normalize=False)
    )
    _, info = match(pair.A, pair.B, "isorank", return_info=True)
    np.testing.assert_allclose(info.value, isorank(pair.A, pair.B).value)
