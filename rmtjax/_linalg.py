"""Symmetric eigendecompositions of several matrices as one batched call.

jaxlib's CPU ``eigh`` kernel (LAPACK ``syevd``) spreads a batch over XLA's intra-op thread pool
and blocks the worker that runs it until the batch is done. When one program holds several
independent batched ``eigh`` calls, XLA may start as many of them at once as the pool has
workers; each then waits for a free worker that never comes (jaxlib 0.10.2: three
``eigvalsh`` of a ``vmap``-ed trial hung on the first call on a 2-core machine, every time).
Stacking the matrices into one call leaves at most one worker blocked, and is faster (one
batch for the pool to spread instead of several competing ones). Every place that
diagonalises more than one matrix in a program goes through here. Leading batch dimensions
broadcast against each other first (a matrix shared by a batch is then diagonalised once per
batch element: the price of a single call).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["eigh_stacked", "eigvalsh_stacked"]


def eigh_stacked(*matrices: jax.Array) -> list[tuple[jax.Array, jax.Array]]:
    """``[jnp.linalg.eigh(M) for M in matrices]`` as a single batched call.

    Args:
      *matrices: symmetric ``(..., n, n)`` arrays of one dtype; batch dimensions broadcast.

    Returns:
      One ``(eigenvalues (..., n) ascending, eigenvectors (..., n, n) as columns)`` per matrix,
      with the broadcast batch shape.
    """
    values, vectors = jnp.linalg.eigh(jnp.stack(jnp.broadcast_arrays(*matrices)))
    return [(values[i], vectors[i]) for i in range(len(matrices))]


def eigvalsh_stacked(*matrices: jax.Array) -> jax.Array:
    """``jnp.stack([jnp.linalg.eigvalsh(M) for M in matrices])`` as a single batched call.

    Args:
      *matrices: symmetric ``(..., n, n)`` arrays of one dtype; batch dimensions broadcast.

    Returns:
      ``(len(matrices), ..., n)`` ascending eigenvalues (``...`` the broadcast batch shape).
    """
    return jnp.linalg.eigvalsh(jnp.stack(jnp.broadcast_arrays(*matrices)))
