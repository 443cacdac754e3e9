"""Seed pairs: fixed in rounding and refinement, seeded GRAMPA and seeded QP (rmtjax.graphs)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from rmtjax.graphs import (
    correlated_wigner,
    match,
    qp_doubly_stochastic,
    recovery_fraction,
    round_to_permutation,
    seeded_grampa,
)

HARD = [correlated_wigner(jax.random.key(k), 100, 0.8) for k in range(3)]  # GRAMPA fails


def _seeds(pair, fraction):
    m = round(fraction * pair.A.shape[-1])
    idx = np.random.default_rng(0).permutation(pair.A.shape[-1])[:m]
    return jnp.asarray(idx), pair.perm[idx]


def test_seeded_recovery_grows_with_the_seed_fraction():
    """On pairs where unseeded GRAMPA recovers under 10%, recovery grows with the seed fraction
    to over 90% at 20% seeds (the seeded program, then 3 seeded refinement steps)."""
    method = "grampa"
    fractions = (0.0, 0.05, 0.1, 0.2)
    rec = [
        np.mean(
            [
                float(
                    recovery_fraction(
                        match(p.A, p.B, method, refine_steps=3, seeds=_seeds(p, f)), p.perm
                    )
                )
                for p in HARD
            ]
        )
        for f in fractions
    ]
    assert rec[0] < 0.1 < rec[1] and rec[-1] > 0.9, rec
    assert np.all(np.diff(rec) >= 0), rec


def test_seeded_rounding_is_the_lap_on_the_free_block():
    """Reference: scipy's LAP on X with seed rows/columns removed."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 12)).astype(np.float32)
    sa, sb = np.array([3, 7, 0]), np.array([5, 1, 11])
    free_a = np.setdiff1d(np.arange(12), sa)
    free_b = np.setdiff1d(np.arange(12), sb)
    r, c = scipy.optimize.linear_sum_assignment(X[np.ix_(free_a, free_b)], maximize=True)
    expected = np.empty(12, int)
    expected[sa] = sb
    expected[free_a[r]] = free_b[c]
    for method in ("scipy", "hungarian", "topk"):
        got = round_to_permutation(X, method, seeds=(sa, sb))
        np.testing.assert_array_equal(got, expected, err_msg=method)
    jitted = jax.jit(lambda X, a, b: round_to_permutation(X, "hungarian", seeds=(a, b)))
    np.testing.assert_array_equal(jitted(X, sa, sb), expected)


def test_seeds_stay_fixed_through_refinement():
    p = correlated_wigner(jax.random.key(0), 100, 0.45)
    seeds = (jnp.array([0, 1, 2]), jnp.array([5, 6, 7]))  # deliberately wrong pairs
    perm = match(p.A, p.B, "grampa", refine_steps=2, seeds=seeds)
    np.testing.assert_array_equal(perm[:3], [5, 6, 7])
    assert len(set(np.asarray(perm).tolist())) == 100


def test_seeded_grampa_solves_the_constrained_program(x64):
    """KKT of the constrained QP: the gradient A^2X - 2AXB + XB^2 + eta^2 X - eta J vanishes on
    the free block (X/eta is the minimizer); seed rows/columns hold 1/eta (= eta / eta^2)."""
    p = correlated_wigner(jax.random.key(7), 30, 0.2)
    A, B = np.asarray(p.A, np.float64), np.asarray(p.B, np.float64)
    seeds = (np.array([2, 9]), np.asarray(p.perm)[[2, 9]])
    eta = 0.3
    sol = seeded_grampa(A, B, seeds, eta)
    assert bool(sol.converged)
    X = np.asarray(sol.value) / eta
    G = A @ A @ X - 2 * A @ X @ B + X @ B @ B + eta**2 * X - 1.0
    free = np.ones((30, 30), bool)
    free[seeds[0], :] = False
    free[:, seeds[1]] = False
    np.testing.assert_allclose(G[free], 0.0, atol=1e-7)
    np.testing.assert_allclose(X[seeds], 1 / eta**2)
    assert np.count_nonzero(X[~free]) == 2


def test_seeded_qp_keeps_the_seed_face():
    p = correlated_wigner(jax.random.key(8), 20, 0.1)
    seeds = (jnp.array([0, 4]), p.perm[jnp.array([0, 4])])
    sol = qp_doubly_stochastic(p.A, p.B, seeds=seeds, tol=1e-3)
    X = np.asarray(sol.value)
    chex.assert_trees_all_close(X[np.asarray(seeds[0])].sum(1), np.ones(2), atol=1e-6)
    chex.assert_trees_all_close(X[seeds[0], seeds[1]], np.ones(2), atol=1e-6)
    assert np.all(X >= 0)


@pytest.mark.parametrize(
    "seeds, error, phrase",
    [
        (([0, 1], [2]), ValueError, "same length"),
        (([0, 0], [1, 2]), ValueError, "must not repeat"),
        (([0, 100], [1, 2]), ValueError, r"ids in \[0, 100\)"),
        (([0.5], [1]), TypeError, "1-D integer array"),
        ([0], TypeError, "pair"),
        (([0, 1], 2), TypeError, "1-D integer array"),
    ],
)
def test_inconsistent_seeds_are_refused(seeds, error, phrase):
    p = HARD[0]
    with pytest.raises(error, match=phrase):
        match(p.A, p.B, "grampa", seeds=seeds)
