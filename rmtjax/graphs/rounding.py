"""Rounding a similarity matrix to a permutation (exact linear assignment, top-k candidates or
greedy, optionally with seed pairs fixed), and its entropic relaxation (Sinkhorn)."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.optimize
import scipy.sparse
import scipy.sparse.csgraph
from jax.typing import ArrayLike

from rmtjax._checks import check_choice, check_finite, check_positive, check_square, is_concrete
from rmtjax._solution import check_at_runtime
from rmtjax.graphs._seeds import check_seeds, free_indices, seed_masks

__all__ = ["ROUNDINGS", "round_to_permutation", "sinkhorn"]

ROUNDINGS = ("auto", "greedy", "hungarian", "scipy", "topk")
"""Names accepted by ``round_to_permutation``."""


def _hungarian(X: jax.Array) -> jax.Array:
    rows, cols = optax.assignment.hungarian_algorithm(-X)
    return jnp.zeros(X.shape[-1], jnp.int32).at[rows].set(cols.astype(jnp.int32))


def _scipy_host(X: np.ndarray, candidates: int | None = None) -> np.ndarray:
    """``linear_sum_assignment`` on every ``(n, n)`` matrix of a ``(..., n, n)`` host array
    (``candidates`` is ignored: the signature of :func:`_topk_host`)."""
    flat = np.asarray(X).reshape(-1, *X.shape[-2:])
    out = np.empty(flat.shape[:-1], np.int32)
    for k, x in enumerate(flat):
        rows, cols = scipy.optimize.linear_sum_assignment(x, maximize=True)
        out[k, rows] = cols
    return out.reshape(X.shape[:-1])


def _topk_host(X: np.ndarray, candidates: int) -> np.ndarray:
    """Exact assignment restricted to each row's and each column's ``candidates`` best entries
    of the doubly centred ``X``.

    A sparse LAP (``min_weight_full_bipartite_matching``) on the union of the candidates; when
    it has no perfect matching the candidate count doubles (at ``n`` it is the dense LAP).
    """
    flat = np.asarray(X, np.float64).reshape(-1, *X.shape[-2:])
    out = np.empty(flat.shape[:-1], np.int32)
    n = X.shape[-1]
    for b, x in enumerate(flat):
        # Row and column constants change no assignment; without them the candidates are not
        # crowded into the columns that score high for every row.
        x = x - x.mean(axis=0, keepdims=True) - x.mean(axis=1, keepdims=True) + x.mean()
        k = min(candidates, n)
        while True:
            if k >= n:
                out[b] = scipy.optimize.linear_sum_assignment(x, maximize=True)[1]
                break
            rows = np.argpartition(-x, k - 1, axis=1)[:, :k]
            cols = np.argpartition(-x, k - 1, axis=0)[:k, :]
            i = np.concatenate([np.repeat(np.arange(n), k), cols.ravel()])
            j = np.concatenate([rows.ravel(), np.tile(np.arange(n), k)])
            mask = scipy.sparse.coo_matrix((np.ones(i.size), (i, j)), shape=(n, n)).tocsr()
            r_idx, c_idx = mask.nonzero()
            # Positive weights (a zero would be a missing edge); minimizing them maximizes X.
            graph = scipy.sparse.csr_matrix(
                (x.max() - x[r_idx, c_idx] + 1.0, (r_idx, c_idx)), shape=(n, n)
            )
            try:
                r, c = scipy.sparse.csgraph.min_weight_full_bipartite_matching(graph)
            except ValueError:  # no perfect matching among the candidates
                k *= 2
                continue
            out[b, r] = c
            break
    return out.reshape(X.shape[:-1])


_HOST_ROUNDINGS = {"scipy": _scipy_host, "topk": _topk_host}


def _host_rounding(X: jax.Array, host: Any) -> jax.Array:
    if is_concrete(X):  # eager: no callback, whose thread hops cost 10-20% at n <= 500
        return jnp.asarray(host(np.asarray(X)))
    # "expand_dims": under vmap the callback receives the whole batch in one host call.
    out = jax.ShapeDtypeStruct(X.shape[:-1], jnp.int32)
    return jax.pure_callback(host, out, X, vmap_method="expand_dims")


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _on_host(X: jax.Array, host: Any) -> jax.Array:
    """A host rounding; its integer output has a zero tangent, so ``grad`` passes through."""
    return _host_rounding(X, host)


@_on_host.defjvp
def _on_host_jvp(host: Any, primals: tuple, tangents: tuple) -> tuple:
    perm = _host_rounding(primals[0], host)
    return perm, np.zeros(perm.shape, jax.dtypes.float0)


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


def round_to_permutation(
    X: ArrayLike, method: str = "auto", *, seeds: Any = None, candidates: int = 32
) -> jax.Array:
    r"""The permutation maximizing ``sum_i X[i, perm[i]]`` (i.e. ``Tr X^T P``), or a greedy one.

    Args:
      X: ``(..., n, n)`` finite similarity (rows = vertices of ``A``, columns = of ``B``).
      method: ``"hungarian"`` (exact; ``optax.assignment.hungarian_algorithm``, pure JAX),
        ``"scipy"`` (exact; ``scipy.optimize.linear_sum_assignment`` through
        ``jax.pure_callback``, one host call per batch), ``"topk"`` (exact assignment among
        each row's and column's ``candidates`` largest entries, a sparse LAP on the host; the
        count doubles until a perfect matching exists, so it never fails; for sizes where the
        dense LAP is too slow), ``"greedy"`` (repeatedly take the largest remaining entry;
        pure JAX, not optimal) or ``"auto"`` (exact: ``"scipy"`` on CPU, ``"hungarian"`` on
        other backends). All work under ``jit`` and ``vmap``; the host ones have a zero
        tangent, so ``jax.grad`` of a loss that only indexes with the result passes through.
      seeds: optional pair ``(idx_A, idx_B)`` of seed vertices: ``perm[idx_A] = idx_B`` is
        fixed and the other rows are assigned among the other columns.
      candidates: per-row and per-column candidate count of ``"topk"``.

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
    resolved = _auto() if method == "auto" else method
    # An eager host rounding stays in numpy: no dispatches, no sync, no device copy of a numpy
    # X (each ~20-100 us; benchmarks/bench_graphs.py, rounding_scipy_vs_scipy).
    on_host = isinstance(resolved, str) and resolved in _HOST_ROUNDINGS and is_concrete(X)
    dtype = jnp.result_type(X, float)
    if on_host:
        X = np.asarray(X, dtype)
        check_finite(X, "X")  # the same ValueError as check_at_runtime's, in numpy
    else:
        check_at_runtime(jnp.all(jnp.isfinite(X)), "X contains NaN or inf values")
    check_choice(method, "rounding method", ROUNDINGS)
    if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
        raise ValueError(f"candidates must be a positive int; got {candidates!r}")
    method, n = resolved, np.shape(X)[-1]
    seeds = check_seeds(seeds, n, n)
    if seeds is None and on_host:
        return jnp.asarray(_HOST_ROUNDINGS[method](X, candidates))
    X = jnp.asarray(X, dtype)
    if seeds is None:
        return _round(X, method, candidates)
    sa, sb = seeds
    m = sa.shape[0]
    perm = jnp.zeros(X.shape[:-1], jnp.int32).at[..., sa].set(sb)
    if m == n:
        return perm
    rows, cols = seed_masks(seeds, n, n)
    free_a, free_b = free_indices(rows, m), free_indices(cols, m)
    sub = X[..., free_a[:, None], free_b[None, :]]
    return perm.at[..., free_a].set(free_b[_round(sub, method, candidates)])


def _round(X: jax.Array, method: str, candidates: int) -> jax.Array:
    if method in _HOST_ROUNDINGS:
        host = (
            _scipy_host
            if method == "scipy"
            else functools.partial(_topk_host, candidates=candidates)
        )
        if is_concrete(X):  # no tracer, so no tangent: skip the custom_jvp's eager overhead
            return jnp.asarray(host(np.asarray(X)))
        return _on_host(X, host)
    return _JAX_ROUNDINGS[method](X)


def sinkhorn(X: ArrayLike, temperature: float = 0.05, steps: int = 200) -> jax.Array:
    r"""Entropic rounding: the doubly stochastic ``P`` closest to ``exp(X / (tau s))``,

    .. math::
        P = \arg\max_{P 1 = 1,\ P^T 1 = 1} \langle P, X \rangle + \tau s\, H(P),
        \qquad H(P) = -\sum_{ij} P_{ij} \log P_{ij},

    by ``steps`` log-domain Sinkhorn sweeps (alternate row and column normalization of
    ``log P``). ``s`` is the root mean square of ``X`` once its row and column means are removed
    (``P`` does not change when constants are added along rows or columns, nor does ``s``), so
    ``temperature`` is scale-free; as ``temperature -> 0``, ``P`` tends to the permutation
    matrix of the exact assignment. Smooth in ``X``: ``jax.grad`` differentiates through the sweeps.

    Args:
      X: ``(..., n, n)`` finite similarity.
      temperature: ``tau > 0``.
      steps: Sinkhorn sweeps (static).

    Returns:
      ``(..., n, n)`` doubly stochastic matrix (rows exactly, columns up to the last sweep).

    References:
      Cuturi, "Sinkhorn distances: lightspeed computation of optimal transport", NeurIPS 2013;
      Mena, Belanger, Linderman, Snoek, "Learning latent permutations with Gumbel-Sinkhorn
      networks", ICLR 2018.
    """
    check_square(X, "X")
    check_finite(X, "X")
    check_positive(temperature, "temperature")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int; got {steps!r}")
    X = jnp.asarray(X, jnp.result_type(X, float))
    rows, cols = jnp.mean(X, axis=-1, keepdims=True), jnp.mean(X, axis=-2, keepdims=True)
    centred = X - rows - cols + jnp.mean(rows, axis=-2, keepdims=True)
    scale = jnp.sqrt(jnp.mean(centred**2, axis=(-2, -1), keepdims=True))
    logits = X / (temperature * jnp.where(scale > 0, scale, 1.0))

    def sweep(_: int, L: jax.Array) -> jax.Array:
        L = L - jax.nn.logsumexp(L, axis=-2, keepdims=True)
        return L - jax.nn.logsumexp(L, axis=-1, keepdims=True)

    return jnp.exp(jax.lax.fori_loop(0, steps, sweep, logits))
