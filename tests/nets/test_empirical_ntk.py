"""Tests for rmtjax/nets/empirical_ntk.py and rmtjax/nets/_structured.py.

Oracle: the explicit Jacobian ``J = jax.jacobian`` of the outputs with respect to the
flattened parameter vector (``jax.flatten_util.ravel_pytree``), ``K = J Jᵀ``, with the
trace/diagonal axes applied by one ``einsum`` per output leaf (neural-tangents' semantics:
traced axes averaged, diagonal axes kept once, other axes kept in pairs). Sizes are tiny
(n <= 8, widths <= 16); float64 runs inside the ``x64`` fixture only.
"""

from __future__ import annotations

import functools
import string

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.flatten_util import ravel_pytree

from rmtjax.nets import empirical_ntk, empirical_ntk_fn, ntk_cost
from tests.nets._fixtures import normal

IMPLEMENTATIONS = ("jacobian", "ntvp", "structured", "auto")
EXACT = ("structured", "jacobian", "ntvp")


@functools.partial(jax.jit, static_argnums=0)
def _jacobian(apply_fn, params, X):
    """``jax.jacobian`` of every output leaf w.r.t. the flattened params: ``(n, ..., P)``.

    One jitted program per ``(apply_fn, shapes)``, reused by every oracle call of a test (run
    eagerly, every primitive of the model and of its transpose was a compile of its own).
    """
    flat, unravel = ravel_pytree(params)
    return jax.jacobian(lambda t: apply_fn(unravel(t), X))(flat)


def oracle(apply_fn, params, X1, X2, trace_axes=(-1,), diagonal_axes=()):
    """Explicit flattened ``J1 J2ᵀ`` of every output leaf, with trace/diagonal axes applied."""
    X2 = X1 if X2 is None else X2
    kernels = []
    J1s, J2s = _jacobian(apply_fn, params, X1), _jacobian(apply_fn, params, X2)
    for J1, J2 in zip(jax.tree.leaves(J1s), jax.tree.leaves(J2s), strict=True):
        J1, J2 = np.asarray(J1), np.asarray(J2)  # numpy contractions: no compile per shape
        ndim = J1.ndim - 1  # output axes, sample axis first
        if ndim == 1:
            kernels.append(np.einsum("az,bz->ab", J1, J2))
            continue
        traced = {a % ndim for a in trace_axes} - {0}
        diag = {a % ndim for a in diagonal_axes} - {0}
        letters = iter(string.ascii_letters)
        left, right, out = ["a"], ["b"], ["a", "b"]
        next(letters), next(letters)
        for axis in range(1, ndim):
            u = next(letters)
            if axis in traced:
                left.append(u), right.append(u)
            elif axis in diag:
                left.append(u), right.append(u), out.append(u)
            else:
                v = next(letters)
                left.append(u), right.append(v), out.extend([u, v])
        spec = f"{''.join(left)}z,{''.join(right)}z->{''.join(out)}"
        size = np.prod([J1.shape[a] for a in traced]) if traced else 1
        kernels.append(np.einsum(spec, J1, J2) / size)
    return jax.tree.unflatten(jax.tree.structure(jax.eval_shape(apply_fn, params, X1)), kernels)


def _rel(a, b):
    """Relative Frobenius distance over all leaves, in numpy (no compile per leaf shape)."""
    a = [np.asarray(x) for x in jax.tree.leaves(a)]
    b = [np.asarray(y) for y in jax.tree.leaves(b)]
    num = sum(np.sum((x - y) ** 2) for x, y in zip(a, b, strict=True))
    return float(np.sqrt(num / sum(np.sum(y**2) for y in b)))


def _check_all(apply_fn, params, X1, X2, tol, implementations=EXACT, **options):
    """Each implementation equals the oracle within ``tol``, jitted; ``x2`` given and
    ``x2 = None`` alternate between implementations (one compile each, to keep tests fast)."""
    axes = {key: options[key] for key in ("trace_axes", "diagonal_axes") if key in options}
    refs = {}
    for i, implementation in enumerate(implementations):
        x2 = X2 if i % 2 == 0 else None
        if (x2 is None) not in refs:
            refs[x2 is None] = oracle(apply_fn, params, X1, x2, **axes)
        kernel = jax.jit(empirical_ntk_fn(apply_fn, implementation=implementation, **options))
        K = kernel(X1, x2, params)
        chex.assert_trees_all_equal_shapes(K, refs[x2 is None])
        error = _rel(K, refs[x2 is None])
        assert error < tol, (implementation, x2 is None, error)


def _f64(tree):
    return jax.tree.map(lambda a: a.astype(jnp.float64) if a.dtype == jnp.float32 else a, tree)


class CNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Conv(4, (3, 3), strides=(2, 2), padding=((1, 1), (0, 1)))(x)
        x = nn.relu(x)
        x = nn.avg_pool(x, (2, 2), strides=(1, 1))
        x = nn.Conv(3, (2, 2), padding="SAME", feature_group_count=1, kernel_dilation=2)(x)
        x = jnp.tanh(x).reshape(x.shape[0], -1)
        return nn.Dense(3)(x)


def test_linen_cnn_every_implementation_f64(x64):
    model = CNN()
    X1, X2 = normal(0, (5, 6, 6, 2)), normal(1, (3, 6, 6, 2))
    params = _f64(model.init(jax.random.key(0), X1))
    roles = ntk_cost(model.apply, params, X1).roles
    assert sorted(set(roles.values())) == ["conv", "dense", "elementwise"]
    _check_all(model.apply, params, X1, X2, 1e-10, trace_axes=(), implementations=IMPLEMENTATIONS)
    _check_all(model.apply, params, X1, X2, 1e-10, chunk_size=2, implementations=EXACT[::-1])


@pytest.mark.slow  # compile-heavy: the default run stays under 10 minutes on 2 cores
def test_linen_cnn_float32():
    model = CNN()
    X1, X2 = normal(0, (5, 6, 6, 2)), normal(1, (3, 6, 6, 2))
    X1, X2 = X1.astype(jnp.float32), X2.astype(jnp.float32)
    params = model.init(jax.random.key(0), X1)
    _check_all(model.apply, params, X1, X2, 1e-5)


@pytest.mark.slow  # compile-heavy: the default run stays under 10 minutes on 2 cores
def test_grouped_strided_conv_structured(x64):
    """Feature groups, lhs dilation and NCHW layouts go through the patches exactly."""

    def conv(k, x):
        return jax.lax.conv_general_dilated(
            x, k, (2, 1), ((1, 0), (0, 2)), (1, 2), (2, 1), ("NCHW", "OIHW", "NCHW"), 2
        )

    X1, X2 = normal(4, (4, 4, 7, 5)), normal(5, (2, 4, 7, 5))
    kernel = normal(2, (4, 2, 2, 3))
    width = int(np.prod(jax.eval_shape(conv, kernel, X1[:1]).shape))
    p = {"k": kernel, "v": normal(3, (width, 2)) / 10}

    def f(q, x):
        return jnp.sin(conv(q["k"], x)).reshape(x.shape[0], -1) @ q["v"]

    assert ntk_cost(f, p, X1).roles == {"['k']": "conv", "['v']": "dense"}
    _check_all(f, p, X1, X2, 1e-10, trace_axes=(), implementations=("structured",))


@pytest.mark.parametrize(
    ("layouts", "lhs_shape", "rhs_shape", "conv_params"),
    [
        (("NHWC", "HWIO", "NHWC"), (2, 6, 5, 3), (3, 2, 3, 4), ((1, 1), "SAME", (1, 1), (1, 1))),
        (
            ("NCHW", "OIHW", "NCHW"),
            (2, 3, 7, 5),
            (4, 3, 2, 3),
            ((2, 1), ((1, 0), (0, 2)), (1, 2), (2, 1)),
        ),
        (
            ("NHWC", "OIHW", "NCHW"),
            (1, 6, 6, 2),
            (3, 2, 3, 3),
            ((1, 2), ((0, 0), (1, 1)), (2, 1), (1, 2)),
        ),
        (("NWC", "WIO", "NWC"), (2, 9, 3), (3, 3, 2), ((2,), ((2, 1),), (1,), (2,))),
    ],
)
def test_conv_with_canonical_transposes_matches_jax(
    x64, layouts, lhs_shape, rhs_shape, conv_params
):
    """``_structured._conv``'s JVP and VJP (both operands) equal ``lax``'s own, any layout."""
    from rmtjax.nets import _structured

    strides, padding, lhs_dilation, rhs_dilation = conv_params

    def conv(x, w):
        return jax.lax.conv_general_dilated(
            x, w, strides, padding, lhs_dilation, rhs_dilation, dimension_numbers=layouts
        )

    x, w = normal(0, lhs_shape), normal(1, rhs_shape)
    (eqn,) = jax.make_jaxpr(conv)(x, w).jaxpr.eqns
    ours = _structured._conv(eqn.primitive, eqn.params)
    tx, tw = normal(2, lhs_shape), normal(3, rhs_shape)
    y, dy = jax.jvp(conv, (x, w), (tx, tw))
    y_ours, dy_ours = jax.jvp(ours, (x, w), (tx, tw))
    ct = normal(4, y.shape)
    grads = jax.vjp(conv, x, w)[1](ct)
    grads_ours = jax.vjp(ours, x, w)[1](ct)
    grad_x_only = jax.vjp(lambda x: ours(x, w), x)[1](ct)  # W's tangent a symbolic zero
    chex.assert_trees_all_close((y_ours, dy_ours), (y, dy), atol=1e-12, rtol=1e-12)
    chex.assert_trees_all_close(grads_ours, grads, atol=1e-12, rtol=1e-12)
    chex.assert_trees_all_close(grad_x_only[0], grads[0], atol=1e-12, rtol=1e-12)


@pytest.mark.slow  # compile-heavy: the default run stays under 10 minutes on 2 cores
def test_nchw_strided_conv_chunked_every_implementation(x64):
    """Two NCHW convolutions (strides, dilations, padding): the second one's input depends
    on the parameters, so both transposes of the canonical-layout JVP are used, chunked."""

    def conv(k, x, strides, dilation):
        return jax.lax.conv_general_dilated(
            x, k, strides, ((1, 0), (0, 2)), (1, 1), dilation, ("NCHW", "OIHW", "NCHW")
        )

    X1, X2 = normal(4, (5, 2, 7, 6)), normal(5, (3, 2, 7, 6))
    p = {"k1": normal(2, (3, 2, 2, 3)) / 3, "k2": normal(6, (2, 3, 2, 2)) / 3}

    def f(q, x):
        h = jnp.tanh(conv(q["k1"], x, (2, 1), (1, 2)))
        return conv(q["k2"], h, (1, 2), (2, 1)).reshape(x.shape[0], -1)[:, :4]

    _check_all(f, p, X1, X2, 1e-10, trace_axes=(), chunk_size=2, implementations=EXACT)


def _plain_mlp(p, x):
    h = x @ p["w1"] + p["b1"]
    mean = h.mean(-1, keepdims=True)
    h = (h - mean) / jnp.sqrt(h.var(-1, keepdims=True) + 1e-5) * p["scale"] + p["shift"]
    h = jax.nn.gelu(h)
    return h @ p["w2"] + p["b2"]


def _mlp_params(seed, d=5, h=12, k=10):
    keys = iter(range(seed, seed + 10))
    return {
        "w1": normal(next(keys), (d, h)) / np.sqrt(d),
        "b1": normal(next(keys), (h,)),
        "scale": 1 + 0.1 * normal(next(keys), (h,)),
        "shift": 0.1 * normal(next(keys), (h,)),
        "w2": normal(next(keys), (h, k)) / np.sqrt(h),
        "b2": normal(next(keys), (k,)),
    }


def test_plain_mlp_layernorm_gelu_and_ten_logit_axes(x64):
    """A plain-JAX MLP (biases, LayerNorm, gelu), 10 logits: trace_axes=(), (-1,), diagonal."""
    p = _mlp_params(10)
    roles = ntk_cost(_plain_mlp, p, normal(20, (6, 5))).roles
    assert roles["['w1']"] == roles["['w2']"] == "dense"
    assert roles["['scale']"] == roles["['b1']"] == "elementwise"
    X1, X2 = normal(20, (6, 5)), normal(21, (4, 5))
    _check_all(_plain_mlp, p, X1, X2, 1e-10, trace_axes=(), implementations=IMPLEMENTATIONS)
    _check_all(_plain_mlp, p, X1, X2, 1e-10, trace_axes=(-1,), implementations=EXACT[::-1])
    _check_all(_plain_mlp, p, X1, X2, 1e-10, trace_axes=(), diagonal_axes=(-1,), chunk_size=4)


@pytest.mark.slow  # compile-heavy: the default run stays under 10 minutes on 2 cores
def test_plain_mlp_float32():
    p = jax.tree.map(lambda a: a.astype(jnp.float32), _mlp_params(30))
    X1, X2 = normal(31, (6, 5)).astype(jnp.float32), normal(32, (4, 5)).astype(jnp.float32)
    _check_all(_plain_mlp, p, X1, X2, 1e-5, trace_axes=())


def test_nnx_model(x64):
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.a = nnx.Linear(4, 8, rngs=rngs, param_dtype=jnp.float64)
            self.norm = nnx.LayerNorm(8, rngs=rngs, param_dtype=jnp.float64)
            self.b = nnx.Linear(8, 3, rngs=rngs, param_dtype=jnp.float64)

        def __call__(self, x):
            return self.b(jnp.tanh(self.norm(self.a(x))))

    graphdef, state = nnx.split(Net(nnx.Rngs(0)))

    def apply_fn(s, x):
        return nnx.merge(graphdef, s)(x)

    X1, X2 = normal(40, (5, 4)), normal(41, (3, 4))
    _check_all(apply_fn, state, X1, X2, 1e-10, trace_axes=())


def test_dict_output_and_shapes(x64):
    """A dict of outputs, a (n, 2, 3) leaf: one kernel per leaf, NT's axis layout."""

    def f(p, x):
        h = jnp.tanh(x @ p["w"])
        return {"logits": h @ p["v"], "grid": (h @ p["u"]).reshape(-1, 2, 3)}

    p = {"w": normal(50, (4, 7)), "v": normal(51, (7, 3)), "u": normal(52, (7, 6))}
    X1, X2 = normal(53, (4, 4)), normal(54, (3, 4))
    K = empirical_ntk(f, p, X1, X2, trace_axes=(), diagonal_axes=(1,))
    chex.assert_shape(K["logits"], (4, 3, 3))
    chex.assert_shape(K["grid"], (4, 3, 2, 3, 3))
    _check_all(f, p, X1, X2, 1e-10, trace_axes=(), diagonal_axes=(1,))
    _check_all(f, p, X1, X2, 1e-10, trace_axes=(-1,), chunk_size=3, implementations=EXACT[::-1])


class EmbedResidual(nn.Module):
    @nn.compact
    def __call__(self, ids):
        h = nn.Embed(11, 6)(ids)  # (n, T, 6)
        h = h + nn.Dense(6)(jnp.tanh(h))  # residual
        return nn.Dense(2)(h.mean(axis=1))


@pytest.mark.slow  # compile-heavy: the default run stays under 10 minutes on 2 cores
def test_embedding_and_residual(x64):
    model = EmbedResidual()
    ids1 = jnp.asarray(np.random.default_rng(60).integers(0, 11, (5, 3)))
    ids2 = jnp.asarray(np.random.default_rng(61).integers(0, 11, (3, 3)))
    params = _f64(model.init(jax.random.key(1), ids1))
    roles = ntk_cost(model.apply, params, ids1).roles
    assert "embed" in roles.values()
    _check_all(model.apply, params, ids1, ids2, 1e-10, trace_axes=())


@pytest.mark.slow  # compile-heavy: the default run stays under 10 minutes on 2 cores
def test_batched_networks_under_vmap(x64):
    """``vmap`` over a batch of networks' params equals each network's oracle."""
    ps = [_mlp_params(70), _mlp_params(80)]
    batched = jax.tree.map(lambda *a: jnp.stack(a), *ps)
    X1, X2 = normal(90, (4, 5)), normal(91, (3, 5))
    for implementation in IMPLEMENTATIONS:
        kernel = empirical_ntk_fn(_plain_mlp, implementation=implementation, chunk_size=3)
        K = jax.jit(jax.vmap(kernel, in_axes=(None, None, 0)))(X1, X2, batched)
        for b, p in enumerate(ps):
            assert _rel(K[b], oracle(_plain_mlp, p, X1, X2)) < 1e-10, implementation


def test_scalar_output_and_sharded_inputs(x64):
    """Scalar outputs give (n1, n2); inputs placed with a NamedSharding are accepted."""
    p = _mlp_params(100, k=1)

    def f(q, x):
        return _plain_mlp(q, x)[:, 0]

    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    X = jax.device_put(normal(101, (6, 5)), sharding)
    K = empirical_ntk(f, p, X)
    chex.assert_shape(K, (6, 6))
    assert _rel(K, oracle(f, p, X, None)) < 1e-10
    chex.assert_trees_all_close(K, K.T, rtol=1e-12)


class BNNet(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool):
        x = nn.Dense(6)(x)
        x = nn.BatchNorm(use_running_average=not train)(x)
        return nn.Dense(2)(jnp.tanh(x))


def test_flax_variables_differentiate_params_only(x64):
    """With batch_stats present, only "params" is differentiated (as the oracle on params)."""
    model = BNNet()
    X1, X2 = normal(110, (5, 3)), normal(111, (4, 3))
    variables = _f64(model.init(jax.random.key(2), X1, train=False))
    variables = {
        "params": variables["params"],
        "batch_stats": jax.tree.map(lambda a: a + 0.3, variables["batch_stats"]),
    }

    def on_params(p, x):
        return model.apply({"params": p, "batch_stats": variables["batch_stats"]}, x, False)

    ref = oracle(on_params, variables["params"], X1, X2)
    for implementation in IMPLEMENTATIONS:
        K = empirical_ntk(
            lambda v, x: model.apply(v, x, False), variables, X1, X2, implementation=implementation
        )
        assert _rel(K, ref) < 1e-10, implementation


def test_batch_statistics_in_training_mode_refused():
    model = BNNet()
    X = normal(120, (6, 3)).astype(jnp.float32)
    variables = model.init(jax.random.key(3), X, train=False)

    def train_apply(v, x):
        return model.apply(v, x, True, mutable=["batch_stats"])[0]

    for chunk_size in (None, 2):
        with pytest.raises(ValueError, match="depends on the other samples"):
            empirical_ntk(train_apply, variables, X, chunk_size=chunk_size)
    with pytest.raises(ValueError, match="batch_stats"):
        empirical_ntk(lambda v, x: model.apply(v, x, True, mutable=["batch_stats"]), variables, X)
    # under jit the refusal cannot raise: the kernel is NaN, never a plausible number
    K = jax.jit(empirical_ntk_fn(train_apply, chunk_size=2))(X, None, variables)
    assert bool(jnp.all(jnp.isnan(K)))
    # vmap_axes=None: x is one input of f, whatever the interaction of its rows
    K = empirical_ntk(train_apply, variables, X, vmap_axes=None, trace_axes=(-1,))
    chex.assert_shape(K, (6, 6))
    assert (
        _rel(
            K,
            oracle(
                lambda v, x: train_apply({**variables, "params": v}, x),
                variables["params"],
                X,
                None,
            ),
        )
        < 1e-5
    )


def test_auto_choice_is_inspectable():
    """Dense nets with many parameters: structured; the estimates are reported for all three."""
    p = {"w": jnp.ones((64, 128)), "v": jnp.ones((128, 10))}

    def f(q, x):
        return jnp.tanh(x @ q["w"]) @ q["v"]

    cost = ntk_cost(f, p, jnp.ones((16, 64)), trace_axes=())
    assert cost.implementation == "structured"
    assert set(cost.flops) == set(cost.memory_bytes) == {"jacobian", "ntvp", "structured"}
    assert cost.flops["structured"] < cost.flops["jacobian"]
    assert cost.memory_bytes["structured"] < cost.memory_bytes["jacobian"]
