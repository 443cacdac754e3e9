"""Probability measures on the real line with their Stieltjes transforms.

Convention (the docs page "Mathematics and conventions"): ``m(z) = ∫ dmu(x) / (x - z)``, so
``Im m(z) > 0`` for ``Im z > 0`` and ``m(z) ~ -1/z`` at infinity; the density is
``rho(x) = lim_{eta→0} Im m(x + i eta) / pi``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtjax._checks import check_finite, check_positive, check_square, is_concrete
from rmtjax._linalg import eigvalsh

__all__ = [
    "DiscreteMeasure",
    "MarchenkoPastur",
    "Mixture",
    "Semicircle",
    "marchenko_pastur",
    "mixture",
    "semicircle",
]

Array = jax.Array


def _as_float(x: ArrayLike, name: str = "x") -> Array:
    """``x`` as a real floating array; strings and complex values raise ``TypeError``."""
    if isinstance(x, str | bytes):
        raise TypeError(f"{name} must be a real number or array; got the string {x!r}")
    x = jnp.asarray(x)
    if jnp.iscomplexobj(x):
        raise TypeError(f"{name} must be real; got complex dtype {x.dtype} (imaginary parts)")
    if not (jnp.issubdtype(x.dtype, jnp.number) or x.dtype == bool):
        raise TypeError(f"{name} must be a real number or array; got dtype {x.dtype}")
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))


def _as_complex(z: ArrayLike) -> Array:
    z = jnp.asarray(z)
    return z.astype(jnp.result_type(z.dtype, jnp.complex64))


def _sqrt_product(z: Array, lo: Array, hi: Array) -> Array:
    """``sqrt(z - lo) sqrt(z - hi)``: analytic off ``[lo, hi]``, ``~ z`` at infinity."""
    return jnp.sqrt(z - lo) * jnp.sqrt(z - hi)


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, init=False)
class DiscreteMeasure:
    """A finite atomic measure ``mu = sum_i w_i delta_{x_i}``.

    The empirical spectral measure of an ``(n, n)`` kernel is one (equal weights ``1/n``).

    Attributes:
      atoms: ``(N,)`` real atom locations ``x_i``.
      weights: ``(N,)`` non-negative weights ``w_i`` summing to 1.
    """

    atoms: Array
    weights: Array

    def __init__(self, atoms: ArrayLike, weights: ArrayLike | None = None) -> None:
        atoms = _as_float(atoms, "atoms")
        if atoms.ndim != 1 or atoms.shape[0] == 0:
            raise ValueError(f"atoms must be a non-empty 1-D array; got shape {atoms.shape}")
        check_finite(atoms, "atoms")
        if weights is None:
            weights = jnp.full(atoms.shape, 1.0 / atoms.shape[0], atoms.dtype)
        weights = _as_float(weights, "weights").astype(atoms.dtype)
        if weights.shape != atoms.shape:
            raise ValueError(
                f"weights must have the shape of atoms {atoms.shape}; got {weights.shape}"
            )
        check_positive(weights, "weights", allow_zero=True)
        if is_concrete(weights):
            total = float(np.sum(np.asarray(weights, dtype=np.float64)))
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"weights must sum to 1; got sum {total:.8g}")
        object.__setattr__(self, "atoms", atoms)
        object.__setattr__(self, "weights", weights)

    def tree_flatten(self) -> tuple[tuple[Array, Array], None]:
        return (self.atoms, self.weights), None

    @classmethod
    def tree_unflatten(cls, _: None, children: tuple[Array, Array]) -> DiscreteMeasure:
        # Bypass ``__init__``: JAX rebuilds the node from tracers or placeholders.
        obj = object.__new__(cls)
        object.__setattr__(obj, "atoms", children[0])
        object.__setattr__(obj, "weights", children[1])
        return obj

    @classmethod
    def from_eigenvalues(cls, X: ArrayLike) -> DiscreteMeasure:
        """Empirical spectral measure of ``X X^T`` for a data matrix ``X: (n, d)``.

        Args:
          X: ``(n, d)`` real matrix, rows = samples.

        Returns:
          The measure ``(1/n) sum_i delta_{lambda_i(X X^T)}`` (n atoms, clipped at 0).
        """
        X = _as_float(X, "X")
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D (n, d) matrix; got shape {X.shape}")
        check_finite(X, "X")
        # X X^T is PSD: clip the rounding-level negative eigenvalues of a rank-deficient X.
        return cls(jnp.maximum(eigvalsh(X @ X.T), 0.0))

    @classmethod
    def from_kernel(cls, K: Any) -> DiscreteMeasure:
        """Empirical spectral measure of a symmetric kernel matrix ``K: (n, n)``."""
        K = _as_float(K, "K")
        check_square(K, "K")
        check_finite(K, "K")
        return cls(eigvalsh(K))

    def stieltjes(self, z: ArrayLike) -> Array:
        """``m(z) = sum_i w_i / (x_i - z)`` for ``z`` of any shape (complex result)."""
        z = _as_complex(z)
        return jnp.sum(self.weights / (self.atoms - z[..., None]), axis=-1)

    def mean(self) -> Array:
        """``sum_i w_i x_i``."""
        return jnp.sum(self.weights * self.atoms)

    def bounds(self) -> tuple[Array, Array]:
        """``(min_i x_i, max_i x_i)``, an interval that holds the support."""
        return jnp.min(self.atoms), jnp.max(self.atoms)

    def moments(self, k: int) -> Array:
        """Moments ``(m_0, ..., m_k)`` with ``m_j = sum_i w_i x_i^j``; shape ``(k + 1,)``."""
        powers = self.atoms[None, :] ** jnp.arange(k + 1)[:, None]
        return powers @ self.weights

    def pushforward(self, scale: ArrayLike, shift: ArrayLike = 0.0) -> DiscreteMeasure:
        """Law of ``shift + scale * x`` for ``x ~ mu`` (same weights)."""
        return DiscreteMeasure(shift + scale * self.atoms, self.weights)

    def thin(self, k: int) -> DiscreteMeasure:
        """``k`` equal-weight atoms at the quantiles ``(j + 1/2)/k`` of ``mu`` (j = 0..k-1).

        This is the discretization SPECTRODE applies to its input (it keeps 100 quantiles);
        the scale benchmark measures the error it causes.

        References:
          E. Dobriban, "Efficient computation of limit spectra of sample covariance
          matrices", Random Matrices: Theory Appl. 4(4), 2015, §3.
        """
        order = jnp.argsort(self.atoms)
        cdf = jnp.cumsum(self.weights[order])
        levels = (jnp.arange(k) + 0.5) / k
        idx = jnp.minimum(jnp.searchsorted(cdf, levels), self.atoms.shape[0] - 1)
        return DiscreteMeasure(self.atoms[order][idx])


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class MarchenkoPastur:
    """The Marchenko–Pastur law ``rho_gamma`` (mean 1, variance ``gamma``).

    It is the limit spectrum of the ``n x n`` matrix ``G^T G / d`` for ``G: (d, n)`` with iid
    standard entries and ``gamma = n/d``. With ``a, b = (1 ∓ sqrt(gamma))^2``,
    ``m(z) = (1 - gamma - z + sqrt(z - a) sqrt(z - b)) / (2 gamma z)``, density
    ``sqrt((b - x)(x - a)) / (2 pi gamma x)`` on ``[a, b]`` and an atom of mass
    ``(1 - 1/gamma)_+`` at 0.

    References:
      V. Marchenko, L. Pastur, Math. USSR-Sbornik 1(4), 1967.
    """

    gamma: Array

    def edges(self) -> tuple[Array, Array]:
        """``(a, b) = ((1 - sqrt(gamma))^2, (1 + sqrt(gamma))^2)``."""
        r = jnp.sqrt(self.gamma)
        return (1 - r) ** 2, (1 + r) ** 2

    def stieltjes(self, z: ArrayLike) -> Array:
        """Closed-form ``m(z)`` for ``z`` of any shape (analytic off the support)."""
        z = _as_complex(z)
        a, b = self.edges()
        return (1 - self.gamma - z + _sqrt_product(z, a, b)) / (2 * self.gamma * z)

    def density(self, x: ArrayLike) -> Array:
        """Absolutely continuous density at real ``x`` (the atom at 0 excluded)."""
        x = _as_float(x)
        a, b = self.edges()
        inside = (x > a) & (x < b)
        safe = jnp.where(inside, x, (a + b) / 2)
        rho = jnp.sqrt((b - safe) * (safe - a)) / (2 * jnp.pi * self.gamma * safe)
        return jnp.where(inside, rho, 0.0)

    def mean(self) -> Array:
        """The mean, 1."""
        return jnp.ones_like(self.gamma)

    def bounds(self) -> tuple[Array, Array]:
        """``(0, b)``, an interval that holds the support (with the atom at 0)."""
        return jnp.zeros_like(self.gamma), self.edges()[1]

    def atom_at_zero(self) -> Array:
        """Mass ``(1 - 1/gamma)_+`` of the atom at 0."""
        return jnp.maximum(1 - 1 / self.gamma, 0.0)

    def support(self) -> np.ndarray:
        """Support of the continuous part as a ``(1, 2)`` array ``[[a, b]]``."""
        return np.asarray([self.edges()], dtype=float)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Semicircle:
    """Wigner's semicircle law with variance ``var`` on ``[-2 sqrt(var), 2 sqrt(var)]``.

    ``m(z) = (-z + sqrt(z - 2s) sqrt(z + 2s)) / (2 var)`` with ``s = sqrt(var)``, density
    ``sqrt(4 var - x^2) / (2 pi var)``.

    References:
      E. Wigner, Ann. Math. 67(2), 1958.
    """

    var: Array

    def stieltjes(self, z: ArrayLike) -> Array:
        """Closed-form ``m(z)`` for ``z`` of any shape."""
        z = _as_complex(z)
        edge = 2 * jnp.sqrt(self.var)
        return (-z + _sqrt_product(z, -edge, edge)) / (2 * self.var)

    def mean(self) -> Array:
        """The mean, 0."""
        return jnp.zeros_like(self.var)

    def bounds(self) -> tuple[Array, Array]:
        """``(-2 sqrt(var), 2 sqrt(var))``."""
        edge = 2 * jnp.sqrt(self.var)
        return -edge, edge

    def density(self, x: ArrayLike) -> Array:
        """Density at real ``x``."""
        x = _as_float(x)
        return jnp.sqrt(jnp.maximum(4 * self.var - x**2, 0.0)) / (2 * jnp.pi * self.var)

    def support(self) -> np.ndarray:
        """``[[-2 sqrt(var), 2 sqrt(var)]]``."""
        edge = 2 * np.sqrt(float(self.var))
        return np.asarray([[-edge, edge]])


def _scalar(x: ArrayLike, name: str) -> Array:
    x = _as_float(x, name)
    if x.shape:
        raise ValueError(f"{name} must be a scalar; got shape {x.shape}")
    check_positive(x, name)
    return x


def marchenko_pastur(gamma: ArrayLike) -> MarchenkoPastur:
    """The Marchenko–Pastur law with ratio ``gamma = n/d > 0`` (see :class:`MarchenkoPastur`)."""
    return MarchenkoPastur(_scalar(gamma, "gamma"))


def semicircle(var: ArrayLike = 1.0) -> Semicircle:
    """The semicircle law with variance ``var > 0`` (see :class:`Semicircle`)."""
    return Semicircle(_scalar(var, "var"))


@functools.partial(
    jax.tree_util.register_dataclass, data_fields=["components", "weights"], meta_fields=[]
)
@dataclasses.dataclass(frozen=True)
class Mixture:
    """A mixture ``mu = sum_i p_i mu_i`` of measures (atoms, Marchenko–Pastur, semicircle, ...).

    ``m_mu(z) = sum_i p_i m_{mu_i}(z)``; the mean and the bounds of the support combine the
    same way. Build one with :func:`mixture`.

    Attributes:
      components: tuple of measures, each with ``stieltjes``, ``mean`` and ``bounds``.
      weights: ``(k,)`` mixing weights ``p_i >= 0`` summing to 1.
    """

    components: tuple[Any, ...]
    weights: Array

    def stieltjes(self, z: ArrayLike) -> Array:
        """``m(z) = sum_i p_i m_i(z)`` for ``z`` of any shape."""
        z = _as_complex(z)
        return sum(p * mu.stieltjes(z) for p, mu in zip(self.weights, self.components, strict=True))

    def mean(self) -> Array:
        """``sum_i p_i mean(mu_i)``."""
        return sum(p * mu.mean() for p, mu in zip(self.weights, self.components, strict=True))

    def bounds(self) -> tuple[Array, Array]:
        """The smallest interval that holds every component's bounds."""
        lows, highs = zip(*(mu.bounds() for mu in self.components), strict=True)
        return jnp.min(jnp.stack(lows)), jnp.max(jnp.stack(highs))


def mixture(components: Any, weights: ArrayLike | None = None) -> Mixture:
    """The mixture ``sum_i p_i mu_i`` (equal weights by default; see :class:`Mixture`).

    Args:
      components: a non-empty sequence of measures, each with ``.stieltjes``, ``.mean`` and
        ``.bounds`` (:class:`DiscreteMeasure`, :class:`MarchenkoPastur`, :class:`Semicircle`,
        :class:`Mixture`).
      weights: ``(k,)`` non-negative weights summing to 1.

    Example:
      >>> mu = mixture([DiscreteMeasure([0.0]), marchenko_pastur(0.5)], [0.2, 0.8])
      >>> round(float(mu.mean()), 6)
      0.8
    """
    components = tuple(components) if isinstance(components, list | tuple) else None
    if not components:
        raise TypeError("components must be a non-empty list or tuple of measures")
    for i, mu in enumerate(components):
        if not all(hasattr(mu, attr) for attr in ("stieltjes", "mean", "bounds")):
            raise TypeError(
                f"components[{i}] must be a measure with stieltjes, mean and bounds; got {mu!r}"
            )
    k = len(components)
    weights = jnp.full((k,), 1.0 / k) if weights is None else _as_float(weights, "weights")
    if weights.shape != (k,):
        raise ValueError(f"weights must have shape ({k},) like components; got {weights.shape}")
    check_positive(weights, "weights", allow_zero=True)
    if is_concrete(weights) and abs(float(np.sum(np.asarray(weights))) - 1) > 1e-6:
        raise ValueError(f"weights must sum to 1; got sum {float(np.sum(np.asarray(weights))):.8g}")
    return Mixture(components, weights)
