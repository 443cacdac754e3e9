"""Graph inputs of ``rmtjax.graphs``: dense arrays, ``jax.experimental.sparse.BCOO`` or
scipy.sparse matrices, validated once and cast to one real float dtype.

Sparse matrices stay sparse for the methods that only multiply by them; :func:`densify` is the
one place a sparse graph becomes an ``n x n`` array, after a memory estimate.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse
from jax.experimental import sparse as jsparse
from jax.typing import ArrayLike

from rmtjax._checks import check_symmetric, is_concrete

__all__ = [
    "MEMORY_FRACTION",
    "as_graph",
    "densify",
    "graph_pair",
    "is_sparse",
    "matrix_bytes",
    "warn_if_large",
]

MEMORY_FRACTION = 0.25
"""Share of the machine's physical memory above which a dense ``n x n`` working set warns."""

Graph = jax.Array | jsparse.BCOO


def is_sparse(A: ArrayLike) -> bool:
    """True for a BCOO or a scipy.sparse matrix."""
    return isinstance(A, jsparse.BCOO) or scipy.sparse.issparse(A)


def _check_real(dtype: Any, name: str) -> None:
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(f"{name} must be a real matrix; got complex dtype {dtype}")
    if not (jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_)):
        raise TypeError(f"{name} must be a real numeric or bool matrix; got dtype {dtype}")


def _sparse(A: ArrayLike, name: str) -> jsparse.BCOO:
    """A validated 2-D BCOO (from BCOO or scipy.sparse): square, real, finite, symmetric."""
    if isinstance(A, jsparse.BCOO) and (A.n_batch or A.n_dense or A.ndim != 2):
        raise ValueError(
            f"{name}: sparse graphs must be single (n, n) BCOO matrices (no batch or dense "
            f"dimensions); got shape {A.shape} with n_batch={A.n_batch}, n_dense={A.n_dense}"
        )
    if len(A.shape) != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"{name} must be a square matrix of shape (n, n); got shape {A.shape}")
    _check_real(A.dtype, name)
    if isinstance(A, jsparse.BCOO):
        if not is_concrete(A.data):
            return A
        host = scipy.sparse.coo_matrix(
            (np.asarray(A.data), tuple(np.asarray(A.indices).T)), shape=A.shape
        )
    else:
        host = scipy.sparse.coo_matrix(A)
    data = host.data
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{name} contains NaN or inf values")
    csr = host.tocsr().astype(np.float64)
    asym = abs(csr - csr.T).max() if csr.nnz else 0.0
    scale = max(abs(csr).max() if csr.nnz else 0.0, 1e-30)
    if asym > 1e-5 * scale:
        raise ValueError(f"{name} must be symmetric; max |{name} - {name}^T| = {asym:.3g}")
    if isinstance(A, jsparse.BCOO):
        return A
    dtype = jnp.result_type(host.dtype if host.dtype != bool else np.float32, float)
    return jsparse.BCOO.from_scipy_sparse(host.astype(dtype))


def as_graph(A: ArrayLike, name: str) -> Graph:
    """A symmetric real matrix as a float array or a float BCOO.

    Bool adjacencies become float; complex ones raise ``TypeError``. Dense inputs may carry
    leading batch dimensions ``(..., n, n)``; sparse ones are single ``(n, n)`` matrices.
    """
    if is_sparse(A):
        S = _sparse(A, name)
        return S.astype(jnp.result_type(S.dtype, float))
    if isinstance(A, (list, tuple)):
        A = np.asarray(A)
    if not hasattr(A, "dtype"):
        raise TypeError(f"{name} must be an array or sparse matrix; got {type(A).__name__}")
    _check_real(A.dtype, name)
    if A.dtype == bool:
        A = A.astype(np.float32) if isinstance(A, np.ndarray) else A.astype(jnp.float32)
    check_symmetric(A, name)
    return jnp.asarray(A, jnp.result_type(A, float))


def _batch(A: Graph) -> tuple[int, ...]:
    return tuple(A.shape[:-2])


def graph_pair(A: ArrayLike, B: ArrayLike, *, same_size: bool = True) -> tuple[Graph, Graph]:
    """Validate ``(A, B)``: symmetric real matrices, broadcastable batch shapes, one dtype.

    Raises:
      ValueError: sizes differ (when ``same_size``), batch shapes do not broadcast, or sparse
        and batched inputs are mixed.
      TypeError: complex or non-numeric input.
    """
    A, B = as_graph(A, "A"), as_graph(B, "B")
    if same_size and A.shape[-1] != B.shape[-1]:
        raise ValueError(f"A and B must have the same size n; got {A.shape[-1]} and {B.shape[-1]}")
    try:
        np.broadcast_shapes(_batch(A), _batch(B))
    except ValueError:
        raise ValueError(
            f"A and B batch shapes must broadcast; got {_batch(A)} and {_batch(B)}"
        ) from None
    if (is_sparse(A) and _batch(B)) or (is_sparse(B) and _batch(A)):
        raise ValueError("a sparse graph cannot be paired with a batch of dense graphs")
    dtype = jnp.result_type(A.dtype, B.dtype)
    return A.astype(dtype), B.astype(dtype)


def matrix_bytes(n: int, dtype: Any, copies: int = 1) -> int:
    """Bytes of ``copies`` dense ``n x n`` matrices of ``dtype``."""
    return copies * n * n * jnp.dtype(dtype).itemsize


def _machine_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def warn_if_large(n: int, dtype: Any, copies: int, what: str) -> None:
    """``ResourceWarning`` when ``copies`` dense ``n x n`` matrices pass ``MEMORY_FRACTION`` of
    the machine's physical memory (the estimate and the limit are in the message)."""
    need, have = matrix_bytes(n, dtype, copies), _machine_bytes()
    if need > MEMORY_FRACTION * have:
        warnings.warn(
            f"{what} needs about {copies} dense {n} x {n} {jnp.dtype(dtype).name} matrices = "
            f"{need / 2**30:.1f} GiB, over {MEMORY_FRACTION:.0%} of this machine's "
            f"{have / 2**30:.1f} GiB",
            ResourceWarning,
            stacklevel=3,
        )


def densify(A: Graph, what: str, copies: int) -> jax.Array:
    """A dense ``(..., n, n)`` array of a graph; a sparse one is densified once, warning first
    when ``copies`` ``n x n`` matrices of working memory would pass ``MEMORY_FRACTION``."""
    if not isinstance(A, jsparse.BCOO):
        return A
    warn_if_large(A.shape[-1], A.dtype, copies, what)
    return A.todense()
