"""Tests for rmtjax/nets/kernels.py.

Oracle: the explicit Jacobian ``J = jax.jacrev`` of the flattened parameter vector
(``jax.flatten_util.ravel_pytree``), ``K = J Jᵀ``, on tiny sizes.
"""

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from rmtjax.activations import PRESETS, get_activation
from rmtjax.nets.kernels import conjugate_kernel, empirical_ntk, ntk, ntk_surrogate
from rmtjax.nets.mlp import forward, init_mlp, layer_outputs
from tests.nets._fixtures import mlp_params, normal

WIDTHS = {1: (6, 9), 2: (6, 9, 5), 3: (6, 9, 5, 11), 4: (6, 9, 5, 11, 7)}


@functools.partial(jax.jit, static_argnums=0)
def _jjt(apply_fn, params, X1, X2=None):
    """Explicit J Jᵀ from the Jacobian w.r.t. the flattened parameters."""
    flat, unravel = ravel_pytree(params)
    J1 = jax.jacrev(lambda t: apply_fn(unravel(t), X1))(flat)
    J2 = J1 if X2 is None else jax.jacrev(lambda t: apply_fn(unravel(t), X2))(flat)
    return J1 @ J2.T


def _rel(a, b):
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


def _inputs(seed, n, d0):
    X = normal(seed, (n, d0))
    return X / jnp.linalg.norm(X, axis=1, keepdims=True)


def _check_three_ways(L, name):
    """structured == autodiff (= empirical_ntk, one block) == explicit J Jᵀ (rel. err < 1e-10).

    The chunked path of empirical_ntk is held against J Jᵀ in the tests further down.
    """
    widths = WIDTHS[L]
    params = mlp_params(L, widths)
    X = _inputs(10 + L, 7, widths[0])
    oracle = _jjt(functools.partial(forward, activation=name), params, X)
    structured = ntk(params, X, name)
    autodiff = ntk(params, X, name, method="autodiff")
    for K in (structured, autodiff):
        chex.assert_shape(K, (7, 7))
        assert _rel(K, oracle) < 1e-10


# Every depth L = 1..4 and every preset appears (each compile costs ~1 s, so not the full grid).
_CASES = [
    (1, "arctan"),
    (2, "arctan"),
    (3, "arctan"),
    (4, "arctan"),
    (1, "softplus"),
    (2, "tanh"),
    (2, "quadratic"),
    (3, "erf"),
    (4, "relu"),
]


@pytest.mark.parametrize(("L", "name"), _CASES)
def test_structured_equals_autodiff_equals_jjt(x64, L, name):
    _check_three_ways(L, name)


@pytest.mark.slow
@pytest.mark.parametrize("L", [1, 2, 3, 4])
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_structured_equals_autodiff_equals_jjt_full_grid(x64, L, name):
    _check_three_ways(L, name)


def test_empirical_ntk_chunked_on_mlp(x64):
    """Chunked empirical_ntk (padded last block, X2 ≠ X1 and X2 = None) on the MLP."""
    params = mlp_params(3, WIDTHS[3])
    X1, X2 = _inputs(21, 7, 6), _inputs(22, 5, 6)
    apply_fn = functools.partial(forward, activation="relu")
    K12 = empirical_ntk(apply_fn, params, X1, X2, chunk_size=3)
    chex.assert_shape(K12, (7, 5))
    assert _rel(K12, _jjt(apply_fn, params, X1, X2)) < 1e-10
    K11 = empirical_ntk(apply_fn, params, X1, chunk_size=3)
    assert _rel(K11, ntk(params, X1, "relu")) < 1e-10


def test_batched_networks(x64):
    """A vmap over keys gives B networks; ntk/CK over the batch equal per-network calls."""
    B, widths = 2, (5, 8, 6, 4)
    params = jax.vmap(lambda k: init_mlp(k, widths))(jax.random.split(jax.random.key(0), B))
    X = _inputs(1, 6, 5)
    K_struct = ntk(params, X, "tanh")
    K_auto = ntk(params, X, "tanh", method="autodiff")
    K_vmap = jax.vmap(lambda p: ntk(p, X, "tanh"))(params)
    CK = conjugate_kernel(params, X, "tanh")
    chex.assert_shape([K_struct, K_auto, K_vmap, CK], (B, 6, 6))
    oracles = jax.vmap(lambda p: _jjt(functools.partial(forward, activation="tanh"), p, X))(params)
    for b in range(B):
        single = jax.tree.map(lambda a, b=b: a[b], params)
        assert _rel(K_struct[b], oracles[b]) < 1e-10
        assert _rel(K_auto[b], oracles[b]) < 1e-10
        assert _rel(K_vmap[b], oracles[b]) < 1e-10
        x_L = layer_outputs(single, X, "tanh")[-1]
        chex.assert_trees_all_close(CK[b], x_L @ x_L.T, rtol=1e-12)


def test_conjugate_kernel_layers(x64):
    params = mlp_params(2, (5, 8, 6, 4))
    X = _inputs(3, 6, 5)
    xs = layer_outputs(params, X, "erf")
    for layer in (0, 1, 2, 3, -1, -2, -4):
        chex.assert_trees_all_close(
            conjugate_kernel(params, X, "erf", layer=layer), xs[layer] @ xs[layer].T, rtol=1e-12
        )
    for bad in (4, -5, 1.0):
        with pytest.raises(ValueError, match="layer"):
            conjugate_kernel(params, X, "erf", layer=bad)


def test_structured_under_jit(x64):
    params = mlp_params(4, (5, 8, 6))
    X = _inputs(5, 6, 5)
    act = get_activation("softplus")
    jitted = jax.jit(lambda p, x, a: ntk(p, x, a))
    chex.assert_trees_all_close(jitted(params, X, act), ntk(params, X, act), rtol=1e-13)


def test_kernel_mean_diagonals():
    """Mean diag of CK ≈ 1 and of NTK ≈ Σ_l q_l = 1 + Σ_{k=1}^{L} a^k, over B = 16 networks.

    The weights are shared by all samples, so one network's mean diagonal carries a relative
    error O(d^{-1/2}) that averaging over samples does not remove (e.g. ``||s_L||² =
    Σ_j σ'(h_j)² w_j² / d`` fluctuates by ~sqrt(2/d) ≈ 6% at d = 512). Averaging B = 16
    independent networks brings this to ~1.5%; 6% is four of those standard errors and still
    catches any wrong power of d or a missing layer (each layer term is ≥ 20% of the total).
    """
    L, n, B = 3, 32, 16
    params = mlp_params(6, (128, 512, 512, 512), batch=B)
    X = _inputs(7, n, 128)
    act = get_activation("arctan")
    ck_diag = float(jnp.mean(jnp.diagonal(conjugate_kernel(params, X, act), axis1=-2, axis2=-1)))
    ntk_diag = float(jnp.mean(jnp.diagonal(ntk(params, X, act), axis1=-2, axis2=-1)))
    assert abs(ck_diag - 1) < 0.02  # per-network sd ≈ 0.9% here, so ≈ 9 standard errors
    q_minus1, q = act.q(L)
    assert abs(ntk_diag / float(q_minus1 + jnp.sum(q)) - 1) < 0.06


def test_ntk_surrogate_quadratic_closed_form(x64):
    """b = 0 for (x² − 1)/√2 (σ' = √2 x, a = E 2ξ² = 2): q_l = 0 below the top, so the
    surrogate is the CK plus q_{-1} = Σ_{k=1}^{L} 2^k times I; batched networks included."""
    B = 2
    params = mlp_params(8, (6, 9, 5, 11), batch=B)  # L = 3
    X = _inputs(9, 7, 6)
    K = ntk_surrogate(params, X, "quadratic")
    chex.assert_shape(K, (B, 7, 7))
    expected = conjugate_kernel(params, X, "quadratic") + (2 + 4 + 8) * jnp.eye(7)
    chex.assert_trees_all_close(K, expected, rtol=1e-10, atol=1e-10)


def test_ntk_surrogate_is_the_q_weighted_layer_grams(x64):
    params = mlp_params(10, (6, 9, 5))
    X = _inputs(11, 7, 6)
    act = get_activation("tanh")
    q_minus1, q = act.q(2)
    grams = [conjugate_kernel(params, X, act, layer=l) for l in range(3)]
    expected = q_minus1 * jnp.eye(7) + sum(q_l * G for q_l, G in zip(q, grams, strict=True))
    chex.assert_trees_all_close(ntk_surrogate(params, X, act), expected, rtol=1e-12)


def test_ntk_minus_surrogate_shrinks_with_width():
    """||K_NTK − K_sur||_F / sqrt(n) is dominated by O(d^{-1/2}) fluctuations (per-sample
    ||s_{l,α}||² and the global norms of w and S_l): 16× the width should shrink it ~4×
    (averaged over B = 8 networks; a constant gap, e.g. a wrong q_l, would not shrink)."""
    n, d0, B = 32, 128, 8
    X = _inputs(12, n, d0)

    def gap(d, seed):
        params = mlp_params(seed, (d0, d, d, d), batch=B)
        diff = ntk(params, X, "arctan") - ntk_surrogate(params, X, "arctan")
        return float(jnp.mean(jnp.linalg.norm(diff, axis=(-2, -1)))) / n**0.5

    narrow, wide = gap(128, 13), gap(2048, 14)
    assert 2.5 < narrow / wide < 6.5


def _cnn():
    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(3, (3, 3))(x)
            x = jnp.tanh(x)
            x = x.reshape(x.shape[0], -1)
            return nn.Dense(2)(x)

    return CNN()


def test_empirical_ntk_flax_cnn_multioutput(x64):
    """A Flax CNN with 2 outputs: K[α, β, i, j] = <∂f_i(x_α), ∂f_j(x_β)>, vs explicit J Jᵀ.

    (The chunked path is exercised on the MLP and the dense model.)
    """
    model = _cnn()
    X1 = normal(8, (5, 4, 4, 2))
    X2 = normal(9, (3, 4, 4, 2))
    variables = jax.tree.map(lambda a: a.astype(jnp.float64), model.init(jax.random.key(10), X1))
    K = empirical_ntk(model.apply, variables, X1, X2, trace_axes=())
    chex.assert_shape(K, (5, 3, 2, 2))
    oracle = _jjt(lambda v, x: model.apply(v, x).reshape(-1), variables, X1, X2)
    oracle = oracle.reshape(5, 2, 3, 2).transpose(0, 2, 1, 3)
    assert _rel(K, oracle) < 1e-10


def test_empirical_ntk_scalar_head_and_symmetry(x64):
    model = nn.Sequential([nn.Dense(4), jnp.sin, nn.Dense(1)])
    X = normal(11, (7, 3))
    variables = jax.tree.map(lambda a: a.astype(jnp.float64), model.init(jax.random.key(12), X))
    K = empirical_ntk(model.apply, variables, X, chunk_size=4)
    chex.assert_shape(K, (7, 7))
    oracle = _jjt(lambda v, x: model.apply(v, x)[:, 0], variables, X)
    assert _rel(K, oracle) < 1e-10
    chex.assert_trees_all_close(K, K.T, rtol=1e-13)
    assert float(jnp.min(jnp.linalg.eigvalsh(K))) > -1e-10


def test_bad_input():
    params = mlp_params(13, (4, 6, 5))
    X = jnp.ones((3, 4)) / 2
    with pytest.raises(ValueError, match="method"):
        ntk(params, X, method="jacfwd")
    with pytest.raises(ValueError, match="X must have shape"):
        ntk(params, jnp.ones((3, 5)))
    with pytest.raises(ValueError, match="NaN"):
        ntk(params, X.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="NaN"):
        conjugate_kernel(params, X.at[0, 0].set(jnp.inf))
    apply_fn = functools.partial(forward, activation="tanh")
    with pytest.raises(ValueError, match="chunk_size"):
        empirical_ntk(apply_fn, params, X, chunk_size=0)
    with pytest.raises(ValueError, match="per-sample shape"):
        empirical_ntk(apply_fn, params, X, jnp.ones((2, 5)))
    with pytest.raises(ValueError, match="X2 contains NaN"):
        empirical_ntk(apply_fn, params, X, jnp.full((2, 4), jnp.nan))
    with pytest.raises(ValueError, match="one output row per sample"):
        empirical_ntk(lambda p, x: jnp.sum(apply_fn(p, x)), params, X)


def test_mlp_with_biases_structured_equals_jjt(x64):
    """Optional biases: the structured NTK (with the 11ᵀ terms) equals explicit J Jᵀ."""
    widths = (6, 9, 5)
    params = mlp_params(14, widths)
    rng = np.random.default_rng(15)
    bias = [jnp.asarray(rng.standard_normal(d)) for d in widths[1:]] + [jnp.asarray(0.3)]
    params = params._replace(bias=bias)
    X = _inputs(16, 7, widths[0])
    oracle = _jjt(functools.partial(forward, activation="tanh"), params, X)
    assert _rel(ntk(params, X, "tanh"), oracle) < 1e-10
    assert _rel(ntk(params, X, "tanh", method="autodiff"), oracle) < 1e-10
    H = X @ params.hidden[0].T + bias[0]
    X1 = get_activation("tanh")(H) / jnp.sqrt(9.0)
    chex.assert_trees_all_close(conjugate_kernel(params, X, "tanh", 1), X1 @ X1.T, rtol=1e-12)
    drawn = init_mlp(jax.random.key(3), widths, bias=True)
    assert [b.shape for b in drawn.bias] == [(9,), (5,), ()]
    with pytest.raises(ValueError, match="bias"):
        ntk(params._replace(bias=bias[:-1]), X)
    with pytest.raises(ValueError, match="bias"):
        ntk_surrogate(params, X)
