"""Tests for rmtjax.graphs.models against the defining laws (Monte Carlo within its error)."""

import chex
import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from rmtjax.graphs.models import (
    correlated_erdos_renyi,
    correlated_wigner,
    from_edges,
    from_networkx,
    normalize_adjacency,
    permute,
    unpermute,
)

KEY = jax.random.key(0)


def _unpermute(B, perm):
    """B0[i, j] = B[perm[i], perm[j]] (the DESIGN's convention, written independently)."""
    return np.asarray(B)[np.ix_(np.asarray(perm), np.asarray(perm))]


def test_wigner_shapes_and_symmetry():
    pair = correlated_wigner(KEY, 30, 0.2, batch=(2, 3))
    chex.assert_shape(pair.A, (2, 3, 30, 30))
    chex.assert_shape(pair.B, (2, 3, 30, 30))
    chex.assert_shape(pair.perm, (2, 3, 30))
    # Symmetric up to float32 rounding (XLA's CPU fusions may round mirrored entries apart
    # by an ulp); entries are O(n^{-1/2}) ~ 0.2.
    chex.assert_trees_all_close(pair.A, jnp.swapaxes(pair.A, -1, -2), atol=1e-6)
    chex.assert_trees_all_close(pair.B, jnp.swapaxes(pair.B, -1, -2), atol=1e-6)
    for p in np.asarray(pair.perm).reshape(-1, 30):
        assert sorted(p) == list(range(30))


def test_goe_entry_variances():
    # 200 matrices of n=50: off-diagonal variance 1/n from 200*1225 samples (rel. s.e. ~0.6%),
    # diagonal 2/n from 200*50 samples (rel. s.e. ~1.4%); allow 5 standard errors.
    n, trials = 50, 200
    A = np.asarray(correlated_wigner(KEY, n, 0.0, batch=trials).A)
    off = A[:, *np.triu_indices(n, 1)]
    diag = np.diagonal(A, axis1=-2, axis2=-1)
    assert abs(off.var() * n - 1) < 5 * np.sqrt(2 / off.size)
    assert abs(diag.var() * n / 2 - 1) < 5 * np.sqrt(2 / diag.size)
    assert abs(off.mean()) < 5 * np.sqrt(1 / n / off.size)


def test_wigner_permutation_convention_and_noise():
    sigma = 0.3
    pair = correlated_wigner(KEY, 40, sigma)
    Z = (_unpermute(pair.B, pair.perm) - np.asarray(pair.A)) / sigma
    # The un-permuted difference is sigma * GOE: symmetric with off-diagonal variance 1/n.
    np.testing.assert_allclose(Z, Z.T, atol=1e-5)
    assert 0.7 < Z[np.triu_indices(40, 1)].var() * 40 < 1.3


def test_wigner_sigma_zero_is_isomorphic():
    pair = correlated_wigner(KEY, 25, 0.0)
    np.testing.assert_allclose(_unpermute(pair.B, pair.perm), pair.A, atol=1e-6)


def test_unpermute_inverts_permute():
    B0 = jax.random.normal(KEY, (6, 6))
    perm = jax.random.permutation(jax.random.key(1), 6)
    chex.assert_trees_all_close(unpermute(permute(B0, perm), perm), B0)


def test_permute_matches_convention():
    B0 = np.arange(16.0).reshape(4, 4)
    perm = jnp.array([2, 0, 3, 1])
    B = np.asarray(permute(jnp.asarray(B0), perm))
    for i in range(4):
        for j in range(4):
            assert B[perm[i], perm[j]] == B0[i, j]


@pytest.mark.parametrize(("q", "delta"), [(0.5, 0.05), (0.1, 0.3)])
def test_erdos_renyi_law(q, delta):
    n, trials = 40, 100
    pair = correlated_erdos_renyi(KEY, n, q, delta, batch=trials)
    A = np.asarray(pair.A)
    B0 = np.stack([_unpermute(b, p) for b, p in zip(pair.B, pair.perm, strict=True)])
    iu = np.triu_indices(n, 1)
    a, b = A[:, *iu], B0[:, *iu]
    m = a.size
    se = lambda p: np.sqrt(p * (1 - p) / m)  # noqa: E731
    assert set(np.unique(A)) <= {0.0, 1.0}
    assert np.all(np.diagonal(A, axis1=-2, axis2=-1) == 0)
    np.testing.assert_array_equal(A, np.swapaxes(A, -1, -2))
    np.testing.assert_array_equal(B0, np.swapaxes(B0, -1, -2))
    assert abs(a.mean() - q) < 5 * se(q)
    assert abs(b.mean() - q) < 5 * se(q)
    p11 = (1 - delta) * q
    assert abs((a * b).mean() - p11) < 5 * se(p11)


def test_erdos_renyi_delta_zero_isomorphic():
    pair = correlated_erdos_renyi(KEY, 30, 0.3, 0.0)
    np.testing.assert_array_equal(_unpermute(pair.B, pair.perm), pair.A)


def test_erdos_renyi_rejects_impossible_law():
    with pytest.raises(ValueError, match=r"q\(1 \+ delta\)"):
        correlated_erdos_renyi(KEY, 10, 0.8, 0.5)
    with pytest.raises(ValueError, match="q must lie"):
        correlated_erdos_renyi(KEY, 10, 1.5, 0.1)
    with pytest.raises(ValueError, match="delta must lie"):
        correlated_erdos_renyi(KEY, 10, 0.5, -0.1)


@pytest.mark.parametrize("model", ["wigner", "er"])
def test_same_key_same_pair_regardless_of_batch(model):
    draw = {
        "wigner": lambda batch: correlated_wigner(KEY, 20, 0.1, batch=batch),
        "er": lambda batch: correlated_erdos_renyi(KEY, 20, 0.4, 0.1, batch=batch),
    }[model]
    small, large = draw(3), draw(7)
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[:3], large), small)
    flat = draw((2, 3))
    chex.assert_trees_all_close(jax.tree.map(lambda x: x.reshape(6, *x.shape[2:])[:3], flat), small)


def test_models_under_jit():
    f = jax.jit(lambda k: correlated_erdos_renyi(k, 16, 0.5, 0.1), static_argnums=())
    chex.assert_trees_all_close(f(KEY), correlated_erdos_renyi(KEY, 16, 0.5, 0.1))
    g = jax.jit(lambda k, s: correlated_wigner(k, 16, s))
    chex.assert_trees_all_close(g(KEY, 0.2), correlated_wigner(KEY, 16, 0.2), atol=1e-6)


def test_normalize_adjacency_spectrum():
    # Centred, scaled G(n, 1/2): semicircle on [-2, 2]; edge fluctuations O(n^{-2/3}).
    A = correlated_erdos_renyi(KEY, 400, 0.5, 0.0).A
    eig = np.linalg.eigvalsh(np.asarray(normalize_adjacency(A)))
    assert -2.2 < eig.min() and eig.max() < 2.2
    np.testing.assert_allclose(np.mean(eig**2), 1.0, atol=0.05)


def test_normalize_adjacency_explicit_q_and_batch():
    A = correlated_erdos_renyi(KEY, 10, 0.3, 0.1, batch=2).A
    q = 0.3
    expected = (np.asarray(A) - q) / np.sqrt(10 * q * (1 - q))
    np.testing.assert_allclose(normalize_adjacency(A, q), expected, rtol=1e-6)
    batched = normalize_adjacency(A)
    np.testing.assert_allclose(batched[1], normalize_adjacency(A[1]), rtol=1e-6)


def test_normalize_adjacency_bad_input():
    with pytest.raises(ValueError, match="square"):
        normalize_adjacency(jnp.ones((3, 4)))
    with pytest.raises(ValueError, match="density"):
        normalize_adjacency(jnp.zeros((4, 4)))
    with pytest.raises(ValueError, match="NaN"):
        normalize_adjacency(jnp.full((3, 3), jnp.nan))


def test_from_edges_and_networkx():
    G = nx.karate_club_graph()
    A = np.asarray(from_networkx(G))
    np.testing.assert_array_equal(A, nx.to_numpy_array(G, weight=None))
    np.testing.assert_array_equal(A, np.asarray(from_edges(list(G.edges()), n=34)))
    B = np.asarray(from_edges([(0, 1), (1, 0), (2, 2)], n=4))
    assert B.sum() == 2 and B[0, 1] == B[1, 0] == 1 and B[2, 2] == 0


def test_from_edges_bad_input():
    with pytest.raises(ValueError, match="vertex ids"):
        from_edges([(0, 5)], n=3)
    with pytest.raises(ValueError, match=r"\(m, 2\)"):
        from_edges(np.zeros((3, 3), int))
    with pytest.raises(TypeError, match="networkx"):
        from_networkx(object())
