r"""A bilinear similarity ``X_ij = phi_i^T C psi_j`` up to row and column constants, computed
without cancellation: the form in which float32 resolves IsoRank and EigenAlign.

Both similarities are bilinear in per-vertex coordinates (``phi_i`` of ``A``'s vertex ``i``,
``psi_j`` of ``B``'s vertex ``j``, ``r`` of them) and dominated by a near-constant part: the
scores of a true and a false pair differ far below float32 resolution of ``X`` itself (about
``1e-9`` of its largest entry for dense ER graphs at ``n = 500``). With ``S = (C + C^T) / 2``
and ``d_ij = phi_i - psi_j``,

.. math::
    X_{ij} - \tfrac12 \phi_i^T S \phi_i - \tfrac12 \psi_j^T S \psi_j
      = d_{ij}^T \big( (C - \tfrac12 S) \psi_j - \tfrac12 S \phi_i \big)

(the ``S`` terms cancel in pairs). The right side sums, over the ``r`` coordinates, a
difference ``phi_li - psi_lj`` times a difference: it is small, and computed to its own relative
precision, where ``phi_i ≈ psi_j``, which is where the assignment is decided. The constants
removed along rows and columns change no assignment (a permutation uses each row and column
once) and no Sinkhorn matching.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["bilinear_up_to_constants"]


def bilinear_up_to_constants(
    Phi: jax.Array, C: jax.Array, Psi: jax.Array, count: jax.Array | int | None = None
) -> jax.Array:
    """``phi_i^T C psi_j - phi_i^T S phi_i / 2 - psi_j^T S psi_j / 2`` for every pair.

    Args:
      Phi: ``(r, n_a)`` coordinates of ``A``'s vertices (columns).
      C: ``(r, r)`` coupling.
      Psi: ``(r, n_b)`` coordinates of ``B``'s vertices.
      count: only the first ``count`` coordinates are nonzero (a traced int is fine); the sum
        stops there.

    Returns:
      ``(n_a, n_b)`` matrix, equal to ``Phi^T C Psi`` up to a constant per row and per column.
    """
    S = (C + C.T) / 2
    a = (C - S / 2) @ Psi
    b = (S / 2) @ Phi
    return _difference_products(Phi, Psi, a, b, Phi.shape[0] if count is None else count)


@jax.custom_vjp
def _difference_products(
    Phi: jax.Array, Psi: jax.Array, a: jax.Array, b: jax.Array, count: jax.Array | int
) -> jax.Array:
    """``M_ij = sum_{l < count} (Phi_li - Psi_lj) (a_lj - b_li)``, one ``n_a x n_b`` term at a
    time (memory ``n_a n_b``, never ``r n_a n_b``)."""

    def add(l: jax.Array, M: jax.Array) -> jax.Array:
        return M + (Phi[l][:, None] - Psi[l][None, :]) * (a[l][None, :] - b[l][:, None])

    M = jnp.zeros((Phi.shape[1], Psi.shape[1]), jnp.result_type(Phi, a))
    return jax.lax.fori_loop(0, count, add, M)


def _difference_products_fwd(Phi, Psi, a, b, count):
    return _difference_products(Phi, Psi, a, b, count), (Phi, Psi, a, b, count)


def _difference_products_bwd(saved, M_bar):
    """The four cotangents as matrix products (rows past ``count`` get zero)."""
    Phi, Psi, a, b, count = saved
    rows, cols = M_bar.sum(axis=1), M_bar.sum(axis=0)
    used = (jnp.arange(Phi.shape[0]) < count)[:, None]
    grads = (
        a @ M_bar.T - b * rows,  # Phi
        b @ M_bar - a * cols,  # Psi
        Phi @ M_bar - Psi * cols,  # a
        Psi @ M_bar.T - Phi * rows,  # b
    )
    return (*(jnp.where(used, g, 0) for g in grads), None)


_difference_products.defvjp(_difference_products_fwd, _difference_products_bwd)
