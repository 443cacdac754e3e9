"""Experiment ``training_evolution``: the talk's "Evolution of spectra over training" slide.

A depth-``L`` arctan network (``d_0 = d_1 = … = d_L = 800``, ``L = 3``) is trained on
``n = 1000`` inputs uniform on the unit sphere of ``R^{d_0}`` with labels ``y = s σ(vᵀx)``
(:func:`single_index_data`; ``σ`` the standardized activation, ``||v|| = r sqrt(d_0)``), with
``n_test`` held-out samples of the same law. :func:`rmtjax.nets.train` tracks the CK and NTK
spectra on the training set, their outliers above the upper edge of the Fan–Wang limit law
at initialization (``edge="limit"``) or above ``λ_max`` at initialization
(``edge="initial"``), the fraction of ``||y||²`` explained by their top eigenvectors, and
the alignment of each top eigenvector with the index direction ``Xv``.

The slide's four claims are checked by :func:`slide_criteria` (in ``summary.json`` under
``"slide"``). The defaults come from the search in ``benchmarks/search_training.py``
(results in ``benchmarks/search_training_results.md``): full-batch heavy-ball momentum
0.9 at learning rate 4, label scale ``s = 10``, signal scale ``r = 2``, 50 steps. The label
scale is the lazy/rich knob (scaling the labels by ``s`` scales the output by ``1/s``,
Chizat and Bach's laziness parameter): at ``s = 1`` every optimizer tried stays lazy or,
under weight decay, shrinks the bulk.

Measured at the defaults (seed 0, 675 s on the shared 2-core CPU): held-out ``R²`` 0.808
(the talk: 0.81); the top CK eigenvalue 13.2 → 139.5 and the top NTK eigenvalue 29.6 →
201.9 (large outliers; 7 CK and 58 NTK eigenvalues above the limit-law edges 13.5 and 31.4);
the NTK bulk elongates (95th percentile of the non-outliers ×1.34; ×1.55 at step 10) and the
top of the CK bulk moves from 12.6–11.3 to 16.2–14.5 (``λ_2..λ_5``), but the CK's 95th
percentile stays (×0.997); the top CK eigenvector alone explains 99.8% of ``||y||²`` (0.2% at
initialization; ``<u_1, Xv>² / ||Xv||² = 0.91``), the second 0.0004%.

Which slide criteria cannot hold together (search at n = 250, d = 200 and at the talk's size):
a visible second share and large outliers. Every run whose CK top eigenvalue grew past 1.5×
put < 2.3% of ``||y||²`` on ``u_2`` (``u_1``: 40–99.9%): the network's activation is the
target's link, so one learned feature ``σ(a vᵀx)`` carries the labels; a visible ``u_2``
share (0.117) appeared only without outliers (GD lr 20, s = 3, r = 2: top ratio 1.15). And
CK bulk elongation with large CK outliers: with bounded arctan features the trace
``Σ ||x_L||²`` is bounded, the spike takes its mass from the bulk (CK q95 ×0.52–0.997 in
every run with outliers; > 1 only in runs with CK top ratio ≤ 1.15).

Each tracking point is written at once to ``history/step_<step>.npz`` and the training state
to ``history/checkpoint.msgpack`` (a :class:`~rmtjax.experiments.store.HistoryStore`: atomic,
checksummed writes), so a killed run keeps what it tracked and a rerun with the same config
resumes from the last tracking point.

``summary.json``: ``r2_train``, ``r2_test`` (at the end), ``label_var_top2_ck`` and
``label_var_top2_ntk`` (``{"init", "end"}``: fraction of ``||y||²`` explained by the top-2
eigenvectors), ``target_alignment_ck`` (``{"init", "end"}``: ``<u_1, Xv>² / ||Xv||²``),
``n_outliers_ck`` and ``n_outliers_ntk`` (``{"init", "end"}``), ``edges`` (``{"ck", "ntk"}``),
``top5_ck`` and ``top5_ntk`` (``{"init", "end"}``: the five largest eigenvalues), ``slide``
(:func:`slide_criteria` at the end), ``steps``, ``seconds`` (wall time of this invocation).
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from rmtjax._params import param_like
from rmtjax.experiments.config import ExperimentConfig, fingerprint, param
from rmtjax.experiments.context import RunContext
from rmtjax.experiments.plotting import COLORS, legend_outside, new_figure, share_xrange, styled
from rmtjax.experiments.registry import Experiment, register
from rmtjax.experiments.store import HistoryStore
from rmtjax.nets import (
    MLP,
    OPTIMIZERS,
    PRESETS,
    TrackRecord,
    TrainConfig,
    get_activation,
    init_state,
    normalize_rows,
    train,
)
from rmtjax.nets.train import state_from_bytes, state_to_bytes

__all__ = ["SingleIndexData", "TrainingEvolutionConfig", "single_index_data", "slide_criteria"]

# TrainConfig fields the experiment exposes (validation and docs come from TrainConfig).
TRAIN_FIELDS = (
    "optimizer",
    "learning_rate",
    "weight_decay",
    "momentum",
    "schedule",
    "final_lr_fraction",
    "steps",
    "batch_size",
    "track_every",
    "top_k",
    "edge",
)


@dataclasses.dataclass(frozen=True)
class TrainingEvolutionConfig(ExperimentConfig):
    """Parameters of ``training_evolution`` (defaults: the talk's sizes; training from the
    search)."""

    n: int = param(1000, low=2, doc="training samples (also the probe set of the kernels)")
    n_test: int = param(1000, low=1, doc="held-out samples")
    d0: int = param(800, low=1, doc="input dimension")
    width: int = param(800, low=1, doc="hidden width d_1 = ... = d_L")
    depth: int = param(3, low=1, doc="number of hidden layers L")
    activation: str = param("arctan", choices=tuple(PRESETS), doc="activation (standardized)")
    v_norm: float = param(2.0, low=0.0, closed=(False, True), doc="signal scale r = |v|/sqrt(d0)")
    label_scale: float = param(10.0, low=0.0, closed=(False, True), doc="label scale s")
    optimizer: str = param_like(
        TrainConfig, "optimizer", "momentum", choices=OPTIMIZERS, doc="optimizer name"
    )
    learning_rate: float = param_like(TrainConfig, "learning_rate", 4.0)
    weight_decay: float = param_like(TrainConfig, "weight_decay")
    momentum: float | None = param_like(TrainConfig, "momentum")
    schedule: str = param_like(TrainConfig, "schedule")
    final_lr_fraction: float = param_like(TrainConfig, "final_lr_fraction")
    steps: int = param_like(TrainConfig, "steps", 50)
    batch_size: int | None = param_like(TrainConfig, "batch_size")
    track_every: int = param_like(TrainConfig, "track_every", 10)
    top_k: int = param_like(TrainConfig, "top_k", 2, low=2)
    edge: str = param_like(TrainConfig, "edge", "limit")
    snapshots: int = param(5, low=5, in_fingerprint=False, doc="spectra shown in the figure")

    def train_config(self) -> TrainConfig:
        """The :class:`~rmtjax.nets.TrainConfig` of this run."""
        return TrainConfig(**{name: getattr(self, name) for name in TRAIN_FIELDS})


class SingleIndexData(NamedTuple):
    """``(X, y, X_test, y_test, index)``: inputs ``(n, d_0)``, labels ``(n,)``, held-out
    inputs and labels, and the index ``Xv`` ``(n,)`` of the training inputs."""

    X: jax.Array
    y: jax.Array
    X_test: jax.Array
    y_test: jax.Array
    index: jax.Array


def single_index_data(
    key: jax.Array,
    n: int,
    n_test: int,
    d0: int,
    activation: str = "arctan",
    *,
    v_norm: float = 1.0,
    label_scale: float = 1.0,
) -> SingleIndexData:
    """Inputs uniform on the unit sphere of ``R^{d_0}`` and labels ``y = s σ(vᵀx)``.

    ``v`` is uniform on the sphere of radius ``r sqrt(d_0)`` (``r = v_norm``) and ``σ`` the
    standardized activation, so ``vᵀx`` is approximately ``N(0, r²)``; with ``r = s = 1``
    the labels have mean ≈ 0 and variance ≈ 1. ``r`` sets how nonlinear the target is (the
    share of ``||y||²`` outside the linear part ``vᵀx`` grows with ``r``), ``s`` the label
    scale.

    Args:
      key: a ``jax.random`` key.
      n: training samples.
      n_test: held-out samples.
      d0: input dimension.
      activation: preset name.
      v_norm: ``r = ||v|| / sqrt(d_0)``.
      label_scale: ``s``.

    Returns:
      :class:`SingleIndexData` ``(X, y, X_test, y_test, index)``.
    """
    k_train, k_test, k_v = jax.random.split(key, 3)
    X = normalize_rows(jax.random.normal(k_train, (n, d0)))
    X_test = normalize_rows(jax.random.normal(k_test, (n_test, d0)))
    v = v_norm * jnp.sqrt(d0) * normalize_rows(jax.random.normal(k_v, (1, d0)))[0]
    sigma = get_activation(activation)
    index = X @ v
    y, y_test = label_scale * sigma(index), label_scale * sigma(X_test @ v)
    return SingleIndexData(X, y, X_test, y_test, index)


def task_data(key: jax.Array, config: ExperimentConfig) -> SingleIndexData:
    """:func:`single_index_data` with the sizes and scales of ``config`` (any config with
    ``n``, ``n_test``, ``d0``, ``activation``, ``v_norm`` and ``label_scale``)."""
    return single_index_data(
        key,
        config.n,
        config.n_test,
        config.d0,
        config.activation,
        v_norm=config.v_norm,
        label_scale=config.label_scale,
    )


def slide_criteria(history: TrackRecord, t: int = -1, visible: float = 0.05) -> dict:
    """The talk's slide "Evolution of spectra over training" as numbers, at tracking point ``t``.

    Against tracking point 0 (initialization), with ``λ_1^{(0)}`` the largest eigenvalue
    there: ``ck_top_ratio``/``ntk_top_ratio`` ``= λ_1^{(t)} / λ_1^{(0)}`` (large outliers:
    ``> 1.5``); ``ck_bulk_ratio``/``ntk_bulk_ratio``: the 95th percentile of the eigenvalues
    ``≤ λ_1^{(0)}`` (the non-outliers) at ``t`` over that at 0 (the bulk elongates: ``> 1``);
    ``ck_share_1``, ``ck_share_2``: the fractions ``<u_i, y>² / ||y||²`` of the top two CK
    eigenvectors (together ``≥ 0.9``, each ``≥ visible``); ``r2_test`` (``0.75–0.87``, the
    talk's 0.81); ``holds``: all of these at once.

    Args:
      history: a :class:`~rmtjax.nets.train.TrackRecord` stacked over tracking points.
      t: tracking point index.
      visible: the smallest share of ``||y||²`` that counts as visible.

    Returns:
      A dict of floats and the bool ``holds``.
    """
    out = {"step": int(history.step[t]), "r2_test": float(history.r2_test[t])}
    for name in ("ck", "ntk"):
        values = np.asarray(getattr(history, f"{name}_eigenvalues"))
        top0 = values[0, 0]
        bulk = [np.percentile(values[i][values[i] <= top0], 95) for i in (0, t)]
        out[f"{name}_top_ratio"] = float(values[t, 0] / top0)
        out[f"{name}_bulk_ratio"] = float(bulk[1] / bulk[0])
    shares = np.diff(np.asarray(history.ck_label_var[t]), prepend=0.0)
    out["ck_share_1"], out["ck_share_2"] = float(shares[0]), float(shares[1])
    out["holds"] = bool(
        0.75 <= out["r2_test"] <= 0.87
        and min(out["ck_top_ratio"], out["ntk_top_ratio"]) > 1.5
        and min(out["ck_bulk_ratio"], out["ntk_bulk_ratio"]) > 1.0
        and shares[0] + shares[1] >= 0.9
        and min(shares[0], shares[1]) >= visible
    )
    return out


def run(config: TrainingEvolutionConfig, ctx: RunContext) -> dict:
    start_time = time.perf_counter()
    data_key, train_key = jax.random.split(jax.random.key(config.seed))
    data = task_data(data_key, config)
    model = MLP((config.d0,) + (config.width,) * config.depth, config.activation)
    train_config = config.train_config()
    store = HistoryStore(ctx.out_dir / "history", fingerprint(config), writer=ctx.is_writer)
    checkpoint = store.load_checkpoint()
    state = None
    if checkpoint is not None:
        template = init_state(train_key, model, data.X, train_config, bulk_edges=(1, 1))
        state = state_from_bytes(template, checkpoint)
    train(
        train_key,
        model,
        data.X,
        data.y,
        train_config,
        target=data.index,
        X_test=data.X_test,
        y_test=data.y_test,
        state=state,
        on_track=lambda record: store.save_record(int(record.step), record._asdict()),
        on_checkpoint=lambda state: store.save_checkpoint(state_to_bytes(state)),
    )
    records = store.records()
    history = TrackRecord(*(np.stack([r[k] for r in records]) for k in TrackRecord._fields))
    ctx.save_data(**history._asdict())
    ctx.save_figure("spectra", _spectra_figure(config, history))
    ctx.save_figure("top_eigenvalues", _top_figure(config, history))
    ctx.save_figure("label_variance", _label_figure(config, history))
    return {
        "r2_train": history.r2_train[-1],
        "r2_test": history.r2_test[-1],
        "label_var_top2_ck": _ends(history.ck_label_var[:, 1]),
        "label_var_top2_ntk": _ends(history.ntk_label_var[:, 1]),
        "target_alignment_ck": _ends(history.ck_target_alignment[:, 0]),
        "n_outliers_ck": _ends(history.ck_n_outliers),
        "n_outliers_ntk": _ends(history.ntk_n_outliers),
        "edges": {"ck": history.ck_edge[0], "ntk": history.ntk_edge[0]},
        "top5_ck": _ends(history.ck_eigenvalues[:, :5]),
        "top5_ntk": _ends(history.ntk_eigenvalues[:, :5]),
        "slide": slide_criteria(history),
        "steps": int(history.step[-1]),
        "seconds": time.perf_counter() - start_time,
    }


def _ends(values: np.ndarray) -> dict:
    return {"init": values[0], "end": values[-1]}


def _kernels(history: TrackRecord):
    return (
        ("CK", history.ck_eigenvalues, history.ck_edge),
        ("NTK", history.ntk_eigenvalues, history.ntk_edge),
    )


@styled
def _spectra_figure(config: TrainingEvolutionConfig, history: TrackRecord) -> Figure:
    """Histograms at ``snapshots`` or more evenly spaced tracking points (the first and the
    last included), with the outlier edge and the largest eigenvalue at initialization."""
    picks = _even_picks(len(history.step), config.snapshots)
    fig, axes = new_figure(2, len(picks), panel=(2.6, 2.4), extra_width=1.6)
    for row, (name, values, edges) in enumerate(_kernels(history)):
        top = max(float(values[:, 0].max()), float(edges[0])) * 1.05
        for col, t in enumerate(picks):
            ax = axes[row, col]
            ax.hist(values[t], bins=np.linspace(0.0, top, 80), color=COLORS[0], log=True)
            ax.axvline(edges[0], color=COLORS[1], lw=1, ls="--", label=f"edge ({config.edge})")
            ax.axvline(values[0, 0], color="k", lw=1, ls=":", label=r"$\lambda_{max}$ at init")
            ax.set_title(f"{name}, step {history.step[t]}")
            ax.set_xlabel("eigenvalue")
        axes[row, 0].set_ylabel("count (log scale)")
        share_xrange(axes[row], 0.0, top)
    legend_outside(axes[0, -1])
    fig.suptitle(
        f"Spectra over training: L = {config.depth}, n = {config.n}, d = {config.width}, "
        f"{config.activation}"
    )
    return fig


def _even_picks(T: int, at_least: int) -> np.ndarray:
    """Evenly spaced indices ``0, k, 2k, …, T − 1`` with ``k`` the largest divisor of
    ``T − 1`` giving at least ``at_least`` of them (all ``T`` when there are fewer)."""
    if T <= at_least:
        return np.arange(T)
    stride = max(k for k in range(1, T) if (T - 1) % k == 0 and (T - 1) // k + 1 >= at_least)
    return np.arange(0, T, stride)


@styled
def _top_figure(config: TrainingEvolutionConfig, history: TrackRecord) -> Figure:
    """The five largest CK and NTK eigenvalues over the steps, with the edges."""
    fig, axes = new_figure(1, 2, panel=(3.6, 2.8), extra_width=1.8)
    for ax, (name, values, edges) in zip(axes[0], _kernels(history), strict=True):
        for i in range(min(5, values.shape[1])):
            ax.plot(history.step, values[:, i], marker=".", label=rf"$\lambda_{i + 1}$")
        ax.axhline(edges[0], color="k", lw=1, ls="--", label=f"edge ({config.edge})")
        ax.axhline(1.5 * values[0, 0], color="k", lw=1, ls=":", label=r"1.5 $\lambda_{max}$(init)")
        ax.set_xlabel("step")
        ax.set_ylabel("eigenvalue")
        ax.set_title(f"top-5 {name} eigenvalues")
    legend_outside(axes[0, -1])
    return fig


@styled
def _label_figure(config: TrainingEvolutionConfig, history: TrackRecord) -> Figure:
    """Label fractions of the top eigenvectors and R² (train, held-out) from step 0."""
    fig, axes = new_figure(1, 2, panel=(3.6, 2.8))
    left, right = axes[0]
    for name, fractions, color in (
        ("CK", history.ck_label_var, COLORS[0]),
        ("NTK", history.ntk_label_var, COLORS[1]),
    ):
        left.plot(history.step, fractions[:, 1], color=color, label=f"top-2 {name}")
        left.plot(history.step, fractions[:, 0], color=color, ls=":", label=f"top-1 {name}")
    left.set_xlabel("step")
    left.set_ylabel(r"fraction of $\|y\|^2$ explained")
    left.set_ylim(0, 1.02)
    legend_outside(left, loc="below", ncols=2)
    right.plot(history.step, history.r2_train, marker=".", label="train")
    right.plot(history.step, history.r2_test, marker=".", label="held-out")
    right.set_xlabel("step")
    right.set_ylabel(r"$R^2$")
    low = float(np.nanmin(np.concatenate([history.r2_train, history.r2_test])))
    right.set_ylim(min(0.0, low) - 0.05, 1.02)
    legend_outside(right, loc="below")
    fig.suptitle(f"Labels in the top eigenvectors ({config.optimizer}, lr {config.learning_rate})")
    return fig


EXPERIMENT = register(
    Experiment(
        name="training_evolution",
        config_cls=TrainingEvolutionConfig,
        run=run,
        description="CK/NTK spectra, outliers and label alignment during training (talk's end)",
    )
)
