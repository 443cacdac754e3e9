"""How good is a matching: recovered fraction of the hidden permutation, and edge overlap."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from rmtjax._checks import check_same_shape, check_square

__all__ = ["edge_overlap", "recovery_fraction"]


def _check_perm(perm: jax.Array, name: str) -> jax.Array:
    perm = jnp.asarray(perm)
    if perm.ndim < 1 or not jnp.issubdtype(perm.dtype, jnp.integer):
        raise ValueError(f"{name} must be an integer array of shape (..., n); got {perm.dtype}")
    return perm


def recovery_fraction(perm_hat: jax.Array, perm: jax.Array) -> jax.Array:
    r"""Fraction of vertices matched correctly: ``(1/n) #{i : perm_hat[i] = perm[i]}``.

    Args:
      perm_hat: ``(..., n)`` int, the estimate (``perm_hat[i]`` = vertex of ``B`` matched to
        vertex ``i`` of ``A``).
      perm: ``(..., n)`` int, the hidden permutation (same convention).

    Returns:
      ``(...)`` float fraction in ``[0, 1]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> float(recovery_fraction(jnp.array([0, 2, 1, 3]), jnp.array([0, 1, 2, 3])))
      0.5
    """
    perm_hat, perm = _check_perm(perm_hat, "perm_hat"), _check_perm(perm, "perm")
    check_same_shape(perm_hat, perm, "perm_hat", "perm")
    return jnp.mean(perm_hat == perm, axis=-1)


def edge_overlap(A: jax.Array, B: jax.Array, perm_hat: jax.Array) -> jax.Array:
    r"""Normalised overlap of ``A`` with ``B`` pulled back through a matching,

    .. math::
        \frac{\sum_{i,j} A_{ij} B_{\hat\pi(i) \hat\pi(j)}}{\|A\|_F \|B\|_F}
        = \frac{\langle A, P B P^T \rangle}{\|A\|_F \|B\|_F}, \quad P_{i \hat\pi(i)} = 1,

    the cosine between ``A`` and the relabelled ``B``: ``1`` for an exact isomorphism, and for
    0/1 graphs with ``m`` edges each, the fraction of edges of ``A`` kept by the matching.

    Args:
      A: ``(..., n, n)`` matrix.
      B: ``(..., n, n)`` matrix.
      perm_hat: ``(..., n)`` int matching, vertex ``i`` of ``A`` to ``perm_hat[i]`` of ``B``.

    Returns:
      ``(...)`` overlap in ``[-1, 1]`` (``[0, 1]`` for nonnegative graphs).

    Examples:
      >>> import jax.numpy as jnp
      >>> A = jnp.array([[0., 1., 0.], [1., 0., 1.], [0., 1., 0.]])
      >>> float(edge_overlap(A, A, jnp.array([2, 1, 0])))
      1.0
    """
    check_square(A, "A")
    check_square(B, "B")
    A, B, perm_hat = jnp.asarray(A), jnp.asarray(B), _check_perm(perm_hat, "perm_hat")
    if not (A.shape[-1] == B.shape[-1] == perm_hat.shape[-1]):
        raise ValueError(
            f"A, B and perm_hat must share n; got {A.shape[-1]}, {B.shape[-1]}, "
            f"{perm_hat.shape[-1]}"
        )
    return _edge_overlap(A, B, perm_hat)


@jax.jit
@functools.partial(jnp.vectorize, signature="(n,n),(n,n),(n)->()")
def _edge_overlap(A: jax.Array, B: jax.Array, perm_hat: jax.Array) -> jax.Array:
    inner = jnp.sum(A * B[perm_hat][:, perm_hat])
    norms = jnp.linalg.norm(A) * jnp.linalg.norm(B)
    return inner / jnp.where(norms > 0, norms, 1.0)
