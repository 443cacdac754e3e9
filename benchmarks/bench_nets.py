"""Network kernels: structured NTK vs Jacobian contraction, seed-scale NTK, batched CK.

- ``ntk_structured_vs_jacobian``: our ``ntk(method="structured")`` (forward/backward
  recursion, ``O(L n² d)``) against the Jacobian-contraction NTK that neural-tangents uses by
  default, written here with ``jax.vmap(jax.jacrev)`` per sample and ``Σ_leaves J Jᵀ``. Issue
  target: at least 50× faster (``ratio <= 0.02``) at n = 256, widths (256, 512, 512, 512),
  float32. ``extra`` holds both programs' XLA memory (temporaries + output) and the max
  abs difference of the two kernels.
- ``ntk_seed_scale`` (``quick=False`` only): the talk's n = 3000, d0 = 1000, five layers of
  6000, where the Jacobian (n × 1.5e8 entries) cannot be formed; reports wall time and the
  process's peak resident memory (target: minutes, ≤ 6 GB).
- ``ck_batched_vs_loop``: the CK of B = 16 independent networks in one batched call vs a
  Python loop over the networks in numpy.
"""

from __future__ import annotations

import functools
import resource
import sys

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._harness import Case
from rmtjax.nets import conjugate_kernel, gaussian_inputs, get_activation, init_mlp, ntk

_ACTIVATION = "arctan"


def _jacobian_contraction_ntk(params, X):
    """Baseline: per-sample Jacobians by ``jax.jacrev``, then ``K = Σ_leaves J Jᵀ``."""
    act = get_activation(_ACTIVATION)

    def f(p, x):  # one sample (d0,) -> scalar
        for W in p.hidden:
            x = act(W @ x) / jnp.sqrt(W.shape[0])
        return p.readout @ x

    J = jax.vmap(jax.jacrev(f), in_axes=(None, 0))(params, X)
    return sum(j.reshape(X.shape[0], -1) @ j.reshape(X.shape[0], -1).T for j in jax.tree.leaves(J))


def _xla_bytes(fn, *args) -> int:
    """Temporaries + output of the compiled program (XLA's own accounting)."""
    stats = jax.jit(fn).lower(*args).compile().memory_analysis()
    return int(stats.temp_size_in_bytes + stats.output_size_in_bytes)


def _peak_rss_gb() -> float:
    """Peak resident memory of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**30 if sys.platform == "darwin" else 2**20)


def _structured_case(quick: bool) -> Case:
    n, widths = 256, (256, 512, 512, 512)  # the size; ~10 s in all, fine for quick
    params = init_mlp(jax.random.key(0), widths, jnp.float32)
    X = gaussian_inputs(jax.random.key(1), n, widths[0], jnp.float32)
    ours = jax.jit(functools.partial(ntk, activation=_ACTIVATION))
    baseline = jax.jit(_jacobian_contraction_ntk)
    error = float(jnp.max(jnp.abs(ours(params, X) - baseline(params, X))))
    n_params = sum(W.size for W in params.hidden) + params.readout.size
    return Case(
        name="ntk_structured_vs_jacobian",
        size=f"n={n} widths={widths} f32",
        ours=lambda: ours(params, X),
        baseline=lambda: baseline(params, X),
        target=0.02,
        repeats=3 if quick else 5,
        baseline_name="vmap(jacrev) Jacobian contraction",
        extra={
            "ours_xla_mb": _xla_bytes(ours, params, X) / 2**20,
            "autodiff_xla_mb": _xla_bytes(baseline, params, X) / 2**20,
            "jacobian_mb": n * n_params * 4 / 2**20,
            "max_abs_diff": error,
        },
    )


def _seed_scale_case() -> Case:
    n, widths = 3000, (1000, 6000, 6000, 6000, 6000, 6000)
    params = init_mlp(jax.random.key(2), widths, jnp.float32)
    X = gaussian_inputs(jax.random.key(3), n, widths[0], jnp.float32)
    ours = jax.jit(functools.partial(ntk, activation=_ACTIVATION))
    n_params = sum(W.size for W in params.hidden) + params.readout.size
    extra = {"jacobian_entries": float(n * n_params), "jacobian_tb_f32": n * n_params * 4 / 1e12}

    def run():
        K = jax.block_until_ready(ours(params, X))
        extra["peak_rss_gb"] = _peak_rss_gb()
        return K

    return Case(
        name="ntk_seed_scale",
        size=f"n={n} widths={widths} f32",
        ours=run,
        target=600.0,
        repeats=1,
        extra=extra,
    )


def _numpy_ck(hidden, X, mean, sd):
    for W in hidden:
        X = (np.arctan(X @ W.T) - mean) / sd / np.sqrt(W.shape[0])
    return X @ X.T


def _batched_ck_case(quick: bool) -> Case:
    B = 16
    n, widths = (128, (128, 256, 256)) if quick else (256, (256, 512, 512, 512))
    keys = jax.random.split(jax.random.key(4), B)
    params = jax.vmap(lambda k: init_mlp(k, widths, jnp.float32))(keys)
    X = gaussian_inputs(jax.random.key(5), n, widths[0], jnp.float32)
    act = get_activation(_ACTIVATION)
    mean, sd = np.float32(act.mean), np.float32(act.sd)
    hidden_np = [[np.asarray(W[b]) for W in params.hidden] for b in range(B)]
    X_np = np.asarray(X)
    ours = jax.jit(functools.partial(conjugate_kernel, activation=_ACTIVATION))
    error = float(
        np.max(np.abs(np.asarray(ours(params, X))[0] - _numpy_ck(hidden_np[0], X_np, mean, sd)))
    )
    return Case(
        name="ck_batched_vs_loop",
        size=f"B={B} n={n} widths={widths} f32",
        ours=lambda: ours(params, X),
        baseline=lambda: [_numpy_ck(h, X_np, mean, sd) for h in hidden_np],
        target=0.5,
        repeats=3 if quick else 5,
        baseline_name="numpy Python loop over networks",
        extra={"max_abs_diff_net0": error},
    )


def cases(quick: bool) -> list[Case]:
    """Benchmark cases; the seed-scale NTK only with ``quick=False``."""
    out = [_structured_case(quick), _batched_ck_case(quick)]
    if not quick:
        out.append(_seed_scale_case())
    return out
