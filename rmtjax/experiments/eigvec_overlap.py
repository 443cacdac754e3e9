"""Experiment ``eigvec_overlap``: the talk's "Motivation for GRAMPA" slides.

For correlated Erdős–Rényi graphs ``(A, B0)`` (``B0`` the un-permuted partner), the average over
trials of the squared overlaps ``<u_i, v_j>^2`` between the eigenvector ``u_i`` of ``A`` and the
eigenvectors ``v_j`` of ``B0``, ``j = i - w .. i + w`` (the talk: ``i = 100``, ``j = 80..120``,
``n = 500``, ``q = 1/2``, 1000 trials). Eigenvalues are in **decreasing** order and indices are
1-based, so ``u_1`` is the Perron eigenvector. At ``delta = 0`` the overlap is ``1`` at ``j = i``
and ``0`` elsewhere; as ``delta`` grows the mass spreads over neighbouring ``j``.

Figure ``eigvec_overlap.png``: one bar chart per ``delta`` of the mean overlap against ``j``,
with bars of one standard error; each panel has its own y-scale (at ``delta = 0.05`` the peak
is far below 1) and all share the x-range ``index ± window``.

``summary.json``: ``overlap`` (delta -> list of ``2w + 1`` mean overlaps), ``peak`` (delta ->
mean overlap at ``j = i``), ``n``, ``trials``, ``index``, ``j`` (the indices ``j``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from rmtjax._linalg import eigh
from rmtjax.experiments.config import ConfigError, ExperimentConfig, param, require_nonempty
from rmtjax.experiments.context import RunContext
from rmtjax.experiments.plotting import COLORS, new_figure, share_xrange, styled
from rmtjax.experiments.registry import Experiment, register
from rmtjax.graphs.models import correlated_erdos_renyi, unpermute

__all__ = ["EigvecOverlapConfig", "overlap_trial"]


@dataclasses.dataclass(frozen=True)
class EigvecOverlapConfig(ExperimentConfig):
    """Parameters of ``eigvec_overlap`` (defaults: the talk's figure)."""

    n: int = param(500, low=4, doc="number of vertices")
    q: float = param(0.5, low=0.0, high=1.0, closed=(False, False), doc="edge probability")
    deltas: tuple[float, ...] = param(
        (0.0, 0.001, 0.01, 0.05), low=0.0, high=1.0, doc="fractions of differing edges"
    )
    index: int = param(100, low=1, doc="i of u_i (1-based, eigenvalues in decreasing order)")
    window: int = param(20, low=0, doc="j runs over index - window .. index + window")
    trials: int = param(1000, low=1, in_fingerprint=False, doc="trials per delta")
    chunk_size: int = param(50, low=1, in_fingerprint=False, doc="trials per compiled batch")

    def __post_init__(self) -> None:
        super().__post_init__()
        require_nonempty(self, "deltas")
        if not (1 <= self.index - self.window and self.index + self.window <= self.n):
            raise ConfigError(
                f"index - window .. index + window must lie in 1..n={self.n}; "
                f"got {self.index - self.window}..{self.index + self.window}"
            )
        if max(self.deltas) * self.q > 1 - self.q:
            raise ConfigError(f"deltas must satisfy q (1 + delta) <= 1 for q={self.q}")


def overlap_trial(n: int, q: float, index: int, window: int):
    """The trial ``(key, deltas) -> (len(deltas), 2 window + 1)`` squared overlaps.

    One adjacency ``A`` per trial is shared by every ``delta`` (the models draw ``A`` from the
    same uniforms), so the curves for different ``delta`` use common random numbers.
    """
    # eigh sorts eigenvalues increasingly: 1-based decreasing index k sits at position n - k.
    positions = n - (index + jnp.arange(-window, window + 1))

    def aligned_b(key: jax.Array, delta: jax.Array) -> jax.Array:
        pair = correlated_erdos_renyi(key, n, q, delta)
        return unpermute(pair.B, pair.perm)

    def trial(key: jax.Array, deltas: jax.Array) -> jax.Array:
        a = correlated_erdos_renyi(key, n, q, 0.0).A
        bs = jax.vmap(aligned_b, in_axes=(None, 0))(key, deltas)
        vecs = eigh(jnp.concatenate([a[None], bs]))[1]
        return (vecs[0][:, n - index] @ vecs[1:][..., positions]) ** 2

    return trial


def run(config: EigvecOverlapConfig, ctx: RunContext) -> dict:
    static = (config.n, config.q, config.index, config.window)
    deltas = jnp.asarray(config.deltas, jnp.result_type(float))
    overlaps = ctx.trials(
        "overlaps", overlap_trial(*static), config.trials, params=deltas, cache_key=static
    )
    mean = overlaps.mean(axis=0)
    stderr = overlaps.std(axis=0) / np.sqrt(config.trials)
    j = np.arange(config.index - config.window, config.index + config.window + 1)
    ctx.save_data(j=j, deltas=np.asarray(config.deltas), mean=mean, stderr=stderr)
    ctx.save_figure("eigvec_overlap", _figure(config, j, mean, stderr))
    return {
        "overlap": {d: mean[k] for k, d in enumerate(config.deltas)},
        "peak": {d: mean[k, config.window] for k, d in enumerate(config.deltas)},
        "n": config.n,
        "trials": config.trials,
        "index": config.index,
        "j": j,
    }


@styled
def _figure(
    config: EigvecOverlapConfig, j: np.ndarray, mean: np.ndarray, stderr: np.ndarray
) -> Figure:
    fig, axes = new_figure(1, len(config.deltas), panel=(2.6, 2.4))
    for ax, delta, row, err in zip(axes[0], config.deltas, mean, stderr, strict=True):
        ax.bar(j, row, width=0.8, yerr=err, color=COLORS[0], ecolor=COLORS[1])
        ax.set_ylim(0, 1.08 * float(np.max(row + err)))  # each panel on its own scale
        ax.set_title(f"δ = {delta:g}")
        ax.set_xlabel("index j of $v_j$")
    share_xrange(axes)
    axes[0, 0].set_ylabel(rf"mean $\langle u_{{{config.index}}}, v_j\rangle^2$")
    fig.suptitle(
        f"Correlated ER graphs, n = {config.n}, q = {config.q:g}, {config.trials} trials "
        "(bars: ± one standard error)"
    )
    return fig


EXPERIMENT = register(
    Experiment(
        name="eigvec_overlap",
        config_cls=EigvecOverlapConfig,
        run=run,
        description="mean <u_i, v_j>^2 for correlated Erdős–Rényi graphs (Motivation for GRAMPA)",
    )
)
