"""Baseline similarity matrices from the graph-matching literature: IsoRank, EigenAlign (fixed
points that never form the ``n^2 x n^2`` Kronecker matrix) and Ding–Ma–Wu–Xu degree profiles.

Rows of every similarity are vertices of ``A``, columns vertices of ``B``. The Kronecker products
act through ``kron(B, A) vec(X) = vec(A X B^T)`` (column-major ``vec``). Every method here only
multiplies by ``A`` and ``B``, so ``jax.experimental.sparse.BCOO`` and scipy.sparse graphs stay
sparse.

Float32. IsoRank and EigenAlign scores are dominated by a near-constant component: the scores of
a true and a false pair differ in about the 7th digit, which a float32 ``n x n`` array cannot
hold. Adding a constant to a row or a column of ``X`` changes no assignment (every permutation
uses each row and column once), so both solvers iterate on the split
``X = Y + u 1^T + 1 v^T + w J`` (``Y`` doubly centred, ``u, v`` centred), which float32 resolves,
and return the doubly centred part ``Y = H X H``, ``H = I - J / n``.

Gradients. Both fixed points are differentiated by the implicit function theorem
(``jax.lax.custom_root``; the adjoint system is solved by GMRES), never through the loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.experimental import sparse as jsparse
from jax.typing import ArrayLike

from rmtjax._checks import check_in_range, check_positive
from rmtjax._solution import Solution, default_tol
from rmtjax.graphs import _pair
from rmtjax.graphs._inputs import graph_pair, is_sparse

__all__ = ["Solution", "degree_profile", "eigenalign", "isorank"]

_SOLUTION_SIGNATURE = "(n,n),(n,n)->(n,n),(),(),()"

Graph = jax.Array | jsparse.BCOO


class _Split(NamedTuple):
    """``X = Y + u 1^T + 1 v^T + w J`` with ``Y 1 = 0``, ``1^T Y = 0``, ``1^T u = 1^T v = 0``.

    The four parts are orthogonal, so ``||X||_F^2 = ||Y||^2 + n_B ||u||^2 + n_A ||v||^2
    + n_A n_B w^2``.
    """

    Y: jax.Array  # (n_A, n_B)
    u: jax.Array  # (n_A,)
    v: jax.Array  # (n_B,)
    w: jax.Array  # ()


def _split(M: jax.Array) -> _Split:
    """The split of a dense matrix."""
    w = jnp.mean(M)
    u = jnp.mean(M, axis=1) - w
    v = jnp.mean(M, axis=0) - w
    return _Split(M - u[:, None] - v[None, :] - w, u, v, w)


def _outer(p: jax.Array, q: jax.Array) -> _Split:
    """The split of ``p q^T``, exact in each part (no ``n x n`` sum of large terms)."""
    pm, qm = jnp.mean(p), jnp.mean(q)
    pc, qc = p - pm, q - qm
    return _Split(jnp.outer(pc, qc), qm * pc, pm * qc, pm * qm)


def _combine(*terms: tuple[Any, _Split]) -> _Split:
    """``sum_k c_k S_k`` part by part."""
    return jax.tree.map(
        lambda *parts: sum(c * p for (c, _), p in zip(terms, parts, strict=True)),
        *[s for _, s in terms],
    )


def _norm(S: _Split) -> jax.Array:
    n_a, n_b = S.Y.shape
    return jnp.sqrt(
        jnp.sum(S.Y**2) + n_b * jnp.sum(S.u**2) + n_a * jnp.sum(S.v**2) + n_a * n_b * S.w**2
    )


def _relative_change(D: _Split, S: _Split) -> jax.Array:
    """``max(||dX|| / ||X||, ||dY|| / ||Y||)``: the whole iterate and, on its own scale, the
    doubly centred part that is returned (floored at ``sqrt(eps) ||X||``, where ``Y`` is only
    round-off)."""
    finfo = jnp.finfo(S.Y.dtype)
    size = _norm(S)
    whole = _norm(D) / jnp.maximum(size, finfo.tiny)
    centred = jnp.linalg.norm(D.Y) / jnp.maximum(
        jnp.linalg.norm(S.Y), jnp.maximum(jnp.sqrt(finfo.eps) * size, finfo.tiny)
    )
    return jnp.maximum(whole, centred)


def _right(M: jax.Array, B: Graph) -> jax.Array:
    """``M B`` for a symmetric ``B``, as ``(B M^T)^T`` so a sparse ``B`` stays on the left."""
    return (B @ M.T).T


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


def _iterate(
    step: Callable[[Any, _Split], _Split], params: Any, S0: _Split, tol: float, max_iter: int
) -> tuple[_Split, jax.Array, jax.Array]:
    """Iterate ``S <- step(params, S)`` until the relative change is ``<= tol`` or
    ``max_iter`` steps; returns ``(S, iterations, residual)``."""

    def cond(state: tuple[_Split, jax.Array, jax.Array]) -> jax.Array:
        _, k, res = state
        return (k < max_iter) & (res > tol)

    def body(state: tuple[_Split, jax.Array, jax.Array]) -> tuple[_Split, ...]:
        S, k, _ = state
        S_new = step(params, S)
        D = jax.tree.map(jnp.subtract, S_new, S)
        return S_new, k + 1, _relative_change(D, S_new)

    init = (S0, jnp.asarray(0, jnp.int32), jnp.asarray(jnp.inf, S0.Y.dtype))
    return jax.lax.while_loop(cond, body, init)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 3, 4))
def _fixed_point(
    step: Callable[[Any, _Split], _Split], params: Any, S0: _Split, tol: float, max_iter: int
) -> tuple[_Split, jax.Array, jax.Array]:
    """:func:`_iterate`, differentiated by the implicit function theorem.

    At ``S* = step(params, S*)`` the cotangent ``S_bar`` gives ``lambda`` solving
    ``(I - d_S step)^T lambda = S_bar`` (GMRES on vector-Jacobian products) and
    ``params_bar = (d_params step)^T lambda``; the loop is never differentiated.
    """
    return _iterate(step, params, S0, tol, max_iter)


def _fixed_point_fwd(step, params, S0, tol, max_iter):
    out = _iterate(step, params, S0, tol, max_iter)
    return out, (params, out[0])


def _fixed_point_bwd(step, tol, max_iter, saved, cotangents):
    params, S = saved
    _, vjp_state = jax.vjp(lambda s: step(params, s), S)
    gmres_tol = 1e-12 if jnp.finfo(S.Y.dtype).bits >= 64 else 1e-6

    def adjoint(lam: _Split) -> _Split:
        return jax.tree.map(jnp.subtract, lam, vjp_state(lam)[0])

    lam = jax.scipy.sparse.linalg.gmres(
        adjoint, cotangents[0], tol=gmres_tol, restart=30, maxiter=30
    )[0]
    _, vjp_params = jax.vjp(lambda p: step(p, S), params)
    return vjp_params(lam)[0], jax.tree.map(jnp.zeros_like, S)


_fixed_point.defvjp(_fixed_point_fwd, _fixed_point_bwd)


def _solution(S: _Split, k: jax.Array, res: jax.Array, tol: float) -> tuple[jax.Array, ...]:
    return S.Y, k, res, res <= tol


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

    i.e. ``vec(X) = alpha kron(B~, A~) vec(X) + (1 - alpha) vec(E)`` (a contraction with rate
    ``alpha``; ``O(n^2)`` memory, mat-vecs with ``A`` and ``B`` only). Degrees are absolute
    column sums, so ``sum |X| = 1`` for nonnegative graphs and weighted or signed graphs still
    give a contraction. The iteration runs on the split ``X = Y + u 1^T + 1 v^T + w J`` and
    returns ``Y = H X H`` (``H = I - J / n``): the row and column constants it drops change no
    assignment but would swamp the float32 resolution of ``X``. The residual is the relative
    change of ``X`` and of ``Y`` (the larger); gradients follow from the implicit function theorem.

    Input: the raw (0/1 or weighted nonnegative) adjacency matrices, as in the original method
    (``match(..., normalize="auto")`` passes them unnormalized).

    Args:
      A: ``(..., n, n)`` symmetric matrix, dense or sparse (BCOO / scipy.sparse, unbatched).
      B: ``(..., n, n)`` symmetric matrix, dense or sparse.
      alpha: weight of the network term, in ``[0, 1)``.
      tol: stopping tolerance on the residual (default 1e-5 in float32, 1e-11 in float64).
      max_iter: iteration cap.
      throw: ``True``: raise when the solve fails (``RuntimeError`` at once; under ``jit``
        a ``jax.errors.JaxRuntimeError`` when the program runs); ``False`` (default): return
        the record, whose ``result`` says why it stopped.

    Returns:
      ``Solution`` with ``X = H X_isorank H`` of shape ``(..., n, n)``, ``iterations``,
      ``residual`` and ``converged``.

    References:
      Singh, Xu, Berger, "Global alignment of multiple protein interaction networks with
      application to functional orthology detection", PNAS 105(35), 2008, Eq. (2)–(3).
    """
    A, B = graph_pair(A, B)
    check_in_range(alpha, "alpha", 0.0, 1.0, closed=(True, False))
    tol = default_tol(A.dtype, tol, f32=1e-5, f64=1e-11)
    max_iter = _pair.check_max_iter(max_iter)
    X, k, res, ok = _isorank(A, B, jnp.asarray(alpha, A.dtype), tol, max_iter)
    return Solution.classify(X, k, res, converged=ok).checked("isorank", throw)


def _walk(A: Graph) -> Callable[[jax.Array], jax.Array]:
    """``M -> A D^{-1} M`` (``D`` the absolute column sums; zero columns stay zero)."""
    deg = _abs(A) @ jnp.ones(A.shape[-1], A.dtype)
    inv = jnp.where(deg > 0, 1.0 / jnp.where(deg > 0, deg, 1.0), 0.0)
    return lambda M: A @ (inv[:, None] * M if M.ndim == 2 else inv * M)


def _isorank_step(params: tuple[Graph, Graph, jax.Array], S: _Split) -> _Split:
    """``alpha A~ X B~^T + (1 - alpha) J / n^2`` on the split of ``X``."""
    A, B, alpha = params
    n = A.shape[-1]
    walk_a, walk_b = _walk(A), _walk(B)
    one = jnp.ones(n, A.dtype)
    a1, b1 = walk_a(one), walk_b(one)
    network = _combine(
        (1.0, _split(walk_b(walk_a(S.Y).T).T)),  # A~ Y B~^T
        (1.0, _outer(walk_a(S.u), b1)),
        (1.0, _outer(a1, walk_b(S.v))),
        (S.w, _outer(a1, b1)),
    )
    teleport = (1 - alpha) / n**2
    return network._replace(**{k: alpha * getattr(network, k) for k in _Split._fields})._replace(
        w=alpha * network.w + teleport
    )


@functools.partial(jax.jit, static_argnames=("tol", "max_iter"))
def _isorank(
    A: Graph, B: Graph, alpha: jax.Array, tol: float, max_iter: int
) -> tuple[jax.Array, ...]:
    def solve(A: Graph, B: Graph) -> tuple[jax.Array, ...]:
        n = A.shape[-1]
        zero = jnp.zeros(n, A.dtype)
        teleport = _Split(jnp.zeros((n, n), A.dtype), zero, zero, (1 - alpha) / n**2)
        params = (A, B, alpha)
        return _solution(*_fixed_point(_isorank_step, params, teleport, tol, max_iter), tol)

    return _per_pair(solve, A, B, _SOLUTION_SIGNATURE)


def eigenalign(
    A: ArrayLike,
    B: ArrayLike,
    alpha: float = 1.0,
    epsilon: float = 1e-3,
    *,
    tol: float | None = None,
    max_iter: int = 1000,
    throw: bool = False,
) -> Solution:
    r"""EigenAlign similarity: the top eigenvector of the alignment matrix

    .. math::
        M = s_1\, B \otimes A + s_2\, (J - B) \otimes (J - A)
          + s_3\, [B \otimes (J - A) + (J - B) \otimes A],

    with scores ``s1 = alpha + epsilon`` (matches), ``s2 = 1 + epsilon`` (neutral pairs) and
    ``s3 = epsilon`` (mismatches), reshaped to ``n x n``. ``M vec(X)`` is applied as
    ``(s1 + s2 - 2 s3) A X B + (s3 - s2) (A X J + J X B) + s2 J X J`` (products with ``A`` and
    ``B`` only, no ``n^2 x n^2`` matrix); power iterates are normalized to ``||X||_F = 1`` with
    ``sum X >= 0``. As in :func:`isorank` the iteration runs on the split
    ``X = Y + u 1^T + 1 v^T + w J`` and returns ``Y = H X H``, which float32 resolves; the
    residual is the relative change of ``X`` and of ``Y`` (the larger), and gradients follow
    from the implicit function theorem (at a simple top eigenvalue).

    Input: the raw 0/1 adjacency matrices, as in the original method
    (``match(..., normalize="auto")`` passes them unnormalized).

    Args:
      A: ``(..., n, n)`` symmetric matrix, dense or sparse (BCOO / scipy.sparse, unbatched).
      B: ``(..., n, n)`` symmetric matrix, dense or sparse.
      alpha: match bonus ``s1 - s2``, ``> 0``.
      epsilon: mismatch score ``s3``, ``> 0``.
      tol: stopping tolerance on the residual (default 1e-6 in float32, 1e-10 in float64).
      max_iter: iteration cap.
      throw: ``True``: raise when the solve fails (``RuntimeError`` at once; under ``jit``
        a ``jax.errors.JaxRuntimeError`` when the program runs); ``False`` (default): return
        the record, whose ``result`` says why it stopped.

    Returns:
      ``Solution`` with ``X = H X_top H`` of shape ``(..., n, n)``, ``iterations``,
      ``residual`` and ``converged``.

    References:
      Feizi, Quon, Recamonde-Mendoza, Médard, Kellis, Jadbabaie, "Spectral alignment of graphs",
      IEEE TNSE 7(3), 2020 (arXiv:1602.04181), Sec. 3, Eq. (6) and Algorithm 1.
    """
    A, B = graph_pair(A, B)
    check_positive(alpha, "alpha")
    check_positive(epsilon, "epsilon")
    tol = default_tol(A.dtype, tol, f32=1e-6, f64=1e-10)
    max_iter = _pair.check_max_iter(max_iter)
    scores = jnp.asarray([alpha + epsilon, 1.0 + epsilon, epsilon], A.dtype)
    X, k, res, ok = _eigenalign(A, B, scores, tol, max_iter)
    return Solution.classify(X, k, res, converged=ok).checked("eigenalign", throw)


def _eigenalign_step(params: tuple[Graph, Graph, jax.Array], S: _Split) -> _Split:
    """``M X / ||M X||_F`` (sign: ``sum >= 0``) on the split of ``X``."""
    A, B, (s1, s2, s3) = params
    n = A.shape[-1]
    one = jnp.ones(n, A.dtype)
    a1, b1 = A @ one, B @ one
    AXB = _combine(
        (1.0, _split(_right(A @ S.Y, B))),
        (1.0, _outer(A @ S.u, b1)),
        (1.0, _outer(a1, B @ S.v)),
        (S.w, _outer(a1, b1)),
    )
    AXJ = _outer(n * (A @ S.u + S.w * a1), one)  # A X J = (A X 1) 1^T
    JXB = _outer(one, n * (B @ S.v + S.w * b1))  # J X B = 1 (B X^T 1)^T
    JXJ = _Split(0 * S.Y, 0 * S.u, 0 * S.v, n * n * S.w)
    MX = _combine((s1 + s2 - 2 * s3, AXB), (s3 - s2, AXJ), (s3 - s2, JXB), (s2, JXJ))
    scale = jnp.where(MX.w < 0, -1.0, 1.0) / _norm(MX)
    return jax.tree.map(lambda p: scale * p, MX)


@functools.partial(jax.jit, static_argnames=("tol", "max_iter"))
def _eigenalign(
    A: Graph, B: Graph, scores: jax.Array, tol: float, max_iter: int
) -> tuple[jax.Array, ...]:
    def solve(A: Graph, B: Graph) -> tuple[jax.Array, ...]:
        n = A.shape[-1]
        zero = jnp.zeros(n, A.dtype)
        X0 = _Split(jnp.zeros((n, n), A.dtype), zero, zero, jnp.asarray(1.0 / n, A.dtype))
        params = (A, B, scores)
        return _solution(*_fixed_point(_eigenalign_step, params, X0, tol, max_iter), tol)

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
