"""Limit spectra of the Conjugate Kernel and the Neural Tangent Kernel (Fan & Wang, 2020)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from rmtjax._checks import check_in_range, is_concrete
from rmtjax.activations import clip_unit, get_activation, ntk_constants, unit_tolerance
from rmtjax.spectra.kernel import as_ratios
from rmtjax.spectra.limit_spectrum import LimitSpectrum

__all__ = ["activation_constants", "ck_limit", "ntk_limit"]

Array = jax.Array


def activation_constants(activation: Any) -> tuple[Array, Array]:
    """The constants ``(a, b) = (E sigma'(xi)^2, E sigma'(xi))`` of a standardized activation.

    Args:
      activation: a preset name (``"arctan"``; resolved by
        ``rmtjax.activations.get_activation``), any object with attributes ``.a`` and
        ``.b`` (an ``rmtjax.activations.Activation``), or a pair ``(a, b)`` of floats or arrays
        (possibly traced, for gradients).

    Returns:
      ``(a, b)`` as arrays; ``b`` within round-off of ``±1`` is clipped to ``±1``
      (:func:`rmtjax.activations.clip_unit`), then checked to lie in ``[-1, 1]``, and
      ``a >= b^2`` (Jensen) up to the same round-off, on concrete values.
    """
    if isinstance(activation, str):
        activation = get_activation(activation)
    if hasattr(activation, "a") and hasattr(activation, "b"):
        a, b = activation.a, activation.b
    elif isinstance(activation, tuple | list) and len(activation) == 2:
        a, b = activation
    else:
        raise TypeError(
            "activation must be a preset name, an object with .a and .b, or a pair (a, b); "
            f"got {activation!r}"
        )
    a, b = jnp.asarray(a), clip_unit(b)
    if a.shape or b.shape:
        raise ValueError(f"activation constants must be scalars; got shapes {a.shape}, {b.shape}")
    check_in_range(b, "activation constant b = E sigma'(xi) (standardized activation)", -1, 1)
    slack = 1 - unit_tolerance(b.dtype)
    if is_concrete(a) and is_concrete(b) and not float(a) >= float(b) ** 2 * slack:
        raise ValueError(f"activation constants need a = E sigma'^2 >= b^2; got a={a}, b={b}")
    return a, b


def ck_limit(
    mu0: Any,
    gammas: ArrayLike,
    activation: Any,
    *,
    tol: float | None = None,
    max_steps: int = 300,
) -> LimitSpectrum:
    """Limit spectrum of the Conjugate Kernel ``K_CK = X_L X_L^T`` (rows = samples).

    ``mu_l = rho_{gamma_l} ⊠ ((1 - b^2) + b^2 mu_{l-1})`` for ``l = 1..L``, ``mu_CK = mu_L``,
    with ``rho_gamma ⊠ nu`` the Marchenko–Pastur map; computed as
    ``m_CK(z) = t_L((-z, 0, ..., 0, 1), (1, 0, ..., 0))``.

    Args:
      mu0: limit spectrum of the input Gram matrix ``X_0 X_0^T`` (measure or atoms).
      gammas: ``(L,)`` ratios ``gamma_l = n / d_l > 0`` (tuple, list or array; may be traced).
      activation: name, ``Activation`` or pair ``(a, b)`` (only ``b`` enters).
      tol: solver tolerance (None: 1e-12 float64, 1e-5 float32).
      max_steps: Newton step cap per point.

    Returns:
      A :class:`~rmtjax.spectra.LimitSpectrum`.

    References:
      Z. Fan, Z. Wang, "Spectra of the conjugate kernel and neural tangent kernel for
      linear-width neural networks", NeurIPS 2020, Theorem 3.4.
    """
    _, b = activation_constants(activation)
    gammas = as_ratios(gammas)
    L = gammas.shape[0]
    q = jnp.zeros(L + 2, jnp.result_type(b, float)).at[-1].set(1.0)
    return LimitSpectrum.from_coefficients(mu0, gammas, b, q, tol=tol, max_steps=max_steps)


def ntk_limit(
    mu0: Any,
    gammas: ArrayLike,
    activation: Any,
    *,
    tol: float | None = None,
    max_steps: int = 300,
) -> LimitSpectrum:
    """Limit spectrum of the Neural Tangent Kernel of a depth-``L`` network.

    ``K_NTK`` has the limit spectrum of ``q_{-1} I + sum_{l=0}^{L} q_l X_l^T X_l`` with the
    constants of :func:`rmtjax.activations.ntk_constants`; computed as
    ``m_NTK(z) = t_L((-z + q_{-1}, q_0, ..., q_L), (1, 0, ..., 0))``.

    Args:
      mu0: limit spectrum of the input Gram matrix ``X_0 X_0^T`` (measure or atoms).
      gammas: ``(L,)`` ratios ``gamma_l = n / d_l > 0`` (tuple, list or array; may be traced).
      activation: name, ``Activation`` or pair ``(a, b)``.
      tol: solver tolerance (None: 1e-12 float64, 1e-5 float32).
      max_steps: Newton step cap per point.

    Returns:
      A :class:`~rmtjax.spectra.LimitSpectrum`.

    References:
      Z. Fan, Z. Wang, NeurIPS 2020, Theorem 3.7.
    """
    a, b = activation_constants(activation)
    gammas = as_ratios(gammas)
    q_minus1, q = ntk_constants(a, b, gammas.shape[0])
    return LimitSpectrum.from_coefficients(
        mu0, gammas, b, jnp.concatenate([q_minus1[None], q]), tol=tol, max_steps=max_steps
    )
