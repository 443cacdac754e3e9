"""How good is a matching: recovered fraction of the hidden permutation, and edge overlap."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtjax._checks import check_square, is_concrete

__all__ = ["edge_overlap", "recovery_fraction"]


def _check_perm(perm: ArrayLike, name: str) -> jax.Array:
    perm = jnp.asarray(perm)
    if perm.ndim < 1 or not jnp.issubdtype(perm.dtype, jnp.integer):
        raise ValueError(
            f"{name} must be an integer array of shape (..., n); got dtype {perm.dtype}, "
            f"shape {perm.shape}"
        )
    if perm.shape[-1] == 0:
        raise ValueError(f"{name} must match n >= 1 vertices; got an empty array")
    return perm


def _is_injection(p: jax.Array, n_b: int) -> jax.Array:
    """``(...)`` bool: distinct values in ``[0, n_b)`` along the last axis."""
    s = jnp.sort(p, axis=-1)
    return (s[..., 0] >= 0) & (s[..., -1] < n_b) & jnp.all(jnp.diff(s, axis=-1) > 0, axis=-1)


def recovery_fraction(perm_hat: ArrayLike, perm: ArrayLike, n_B: int | None = None) -> jax.Array:
    r"""Fraction of vertices matched correctly: ``(1/n) #{i : perm_hat[i] = perm[i]}``.

    Both arguments must be injective maps of the ``n`` vertices of ``A`` into the ``n_B``
    vertices of ``B`` (permutations of ``range(n)`` when ``n_B = n``); a concrete violation
    (repeated or out-of-range ids) raises, and under ``jit`` the result is NaN. Leading batch
    dimensions broadcast.

    Args:
      perm_hat: ``(..., n)`` int, the estimate (``perm_hat[i]`` = vertex of ``B`` matched to
        vertex ``i`` of ``A``).
      perm: ``(..., n)`` int, the hidden correspondence (same convention).
      n_B: number of vertices of ``B`` (default ``n``: equal sizes).

    Returns:
      ``(...)`` float fraction in ``[0, 1]`` (the broadcast batch shape).

    Examples:
      >>> import jax.numpy as jnp
      >>> float(recovery_fraction(jnp.array([0, 2, 1, 3]), jnp.array([0, 1, 2, 3])))
      0.5
    """
    perm_hat, perm = _check_perm(perm_hat, "perm_hat"), _check_perm(perm, "perm")
    if perm_hat.shape[-1] != perm.shape[-1]:
        raise ValueError(
            f"perm_hat and perm must match the same n vertices; got shapes {perm_hat.shape} "
            f"and {perm.shape}"
        )
    try:
        np.broadcast_shapes(perm_hat.shape, perm.shape)
    except ValueError:
        raise ValueError(
            f"perm_hat and perm batch shapes must broadcast; got {perm_hat.shape} and {perm.shape}"
        ) from None
    n = perm.shape[-1]
    n_b = n if n_B is None else n_B
    if isinstance(n_b, bool) or not isinstance(n_b, int) or n_b < n:
        raise ValueError(f"n_B must be an int >= n = {n}; got {n_B!r}")
    for name, p in (("perm_hat", perm_hat), ("perm", perm)):
        if is_concrete(p) and not bool(jnp.all(_is_injection(p, n_b))):
            what = "a permutation of range(n)" if n_b == n else f"injective into range({n_b})"
            raise ValueError(
                f"{name} must be {what} (distinct vertex ids in [0, {n_b})); got "
                f"{np.asarray(p).tolist() if p.size <= 16 else 'repeated or out-of-range ids'}"
            )
    valid = _is_injection(perm_hat, n_b) & _is_injection(perm, n_b)
    return jnp.where(valid, jnp.mean(perm_hat == perm, axis=-1), jnp.nan)


def edge_overlap(A: jax.Array, B: jax.Array, perm_hat: jax.Array) -> jax.Array:
    r"""Normalized overlap of ``A`` with ``B`` pulled back through a matching,

    .. math::
        \frac{\sum_{i,j} A_{ij} B_{\hat\pi(i) \hat\pi(j)}}{\|A\|_F \|B\|_F}
        = \frac{\langle A, P B P^T \rangle}{\|A\|_F \|B\|_F}, \quad P_{i \hat\pi(i)} = 1,

    the cosine between ``A`` and the relabelled ``B``: ``1`` for an exact isomorphism, and for
    0/1 graphs with ``m`` edges each, the fraction of edges of ``A`` kept by the matching. When
    ``n_A < n_B``, ``B`` stands for its subgraph on the matched vertices
    (``B[perm_hat][:, perm_hat]``, in the numerator and the norm).

    Args:
      A: ``(..., n_A, n_A)`` matrix.
      B: ``(..., n_B, n_B)`` matrix, ``n_B >= n_A``.
      perm_hat: ``(..., n_A)`` int matching, vertex ``i`` of ``A`` to ``perm_hat[i]`` of ``B``.

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
    if not (A.shape[-1] == perm_hat.shape[-1] <= B.shape[-1]):
        raise ValueError(
            f"A and perm_hat must share n_A <= n_B; got n_A = {A.shape[-1]}, n_B = "
            f"{B.shape[-1]}, perm_hat of length {perm_hat.shape[-1]}"
        )
    return _edge_overlap(A, B, perm_hat)


@jax.jit
@functools.partial(jnp.vectorize, signature="(n,n),(m,m),(n)->()")
def _edge_overlap(A: jax.Array, B: jax.Array, perm_hat: jax.Array) -> jax.Array:
    matched = B[perm_hat][:, perm_hat]
    inner = jnp.sum(A * matched)
    norms = jnp.linalg.norm(A) * jnp.linalg.norm(matched)
    return inner / jnp.where(norms > 0, norms, 1.0)
