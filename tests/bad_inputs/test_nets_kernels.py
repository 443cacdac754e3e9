"""Bad inputs to the empirical kernels: each raises a clear error naming the argument."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from rmtjax.nets import empirical_ck, empirical_ntk, empirical_ntk_fn, flax_intermediate

PARAMS = {"w": jnp.ones((3, 4)) / 2, "v": jnp.ones((4, 2))}
X = jnp.ones((5, 3)) / 3


def f(p, x):
    return jnp.tanh(x @ p["w"]) @ p["v"]


def _flax_path_error():
    model = nn.Sequential([nn.Dense(2)])
    variables = model.init(jax.random.key(0), X)
    return empirical_ck(flax_intermediate(model, "Dense_7"), variables, X)


CASES = [
    ("implementation", lambda: empirical_ntk_fn(f, implementation="fast"), ValueError),
    ("trace_axes", lambda: empirical_ntk_fn(f, trace_axes="last"), TypeError),
    ("trace_axes", lambda: empirical_ntk_fn(f, trace_axes=(1, 1)), ValueError),
    ("diagonal_axes", lambda: empirical_ntk_fn(f, trace_axes=(1,), diagonal_axes=1), ValueError),
    (
        "trace_axes .* out of range",
        lambda: empirical_ntk(f, PARAMS, X, trace_axes=(4,)),
        ValueError,
    ),
    ("sample axis", lambda: empirical_ntk(f, PARAMS, X, trace_axes=(0,)), ValueError),
    ("vmap_axes", lambda: empirical_ntk_fn(f, vmap_axes="batch"), TypeError),
    ("chunk_size", lambda: empirical_ntk_fn(f, chunk_size=0), ValueError),
    ("chunk_size", lambda: empirical_ntk_fn(f, chunk_size=2.5), ValueError),
    ("chunk_size", lambda: empirical_ntk_fn(f, chunk_size=2, vmap_axes=None), ValueError),
    ("differentiate", lambda: empirical_ntk_fn(f, differentiate=3), TypeError),
    (
        "differentiate",
        lambda: empirical_ntk(f, {"params": PARAMS}, X, differentiate=("params", "stats")),
        ValueError,
    ),
    ("apply_fn must be callable", lambda: empirical_ntk_fn("f"), TypeError),
    ("X1 contains NaN", lambda: empirical_ntk(f, PARAMS, X.at[0, 0].set(jnp.nan)), ValueError),
    ("X2 contains NaN", lambda: empirical_ntk(f, PARAMS, X, X.at[1, 1].set(jnp.inf)), ValueError),
    ("X1 must have shape", lambda: empirical_ntk(f, PARAMS, jnp.float32(1.0)), ValueError),
    ("per-sample shape", lambda: empirical_ntk(f, PARAMS, X, jnp.ones((2, 4))), ValueError),
    ("x1 must be an array", lambda: empirical_ntk_fn(f)([X], None, PARAMS), TypeError),
    ("one output row", lambda: empirical_ntk(lambda p, x: f(p, x).sum(), PARAMS, X), ValueError),
    ("no leaves", lambda: empirical_ntk(lambda p, x: x, {}, X), ValueError),
    ("feature row", lambda: empirical_ck(lambda p, x: x.sum(), PARAMS, X), ValueError),
    ("per-sample shape", lambda: empirical_ck(lambda p, x: x, PARAMS, X, X[:, :2]), ValueError),
    ("X1 contains NaN", lambda: empirical_ck(lambda p, x: x, PARAMS, X * jnp.nan), ValueError),
    ("path 'Dense_7'", _flax_path_error, ValueError),
]


@pytest.mark.parametrize(("match", "call", "error"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_naming_the_argument(match, call, error):
    with pytest.raises(error, match=match):
        call()
