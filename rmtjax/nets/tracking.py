"""Tracked quantities of a network during training: CK/NTK spectra, outliers, alignments, R².

At parameters ``θ`` on a probe set ``X_p`` (the first ``p`` training samples) with targets
``T_p`` (the labels, or one-hot rows for cross-entropy; ``(p,)`` or ``(p, c)``):

- the eigenvalues ``λ_1 ≥ … ≥ λ_p`` of ``K_CK`` and ``K_NTK`` (see :mod:`rmtjax.nets.models`),
- the outliers: eigenvalues above an ``edge`` (the limit law's upper edge at initialization,
  or the largest eigenvalue at initialization),
- the top-``k`` eigenvectors ``u_1..u_k``, the cumulative label fractions
  ``Σ_{j≤i} ||T_pᵀ u_j||² / ||T_p||²`` and the alignments ``||tᵀ u_i||² / ||t||²`` with a
  target direction ``t`` (default ``T_p``; e.g. the teacher's ``Xv`` for ``y = σ(vᵀx)``),
- the loss on the training set and ``R² = 1 − Σ ||T − P||² / Σ ||T − T̄||²`` (``P`` the
  predictions: outputs, or class probabilities for cross-entropy) on training and held-out
  data.

:func:`tracker` returns this as one jitted function for use inside any training loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rmtjax._checks import check_finite
from rmtjax._linalg import eigh_stacked, eigvalsh
from rmtjax.nets.losses import get_loss, predictions, targets
from rmtjax.nets.models import Features, Model, as_model
from rmtjax.spectra import DiscreteMeasure, ck_limit, ntk_limit

__all__ = ["TrackRecord", "limit_bulk_edges", "tracker"]


class TrackRecord(NamedTuple):
    """One tracking point (a batch of networks adds a leading axis ``B``, a history ``T``).

    Eigenvalues are in decreasing order (``ck_eigenvalues[:5]`` is the top-5 trajectory
    point); the outliers of a kernel are its first ``n_outliers`` eigenvalues.

    Attributes:
      step: optimizer steps taken.
      loss: training loss on the whole training set.
      r2_train: ``R²`` on the training set.
      r2_test: ``R²`` on the held-out set (NaN without one).
      ck_eigenvalues: ``(p,)`` eigenvalues of ``K_CK`` on the probe set.
      ntk_eigenvalues: ``(p,)`` eigenvalues of ``K_NTK``.
      ck_top_vectors: ``(p, k)`` top eigenvectors of ``K_CK`` (columns).
      ntk_top_vectors: ``(p, k)`` top eigenvectors of ``K_NTK``.
      ck_edge: the CK edge defining outliers.
      ntk_edge: the NTK edge.
      ck_n_outliers: number of CK eigenvalues above ``ck_edge``.
      ntk_n_outliers: number of NTK eigenvalues above ``ntk_edge``.
      ck_label_var: ``(k,)`` cumulative fractions of ``||T_p||²`` in ``u_1..u_i`` of the CK.
      ntk_label_var: ``(k,)`` the same for the NTK.
      ck_target_alignment: ``(k,)`` ``||tᵀ u_i||² / ||t||²`` for each top CK eigenvector.
      ntk_target_alignment: ``(k,)`` the same for the NTK.
    """

    step: Any
    loss: Any
    r2_train: Any
    r2_test: Any
    ck_eigenvalues: Any
    ntk_eigenvalues: Any
    ck_top_vectors: Any
    ntk_top_vectors: Any
    ck_edge: Any
    ntk_edge: Any
    ck_n_outliers: Any
    ntk_n_outliers: Any
    ck_label_var: Any
    ntk_label_var: Any
    ck_target_alignment: Any
    ntk_target_alignment: Any


def tracker(
    model: Any,
    *,
    loss: str | Callable = "squared",
    features: Features = None,
    top_k: int = 2,
    probe_size: int | None = None,
) -> Callable[..., TrackRecord]:
    """A jitted ``track(params, X, y, edges, *, step=0, X_test=None, y_test=None, target=None)``.

    ``track`` returns the :class:`TrackRecord` of the network ``params`` (the first
    ``probe_size`` rows of ``X`` form the probe set; all of ``X`` enters the loss and
    ``R²``). ``edges = (ck_edge, ntk_edge)``: pass ``(inf, inf)`` at initialization and read
    ``ck_eigenvalues[0]``, ``ntk_eigenvalues[0]`` for the "largest eigenvalue at
    initialization" edges, or use :func:`limit_bulk_edges`.

    Args:
      model: what :func:`~rmtjax.nets.models.as_model` accepts.
      loss: ``"squared"``, ``"cross_entropy"`` or a callable ``loss(outputs, labels)``.
      features: the CK feature selector of :func:`~rmtjax.nets.models.as_model`.
      top_k: eigenvectors kept.
      probe_size: probe rows (``None``: all of ``X``).

    Returns:
      The jitted ``track`` function.

    Examples:
      >>> from rmtjax.nets import MLP
      >>> X = jax.random.normal(jax.random.key(0), (16, 4)) / 2.0
      >>> model = MLP((4, 8, 8))
      >>> params = model.init(jax.random.key(1), X)["params"]
      >>> track = tracker(model)
      >>> record = track(params, X, X[:, 0], (jnp.inf, jnp.inf))
      >>> record.ck_eigenvalues.shape, int(record.ck_n_outliers)
      ((16,), 0)
    """
    adapter = as_model(model, features)
    program = jax.jit(track_fn(adapter, loss, top_k, probe_size))

    def track(params, X, y, edges, *, step=0, X_test=None, y_test=None, target=None):
        edges = jnp.asarray(edges, jnp.result_type(float))
        return program(jnp.asarray(step), params, X, y, X_test, y_test, edges, target)

    return track


def track_fn(model: Model, loss: Any, top_k: int, probe_size: int | None) -> Callable:
    """The pure tracking function ``(step, params, X, Y, X_test, Y_test, edges, target)``."""
    loss_fn = get_loss(loss)

    def evaluate(params, X, Y):
        outputs = model.apply(params, X)
        return outputs, _r2(predictions(outputs, loss), targets(Y, outputs.shape, loss))

    def track(step, params, X, Y, X_test, Y_test, edges, target) -> TrackRecord:
        p = X.shape[0] if probe_size is None else probe_size
        outputs, r2_train = evaluate(params, X, Y)
        T_p = targets(Y, outputs.shape, loss)[:p]
        t = T_p if target is None else target[:p]
        (ck_vals, ck_vecs), (ntk_vals, ntk_vecs) = (
            (vals[::-1], vecs[:, ::-1][:, :top_k])  # decreasing order
            for vals, vecs in eigh_stacked(*model.kernels(params, X[:p]))
        )
        r2_test = jnp.nan if X_test is None else evaluate(params, X_test, Y_test)[1]
        edges = edges.astype(ck_vals.dtype)
        return TrackRecord(
            step=step,
            loss=loss_fn(outputs, Y),
            r2_train=r2_train,
            r2_test=jnp.asarray(r2_test, outputs.dtype),
            ck_eigenvalues=ck_vals,
            ntk_eigenvalues=ntk_vals,
            ck_top_vectors=ck_vecs,
            ntk_top_vectors=ntk_vecs,
            ck_edge=edges[0],
            ntk_edge=edges[1],
            ck_n_outliers=jnp.sum(ck_vals > edges[0]),
            ntk_n_outliers=jnp.sum(ntk_vals > edges[1]),
            ck_label_var=jnp.cumsum(_shares(ck_vecs, T_p)),
            ntk_label_var=jnp.cumsum(_shares(ntk_vecs, T_p)),
            ck_target_alignment=_shares(ck_vecs, t),
            ntk_target_alignment=_shares(ntk_vecs, t),
        )

    return track


def limit_bulk_edges(
    X: jax.Array, widths: tuple[int, ...], activation: Any = "arctan"
) -> tuple[float, float]:
    """Upper edges of the Fan–Wang limit laws ``(μ_CK, μ_NTK)`` for the inputs ``X``.

    ``μ_0`` is the empirical spectrum of ``X Xᵀ`` (negative rounding errors clipped to 0) and
    ``γ_l = n / d_l``; the edges are the right ends of
    ``ck_limit(μ_0, γ, σ).support()`` and ``ntk_limit(μ_0, γ, σ).support()``.

    Args:
      X: ``(n, d_0)`` inputs (the probe set), rows normalized so ``||x_α|| ≈ 1``.
      widths: ``(d_0, d_1, …, d_L)``.
      activation: preset name or :class:`~rmtjax.nets.Activation`.

    Returns:
      ``(ck_edge, ntk_edge)`` as floats.

    References:
      Fan and Wang (NeurIPS 2020), Theorems 3.4 and 3.7.
    """
    X = jnp.asarray(X)
    check_finite(X, "X")
    gammas = jnp.asarray([X.shape[0] / d for d in widths[1:]], X.dtype)
    mu0 = DiscreteMeasure(jnp.clip(eigvalsh(X @ X.T), 0.0))
    return tuple(
        float(law(mu0, gammas, activation).support()[-1, 1]) for law in (ck_limit, ntk_limit)
    )


def _shares(U: jax.Array, T: jax.Array) -> jax.Array:
    """``||Tᵀ u_i||² / ||T||²`` per column of ``U`` ``(p, k)``; ``T`` ``(p,)`` or ``(p, c)``."""
    T = T.reshape(T.shape[0], -1)
    return jnp.sum((U.T @ T) ** 2, axis=-1) / jnp.sum(T**2)


def _r2(P: jax.Array, T: jax.Array) -> jax.Array:
    """Coefficient of determination ``1 − Σ ||T − P||² / Σ ||T − T̄||²`` (pooled over outputs)."""
    return 1.0 - jnp.sum((T - P) ** 2) / jnp.sum((T - jnp.mean(T, axis=0)) ** 2)
