"""Baseline similarity matrices from the graph-matching literature: IsoRank, EigenAlign (power
iterations that never form the ``n^2 x n^2`` Kronecker matrix) and Ding–Ma–Wu–Xu degree profiles.

Rows of every similarity are vertices of ``A``, columns vertices of ``B``. The Kronecker products
act through ``kron(B, A) vec(X) = vec(A X B^T)`` (column-major ``vec``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from rmtjax._checks import check_in_range, check_positive
from rmtjax._solution import Solution, default_tol
from rmtjax.graphs import _pair

__all__ = ["Solution", "degree_profile", "eigenalign", "isorank"]

_SOLUTION_SIGNATURE = "(n,n),(n,n)->(n,n),(),()"


def _fixed_point(
    step: Callable[[jax.Array], jax.Array],
    X0: jax.Array,
    distance: Callable[[jax.Array, jax.Array], jax.Array],
    tol: float,
    max_iter: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Iterate ``X <- step(X)`` until ``distance(new, old) <= tol`` or ``max_iter`` steps.

    Returns the last iterate, the steps taken and the last distance (a NaN distance stops).
    """

    def cond(state: tuple[jax.Array, jax.Array, jax.Array]) -> jax.Array:
        _, k, res = state
        return (k < max_iter) & (res > tol)

    def body(state: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, ...]:
        X, k, _ = state
        X_new = step(X)
        return X_new, k + 1, distance(X_new, X)

    init = (X0, jnp.asarray(0, jnp.int32), jnp.asarray(jnp.inf, X0.dtype))
    X, k, res = jax.lax.while_loop(cond, body, init)
    return X, k, res


def _column_normalised(A: jax.Array) -> jax.Array:
    """``A D^{-1}`` with ``D = diag(sum_i |A_ij|)`` (zero columns stay zero)."""
    deg = jnp.sum(jnp.abs(A), axis=0)
    return A / jnp.where(deg > 0, deg, 1.0)


def isorank(
    A: jax.Array,
    B: jax.Array,
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

    i.e. ``vec(X) = alpha kron(B~, A~) vec(X) + (1 - alpha) vec(E)``, solved by the iteration
    ``R <- alpha A~ (R + (1 - alpha) E) B~^T`` on ``R = X - (1 - alpha) E`` (``O(n^3)`` per
    step, no ``n^2 x n^2`` matrix). The constant ``(1 - alpha) E`` changes no assignment but
    would swamp the float32 resolution of ``X``, so ``R`` is returned. Degrees are absolute
    column sums, so ``sum |X| = 1`` for nonnegative graphs and weighted or signed graphs still
    give a contraction (rate ``alpha``); the residual is ``sum |R_{k+1} - R_k|``.

    Args:
      A: ``(..., n, n)`` symmetric matrix (a 0/1 adjacency matrix in the original method).
      B: ``(..., n, n)`` symmetric matrix.
      alpha: weight of the network term, in ``[0, 1)``.
      tol: stopping tolerance on the residual (default 1e-6 in float32, 1e-12 in float64).
      max_iter: iteration cap.
      throw: ``True``: raise when the solve fails (``RuntimeError`` at once; under ``jit``
        a ``jax.errors.JaxRuntimeError`` when the program runs); ``False`` (default): return
        the record, whose ``result`` says why it stopped.

    Returns:
      :class:`~rmtjax.graphs.Solution` with ``value = R`` (the IsoRank matrix less
      ``(1 - alpha) / n^2``) of shape ``(..., n, n)``; ``result`` is ``successful``,
      ``nonfinite`` or ``max_steps_reached``, never ``diverged`` (the step is an
      ``alpha``-contraction in the entrywise l1 norm, so the residual cannot grow).

    References:
      Singh, Xu, Berger, "Global alignment of multiple protein interaction networks with
      application to functional orthology detection", PNAS 105(35), 2008, Eq. (2)–(3).
    """
    A, B = _pair.as_float_pair(A, B)
    check_in_range(alpha, "alpha", 0.0, 1.0, closed=(True, False))
    tol = default_tol(A.dtype, tol, f32=1e-6, f64=1e-12)
    max_iter = _pair.check_max_iter(max_iter)
    X, k, res = _isorank(A, B, jnp.asarray(alpha, A.dtype), tol, max_iter)
    return Solution.classify(X, k, res, converged=res <= tol).checked("isorank", throw)


@functools.partial(jax.jit, static_argnames=("tol", "max_iter"))
def _isorank(
    A: jax.Array, B: jax.Array, alpha: jax.Array, tol: float, max_iter: int
) -> tuple[jax.Array, ...]:
    def solve(A: jax.Array, B: jax.Array) -> tuple[jax.Array, ...]:
        n = A.shape[-1]
        At, Bt = _column_normalised(A), _column_normalised(B)

        teleport = (1 - alpha) / n**2

        def step(R: jax.Array) -> jax.Array:
            return alpha * (At @ (R + teleport) @ Bt.T)

        X0 = jnp.zeros((n, n), A.dtype)
        return _fixed_point(step, X0, lambda x, y: jnp.sum(jnp.abs(x - y)), tol, max_iter)

    return _pair.pairwise(solve, _SOLUTION_SIGNATURE)(A, B)


def eigenalign(
    A: jax.Array,
    B: jax.Array,
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
    ``(s1 + s2 - 2 s3) A X B + (s3 - s2) (A X J + J X B) + s2 J X J`` (two matmuls per power
    step, no ``n^2 x n^2`` matrix); iterates are normalised to ``||X||_F = 1`` with
    ``sum X >= 0``; the residual is ``||X_{k+1} - X_k||_F``.

    Args:
      A: ``(..., n, n)`` symmetric matrix (a 0/1 adjacency matrix in the original method).
      B: ``(..., n, n)`` symmetric matrix.
      alpha: match bonus ``s1 - s2``, ``> 0``.
      epsilon: mismatch score ``s3``, ``> 0``.
      tol: stopping tolerance on the residual (default 1e-5 in float32, 1e-10 in float64).
      max_iter: iteration cap.
      throw: ``True``: raise when the solve fails (``RuntimeError`` at once; under ``jit``
        a ``jax.errors.JaxRuntimeError`` when the program runs); ``False`` (default): return
        the record, whose ``result`` says why it stopped.

    Returns:
      :class:`~rmtjax.graphs.Solution` with ``value`` of shape ``(..., n, n)``; ``result`` is
      ``successful``, ``nonfinite`` or ``max_steps_reached``, never ``diverged`` (iterates are
      normalized, so they cannot grow; an iteration that oscillates between two vectors
      reaches the cap).

    References:
      Feizi, Quon, Recamonde-Mendoza, Médard, Kellis, Jadbabaie, "Spectral alignment of graphs",
      IEEE TNSE 7(3), 2020 (arXiv:1602.04181), Sec. 3, Eq. (6) and Algorithm 1.
    """
    A, B = _pair.as_float_pair(A, B)
    check_positive(alpha, "alpha")
    check_positive(epsilon, "epsilon")
    tol = default_tol(A.dtype, tol, f32=1e-5, f64=1e-10)
    max_iter = _pair.check_max_iter(max_iter)
    scores = jnp.asarray([alpha + epsilon, 1.0 + epsilon, epsilon], A.dtype)
    X, k, res = _eigenalign(A, B, scores, tol, max_iter)
    return Solution.classify(X, k, res, converged=res <= tol).checked("eigenalign", throw)


@functools.partial(jax.jit, static_argnames=("tol", "max_iter"))
def _eigenalign(
    A: jax.Array, B: jax.Array, scores: jax.Array, tol: float, max_iter: int
) -> tuple[jax.Array, ...]:
    s1, s2, s3 = scores

    def solve(A: jax.Array, B: jax.Array) -> tuple[jax.Array, ...]:
        n = A.shape[-1]

        def step(X: jax.Array) -> jax.Array:
            AX = A @ X
            row = jnp.sum(AX, axis=1)[:, None]  # A X J = (A X 1) 1^T
            col = (jnp.sum(X, axis=0) @ B)[None, :]  # J X B = 1 (1^T X B)
            Y = (s1 + s2 - 2 * s3) * (AX @ B) + (s3 - s2) * (row + col) + s2 * jnp.sum(X)
            Y = Y / jnp.linalg.norm(Y)
            return jnp.where(jnp.sum(Y) < 0, -Y, Y)

        X0 = jnp.full((n, n), 1.0 / n, A.dtype)
        return _fixed_point(step, X0, lambda x, y: jnp.linalg.norm(x - y), tol, max_iter)

    return _pair.pairwise(solve, _SOLUTION_SIGNATURE)(A, B)


def _normalised_degrees(A: jax.Array) -> jax.Array:
    """``(d - mean d) / (sqrt(n - 1) sd)`` with ``sd`` the spread of the off-diagonal entries.

    For a 0/1 adjacency matrix ``sd = sqrt(q (1 - q))`` with ``q`` the edge density, the
    normalisation of Ding–Ma–Wu–Xu with ``q`` estimated.
    """
    n = A.shape[-1]
    off = ~jnp.eye(n, dtype=bool)
    mean = jnp.sum(jnp.where(off, A, 0.0)) / (n * (n - 1))
    var = jnp.sum(jnp.where(off, (A - mean) ** 2, 0.0)) / (n * (n - 1))
    d = jnp.sum(jnp.where(off, A, 0.0), axis=1)
    return (d - jnp.mean(d)) / jnp.sqrt((n - 1) * jnp.maximum(var, jnp.finfo(A.dtype).tiny))


def _neighbour_cdfs(A: jax.Array, z: jax.Array, grid: jax.Array) -> jax.Array:
    """``F[i, k]``: ``|A_ij|``-weighted share of neighbours ``j`` of ``i`` with ``z_j <= grid[k]``.

    An isolated vertex gets ``F = 1`` (all its mass below the grid).
    """
    W = jnp.abs(A) * (1 - jnp.eye(A.shape[-1], dtype=A.dtype))
    mass = jnp.sum(W, axis=1, keepdims=True)
    F = W @ (z[:, None] <= grid[None, :]).astype(A.dtype)
    return jnp.where(mass > 0, F / jnp.where(mass > 0, mass, 1.0), 1.0)


@functools.partial(jax.jit, static_argnames="chunk")
@functools.partial(jnp.vectorize, signature="(n,n),(n,n)->(n,n)", excluded={2})
def _degree_profile(A: jax.Array, B: jax.Array, chunk: int) -> jax.Array:
    za, zb = _normalised_degrees(A), _normalised_degrees(B)
    grid = jnp.sort(jnp.concatenate([za, zb]))
    widths = jnp.diff(grid)
    FA = _neighbour_cdfs(A, za, grid[:-1])
    FB = _neighbour_cdfs(B, zb, grid[:-1])

    def row(Fa: jax.Array) -> jax.Array:  # W1 between one profile of A and all of B
        return jnp.abs(Fa[None, :] - FB) @ widths

    return -jax.lax.map(row, FA, batch_size=chunk)


def degree_profile(A: jax.Array, B: jax.Array, *, chunk: int = 16) -> jax.Array:
    r"""Degree-profile similarity of Ding–Ma–Wu–Xu: ``X_ij = -W_1(mu_i, nu_j)``.

    ``mu_i`` is the empirical distribution of the normalised degrees ``z_k`` of the neighbours
    ``k`` of vertex ``i`` in ``A`` (weighted by ``|A_ik|`` for weighted graphs), with
    ``z = (d - mean d) / sqrt((n - 1) q (1 - q))``; likewise ``nu_j`` in ``B``. The 1-Wasserstein
    distance is computed exactly as ``int |F_i - G_j|`` over the merged grid of all ``2n``
    degree values: ``O(n^3)`` elementwise work, ``chunk`` rows of ``A`` at a time.

    Args:
      A: ``(..., n, n)`` symmetric matrix (0/1 adjacency in the original method).
      B: ``(..., n, n)`` symmetric matrix.
      chunk: rows of ``A`` processed at once (memory ``chunk * n * 2n``).

    Returns:
      ``(..., n, n)`` similarity ``-W_1``, entries ``<= 0``.

    References:
      Ding, Ma, Wu, Xu, "Efficient random graph matching via degree profiles", Probab. Theory
      Relat. Fields 179, 2021 (arXiv:1811.07821), Sec. 1.2, Algorithm 1.
    """
    A, B = _pair.as_float_pair(A, B)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int; got {chunk!r}")
    return _degree_profile(A, B, chunk)
