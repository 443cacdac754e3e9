"""Spectral similarity matrices for graph matching: GRAMPA, its row-sum relaxation, Umeyama, top
eigenvector, and the ``similarity`` dispatcher over every method of ``rmtjax.graphs``.

A similarity matrix ``X`` has rows = vertices of ``A`` and columns = vertices of ``B``; a large
``X[i, j]`` says vertex ``i`` of ``A`` looks like vertex ``j`` of ``B``. All functions take
``(..., n, n)`` batches whose leading dimensions broadcast.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtjax._checks import check_choice, is_concrete
from rmtjax._linalg import eigh_stacked
from rmtjax._solution import Solution, check_at_runtime
from rmtjax.graphs import _pair
from rmtjax.graphs.baselines import degree_profile, eigenalign, isorank
from rmtjax.graphs.metrics import edge_overlap
from rmtjax.graphs.qp import qp_doubly_stochastic
from rmtjax.graphs.seeded_grampa import seeded_grampa

__all__ = [
    "ALIASES",
    "METHODS",
    "RAW_INPUT",
    "grampa",
    "grampa_rowsum",
    "resolve_method",
    "similarity",
    "similarity_solution",
    "top_eigenvector",
    "umeyama",
]


def _spectral_parts(A: jax.Array, B: jax.Array, eta: jax.Array) -> tuple[jax.Array, ...]:
    """Eigenvectors of both matrices, Cauchy-kernel denominators and ``U^T 1, V^T 1``.

    Returns ``(U, V, D, a, b)`` with ``D[i, j] = (lambda_i - mu_j)^2 + eta^2``,
    ``a = U^T 1`` and ``b = V^T 1`` (column sums of the eigenvector matrices).
    """
    (lam, U), (mu, V) = eigh_stacked(A, B)
    D = (lam[..., :, None] - mu[..., None, :]) ** 2 + jnp.square(eta)
    # Column sums as mat-vec products: a reduction over the eigh outputs makes XLA's CPU layout
    # assignment pick a slow path for the whole program (0.85 s vs 0.28 s at n = 1000, f32).
    one = jnp.ones(A.shape[-1], A.dtype)
    return U, V, D, one @ U, one @ V


def _sandwich(U: jax.Array, M: jax.Array, V: jax.Array) -> jax.Array:
    """``U M V^T`` for batches: the two unavoidable ``n x n`` matmuls."""
    return (U @ M) @ jnp.swapaxes(V, -1, -2)


def _check_eta(eta: Any) -> None:
    """``eta`` finite and ``> 0``: at once on concrete values, under ``jit`` when it runs."""
    eta = jnp.asarray(eta)
    check_at_runtime(
        jnp.all(jnp.isfinite(eta) & (eta > 0)), "eta must be finite and > 0", detail=eta
    )


@jax.jit
def _grampa(A: jax.Array, B: jax.Array, eta: jax.Array) -> jax.Array:
    U, V, D, a, b = _spectral_parts(A, B, eta)
    return _sandwich(U, eta / D * a[..., :, None] * b[..., None, :], V)


@jax.jit
def _grampa_rowsum(A: jax.Array, B: jax.Array, eta: jax.Array) -> jax.Array:
    U, V, D, a, b = _spectral_parts(A, B, eta)
    K = 1.0 / D
    d = K @ (b * b)[..., None]
    return _sandwich(U, (a[..., :, None] / d) * K * b[..., None, :], V)


def grampa(A: jax.Array, B: jax.Array, eta: float = 0.2) -> jax.Array:
    r"""GRAMPA similarity matrix (GRAph Matching by Pairwise eigen-Alignments).

    With ``A = sum_i lambda_i u_i u_i^T`` and ``B = sum_j mu_j v_j v_j^T``,

    .. math::
        X = \sum_{i,j} \frac{\eta}{(\lambda_i - \mu_j)^2 + \eta^2} u_i u_i^T J v_j v_j^T
          = U \big[ W \circ (U^T 1)(V^T 1)^T \big] V^T,
        \quad W_{ij} = \frac{\eta}{(\lambda_i - \mu_j)^2 + \eta^2},

    since ``U^T J V = (U^T 1)(V^T 1)^T`` is rank one: two ``eigh`` and two ``n x n`` matmuls.
    ``X / eta`` is the minimizer of ``1/2 ||AX - XB||_F^2 + eta^2/2 ||X||_F^2 - 1^T X 1``, i.e.
    ``X`` solves ``A^2 X - 2 A X B + X B^2 + eta^2 X = eta J``.

    Args:
      A: ``(..., n, n)`` symmetric matrix (vertices = rows).
      B: ``(..., n, n)`` symmetric matrix; leading dimensions broadcast with ``A``.
      eta: bandwidth of the Cauchy kernel, ``> 0``.

    Returns:
      ``(..., n, n)`` similarity, rows = vertices of ``A``, columns = vertices of ``B``.

    References:
      Fan, Mao, Wu, Xu, "Spectral graph matching and regularized quadratic relaxations I: the
      Gaussian model", arXiv:1907.08880, Eq. (1.3) and Sec. 1.2 (the QP of Eq. (1.6)).

    Examples:
      >>> import jax.numpy as jnp
      >>> A = jnp.array([[0., 1., 0.], [1., 0., 1.], [0., 1., 0.]])
      >>> X = grampa(A, A)
      >>> X.shape
      (3, 3)
    """
    A, B = _pair.as_float_pair(A, B, "grampa", 6)
    _check_eta(eta)
    X = _grampa(A, B, jnp.asarray(eta, A.dtype))
    _warn_if_no_signal(A, B, X)
    return X


def _ones_is_eigenvector(M: np.ndarray) -> np.ndarray:
    """Per matrix: ``M 1`` parallel to ``1`` up to round-off (e.g. a regular graph)."""
    r = M.sum(axis=-1)
    spread = np.max(r, axis=-1) - np.min(r, axis=-1)
    scale = np.sqrt(M.shape[-1]) * np.max(np.abs(M), axis=(-2, -1))
    return spread <= 1e3 * np.finfo(M.dtype).eps * np.maximum(scale, np.finfo(M.dtype).tiny)


def _warn_if_no_signal(A: jax.Array, B: jax.Array, X: jax.Array) -> None:
    """``RuntimeWarning`` when a concrete GRAMPA ``X`` cannot tell vertices apart."""
    if not (is_concrete(A) and is_concrete(B) and is_concrete(X)):
        return
    x = np.asarray(X)
    flat = np.abs(x).max(axis=(-2, -1)) * 1e3 * np.finfo(x.dtype).eps
    constant = np.any(x.max(axis=(-2, -1)) - x.min(axis=(-2, -1)) <= flat)
    ones = np.any(_ones_is_eigenvector(np.asarray(A)) & _ones_is_eigenvector(np.asarray(B)))
    if constant or ones:
        why = "X is constant up to round-off" if constant else "1 is an eigenvector of A and B"
        warnings.warn(
            f"grampa: the spectra carry no matching signal ({why}; e.g. regular graphs): "
            "any permutation is as good as the one returned",
            RuntimeWarning,
            stacklevel=3,
        )


def grampa_rowsum(A: jax.Array, B: jax.Array, eta: float = 0.2) -> jax.Array:
    r"""Row-sum-constrained GRAMPA: the tighter relaxation with ``X 1 = 1``.

    .. math::
        \min_X \|AX - XB\|_F^2 + \eta^2 \|X\|_F^2 \quad \text{s.t.} \quad X 1 = 1

    has the closed form ``X = R^{-1} X_grampa / eta`` with ``R = U diag(d) U^T``,
    ``d_i = sum_j <v_j, 1>^2 / ((lambda_i - mu_j)^2 + eta^2)``; in the eigenbases
    ``U^T X V = diag(a / d) K diag(b)`` with ``K_ij = 1 / ((lambda_i - mu_j)^2 + eta^2)``,
    ``a = U^T 1``, ``b = V^T 1``. KKT: ``A^2 X - 2AXB + XB^2 + eta^2 X = nu 1^T`` for some
    multiplier vector ``nu``.

    Args:
      A: ``(..., n, n)`` symmetric matrix.
      B: ``(..., n, n)`` symmetric matrix.
      eta: regularization, ``> 0``.

    Returns:
      ``(..., n, n)`` similarity with unit row sums.

    References:
      Fan, Mao, Wu, Xu, arXiv:1907.08880, Sec. 2.2 (the hierarchy of relaxations).

    Examples:
      >>> import jax.numpy as jnp
      >>> A = jnp.array([[0., 1., 0.], [1., 0., 1.], [0., 1., 0.]])
      >>> bool(jnp.allclose(grampa_rowsum(A, A).sum(-1), 1.0, atol=1e-5))
      True
    """
    A, B = _pair.as_float_pair(A, B, "grampa_rowsum", 6)
    _check_eta(eta)
    return _grampa_rowsum(A, B, jnp.asarray(eta, A.dtype))


@jax.jit
def _umeyama(A: jax.Array, B: jax.Array) -> jax.Array:
    (_, U), (_, V) = eigh_stacked(A, B)
    return jnp.abs(U) @ jnp.swapaxes(jnp.abs(V), -1, -2)


def umeyama(A: jax.Array, B: jax.Array) -> jax.Array:
    r"""Umeyama's similarity ``X = |U| |V|^T``: aligns the ``i``-th eigenvector of ``A`` with the
    ``i``-th of ``B`` (eigenvalues in the same, ascending, order; absolute values remove signs).

    Args:
      A: ``(..., n, n)`` symmetric matrix.
      B: ``(..., n, n)`` symmetric matrix.

    Returns:
      ``(..., n, n)`` similarity ``sum_i |u_i| |v_i|^T``.

    References:
      Umeyama, "An eigendecomposition approach to weighted graph matching problems", IEEE TPAMI
      10(5), 1988, Eq. (24).
    """
    A, B = _pair.as_float_pair(A, B)
    return _umeyama(A, B)


def _sorted_match(u: jax.Array, v: jax.Array) -> jax.Array:
    """The permutation sending the k-th smallest entry of ``u`` to the k-th smallest of ``v``."""
    return jnp.argsort(v)[jnp.argsort(jnp.argsort(u))]


@jax.jit
@_pair.pairwise
def _top_eigenvector(A: jax.Array, B: jax.Array) -> jax.Array:
    (_, U), (_, V) = eigh_stacked(A, B)
    u, v = U[:, -1], V[:, -1]
    plus, minus = _sorted_match(u, v), _sorted_match(u, -v)
    keep_plus = edge_overlap(A, B, plus) >= edge_overlap(A, B, minus)
    perm = jnp.where(keep_plus, plus, minus)
    return jax.nn.one_hot(perm, A.shape[-1], dtype=A.dtype)


def top_eigenvector(A: jax.Array, B: jax.Array) -> jax.Array:
    r"""Match by sorting the top eigenvectors: the permutation matrix ``P`` that sends the
    ``k``-th smallest entry of ``u_1`` (top eigenvector of ``A``) to the ``k``-th smallest entry
    of ``s v_1``, with the sign ``s = +-1`` giving the larger ``edge_overlap``.

    Ties between entries of ``u_1`` (e.g. from graph automorphisms) are broken arbitrarily, so
    the method can fail even on isomorphic pairs.

    Args:
      A: ``(..., n, n)`` symmetric matrix.
      B: ``(..., n, n)`` symmetric matrix.

    Returns:
      ``(..., n, n)`` 0/1 permutation matrix ``P[i, perm_hat[i]] = 1`` (any rounding returns
      ``perm_hat``).

    References:
      Fan, Mao, Wu, Xu, arXiv:1907.08880, Sec. 1.1 ("top eigenvector" baseline).
    """
    A, B = _pair.as_float_pair(A, B)
    return _top_eigenvector(A, B)


def _closed_form(fn: Callable[..., jax.Array]) -> Callable[..., Solution]:
    """A closed-form similarity as a converged ``Solution`` (no iterations, zero residual)."""

    def solution(A: jax.Array, B: jax.Array, **options: Any) -> Solution:
        X = fn(A, B, **options)
        zero = jnp.zeros(X.shape[:-2], X.dtype)
        return Solution.classify(X, zero.astype(jnp.int32), zero, converged=True)

    solution.__name__ = fn.__name__
    return solution


_SOLVERS: dict[str, Callable[..., Solution]] = {
    "grampa": _closed_form(grampa),
    "grampa_rowsum": _closed_form(grampa_rowsum),
    "umeyama": _closed_form(umeyama),
    "top_eigenvector": _closed_form(top_eigenvector),
    "isorank": isorank,
    "eigenalign": eigenalign,
    "degree_profile": _closed_form(degree_profile),
    "qp": qp_doubly_stochastic,
}

METHODS: tuple[str, ...] = tuple(_SOLVERS)
"""Every similarity method by name."""

ALIASES: dict[str, str] = {
    "qp_doubly_stochastic": "qp",
    "doubly_stochastic": "qp",
    "full_qp": "qp",
    "degree_profiles": "degree_profile",
    "grampa_row_sum": "grampa_rowsum",
    "top_eig": "top_eigenvector",
    "eigen_align": "eigenalign",
    "iso_rank": "isorank",
}
"""Other names accepted for the methods (e.g. the function name ``qp_doubly_stochastic``)."""

RAW_INPUT = frozenset({"isorank", "eigenalign", "degree_profile"})
"""Methods defined on raw 0/1 (or weighted nonnegative) adjacency matrices, through degrees,
walks and edge scores; every other method wants centred and scaled input
(``normalize_adjacency``)."""

SEEDED = frozenset({"grampa", "qp"})
"""Methods whose similarity itself takes seed pairs (the others use seeds in the rounding)."""


def resolve_method(method: str) -> str:
    """The canonical name of a method or alias (``ValueError`` naming the choices)."""
    method = ALIASES.get(method, method) if isinstance(method, str) else method
    check_choice(method, "method", (*METHODS, *ALIASES))
    return method


def similarity_solution(
    A: ArrayLike, B: ArrayLike, method: str = "grampa", *, seeds: Any = None, **options: Any
) -> Solution:
    """The similarity of ``(A, B)`` by a named method with its convergence report.

    Closed-form methods report one converged step with zero residual. ``seeds`` go to the
    seeded programs of ``"grampa"`` (:func:`seeded_grampa`) and ``"qp"``; other methods take
    no seeds here (``match`` fixes seeds in the rounding for every method).

    Args:
      A: ``(..., n, n)`` symmetric matrix.
      B: ``(..., n, n)`` symmetric matrix.
      method: a name of ``METHODS`` or ``ALIASES``.
      seeds: optional pair ``(idx_A, idx_B)``.
      **options: keyword arguments of that method.

    Returns:
      ``Solution`` whose ``X`` is the ``(..., n, n)`` similarity.
    """
    method = resolve_method(method)
    if seeds is not None:
        if method not in SEEDED:
            raise ValueError(
                f"method {method!r} takes no seeds in its similarity; seeded similarities: "
                f"{sorted(SEEDED)} (match() fixes seeds in the rounding for every method)"
            )
        if method == "grampa":
            return seeded_grampa(A, B, seeds, **options)
        options["seeds"] = seeds
    solution = _SOLVERS[method](A, B, **options)
    X = solution.value
    if is_concrete(X) and not bool(jnp.all(jnp.isfinite(X))):
        raise ValueError(f"method {method!r} produced a non-finite similarity matrix")
    return solution


def similarity(A: ArrayLike, B: ArrayLike, method: str = "grampa", **options: Any) -> jax.Array:
    """Similarity matrix of ``(A, B)`` by a named method.

    Args:
      A: ``(..., n, n)`` symmetric matrix.
      B: ``(..., n, n)`` symmetric matrix.
      method: one of ``METHODS``: ``"grampa"``, ``"grampa_rowsum"``, ``"umeyama"``,
        ``"top_eigenvector"``, ``"isorank"``, ``"eigenalign"``, ``"degree_profile"``, ``"qp"``
        (``qp_doubly_stochastic``), or an alias of ``ALIASES``.
      **options: keyword arguments of that method (e.g. ``eta=0.2``, ``seeds=`` for the
        seeded ones).

    Returns:
      ``(..., n, n)`` similarity, rows = vertices of ``A``, columns = vertices of ``B``. A
      non-converged concrete iterative solve warns; ``similarity_solution`` returns the report.
    """
    solution = similarity_solution(A, B, method, **options)
    warn_unconverged(solution, resolve_method(method))
    return solution.value


def warn_unconverged(solution: Solution, method: str) -> None:
    """``RuntimeWarning`` when a concrete solve did not converge."""
    converged = solution.converged
    if is_concrete(converged) and not bool(jnp.all(converged)):
        warnings.warn(
            f"{method} did not converge (residual {float(jnp.max(solution.residual)):.3g}); "
            "returning the last iterate",
            RuntimeWarning,
            stacklevel=3,
        )
