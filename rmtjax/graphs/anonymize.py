"""Anonymizing a real graph: a noisy, secretly relabelled copy with its hidden correspondence."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtjax._checks import check_choice, check_in_range, check_positive
from rmtjax.graphs._inputs import as_graph, densify
from rmtjax.graphs.models import GraphPair, goe, permute

__all__ = ["ANONYMIZERS", "anonymize"]

ANONYMIZERS = ("rewire", "wigner")
"""Noise models of :func:`anonymize`."""


def _rewire(key: jax.Array, A: jax.Array, noise: float) -> jax.Array:
    """Delete ``round(noise m)`` of the ``m`` edges and add as many non-edges, uniformly."""
    n = A.shape[-1]
    iu, ju = np.triu_indices(n, k=1)
    edge = np.asarray(A)[iu, ju] != 0
    m = int(edge.sum())
    k = round(noise * m)
    if k > len(edge) - m:
        raise ValueError(
            f"noise={noise} would add {k} edges but A has only {len(edge) - m} non-edges"
        )
    k_del, k_add = jax.random.split(key)
    edge = jnp.asarray(edge)
    # The k edges (non-edges) with the smallest uniform scores are deleted (added).
    gone = jnp.argsort(jnp.where(edge, jax.random.uniform(k_del, edge.shape), 2.0))[:k]
    new = jnp.argsort(jnp.where(edge, 2.0, jax.random.uniform(k_add, edge.shape)))[:k]
    upper = edge.at[gone].set(False).at[new].set(True)
    B0 = jnp.zeros((n, n), A.dtype).at[iu, ju].set(upper.astype(A.dtype))
    return B0 + B0.T


def anonymize(key: jax.Array, A: ArrayLike, noise: float, *, model: str = "rewire") -> GraphPair:
    """A noisy copy of ``A`` under a secret uniform relabelling.

    - ``"rewire"``: ``round(noise * m)`` of the ``m`` edges of the 0/1 graph ``A`` are deleted
      and as many non-edges are added, uniformly at random (``noise`` in ``[0, 1]``, the
      fraction of edges rewired; the edge count is kept);
    - ``"wigner"``: ``B0 = A + noise Z`` with ``Z`` a GOE matrix (off-diagonal ``N(0, 1/n)``,
      diagonal ``N(0, 2/n)``), for matrices on the semicircle scale such as
      ``normalize_adjacency(A)`` (for a GOE ``A`` this is ``correlated_wigner``).

    ``B`` is ``B0`` relabelled by a uniform permutation: ``B[perm[i], perm[j]] = B0[i, j]``.

    Args:
      key: PRNG key.
      A: ``(n, n)`` symmetric matrix (0/1 for ``"rewire"``; dense or sparse, densified).
      noise: noise level ``>= 0`` (``<= 1`` for ``"rewire"``).
      model: ``"rewire"`` or ``"wigner"``.

    Returns:
      ``GraphPair(A, B, perm)`` with float ``(n, n)`` matrices and ``perm`` ``(n,)`` int32.

    References:
      Narayanan, Shmatikov, "De-anonymizing social networks", IEEE S&P 2009; Pedarsani,
      Grossglauser, "On the privacy of anonymized networks", KDD 2011.
    """
    check_choice(model, "model", ANONYMIZERS)
    A = densify(as_graph(A, "A"), "anonymize", 3)
    if A.ndim != 2:
        raise ValueError(f"A must be a single (n, n) matrix; got shape {A.shape}")
    n = A.shape[-1]
    k_noise, k_perm = jax.random.split(key)
    if model == "rewire":
        check_in_range(noise, "noise", 0.0, 1.0)
        a = np.asarray(A)
        if not (np.all((a == 0) | (a == 1)) and not np.diagonal(a).any()):
            raise ValueError("model='rewire' needs a 0/1 adjacency matrix A with zero diagonal")
        B0 = _rewire(k_noise, A, float(noise))
    else:
        check_positive(noise, "noise", allow_zero=True)
        B0 = A + noise * goe(k_noise, n, A.dtype)
    perm = jax.random.permutation(k_perm, n).astype(jnp.int32)
    return GraphPair(A, permute(B0, perm), perm)
