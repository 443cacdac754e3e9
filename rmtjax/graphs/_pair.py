"""Private helpers shared by the similarity, QP and matching modules of ``rmtjax.graphs``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rmtjax._checks import check_matrix_batch


def as_float_pair(A: Any, B: Any) -> tuple[jax.Array, jax.Array]:
    """Validate a pair of symmetric ``(..., n, n)`` matrices and cast both to one float dtype."""
    check_matrix_batch(A, B, "A", "B")
    dtype = jnp.result_type(A, B, float)
    return jnp.asarray(A, dtype), jnp.asarray(B, dtype)


def check_max_iter(max_iter: Any) -> int:
    """A positive Python int iteration cap."""
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int; got {max_iter!r}")
    return max_iter


def pairwise(fn: Any, signature: str = "(n,n),(n,n)->(n,n)") -> Any:
    """Broadcast a function of one ``(n, n)`` pair over leading batch dimensions (``vmap``)."""
    return jnp.vectorize(fn, signature=signature)
