"""Empirical NTK of arbitrary models: our implementations vs a plain ``vmap(jacrev)`` contraction.

The baseline is written here as a user would: per-sample Jacobians by
``jax.vmap(jax.jacrev(f))`` and ``K = Σ_leaves J Jᵀ`` (``einsum``, the same trace/diagonal
output as ours). ``ratio = ours / baseline``; targets from the issue (Novak, Sohl-Dickstein,
Schoenholz, "Fast Finite Width Neural Tangent Kernel", ICML 2022, report structured
derivatives 70× faster than the Jacobian contraction on their dense setting):

- ``ntk_dense_8logits``: 3 hidden layers of 2048, ReLU, input 3072, N = 16, 8 logits, the
  full ``(N, N, 8, 8)`` kernel (``trace_axes=()``); ``"structured"`` >= 50× (ratio <= 0.02).
- ``ntk_dense_1output``: the same net with one output at n = 256; ``"structured"`` >= 50×.
- ``ntk_cnn_10logits``: 3 conv layers (32, 64, 64 channels, 3×3, average pooling) on
  32×32×3, a dense head to 10 logits, N = 32, neural-tangents' default ``trace_axes=(-1,)``;
  ``"auto"`` >= 2× (ratio <= 0.5).
- ``ntk_layernorm_mlp``: 10-logit MLP (256 -> 256 -> 256 -> 10, LayerNorm, gelu, biases),
  n = 128, full blocks; ``"auto"`` >= 1.5× (ratio <= 0.667).

``extra`` holds the XLA temporary memory (``memory_analysis().temp_size_in_bytes``, MB) of
every implementation and of the baseline, the time of one call of the implementations not
timed as ``ours`` (and of every implementation with ``chunk_size = N/4`` for the 8-logit
net, the CNN and the LayerNorm MLP: ``chunk{c}_*`` for ``ours``, ``{impl}_chunk{c}_*``),
the choice and flop estimates of ``"auto"`` and the max relative
difference to the baseline. ``--quick`` shrinks widths, inputs and n.
"""

from __future__ import annotations

import functools
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._harness import Case
from benchmarks.run import profile
from rmtjax.nets import empirical_ntk_fn, ntk_cost

_IMPLEMENTATIONS = ("jacobian", "ntvp", "structured", "auto")


def plain_ntk(apply_fn, params, trace: bool, rows: int | None = None):
    """Baseline ``X -> K``: for each parameter leaf, per-sample Jacobians by
    ``vmap(jacrev)`` and their contraction ``J Jᵀ`` (mean over the logits when ``trace``),
    summed over the leaves. Each leaf runs as its own jitted call, so at most one leaf's
    Jacobian is held in memory (the full one is 15 GB at the ``n = 256`` dense size).
    ``rows``: samples per block; block ``(a, b)`` of ``K`` is ``J_a J_bᵀ`` from the two
    blocks' Jacobians (recomputed per block pair: the same contraction flops, at most two
    blocks of one leaf's Jacobian in memory).

    Returns:
      ``(kernel, xla_mb)``: the function of ``X`` and a function of ``X`` giving the largest
      XLA temporary memory of the per-leaf programs.
    """
    leaves, treedef = jax.tree.flatten(params)

    @functools.partial(jax.jit, static_argnums=0)
    def leaf_kernel(i, leaves, X):
        def f(w, x):
            full = list(leaves)
            full[i] = w
            return apply_fn(jax.tree.unflatten(treedef, full), x[None])[0].reshape(-1)

        J = jax.vmap(jax.jacrev(f), in_axes=(None, 0))(leaves[i], X)
        J = J.reshape(J.shape[0], J.shape[1], -1)
        if trace:
            return jnp.einsum("aip,bip->ab", J, J) / J.shape[1]
        return jnp.einsum("aip,bjp->abij", J, J)

    @functools.partial(jax.jit, static_argnums=0)
    def leaf_block(i, leaves, Xa, Xb):
        def f(w, x):
            full = list(leaves)
            full[i] = w
            return apply_fn(jax.tree.unflatten(treedef, full), x[None])[0].reshape(-1)

        jac = jax.vmap(jax.jacrev(f), in_axes=(None, 0))
        Ja, Jb = jac(leaves[i], Xa), jac(leaves[i], Xb)
        Ja, Jb = Ja.reshape(*Ja.shape[:2], -1), Jb.reshape(*Jb.shape[:2], -1)
        if trace:
            return jnp.einsum("aip,bip->ab", Ja, Jb) / Ja.shape[1]
        return jnp.einsum("aip,bjp->abij", Ja, Jb)

    def kernel(X):
        if rows is None or rows >= X.shape[0]:
            return sum(leaf_kernel(i, leaves, X) for i in range(len(leaves)))
        blocks = [X[s : s + rows] for s in range(0, X.shape[0], rows)]
        return jnp.block(
            [
                [sum(leaf_block(i, leaves, a, b) for i in range(len(leaves))) for b in blocks]
                for a in blocks
            ]
        )

    def xla_mb(X):
        def temp(i):
            if rows is None or rows >= X.shape[0]:
                lowered = leaf_kernel.lower(i, leaves, X)
            else:
                lowered = leaf_block.lower(i, leaves, X[:rows], X[:rows])
            return lowered.compile().memory_analysis().temp_size_in_bytes

        return max(temp(i) for i in range(len(leaves))) / 2**20

    return kernel, xla_mb


def _xla_mb(fn, *args) -> float:
    stats = jax.jit(fn).lower(*args).compile().memory_analysis()
    return round(stats.temp_size_in_bytes / 2**20, 2)


def _once(fn) -> float:
    jax.block_until_ready(fn())
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return round(time.perf_counter() - start, 4)


class _MLP(nn.Module):
    widths: tuple[int, ...]
    outputs: int
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x):
        for width in self.widths:
            x = nn.Dense(width, use_bias=self.layer_norm)(x)
            x = nn.gelu(nn.LayerNorm()(x)) if self.layer_norm else nn.relu(x)
        return nn.Dense(self.outputs, use_bias=self.layer_norm)(x)


class _CNN(nn.Module):
    channels: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        for i, c in enumerate(self.channels):
            x = nn.relu(nn.Conv(c, (3, 3))(x))
            if i < len(self.channels) - 1:
                x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        return nn.Dense(10)(x.reshape(x.shape[0], -1))


def _case(
    name,
    size,
    model,
    X,
    ours_impl,
    target,
    trace_axes,
    skip=(),
    repeats=3,
    chunk=None,
    diff=True,
    rows=None,
) -> Case:
    params = model.init(jax.random.key(0), X[:1])
    trace = trace_axes == (-1,)
    kernels = {
        impl: jax.jit(empirical_ntk_fn(model.apply, implementation=impl, trace_axes=trace_axes))
        for impl in _IMPLEMENTATIONS
    }
    baseline, baseline_mb = plain_ntk(model.apply, params, trace, rows)
    extra = {"baseline_xla_mb": round(baseline_mb(X), 2)}
    for impl in _IMPLEMENTATIONS:
        extra[f"{impl}_xla_mb"] = _xla_mb(lambda x, p, k=kernels[impl]: k(x, None, p), X, params)
    cost = ntk_cost(model.apply, params, X, trace_axes=trace_axes)
    extra["auto_choice"] = cost.implementation
    extra["gflops_est"] = {k: round(v / 1e9, 2) for k, v in cost.flops.items()}
    for impl in _IMPLEMENTATIONS:
        duplicate = impl == "auto" and cost.implementation == ours_impl
        if impl != ours_impl and impl not in skip and not duplicate:
            extra[f"{impl}_s"] = _once(lambda k=kernels[impl]: k(X, None, params))
    if chunk is not None:  # the cost of bounding memory: chunk_size = chunk, every method
        for impl in _IMPLEMENTATIONS:
            if impl in skip or (impl == "auto" and ours_impl != "auto"):
                continue
            chunked = jax.jit(
                empirical_ntk_fn(
                    model.apply, implementation=impl, trace_axes=trace_axes, chunk_size=chunk
                )
            )
            key = f"chunk{chunk}" if impl == ours_impl else f"{impl}_chunk{chunk}"
            extra[f"{key}_s"] = _once(lambda c=chunked: c(X, None, params))
            extra[f"{key}_xla_mb"] = _xla_mb(lambda x, p, c=chunked: c(x, None, p), X, params)
    ours = kernels[ours_impl]
    if diff:  # one more baseline call: skipped where it takes minutes (n = 256 dense)
        K, K0 = ours(X, None, params), baseline(X)
        extra["max_rel_diff"] = float(jnp.max(jnp.abs(K - K0)) / jnp.max(jnp.abs(K0)))
    return Case(
        name=name,
        size=size,
        ours=lambda: ours(X, None, params),
        baseline=lambda: baseline(X),
        target=target,
        repeats=repeats,
        baseline_name=f"vmap(jacrev) contraction; ours = {ours_impl!r}",
        extra=extra,
    )


def _inputs(seed: int, shape: tuple[int, ...]) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def cases(quick: bool) -> list[Case]:
    """The four settings of the issue (``--quick``: the same shapes scaled down)."""
    small = profile(quick) == "quick"
    d, width, n1, n2 = (768, 512, 8, 64) if small else (3072, 2048, 16, 256)
    dense = _MLP((width,) * 3, 8)
    one = _MLP((width,) * 3, 1)
    cnn_n, cnn_hw = (8, 16) if small else (32, 32)
    ln_n, ln_d, ln_w = (32, 128, 128) if small else (128, 256, 256)
    # at full size the Jacobian (n k P floats) of the dense nets is 7.5-15 GB: the "jacobian"
    # and "ntvp" implementations are compiled for their memory but not run there
    big = () if small else ("jacobian", "ntvp")
    return [
        _case(
            "ntk_dense_8logits",
            f"N={n1} d0={d} 3x{width} relu, 8 logits, full blocks f32",
            dense,
            _inputs(1, (n1, d)),
            "structured",
            0.02,
            (),
            skip=big,
            chunk=n1 // 4,
        ),
        _case(
            "ntk_dense_1output",
            f"n={n2} d0={d} 3x{width} relu, 1 output f32",
            one,
            _inputs(2, (n2, d)),
            "structured",
            0.02,
            (-1,),
            skip=("jacobian", "ntvp"),
            repeats=3 if small else 1,
            diff=small,
            rows=None if small else 64,
        ),
        _case(
            "ntk_cnn_10logits",
            f"N={cnn_n} {cnn_hw}x{cnn_hw}x3, conv 32-64-64, 10 logits, trace f32",
            _CNN((32, 64, 64)),
            _inputs(3, (cnn_n, cnn_hw, cnn_hw, 3)),
            "auto",
            0.5,
            (-1,),
            chunk=cnn_n // 4,
        ),
        _case(
            "ntk_layernorm_mlp",
            f"n={ln_n} d0={ln_d} 2x{ln_w} LayerNorm gelu, 10 logits, full blocks f32",
            _MLP((ln_w, ln_w), 10, layer_norm=True),
            _inputs(4, (ln_n, ln_d)),
            "auto",
            0.667,
            (),
            chunk=ln_n // 4,
        ),
    ]
