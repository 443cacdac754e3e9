"""End-to-end graph matching: similarity, rounding, optional projected-power refinement."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rmtjax._checks import check_choice
from rmtjax.graphs import _pair
from rmtjax.graphs.rounding import ROUNDINGS, round_to_permutation
from rmtjax.graphs.similarity import similarity

__all__ = ["match", "refine"]


def _check_steps(steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"refine_steps must be a non-negative int; got {steps!r}")
    return steps


def refine(
    A: jax.Array, B: jax.Array, perm_hat: jax.Array, steps: int = 1, rounding: str = "auto"
) -> jax.Array:
    r"""Projected power iterations ``P <- round(A P B)`` for ``max_P <A, P B P^T>``.

    With ``P[i, perm_hat[i]] = 1``, ``A P B = A @ B[perm_hat]`` (one matmul) is half the gradient
    of the quadratic assignment objective ``Tr(A P B P^T)``; each step rounds it back to a
    permutation.

    Args:
      A: ``(..., n, n)`` symmetric matrix.
      B: ``(..., n, n)`` symmetric matrix.
      perm_hat: ``(..., n)`` int initial matching.
      steps: number of refinement steps (static).
      rounding: a ``round_to_permutation`` method.

    Returns:
      ``(..., n)`` int32 refined matching.

    References:
      Araya, Braun, Tyagi, "Seeded graph matching for the correlated Gaussian Wigner model via the
      projected power method", JMLR 25, 2024, Algorithm 1.
    """
    A, B = _pair.as_float_pair(A, B)
    steps = _check_steps(steps)
    check_choice(rounding, "rounding", ROUNDINGS)

    gradient = jnp.vectorize(lambda a, b, p: a @ b[p], signature="(n,n),(n,n),(n)->(n,n)")

    def step(_: int, perm: jax.Array) -> jax.Array:
        return round_to_permutation(gradient(A, B, perm), rounding)

    perm = jnp.broadcast_to(perm_hat, jnp.broadcast_shapes(A.shape, B.shape)[:-1])
    return jax.lax.fori_loop(0, steps, step, perm.astype(jnp.int32))


def match(
    A: jax.Array,
    B: jax.Array,
    method: str = "grampa",
    rounding: str = "auto",
    refine_steps: int = 0,
    **options: Any,
) -> jax.Array:
    """Match the vertices of ``A`` to those of ``B``: round a similarity to a permutation.

    Args:
      A: ``(..., n, n)`` symmetric matrix.
      B: ``(..., n, n)`` symmetric matrix (leading dimensions broadcast with ``A``).
      method: similarity method name (see ``similarity``).
      rounding: ``round_to_permutation`` method (``"auto"``: exact, fastest for the backend).
      refine_steps: projected-power refinement steps after rounding (``refine``).
      **options: passed to the similarity method (e.g. ``eta=0.2``).

    Returns:
      ``(..., n)`` int32 ``perm_hat`` with ``perm_hat[i]`` the vertex of ``B`` matched to
      vertex ``i`` of ``A``.

    References:
      Fan, Mao, Wu, Xu, arXiv:1907.08880, Algorithm 1 (GRAMPA: similarity, then exact rounding).

    Examples:
      >>> import jax.numpy as jnp
      >>> A = jnp.array([[0., 1., 1.], [1., 0., 0.], [1., 0., 0.]])
      >>> B = A[jnp.array([1, 0, 2])][:, jnp.array([1, 0, 2])]
      >>> int(match(A, B)[0])
      1
    """
    check_choice(rounding, "rounding", ROUNDINGS)
    refine_steps = _check_steps(refine_steps)
    perm = round_to_permutation(similarity(A, B, method, **options), rounding)
    return refine(A, B, perm, refine_steps, rounding) if refine_steps else perm
