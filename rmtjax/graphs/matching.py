"""End-to-end graph matching: input preparation (normalization, padding), similarity, rounding
with seeds, projected-power refinement, and the differentiable soft matching."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse as jsparse
from jax.typing import ArrayLike

from rmtjax._checks import check_choice, is_concrete
from rmtjax._solution import Solution
from rmtjax.graphs._inputs import Graph, densify, graph_pair, is_sparse, warn_if_large
from rmtjax.graphs._seeds import check_seeds, seed_masks
from rmtjax.graphs.models import normalize_adjacency
from rmtjax.graphs.rounding import ROUNDINGS, round_to_permutation, sinkhorn
from rmtjax.graphs.similarity import (
    RAW_INPUT,
    SEEDED,
    resolve_method,
    similarity_solution,
    warn_unconverged,
)

__all__ = ["PADDINGS", "match", "refine", "soft_match"]

PADDINGS = ("auto", "adopted", "naive")
"""Padding of the smaller graph (Fishkind et al.; graspologic's names)."""

# Dense n x n working set of each method (matrices held at once), for the memory warning.
_WORKING_SET = {"isorank": 2, "eigenalign": 2, "degree_profile": 6, "qp": 10}


def _check_steps(steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"refine_steps must be a non-negative int; got {steps!r}")
    return steps


def _right(M: jax.Array, B: Graph) -> jax.Array:
    """``M B`` for a symmetric ``B`` (sparse ``B`` stays on the left)."""
    return jnp.swapaxes(B @ jnp.swapaxes(M, -1, -2), -1, -2)


def refine(
    A: ArrayLike,
    B: ArrayLike,
    perm_hat: ArrayLike,
    steps: int = 1,
    rounding: str = "auto",
    *,
    seeds: Any = None,
) -> jax.Array:
    r"""Projected power iterations ``P <- round(A P B)`` for ``max_P <A, P B P^T>``.

    With ``P[i, perm_hat[i]] = 1``, ``A P B = A @ B[perm_hat]`` is half the gradient of the
    quadratic assignment objective ``Tr(A P B P^T)``; each step rounds it back to a permutation
    (seed pairs, if given, stay fixed). Sparse graphs enter through products only.

    Args:
      A: ``(..., n, n)`` symmetric matrix (dense, BCOO or scipy.sparse).
      B: ``(..., n, n)`` symmetric matrix.
      perm_hat: ``(..., n)`` int initial matching.
      steps: number of refinement steps (static).
      rounding: a ``round_to_permutation`` method.
      seeds: optional pair ``(idx_A, idx_B)`` kept matched.

    Returns:
      ``(..., n)`` int32 refined matching.

    References:
      Araya, Braun, Tyagi, "Seeded graph matching for the correlated Gaussian Wigner model via the
      projected power method", JMLR 25, 2024, Algorithm 1.
    """
    A, B = graph_pair(A, B)
    steps = _check_steps(steps)
    check_choice(rounding, "rounding", ROUNDINGS)
    n = A.shape[-1]
    seeds = check_seeds(seeds, n, n)

    def gradient(perm: jax.Array) -> jax.Array:  # A P B, P B = (B P^T)^T
        P = jax.nn.one_hot(perm, n, dtype=A.dtype)
        return A @ _right(P, B)

    def step(_: int, perm: jax.Array) -> jax.Array:
        return round_to_permutation(gradient(perm), rounding, seeds=seeds)

    batch = jnp.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    perm = jnp.broadcast_to(jnp.asarray(perm_hat), (*batch, n)).astype(jnp.int32)
    return jax.lax.fori_loop(0, steps, step, perm)


def _is_adjacency(A: Graph) -> bool:
    """A concrete 0/1 matrix with zero diagonal."""
    if isinstance(A, jsparse.BCOO):
        data, idx = np.asarray(A.data), np.asarray(A.indices)
        on_diag = (idx[:, 0] == idx[:, 1]) & (data != 0)
        return bool(np.all((data == 0) | (data == 1)) and not on_diag.any())
    a = np.asarray(A)
    return bool(np.all((a == 0) | (a == 1)) and not np.diagonal(a, axis1=-2, axis2=-1).any())


def _wants_normalized(A: Graph, B: Graph, method: str, normalize: Any) -> bool:
    """Whether the method's inputs are ``normalize_adjacency`` of the graphs."""
    if normalize not in ("auto", True, False):
        raise ValueError(f"normalize must be 'auto', True or False; got {normalize!r}")
    if method in RAW_INPUT or normalize is False:
        return False
    if normalize is True:
        return True
    leaves = jax.tree.leaves((A, B))
    if not all(is_concrete(x) for x in leaves):
        raise ValueError(
            "normalize='auto' inspects the values of A and B; under jit pass normalize=True "
            "(0/1 adjacency matrices) or normalize=False (matrices used as given)"
        )
    return _is_adjacency(A) and _is_adjacency(B)


def _centre(A: Graph) -> jax.Array:
    """``A`` less its mean off-diagonal entry off the diagonal (adopted padding's centring)."""
    A = densify(A, "adopted padding", 2)
    m = A.shape[-1]
    off = 1 - jnp.eye(m, dtype=A.dtype)
    return A - jnp.sum(A * off, axis=(-2, -1), keepdims=True) / max(m * (m - 1), 1) * off


def _pad(A: Graph, n: int) -> Graph:
    """``A`` with ``n - n_A`` isolated vertices appended."""
    m = A.shape[-1]
    if isinstance(A, jsparse.BCOO):
        return jsparse.BCOO((A.data, A.indices), shape=(n, n))
    width = [(0, 0)] * (A.ndim - 2) + [(0, n - m), (0, n - m)]
    return jnp.pad(A, width)


def _prepare(
    A: ArrayLike, B: ArrayLike, method: str, normalize: Any, padding: str
) -> tuple[Graph, Graph, int]:
    """What the method sees: validated, normalized per method, ``A`` padded to ``n_B``."""
    check_choice(padding, "padding", PADDINGS)
    A, B = graph_pair(A, B, same_size=False)
    n_a, n_b = A.shape[-1], B.shape[-1]
    if n_a > n_b:
        raise ValueError(
            f"A must not have more vertices than B (n_A <= n_B); got n_A = {n_a} > n_B = {n_b}: "
            "swap A and B (then invert the matching)"
        )
    if _wants_normalized(A, B, method, normalize):
        A = normalize_adjacency(densify(A, "normalize_adjacency", 2))
        B = normalize_adjacency(densify(B, "normalize_adjacency", 2))
    if padding == "auto":
        padding = "naive" if method in RAW_INPUT else "adopted"
    if n_a < n_b:
        if padding == "adopted":
            A, B = _centre(A), _centre(B)
        A = _pad(A, n_b)
    return A, B, n_a


def _solve(
    A: Graph, B: Graph, method: str, seeds: Any, options: dict[str, Any]
) -> tuple[Solution, Any]:
    n = B.shape[-1]
    copies = _WORKING_SET.get(method, 6)
    warn_if_large(n, A.dtype, copies, f"match(method={method!r})")
    seeds = check_seeds(seeds, A.shape[-1], n)
    if method not in RAW_INPUT and (is_sparse(A) or is_sparse(B)):
        A, B = densify(A, method, copies), densify(B, method, copies)
    solution = similarity_solution(
        A, B, method, seeds=seeds if method in SEEDED else None, **options
    )
    warn_unconverged(solution, method)
    return solution, seeds


def match(
    A: ArrayLike,
    B: ArrayLike,
    method: str = "grampa",
    rounding: str = "auto",
    refine_steps: int = 0,
    *,
    seeds: Any = None,
    normalize: Any = "auto",
    padding: str = "auto",
    return_info: bool = False,
    **options: Any,
) -> jax.Array | tuple[jax.Array, Solution]:
    """Match the vertices of ``A`` to those of ``B``: round a similarity to a permutation.

    Steps: (1) inputs: dense ``(..., n, n)`` arrays, bool adjacencies, or unbatched sparse
    graphs (``jax.experimental.sparse.BCOO``, scipy.sparse); IsoRank, EigenAlign, degree
    profiles and the refinement only multiply by them, the others densify once (a
    ``ResourceWarning`` says when the dense working set passes a quarter of the machine's
    memory). (2) normalization per method: the methods of ``RAW_INPUT`` (IsoRank, EigenAlign,
    degree profile) see the raw graphs, the others ``normalize_adjacency`` of 0/1 graphs.
    (3) unequal sizes ``n_A < n_B``: ``A`` gains ``n_B - n_A`` isolated vertices, after
    centring both graphs (``"adopted"`` padding: a missing edge then differs from a padded
    non-vertex) or as they are (``"naive"``). (4) the similarity (seeded programs for
    ``"grampa"`` and ``"qp"``), (5) exact (or chosen) rounding with the seed pairs fixed,
    (6) optional projected-power refinement with the seeds fixed.

    Args:
      A: ``(..., n_A, n_A)`` symmetric matrix.
      B: ``(..., n_B, n_B)`` symmetric matrix, ``n_B >= n_A`` (leading dimensions broadcast).
      method: similarity method name or alias (see ``similarity``), e.g. ``"grampa"``,
        ``"qp"`` / ``"qp_doubly_stochastic"``.
      rounding: ``round_to_permutation`` method (``"auto"``: exact, fastest for the backend;
        ``"topk"``: candidates only, for large ``n``).
      refine_steps: projected-power refinement steps after rounding (``refine``).
      seeds: optional pair ``(idx_A, idx_B)``: vertex ``idx_A[k]`` of ``A`` is known to be
        ``idx_B[k]`` of ``B`` (graspologic's ``partial_match``); ``perm_hat[idx_A] = idx_B``.
      normalize: ``"auto"`` (normalize when both inputs are concrete 0/1 matrices with zero
        diagonal and the method wants normalized input; under ``jit`` pass a bool), ``True``
        (inputs are 0/1 graphs: normalize for the methods that want it) or ``False``.
      padding: ``"auto"`` (``"naive"`` for the raw-input methods, else ``"adopted"``),
        ``"adopted"`` or ``"naive"``.
      return_info: also return the similarity's ``Solution`` (convergence report).
      **options: passed to the similarity method (e.g. ``eta=0.2``).

    Returns:
      ``(..., n_A)`` int32 ``perm_hat`` with ``perm_hat[i]`` the vertex of ``B`` matched to
      vertex ``i`` of ``A``; with ``return_info``, ``(perm_hat, solution)``.

    References:
      Fan, Mao, Wu, Xu, arXiv:1907.08880, Algorithm 1 (GRAMPA: similarity, then exact rounding);
      Fishkind, Adali, Patsolic, Meng, Singh, Lyzinski, Priebe, "Seeded graph matching",
      Pattern Recognit. 87, 2019 (seeds, naive and adopted padding).

    Examples:
      >>> import jax.numpy as jnp
      >>> A = jnp.array([[0., 1., 1.], [1., 0., 0.], [1., 0., 0.]])
      >>> B = A[jnp.array([1, 0, 2])][:, jnp.array([1, 0, 2])]
      >>> int(match(A, B, normalize=False)[0])
      1
    """
    method = resolve_method(method)
    check_choice(rounding, "rounding", ROUNDINGS)
    refine_steps = _check_steps(refine_steps)
    As, Bs, n_a = _prepare(A, B, method, normalize, padding)
    solution, seeds = _solve(As, Bs, method, seeds, options)
    perm = round_to_permutation(solution.value, rounding, seeds=seeds)
    if refine_steps:
        perm = refine(As, Bs, perm, refine_steps, rounding, seeds=seeds)
    perm = perm[..., :n_a]
    return (perm, solution) if return_info else perm


def soft_match(
    A: ArrayLike,
    B: ArrayLike,
    method: str = "grampa",
    *,
    temperature: float = 0.05,
    sinkhorn_steps: int = 200,
    seeds: Any = None,
    normalize: Any = "auto",
    padding: str = "auto",
    **options: Any,
) -> jax.Array:
    r"""Differentiable soft matching: Sinkhorn (entropic) rounding of the similarity,

    ``P = sinkhorn(X, temperature)``, the doubly stochastic matrix maximizing
    ``<P, X> + tau s H(P)`` (``s`` the spread of ``X``, so ``temperature`` is scale-free); as
    ``temperature -> 0`` its rows tend to the exact matching of :func:`match`. ``jax.grad``
    passes through the sweeps and the similarity (eigendecompositions for the spectral
    methods, implicit gradients for IsoRank and EigenAlign; the ADMM of ``"qp"`` is not
    differentiable). Seed rows of ``P`` are the seed pairs' unit vectors.

    Args:
      A: ``(..., n_A, n_A)`` symmetric matrix.
      B: ``(..., n_B, n_B)`` symmetric matrix, ``n_B >= n_A``.
      method: similarity method name or alias.
      temperature: entropic temperature ``> 0`` (relative to the spread of ``X``).
      sinkhorn_steps: Sinkhorn sweeps.
      seeds, normalize, padding, **options: as in :func:`match`.

    Returns:
      ``(..., n_A, n_B)`` soft matching: row ``i`` is a distribution over the vertices of
      ``B`` (rows sum to 1; columns to at most 1).

    References:
      Mena, Belanger, Linderman, Snoek, "Learning latent permutations with Gumbel-Sinkhorn
      networks", ICLR 2018.
    """
    method = resolve_method(method)
    As, Bs, n_a = _prepare(A, B, method, normalize, padding)
    solution, seeds = _solve(As, Bs, method, seeds, options)
    X = solution.value
    if seeds is not None:  # seed pairs win their rows and columns outright
        n = X.shape[-1]
        rows, cols = seed_masks(seeds, n, n)
        pairs = jnp.zeros((n, n), bool).at[seeds].set(True)
        spread = 10 * jnp.std(X, axis=(-2, -1), keepdims=True)
        low = jnp.min(X, axis=(-2, -1), keepdims=True) - spread
        high = jnp.max(X, axis=(-2, -1), keepdims=True) + spread
        X = jnp.where(pairs, high, jnp.where(rows[:, None] | cols[None, :], low, X))
    P = sinkhorn(X, temperature, sinkhorn_steps)
    return P[..., :n_a, :]
