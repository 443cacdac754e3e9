"""Empirical Conjugate Kernel of any model: the Gram matrix of its features at any layer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from rmtjax._checks import check_finite

__all__ = ["empirical_ck", "flax_intermediate"]


def empirical_ck(
    feature_fn: Callable[[Any, jax.Array], Any],
    params: Any,
    X1: ArrayLike,
    X2: ArrayLike | None = None,
) -> jax.Array:
    r"""Conjugate Kernel ``K_CK = Φ(X1) Φ(X2)ᵀ`` of the features ``Φ = feature_fn(params, ·)``.

    .. math::

        K_{\alpha\beta} = \sum_{\ell} \langle \phi_\ell(x_\alpha), \phi_\ell(x'_\beta) \rangle

    over the leaves ``φ_ℓ`` of the feature pytree, each flattened per sample (rows =
    samples). For the Fan–Wang MLP, ``feature_fn = layer_outputs(...)[l]`` gives
    :func:`rmtjax.nets.conjugate_kernel`; for a Flax module, :func:`flax_intermediate`
    selects any layer's output. No scaling is applied (scale the features for ``1/d``).

    Args:
      feature_fn: ``feature_fn(params, X) -> (n, ...)`` array or pytree of such arrays.
      params: anything ``feature_fn`` takes (e.g. Flax ``variables``).
      X1: ``(n1, ...)`` inputs.
      X2: ``(n2, ...)`` inputs, or ``None`` for ``X1`` (the result is then symmetric PSD).

    Returns:
      ``(n1, n2)``.

    References:
      Fan and Wang, "Spectra of the Conjugate Kernel and Neural Tangent Kernel for linear-
      width neural networks", NeurIPS 2020, Eq. (2.2).

    Examples:
      >>> f = lambda p, x: jnp.tanh(x @ p)
      >>> empirical_ck(f, jnp.ones((3, 4)), jnp.eye(2, 3)).shape
      (2, 2)
    """
    X1 = jnp.asarray(X1)
    check_finite(X1, "X1")
    F1 = _features(feature_fn, params, X1, "X1")
    if X2 is None:
        F2 = F1
    else:
        X2 = jnp.asarray(X2)
        check_finite(X2, "X2")
        if X2.shape[1:] != X1.shape[1:]:
            raise ValueError(
                f"X1 and X2 must share the per-sample shape; got {X1.shape[1:]} and {X2.shape[1:]}"
            )
        F2 = _features(feature_fn, params, X2, "X2")
    return sum(a @ b.T for a, b in zip(F1, F2, strict=True))


def _features(feature_fn, params, X, name) -> list[jax.Array]:
    if X.ndim < 1 or X.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n, ...) with n >= 1; got {X.shape}")
    leaves = jax.tree.leaves(feature_fn(params, X))
    if not leaves:
        raise ValueError("feature_fn returned no arrays")
    for leaf in leaves:
        if jnp.ndim(leaf) < 1 or jnp.shape(leaf)[0] != X.shape[0]:
            raise ValueError(
                f"feature_fn must return one feature row per sample of {name} "
                f"({X.shape[0]}); got shape {jnp.shape(leaf)}"
            )
    return [jnp.reshape(leaf, (X.shape[0], -1)) for leaf in leaves]


def flax_intermediate(
    model: Any, path: str, *, method: str = "__call__", **apply_kwargs: Any
) -> Callable[[Any, jax.Array], jax.Array]:
    """Feature function returning the output of the linen submodule at ``path``.

    The model is applied with ``capture_intermediates=True``; Flax then records every
    submodule's ``method`` output under its name, e.g. ``"Dense_1"`` or, nested,
    ``"Block_0/Dense_1"`` (``"/"`` separates levels; ``""`` is the model's own output).

    Args:
      model: a ``flax.linen.Module``.
      path: the submodule's name path.
      method: which recorded method (default ``"__call__"``).
      **apply_kwargs: passed to ``model.apply`` (e.g. ``train=False``).

    Returns:
      ``feature_fn(variables, X)`` for :func:`empirical_ck`.

    Examples:
      >>> import flax.linen as nn
      >>> model = nn.Sequential([nn.Dense(4), nn.tanh, nn.Dense(2)])
      >>> X = jnp.ones((3, 5))
      >>> variables = model.init(jax.random.key(0), X)
      >>> empirical_ck(flax_intermediate(model, "layers_0"), variables, X).shape
      (3, 3)
    """
    keys = [key for key in path.split("/") if key]

    def feature_fn(variables: Any, X: jax.Array) -> jax.Array:
        _, state = model.apply(
            variables, X, capture_intermediates=True, mutable=["intermediates"], **apply_kwargs
        )
        node = state["intermediates"]
        for depth, key in enumerate(keys):
            if not isinstance(node, Mapping) or key not in node:
                found = sorted(node) if isinstance(node, Mapping) else []
                raise ValueError(
                    f"path {path!r}: no submodule {key!r} at {'/'.join(keys[:depth]) or 'top'}; "
                    f"recorded: {found}"
                )
            node = node[key]
        if not isinstance(node, Mapping) or method not in node:
            raise ValueError(f"path {path!r}: no recorded {method!r} output")
        return node[method][0]

    return feature_fn
