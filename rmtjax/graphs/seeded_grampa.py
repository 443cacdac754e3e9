"""Seeded GRAMPA: the GRAMPA quadratic program with the seed rows and columns of ``X`` fixed."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from rmtjax._checks import check_positive
from rmtjax._linalg import eigh_stacked
from rmtjax._solution import Solution, default_tol
from rmtjax.graphs import _pair
from rmtjax.graphs._seeds import check_seeds, seed_masks

__all__ = ["seeded_grampa"]


@functools.partial(jax.jit, static_argnames=("tol", "max_iter"))
@functools.partial(
    jnp.vectorize, signature="(n,n),(n,n),(n,n),(n,n)->(n,n),(),(),()", excluded={4, 5, 6}
)
def _seeded_grampa(
    A: jax.Array,
    B: jax.Array,
    free: jax.Array,
    fixed: jax.Array,
    eta: jax.Array,
    tol: float,
    max_iter: int,
) -> tuple[jax.Array, ...]:
    (lam, U), (mu, V) = eigh_stacked(A, B)
    D = (lam[:, None] - mu[None, :]) ** 2 + eta**2

    def L(X: jax.Array) -> jax.Array:  # A^2 X - 2 A X B + X B^2 + eta^2 X
        return U @ (D * (U.T @ X @ V)) @ V.T

    def restricted(Z: jax.Array) -> jax.Array:
        return jnp.where(free, L(jnp.where(free, Z, 0.0)), 0.0)

    def precondition(R: jax.Array) -> jax.Array:  # the unconstrained inverse, masked
        return jnp.where(free, U @ ((U.T @ R @ V) / D) @ V.T, 0.0)

    b = jnp.where(free, 1.0 - L(fixed), 0.0)
    b_norm = jnp.maximum(jnp.linalg.norm(b), jnp.finfo(A.dtype).tiny)

    def cond(state: tuple[jax.Array, ...]) -> jax.Array:
        k, res = state[0], state[-1]
        return (k < max_iter) & (res > tol)

    def body(state: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        k, x, r, z, p, rz, _ = state
        Lp = restricted(p)
        step = rz / jnp.sum(p * Lp)
        x, r = x + step * p, r - step * Lp
        z = precondition(r)
        rz_new = jnp.sum(r * z)
        p = z + (rz_new / rz) * p
        return k + 1, x, r, z, p, rz_new, jnp.linalg.norm(r) / b_norm

    x0 = precondition(b)
    r0 = b - restricted(x0)
    z0 = precondition(r0)
    init = (jnp.asarray(0, jnp.int32), x0, r0, z0, z0, jnp.sum(r0 * z0))
    init = (*init, jnp.linalg.norm(r0) / b_norm)
    k, x, *_, res = jax.lax.while_loop(cond, body, init)
    return eta * (fixed + x), k, res, res <= tol


def seeded_grampa(
    A: ArrayLike,
    B: ArrayLike,
    seeds: Any,
    eta: float = 0.2,
    *,
    tol: float | None = None,
    max_iter: int = 500,
) -> Solution:
    r"""GRAMPA with seed pairs: its quadratic program with the seed rows and columns fixed,

    .. math::
        \min_X \tfrac12 \|AX - XB\|_F^2 + \tfrac{\eta^2}{2} \|X\|_F^2 - 1^T X 1
        \quad \text{s.t.} \quad X_{a_k b_k} = \eta^{-2},\
        X_{a_k j} = 0\ (j \ne b_k),\ X_{i b_k} = 0\ (i \ne a_k),

    returned as ``eta X`` (without seeds this is :func:`grampa`'s closed form). ``1/eta^2`` is
    the minimizing scale ``c`` of a permutation ``X = c P`` in the objective
    (``argmin_c eta^2 c^2 n / 2 - c n``), so seeds sit on the scale of a true match. The free
    entries solve ``[L(X)]_free = [J]_free`` with ``L(X) = A^2 X - 2AXB + XB^2 + eta^2 X``, a
    positive definite system, by conjugate gradients preconditioned with the unconstrained
    inverse (diagonal in the eigenbases of ``A`` and ``B``): two ``eigh`` once, eight ``n x n``
    matmuls per step. The residual is ``||r|| / ||b||`` of the restricted system.

    Input: centred and scaled matrices, like :func:`grampa`.

    Args:
      A: ``(..., n, n)`` symmetric matrix.
      B: ``(..., n, n)`` symmetric matrix.
      seeds: pair ``(idx_A, idx_B)`` of known vertex pairs.
      eta: bandwidth, ``> 0``.
      tol: relative residual tolerance (default 1e-5 in float32, 1e-10 in float64).
      max_iter: iteration cap.

    Returns:
      ``Solution`` with ``X`` ``(..., n, n)`` (rows = vertices of ``A``), ``iterations``,
      ``residual`` and ``converged``.

    References:
      Fan, Mao, Wu, Xu, arXiv:1907.08880, Eq. (1.6) (the program); Fishkind, Adali, Patsolic,
      Meng, Singh, Lyzinski, Priebe, "Seeded graph matching", Pattern Recognit. 87, 2019 (seeds
      as fixed rows and columns).
    """
    A, B = _pair.as_float_pair(A, B, "seeded_grampa", 8)
    check_positive(eta, "eta")
    tol = default_tol(A.dtype, tol, f32=1e-5, f64=1e-10)
    max_iter = _pair.check_max_iter(max_iter)
    n = A.shape[-1]
    seeds = check_seeds(seeds, n, n)
    if seeds is None:
        raise TypeError("seeded_grampa needs seeds=(idx_A, idx_B); use grampa without seeds")
    rows, cols = seed_masks(seeds, n, n)
    free = ~(rows[:, None] | cols[None, :])
    fixed = jnp.zeros((n, n), A.dtype).at[seeds].set(1.0 / jnp.asarray(eta, A.dtype) ** 2)
    X, k, res, ok = _seeded_grampa(A, B, free, fixed, jnp.asarray(eta, A.dtype), tol, max_iter)
    return Solution.classify(X, k, res, converged=ok)
