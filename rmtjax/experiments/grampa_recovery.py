"""Experiment ``grampa_recovery``: where each matching method stops recovering the permutation.

For every model, method and noise level, ``trials`` correlated pairs ``(A, B)`` are matched by
``match(A, B, method, rounding="auto", refine_steps)`` (the similarity of the method, then exact
linear assignment) and scored by ``recovery_fraction`` against the hidden permutation. Models:

- ``gaussian``: ``correlated_wigner``, ``B0 = A + sigma Z`` (noise axis ``sigma``);
- ``er_dense``, ``er_sparse``: ``correlated_erdos_renyi`` with ``q = dense_q`` or ``sparse_q``
  (noise axis ``delta``, the fraction of differing edges). ``match(..., normalize=True)``
  gives each method the input it is defined on: the spectral and QP methods see
  ``normalize_adjacency(A)`` (edge density estimated per graph, spectrum on about ``[-2, 2]``),
  the methods of ``rmtjax.graphs.RAW_INPUT`` (IsoRank, EigenAlign and degree profiles, defined
  on 0/1 graphs through degrees, walks and edge scores) the raw 0/1 matrices. IsoRank and
  EigenAlign run in float32 like the others (they recover isomorphic pairs exactly).

Centred adjacency entries differ between ``A`` and ``B0`` with probability ``2 delta q``, so an
ER pair is about as noisy as a Gaussian pair with ``sigma^2 = 2 delta / (1 - q)``; the default
``delta`` grids span roughly the same effective ``sigma`` range as the ``sigma`` grid.

Every trial ``t`` uses the key ``fold_in(key(seed), t)`` for every method and noise level, so
all curves are drawn on common random numbers. One resumable store per (model, method, noise
level) lives under ``chunks/<model>.<method>.<noise>/``; ``methods``, ``models`` and the grids
do not enter the fingerprint, so a rerun with more methods or noise levels reuses every stored
trial.

Wall time (``seconds``) is measured outside the engine: per method one jitted
``match`` on a single prepared pair (inputs already on the device, pair generation excluded),
one warm-up call (compilation), then ``timing_pairs`` timed calls per model at the middle of
its noise grid; the mean over all timed calls is reported. Timing the engine calls instead
would mix in compilation, the batched (vmapped) execution and whatever a resumed run skipped.

Figure ``grampa_recovery.png``: one panel per model, the mean recovered fraction against the
noise level for every method with bars of one standard error; the legend (with each method's
seconds per pair) sits to the right of the last panel.

``summary.json``: ``methods`` (list of names), ``noise`` (model -> list of noise levels),
``recovery`` (method -> model -> list of mean recovered fractions, one per noise level),
``stderr`` (same layout: standard errors over trials), ``seconds`` (method -> mean seconds per
pair), ``n``, ``trials``.

References:
  Fan, Mao, Wu, Xu, "Spectral graph matching and regularized quadratic relaxations I: The
  Gaussian model" (arXiv:1907.08880), Sec. 4, and "II: Erdős–Rényi graphs and universality"
  (arXiv:1907.08883), Sec. 4 (the simulations this experiment reproduces).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from rmtjax.experiments.config import ConfigError, ExperimentConfig, param, require_nonempty
from rmtjax.experiments.context import RunContext
from rmtjax.experiments.engine import trial_key
from rmtjax.experiments.plotting import errorbars, legend_outside, new_figure, styled
from rmtjax.experiments.registry import Experiment, register
from rmtjax.graphs import (
    METHODS,
    GraphPair,
    correlated_erdos_renyi,
    correlated_wigner,
    match,
    recovery_fraction,
)

__all__ = ["MODELS", "GrampaRecoveryConfig", "recovery_trial"]

MODELS = ("gaussian", "er_dense", "er_sparse")
"""Model names: the Gaussian Wigner model and dense and sparse correlated Erdős–Rényi graphs."""

_NOISE_LABEL = {"gaussian": "sigma", "er_dense": "delta", "er_sparse": "delta"}


@dataclasses.dataclass(frozen=True)
class GrampaRecoveryConfig(ExperimentConfig):
    """Parameters of ``grampa_recovery`` (defaults: see ``configs/grampa_recovery.yaml``)."""

    n: int = param(500, low=4, doc="number of vertices")
    methods: tuple[str, ...] = param(
        tuple(METHODS), choices=tuple(METHODS), in_fingerprint=False, doc="similarity methods"
    )
    models: tuple[str, ...] = param(
        MODELS, choices=MODELS, in_fingerprint=False, doc="graph models (one panel each)"
    )
    sigmas: tuple[float, ...] = param(
        (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8),
        low=0.0,
        in_fingerprint=False,
        doc="gaussian: noise levels sigma of B0 = A + sigma Z",
    )
    dense_q: float = param(
        0.5, low=0.0, high=1.0, closed=(False, False), doc="er_dense: edge probability"
    )
    dense_deltas: tuple[float, ...] = param(
        (0.0, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.07, 0.1, 0.15),
        low=0.0,
        high=1.0,
        in_fingerprint=False,
        doc="er_dense: fractions delta of differing edges",
    )
    sparse_q: float = param(
        0.05, low=0.0, high=1.0, closed=(False, False), doc="er_sparse: edge probability"
    )
    sparse_deltas: tuple[float, ...] = param(
        (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15, 0.2),
        low=0.0,
        high=1.0,
        in_fingerprint=False,
        doc="er_sparse: fractions delta of differing edges",
    )
    eta: float = param(
        0.2, low=0.0, closed=(False, True), doc="regularization of grampa and grampa_rowsum"
    )
    qp_tol: float = param(
        1e-3, low=0.0, closed=(False, True), doc="ADMM stopping tolerance of qp (5000 steps max)"
    )
    refine_steps: int = param(0, low=0, doc="projected-power refinement steps after rounding")
    trials: int = param(10, low=1, in_fingerprint=False, doc="pairs per noise level")
    timing_pairs: int = param(
        2, low=1, in_fingerprint=False, doc="timed pairs per model and method (after a warm-up)"
    )
    chunk_size: int = param(10, low=1, in_fingerprint=False, doc="trials per compiled batch")

    def __post_init__(self) -> None:
        super().__post_init__()
        keys = ("methods", "models", "sigmas", "dense_deltas", "sparse_deltas")
        require_nonempty(self, *keys)
        for key in keys:
            values = getattr(self, key)
            if len(set(values)) != len(values):
                raise ConfigError(f"{key} must not repeat values; got {list(values)}")
        for name, q, deltas in (
            ("dense", self.dense_q, self.dense_deltas),
            ("sparse", self.sparse_q, self.sparse_deltas),
        ):
            if q * (1 + max(deltas)) > 1:
                raise ConfigError(
                    f"{name}_deltas must satisfy {name}_q (1 + delta) <= 1; "
                    f"got {name}_q={q} and delta={max(deltas)}"
                )

    def noise(self, model: str) -> tuple[float, ...]:
        """The noise grid of ``model``."""
        grids = {
            "gaussian": self.sigmas,
            "er_dense": self.dense_deltas,
            "er_sparse": self.sparse_deltas,
        }
        return grids[model]

    def edge_probability(self, model: str) -> float | None:
        """``q`` of an Erdős–Rényi model, ``None`` for the Gaussian model."""
        return {"er_dense": self.dense_q, "er_sparse": self.sparse_q}.get(model)

    def options(self, method: str) -> dict[str, float]:
        """Keyword options passed to ``similarity`` for ``method``."""
        if method in ("grampa", "grampa_rowsum"):
            return {"eta": self.eta}
        return {"tol": self.qp_tol} if method == "qp" else {}


def _sample(key: jax.Array, n: int, q: float | None, noise: jax.Array) -> GraphPair:
    """One pair of the Gaussian model (``q is None``) or of the correlated ER model."""
    if q is None:
        return correlated_wigner(key, n, noise)
    return correlated_erdos_renyi(key, n, q, noise)


def recovery_trial(
    n: int,
    q: float | None,
    method: str,
    options: tuple[tuple[str, float], ...],
    refine_steps: int,
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """The trial ``(key, noise) -> recovered fraction`` of one model and method.

    Draws a pair of the Gaussian model (``q is None``, ``noise = sigma``) or of the correlated
    Erdős–Rényi model with edge probability ``q`` (``noise = delta``), matches it by
    ``match(A, B, method, "auto", refine_steps, normalize=q is not None, **dict(options))``
    (0/1 graphs normalized for the methods that want it; exact rounding; on CPU
    ``scipy.optimize.linear_sum_assignment`` through ``jax.pure_callback``, which receives the
    whole vmapped chunk of each device in one host call) and returns
    ``recovery_fraction(perm_hat, perm)``. The noise level is a traced argument, so one
    compilation serves the whole grid.
    """

    def trial(key: jax.Array, noise: jax.Array) -> jax.Array:
        pair = _sample(key, n, q, noise)
        perm_hat = match(
            pair.A, pair.B, method, "auto", refine_steps, normalize=q is not None, **dict(options)
        )
        return recovery_fraction(perm_hat, pair.perm)

    return trial


def _seconds_per_pair(config: GrampaRecoveryConfig, method: str) -> float:
    """Mean wall time of one jitted ``match`` on prepared pairs, after a warm-up call."""
    options = config.options(method)

    @functools.partial(jax.jit, static_argnames="normalize")
    def run(A: jax.Array, B: jax.Array, normalize: bool) -> jax.Array:
        return match(A, B, method, "auto", config.refine_steps, normalize=normalize, **options)

    pairs = []
    for model in config.models:
        q, grid = config.edge_probability(model), config.noise(model)
        for t in range(config.timing_pairs):
            pair = _sample(trial_key(config.seed, t), config.n, q, grid[len(grid) // 2])
            pairs.append((*jax.block_until_ready((pair.A, pair.B)), q is not None))
    for normalize in {p[2] for p in pairs}:
        run(*next(p for p in pairs if p[2] == normalize)).block_until_ready()  # compile
    seconds = []
    for A, B, normalize in pairs:
        start = time.perf_counter()
        run(A, B, normalize).block_until_ready()
        seconds.append(time.perf_counter() - start)
    return float(np.mean(seconds))


def run(config: GrampaRecoveryConfig, ctx: RunContext) -> dict[str, Any]:
    dtype = jnp.result_type(float)
    recovery: dict[str, dict[str, np.ndarray]] = {}
    for method in config.methods:
        recovery[method] = {}
        for model in config.models:
            static = (
                config.n,
                config.edge_probability(model),
                method,
                tuple(sorted(config.options(method).items())),
                config.refine_steps,
            )
            trial = recovery_trial(*static)
            recovery[method][model] = np.stack(
                [
                    ctx.trials(
                        f"{model}.{method}.{noise!r}",
                        trial,
                        config.trials,
                        params=jnp.asarray(noise, dtype),
                        cache_key=static,
                    )
                    for noise in config.noise(model)
                ]
            )  # (noise levels, trials)
    seconds = {method: _seconds_per_pair(config, method) for method in config.methods}
    mean = {m: {k: r.mean(axis=1) for k, r in v.items()} for m, v in recovery.items()}
    stderr = {m: {k: _stderr(r) for k, r in v.items()} for m, v in recovery.items()}
    ctx.save_data(
        **{f"noise_{model}": np.asarray(config.noise(model)) for model in config.models},
        **{f"recovery_{k}_{m}": r for m, v in recovery.items() for k, r in v.items()},
        seconds=np.array([seconds[m] for m in config.methods]),
        methods=np.array(config.methods),
    )
    ctx.save_figure("grampa_recovery", _figure(config, mean, stderr, seconds))
    return {
        "methods": list(config.methods),
        "noise": {model: list(config.noise(model)) for model in config.models},
        "recovery": mean,
        "stderr": stderr,
        "seconds": seconds,
        "n": config.n,
        "trials": config.trials,
    }


def _stderr(r: np.ndarray) -> np.ndarray:
    """Standard error of the mean over the trial axis (zero for a single trial)."""
    if r.shape[1] < 2:
        return np.zeros(r.shape[0])
    return r.std(axis=1, ddof=1) / np.sqrt(r.shape[1])


@styled
def _figure(
    config: GrampaRecoveryConfig, mean: dict, stderr: dict, seconds: dict[str, float]
) -> Figure:
    fig, axes = new_figure(1, len(config.models), panel=(3.0, 2.6), extra_width=1.9, sharey=True)
    for ax, model in zip(axes[0], config.models, strict=True):
        for method in config.methods:
            errorbars(
                ax,
                config.noise(model),
                mean[method][model],
                stderr[method][model],
                label=f"{method} ({seconds[method]:.2g} s)",
            )
        q = config.edge_probability(model)
        ax.set_title(model if q is None else f"{model} (q = {q:g})")
        ax.set_xlabel(f"noise {_NOISE_LABEL[model]}")
        ax.set_ylim(-0.03, 1.03)
    axes[0, 0].set_ylabel("fraction of vertices recovered")
    legend_outside(axes[0, -1], title="method (s per pair)")
    fig.suptitle(
        f"Recovery vs noise, n = {config.n}, {config.trials} pairs per point (± one standard error)"
    )
    return fig


EXPERIMENT = register(
    Experiment(
        name="grampa_recovery",
        config_cls=GrampaRecoveryConfig,
        run=run,
        description="recovered fraction vs noise for GRAMPA and the baselines on three models",
    )
)
