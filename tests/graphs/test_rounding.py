"""Tests for rmtjax.graphs.rounding."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from rmtjax.graphs.rounding import round_to_permutation

EXACT = ("hungarian", "scipy", "auto")


def _objective(X, perm):
    return float(np.sum(np.take_along_axis(np.asarray(X), np.asarray(perm)[..., None], -1)))


def _scipy_objective(X):
    rows, cols = scipy.optimize.linear_sum_assignment(np.asarray(X), maximize=True)
    return float(np.asarray(X)[rows, cols].sum())


def _is_permutation(perm):
    p = np.asarray(perm)
    return np.array_equal(np.sort(p, axis=-1), np.broadcast_to(np.arange(p.shape[-1]), p.shape))


@pytest.mark.parametrize("method", EXACT)
@pytest.mark.parametrize("n", [1, 2, 9, 40])
def test_exact_methods_reach_the_scipy_optimum(method, n):
    rng = np.random.default_rng(n)
    for X in (rng.standard_normal((n, n)), rng.integers(0, 3, (n, n)).astype(float)):  # ties
        X = jnp.asarray(X, jnp.float32)
        perm = round_to_permutation(X, method)
        assert perm.dtype == jnp.int32 and _is_permutation(perm)
        assert _objective(X, perm) == pytest.approx(_scipy_objective(X), abs=1e-4)


@pytest.mark.parametrize("method", EXACT)
def test_exact_methods_match_brute_force(method):
    X = np.random.default_rng(7).standard_normal((6, 6))
    best = max(itertools.permutations(range(6)), key=lambda p: X[range(6), p].sum())
    np.testing.assert_array_equal(round_to_permutation(jnp.asarray(X), method), best)


def _greedy_reference(X):
    X = np.array(X, dtype=float)
    n = len(X)
    perm = np.empty(n, int)
    for _ in range(n):
        i, j = np.unravel_index(np.argmax(X), X.shape)
        perm[i] = j
        X[i, :] = -np.inf
        X[:, j] = -np.inf
    return perm


@pytest.mark.parametrize("n", [1, 5, 50])
def test_greedy_takes_largest_remaining_entry(n):
    X = np.random.default_rng(n).standard_normal((n, n)).astype(np.float32)
    perm = round_to_permutation(X, "greedy")
    assert _is_permutation(perm)
    np.testing.assert_array_equal(perm, _greedy_reference(X))


def test_greedy_valid_on_ties():
    perm = round_to_permutation(jnp.ones((7, 7)), "greedy")
    assert _is_permutation(perm)


@pytest.mark.parametrize("method", ("hungarian", "scipy", "greedy"))
def test_batches_jit_and_vmap_agree(method):
    X = jnp.asarray(np.random.default_rng(3).standard_normal((2, 3, 9, 9)), jnp.float32)
    batched = round_to_permutation(X, method)
    assert batched.shape == (2, 3, 9)
    loop = np.array([[round_to_permutation(X[a, b], method) for b in range(3)] for a in range(2)])
    np.testing.assert_array_equal(batched, loop)
    f = jax.jit(jax.vmap(lambda x: round_to_permutation(x, method)))
    np.testing.assert_array_equal(f(X.reshape(6, 9, 9)), loop.reshape(6, 9))


@pytest.mark.parametrize(
    "X, method, message",
    [
        (np.ones((2, 3)), "auto", "X must be a square"),
        (np.full((2, 2), np.nan), "auto", "X contains NaN"),
        (np.eye(2), "lapjv", "unknown rounding method 'lapjv'"),
    ],
)
def test_bad_input_raises(X, method, message):
    with pytest.raises(ValueError, match=message):
        round_to_permutation(X, method)
