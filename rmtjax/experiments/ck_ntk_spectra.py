"""Experiment ``ck_ntk_spectra``: the talk's "Simulations for i.i.d. Gaussian X".

Inputs ``X`` (``n × d_0``, rows ``N(0, I/d_0)``, drawn once from the seed) go through
``trials`` independent random networks ``X_l = σ(X_{l-1} W_lᵀ)/sqrt(d_l)`` (Fan–Wang
parameterization, ``σ`` the standardized activation). The eigenvalues of the Conjugate Kernel
``X_L X_Lᵀ`` and of the Neural Tangent Kernel (structured, no Jacobian) are compared with their
limit laws (Fan and Wang, NeurIPS 2020, Theorems 3.4 and 3.7) computed from ``mu0`` = the
empirical spectrum of the input Gram matrix ``X Xᵀ`` and ``gamma_l = n/d_l``: histograms with
the limit densities (``ck_spectrum.png``, ``ntk_spectrum.png``) and the Kolmogorov–Smirnov
distance between the empirical spectral CDF (eigenvalues of all trials pooled) and the limit
CDF. Defaults: arctan, ``L = 5``, ``n = 3000``, ``d_0 = 1000``, ``d_1 = … = d_5 = 6000``.

The NTK converges to its limit more slowly than the CK: its deviation from the Fan–Wang
surrogate ``q_{-1} I + Σ q_l X_l X_lᵀ`` (same limit law) is ``O(d^{-1/2})``, global (the
norms of the readout and of ``S_l``) and per sample, and it moves the narrow NTK bulk. The
surrogate of the same network is therefore compared too: its KS distance is as small as the
CK's, and the NTK-vs-surrogate distance is the finite-width part of ``ks_ntk``.

Figures ``ck_spectrum.png`` and ``ntk_spectrum.png``: left, the full range of the eigenvalues
on a log density axis (the NTK's long tail and any outliers visible next to its peak); right,
a linear zoom on the bulk (the limit's 0.5%–80% quantiles); the limit density as a curve and,
for the NTK, the surrogate's histogram as an outline.

``summary.json``: ``ks_ck``, ``ks_ntk``, ``ks_ntk_surrogate`` (KS distances to the limit
CDFs; null, with a warning, when the limit grid does not carry mass 1 ± 1%),
``ks_ntk_vs_surrogate`` (two-sample KS between the NTK's and the surrogate's eigenvalues),
``n``, ``widths`` (``d_0, …, d_L``), ``seconds`` (wall time), ``gammas`` (``n/d_l``),
``trials``, ``limit_mass`` (kernel -> integrated limit density, ≈ 1), ``unconverged``
(kernel -> limit grid points whose solve did not converge, left out).

References:
  Z. Fan and Z. Wang, "Spectra of the Conjugate Kernel and Neural Tangent Kernel for
  linear-width neural networks", NeurIPS 2020, Section 3 and Figure 1.
"""

from __future__ import annotations

import dataclasses
import time

from rmtjax.experiments.config import param
from rmtjax.experiments.context import RunContext
from rmtjax.experiments.kernel_spectra import KernelSpectraConfig, compare_with_limits, data_key
from rmtjax.experiments.registry import Experiment, register
from rmtjax.nets import gaussian_inputs

__all__ = ["CkNtkSpectraConfig"]


@dataclasses.dataclass(frozen=True)
class CkNtkSpectraConfig(KernelSpectraConfig):
    """Parameters of ``ck_ntk_spectra`` (defaults: the talk's figure)."""

    n: int = param(3000, low=2, doc="number of samples")
    d0: int = param(1000, low=1, doc="input dimension")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_widths(self.n)


def run(config: CkNtkSpectraConfig, ctx: RunContext) -> dict:
    start = time.perf_counter()
    X = gaussian_inputs(data_key(config.seed), config.n, config.d0)
    label = f"Gaussian X, n = {config.n}, d0 = {config.d0}, L = {len(config.widths)}"
    result = compare_with_limits(ctx, X, config, label=label)
    return {**result, "seconds": time.perf_counter() - start}


EXPERIMENT = register(
    Experiment(
        name="ck_ntk_spectra",
        config_cls=CkNtkSpectraConfig,
        run=run,
        description="CK and NTK eigenvalues vs Fan–Wang limits for Gaussian inputs (KS distance)",
    )
)
