"""Tests for rmtjax/nets/empirical_ck.py against literal feature Grams and the MLP's CK."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from rmtjax.nets import conjugate_kernel, empirical_ck, flax_intermediate, layer_outputs
from tests.nets._fixtures import mlp_params, normal


def test_mlp_layer_equals_conjugate_kernel(x64):
    params = mlp_params(0, (5, 7, 6))
    X = normal(1, (4, 5))
    for layer in (1, 2):
        K = empirical_ck(lambda p, x, l=layer: layer_outputs(p, x, "tanh")[l], params, X)
        chex.assert_trees_all_close(K, conjugate_kernel(params, X, "tanh", layer), rtol=1e-12)


def test_flax_intermediate_pytree_features_and_x2(x64):
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.Dense(6, name="hidden")(x)
            return nn.Dense(2, name="head")(jnp.tanh(h))

    model = Net()
    X1, X2 = normal(2, (4, 3)), normal(3, (5, 3))
    variables = model.init(jax.random.key(0), X1)
    K = empirical_ck(flax_intermediate(model, "hidden"), variables, X1, X2)
    W, b = variables["params"]["hidden"]["kernel"], variables["params"]["hidden"]["bias"]
    chex.assert_trees_all_close(K, (X1 @ W + b) @ (X2 @ W + b).T, rtol=1e-12)
    both = empirical_ck(lambda v, x: {"a": x, "b": x[:, :1] * 2}, variables, X1)
    chex.assert_trees_all_close(both, X1 @ X1.T + 4 * X1[:, :1] @ X1[:, :1].T, rtol=1e-12)
