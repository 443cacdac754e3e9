"""Experiment ``training_phase_diagram``: spectral evolution over learning rate × optimizer.

Following Wang, Engel, Sarwate, Dumitriu and Chiang ("Spectral evolution and invariance in
linear-width neural networks", NeurIPS 2023), arctan networks of depth ``L`` and width ``d``
(optionally several widths) are trained on the single-index task of ``training_evolution``
(``y = s σ(vᵀx)``, ``x`` uniform on the sphere) by gradient descent, heavy-ball momentum
(0.9) and Adam, each at learning rates ``f · η_opt`` for the factors ``f`` in
``lr_factors``. All learning rates and ``seeds`` of one optimizer train at once under
``jax.vmap`` (one compilation: the learning rate is an ``optax.inject_hyperparams`` state
leaf). Per cell, averaged over seeds, at the end of training against initialization:

- ``ck_bulk_ratio``, ``ntk_bulk_ratio``: the 95th percentile of the eigenvalues below the
  initial ``λ_max`` (the bulk edge) over its initial value (1: the bulk is invariant),
- ``ck_outliers``, ``ntk_outliers``: eigenvalues above ``1.1 λ_max`` at initialization (the
  margin keeps the top of the bulk, which moves by a few percent, from counting),
- ``ck_alignment``: ``<u_1, Xv>² / ||Xv||²``, the top CK eigenvector against the index,
- ``r2_test``: held-out ``R²``,
- ``ck_tail_ratio``: ``(λ_{r/100} / λ_{r/2})`` at the end over its initial value, a tail
  heaviness index of the CK spectrum (1: unchanged shape), over its ``r`` non-null
  eigenvalues (``r = min(n, d)``: the rest are round-off).

Heat maps of each (rows: optimizers, columns: learning-rate factors; one figure per width)
in ``phase_diagram_d<width>.png``; ``data.npz`` holds every seed.

Measured at ``label_scale = 1`` (the talk's labels; n = 250, d0 = d = 200, 200 steps, two
seeds, 18 min on the shared 2-core CPU): every cell stays near the lazy regime: CK bulk
ratio 0.97–1.01, at most 1.5 CK outliers (momentum at the two largest rates), alignment of
``u_1`` with ``Xv`` ≤ 0.11 except momentum at ``4.0`` (0.48), held-out ``R²`` ≤ 0.61; GD's
bulk is invariant at small rates (0.965–0.975) and the NTK bulk *shrinks* at the largest
(0.55–0.59). The default ``label_scale = 3`` (the lazy/rich knob: scaling the labels by
``s`` is scaling the output by ``1/s``, Chizat and Bach's laziness parameter) moves the grid
into feature learning; see the README for its numbers.

``summary.json``: ``cells`` (``{"d<width>": {optimizer: {metric: [per factor]}}}``),
``learning_rates`` (``{optimizer: [f η_opt]}``), ``findings`` (the three claims of Wang et
al. checked on the grid: ``small_lr_gd_bulk_invariant``, ``large_lr_outliers_aligned``,
``adam_heavier_tail``), ``seconds``.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

from rmtjax.experiments.config import ConfigError, ExperimentConfig, param
from rmtjax.experiments.context import RunContext
from rmtjax.experiments.registry import Experiment, register
from rmtjax.experiments.training_evolution import task_data
from rmtjax.nets import MLP, PRESETS, TrackRecord, TrainConfig, init_state, train

__all__ = ["TrainingPhaseDiagramConfig", "cell_metrics"]

OPTIMIZERS = ("sgd", "momentum", "adam")
_MARGIN = 1.1  # outliers: above 1.1 x the largest eigenvalue at initialization
METRICS = (
    "ck_bulk_ratio",
    "ntk_bulk_ratio",
    "ck_outliers",
    "ntk_outliers",
    "ck_alignment",
    "r2_test",
    "ck_tail_ratio",
)


@dataclasses.dataclass(frozen=True)
class TrainingPhaseDiagramConfig(ExperimentConfig):
    """Parameters of ``training_phase_diagram`` (defaults: a reduced-width CPU preset)."""

    n: int = param(250, low=2, doc="training samples (the probe set)")
    n_test: int = param(250, low=1, doc="held-out samples")
    d0: int = param(200, low=1, doc="input dimension")
    widths: tuple[int, ...] = param((200,), low=1, doc="hidden widths d (one diagram each)")
    depth: int = param(3, low=1, doc="number of hidden layers L")
    activation: str = param("arctan", choices=tuple(PRESETS), doc="activation (standardized)")
    v_norm: float = param(1.0, low=0.0, closed=(False, True), doc="signal scale |v|/sqrt(d0)")
    label_scale: float = param(3.0, low=0.0, closed=(False, True), doc="label scale s")
    optimizers: tuple[str, ...] = param(OPTIMIZERS, choices=OPTIMIZERS, doc="optimizers (rows)")
    lr_sgd: float = param(20.0, low=0.0, closed=(False, True), doc="base learning rate of sgd")
    lr_momentum: float = param(2.0, low=0.0, closed=(False, True), doc="base lr of momentum")
    lr_adam: float = param(1e-3, low=0.0, closed=(False, True), doc="base learning rate of adam")
    lr_factors: tuple[float, ...] = param(
        (0.01, 0.1, 0.3, 1.0, 2.0), low=0.0, closed=(False, True), doc="learning-rate factors"
    )
    steps: int = param(200, low=1, doc="optimizer steps")
    seeds: int = param(2, low=1, doc="networks per cell (vmapped)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(set(self.optimizers)) != len(self.optimizers):
            raise ConfigError(f"optimizers must not repeat; got {list(self.optimizers)}")

    def learning_rates(self, optimizer: str) -> np.ndarray:
        """``f · η_opt`` for the factors ``f``."""
        return np.asarray(self.lr_factors) * getattr(self, f"lr_{optimizer}")


def cell_metrics(history: TrackRecord) -> dict[str, np.ndarray]:
    """The metrics of the module docstring from a two-point history ``(T = 2, B, ...)``.

    A network whose loss became non-finite gets NaN everywhere.
    """
    out = {}
    finite = np.isfinite(history.loss[-1])
    for name in ("ck", "ntk"):
        values = np.asarray(getattr(history, f"{name}_eigenvalues"))  # (2, B, p)
        top0 = values[0, :, :1]
        bulk = np.where(values <= top0, values, np.nan)
        q95 = np.nanpercentile(bulk, 95, axis=-1)
        out[f"{name}_bulk_ratio"] = q95[-1] / q95[0]
        out[f"{name}_outliers"] = np.sum(values[-1] > _MARGIN * top0, axis=-1).astype(float)
    ck = np.asarray(history.ck_eigenvalues)
    tail = _tail_index(ck, _numerical_rank(ck[0]))
    out["ck_tail_ratio"] = tail[-1] / tail[0]
    out["ck_alignment"] = np.asarray(history.ck_target_alignment[-1, :, 0])
    out["r2_test"] = np.asarray(history.r2_test[-1])
    return {k: np.where(finite, v, np.nan) for k, v in out.items()}


def _numerical_rank(values: np.ndarray) -> np.ndarray:
    """Per network, the number of eigenvalues above round-off: ``λ > p ε λ_max`` (``(B, p)``
    descending → ``(B,)``). A CK of width ``d < n`` has rank ``d``; its other eigenvalues are
    round-off and must not enter a ratio."""
    p = values.shape[-1]
    cutoff = p * np.finfo(values.dtype).eps * values[:, :1]
    return np.sum(values > cutoff, axis=-1)


def _tail_index(values: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """``λ_{r/100} / λ_{r/2}`` over the ``r = rank`` non-null eigenvalues (``(T, B, p)``
    descending, ``rank`` ``(B,)`` → ``(T, B)``)."""
    networks = np.arange(values.shape[1])
    top = np.maximum(rank // 100, 1) - 1
    return values[:, networks, top] / values[:, networks, rank // 2]


def run(config: TrainingPhaseDiagramConfig, ctx: RunContext) -> dict:
    start_time = time.perf_counter()
    data_key, train_key = jax.random.split(jax.random.key(config.seed))
    data = task_data(data_key, config)
    F, S = len(config.lr_factors), config.seeds
    keys = jax.random.split(train_key, S)
    cells, arrays = {}, {}
    for width in config.widths:
        model = MLP((config.d0,) + (width,) * config.depth, config.activation)
        per_width = {}
        for optimizer in config.optimizers:
            lrs = config.learning_rates(optimizer)
            metrics = _train_cell(config, model, data, optimizer, lrs, jnp.tile(keys, F))
            for name, values in metrics.items():
                arrays[f"d{width}_{optimizer}_{name}"] = values.reshape(F, S)
            per_width[optimizer] = {
                name: np.nanmean(values.reshape(F, S), axis=1) for name, values in metrics.items()
            }
        cells[f"d{width}"] = per_width
        ctx.save_figure(f"phase_diagram_d{width}", _figure(config, width, per_width))
    ctx.save_data(**arrays)
    return {
        "cells": cells,
        "learning_rates": {opt: config.learning_rates(opt) for opt in config.optimizers},
        "findings": _findings(config, cells),
        "seconds": time.perf_counter() - start_time,
    }


def _train_cell(config, model, data, optimizer, lrs, keys) -> dict[str, np.ndarray]:
    """Train ``F × S`` networks (learning rate major) at once; their :func:`cell_metrics`."""
    base = {
        "sgd": lambda: optax.inject_hyperparams(optax.sgd)(learning_rate=1.0),
        "momentum": lambda: optax.inject_hyperparams(optax.sgd)(learning_rate=1.0, momentum=0.9),
        "adam": lambda: optax.inject_hyperparams(optax.adam)(learning_rate=1.0),
    }[optimizer]()
    train_config = TrainConfig(steps=config.steps, track_every=config.steps, optimizer=base)
    state = init_state(keys, model, data.X, train_config)
    hyper = dict(state.opt_state.hyperparams)
    per_network = np.repeat(lrs, config.seeds).astype(hyper["learning_rate"].dtype)
    hyper["learning_rate"] = jnp.asarray(per_network)
    state = state._replace(opt_state=state.opt_state._replace(hyperparams=hyper))
    history = train(
        keys,
        model,
        data.X,
        data.y,
        train_config,
        target=data.index,
        X_test=data.X_test,
        y_test=data.y_test,
        state=state,
        nonfinite="continue",  # diverging learning rates are cells, not errors
    ).history
    return cell_metrics(history)


def _findings(config: TrainingPhaseDiagramConfig, cells: dict) -> dict:
    """Wang et al.'s three claims on the smallest width's grid.

    ``small_lr_gd_bulk_invariant``: at gradient descent's smallest rate both bulk ratios
    lie within 5% of 1 (None without "sgd"). ``large_lr_outliers_aligned`` (per optimizer):
    at its largest rate that did not diverge, at least one CK outlier and ``u_1`` aligned
    with ``Xv`` (> 0.5). ``adam_heavier_tail``: Adam's CK tail ratio at its largest rate
    exceeds gradient descent's by 10% (None without both).
    """
    grid = cells[f"d{min(config.widths)}"]

    def at_largest(opt: str) -> dict:
        finite = np.flatnonzero(np.isfinite(grid[opt]["r2_test"]))
        last = finite[-1] if finite.size else 0
        return {name: float(values[last]) for name, values in grid[opt].items()}

    out = {"small_lr_gd_bulk_invariant": None, "adam_heavier_tail": None}
    if "sgd" in grid:
        small = {name: values[0] for name, values in grid["sgd"].items()}
        out["small_lr_gd_bulk_invariant"] = bool(
            abs(small["ck_bulk_ratio"] - 1) < 0.05 and abs(small["ntk_bulk_ratio"] - 1) < 0.05
        )
    out["large_lr_outliers_aligned"] = {
        opt: bool(at_largest(opt)["ck_outliers"] >= 1 and at_largest(opt)["ck_alignment"] > 0.5)
        for opt in grid
    }
    if "sgd" in grid and "adam" in grid:
        adam, gd = at_largest("adam")["ck_tail_ratio"], at_largest("sgd")["ck_tail_ratio"]
        out["adam_heavier_tail"] = bool(adam > 1.1 * gd)
    return out


def _figure(config: TrainingPhaseDiagramConfig, width: int, grid: dict) -> Figure:
    fig = Figure(figsize=(3.2 * len(METRICS), 2.2 + 0.5 * len(grid)), layout="constrained")
    axes = fig.subplots(1, len(METRICS), squeeze=False)[0]
    rows = list(grid)
    for ax, metric in zip(axes, METRICS, strict=True):
        values = np.stack([grid[opt][metric] for opt in rows])
        image = ax.imshow(values, aspect="auto", cmap="viridis")
        fig.colorbar(image, ax=ax, shrink=0.8)
        for (i, j), v in np.ndenumerate(values):
            ax.text(
                j,
                i,
                "nan" if np.isnan(v) else f"{v:.2g}",
                ha="center",
                va="center",
                fontsize=7,
                color="w",
            )
        ax.set_xticks(range(len(config.lr_factors)), [f"{f:g}" for f in config.lr_factors])
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel("learning-rate factor")
        ax.set_title(metric, fontsize=9)
    fig.suptitle(
        f"Spectral phase diagram: L = {config.depth}, n = {config.n}, d = {width}, "
        f"{config.steps} steps, {config.seeds} seeds"
    )
    return fig


EXPERIMENT = register(
    Experiment(
        name="training_phase_diagram",
        config_cls=TrainingPhaseDiagramConfig,
        run=run,
        description="bulk edge, outliers, alignment and R² over learning rate x optimizer",
    )
)
