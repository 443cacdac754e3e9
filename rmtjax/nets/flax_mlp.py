"""The Fan–Wang MLP as a Flax module, and conversion to and from :class:`MLPParams`."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax

from rmtjax.activations import Activation
from rmtjax.nets.mlp import MLPParams, _check_params, _check_widths, forward

__all__ = ["MLP", "from_flax_variables", "to_flax_variables"]


class MLP(nn.Module):
    """``f(x) = wᵀ x_L``, ``x_l = σ(W_l x_{l-1}) / sqrt(d_l)``, all weights N(0, 1) at init.

    The parameter collection is ``{"hidden_0": W_1, …, "hidden_{L-1}": W_L, "readout": w}``
    with ``W_l`` of shape ``(d_l, d_{l-1})`` (the layout of :class:`MLPParams`; convert with
    :func:`to_flax_variables` / :func:`from_flax_variables`). The forward pass is
    :func:`rmtjax.nets.forward`, so both give identical outputs and kernels.

    Attributes:
      widths: ``(d_0, d_1, …, d_L)``.
      activation: preset name or :class:`Activation`.

    Examples:
      >>> model = MLP((4, 8, 8), "tanh")
      >>> variables = model.init(jax.random.key(0), jax.numpy.zeros((2, 4)))
      >>> model.apply(variables, jax.numpy.ones((3, 4))).shape
      (3,)
    """

    widths: Sequence[int]
    activation: str | Activation = "arctan"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """``(..., n, d_0) -> (..., n)``."""
        widths = _check_widths(self.widths)
        init = nn.initializers.normal(stddev=1.0)
        hidden = [
            self.param(f"hidden_{l}", init, (d_out, d_in))
            for l, (d_in, d_out) in enumerate(itertools.pairwise(widths))
        ]
        readout = self.param("readout", init, (widths[-1],))
        return forward(MLPParams(hidden, readout), x, self.activation)


def to_flax_variables(params: MLPParams) -> dict[str, dict[str, jax.Array]]:
    """``MLPParams -> {"params": {"hidden_l": W_{l+1}, "readout": w}}`` for :class:`MLP`.

    Args:
      params: :class:`MLPParams` (unbatched, or batched for use under ``jax.vmap``).

    Returns:
      Flax variables for ``MLP(widths, activation).apply``.
    """
    _check_params(params)
    if params.bias is not None:
        raise ValueError("params has biases; the Flax MLP is the bias-free Fan–Wang network")
    named = {f"hidden_{l}": W for l, W in enumerate(params.hidden)}
    return {"params": {**named, "readout": params.readout}}


def from_flax_variables(variables: Mapping[str, Any]) -> MLPParams:
    """Flax variables of :class:`MLP` (with or without the ``"params"`` level) -> ``MLPParams``.

    Args:
      variables: ``{"params": {"hidden_0": …, "readout": …}}`` or the inner mapping.

    Returns:
      :class:`MLPParams` with the same arrays.
    """
    tree = variables.get("params", variables)
    if "readout" not in tree:
        raise ValueError(f"variables must hold 'readout' and 'hidden_l' entries; got {list(tree)}")
    L = sum(1 for key in tree if key.startswith("hidden_"))
    try:
        hidden = [tree[f"hidden_{l}"] for l in range(L)]
    except KeyError as err:
        raise ValueError(f"variables must hold hidden_0..hidden_{L - 1}; got {list(tree)}") from err
    params = MLPParams(hidden, tree["readout"])
    _check_params(params, "variables")
    return params
