"""Any model as the trainer sees it: initial parameters, outputs, and its CK and NTK.

:func:`as_model` turns rmtjax's :class:`~rmtjax.nets.MLP`, any Flax linen or nnx module, or
an ``(apply_fn, params)`` pair into a :class:`Model`. The kernels on inputs ``X`` (``n``
samples) are

- ``K_CK = F Fᵀ`` with ``F = φ_θ(X)`` ``(n, p)`` the features chosen by the selector
  (default: the last hidden layer, i.e. the input of the readout),
- ``K_NTK = Σ_c J_c J_cᵀ`` with ``J_c = ∂f_c(X)/∂θ`` over all trained parameters (the output
  axis traced out, as in neural-tangents' ``trace_axes=(-1,)``).

rmtjax's MLP uses the structured ``O(L n² d)`` kernels of :mod:`rmtjax.nets.kernels`; every
other model :func:`~rmtjax.nets.empirical_ntk` (structured derivatives where they pay off).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
from flax import nnx

from rmtjax.nets.empirical_ntk import empirical_ntk
from rmtjax.nets.flax_mlp import MLP, from_flax_variables, to_flax_variables
from rmtjax.nets.kernels import conjugate_kernel, ntk
from rmtjax.nets.mlp import init_mlp

__all__ = ["Model", "as_model"]

Features = None | int | str | Callable[[Any, jax.Array], jax.Array]


class Model(NamedTuple):
    """A model for :func:`~rmtjax.nets.train` (hashable: one compilation per model).

    Attributes:
      init: ``init(key, X) -> params`` (modules built with their parameters, nnx modules
        and ``(apply_fn, params)`` pairs, return those and ignore the key).
      apply: ``apply(params, X) -> outputs`` ``(n, ...)``.
      kernels: ``kernels(params, X) -> (K_CK, K_NTK)``, both ``(n, n)``.
      mlp: the :class:`~rmtjax.nets.MLP` when the model is one (limit-law edges), else None.
    """

    init: Callable[[jax.Array, jax.Array], Any]
    apply: Callable[[Any, jax.Array], jax.Array]
    kernels: Callable[[Any, jax.Array], tuple[jax.Array, jax.Array]]
    mlp: MLP | None


def as_model(model: Any, features: Features = None) -> Model:
    """The :class:`Model` of rmtjax's MLP, a linen or nnx module, or an ``(apply_fn, params)``.

    Args:
      model: a :class:`Model` (returned as is); :class:`~rmtjax.nets.MLP`; a
        ``flax.linen.Module`` (initialized by ``model.init(key, X[:1])``; it may hold only
        the ``"params"`` collection); an
        ``nnx.Module`` (its ``nnx.Param`` leaves are trained, the rest closed over); or a
        pair ``(apply_fn, params)`` with ``apply_fn(params, X) -> (n, ...)``.
      features: the CK features. ``None``: the last hidden layer (rmtjax MLP: ``X_L``;
        linen: the input of the last ``nn.Dense`` called); an ``int``: layer ``l`` of the
        MLP (index into ``[X_0, …, X_L]``); a ``str``: the output of the linen submodule
        with that path (e.g. ``"Dense_1"``, ``"block/Dense_0"``), via
        ``capture_intermediates``; a callable ``features(params, X) -> (n, p)``. nnx modules
        and pairs need a callable.

    Returns:
      The :class:`Model`.

    Raises:
      TypeError: ``model`` is none of the above, or ``features`` does not fit the model.
    """
    if isinstance(model, Model):
        return model
    try:
        hash((model, features))
    except TypeError:
        return _as_model(model, features)
    return _as_model_cached(model, features)


def _as_model(model: Any, features: Features) -> Model:
    if isinstance(model, MLP):
        return _mlp_model(model.clone(widths=tuple(int(d) for d in model.widths)), features)
    if isinstance(model, nn.Module):
        return _linen_model(model, features)
    if isinstance(model, nnx.Module):
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        return _pair_model(lambda p, X: nnx.merge(graphdef, p, rest)(X), params, features)
    if isinstance(model, tuple) and len(model) == 2 and callable(model[0]):
        return _pair_model(model[0], model[1], features)
    raise TypeError(
        "model must be an rmtjax.nets.MLP, a flax.linen.Module, an nnx.Module or an "
        f"(apply_fn, params) pair; got {type(model).__name__}"
    )


_as_model_cached = functools.lru_cache(maxsize=64)(_as_model)


def _mlp_model(model: MLP, features: Features) -> Model:
    if features is not None and not isinstance(features, int) and not callable(features):
        raise TypeError(
            f"features of an rmtjax MLP must be a layer index or a callable; got {features!r}"
        )

    def init(key: jax.Array, X: jax.Array) -> Any:
        return to_flax_variables(init_mlp(key, tuple(model.widths), X.dtype))["params"]

    def apply(params: Any, X: jax.Array) -> jax.Array:
        return model.apply({"params": params}, X)

    def kernels(params: Any, X: jax.Array) -> tuple[jax.Array, jax.Array]:
        mlp_params = from_flax_variables(params)
        if callable(features):
            ck = _gram(features(params, X))
        else:
            layer = -1 if features is None else features
            ck = conjugate_kernel(mlp_params, X, model.activation, layer=layer)
        return ck, ntk(mlp_params, X, model.activation, method="structured")

    return Model(init, apply, kernels, model)


def _linen_model(module: nn.Module, features: Features) -> Model:
    def init(key: jax.Array, X: jax.Array) -> Any:
        variables = module.init(key, X[:1])
        others = sorted(set(variables) - {"params"})
        if others:
            raise TypeError(
                f"model has variable collections {others} besides 'params'; pass "
                "(apply_fn, params) with them closed over in apply_fn"
            )
        return variables["params"]

    def apply(params: Any, X: jax.Array) -> jax.Array:
        return module.apply({"params": params}, X)

    if features is None:
        feature_fn = functools.partial(_readout_input, module)
    elif isinstance(features, str):
        feature_fn = functools.partial(_submodule_output, module, features)
    elif callable(features):
        feature_fn = features
    else:
        raise TypeError(
            f"features of a linen module must be a path or a callable; got {features!r}"
        )
    return Model(init, apply, _kernels(apply, feature_fn), None)


def _pair_model(apply_fn: Callable, params: Any, features: Features) -> Model:
    if not callable(features):
        raise TypeError(
            "features must be a callable features(params, X) -> (n, p) for nnx modules and "
            f"(apply_fn, params) pairs; got {features!r}"
        )
    return Model(lambda key, X: params, apply_fn, _kernels(apply_fn, features), None)


def _kernels(apply_fn: Callable, feature_fn: Callable) -> Callable:
    def kernels(params: Any, X: jax.Array) -> tuple[jax.Array, jax.Array]:
        return _gram(feature_fn(params, X)), any_model_ntk(apply_fn, params, X)

    return kernels


def any_model_ntk(apply_fn: Callable, params: Any, X: jax.Array) -> jax.Array:
    """``K_NTK = Σ_c J_c J_cᵀ`` ``(n, n)`` of any model (output axis traced out)."""
    out = jax.eval_shape(apply_fn, params, X)
    output_axes = tuple(range(1 - out.ndim, 0))
    K = empirical_ntk(apply_fn, params, X, trace_axes=output_axes)
    return K * math.prod(out.shape[1:])  # empirical_ntk averages over the traced axes


def _gram(F: jax.Array) -> jax.Array:
    F = F.reshape(F.shape[0], -1)
    return F @ F.T


def _readout_input(module: nn.Module, params: Any, X: jax.Array) -> jax.Array:
    """The input of the last ``nn.Dense`` called by ``module`` on ``X`` (its readout)."""
    seen = []

    def interceptor(next_fun, args, kwargs, context):
        if isinstance(context.module, nn.Dense) and context.method_name == "__call__":
            seen.append(args[0])
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(interceptor):
        module.apply({"params": params}, X)
    if not seen:
        raise TypeError(
            f"{type(module).__name__} calls no nn.Dense, so its last hidden layer is unknown; "
            "pass features= (a submodule path or a callable)"
        )
    return seen[-1]


def _submodule_output(module: nn.Module, path: str, params: Any, X: jax.Array) -> jax.Array:
    """The output of the submodule at ``path`` (``"/"``-separated names) of ``module`` on ``X``."""
    names = tuple(path.split("/"))

    def wanted(mdl: nn.Module, method: str) -> bool:
        return method == "__call__" and tuple(mdl.path) == names

    _, state = module.apply(
        {"params": params}, X, capture_intermediates=wanted, mutable=["intermediates"]
    )
    tree = state.get("intermediates", {})
    for name in names:
        if name not in tree:
            raise TypeError(f"features={path!r} names no submodule of {type(module).__name__}")
        tree = tree[name]
    return tree["__call__"][0]
