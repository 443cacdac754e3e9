"""Private helpers shared by the similarity, QP and matching modules of ``rmtjax.graphs``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from rmtjax.graphs._inputs import densify, graph_pair


def as_float_pair(
    A: ArrayLike, B: ArrayLike, what: str = "this method", copies: int = 6
) -> tuple[jax.Array, jax.Array]:
    """Validate a pair of symmetric ``(..., n, n)`` matrices (dense, bool, BCOO or scipy.sparse)
    and return both dense in one float dtype; ``copies`` is the ``n x n`` working set of
    ``what`` for the memory estimate made before a sparse graph is densified."""
    A, B = graph_pair(A, B)
    return densify(A, what, copies), densify(B, what, copies)


def check_max_iter(max_iter: Any) -> int:
    """A positive Python int iteration cap."""
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int; got {max_iter!r}")
    return max_iter


def pairwise(fn: Any, signature: str = "(n,n),(n,n)->(n,n)") -> Any:
    """Broadcast a function of one ``(n, n)`` pair over leading batch dimensions (``vmap``)."""
    return jnp.vectorize(fn, signature=signature)
