"""rmtjax.graphs.anonymize: the rewiring and Wigner noise models."""

import chex
import jax
import networkx as nx
import numpy as np
import pytest

from rmtjax.graphs import anonymize, from_networkx, unpermute

A = np.asarray(from_networkx(nx.les_miserables_graph()))


@pytest.mark.parametrize("noise", [0.0, 0.1, 0.5])
def test_rewire_keeps_the_edge_count_and_rewires_the_stated_share(noise):
    pair = anonymize(jax.random.key(0), A, noise)
    B0 = np.asarray(unpermute(pair.B, pair.perm))
    m = A.sum() / 2
    assert B0.sum() / 2 == m
    np.testing.assert_array_equal(B0, B0.T)
    assert not np.diagonal(B0).any()
    assert ((A > 0) & (B0 == 0)).sum() / 2 == round(noise * m)
    assert sorted(np.asarray(pair.perm).tolist()) == list(range(len(A)))


def test_wigner_adds_goe_noise():
    pair = anonymize(jax.random.key(1), A, 0.3, model="wigner")
    Z = (np.asarray(unpermute(pair.B, pair.perm)) - A) / 0.3
    n = len(A)
    off = Z[np.triu_indices(n, 1)]
    assert abs(off.var() * n - 1) < 0.05  # off-diagonal N(0, 1/n): ~2900 entries
    chex.assert_trees_all_close(Z, Z.T, atol=1e-6)


def test_same_key_same_pair():
    a, b = anonymize(jax.random.key(2), A, 0.1), anonymize(jax.random.key(2), A, 0.1)
    np.testing.assert_array_equal(a.B, b.B)


@pytest.mark.parametrize(
    "kwargs, phrase",
    [
        ({"noise": 1.5}, r"noise must lie in \[0.0, 1.0\]"),
        ({"noise": 0.1, "model": "gauss"}, "unknown model"),
    ],
)
def test_bad_arguments(kwargs, phrase):
    with pytest.raises(ValueError, match=phrase):
        anonymize(jax.random.key(0), A, **kwargs)


def test_rewire_needs_a_01_graph():
    with pytest.raises(ValueError, match="0/1 adjacency"):
        anonymize(jax.random.key(0), A * 0.5, 0.1)
