"""Tests for rmtjax/nets/mlp.py against a plain numpy forward pass."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.activations import get_activation
from rmtjax.nets.mlp import MLPParams, forward, init_mlp, layer_outputs
from tests.nets._fixtures import mlp_params, normal


def _numpy_layers(params, X, name):
    """Reference forward pass in numpy: X_l = σ(X_{l-1} W_lᵀ)/sqrt(d_l)."""
    act = get_activation(name)
    xs = [np.asarray(X)]
    for W in params.hidden:
        W = np.asarray(W)
        xs.append(np.asarray(act(jnp.asarray(xs[-1] @ W.T))) / np.sqrt(W.shape[0]))
    return xs


def test_init_shapes_and_law():
    widths = (30, 400, 200)
    params = init_mlp(jax.random.key(0), widths)
    chex.assert_shape(params.hidden, [(400, 30), (200, 400)])
    chex.assert_shape(params.readout, (200,))
    W = np.asarray(params.hidden[1])  # 80 000 N(0,1) entries: mean/var within ~5 std errors
    assert abs(W.mean()) < 5 / np.sqrt(W.size)
    assert abs(W.var() - 1) < 5 * np.sqrt(2 / W.size)
    assert params.hidden[0].dtype == jnp.float32


def test_init_vmaps_over_keys():
    keys = jax.random.split(jax.random.key(1), 3)
    batched = jax.vmap(lambda k: init_mlp(k, (4, 5, 6)))(keys)
    chex.assert_shape(batched.hidden, [(3, 5, 4), (3, 6, 5)])
    single = init_mlp(keys[1], (4, 5, 6))
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[1], batched), single)


def test_layer_outputs_match_numpy(x64):
    params = mlp_params(2, (6, 9, 4, 7))
    X = normal(3, (5, 6))
    xs = layer_outputs(params, X, "tanh")
    assert len(xs) == 4
    for ours, ref in zip(xs, _numpy_layers(params, X, "tanh"), strict=True):
        chex.assert_trees_all_close(ours, ref, rtol=1e-12)
    chex.assert_trees_all_close(forward(params, X, "tanh"), xs[-1] @ params.readout, rtol=1e-12)


def test_unit_norm_inputs_give_unit_norm_layers():
    """With ||x|| = 1 and σ standardized, ||x_l||² ≈ 1 (fluctuation ~ sqrt(2/d_l))."""
    params = mlp_params(4, (300, 2000, 2000))
    X = normal(5, (20, 300))
    X = X / jnp.linalg.norm(X, axis=1, keepdims=True)
    for x_l in layer_outputs(params, X, "arctan")[1:]:
        norms = jnp.sum(x_l**2, axis=1)
        assert float(jnp.max(jnp.abs(norms - 1))) < 0.2


def test_batched_params_and_inputs(x64):
    params = mlp_params(6, (4, 6, 5), batch=3)
    X = normal(7, (8, 4))
    out = forward(params, X, "relu")
    chex.assert_shape(out, (3, 8))
    for b in range(3):
        single = jax.tree.map(lambda a, b=b: a[b], params)
        chex.assert_trees_all_close(out[b], forward(single, X, "relu"), rtol=1e-13)
    Xb = normal(8, (3, 8, 4))
    out = forward(params, Xb, "relu")
    single = jax.tree.map(lambda a: a[2], params)
    chex.assert_trees_all_close(out[2], forward(single, Xb[2], "relu"), rtol=1e-13)
    with pytest.raises(ValueError, match="batch dims"):
        forward(params, jnp.ones((2, 8, 4)), "relu")


def test_jit():
    params = mlp_params(9, (4, 6, 5))
    X = jnp.ones((3, 4)) / 2
    jitted = jax.jit(lambda p, x: forward(p, x, "erf"))
    chex.assert_trees_all_close(jitted(params, X), forward(params, X, "erf"), rtol=1e-6)


def test_bad_input():
    params = mlp_params(10, (4, 6, 5))
    with pytest.raises(ValueError, match="X must have shape"):
        forward(params, jnp.ones((3, 5)))
    with pytest.raises(ValueError, match="X must have shape"):
        forward(params, jnp.ones(4))
    with pytest.raises(ValueError, match="X contains NaN"):
        forward(params, jnp.full((3, 4), jnp.nan))
    with pytest.raises(ValueError, match="activation"):
        forward(params, jnp.ones((3, 4)), "nope")
    with pytest.raises(ValueError, match="widths"):
        init_mlp(jax.random.key(0), (4,))
    with pytest.raises(ValueError, match="widths"):
        init_mlp(jax.random.key(0), (4, 0, 3))
    with pytest.raises(TypeError, match="widths"):
        init_mlp(jax.random.key(0), 4)
    broken = MLPParams([params.hidden[0], jnp.ones((5, 7))], params.readout)
    with pytest.raises(ValueError, match=r"hidden\[1\]"):
        forward(broken, jnp.ones((3, 4)))
    with pytest.raises(ValueError, match="readout"):
        forward(MLPParams(params.hidden, jnp.ones(4)), jnp.ones((3, 4)))
    with pytest.raises(TypeError, match="MLPParams"):
        forward({"hidden": params.hidden}, jnp.ones((3, 4)))
