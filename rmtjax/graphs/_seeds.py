"""Seed pairs ``(idx_A, idx_B)``: vertex ``idx_A[k]`` of ``A`` is known to be ``idx_B[k]`` of ``B``
(graspologic's ``partial_match``). Validation and the masks shared by rounding, QP and GRAMPA."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rmtjax._checks import is_concrete

__all__ = ["Seeds", "check_seeds", "free_indices", "seed_masks"]

Seeds = tuple[jax.Array, jax.Array]


def check_seeds(seeds: Any, n_a: int, n_b: int) -> Seeds | None:
    """Validate seed pairs for graphs of ``n_a`` and ``n_b`` vertices; ``None`` passes through.

    Raises:
      TypeError: not a pair of integer arrays.
      ValueError: lengths differ, not 1-D, more seeds than vertices, ids out of range or
        repeated (concrete seeds only for the value checks).
    """
    if seeds is None:
        return None
    if not (isinstance(seeds, (tuple, list)) and len(seeds) == 2):
        raise TypeError(f"seeds must be a pair (idx_A, idx_B) of integer arrays; got {seeds!r}")
    out = []
    for name, idx, n in (("idx_A", seeds[0], n_a), ("idx_B", seeds[1], n_b)):
        idx = jnp.asarray(idx)
        if idx.ndim != 1 or not (jnp.issubdtype(idx.dtype, jnp.integer) or idx.size == 0):
            raise TypeError(
                f"seeds {name} must be a 1-D integer array; got dtype {idx.dtype}, shape "
                f"{idx.shape}"
            )
        if is_concrete(idx) and idx.size:
            v = np.asarray(idx)
            if v.min() < 0 or v.max() >= n:
                raise ValueError(f"seeds {name} must hold vertex ids in [0, {n}); got {v.tolist()}")
            if len(np.unique(v)) != len(v):
                raise ValueError(f"seeds {name} must not repeat a vertex; got {v.tolist()}")
        out.append(idx.astype(jnp.int32))
    if out[0].shape != out[1].shape:
        raise ValueError(
            f"seeds idx_A and idx_B must have the same length; got {out[0].shape[0]} and "
            f"{out[1].shape[0]}"
        )
    return out[0], out[1]


def seed_masks(seeds: Seeds, n_a: int, n_b: int) -> tuple[jax.Array, jax.Array]:
    """Boolean ``(n_a,)`` and ``(n_b,)`` masks of the seeded vertices."""
    sa, sb = seeds
    return jnp.zeros(n_a, bool).at[sa].set(True), jnp.zeros(n_b, bool).at[sb].set(True)


def free_indices(mask: jax.Array, n_seeds: int) -> jax.Array:
    """The ``n - n_seeds`` indices where ``mask`` is False, ascending (static size for ``jit``)."""
    return jnp.nonzero(~mask, size=mask.shape[0] - n_seeds)[0].astype(jnp.int32)
