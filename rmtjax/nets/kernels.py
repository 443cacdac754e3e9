"""Conjugate Kernel and Neural Tangent Kernel of a network at given weights.

For the MLP of :mod:`rmtjax.nets.mlp` the NTK is assembled from the forward and backward
passes in ``O(L n² d)`` time without forming the ``n × P`` Jacobian;
:func:`rmtjax.nets.empirical_ntk` is the path for any model (and the cross-check).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from rmtjax._checks import check_choice
from rmtjax.activations import Activation, get_activation
from rmtjax.nets.empirical_ntk import empirical_ntk
from rmtjax.nets.mlp import MLPParams, _batched, _forward, _layers, _output, _sigma_prime

__all__ = ["conjugate_kernel", "empirical_ntk", "ntk", "ntk_surrogate"]

_NTK_METHODS = ("structured", "autodiff")


def conjugate_kernel(
    params: MLPParams,
    X: jax.Array,
    activation: str | Activation = "arctan",
    layer: int = -1,
) -> jax.Array:
    """Conjugate Kernel ``K_CK = X_l X_lᵀ`` of layer ``l`` (default the last, ``l = L``).

    Args:
      params: :class:`MLPParams`, optionally with leading batch dims on every leaf.
      X: inputs ``(..., n, d_0)``, rows = samples, normalized so ``||x_α|| ≈ 1``.
      activation: preset name or :class:`Activation`.
      layer: which ``X_l`` in ``[X_0, …, X_L]`` (Python indexing; ``0`` is the input Gram
        matrix, ``-1`` the CK).

    Returns:
      ``(batch..., n, n)`` symmetric PSD.

    References:
      Fan and Wang (NeurIPS 2020), Eq. (2.2) and Theorem 3.4 (limit spectrum ``mu_L``).

    Examples:
      >>> from rmtjax.nets.mlp import init_mlp
      >>> params = init_mlp(jax.random.key(0), (5, 7, 9))
      >>> conjugate_kernel(params, jnp.eye(3, 5), "tanh").shape
      (3, 3)
    """
    act = get_activation(activation)
    L = len(params.hidden)
    if not isinstance(layer, int | np.integer) or not -(L + 1) <= layer <= L:
        raise ValueError(f"layer must be an integer in [{-(L + 1)}, {L}]; got {layer!r}")
    depth = int(layer) % (L + 1)

    return _batched(_gram, params, X, act, depth=depth)


def ntk(
    params: MLPParams,
    X: jax.Array,
    activation: str | Activation = "arctan",
    method: str = "structured",
) -> jax.Array:
    """Neural Tangent Kernel ``K = J Jᵀ``, ``J = ∂f(X)/∂θ`` over all ``W_1..W_L`` and ``w``.

    ``method="structured"`` (default) uses the backward recursion, ``H_l`` the
    pre-activations::

        K = X_L X_Lᵀ + Σ_{l=1}^{L} (X_{l-1} X_{l-1}ᵀ) ∘ (S_l S_lᵀ),
        S_L = σ'(H_L) ∘ wᵀ / sqrt(d_L),  S_{l-1} = σ'(H_{l-1}) ∘ (S_l W_l) / sqrt(d_{l-1}),

    where row α of ``S_l`` is ``∂f(x_α)/∂H_l``. With biases (``params.bias``),
    ``∂f/∂b_l = S_l`` and ``∂f/∂c = 1`` add ``11ᵀ`` to ``X_L X_Lᵀ`` and to every
    ``X_{l-1} X_{l-1}ᵀ``: ``O(L n² d + L n d²)`` time and ``O(L n d)``
    memory, no Jacobian. ``method="autodiff"`` is :func:`empirical_ntk` on :func:`forward`
    (``jax.jacrev``; memory ``O(n P)``), the cross-check.

    Args:
      params: :class:`MLPParams`, optionally with leading batch dims on every leaf.
      X: inputs ``(..., n, d_0)``, rows = samples.
      activation: preset name or :class:`Activation`.
      method: ``"structured"`` or ``"autodiff"``.

    Returns:
      ``(batch..., n, n)`` symmetric PSD; mean diagonal ≈ ``Σ_{l=-1}^{L} q_l`` (see
      :meth:`Activation.q`) when ``||x_α|| = 1``.

    References:
      Jacot, Gabriel, Hongler, "Neural Tangent Kernel", NeurIPS 2018 (definition);
      Fan and Wang (NeurIPS 2020), Eq. (2.3) and Theorem 3.7.

    Examples:
      >>> from rmtjax.nets.mlp import init_mlp
      >>> params = init_mlp(jax.random.key(0), (5, 7, 9))
      >>> ntk(params, jnp.eye(3, 5)).shape
      (3, 3)
    """
    check_choice(method, "method", _NTK_METHODS)
    fn = _structured_ntk if method == "structured" else _autodiff_ntk
    return _batched(fn, params, X, get_activation(activation))


def ntk_surrogate(
    params: MLPParams, X: jax.Array, activation: str | Activation = "arctan"
) -> jax.Array:
    """The Fan–Wang surrogate ``q_{-1} I + Σ_{l=0}^{L} q_l X_l X_lᵀ`` of the NTK.

    With ``q_{-1}, q_l`` from :meth:`Activation.q`, this matrix has the same limit spectrum as
    :func:`ntk` as ``n, d_1, …, d_L → ∞`` proportionally: ``S_l S_lᵀ`` is replaced by its
    limit ``b^{2(L-l+1)} 11ᵀ + (a^{L-l+1} − b^{2(L-l+1)}) I`` in each Hadamard term. Its limit
    law is exactly the one :func:`rmtjax.spectra.ntk_limit` solves for, so comparing its
    spectrum and the NTK's with the limit separates the two approximations: the NTK's
    finite-width deviation from the surrogate (per-sample fluctuations of ``||s_{l,α}||²`` and
    the Hadamard noise ``(X_{l-1} X_{l-1}ᵀ) ∘ (S_l S_lᵀ − E)``, which vanish like
    ``d^{-1/2}``) and the surrogate's own convergence (as fast as the CK's).

    Args:
      params: :class:`MLPParams`, optionally with leading batch dims on every leaf.
      X: inputs ``(..., n, d_0)``, rows = samples, normalized so ``||x_α|| ≈ 1``.
      activation: preset name or :class:`Activation`.

    Returns:
      ``(batch..., n, n)`` symmetric PSD, mean diagonal ≈ ``Σ_{l=-1}^{L} q_l`` like the NTK's.

    References:
      Fan and Wang (NeurIPS 2020), Lemma 3.5 / Eq. (3.4) and Theorem 3.7.

    Examples:
      >>> from rmtjax.nets.mlp import init_mlp
      >>> params = init_mlp(jax.random.key(0), (5, 7, 9))
      >>> ntk_surrogate(params, jnp.eye(3, 5)).shape
      (3, 3)
    """
    if getattr(params, "bias", None) is not None:
        raise ValueError("ntk_surrogate is the Fan–Wang (bias-free) surrogate; params has biases")
    return _batched(_surrogate_ntk, params, X, get_activation(activation))


def _gram(params: MLPParams, X: jax.Array, act: Activation, depth: int) -> jax.Array:
    x_l = _forward(params, X, act, depth)[0][-1]
    return x_l @ x_l.T


def _autodiff_ntk(params: MLPParams, X: jax.Array, act: Activation) -> jax.Array:
    return empirical_ntk(functools.partial(_output, act=act), params, X, implementation="jacobian")


def _structured_ntk(params: MLPParams, X: jax.Array, act: Activation) -> jax.Array:
    xs, hs = _forward(params, X, act)
    K = xs[-1] @ xs[-1].T + (0 if params.bias is None else 1)
    s = _sigma_prime(act, hs[-1]) * params.readout / math.sqrt(params.readout.shape[-1])
    for l in range(len(params.hidden), 0, -1):
        K = K + (xs[l - 1] @ xs[l - 1].T + (0 if params.bias is None else 1)) * (s @ s.T)
        if l > 1:
            W = params.hidden[l - 1]
            s = _sigma_prime(act, hs[l - 2]) * (s @ W) / math.sqrt(W.shape[-1])
    return K


def _surrogate_ntk(params: MLPParams, X: jax.Array, act: Activation) -> jax.Array:
    with jax.ensure_compile_time_eval():  # literals, as in mlp._sigma
        q_minus1, q = act.q(len(params.hidden))
    grams = [x @ x.T for x in _layers(params, X, act)]
    K = q_minus1.astype(X.dtype) * jnp.eye(X.shape[0], dtype=X.dtype)
    return K + sum(q_l.astype(X.dtype) * G for q_l, G in zip(q, grams, strict=True))
