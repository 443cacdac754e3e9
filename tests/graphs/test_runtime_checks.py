"""Value checks of rmtjax.graphs that also run under jit, and the throw= option of its solvers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.graphs import eigenalign, grampa, isorank, qp_doubly_stochastic, round_to_permutation


def _pair(n=6, seed=0):
    a = np.random.default_rng(seed).standard_normal((n, n))
    A = (a + a.T) / 2
    return jnp.asarray(A), jnp.asarray(A + 0.1 * np.eye(n))


@pytest.mark.parametrize("eta", [0.0, -0.2, np.nan])
def test_grampa_eta_checked_eagerly_and_under_jit(eta):
    A, B = _pair()
    with pytest.raises(ValueError, match="eta must be finite and > 0"):
        grampa(A, B, eta=eta)
    with pytest.raises(jax.errors.JaxRuntimeError, match="eta must be finite and > 0"):
        jax.block_until_ready(jax.jit(lambda e: grampa(A, B, eta=e))(eta))


def test_rounding_a_nan_matrix_raises_under_jit():
    X = jnp.full((4, 4), jnp.nan)
    with pytest.raises(ValueError, match="NaN or inf"):
        round_to_permutation(X, "greedy")
    with pytest.raises(jax.errors.JaxRuntimeError, match="NaN or inf"):
        jax.block_until_ready(jax.jit(lambda X: round_to_permutation(X, "greedy"))(X))


@pytest.mark.parametrize(
    "solver", [isorank, eigenalign, qp_doubly_stochastic], ids=lambda f: f.__name__
)
def test_throw_raises_on_an_iteration_cap(solver):
    A, B = _pair()
    assert not bool(solver(A, B, max_iter=1).converged)  # default: the record
    with pytest.raises(RuntimeError, match="did not converge"):
        solver(A, B, max_iter=1, throw=True)
    with pytest.raises(jax.errors.JaxRuntimeError, match="did not converge"):
        jax.block_until_ready(jax.jit(lambda A: solver(A, B, max_iter=1, throw=True).value)(A))
