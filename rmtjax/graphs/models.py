"""Correlated random graph models and adjacency-matrix utilities.

Permutation convention (used throughout ``rmtjax.graphs``): vertex ``i`` of ``A`` corresponds to
vertex ``perm[i]`` of ``B``, i.e. ``B[perm[i], perm[j]] = B0[i, j]`` where ``B0`` is the
unpermuted partner of ``A``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtjax._checks import check_in_range, check_positive, is_concrete
from rmtjax.graphs._inputs import as_graph, densify

__all__ = [
    "GraphPair",
    "correlated_erdos_renyi",
    "correlated_wigner",
    "from_edges",
    "from_networkx",
    "goe",
    "normalize_adjacency",
    "permute",
    "unpermute",
]

Batch = int | Sequence[int] | None


class GraphPair(NamedTuple):
    """A pair of correlated graphs with their hidden correspondence.

    Attributes:
      A: ``(..., n, n)`` symmetric matrix.
      B: ``(..., n, n)`` symmetric matrix, the relabelled partner:
        ``B[perm[i], perm[j]] = B0[i, j]``.
      perm: ``(..., n)`` int32, vertex ``i`` of ``A`` is vertex ``perm[i]`` of ``B``.
    """

    A: jax.Array
    B: jax.Array
    perm: jax.Array


def permute(B0: jax.Array, perm: jax.Array) -> jax.Array:
    """Relabel the vertices of ``B0``: returns ``B`` with ``B[perm[i], perm[j]] = B0[i, j]``.

    Args:
      B0: ``(n, n)`` matrix.
      perm: ``(n,)`` permutation of ``range(n)``.

    Returns:
      ``(n, n)`` matrix ``P B0 P^T`` with ``P[perm[i], i] = 1``.
    """
    inverse = jnp.argsort(perm)
    return B0[inverse][:, inverse]


def unpermute(B: jax.Array, perm: jax.Array) -> jax.Array:
    """Undo :func:`permute`: returns ``B0`` with ``B0[i, j] = B[perm[i], perm[j]]``.

    Args:
      B: ``(n, n)`` relabelled matrix.
      perm: ``(n,)`` permutation, vertex ``i`` of ``B0`` is vertex ``perm[i]`` of ``B``.

    Returns:
      ``(n, n)`` matrix ``P^T B P``.
    """
    return B[perm][:, perm]


def goe(key: jax.Array, n: int, dtype: Any = None) -> jax.Array:
    """Gaussian Orthogonal Ensemble: off-diagonal ``N(0, 1/n)``, diagonal ``N(0, 2/n)``.

    ``(G + G^T) / sqrt(2n)`` for ``G`` with i.i.d. ``N(0, 1)`` entries; its spectrum fills
    ``[-2, 2]`` (semicircle law).

    Args:
      key: PRNG key.
      n: matrix size.
      dtype: float dtype (default: JAX's default float).

    Returns:
      ``(n, n)`` symmetric matrix.
    """
    dtype = dtype or jnp.result_type(float)
    g = jax.random.normal(key, (n, n), dtype)
    return (g + g.T) / jnp.sqrt(jnp.asarray(2 * n, dtype))


def _check_size(n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int (number of vertices); got {n!r}")


def _batch_shape(batch: Batch) -> tuple[int, ...] | None:
    if batch is None:
        return None
    shape = (batch,) if isinstance(batch, int) else tuple(batch)
    for size in shape:
        check_positive(size, "batch")
    return shape


def _batched(sample: Callable[[jax.Array], GraphPair], key: jax.Array, shape: tuple | None):
    """Draw one pair (``shape=None``) or a batch; element ``b`` uses ``fold_in(key, b)``.

    Indexing keys by the flat batch index makes element ``b`` independent of the batch size, so
    a batch of 8 begins with the same pairs as a batch of 4.
    """
    if shape is None:
        return sample(key)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(math.prod(shape)))
    pairs = jax.vmap(sample)(keys)
    return jax.tree.map(lambda x: x.reshape(shape + x.shape[1:]), pairs)


def correlated_wigner(key: jax.Array, n: int, sigma: float, *, batch: Batch = None) -> GraphPair:
    """Correlated Gaussian Wigner pair ``B0 = A + sigma Z``, ``B`` = ``B0`` relabelled.

    ``A`` and ``Z`` are independent GOE matrices (off-diagonal ``N(0, 1/n)``, diagonal
    ``N(0, 2/n)``); ``perm`` is uniform. This is the talk's Dyson-Brownian-motion model
    ``B = A + Z_delta`` with ``delta = sigma**2``.

    Args:
      key: PRNG key.
      n: number of vertices.
      sigma: noise level, ``>= 0``.
      batch: ``None`` for one pair, or an int/tuple of leading batch dimensions.

    Returns:
      ``GraphPair`` with ``A``, ``B`` of shape ``(*batch, n, n)`` and ``perm`` ``(*batch, n)``.

    References:
      Fan, Mao, Wu, Xu, "Spectral graph matching and regularized quadratic relaxations I:
      The Gaussian model", arXiv:1907.08880, Sec. 1.1.
    """
    _check_size(n)
    check_positive(sigma, "sigma", allow_zero=True)
    return _wigner_pairs(key, sigma, n, _batch_shape(batch))


@functools.partial(jax.jit, static_argnums=(2, 3))
def _wigner_pairs(key: jax.Array, sigma: ArrayLike, n: int, shape: tuple | None) -> GraphPair:
    def sample(k: jax.Array) -> GraphPair:
        k_a, k_z, k_p = jax.random.split(k, 3)
        a = goe(k_a, n)
        perm = jax.random.permutation(k_p, n).astype(jnp.int32)
        return GraphPair(a, permute(a + sigma * goe(k_z, n), perm), perm)

    return _batched(sample, key, shape)


def _check_er_law(q: ArrayLike, delta: ArrayLike) -> None:
    check_in_range(q, "q", 0.0, 1.0, closed=(False, False))
    check_in_range(delta, "delta", 0.0, 1.0)
    if (
        is_concrete(q)
        and is_concrete(delta)
        and np.any(np.asarray(q) * (1 + np.asarray(delta)) > 1)
    ):
        raise ValueError(
            f"no correlated Erdős–Rényi law with q={q} and delta={delta}: "
            f"P[A_ij = B_ij = 0] = 1 - q(1 + delta) would be negative; need q(1 + delta) <= 1"
        )


def correlated_erdos_renyi(
    key: jax.Array, n: int, q: float, delta: float, *, batch: Batch = None
) -> GraphPair:
    """Correlated Erdős–Rényi pair (Pedarsani–Grossglauser).

    For each pair ``i < j`` independently, ``(A_ij, B0_ij)`` has marginals ``Bernoulli(q)`` and
    ``P[A_ij = B0_ij = 1] = (1 - delta) q``, so ``P[1, 0] = P[0, 1] = delta q`` and
    ``P[0, 0] = 1 - q (1 + delta)``; ``delta`` is the fraction of differing edges. Both are
    symmetric 0/1 matrices with zero diagonal; ``B`` is ``B0`` relabelled by a uniform ``perm``.

    Args:
      key: PRNG key.
      n: number of vertices.
      q: edge probability in ``(0, 1)``.
      delta: fraction of differing edges in ``[0, 1]`` with ``q (1 + delta) <= 1``.
      batch: ``None`` for one pair, or an int/tuple of leading batch dimensions.

    Returns:
      ``GraphPair`` with float ``A``, ``B`` of shape ``(*batch, n, n)``, ``perm`` ``(*batch, n)``.

    References:
      Pedarsani, Grossglauser, "On the privacy of anonymized networks", KDD 2011.
    """
    _check_size(n)
    _check_er_law(q, delta)
    return _erdos_renyi_pairs(key, q, delta, n, _batch_shape(batch))


@functools.partial(jax.jit, static_argnums=(3, 4))
def _erdos_renyi_pairs(key: jax.Array, q: ArrayLike, delta: ArrayLike, n: int, shape: tuple | None):
    dtype = jnp.result_type(float)

    def sample(k: jax.Array) -> GraphPair:
        k_u, k_p = jax.random.split(k)
        u = jax.random.uniform(k_u, (n, n), dtype)
        both = u < (1 - delta) * q
        only_a = (u >= (1 - delta) * q) & (u < q)
        only_b = (u >= q) & (u < q * (1 + delta))
        upper = jnp.triu(jnp.ones((n, n), bool), k=1)
        a = _symmetrize_upper((both | only_a) & upper, dtype)
        b0 = _symmetrize_upper((both | only_b) & upper, dtype)
        perm = jax.random.permutation(k_p, n).astype(jnp.int32)
        return GraphPair(a, permute(b0, perm), perm)

    return _batched(sample, key, shape)


def _symmetrize_upper(upper: jax.Array, dtype: Any) -> jax.Array:
    m = upper.astype(dtype)
    return m + m.T


def normalize_adjacency(A: jax.Array, q: float | jax.Array | None = None) -> jax.Array:
    """Centre and scale a 0/1 adjacency matrix: ``(A - q 11^T) / sqrt(n q (1 - q))``.

    With ``q`` the edge probability the spectrum of the result sits on about ``[-2, 2]`` (the
    scaling used before GRAMPA on Erdős–Rényi graphs).

    Args:
      A: ``(..., n, n)`` symmetric 0/1 adjacency matrix with zero diagonal, ``n >= 2`` (dense,
        bool, or a sparse BCOO / scipy.sparse matrix, densified: the result is dense).
      q: edge probability; ``None`` estimates it per matrix as ``sum(A) / (n (n - 1))``.

    Returns:
      ``(..., n, n)`` float matrix.

    References:
      Fan, Mao, Wu, Xu, "Spectral graph matching and regularized quadratic relaxations II:
      Erdős–Rényi graphs and universality", arXiv:1907.08883, Sec. 1.2.
    """
    A = densify(as_graph(A, "A"), "normalize_adjacency", 2)
    n = A.shape[-1]
    if n < 2:
        raise ValueError(f"A must have n >= 2 vertices to be normalized; got n = {n}")
    if q is None:
        q = jnp.sum(A, axis=(-2, -1), keepdims=True) / (n * (n - 1))
        _check_density(q)
    else:
        check_in_range(q, "q", 0.0, 1.0, closed=(False, False))
    return (A - q) / jnp.sqrt(n * q * (1 - q))


def _check_density(q: jax.Array) -> None:
    if is_concrete(q) and np.any((np.asarray(q) <= 0) | (np.asarray(q) >= 1)):
        raise ValueError("A must have edge density strictly between 0 and 1 to be normalized")


def from_edges(edges: Iterable[Sequence[int]] | np.ndarray, n: int | None = None) -> jax.Array:
    """Symmetric 0/1 adjacency matrix from an undirected edge list.

    Args:
      edges: ``(m, 2)`` integer vertex pairs in ``[0, n)``; duplicates and both orientations
        are allowed; self-loops are dropped (the models have zero diagonal).
      n: number of vertices (default: ``max(edges) + 1``).

    Returns:
      ``(n, n)`` float adjacency matrix.
    """
    e = np.asarray(list(edges) if not isinstance(edges, np.ndarray) else edges)
    if e.size == 0:
        e = e.reshape(0, 2)
    if e.ndim != 2 or e.shape[1] != 2 or not np.issubdtype(e.dtype, np.integer):
        raise ValueError(f"edges must be an (m, 2) array of integer vertex ids; got {e.shape}")
    n = int(e.max()) + 1 if n is None else int(n)
    check_positive(n, "n")
    if e.size and (e.min() < 0 or e.max() >= n):
        raise ValueError(f"edges must hold vertex ids in [0, {n}); got [{e.min()}, {e.max()}]")
    a = np.zeros((n, n), np.float32)
    a[e[:, 0], e[:, 1]] = 1
    a[e[:, 1], e[:, 0]] = 1
    np.fill_diagonal(a, 0)
    return jnp.asarray(a)


def from_networkx(graph: Any) -> jax.Array:
    """Adjacency matrix of a networkx-style graph, vertices in ``graph.nodes()`` order.

    Args:
      graph: any object with ``.nodes()`` and ``.edges()`` (e.g. ``networkx.Graph``); edge
        weights and directions are ignored.

    Returns:
      ``(n, n)`` symmetric float 0/1 matrix with zero diagonal.
    """
    if not (hasattr(graph, "nodes") and hasattr(graph, "edges")):
        raise TypeError(f"graph must have .nodes() and .edges() (a networkx graph); got {graph!r}")
    index = {node: i for i, node in enumerate(graph.nodes())}
    edges = np.array([(index[u], index[v]) for u, v in graph.edges()], dtype=np.int64)
    return from_edges(edges.reshape(-1, 2), n=len(index))
