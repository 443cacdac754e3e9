"""Monte Carlo throughput: ``eigvec_overlap`` trials through the engine vs a plain numpy loop.

- ``eigvec_overlap_trials``: ``run_trials`` (store=None, no progress bar) on the experiment's own
  trial (:func:`rmtjax.experiments.eigvec_overlap.overlap_trial`: one correlated Erdős–Rényi
  draw, ``eigh`` of ``A`` and of the 4 un-permuted ``B0``'s, squared overlaps
  ``<u_100, v_j>^2``, ``j = 80..120``) against the same trials written as a numpy loop
  (``numpy.random`` uniforms, ``numpy.linalg.eigh``, same dtype). Both sides are eigh-bound
  (5 ``eigh`` per trial), so the target is ``ratio <= 1.0``: at least as fast as numpy.
- ``eigh_jax_vs_numpy``: the floor under that ratio, one ``jnp.linalg.eigh`` (jitted) against
  one ``numpy.linalg.eigh`` on the same symmetric matrix, f32 and f64. No target (a
  diagnostic): on CPU both call LAPACK ``?syevd``, JAX through scipy's OpenBLAS and numpy
  through its own, so the ratio measures the two OpenBLAS builds and JAX's dispatch overhead.

Sizes by profile (``RMTJAX_BENCH_PROFILE``, see :mod:`benchmarks.run`): quick ``n=200``, 16
trials, eigh at ``n=200``; full ``n=500``, 64 trials, eigh at ``n=200, 500, 1000``; gpu
``n=500``, 128 trials (the numpy side runs the same 128 on the host CPU), eigh up to 2000.
``extra["trials"]`` lets the report print trials/s for both sides.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._harness import Case
from benchmarks.run import profile
from rmtjax.experiments.eigvec_overlap import overlap_trial
from rmtjax.experiments.engine import run_trials

Q = 0.5
DELTAS = (0.0, 0.001, 0.01, 0.05)
INDEX = 100
WINDOW = 20

_SIZES = {
    # profile: (n, trials, chunk_size, repeats, eigh sizes)
    "quick": (200, 16, 16, 3, (200,)),
    "full": (500, 64, 16, 3, (200, 500, 1000)),
    "gpu": (500, 128, 128, 2, (500, 1000, 2000)),
}


def numpy_overlap_trial(
    rng: np.random.Generator, n: int, q: float, deltas: np.ndarray, dtype: Any
) -> np.ndarray:
    """One ``eigvec_overlap`` trial in plain numpy: ``(len(deltas), 2 WINDOW + 1)`` overlaps.

    The same law as :func:`rmtjax.graphs.models.correlated_erdos_renyi` with common random
    numbers over ``deltas`` (one uniform matrix ``u`` per trial): ``A_ij = [u_ij < q]``,
    ``B0_ij = [u_ij < (1 - delta) q] or [q <= u_ij < q (1 + delta)]`` for ``i < j``,
    symmetrized. ``B0`` is drawn un-permuted (the JAX trial permutes and un-permutes it).
    Eigenvalues in decreasing order, 1-based ``INDEX``, as in the experiment.
    """
    u = rng.random((n, n), dtype=np.float32)
    upper = np.triu(np.ones((n, n), bool), k=1)

    def symmetric(mask: np.ndarray) -> np.ndarray:
        m = (mask & upper).astype(dtype)
        return m + m.T

    a = symmetric(u < q)
    top = np.linalg.eigh(a)[1][:, n - INDEX]
    positions = n - (INDEX + np.arange(-WINDOW, WINDOW + 1))
    out = np.empty((len(deltas), positions.size), dtype)
    for k, delta in enumerate(deltas):
        b0 = symmetric((u < (1 - delta) * q) | ((u >= q) & (u < q * (1 + delta))))
        out[k] = (top @ np.linalg.eigh(b0)[1][:, positions]) ** 2
    return out


def engine_run(n: int, trials: int, chunk_size: int) -> Callable[[], Any]:
    """``() -> overlaps``: ``trials`` trials of ``overlap_trial(n)`` through ``run_trials``."""
    trial = overlap_trial(n, Q, INDEX, WINDOW)
    deltas = jnp.asarray(DELTAS, jnp.result_type(float))

    def run() -> Any:
        return run_trials(
            trial,
            params=deltas,
            seed=0,
            n_trials=trials,
            chunk_size=chunk_size,
            store=None,
            progress=False,
        )

    return run


def numpy_run(n: int, trials: int) -> Callable[[], np.ndarray]:
    """``() -> overlaps``: the same number of trials as a numpy loop (default float dtype)."""
    dtype = np.dtype(jnp.result_type(float).name)
    deltas = np.asarray(DELTAS)

    def run() -> np.ndarray:
        rng = np.random.default_rng(0)
        return np.stack([numpy_overlap_trial(rng, n, Q, deltas, dtype) for _ in range(trials)])

    return run


def _trials_case(n: int, trials: int, chunk_size: int, repeats: int) -> Case:
    dtype = jnp.result_type(float).name
    return Case(
        name="eigvec_overlap_trials",
        size=f"n={n} T={trials} {dtype}",
        ours=engine_run(n, trials, chunk_size),
        baseline=numpy_run(n, trials),
        target=1.0,
        repeats=repeats,
        extra={
            "trials": trials,
            "chunk": chunk_size,
            "devices": jax.device_count(),
            "eigh_per_trial": 1 + len(DELTAS),
        },
        baseline_name="numpy loop (np.linalg.eigh)",
    )


def _eigh_case(n: int, x64: bool) -> Case:
    dtype = np.float64 if x64 else np.float32
    g = np.random.default_rng(n).standard_normal((n, n))
    a = ((g + g.T) / 2).astype(dtype)
    with jax.enable_x64(x64):
        a_jax = jnp.asarray(a)
    eigh = jax.jit(jnp.linalg.eigh)

    def ours() -> Any:
        with jax.enable_x64(True) if x64 else contextlib.nullcontext():
            return jax.block_until_ready(eigh(a_jax))

    return Case(
        name="eigh_jax_vs_numpy",
        size=f"n={n} {'f64' if x64 else 'f32'}",
        ours=ours,
        baseline=lambda: np.linalg.eigh(a),
        target=None,
        repeats=max(3, min(15, int(2e9 / n**3))),
        extra={"backend": jax.default_backend()},
        baseline_name="np.linalg.eigh",
    )


def cases(quick: bool) -> list[Case]:
    """The Monte Carlo throughput case and the eigh floor cases for the current profile."""
    n, trials, chunk_size, repeats, eigh_sizes = _SIZES[profile(quick)]
    return [
        _trials_case(n, trials, chunk_size, repeats),
        *(_eigh_case(m, x64) for m in eigh_sizes for x64 in (False, True)),
    ]
