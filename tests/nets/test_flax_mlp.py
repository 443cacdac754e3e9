"""Tests for rmtjax/nets/flax_mlp.py: the Flax module equals the functional MLP."""

import chex
import jax
import jax.numpy as jnp
import pytest

from rmtjax.activations import get_activation
from rmtjax.nets.flax_mlp import MLP, from_flax_variables, to_flax_variables
from rmtjax.nets.kernels import empirical_ntk, ntk
from rmtjax.nets.mlp import forward
from tests.nets._fixtures import mlp_params, normal


def test_flax_matches_functional_and_round_trips(x64):
    widths = (5, 8, 6)
    params = mlp_params(0, widths)
    X = normal(1, (4, 5))
    model = MLP(widths, "erf")
    variables = to_flax_variables(params)
    chex.assert_trees_all_close(model.apply(variables, X), forward(params, X, "erf"), rtol=1e-13)
    back = from_flax_variables(variables)
    chex.assert_trees_all_equal(back, params)
    chex.assert_trees_all_equal(from_flax_variables(variables["params"]), params)


def test_flax_init_layout_and_law():
    widths = (3, 200, 300)
    model = MLP(widths, get_activation("tanh"))
    variables = model.init(jax.random.key(2), jnp.zeros((1, 3)))
    params = from_flax_variables(variables)
    chex.assert_shape(params.hidden, [(200, 3), (300, 200)])
    chex.assert_shape(params.readout, (300,))
    W = params.hidden[1]  # 60 000 N(0, 1) entries
    assert abs(float(jnp.var(W)) - 1) < 5 * (2 / W.size) ** 0.5


def test_flax_ntk_equals_structured(x64):
    """empirical_ntk on model.apply (Flax params) equals the structured NTK of MLPParams."""
    widths = (4, 7, 5)
    params = mlp_params(3, widths)
    X = normal(4, (6, 4)) / 2
    K_flax = empirical_ntk(MLP(widths, "relu").apply, to_flax_variables(params), X, chunk_size=4)
    chex.assert_trees_all_close(K_flax, ntk(params, X, "relu"), rtol=1e-11)


def test_flax_vmap_over_networks():
    widths = (4, 6, 5)
    params = mlp_params(5, widths, batch=3)
    X = jnp.ones((2, 4)) / 2
    model = MLP(widths)
    out = jax.vmap(model.apply, in_axes=(0, None))(to_flax_variables(params), X)
    chex.assert_trees_all_close(out, forward(params, X), rtol=1e-6)


def test_conversion_errors():
    with pytest.raises(ValueError, match="readout"):
        from_flax_variables({"params": {"hidden_0": jnp.ones((3, 2))}})
    with pytest.raises(ValueError, match="hidden_0"):
        from_flax_variables({"params": {"hidden_1": jnp.ones((3, 2)), "readout": jnp.ones(3)}})
    with pytest.raises(ValueError, match="readout"):
        from_flax_variables({"hidden_0": jnp.ones((3, 2)), "readout": jnp.ones(4)})
    with pytest.raises(ValueError, match="X must have shape"):
        MLP((4, 5)).init(jax.random.key(0), jnp.zeros((2, 3)))
