"""Tests for rmtjax.graphs.qp (the full QP over doubly stochastic matrices, by ADMM)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from rmtjax.graphs.models import correlated_wigner
from rmtjax.graphs.qp import qp_doubly_stochastic
from rmtjax.graphs.rounding import round_to_permutation

N = 30


def _pair(seed, sigma):
    pair = correlated_wigner(jax.random.key(seed), N, sigma)
    return pair.A.astype(jnp.float64), pair.B.astype(jnp.float64), pair.perm


def _objective(A, B, X):
    return float(np.sum((A @ X - X @ B) ** 2))


def test_solution_is_feasible_and_optimal(x64):
    """Optimality certificate: the Frank–Wolfe duality gap <grad f(X), X - S> bounds f(X) - f*,
    with S the best vertex (permutation) for the linearized objective (scipy assignment)."""
    A, B, _ = _pair(0, 0.3)
    sol = qp_doubly_stochastic(A, B)
    assert bool(sol.converged) and float(sol.residual) <= 1e-7
    X, A, B = np.asarray(sol.value), np.asarray(A), np.asarray(B)
    assert X.min() >= 0
    np.testing.assert_allclose(X.sum(0), 1, atol=1e-6)
    np.testing.assert_allclose(X.sum(1), 1, atol=1e-6)
    R = A @ X - X @ B
    grad = 2 * (A @ R - R @ B)
    rows, cols = scipy.optimize.linear_sum_assignment(grad)
    S = np.zeros_like(X)
    S[rows, cols] = 1
    gap = float(np.sum(grad * (X - S)))
    assert gap < 1e-4 * _objective(A, B, X)
    # and no better than a Birkhoff point it could have reached: the uniform matrix
    assert _objective(A, B, X) < _objective(A, B, np.full((N, N), 1 / N))


def test_isomorphic_pair_gives_the_permutation(x64):
    A, B, perm = _pair(1, 0.0)
    sol = qp_doubly_stochastic(A, B)
    assert bool(sol.converged)
    P = np.asarray(jax.nn.one_hot(perm, N))
    np.testing.assert_allclose(np.asarray(sol.value), P, atol=1e-3)
    np.testing.assert_array_equal(round_to_permutation(sol.value), perm)


def test_batched_equals_single(x64):
    A0, B0, _ = _pair(2, 0.2)
    A1, B1, _ = _pair(3, 0.2)
    sol = qp_doubly_stochastic(jnp.stack([A0, A1]), jnp.stack([B0, B1]))
    chex.assert_shape(sol.value, (2, N, N))
    chex.assert_shape(sol.iterations, (2,))
    for k, (A, B) in enumerate([(A0, B0), (A1, B1)]):
        single = qp_doubly_stochastic(A, B)
        chex.assert_trees_all_close(sol.value[k], single.value, atol=1e-10)
        assert int(sol.iterations[k]) == int(single.iterations)


def test_iteration_cap_reports_not_converged(x64):
    A, B, _ = _pair(4, 0.2)
    sol = qp_doubly_stochastic(A, B, max_iter=2)
    assert int(sol.iterations) == 2
    assert not bool(sol.converged)
    assert float(sol.residual) > 1e-4


@pytest.mark.parametrize(
    "kwargs, message",
    [({"tol": 0.0}, "tol must be > 0"), ({"max_iter": 0}, "max_iter must be a positive int")],
)
def test_bad_options_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        qp_doubly_stochastic(np.eye(3), np.eye(3), **kwargs)
