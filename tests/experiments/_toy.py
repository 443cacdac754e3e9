"""A tiny test-only experiment: spectra of scaled GOE matrices, registered as ``toy``.

Trial: ``A = scale * (M + M^T) / sqrt(2 n)`` with ``M`` an ``n x n`` standard Gaussian matrix,
so off-diagonal entries have variance ``scale^2 / n``, diagonal ones ``2 scale^2 / n`` and
``E[tr(A^2) / n] = scale^2 (n + 1) / n`` — the oracle the tests check the summary against.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from rmtjax.experiments.config import ExperimentConfig, param
from rmtjax.experiments.context import RunContext
from rmtjax.experiments.registry import Experiment, register


@dataclasses.dataclass(frozen=True)
class ToyConfig(ExperimentConfig):
    chunk_size: int = param(5, low=1, in_fingerprint=False, doc="trials per chunk")
    n: int = param(4, low=2, high=64, doc="matrix size")
    scales: tuple[float, ...] = param((1.0, 2.0), low=0.0, closed=(False, True), doc="scales")
    trials: int = param(12, low=1, in_fingerprint=False, doc="trials per scale")


def goe_trial(n: int):
    """The trial function for size ``n`` (the engine caches its compiled chunk by ``n``)."""

    def trial(key: jax.Array, scale: jax.Array) -> dict[str, jax.Array]:
        m = jax.random.normal(key, (n, n))
        a = scale * (m + m.T) / jnp.sqrt(2.0 * n)
        return {"eig": jnp.linalg.eigvalsh(a), "m2": jnp.trace(a @ a) / n}

    return trial


def second_moment(scale: float, n: int) -> float:
    """``E[tr(A^2) / n]`` for the toy trial's matrix."""
    return scale**2 * (n + 1) / n


def run(config: ToyConfig, ctx: RunContext) -> dict:
    results = {
        s: ctx.trials(
            f"scale={s}",
            goe_trial(config.n),
            config.trials,
            params=jnp.float32(s),
            cache_key=config.n,
        )
        for s in config.scales
    }
    ctx.save_data(**{f"eig_{i}": r["eig"] for i, r in enumerate(results.values())})
    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    for s, r in results.items():
        ax.hist(r["eig"].ravel(), bins=10, histtype="step", label=f"scale {s}")
    ctx.save_figure("eigenvalues", fig)
    return {
        "m2": {s: np.mean(r["m2"]) for s, r in results.items()},
        "top": {s: np.mean(r["eig"][:, -1]) for s, r in results.items()},
        "n": config.n,
        "trials": config.trials,
    }


EXPERIMENT = register(
    Experiment(name="toy", config_cls=ToyConfig, run=run, description="test-only GOE spectra")
)
