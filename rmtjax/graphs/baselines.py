"""Baseline similarity matrices from the graph-matching literature: IsoRank, EigenAlign (fixed
points that never form the ``n^2 x n^2`` Kronecker matrix) and Ding–Ma–Wu–Xu degree profiles.

Rows of every similarity are vertices of ``A``, columns vertices of ``B``. The Kronecker products
act through ``kron(B, A) vec(X) = vec(A X B^T)`` (column-major ``vec``). Every method here only
multiplies by ``A`` and ``B``, so ``jax.experimental.sparse.BCOO`` and scipy.sparse graphs stay
sparse.

Float32. IsoRank and EigenAlign scores are dominated by a near-constant component: the scores of
a true and a false pair differ far below float32 resolution of the ``n x n`` array ``X`` itself
(at ``n = 500`` the exact float64 similarity, once stored in float32, already loses vertices:
0.992 recovered for dense IsoRank, 0.928 for sparse EigenAlign, at delta = 0). Both are
bilinear in per-vertex coordinates (IsoRank's walk profiles ``p_k = A~^k 1``, EigenAlign's
Lanczos coordinates), so both return ``X`` up to constants along rows and columns in the
cancellation-free form of ``rmtjax.graphs._bilinear``: the same assignment and Sinkhorn
matching (a permutation uses each row and column once), resolved in float32 (1.0 recovered).

Gradients. IsoRank: through the fixed-length walk and a custom VJP of the bilinear form.
EigenAlign: the implicit function theorem for the power iteration on the Krylov coefficients
(GMRES on vector-Jacobian products, never through the loop), autodiff through the Lanczos
basis; NaN where a Krylov space is deficient (e.g. graphs with automorphisms, see
:func:`eigenalign`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.experimental import sparse as jsparse
from jax.typing import ArrayLike

from rmtjax._checks import check_in_range, check_positive, is_concrete
from rmtjax._solution import Solution, default_tol
from rmtjax.graphs import _pair
from rmtjax.graphs._bilinear import bilinear_up_to_constants
from rmtjax.graphs._inputs import graph_pair, is_sparse

__all__ = ["Solution", "degree_profile", "eigenalign", "isorank"]

_SOLUTION_SIGNATURE = "(n,n),(n,n)->(n,n),(),(),()"

Graph = jax.Array | jsparse.BCOO


def _abs(A: Graph) -> Graph:
    if isinstance(A, jsparse.BCOO):
        return jsparse.BCOO((jnp.abs(A.data), A.indices), shape=A.shape)
    return jnp.abs(A)


def _diagonal(A: Graph) -> jax.Array:
    if isinstance(A, jsparse.BCOO):
        i, j = A.indices[:, 0], A.indices[:, 1]
        return jnp.zeros(A.shape[0], A.dtype).at[i].add(jnp.where(i == j, A.data, 0))
    return jnp.diagonal(A)


def _per_pair(fn: Callable[..., Any], A: Graph, B: Graph, signature: str) -> Any:
    """``fn`` on one pair, broadcast over batch dimensions of dense inputs (``vmap``)."""
    if is_sparse(A) or is_sparse(B):
        return fn(A, B)
    return _pair.pairwise(fn, signature)(A, B)


def _relative_change(new: jax.Array, old: jax.Array) -> jax.Array:
    """``||new - old||_F / ||new||_F``."""
    size = jnp.linalg.norm(new)
    return jnp.linalg.norm(new - old) / jnp.maximum(size, jnp.finfo(new.dtype).tiny)


def _iterate(
    step: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    x0: jax.Array,
    tol: float,
    max_iter: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Iterate ``x <- step(params, x)`` until the relative change is ``<= tol`` or
    ``max_iter`` steps; returns ``(x, iterations, residual)``."""

    def cond(state: tuple[jax.Array, jax.Array, jax.Array]) -> jax.Array:
        _, k, res = state
        return (k < max_iter) & (res > tol)

    def body(state: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, ...]:
        x, k, _ = state
        x_new = step(params, x)
        return x_new, k + 1, _relative_change(x_new, x)

    init = (x0, jnp.asarray(0, jnp.int32), jnp.asarray(jnp.inf, x0.dtype))
    return jax.lax.while_loop(cond, body, init)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 3, 4))
def _fixed_point(
    step: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    x0: jax.Array,
    tol: float,
    max_iter: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """:func:`_iterate`, differentiated by the implicit function theorem.

    At ``x* = step(params, x*)`` the cotangent ``x_bar`` gives ``lambda`` solving
    ``(I - d_x step)^T lambda = x_bar`` (GMRES on vector-Jacobian products) and
    ``params_bar = (d_params step)^T lambda``; the loop is never differentiated.
    """
    return _iterate(step, params, x0, tol, max_iter)


def _fixed_point_fwd(step, params, x0, tol, max_iter):
    out = _iterate(step, params, x0, tol, max_iter)
    return out, (params, out[0])


def _fixed_point_bwd(step, tol, max_iter, saved, cotangents):
    params, x = saved
    _, vjp_state = jax.vjp(lambda s: step(params, s), x)
    gmres_tol = 1e-12 if jnp.finfo(x.dtype).bits >= 64 else 1e-6

    def adjoint(lam: jax.Array) -> jax.Array:
        return lam - vjp_state(lam)[0]

    lam = jax.scipy.sparse.linalg.gmres(
        adjoint, cotangents[0], tol=gmres_tol, restart=30, maxiter=30
    )[0]
    _, vjp_params = jax.vjp(lambda p: step(p, x), params)
    return vjp_params(lam)[0], jnp.zeros_like(x)


_fixed_point.defvjp(_fixed_point_fwd, _fixed_point_bwd)


def isorank(
    A: ArrayLike,
    B: ArrayLike,
    alpha: float = 0.85,
    *,
    tol: float | None = None,
    max_iter: int = 1000,
    throw: bool = False,
) -> Solution:
    r"""IsoRank similarity: the fixed point of a PageRank-like walk on the product graph,

    .. math::
        X = \alpha\, \tilde A X \tilde B^T + (1 - \alpha) E, \qquad
        \tilde A = A D_A^{-1},\ \tilde B = B D_B^{-1},\ E = J / n^2,

    i.e. ``vec(X) = alpha kron(B~, A~) vec(X) + (1 - alpha) vec(E)``. Degrees are absolute
    column sums, so ``sum |X| = 1`` for nonnegative graphs and weighted or signed graphs still
    give a contraction. Since ``E = 1 1^T / n^2`` has rank one, the fixed point is the series

    .. math::
        X = \frac{1 - \alpha}{n^2} \sum_{k \ge 0} \alpha^k p_k q_k^T, \qquad
        p_k = \tilde A^k 1,\ q_k = \tilde B^k 1:

    vector walks only (``O(n)`` memory per step, mat-vecs with ``A`` and ``B``). The series
    stops at the first ``K`` with ``alpha^K Delta_K <= tol``, ``Delta_K`` the relative
    (max-norm) change of ``p_K`` and ``q_K`` over the last step, and its tail
    ``sum_{k > K} alpha^k`` is carried by ``p_K q_K^T`` (exact once the walks are stationary);
    the residual is ``alpha^K Delta_K``.

    Returned form: ``X_ij - s_i - t_j = -(1/2) sum_k c_k (p_k,i - q_k,j)^2`` (``c_k`` the
    series weights; ``s``, ``t`` the halved weighted squares), which differs from ``X`` by
    constants along rows and columns (the same assignment and Sinkhorn matching) and has no
    cancellation: float32 resolves it where ``X`` itself loses the 7th digit that separates a
    true pair from a false one (``rmtjax.graphs._bilinear``). Entries are ``<= 0``, and ``0``
    where two vertices have equal walk profiles. Gradients flow through the (fixed-length) walk
    and a custom VJP of the sum.

    Input: the raw (0/1 or weighted nonnegative) adjacency matrices, as in the original method
    (``match(..., normalize="auto")`` passes them unnormalized).

    Args:
      A: ``(..., n, n)`` symmetric matrix, dense or sparse (BCOO / scipy.sparse, unbatched).
      B: ``(..., n, n)`` symmetric matrix, dense or sparse.
      alpha: weight of the network term, in ``[0, 1)``.
      tol: stopping tolerance on the residual (default 1e-5 in float32, 1e-11 in float64).
      max_iter: cap on the walk steps ``K``. With a concrete ``alpha`` the walk runs
        ``min(max_iter, log(tol / 4) / log(alpha))`` steps; with a traced one (e.g. under
        ``jax.grad`` in ``alpha``), ``max_iter``.
      throw: ``True``: raise when the solve fails (``RuntimeError`` at once; under ``jit``
        a ``jax.errors.JaxRuntimeError`` when the program runs); ``False`` (default): return
        the record, whose ``result`` says why it stopped.

    Returns:
      ``Solution`` with the ``(..., n, n)`` similarity above, ``iterations`` (``K``),
      ``residual`` and ``converged``.

    References:
      Singh, Xu, Berger, "Global alignment of multiple protein interaction networks with
      application to functional orthology detection", PNAS 105(35), 2008, Eq. (2)–(3).
    """
    A, B = graph_pair(A, B)
    check_in_range(alpha, "alpha", 0.0, 1.0, closed=(True, False))
    tol = default_tol(A.dtype, tol, f32=1e-5, f64=1e-11)
    max_iter = _pair.check_max_iter(max_iter)
    steps = _walk_steps(alpha, tol, max_iter)
    X, k, res, ok = _isorank(A, B, jnp.asarray(alpha, A.dtype), tol, steps)
    return Solution.classify(X, k, res, converged=ok).checked("isorank", throw)


def _walk_steps(alpha: Any, tol: float, max_iter: int) -> int:
    """Walk steps to take: enough for ``alpha^K <= tol / 4`` (``max_iter`` if traced)."""
    if not is_concrete(alpha):
        return max_iter
    alpha = float(alpha)
    if alpha == 0.0:
        return 1
    return max(1, min(max_iter, math.ceil(math.log(tol / 4) / math.log(alpha))))


def _walk(A: Graph) -> Callable[[jax.Array], jax.Array]:
    """``p -> A D^{-1} p`` (``D`` the absolute column sums; zero columns stay zero)."""
    deg = _abs(A) @ jnp.ones(A.shape[-1], A.dtype)
    inv = jnp.where(deg > 0, 1.0 / jnp.where(deg > 0, deg, 1.0), 0.0)
    return lambda p: A @ (inv * p)


def _max_norm_changes(P: jax.Array) -> jax.Array:
    """``||P_k - P_{k-1}||_inf / ||P_k||_inf`` per row (``inf`` for the first)."""
    change = jnp.max(jnp.abs(jnp.diff(P, axis=0)), axis=1)
    size = jnp.maximum(jnp.max(jnp.abs(P[1:]), axis=1), jnp.finfo(P.dtype).tiny)
    return jnp.concatenate([jnp.full(1, jnp.inf, P.dtype), change / size])


@functools.partial(jax.jit, static_argnames=("tol", "steps"))
def _isorank(A: Graph, B: Graph, alpha: jax.Array, tol: float, steps: int) -> tuple[jax.Array, ...]:
    def solve(A: Graph, B: Graph) -> tuple[jax.Array, ...]:
        n = A.shape[-1]
        walk_a, walk_b = _walk(A), _walk(B)

        def step(pq: tuple[jax.Array, jax.Array], _: Any) -> tuple[Any, Any]:
            pq = (walk_a(pq[0]), walk_b(pq[1]))
            return pq, pq

        one = jnp.ones((1, n), A.dtype)
        _, (P, Q) = jax.lax.scan(step, (one[0], one[0]), length=steps)
        P, Q = jnp.concatenate([one, P]), jnp.concatenate([one, Q])
        k = jnp.arange(steps + 1)
        powers = jnp.cumprod(jnp.concatenate([jnp.ones(1, A.dtype), jnp.full(steps, alpha)]))
        residual = powers * jnp.maximum(_max_norm_changes(P), _max_norm_changes(Q))
        met = residual <= tol
        K = jnp.where(jnp.any(met), jnp.argmax(met), steps)
        weights = jnp.where(k < K, (1 - alpha) * powers, jnp.where(k == K, powers, 0)) / n**2
        X = bilinear_up_to_constants(P, jnp.diag(weights), Q, count=K + 1)
        res = residual[K]
        return X, K.astype(jnp.int32), res, res <= tol

    return _per_pair(solve, A, B, _SOLUTION_SIGNATURE)


def eigenalign(
    A: ArrayLike,
    B: ArrayLike,
    alpha: float = 1.0,
    epsilon: float = 1e-3,
    *,
    tol: float | None = None,
    max_iter: int = 1000,
    krylov_dim: int = 24,
    throw: bool = False,
) -> Solution:
    r"""EigenAlign similarity: the top eigenvector of the alignment matrix

    .. math::
        M = s_1\, B \otimes A + s_2\, (J - B) \otimes (J - A)
          + s_3\, [B \otimes (J - A) + (J - B) \otimes A],

    with scores ``s1 = alpha + epsilon`` (matches), ``s2 = 1 + epsilon`` (neutral pairs) and
    ``s3 = epsilon`` (mismatches), reshaped to ``n x n``, normalized to ``||X||_F = 1`` with
    ``sum X >= 0``. ``M vec(X) = vec(L(X))`` with
    ``L(X) = (s1 + s2 - 2 s3) A X B + (s3 - s2) (A X J + J X B) + s2 J X J``.

    Power iteration from ``J / n`` stays in ``K(A) ⊗ K(B)``, ``K(A)`` the Krylov space of ``A``
    and ``1``: with ``U`` an orthonormal (Lanczos, fully reorthogonalized) basis of its first
    ``m = min(n, krylov_dim)`` vectors (``U[:, 0] = 1 / sqrt(n)``), ``T_A = U^T A U`` and the
    same for ``B``, ``X = U C V^T`` and ``L`` acts on the ``m x m`` coefficients ``C`` as
    ``(s1 + s2 - 2 s3) T_A C T_B + (s3 - s2) n (T_A C E + E C T_B) + s2 n^2 E C E``
    (``E = e_1 e_1^T``): power iteration runs on ``C`` (``O(m^3)`` a step), after ``m`` products
    with ``A`` and ``B``. The residual is the larger of the relative change of ``C`` and the
    Krylov truncation ``||L(X) - theta X|| / theta`` outside the subspace, from the Lanczos
    residuals ``A U - U T_A`` (so a too small ``krylov_dim`` shows as non-convergence).

    Returned form: ``X`` up to constants along rows and columns, without cancellation
    (``rmtjax.graphs._bilinear``, vertex coordinates the rows of ``U`` and ``V``): the same
    assignment and Sinkhorn matching, resolved in float32. Gradients: the implicit function
    theorem for the power iteration on ``C`` (GMRES), autodiff through the Lanczos basis. Where
    a Krylov space broke down (dimension ``< m``, e.g. graphs with automorphisms) while the
    eigenvector has weight on its last direction, a perturbed graph's space has directions the
    derivative through the basis cannot see: the gradient is NaN there (the value is exact).

    Input: the raw 0/1 adjacency matrices, as in the original method
    (``match(..., normalize="auto")`` passes them unnormalized).

    Args:
      A: ``(..., n, n)`` symmetric matrix, dense or sparse (BCOO / scipy.sparse, unbatched).
      B: ``(..., n, n)`` symmetric matrix, dense or sparse.
      alpha: match bonus ``s1 - s2``, ``> 0``.
      epsilon: mismatch score ``s3``, ``> 0``.
      tol: stopping tolerance on the residual (default 1e-6 in float32, 1e-10 in float64).
      max_iter: cap on the power iterations on ``C``.
      krylov_dim: Krylov dimension ``m`` (memory ``2 n m``; a step costs ``O(m^3)``).
      throw: ``True``: raise when the solve fails (``RuntimeError`` at once; under ``jit``
        a ``jax.errors.JaxRuntimeError`` when the program runs); ``False`` (default): return
        the record, whose ``result`` says why it stopped.

    Returns:
      ``Solution`` with the ``(..., n, n)`` similarity, ``iterations``, ``residual`` and
      ``converged``.

    References:
      Feizi, Quon, Recamonde-Mendoza, Médard, Kellis, Jadbabaie, "Spectral alignment of graphs",
      IEEE TNSE 7(3), 2020 (arXiv:1602.04181), Sec. 3, Eq. (6) and Algorithm 1.
    """
    A, B = graph_pair(A, B)
    check_positive(alpha, "alpha")
    check_positive(epsilon, "epsilon")
    tol = default_tol(A.dtype, tol, f32=1e-6, f64=1e-10)
    max_iter = _pair.check_max_iter(max_iter)
    if isinstance(krylov_dim, bool) or not isinstance(krylov_dim, int) or krylov_dim < 1:
        raise ValueError(f"krylov_dim must be a positive int; got {krylov_dim!r}")
    scores = jnp.asarray([alpha + epsilon, 1.0 + epsilon, epsilon], A.dtype)
    dim = min(krylov_dim, A.shape[-1])
    X, k, res, ok = _eigenalign(A, B, scores, tol, max_iter, dim)
    return Solution.classify(X, k, res, converged=ok).checked("eigenalign", throw)


def _lanczos(A: Graph, m: int) -> tuple[jax.Array, jax.Array]:
    """``(n, m)`` orthonormal basis of ``span{1, A 1, ..., A^{m-1} 1}``, first column
    ``1 / sqrt(n)``, Gram–Schmidt twice per vector, and its dimension: after a breakdown (the
    space is invariant to ``100 eps``) the remaining columns are zero."""
    n = A.shape[-1]
    floor = 100 * jnp.finfo(A.dtype).eps
    U = jnp.zeros((n, m), A.dtype).at[:, 0].set(1 / jnp.sqrt(jnp.asarray(n, A.dtype)))

    def extend(k: jax.Array, state: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, ...]:
        U, size = state
        w = A @ U[:, k - 1]
        before = jax.lax.stop_gradient(jnp.sum(w**2))
        for _ in range(2):
            w = w - U @ (U.T @ w)
        beta2 = jnp.sum(w**2)
        kept = beta2 > floor**2 * before
        u = jnp.where(kept, w / jnp.sqrt(jnp.where(kept, beta2, 1)), 0)
        return U.at[:, k].set(u), size + kept.astype(jnp.int32)

    return jax.lax.fori_loop(1, m, extend, (U, jnp.asarray(1, jnp.int32)))


@jax.custom_jvp
def _no_derivative_where(flag: jax.Array, x: jax.Array) -> jax.Array:
    """``x``, whose derivative is NaN where ``flag`` (a point where ``x`` has none)."""
    return x


@_no_derivative_where.defjvp
def _no_derivative_where_jvp(primals, tangents):
    flag, x = primals
    return x, tangents[1] * jnp.where(flag, jnp.nan, 1.0).astype(x.dtype)


def _carried_by_last(C: jax.Array, size: jax.Array, axis: int) -> jax.Array:
    """Whether a Krylov space that broke down (``size < m``) carries a visible part of the
    eigenvector on its last direction: there the perturbed space gains directions that the
    derivative through the basis cannot see."""
    m = C.shape[axis]
    last = jnp.linalg.norm(jnp.take(C, size - 1, axis=axis))
    return (size < m) & (last > jnp.sqrt(jnp.finfo(C.dtype).eps) * jnp.linalg.norm(C))


def _alignment_operator(params: tuple[jax.Array, ...], C: jax.Array) -> jax.Array:
    """``U^T L(U C V^T) V`` on the coefficients."""
    TA, TB, (s1, s2, s3), n = params
    G = (s1 + s2 - 2 * s3) * TA @ C @ TB
    G = G.at[:, 0].add((s3 - s2) * n * (TA @ C[:, 0]))
    G = G.at[0, :].add((s3 - s2) * n * (C[0, :] @ TB))
    return G.at[0, 0].add(s2 * n * n * C[0, 0])


def _eigenalign_step(params: tuple[jax.Array, ...], C: jax.Array) -> jax.Array:
    """``G(C) / ||G(C)||_F`` with the sign of ``sum X = n C_00 >= 0``."""
    G = _alignment_operator(params, C)
    return jnp.where(G[0, 0] < 0, -1.0, 1.0) / jnp.linalg.norm(G) * G


def _truncation(params: tuple[jax.Array, ...], C: jax.Array, RA: jax.Array, RB: jax.Array):
    """``||L(X) - U G(C) V^T||_F / ||G(C)||_F``: the part of ``L(X)`` outside the subspace.

    With ``A U = U T_A + R_A`` (``R_A`` orthogonal to ``U``), that part is
    ``R_A Z1 V^T + U Z2 R_B^T + R_A Z3 R_B^T``, three mutually orthogonal terms.
    """
    TA, TB, (s1, s2, s3), n = params
    c = s1 + s2 - 2 * s3
    Z1 = (c * C @ TB).at[:, 0].add((s3 - s2) * n * C[:, 0])
    Z2 = (c * TA @ C).at[0, :].add((s3 - s2) * n * C[0, :])
    Z3 = c * C
    outer = jnp.sum(Z3 * ((RA.T @ RA) @ Z3 @ (RB.T @ RB)))
    size2 = jnp.sum((RA @ Z1) ** 2) + jnp.sum((RB @ Z2.T) ** 2) + jnp.maximum(outer, 0)
    return jnp.sqrt(size2) / jnp.linalg.norm(_alignment_operator(params, C))


@functools.partial(jax.jit, static_argnames=("tol", "max_iter", "dim"))
def _eigenalign(
    A: Graph, B: Graph, scores: jax.Array, tol: float, max_iter: int, dim: int
) -> tuple[jax.Array, ...]:
    def solve(A: Graph, B: Graph) -> tuple[jax.Array, ...]:
        (U, size_a), (V, size_b) = _lanczos(A, dim), _lanczos(B, dim)
        AU, BV = A @ U, B @ V
        TA, TB = U.T @ AU, V.T @ BV
        TA, TB = (TA + TA.T) / 2, (TB + TB.T) / 2
        params = (TA, TB, scores, jnp.asarray(A.shape[-1], A.dtype))
        C0 = jnp.zeros((dim, dim), A.dtype).at[0, 0].set(1)  # X = J / n
        C, k, change = _fixed_point(_eigenalign_step, params, C0, tol, max_iter)
        res = jnp.maximum(change, _truncation(params, C, AU - U @ TA, BV - V @ TB))
        blind = _carried_by_last(C, size_a, 0) | _carried_by_last(C, size_b, 1)
        X = _no_derivative_where(blind, bilinear_up_to_constants(U.T, C, V.T))
        return X, k, res, res <= tol

    return _per_pair(solve, A, B, _SOLUTION_SIGNATURE)


def _normalized_degrees(A: Graph) -> jax.Array:
    """``(d - mean d) / (sqrt(n - 1) sd)`` with ``sd`` the spread of the off-diagonal entries.

    For a 0/1 adjacency matrix ``sd = sqrt(q (1 - q))`` with ``q`` the edge density, the
    normalization of Ding–Ma–Wu–Xu with ``q`` estimated. Mat-vecs and entry sums only.
    """
    n = A.shape[-1]
    diag = _diagonal(A)
    pairs = n * (n - 1)
    d = A @ jnp.ones(n, A.dtype) - diag
    squares = A.data**2 if isinstance(A, jsparse.BCOO) else A**2
    mean = jnp.sum(d) / pairs
    var = (jnp.sum(squares) - jnp.sum(diag**2)) / pairs - mean**2
    return (d - jnp.mean(d)) / jnp.sqrt((n - 1) * jnp.maximum(var, jnp.finfo(A.dtype).tiny))


def _neighbour_cdfs(A: Graph, z: jax.Array, grid: jax.Array) -> jax.Array:
    """``F[i, k]``: ``|A_ij|``-weighted share of neighbours ``j`` of ``i`` with ``z_j <= grid[k]``.

    An isolated vertex gets ``F = 1`` (all its mass below the grid).
    """
    W, diag = _abs(A), jnp.abs(_diagonal(A))
    below = (z[:, None] <= grid[None, :]).astype(A.dtype)
    mass = (W @ jnp.ones(A.shape[-1], A.dtype) - diag)[:, None]
    F = W @ below - diag[:, None] * below
    return jnp.where(mass > 0, F / jnp.where(mass > 0, mass, 1.0), 1.0)


@functools.partial(jax.jit, static_argnames="chunk")
def _degree_profile(A: Graph, B: Graph, chunk: int) -> jax.Array:
    def solve(A: Graph, B: Graph) -> jax.Array:
        za, zb = _normalized_degrees(A), _normalized_degrees(B)
        grid = jnp.sort(jnp.concatenate([za, zb]))
        widths = jnp.diff(grid)
        FA = _neighbour_cdfs(A, za, grid[:-1])
        FB = _neighbour_cdfs(B, zb, grid[:-1])

        def row(Fa: jax.Array) -> jax.Array:  # W1 between one profile of A and all of B
            return jnp.abs(Fa[None, :] - FB) @ widths

        return -jax.lax.map(row, FA, batch_size=chunk)

    return _per_pair(solve, A, B, "(n,n),(n,n)->(n,n)")


def degree_profile(A: ArrayLike, B: ArrayLike, *, chunk: int = 16) -> jax.Array:
    r"""Degree-profile similarity of Ding–Ma–Wu–Xu: ``X_ij = -W_1(mu_i, nu_j)``.

    ``mu_i`` is the empirical distribution of the normalized degrees ``z_k`` of the neighbours
    ``k`` of vertex ``i`` in ``A`` (weighted by ``|A_ik|`` for weighted graphs), with
    ``z = (d - mean d) / sqrt((n - 1) q (1 - q))``; likewise ``nu_j`` in ``B``. The 1-Wasserstein
    distance is computed exactly as ``int |F_i - G_j|`` over the merged grid of all ``2n``
    degree values: ``O(n^3)`` elementwise work, ``chunk`` rows of ``A`` at a time; the graphs
    enter through products only, so sparse graphs stay sparse.

    Input: the raw 0/1 adjacency matrices, as in the original method
    (``match(..., normalize="auto")`` passes them unnormalized).

    Args:
      A: ``(..., n, n)`` symmetric matrix, ``n >= 2``, dense or sparse (unbatched).
      B: ``(..., n, n)`` symmetric matrix, dense or sparse.
      chunk: rows of ``A`` processed at once (memory ``chunk * n * 2n``).

    Returns:
      ``(..., n, n)`` similarity ``-W_1``, entries ``<= 0``.

    References:
      Ding, Ma, Wu, Xu, "Efficient random graph matching via degree profiles", Probab. Theory
      Relat. Fields 179, 2021 (arXiv:1811.07821), Sec. 1.2, Algorithm 1.
    """
    A, B = graph_pair(A, B)
    if A.shape[-1] < 2:
        raise ValueError(f"degree_profile needs graphs with n >= 2 vertices; got n = {A.shape[-1]}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int; got {chunk!r}")
    return _degree_profile(A, B, chunk)
