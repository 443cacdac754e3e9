"""Experiment ``real_data_spectra``: the talk's "Simulations for input images from CIFAR-10".

Real images, centred, with the top ``pcs_removed`` principal components projected out (which
makes them far closer to orthogonal) and rows scaled to unit norm, go through ``trials``
independent random networks; the eigenvalues of the CK and the NTK are compared with the
Fan–Wang limits computed from ``mu0`` = the empirical spectrum of the processed input Gram
matrix ``X Xᵀ`` (histograms with the limit densities, ``ck_spectrum.png`` and
``ntk_spectrum.png``, and Kolmogorov–Smirnov distances, as in ``ck_ntk_spectra``).

Data (``dataset``): ``patches`` by default, 1500 random 32×32×3 patches (``d_0 = 3072``, as
CIFAR-10) of the photographs bundled with scikit-image and scikit-learn
(:func:`rmtjax.nets.image_patches`; ``configs/real_data_spectra_gpu.yaml`` has the talk's
``n = 5000``, ``d_l = 10000``); ``digits``, scikit-learn's 1797 images of dimension
``d_0 = 64`` (``gamma_0 = n/d_0 ≈ 28``: the input Gram matrix has rank at most
``64 - pcs_removed``); ``cifar10``, the python batches at ``data_path`` (the talk: 5000 random
training images, 10 PCs removed, ``L = 5``, ``d_l = 10000``, on an accelerator).
The Fan–Wang theory assumes ε-orthogonal inputs, ``max |x_αᵀ x_β| ≪ n^{-1/4}``; the summary
reports that diagnostic before and after the PC removal (patches: about 1.0 both times, since
overlapping and flat patches of one photograph nearly coincide).

Figures ``ck_spectrum.png`` and ``ntk_spectrum.png``: as in ``ck_ntk_spectra``, the full range
on a log density axis and a linear zoom on the bulk, with the limit density.

``summary.json``: ``ks_ck``, ``ks_ntk``, ``ks_ntk_surrogate`` (null when the limit is not
resolved), ``ks_ntk_vs_surrogate`` (as in ``ck_ntk_spectra``), ``n``,
``widths`` (``d_0, …, d_L``), ``seconds``, ``dataset`` (``"patches"``, ``"digits"`` or
``"cifar10"``), ``gamma0`` (``n/d_0``), ``gammas`` (``n/d_l``), ``pcs_removed``, ``max_inner`` and
``max_norm_dev`` (orthogonality of the processed inputs), ``max_inner_raw`` (of the raw images
with unit rows), ``n_quarter`` (``n^{-1/4}``), ``trials``, ``limit_mass``, ``unconverged`` (as
in ``ck_ntk_spectra``).

References:
  Z. Fan and Z. Wang, NeurIPS 2020, Section 3.1 (ε-orthogonality) and Figure 2 (CIFAR-10).
"""

from __future__ import annotations

import dataclasses
import time

from rmtjax.experiments.config import ConfigError, param
from rmtjax.experiments.context import RunContext
from rmtjax.experiments.kernel_spectra import KernelSpectraConfig, compare_with_limits, data_key
from rmtjax.experiments.registry import Experiment, register
from rmtjax.nets import (
    ImageData,
    image_patches,
    load_cifar10,
    load_digits,
    normalize_rows,
    orthogonality,
    remove_top_pcs,
)

__all__ = ["DATASETS", "RealDataSpectraConfig", "load_images"]


DATASETS = ("patches", "digits", "cifar10")
"""Inputs: photograph patches (CIFAR-10-like, offline), scikit-learn's digits, CIFAR-10 files."""

_DEFAULT_N = {"patches": 1500, "digits": 1797, "cifar10": 5000}


@dataclasses.dataclass(frozen=True)
class RealDataSpectraConfig(KernelSpectraConfig):
    """Parameters of ``real_data_spectra`` (defaults: photograph patches at a CPU size)."""

    dataset: str = param(
        "patches", choices=DATASETS, doc="patches (32x32x3 photographs), digits or cifar10"
    )
    data_path: str | None = param(
        None, doc="cifar10: the python batches (folder or file); required for that dataset"
    )
    n: int | None = param(
        None, low=2, doc="images (random subset); null: 1500 patches, all 1797 digits, 5000 CIFAR"
    )
    pcs_removed: int = param(10, low=0, doc="top principal components projected out")
    widths: tuple[int, ...] = param(
        (3000,) * 5, low=1, doc="hidden widths d_1..d_L (each >= n; the talk: 10000)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.dataset == "cifar10") != (self.data_path is not None):
            raise ConfigError(
                "data_path must be set exactly when dataset is 'cifar10'; got "
                f"dataset={self.dataset!r}, data_path={self.data_path!r}"
            )
        self.check_widths(self.n or _DEFAULT_N[self.dataset])


def load_images(config: RealDataSpectraConfig) -> tuple[str, ImageData]:
    """The dataset name and its images, a random subset of ``config.n`` drawn with the data key.

    ``patches``: :func:`rmtjax.nets.image_patches` (32×32×3, ``d_0 = 3072``; 1500 by default);
    ``digits``: scikit-learn's digits (all 1797 when ``n`` is null); ``cifar10``: the batches at
    ``config.data_path`` (5000 by default).
    """
    key = data_key(config.seed)
    n = config.n or _DEFAULT_N[config.dataset]
    if config.dataset == "patches":
        return "patches", image_patches(key, n)
    if config.dataset == "digits":
        return "digits", load_digits(config.n, key=None if config.n is None else key)
    return "cifar10", load_cifar10(config.data_path, n, key=key)


def run(config: RealDataSpectraConfig, ctx: RunContext) -> dict:
    start = time.perf_counter()
    dataset, images = load_images(config)
    n, d0 = images.X.shape
    if config.pcs_removed > min(n, d0) - 1:
        raise ConfigError(f"pcs_removed must be < min(n, d0) = {min(n, d0)}")
    X = normalize_rows(remove_top_pcs(images.X, config.pcs_removed))
    raw = orthogonality(normalize_rows(images.X))
    diag = orthogonality(X)
    label = f"{dataset}, n = {n}, d0 = {d0}, {config.pcs_removed} PCs removed"
    result = compare_with_limits(ctx, X, config, label=label, labels=images.y)
    return {
        **result,
        "seconds": time.perf_counter() - start,
        "dataset": dataset,
        "gamma0": n / d0,
        "pcs_removed": config.pcs_removed,
        "max_inner": float(diag.max_inner),
        "max_norm_dev": float(diag.max_norm_dev),
        "max_inner_raw": float(raw.max_inner),
        "n_quarter": n**-0.25,
    }


EXPERIMENT = register(
    Experiment(
        name="real_data_spectra",
        config_cls=RealDataSpectraConfig,
        run=run,
        description="CK and NTK spectra of real images (top PCs removed) vs Fan–Wang limits",
    )
)
