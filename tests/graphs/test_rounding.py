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


def _scipy_perm(X):
    return scipy.optimize.linear_sum_assignment(np.asarray(X), maximize=True)[1]


@pytest.mark.parametrize("method", ("scipy", "topk"))
@pytest.mark.parametrize("kind", ("numpy", "jax"))
def test_host_methods_eager_and_under_jit_give_scipys_assignment(method, kind):
    # Eagerly the host roundings skip the device (numpy X stays in numpy); under jit they go
    # through the callback. Both must give scipy's optimum, with seeds too.
    X = np.random.default_rng(11).standard_normal((30, 30)).astype(np.float32)
    Xin = X if kind == "numpy" else jnp.asarray(X)
    want = _scipy_perm(X)
    eager = round_to_permutation(Xin, method)  # topk: 32 candidates >= n, the dense LAP
    assert isinstance(eager, jax.Array) and eager.dtype == jnp.int32
    np.testing.assert_array_equal(eager, want)
    np.testing.assert_array_equal(jax.jit(lambda x: round_to_permutation(x, method))(X), want)
    sa, sb = np.array([0, 7]), np.array([3, 1])
    free_a, free_b = np.setdiff1d(np.arange(30), sa), np.setdiff1d(np.arange(30), sb)
    seeded = np.empty(30, int)
    seeded[sa], seeded[free_a] = sb, free_b[_scipy_perm(X[np.ix_(free_a, free_b)])]
    np.testing.assert_array_equal(round_to_permutation(Xin, method, seeds=(sa, sb)), seeded)


def test_host_rounding_of_float64_numpy_uses_the_float32_matrix_without_x64():
    # Without x64 X is rounded to float32 first (as jnp.asarray does), then assigned; 1 + 2^-30
    # rounds to 1, so the float32 matrix is a tie broken by scipy the same way for both.
    X = np.array([[1.0, 1.0 + 2.0**-30], [1.0, 1.0]])
    want = _scipy_perm(X.astype(np.float32))
    np.testing.assert_array_equal(round_to_permutation(X, "scipy"), want)
    np.testing.assert_array_equal(round_to_permutation(jnp.asarray(X), "scipy"), want)


@pytest.mark.parametrize("method", ("scipy", "topk"))
def test_host_methods_refuse_nonfinite_x_eagerly_and_under_jit(method):
    X = np.eye(3)
    X[1, 2] = np.inf
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        round_to_permutation(X, method)
    # Under jit the (unordered) finiteness check and the host call race: either one's error
    # may surface, but never a permutation.
    with pytest.raises(jax.errors.JaxRuntimeError, match=r"NaN or inf|invalid numeric entries"):
        jax.block_until_ready(jax.jit(lambda x: round_to_permutation(x, method))(X))


def test_grad_passes_through_the_scipy_rounding():
    X = jnp.asarray(np.random.default_rng(5).standard_normal((6, 6)))

    def loss(X):
        perm = round_to_permutation(X, "scipy")
        return jnp.sum(X[jnp.arange(6), perm])

    perm = _scipy_perm(X)
    want = np.zeros((6, 6))
    want[np.arange(6), perm] = 1.0
    np.testing.assert_array_equal(jax.grad(loss)(X), want)
