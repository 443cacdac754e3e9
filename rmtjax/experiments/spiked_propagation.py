"""Experiment ``spiked_propagation``: the talk's "Propagation of signal at random initialization".

Spiked inputs ``X = s_1 v_1 u_1ᵀ + s_2 v_2 u_2ᵀ + noise · G`` (rows = samples, ``G`` i.i.d.
``N(0, 1/d_0)``, ``u_k`` uniform on the sphere of ``R^{d_0}``) go through one random network;
the eigenvalues of every layer's Gram matrix ``X_l X_lᵀ`` (the talk's ``X_lᵀ X_l``),
``l = 0..L``, are recorded in two settings that share the noise, the ``u_k`` and the weights:
``dense`` (``v_k`` uniform on the sphere of ``R^n``) and ``sparse`` (``v_k`` supported on
``support`` = 20 random samples). Each layer's bulk edge comes from the limit law of the
noise alone: for ``l >= 1`` the upper support edge of the Fan–Wang CK law of layer ``l``,
``mu_l = rho_{gamma_l} ⊠ ((1 - b^2) + b^2 mu_{l-1})``, started from ``mu0`` = the spectrum of
the noise-only input Gram matrix; for ``l = 0`` the Marchenko–Pastur edge
``noise^2 (1 + sqrt(gamma_0))^2``, ``gamma_0 = n/d_0``. Eigenvalues above
``edge · (1 + margin)`` are reported as outliers. At layer 0 the outliers of a spike with
``θ = s/noise`` above the BBP threshold ``θ^2 > sqrt(gamma_0)`` sit at
``noise^2 (1 + θ^2)(gamma_0 + θ^2)/θ^2`` (Benaych-Georges and Nadakuditi 2012) in both
settings, since the Gaussian noise is rotation invariant; deeper layers treat the two
differently. Figure ``spiked_propagation.png``: one panel per layer (columns) and setting
(rows), histogram of the eigenvalues (log density), the bulk edge dashed, the outliers marked by
triangles on the axis; every panel has the same x-range, from 0 past the largest eigenvalue.

``summary.json``: ``edges`` (``(L + 1)`` bulk edges, shared by both settings), ``outliers``
(setting -> per layer, the eigenvalues beyond the edge, descending), ``n_outliers`` (setting
-> per layer counts), ``top`` (setting -> per layer, the ``top_k`` largest eigenvalues),
``bbp_layer0`` (predicted layer-0 outliers of the spikes above threshold), ``n``, ``widths``
(``d_0, …, d_L``), ``strengths``, ``support``, ``seconds``.

References:
  Z. Fan, talk "Applications of random matrix theory to graph matching and neural networks",
  slides "Propagation of signal at random initialization"; Z. Fan and Z. Wang, NeurIPS 2020,
  Theorem 3.4; F. Benaych-Georges and R. R. Nadakuditi, "The singular values and vectors of
  low rank perturbations of large rectangular random matrices", J. Multivariate Anal. 111
  (2012), Section 3.1.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from rmtjax._linalg import eigvalsh_stacked
from rmtjax.experiments.config import ConfigError, ExperimentConfig, param
from rmtjax.experiments.context import RunContext
from rmtjax.experiments.plotting import COLORS, new_figure, share_xrange, styled
from rmtjax.experiments.registry import Experiment, register
from rmtjax.nets import PRESETS, get_activation, init_mlp, layer_outputs, spiked_inputs
from rmtjax.spectra import DiscreteMeasure, LimitSpectrum

__all__ = ["SETTINGS", "SpikedPropagationConfig", "bulk_edges", "spiked_trial"]

SETTINGS = ("dense", "sparse")


@dataclasses.dataclass(frozen=True)
class SpikedPropagationConfig(ExperimentConfig):
    """Parameters of ``spiked_propagation``."""

    n: int = param(1500, low=2, doc="number of samples")
    d0: int = param(1000, low=1, doc="input dimension")
    widths: tuple[int, ...] = param((2000,) * 5, low=1, doc="hidden widths d_1..d_L")
    strengths: tuple[float, ...] = param((4.0, 2.5), low=0.0, doc="spike strengths s_k")
    support: int = param(20, low=1, doc="samples carrying each spike in the sparse setting")
    noise: float = param(1.0, low=0.0, closed=(False, True), doc="noise level")
    activation: str = param("arctan", choices=tuple(PRESETS), doc="activation (standardized)")
    margin: float = param(
        0.02, low=0.0, in_fingerprint=False, doc="outliers: eigenvalues > edge * (1 + margin)"
    )
    top_k: int = param(4, low=1, in_fingerprint=False, doc="largest eigenvalues reported per layer")
    grid: int = param(1024, low=16, in_fingerprint=False, doc="scan grid of the limit support")
    bins: int = param(80, low=2, in_fingerprint=False, doc="histogram bins")
    chunk_size: int = param(1, low=1, in_fingerprint=False, doc="trials per compiled batch")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.widths:
            raise ConfigError("widths must list at least one hidden width")
        if not self.strengths:
            raise ConfigError("strengths must list at least one spike")
        if self.support > self.n:
            raise ConfigError(f"support must be <= n = {self.n}; got {self.support}")
        if self.top_k > self.n:
            raise ConfigError(f"top_k must be <= n = {self.n}; got {self.top_k}")


def spiked_trial(
    n: int,
    widths: tuple[int, ...],
    strengths: tuple[float, ...],
    support: int,
    noise: float,
    activation: str,
):
    """The trial ``key -> {"dense", "sparse": (L + 1, n), "noise": (n,)}``.

    One draw of the spiked inputs (the two settings share the noise, the ``u_k`` and the
    Gaussian vectors behind ``v_k``) and of the network ``widths = (d_0, …, d_L)``;
    ``"dense"``/``"sparse"`` hold the ascending eigenvalues of ``X_l X_lᵀ`` for ``l = 0..L``,
    ``"noise"`` those of the noise-only input Gram matrix.
    """
    d0 = widths[0]

    def trial(key: jax.Array) -> dict[str, jax.Array]:
        k_in, k_net = jax.random.split(key)
        params = init_mlp(k_net, widths)
        grams = []
        for m in (None, support):
            spiked = spiked_inputs(k_in, n, d0, strengths, support=m, noise=noise)
            grams += [x @ x.T for x in layer_outputs(params, spiked.X, activation)]
        # Both settings add their spikes to the same noise: recover it from the last one.
        G = spiked.X - (spiked.v * jnp.asarray(strengths, spiked.X.dtype)) @ spiked.u.T
        values = eigvalsh_stacked(*grams, G @ G.T)
        depth = len(widths)
        return {
            SETTINGS[0]: values[:depth],
            SETTINGS[1]: values[depth:-1],
            "noise": values[-1],
        }

    return trial


def bulk_edges(
    noise_eigenvalues: np.ndarray,
    gammas: np.ndarray,
    gamma0: float,
    noise: float,
    activation: str,
    grid: int = 1024,
) -> np.ndarray:
    """Upper bulk edges of ``X_l X_lᵀ``, ``l = 0..L``, for noise-only inputs.

    ``l = 0``: the Marchenko–Pastur edge ``noise^2 (1 + sqrt(gamma_0))^2``. ``l >= 1``: the
    right end of the support of the CK law of layer ``l`` with ``mu0`` the given noise
    spectrum, obtained as the law of ``q_l X_l X_lᵀ`` with ``q = e_l`` in the general
    ``LimitSpectrum`` of depth ``L`` (the layers above ``l`` drop out of the recursion), so all
    layers share one compiled solver. Solved in float64 (``jax.enable_x64`` in this scope).

    Args:
      noise_eigenvalues: ``(n,)`` eigenvalues of the noise-only input Gram matrix.
      gammas: ``(L,)`` ratios ``n/d_l``.
      gamma0: ``n/d_0``.
      noise: the noise level.
      activation: preset name.
      grid: scan grid of ``LimitSpectrum.support``.

    Returns:
      ``(L + 1,)`` edges.

    References:
      Z. Fan and Z. Wang, NeurIPS 2020, Theorem 3.4.
    """
    L = len(gammas)
    edges = [noise**2 * (1 + np.sqrt(gamma0)) ** 2]
    with jax.enable_x64(True):  # the limits in float64, for this scope only
        mu0 = DiscreteMeasure(np.maximum(np.asarray(noise_eigenvalues, np.float64), 0.0))
        b = get_activation(activation).b
        for layer in range(1, L + 1):
            q = np.zeros(L + 2)
            q[layer + 1] = 1.0
            spectrum = LimitSpectrum.from_coefficients(mu0, gammas, b, q)
            edges.append(float(spectrum.support(grid=grid)[-1, 1]))
    return np.asarray(edges)


def _bbp_outliers(strengths: tuple[float, ...], gamma0: float, noise: float) -> list[float]:
    """Layer-0 outliers ``noise^2 (1 + θ^2)(gamma_0 + θ^2) / θ^2`` of the spikes ``θ = s/noise``.

    Only spikes above the BBP threshold ``θ^2 > sqrt(gamma_0)`` separate from the bulk.
    """
    theta2 = np.asarray(sorted(strengths, reverse=True)) ** 2 / noise**2
    above = theta2[theta2 > np.sqrt(gamma0)]
    return list(noise**2 * (1 + above) * (gamma0 + above) / above)


def run(config: SpikedPropagationConfig, ctx: RunContext) -> dict:
    start = time.perf_counter()
    widths = (config.d0, *config.widths)
    trial = spiked_trial(
        config.n, widths, config.strengths, config.support, config.noise, config.activation
    )
    out = jax.tree.map(lambda a: a[0], ctx.trials("spectra", trial, 1))
    gammas = config.n / np.asarray(config.widths, np.float64)
    gamma0 = config.n / config.d0
    edges = bulk_edges(out["noise"], gammas, gamma0, config.noise, config.activation, config.grid)
    outliers = {
        s: [row[row > e * (1 + config.margin)][::-1] for row, e in zip(out[s], edges, strict=True)]
        for s in SETTINGS
    }
    ctx.save_data(edges=edges, **out)
    ctx.save_figure("spiked_propagation", _figure(config, out, edges, outliers))
    return {
        "edges": edges,
        "outliers": outliers,
        "n_outliers": {s: [len(o) for o in outliers[s]] for s in SETTINGS},
        "top": {s: out[s][:, ::-1][:, : config.top_k] for s in SETTINGS},
        "bbp_layer0": _bbp_outliers(config.strengths, gamma0, config.noise),
        "n": config.n,
        "widths": list(widths),
        "strengths": list(config.strengths),
        "support": config.support,
        "seconds": time.perf_counter() - start,
    }


@styled
def _figure(
    config: SpikedPropagationConfig, out: dict, edges: np.ndarray, outliers: dict
) -> Figure:
    L = len(config.widths)
    fig, axes = new_figure(len(SETTINGS), L + 1, panel=(2.3, 2.0), sharex=True)
    titles = {"dense": "v uniform on the sphere", "sparse": f"v on {config.support} samples"}
    # One x-range for every panel, wide enough for the largest outlier and its marker.
    hi = 1.06 * max(float(np.max(out[s])) for s in SETTINGS)
    span = (0.0, max(hi, 1.06 * float(np.max(edges))))
    for row, setting in zip(axes, SETTINGS, strict=True):
        for layer, ax in enumerate(row):
            lam = out[setting][layer]
            ax.hist(lam, bins=config.bins, range=span, density=True, color=COLORS[0], alpha=0.7)
            ax.axvline(edges[layer], color="k", ls="--", lw=0.8)
            spikes = outliers[setting][layer]
            marks = ax.get_xaxis_transform()  # x in data, y in axes units: on the x-axis
            ax.plot(spikes, np.full_like(spikes, 0.04), "v", color=COLORS[1], transform=marks)
            ax.text(0.97, 0.95, f"{len(spikes)} outlier(s)", transform=ax.transAxes, ha="right")
            ax.set_yscale("log")
        row[0].set_ylabel(f"density\n{titles[setting]}")
    for layer, ax in enumerate(axes[0]):
        ax.set_title(f"layer {layer}")
    share_xrange(axes, *span)
    for ax in axes[-1]:
        ax.set_xlabel("eigenvalue of $X_l X_l^T$")
    fig.suptitle(
        f"n = {config.n}, d0 = {config.d0}, s = {list(config.strengths)}\n"
        "dashed: bulk edge of the noise-only limit; triangles: outliers"
    )
    return fig


EXPERIMENT = register(
    Experiment(
        name="spiked_propagation",
        config_cls=SpikedPropagationConfig,
        run=run,
        description="outlier eigenvalues of spiked inputs through the layers vs the bulk edge",
    )
)
