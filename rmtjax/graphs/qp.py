"""The "full QP" relaxation of graph matching over the Birkhoff polytope, solved by ADMM in JAX."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from rmtjax._linalg import eigh_stacked
from rmtjax._solution import Solution, default_tol
from rmtjax.graphs import _pair
from rmtjax.graphs._seeds import check_seeds, seed_masks

__all__ = ["Solution", "qp_doubly_stochastic"]


def _project_affine(X: jax.Array) -> jax.Array:
    """Frobenius projection onto ``{X : X 1 = 1, X^T 1 = 1}``.

    ``P(X) = X + r 1^T / n + 1 c^T / n - (s / n^2) J`` with row defects ``r = 1 - X 1``, column
    defects ``c = 1 - X^T 1`` and ``s = n - 1^T X 1``.
    """
    n = X.shape[-1]
    r = 1.0 - jnp.sum(X, axis=1)
    c = 1.0 - jnp.sum(X, axis=0)
    s = n - jnp.sum(X)
    return X + r[:, None] / n + c[None, :] / n - s / n**2


@functools.partial(jax.jit, static_argnames=("tol", "max_iter"))
@functools.partial(
    jnp.vectorize, signature="(n,n),(n,n),(n,n),(n,n)->(n,n),(),(),()", excluded={4, 5}
)
def _admm(
    A: jax.Array, B: jax.Array, fixed: jax.Array, value: jax.Array, tol: float, max_iter: int
) -> tuple[jax.Array, ...]:
    """Consensus ADMM for ``min f(X) + I_affine(Y) + I_{>=0, fixed}(Z)`` s.t. ``X = Y = Z``;
    ``Z`` equals ``value`` where ``fixed`` (the seed rows and columns)."""
    n = A.shape[-1]
    (lam, U), (mu, V) = eigh_stacked(A, B)
    gap2 = (lam[:, None] - mu[None, :]) ** 2
    scale = jnp.sqrt(n * 1.0)  # ||Pi||_F of a permutation matrix

    def x_update(C: jax.Array, rho: jax.Array) -> jax.Array:
        # argmin ||AX - XB||^2 + rho ||X - C||^2  <=>  (L + rho) X = rho C, L diagonal in U, V.
        return U @ (rho * (U.T @ C @ V) / (gap2 + rho)) @ V.T

    def cond(state: tuple[jax.Array, ...]) -> jax.Array:
        k, res = state[0], state[-1]
        return (k < max_iter) & (res > tol)

    def body(state: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        k, Y, Z, U1, U2, rho, _ = state
        X = x_update((Y - U1 + Z - U2) / 2, rho)
        Y_new = _project_affine(X + U1)
        Z_new = jnp.where(fixed, value, jnp.maximum(X + U2, 0.0))
        U1, U2 = U1 + X - Y_new, U2 + X - Z_new
        primal = jnp.sqrt(jnp.sum((X - Y_new) ** 2) + jnp.sum((X - Z_new) ** 2)) / scale
        dual = rho * jnp.sqrt(jnp.sum((Y_new - Y) ** 2) + jnp.sum((Z_new - Z) ** 2)) / scale
        # Residual balancing (Boyd et al. 2011, Sec. 3.4.1): the X-update stays closed form.
        factor = jnp.where(primal > 10 * dual, 2.0, jnp.where(dual > 10 * primal, 0.5, 1.0))
        factor = jnp.where(k % 10 == 9, factor, 1.0).astype(rho.dtype)
        return (
            k + 1,
            Y_new,
            Z_new,
            U1 / factor,
            U2 / factor,
            rho * factor,
            jnp.maximum(primal, dual),
        )

    X0 = jnp.where(fixed, value, jnp.full((n, n), 1.0 / n, A.dtype))
    rho0 = jnp.maximum(jnp.mean(gap2), jnp.finfo(A.dtype).tiny)
    zero = jnp.zeros_like(X0)
    init = (jnp.asarray(0, jnp.int32), X0, X0, zero, zero, rho0, jnp.asarray(jnp.inf, A.dtype))
    k, _, Z, _, _, _, res = jax.lax.while_loop(cond, body, init)
    return Z, k, res, res <= tol


def qp_doubly_stochastic(
    A: ArrayLike,
    B: ArrayLike,
    *,
    seeds: Any = None,
    tol: float | None = None,
    max_iter: int = 5000,
    throw: bool = False,
) -> Solution:
    r"""The full quadratic relaxation of graph matching over doubly stochastic matrices,

    .. math::
        \min_X \|AX - XB\|_F^2 \quad \text{s.t.} \quad X 1 = 1,\ X^T 1 = 1,\ X \ge 0,

    by consensus ADMM on ``X = Y = Z`` with ``Y`` in the affine set and ``Z >= 0``. The
    ``X``-step ``(L + rho) X = rho C`` with ``L(X) = A^2 X - 2AXB + XB^2`` is diagonal in the
    eigenbases of ``A`` and ``B`` (entries ``(lambda_i - mu_j)^2 + rho``), so each iteration
    costs four ``n x n`` matmuls, and ``rho`` adapts by residual balancing at no extra cost.
    The residual is ``max(primal, dual)`` divided by ``sqrt(n)`` (the norm of a permutation).
    With seed pairs ``(idx_A, idx_B)`` the seed rows and columns of ``X`` are fixed to the
    known partial permutation (``X[idx_A, idx_B] = 1``, zero elsewhere in those rows and
    columns): the nonnegativity step projects onto that face of the polytope too.

    Input: centred and scaled matrices (``normalize_adjacency`` of 0/1 graphs, or Wigner
    matrices); ``match(..., normalize="auto")`` normalizes 0/1 graphs for it.

    Args:
      A: ``(..., n, n)`` symmetric matrix (dense; sparse graphs are densified once).
      B: ``(..., n, n)`` symmetric matrix.
      seeds: optional pair ``(idx_A, idx_B)`` of known vertex pairs.
      tol: stopping tolerance on the residual (default 1e-4 in float32, 1e-7 in float64).
      max_iter: iteration cap.
      throw: ``True``: raise when the solve fails (``RuntimeError`` at once; under ``jit``
        a ``jax.errors.JaxRuntimeError`` when the program runs); ``False`` (default): return
        the record, whose ``result`` says why it stopped.

    Returns:
      :class:`~rmtjax.graphs.Solution` whose ``value`` is the nonnegative iterate ``Z``
      (doubly stochastic up to the primal residual), shape ``(..., n, n)``.

    References:
      Zaslavskiy, Bach, Vert, "A path following algorithm for the graph matching problem", IEEE
      TPAMI 31(12), 2009 (the relaxation); Aflalo, Bronstein, Kimmel, PNAS 112(10), 2015; Boyd,
      Parikh, Chu, Peleato, Eckstein, "Distributed optimization ... ADMM", 2011, Sec. 3 and 7.1.
    """
    A, B = _pair.as_float_pair(A, B, "qp_doubly_stochastic", 10)
    tol = default_tol(A.dtype, tol, f32=1e-4, f64=1e-7)
    max_iter = _pair.check_max_iter(max_iter)
    n = A.shape[-1]
    fixed = jnp.zeros((n, n), bool)
    value = jnp.zeros((n, n), A.dtype)
    seeds = check_seeds(seeds, n, n)
    if seeds is not None:
        rows, cols = seed_masks(seeds, n, n)
        fixed = rows[:, None] | cols[None, :]
        value = value.at[seeds].set(1.0)
    X, k, res, ok = _admm(A, B, fixed, value, tol, max_iter)
    return Solution.classify(X, k, res, converged=ok).checked("qp_doubly_stochastic", throw)
