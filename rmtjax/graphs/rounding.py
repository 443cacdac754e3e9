"""Rounding a similarity matrix to a permutation: exact linear assignment or greedy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.optimize

from rmtjax._checks import check_choice, check_square
from rmtjax._solution import check_at_runtime

__all__ = ["ROUNDINGS", "round_to_permutation"]

ROUNDINGS = ("auto", "greedy", "hungarian", "scipy")
"""Names accepted by ``round_to_permutation``."""


def _hungarian(X: jax.Array) -> jax.Array:
    rows, cols = optax.assignment.hungarian_algorithm(-X)
    return jnp.zeros(X.shape[-1], jnp.int32).at[rows].set(cols.astype(jnp.int32))


def _scipy_host(X: np.ndarray) -> np.ndarray:
    """``linear_sum_assignment`` on every ``(n, n)`` matrix of a ``(..., n, n)`` host array."""
    flat = np.asarray(X).reshape(-1, *X.shape[-2:])
    out = np.empty(flat.shape[:-1], np.int32)
    for k, x in enumerate(flat):
        rows, cols = scipy.optimize.linear_sum_assignment(x, maximize=True)
        out[k, rows] = cols
    return out.reshape(X.shape[:-1])


def _scipy(X: jax.Array) -> jax.Array:
    # "expand_dims": under vmap the callback receives the whole batch in one host call.
    out = jax.ShapeDtypeStruct(X.shape[:-1], jnp.int32)
    return jax.pure_callback(_scipy_host, out, X, vmap_method="expand_dims")


def _greedy(X: jax.Array) -> jax.Array:
    """Lazy greedy: cached row maxima are upper bounds; a stale one is recomputed when popped.

    Each step pops the row with the largest cached maximum; if its column is still free that
    entry is the largest remaining one (all other cached values bound their rows from above)
    and the pair is taken; otherwise the row's maximum over free columns is recomputed. Every
    step is ``O(n)``; there are ``n`` takes plus one recomputation per stale pop.
    """
    n = X.shape[-1]
    neg_inf = jnp.asarray(-jnp.inf, X.dtype)

    def cond(state: tuple[jax.Array, ...]) -> jax.Array:
        return state[-1] < n

    def body(state: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        best, arg, row_free, col_free, perm, taken = state
        i = jnp.argmax(jnp.where(row_free, best, neg_inf))
        j = arg[i]
        take = col_free[j]
        masked = jnp.where(col_free, X[i], neg_inf)
        best = best.at[i].set(jnp.where(take, best[i], jnp.max(masked)))
        arg = arg.at[i].set(jnp.where(take, j, jnp.argmax(masked).astype(jnp.int32)))
        perm = perm.at[i].set(jnp.where(take, j, perm[i]))
        row_free = row_free.at[i].set(row_free[i] & ~take)
        col_free = col_free.at[j].set(col_free[j] & ~take)
        return best, arg, row_free, col_free, perm, taken + take.astype(jnp.int32)

    ones = jnp.ones(n, bool)
    init = (
        jnp.max(X, axis=1),
        jnp.argmax(X, axis=1).astype(jnp.int32),
        ones,
        ones,
        jnp.zeros(n, jnp.int32),
        jnp.asarray(0, jnp.int32),
    )
    return jax.lax.while_loop(cond, body, init)[4]


_JAX_ROUNDINGS = {
    name: jax.jit(jnp.vectorize(fn, signature="(n,n)->(n)"))
    for name, fn in (("hungarian", _hungarian), ("greedy", _greedy))
}


def _auto() -> str:
    # Measured (benchmarks/bench_graphs.py): scipy's LAPJV-style solver beats the JAX Hungarian
    # by orders of magnitude on CPU; the JAX path avoids a host round trip elsewhere.
    return "scipy" if jax.default_backend() == "cpu" else "hungarian"


def round_to_permutation(X: jax.Array, method: str = "auto") -> jax.Array:
    r"""The permutation maximising ``sum_i X[i, perm[i]]`` (i.e. ``Tr X^T P``), or a greedy one.

    Args:
      X: ``(..., n, n)`` finite similarity (rows = vertices of ``A``, columns = of ``B``).
      method: ``"hungarian"`` (exact; ``optax.assignment.hungarian_algorithm``, pure JAX),
        ``"scipy"`` (exact; ``scipy.optimize.linear_sum_assignment`` through
        ``jax.pure_callback``, one host call per batch), ``"greedy"`` (repeatedly take the
        largest remaining entry; pure JAX, not optimal) or ``"auto"`` (exact: ``"scipy"`` on
        CPU, ``"hungarian"`` on other backends). All work under ``jit`` and ``vmap``.

    Returns:
      ``(..., n)`` int32 ``perm_hat``: vertex ``i`` of ``A`` matched to ``perm_hat[i]`` of ``B``.

    References:
      Kuhn, "The Hungarian method for the assignment problem", Naval Res. Logist. Q. 2, 1955;
      Crouse, "On implementing 2D rectangular assignment algorithms", IEEE TAES 52(4), 2016
      (scipy's solver).

    Examples:
      >>> import jax.numpy as jnp
      >>> X = jnp.array([[0.1, 0.9], [0.8, 0.3]])
      >>> round_to_permutation(X, "greedy").tolist()
      [1, 0]
    """
    check_square(X, "X")
    check_at_runtime(jnp.all(jnp.isfinite(X)), "X contains NaN or inf values")
    check_choice(method, "rounding method", ROUNDINGS)
    X = jnp.asarray(X, jnp.result_type(X, float))
    method = _auto() if method == "auto" else method
    if method == "scipy":
        return _scipy(X)
    return _JAX_ROUNDINGS[method](X)
