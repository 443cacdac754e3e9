"""The kernel-spectra experiments' shared core: config fields, the trial, the comparison.

``ck_ntk_spectra`` and ``real_data_spectra`` draw ``trials`` random networks on fixed inputs
``X`` (``n × d_0``), take the eigenvalues of the Conjugate Kernel ``X_L X_Lᵀ``, of the Neural
Tangent Kernel and of its Fan–Wang surrogate ``q_{-1} I + Σ q_l X_l X_lᵀ``, and compare them
with the Fan–Wang limit laws (:func:`rmtjax.spectra.ck_limit`, :func:`rmtjax.spectra.ntk_limit`)
through the Kolmogorov–Smirnov distance (:func:`rmtjax.spectra.ks_distance`) and histogram
figures (:func:`rmtjax.experiments.figures.spectrum_figure`). Each experiment subclasses
:class:`KernelSpectraConfig` with its input data and builds ``X``; this module does the rest.

References:
  Z. Fan and Z. Wang, "Spectra of the Conjugate Kernel and Neural Tangent Kernel for
  linear-width neural networks", NeurIPS 2020, Section 3.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import jax
import numpy as np
import scipy.stats

from rmtjax._linalg import eigvalsh_stacked
from rmtjax.experiments.config import ConfigError, ExperimentConfig, param
from rmtjax.experiments.figures import spectrum_figure
from rmtjax.nets import PRESETS, conjugate_kernel, init_mlp, ntk, ntk_surrogate
from rmtjax.spectra import (
    DiscreteMeasure,
    LimitCurve,
    ck_limit,
    ks_distance,
    limit_curve,
    ntk_limit,
)

__all__ = ["KernelSpectraConfig", "ck_ntk_trial", "compare_with_limits", "data_key"]

# Trial t uses fold_in(key(seed), t); the fixed inputs use this stream, which no trial reaches.
_DATA_STREAM = 2**32 - 1

# A limit grid whose density integrates to 1 +- this is trusted for KS distances.
_MASS_TOL = 1e-2


@dataclasses.dataclass(frozen=True)
class KernelSpectraConfig(ExperimentConfig):
    """Fields shared by the experiments that compare simulated CK/NTK spectra with their limits.

    Subclasses add their input data; each checks its sample count with :meth:`check_widths`
    (every hidden width must be at least the number of samples so that the limit laws have no
    atoms).
    """

    widths: tuple[int, ...] = param(
        (6000,) * 5, low=1, doc="hidden widths d_1..d_L (each >= n: limits without atoms)"
    )
    activation: str = param("arctan", choices=tuple(PRESETS), doc="activation (standardized)")
    trials: int = param(
        1, low=1, in_fingerprint=False, doc="independent networks on the same inputs (pooled)"
    )
    chunk_size: int = param(1, low=1, in_fingerprint=False, doc="networks per compiled batch")
    grid: int = param(1024, low=16, in_fingerprint=False, doc="grid points of the limit density")
    bins: int = param(100, low=2, in_fingerprint=False, doc="histogram bins")

    def check_widths(self, n: int) -> None:
        """Raise :class:`ConfigError` unless ``widths`` is non-empty and every width is ``>= n``."""
        if not self.widths:
            raise ConfigError("widths must list at least one hidden width")
        if min(self.widths) < n:
            raise ConfigError(f"widths must all be >= n = {n}; got {list(self.widths)}")


def data_key(seed: int) -> jax.Array:
    """The key of an experiment's fixed inputs: ``fold_in(key(seed), 2**32 - 1)``.

    Trials use ``fold_in(key(seed), t)`` for ``t < n_trials``, so the inputs are independent of
    every network draw.
    """
    return jax.random.fold_in(jax.random.key(seed), _DATA_STREAM)


def ck_ntk_trial(widths: tuple[int, ...], activation: str):
    """The trial ``(key, X) -> {"ck", "ntk", "ntk_surrogate"}``: one network's eigenvalues.

    Draws one network ``init_mlp(key, widths)`` and returns the ascending eigenvalues
    (``(n,)`` each) of ``K_CK = X_L X_Lᵀ``, of the structured ``K_NTK`` and of its Fan–Wang
    surrogate ``q_{-1} I + Σ q_l X_l X_lᵀ`` on the fixed inputs ``X``.
    """

    def trial(key: jax.Array, X: jax.Array) -> dict[str, jax.Array]:
        params = init_mlp(key, widths, X.dtype)
        kernels = {"ck": conjugate_kernel, "ntk": ntk, "ntk_surrogate": ntk_surrogate}
        values = eigvalsh_stacked(*(f(params, X, activation) for f in kernels.values()))
        return dict(zip(kernels, values, strict=True))

    return trial


def compare_with_limits(
    ctx: Any,
    X: jax.Array,
    config: KernelSpectraConfig,
    *,
    label: str,
    **data: Any,
) -> dict[str, Any]:
    """CK and NTK eigenvalues of ``config.trials`` networks on ``X`` against the Fan–Wang limits.

    The limits use ``mu0`` = the empirical spectrum of the input Gram matrix ``X Xᵀ`` and
    ``gamma_l = n / d_l``, and are solved in float64 (``jax.enable_x64`` for their scope only;
    in float32 the NTK solve fails near the edges at the talk's size). The NTK's surrogate
    ``q_{-1} I + Σ q_l X_l X_lᵀ`` of the same networks (:func:`rmtjax.nets.ntk_surrogate`) is
    held against the NTK limit too, and against the NTK's eigenvalues: the NTK converges to
    its limit more slowly than the CK (its deviation from the surrogate is ``O(d^{-1/2})``),
    and the two distances show which approximation a large ``ks_ntk`` comes from. Saves
    ``data.npz`` (eigenvalues ``input``, ``ck``, ``ntk``, ``ntk_surrogate`` of shape
    ``(trials, n)``, the limit grids ``{ck,ntk}_x``, ``_density``, ``_cdf``, and ``data``) and
    the figures ``ck_spectrum.png`` and ``ntk_spectrum.png`` (with the surrogate's histogram
    as an outline).

    Args:
      ctx: the run context.
      X: ``(n, d_0)`` inputs, rows of norm ≈ 1.
      config: the hidden widths, activation, ``trials`` (independent networks, eigenvalues
        pooled for the KS distance), limit ``grid`` points and histogram ``bins``.
      label: figure title prefix (the data and sizes).
      **data: further arrays for ``data.npz``.

    Returns:
      ``ks_ck``, ``ks_ntk``, ``ks_ntk_surrogate`` (KS distances to the limits; None, with a
      warning, when the limit grid carries a mass off 1 by more than 1%: the solver failed on
      part of the support), ``ks_ntk_vs_surrogate`` (two-sample KS distance between the NTK's
      and the surrogate's eigenvalues), ``n``, ``widths`` (``d_0, …, d_L``), ``gammas``,
      ``trials``, ``limit_mass`` and ``unconverged`` (kernel -> value).
    """
    n, d0 = X.shape
    widths, activation, trials = (d0, *config.widths), config.activation, config.trials
    out = ctx.trials("kernels", ck_ntk_trial(widths, activation), trials, params=X)
    mu0 = DiscreteMeasure.from_eigenvalues(X)
    gammas = n / np.asarray(config.widths, np.float64)
    limits = {"ck": ck_limit, "ntk": ntk_limit}
    with jax.enable_x64(True):  # the limits in float64 (scoped): the solver's tight tolerance
        mu0_64 = DiscreteMeasure(np.asarray(mu0.atoms, np.float64))
        curves = {
            k: limit_curve(f(mu0_64, gammas, activation), config.grid) for k, f in limits.items()
        }
    ks = {k: _checked_ks(out[k], curves[k.split("_")[0]], k) for k in out}
    arrays = {f"{k}_{f}": getattr(c, f) for k, c in curves.items() for f in ("x", "density", "cdf")}
    ctx.save_data(input=np.asarray(mu0.atoms), **out, **arrays, **data)
    surrogate = {"ntk": out["ntk_surrogate"]}
    for k, c in curves.items():
        shown = "n/a (limit not resolved)" if ks[k] is None else f"{ks[k]:.4f}"
        title = f"{label}: {k.upper()} ({trials} network(s)), KS = {shown}"
        figure = spectrum_figure(out[k], c, title, config.bins, surrogate=surrogate.get(k))
        ctx.save_figure(f"{k}_spectrum", figure)
    return {
        **{f"ks_{k}": v for k, v in ks.items()},
        "ks_ntk_vs_surrogate": _two_sample_ks(out["ntk"], out["ntk_surrogate"]),
        "n": n,
        "widths": list(widths),
        "gammas": gammas,
        "trials": trials,
        "limit_mass": {k: c.mass for k, c in curves.items()},
        "unconverged": {k: c.unconverged for k, c in curves.items()},
    }


def _two_sample_ks(a: Any, b: Any) -> float:
    """Kolmogorov–Smirnov distance between the pooled empirical CDFs of two spectra."""
    return float(scipy.stats.ks_2samp(np.ravel(a), np.ravel(b)).statistic)


def _checked_ks(eigenvalues: Any, curve: LimitCurve, name: str) -> float | None:
    """``ks_distance``, or None with a warning when the limit CDF is not resolved."""
    if abs(curve.mass - 1) > _MASS_TOL:
        warnings.warn(
            f"{name} limit: the density on the grid has mass {curve.mass:.4f} "
            f"({curve.unconverged} unconverged points: the fixed-point solver failed on part of "
            "the support); KS distance not reported.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return ks_distance(eigenvalues, curve)
