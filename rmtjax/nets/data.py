"""Input data for kernel-spectra experiments: rows = samples, ``X`` of shape ``(n, d_0)``.

The Fan–Wang theory needs approximately orthogonal inputs: ``||x_α||² ≈ 1`` and
``|x_αᵀ x_β| ≤ ε_n ≪ n^{-1/4}``. The generators below produce the talk's examples (Gaussian,
``Σ^{1/2} z``, Lipschitz ``f(z)``, spiked); :func:`orthogonality` measures ``ε_n``; real
images (CIFAR-10, 32×32 patches of bundled photographs, scikit-learn's digits) are made
near-orthogonal by
:func:`remove_top_pcs` and :func:`normalize_rows`.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rmtjax._checks import (
    check_data_matrix,
    check_finite,
    check_positive,
    check_square,
    check_symmetric,
    is_concrete,
)
from rmtjax._linalg import eigh
from rmtjax.activations import get_activation

__all__ = [
    "PHOTOGRAPHS",
    "ImageData",
    "Orthogonality",
    "SpikedInputs",
    "covariance_inputs",
    "gaussian_inputs",
    "image_patches",
    "lipschitz_inputs",
    "load_cifar10",
    "load_digits",
    "normalize_rows",
    "orthogonality",
    "remove_top_pcs",
    "spiked_inputs",
]


class Orthogonality(NamedTuple):
    """``max_inner = max_{α≠β} |x_αᵀ x_β|`` and ``max_norm_dev = max_α | ||x_α||² − 1 |``."""

    max_inner: jax.Array
    max_norm_dev: jax.Array


class SpikedInputs(NamedTuple):
    """``X = Σ_k s_k v_k u_kᵀ + noise``; ``u`` ``(d_0, r)``, ``v`` ``(n, r)`` have unit columns."""

    X: jax.Array
    u: jax.Array
    v: jax.Array


class ImageData(NamedTuple):
    """Flattened images ``X`` ``(n, p)`` with pixels in [0, 1], integer labels ``y`` ``(n,)``."""

    X: jax.Array
    y: jax.Array


def gaussian_inputs(key: jax.Array, n: int, d0: int, dtype: Any = None) -> jax.Array:
    """I.i.d. rows ``x_α ~ N(0, I / d_0)``, so ``||x_α||² = 1 + O(d_0^{-1/2})``.

    Args:
      key: a ``jax.random`` key.
      n: number of samples.
      d0: input dimension.
      dtype: floating dtype (default: JAX's default float).

    Returns:
      ``(n, d0)``.

    References:
      Fan and Wang (NeurIPS 2020), Section 3.1 (ε-orthogonal inputs, Gaussian example).

    Examples:
      >>> gaussian_inputs(jax.random.key(0), 3, 5).shape
      (3, 5)
    """
    _check_sizes(n=n, d0=d0)
    return jax.random.normal(key, (n, d0), dtype or jnp.result_type(float)) / np.sqrt(d0)


def covariance_inputs(key: jax.Array, n: int, cov: jax.Array) -> jax.Array:
    """Rows ``x_α = Σ^{1/2} z_α`` with ``z_α ~ N(0, I / d_0)``, i.e. ``x_α ~ N(0, Σ / d_0)``.

    ``E ||x_α||² = tr Σ / d_0``; scale ``Σ`` to ``tr Σ = d_0`` for unit-norm rows. ``Σ^{1/2}``
    is the symmetric square root (eigendecomposition, negative rounding errors clipped).

    Args:
      key: a ``jax.random`` key.
      n: number of samples.
      cov: ``Σ``, a symmetric PSD ``(d_0, d_0)`` matrix, or its diagonal ``(d_0,)``.

    Returns:
      ``(n, d_0)``.
    """
    _check_sizes(n=n)
    cov = jnp.asarray(cov)
    cov = cov if jnp.issubdtype(cov.dtype, jnp.floating) else cov.astype(float)
    if cov.ndim == 1:
        check_positive(cov, "cov", allow_zero=True)
        root = jnp.diag(jnp.sqrt(cov))
    else:
        check_square(cov, "cov")
        if cov.ndim != 2:
            raise ValueError(f"cov must be (d_0, d_0) or (d_0,); got shape {cov.shape}")
        check_symmetric(cov, "cov")
        evals, evecs = eigh(cov)
        root = (evecs * jnp.sqrt(jnp.clip(evals, 0.0))) @ evecs.T
    return gaussian_inputs(key, n, cov.shape[0], cov.dtype) @ root


def lipschitz_inputs(
    key: jax.Array,
    n: int,
    d0: int,
    f: Callable[[jax.Array], jax.Array] | None = None,
) -> jax.Array:
    """Rows ``x_α = f(z_α) / sqrt(d_0)``, ``z_α ~ N(0, I)``, ``f: R^{d_0} → R^{d_0}`` Lipschitz.

    Lipschitz images of a vector with a log-Sobolev law concentrate, which gives the
    ε-orthogonality the theory needs when ``E f(z) = 0`` and ``E ||f(z)||² ≈ d_0``. The
    default ``f`` applies the standardized tanh entrywise (mean 0, variance 1, Lipschitz).

    Args:
      key: a ``jax.random`` key.
      n: number of samples.
      d0: input dimension.
      f: map of one sample ``(d_0,) -> (d_0,)`` (applied with ``jax.vmap``).

    Returns:
      ``(n, d_0)``.

    References:
      Fan and Wang (NeurIPS 2020), Section 3.1, Proposition 3.3 (Lipschitz concentration).
    """
    _check_sizes(n=n, d0=d0)
    f = get_activation("tanh") if f is None else f
    z = jax.random.normal(key, (n, d0), jnp.result_type(float))
    X = jax.vmap(f)(z)
    if X.shape != (n, d0):
        raise ValueError(f"f must map (d_0,) to (d_0,) = ({d0},); got rows of shape {X.shape[1:]}")
    return X / np.sqrt(d0)


def spiked_inputs(
    key: jax.Array,
    n: int,
    d0: int,
    strengths: Sequence[float],
    *,
    support: int | None = None,
    noise: float = 1.0,
) -> SpikedInputs:
    """Spiked inputs ``X = Σ_k s_k v_k u_kᵀ + noise · G`` with ``G_{αi} ~ N(0, 1/d_0)``.

    In the talk's ``d_0 × n`` layout this is ``s_1 u_1 v_1ᵀ + s_2 u_2 v_2ᵀ + noise``: ``u_k``
    (feature directions) are uniform on the unit sphere of ``R^{d_0}``; ``v_k`` (sample
    loadings) are uniform on the unit sphere of ``R^n``, or, with ``support=m``, uniform on
    the unit sphere of ``m`` random samples (zero elsewhere). All directions independent.

    Args:
      key: a ``jax.random`` key.
      n: number of samples.
      d0: input dimension.
      strengths: ``(s_1, …, s_r)``.
      support: ``None`` (dense ``v``) or the number ``m <= n`` of samples carrying each spike.
      noise: noise level (``>= 0``).

    Returns:
      :class:`SpikedInputs` ``(X (n, d_0), u (d_0, r), v (n, r))``.

    Examples:
      >>> spiked = spiked_inputs(jax.random.key(0), 50, 40, (4.0, 3.0), support=10)
      >>> spiked.X.shape, int((spiked.v[:, 0] != 0).sum())
      ((50, 40), 10)

    References:
      Z. Fan, talk "Applications of random matrix theory to graph matching and neural
      networks" (2020), slides "Propagation of signal at random initialization".
    """
    _check_sizes(n=n, d0=d0)
    s = jnp.asarray(strengths, jnp.result_type(float))
    if s.ndim != 1 or s.size < 1:
        raise ValueError(f"strengths must be a non-empty sequence; got {strengths!r}")
    check_finite(s, "strengths")
    check_positive(noise, "noise", allow_zero=True)
    if support is not None and not (isinstance(support, int | np.integer) and 1 <= support <= n):
        raise ValueError(f"support must be None or an integer in [1, n={n}]; got {support!r}")
    r = s.size
    k_u, k_v, k_mask, k_noise = jax.random.split(key, 4)
    u = _unit_columns(jax.random.normal(k_u, (d0, r), s.dtype))
    v = jax.random.normal(k_v, (n, r), s.dtype)
    if support is not None:
        ranks = jnp.argsort(jax.random.uniform(k_mask, (n, r)), axis=0).argsort(axis=0)
        v = jnp.where(ranks < support, v, 0.0)
    v = _unit_columns(v)
    X = (v * s) @ u.T + noise * gaussian_inputs(k_noise, n, d0, s.dtype)
    return SpikedInputs(X, u, v)


def orthogonality(X: jax.Array) -> Orthogonality:
    """ε-orthogonality diagnostics: ``max_{α≠β} |x_αᵀ x_β|`` and ``max_α | ||x_α||² − 1 |``.

    Fan–Wang need ``max |x_αᵀ x_β| ≤ ε_n ≪ n^{-1/4}`` with ``||x_α||² ≈ 1``; i.i.d. data with
    ``d_0 ≍ n`` gives ``ε_n ≈ n^{-1/2}`` up to logs.

    Args:
      X: ``(..., n, d)``, rows = samples, ``n >= 2``.

    Returns:
      :class:`Orthogonality` with fields of shape ``(...)``.

    References:
      Fan and Wang (NeurIPS 2020), Definition 3.1 (ε-orthogonality).

    Examples:
      >>> d = orthogonality(jnp.array([[1.0, 0.0], [0.6, 0.8]]))
      >>> round(float(d.max_inner), 3), round(float(d.max_norm_dev), 3)
      (0.6, 0.0)
    """
    X = check_data_matrix(X)
    if X.shape[-2] < 2:
        raise ValueError(f"X needs at least 2 rows; got shape {X.shape}")
    gram = X @ jnp.swapaxes(X, -1, -2)
    diag = jnp.diagonal(gram, axis1=-2, axis2=-1)
    off = jnp.where(jnp.eye(gram.shape[-1], dtype=bool), 0.0, jnp.abs(gram))
    return Orthogonality(jnp.max(off, axis=(-2, -1)), jnp.max(jnp.abs(diag - 1.0), axis=-1))


def remove_top_pcs(X: jax.Array, k: int, *, center: bool = True) -> jax.Array:
    """Project out the top ``k`` principal components: ``X_c (I − V_k V_kᵀ)``.

    ``X_c`` is ``X`` with its column (feature) means removed when ``center=True``, and ``V_k``
    the top ``k`` right singular vectors of ``X_c``. Removing the dominant directions of real
    images makes them approximately orthogonal (the talk's CIFAR-10 simulation removes 10).
    Follow with :func:`normalize_rows` to restore ``||x_α|| = 1``.

    Args:
      X: ``(..., n, d)``, rows = samples.
      k: number of components, ``0 <= k <= min(n, d)``.
      center: subtract the column means first.

    Returns:
      ``(..., n, d)``.
    """
    X = check_data_matrix(X)
    if not isinstance(k, int | np.integer) or not 0 <= k <= min(X.shape[-2:]):
        raise ValueError(f"k must be an integer in [0, min(n, d) = {min(X.shape[-2:])}]; got {k!r}")
    if center:
        X = X - jnp.mean(X, axis=-2, keepdims=True)
    if k == 0:
        return X
    Vk = jnp.linalg.svd(X, full_matrices=False)[2][..., :k, :]
    return X - (X @ jnp.swapaxes(Vk, -1, -2)) @ Vk


def normalize_rows(X: jax.Array) -> jax.Array:
    """Scale each row to unit Euclidean norm: ``x_α / ||x_α||``.

    Args:
      X: ``(..., n, d)`` with no zero row.

    Returns:
      ``(..., n, d)``.

    Examples:
      >>> normalize_rows(jnp.array([[3.0, 4.0]])).tolist()
      [[0.6000000238418579, 0.800000011920929]]
    """
    X = check_data_matrix(X)
    norms = jnp.linalg.norm(X, axis=-1, keepdims=True)
    if is_concrete(norms) and bool(jnp.any(norms == 0)):
        raise ValueError("X has a zero row, which cannot be normalized")
    return X / norms


def load_cifar10(
    path: str | Path, n: int | None = None, *, key: jax.Array | None = None
) -> ImageData:
    """Load CIFAR-10 training images from the python-pickle batches.

    Reads ``data_batch_1`` … ``data_batch_5`` of ``cifar-10-batches-py`` (a pickled dict with
    ``b"data"`` ``(m, 3072)`` uint8 and ``b"labels"``), in order; ``path`` may be that folder
    or a single batch file. Pixels are scaled to [0, 1]; rows keep the channel-major layout.

    Args:
      path: folder holding ``data_batch_*`` or one batch file.
      n: number of images (default: all); with ``key``, a uniformly random subset of size
        ``n`` (the talk uses 5000 random training images), otherwise the first ``n``.
      key: optional ``jax.random`` key for the random subset.

    Returns:
      :class:`ImageData` ``(X (n, 3072) float, y (n,) int32)``.

    References:
      A. Krizhevsky, "Learning multiple layers of features from tiny images" (2009); file
      format at https://www.cs.toronto.edu/~kriz/cifar.html.
    """
    path = Path(path)
    files = sorted(path.glob("data_batch_*")) if path.is_dir() else [path]
    if not files or not files[0].exists():
        raise FileNotFoundError(f"no CIFAR-10 python batches (data_batch_*) found at {path}")
    data, labels = [], []
    for file in files:
        with open(file, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            raise ValueError(f"{file} is not a CIFAR-10 python batch (needs b'data', b'labels')")
        data.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3072))
        labels.append(np.asarray(batch[b"labels"], np.int32))
    return _subset(np.concatenate(data) / 255.0, np.concatenate(labels), n, key)


def load_digits(n: int | None = None, *, key: jax.Array | None = None) -> ImageData:
    """scikit-learn's bundled 8×8 handwritten digits (1797 images), pixels scaled to [0, 1].

    Args:
      n: number of images (default: all); with ``key`` a random subset, else the first ``n``.
      key: optional ``jax.random`` key.

    Returns:
      :class:`ImageData` ``(X (n, 64), y (n,) int32)``.

    Raises:
      ImportError: scikit-learn is not installed (it is an optional dependency).
    """
    try:
        from sklearn.datasets import load_digits as _sklearn_digits
    except ImportError as err:
        raise ImportError(
            "load_digits needs scikit-learn (optional dependency): pip install scikit-learn"
        ) from err
    digits = _sklearn_digits()
    return _subset(digits.data / 16.0, digits.target.astype(np.int32), n, key)


PHOTOGRAPHS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "immunohistochemistry",
    "china",
    "flower",
)
"""The colour photographs :func:`image_patches` cuts from: the first five ship inside the
scikit-image wheel (``skimage.data``), ``china`` and ``flower`` inside scikit-learn's
(``load_sample_images``); none is downloaded. (``hubble_deep_field`` and ``retina`` are left
out: their black areas give identical constant patches.)"""


def image_patches(key: jax.Array, n: int, size: int = 32) -> ImageData:
    """``n`` random ``size × size × 3`` patches of natural photographs, offline.

    A stand-in for CIFAR-10 (``size = 32`` gives ``d_0 = 3072``) on machines without its
    files: patch ``k`` comes from photograph ``k mod 7`` of :data:`PHOTOGRAPHS`, at a uniform
    random position (independent over patches, so two patches of one photograph may overlap);
    pixels are scaled to [0, 1] and flattened in ``(row, column, channel)`` order.

    Args:
      key: a ``jax.random`` key (positions).
      n: number of patches.
      size: side of a patch in pixels (at most 300, the smallest photograph's height).

    Returns:
      :class:`ImageData` ``(X (n, 3 size²), y (n,) int32)``, ``y`` the photograph's index.

    Raises:
      ImportError: scikit-image or scikit-learn is not installed.
    """
    _check_sizes(n=n, size=size)
    photos = _photographs()
    if size > min(p.shape[0] for p in photos):
        raise ValueError(f"size must be <= {min(p.shape[0] for p in photos)}; got {size}")
    y = np.arange(n) % len(photos)
    keys = jax.random.split(key, len(photos))
    X = np.empty((n, 3 * size * size), np.float32)
    for i, (photo, k) in enumerate(zip(photos, keys, strict=True)):
        rows = np.flatnonzero(y == i)
        limits = jnp.array(photo.shape[:2]) - size + 1
        corners = np.asarray(jax.random.randint(k, (rows.size, 2), 0, limits))
        r = corners[:, :1, None] + np.arange(size)[None, :, None]
        c = corners[:, None, :1] + np.arange(size)[None, None, :]
        X[rows] = photo[r, c].reshape(rows.size, -1)
    return ImageData(jnp.asarray(X, jnp.result_type(float)), jnp.asarray(y, jnp.int32))


def _photographs() -> list[np.ndarray]:
    """The photographs of :data:`PHOTOGRAPHS` as float32 ``(h, w, 3)`` arrays in [0, 1]."""
    try:
        import skimage.data
        from sklearn.datasets import load_sample_images
    except ImportError as err:
        raise ImportError(
            "image_patches needs scikit-image and scikit-learn: pip install scikit-image "
            "scikit-learn"
        ) from err
    bundled = dict(zip(("china", "flower"), load_sample_images().images, strict=True))
    photos = [bundled[n] if n in bundled else getattr(skimage.data, n)() for n in PHOTOGRAPHS]
    return [np.asarray(p[..., :3], np.float32) / 255.0 for p in photos]


def _subset(X: np.ndarray, y: np.ndarray, n: int | None, key: jax.Array | None) -> ImageData:
    total = X.shape[0]
    if n is None:
        n = total
    if not isinstance(n, int | np.integer) or not 1 <= n <= total:
        raise ValueError(f"n must be an integer in [1, {total}]; got {n!r}")
    idx = np.arange(n) if key is None else np.asarray(jax.random.choice(key, total, (n,), False))
    return ImageData(jnp.asarray(X[idx], jnp.result_type(float)), jnp.asarray(y[idx]))


def _unit_columns(A: jax.Array) -> jax.Array:
    return A / jnp.linalg.norm(A, axis=0, keepdims=True)


def _check_sizes(**sizes: Any) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
