"""Experiment ``dbm_profile``: Cauchy profile of eigenvector overlaps under Dyson Brownian motion.

For the Gaussian model ``B = A + sqrt(delta) Z`` (``A``, ``Z`` independent GOE, spectrum of ``A``
on ``[-2, 2]``), Benigni (2017) shows for bulk indices

    n E[<u_i, v_j>^2] ≈ delta / ((lambda_i - mu_j)^2 + C delta^2),

the Cauchy kernel that motivates GRAMPA (talk, "Motivation for GRAMPA"). In the rescaled variable
``t = (lambda_i - mu_j) / delta`` this reads ``delta * n E[<u_i, v_j>^2] ≈ 1 / (t^2 + C)``; the
experiment averages the left side over the central ``bulk`` fraction of indices ``i``, all ``j``,
and the trials, in bins of ``t``, then fits ``C`` by least squares. Free-probability heuristics
(Allez–Bouchaud) give ``C ≈ (pi rho_sc(lambda))^2``, i.e. ``C ≈ 1`` near the centre of the
semicircle.

Figure ``dbm_profile.png``: the binned profile (markers) and the fitted ``1 / (t^2 + C)``
(lines) against ``t``, one colour per ``delta``; the legend, with each fit's ``C`` and R², sits
to the right of the panel.

``summary.json``: ``C`` (delta -> fitted constant), ``r2`` (delta -> R² of the fit on the binned
profile), ``n``, ``trials``.

References:
  L. Benigni, "Eigenvectors distribution and quantum unique ergodicity for deformed Wigner
  matrices", arXiv:1711.07103. Fan, Mao, Wu, Xu, arXiv:1907.08880, Sec. 1.2.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure
from scipy.optimize import minimize_scalar

from rmtjax._linalg import eigh_stacked
from rmtjax.experiments.config import ExperimentConfig, param, require_nonempty
from rmtjax.experiments.context import RunContext
from rmtjax.experiments.plotting import legend_outside, new_figure, styled
from rmtjax.experiments.registry import Experiment, register
from rmtjax.graphs.models import correlated_wigner, unpermute

__all__ = ["DbmProfileConfig", "fit_cauchy_constant", "profile_trial"]


@dataclasses.dataclass(frozen=True)
class DbmProfileConfig(ExperimentConfig):
    """Parameters of ``dbm_profile``."""

    n: int = param(1000, low=8, doc="matrix size")
    deltas: tuple[float, ...] = param(
        (0.01, 0.02, 0.05), low=0.0, closed=(False, True), doc="DBM times (noise variances)"
    )
    bulk: float = param(
        0.2, low=0.0, high=1.0, closed=(False, True), doc="central fraction of indices i used"
    )
    span: float = param(8.0, low=0.0, closed=(False, True), doc="profile over |t| <= span")
    bins: int = param(64, low=4, doc="bins of t = (lambda_i - mu_j) / delta")
    trials: int = param(40, low=1, in_fingerprint=False, doc="trials per delta")
    chunk_size: int = param(8, low=1, in_fingerprint=False, doc="trials per compiled batch")

    def __post_init__(self) -> None:
        super().__post_init__()
        require_nonempty(self, "deltas")


def profile_trial(n: int, bulk: float, span: float, bins: int):
    """The trial ``(key, delta) -> {"sum", "count"}``, each ``(bins,)``.

    ``sum[b]`` adds ``delta * n <u_i, v_j>^2`` over the bulk ``i`` and all ``j`` whose
    ``t = (lambda_i - mu_j) / delta`` falls in bin ``b`` of ``[-span, span]``; ``count[b]``
    counts them.
    """
    k = max(1, round(bulk * n))
    rows = jnp.arange((n - k) // 2, (n - k) // 2 + k)

    def trial(key: jax.Array, delta: jax.Array) -> dict[str, jax.Array]:
        pair = correlated_wigner(key, n, jnp.sqrt(delta))
        (lam, u), (mu, v) = eigh_stacked(pair.A, unpermute(pair.B, pair.perm))
        t = (lam[rows, None] - mu[None, :]) / delta
        y = delta * n * (u[:, rows].T @ v) ** 2
        b = jnp.floor((t + span) / (2 * span) * bins).astype(jnp.int32)
        inside = (b >= 0) & (b < bins)
        b = jnp.where(inside, b, bins)  # out-of-range pairs go to a discarded extra bin
        sums = jax.ops.segment_sum(jnp.where(inside, y, 0).ravel(), b.ravel(), bins + 1)
        counts = jax.ops.segment_sum(inside.ravel().astype(y.dtype), b.ravel(), bins + 1)
        return {"sum": sums[:bins], "count": counts[:bins]}

    return trial


def fit_cauchy_constant(t: np.ndarray, profile: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of ``profile ≈ 1 / (t^2 + C)``; returns ``(C, R^2)``.

    Args:
      t: ``(m,)`` bin centres.
      profile: ``(m,)`` binned means of ``delta * n <u_i, v_j>^2``.

    Returns:
      The fitted ``C > 0`` and the coefficient of determination of the fit.
    """

    def loss(log_c: float) -> float:
        return float(np.sum((profile - 1 / (t**2 + np.exp(log_c))) ** 2))

    log_c = minimize_scalar(loss, bounds=(-8.0, 8.0), method="bounded").x
    r2 = 1 - loss(log_c) / float(np.sum((profile - profile.mean()) ** 2))
    return float(np.exp(log_c)), r2


def run(config: DbmProfileConfig, ctx: RunContext) -> dict:
    static = (config.n, config.bulk, config.span, config.bins)
    trial = profile_trial(*static)
    edges = np.linspace(-config.span, config.span, config.bins + 1)
    t = (edges[1:] + edges[:-1]) / 2
    profiles, fits = [], {}
    for delta in config.deltas:
        out = ctx.trials(
            f"delta={delta}", trial, config.trials, params=jnp.asarray(delta), cache_key=static
        )
        count = out["count"].sum(axis=0)
        profile = out["sum"].sum(axis=0) / np.maximum(count, 1)
        profiles.append(profile)
        seen = count > 0
        fits[delta] = fit_cauchy_constant(t[seen], profile[seen])
    ctx.save_data(t=t, deltas=np.asarray(config.deltas), profile=np.stack(profiles))
    ctx.save_figure("dbm_profile", _figure(config, t, profiles, fits))
    return {
        "C": {d: c for d, (c, _) in fits.items()},
        "r2": {d: r2 for d, (_, r2) in fits.items()},
        "n": config.n,
        "trials": config.trials,
    }


@styled
def _figure(config: DbmProfileConfig, t: np.ndarray, profiles: list, fits: dict) -> Figure:
    fig, axes = new_figure(panel=(3.6, 2.8), extra_width=2.0)
    ax = axes[0, 0]
    fine = np.linspace(t[0], t[-1], 400)
    for (delta, (c, r2)), profile in zip(fits.items(), profiles, strict=True):
        line = ax.plot(t, profile, "o", ms=3, label=f"δ = {delta:g}: C = {c:.3f}, R² = {r2:.3f}")
        ax.plot(fine, 1 / (fine**2 + c), "-", color=line[0].get_color(), lw=1)
    ax.set_xlabel(r"$t = (\lambda_i - \mu_j) / \delta$")
    ax.set_ylabel(r"$\delta \cdot n\, \mathbb{E}\langle u_i, v_j\rangle^2$")
    ax.set_title(f"DBM eigenvector overlaps, n = {config.n}; lines: fits 1/(t² + C)")
    legend_outside(ax)
    return fig


EXPERIMENT = register(
    Experiment(
        name="dbm_profile",
        config_cls=DbmProfileConfig,
        run=run,
        description="DBM overlap profile n E<u_i, v_j>^2 ≈ δ/((λ_i - μ_j)^2 + C δ^2), C fitted",
    )
)
