"""Standardized activations and their Gaussian constants (b, a, NTK weights q).

An activation is used through its standardization ``σ = (g − E g(ξ)) / sd g(ξ)`` with
``ξ ~ N(0, 1)``, so that ``E σ(ξ) = 0`` and ``E σ(ξ)² = 1`` (the normalization of Fan and
Wang). The constants ``b = E σ'(ξ)`` and ``a = E σ'(ξ)²`` fix the limit spectra of the
Conjugate Kernel and the Neural Tangent Kernel.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf
from jax.typing import ArrayLike

from rmtjax._arctan import arctan
from rmtjax._checks import check_choice, is_concrete

__all__ = [
    "PRESETS",
    "Activation",
    "clip_unit",
    "get_activation",
    "ntk_constants",
    "unit_tolerance",
]

_NODES_PER_SIDE = 64
_ZERO_VARIANCE_RTOL = 1e-12


@functools.cache
def _half_range_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss rule for the weight ``φ(x) = exp(-x²/2)/sqrt(2π)`` on ``[0, ∞)`` (mass 1/2).

    The recurrence coefficients come from the Lanczos process (with full
    reorthogonalization) on a composite Gauss–Legendre discretization of the weight; the nodes
    are the eigenvalues of the Jacobi matrix and the weights the Christoffel numbers
    ``1 / Σ_k p_k(x_i)²`` (relatively accurate even for the tiny weights of the far nodes).
    The rule integrates ``x^k φ(x)`` on the half-line exactly (to ~1e-14) for ``k < 2n``.

    References:
      W. Gautschi, *Orthogonal Polynomials: Computation and Approximation* (2004), §2.2.
    """
    panels = int(np.ceil(np.sqrt(8.0 * n) + 20.0))
    t, v = np.polynomial.legendre.leggauss(24)
    x = ((t[None, :] + 1.0) / 2.0 + np.arange(panels)[:, None]).ravel()
    w = np.tile(v / 2.0, panels) * np.exp(-(x**2) / 2.0) / np.sqrt(2.0 * np.pi)
    basis = np.zeros((n + 1, x.size))
    basis[0] = np.sqrt(w) / np.linalg.norm(np.sqrt(w))
    alpha, beta = np.zeros(n), np.zeros(n)
    for k in range(n):
        alpha[k] = np.sum(x * basis[k] ** 2)
        r = x * basis[k] - alpha[k] * basis[k] - (beta[k - 1] * basis[k - 1] if k else 0.0)
        for _ in range(2):
            r -= basis[: k + 1].T @ (basis[: k + 1] @ r)
        beta[k] = np.linalg.norm(r)
        basis[k + 1] = r / beta[k]
    jacobi = np.diag(alpha) + np.diag(beta[:-1], 1) + np.diag(beta[:-1], -1)
    nodes = np.linalg.eigvalsh(jacobi)
    p_prev, p = np.zeros(n), np.full(n, np.sqrt(2.0))
    christoffel = p**2
    for k in range(n - 1):
        p_prev, p = p, ((nodes - alpha[k]) * p - (beta[k - 1] * p_prev if k else 0.0)) / beta[k]
        christoffel += p**2
    return nodes, 1.0 / christoffel


@functools.cache
def _gauss_rule() -> tuple[np.ndarray, np.ndarray]:
    """Split Gauss–Hermite rule for ``E f(ξ)``, ``ξ ~ N(0,1)``: half-range rules on each side of 0.

    ``2 × 64 = 128`` nodes; exact for piecewise polynomials of degree < 128 with a break at
    0, so activations with a kink at the origin (relu) are integrated to machine precision.
    """
    nodes, weights = _half_range_rule(_NODES_PER_SIDE)
    return np.concatenate([-nodes[::-1], nodes]), np.concatenate([weights[::-1], weights])


@jax.tree_util.register_pytree_node_class
class Activation:
    """A standardized activation ``σ(x) = (g(x, *params) − E g(ξ)) / sd g(ξ)``, ``ξ ~ N(0, 1)``.

    Build one with :meth:`Activation.standardized` or :func:`get_activation`. The object is a
    pytree whose leaves are ``params``, so ``jax.grad`` flows through ``b``, ``a``, ``sd`` and
    the activation values, and it can be passed to jitted functions. Gaussian expectations use
    a split Gauss–Hermite rule with 128 nodes (64 on each side of 0).

    Attributes:
      g: the raw elementwise function ``g(x, *params)``.
      params: tuple of scalar parameters of ``g`` (pytree leaves).
      name: a label (the preset name for presets).
    """

    def __init__(
        self, g: Callable[..., jax.Array], params: tuple[Any, ...] = (), name: str | None = None
    ):
        self.g = g
        self.params = tuple(params)
        self.name = name

    def tree_flatten(self):
        return self.params, (self.g, self.name)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(aux[0], tuple(children), aux[1])

    def __repr__(self) -> str:
        label = self.name or getattr(self.g, "__name__", "g")
        return f"Activation({label}, params={self.params})"

    @classmethod
    def standardized(
        cls, g: Callable[..., jax.Array], *params: Any, name: str | None = None
    ) -> Activation:
        """Standardize ``g`` so that ``E σ(ξ) = 0`` and ``E σ(ξ)² = 1`` for ``ξ ~ N(0, 1)``.

        ``σ = (g − E g(ξ)) / sd g(ξ)``. ``g(x, *params)`` must act elementwise on arrays and be
        differentiable almost everywhere (``σ'`` is taken with ``jax.jvp``).

        Args:
          g: elementwise function ``g(x, *params)``.
          *params: its parameters (scalars or arrays; differentiable leaves), e.g. ``alpha`` in
            ``g = lambda x, alpha: jnp.tanh(alpha * x)``.
          name: optional label.

        Returns:
          The standardized :class:`Activation`.

        Raises:
          ValueError: when ``Var g(ξ)`` is zero or not finite (checked for concrete params).

        References:
          Z. Fan and Z. Wang, "Spectra of the Conjugate Kernel and Neural Tangent Kernel for
          linear-width neural networks", NeurIPS 2020, Assumption 3.2 (σ normalized).

        Examples:
          >>> act = Activation.standardized(jnp.arctan)
          >>> round(float(act.b), 4)
          0.9778
        """
        if not callable(g):
            raise TypeError(f"g must be callable; got {type(g).__name__}")
        act = cls(g, params, name)
        if all(is_concrete(p) for p in act.params):
            with jax.ensure_compile_time_eval():  # concrete even when built inside a jit trace
                mean, var, second = (float(v) for v in act._raw_moments())
            label = name or getattr(g, "__name__", "g")
            if not (np.isfinite(var) and np.isfinite(mean)):
                raise ValueError(
                    f"activation {label!r} cannot be standardized: E g(ξ) or Var g(ξ) is not "
                    "finite for ξ ~ N(0, 1)"
                )
            if var <= _ZERO_VARIANCE_RTOL * max(second, np.finfo(float).tiny):
                raise ValueError(
                    f"activation {label!r} cannot be standardized: Var g(ξ) = {var:.3g} is zero "
                    "for ξ ~ N(0, 1) (constant function)"
                )
        return act

    def _raw(self, x: jax.Array) -> jax.Array:
        return self.g(x, *self.params)

    def _raw_derivative(self, x: jax.Array) -> jax.Array:
        return jax.jvp(self._raw, (x,), (jnp.ones_like(x),))[1]

    def _rule(self) -> tuple[jax.Array, jax.Array]:
        dtype = jnp.result_type(float, *self.params)
        nodes, weights = _gauss_rule()
        return jnp.asarray(nodes, dtype), jnp.asarray(weights, dtype)

    def _raw_moments(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(E g, Var g, E g²)`` by quadrature; the variance in the centred form."""
        nodes, weights = self._rule()
        values = self._raw(nodes)
        mean = weights @ values
        return mean, weights @ (values - mean) ** 2, weights @ values**2

    @property
    def mean(self) -> jax.Array:
        """``E g(ξ)`` (the shift of the standardization)."""
        return self._raw_moments()[0]

    @property
    def sd(self) -> jax.Array:
        """``sd g(ξ)`` (the scale of the standardization); arctan: 0.670597."""
        return jnp.sqrt(self._raw_moments()[1])

    @property
    def b(self) -> jax.Array:
        """``b = E σ'(ξ)``; arctan: 0.977754, relu: 0.856429, quadratic: 0.

        ``|b| <= 1`` (Stein and Cauchy–Schwarz: ``b = E ξ σ(ξ)``); a quadrature value beyond
        ``±1`` by round-off (see :func:`clip_unit`) is clipped to ``±1``.
        """
        nodes, weights = self._rule()
        return clip_unit(weights @ self._raw_derivative(nodes) / self.sd)

    @property
    def a(self) -> jax.Array:
        """``a = E σ'(ξ)²``; arctan: 1.111850. ``a ≥ b²`` (Cauchy–Schwarz)."""
        nodes, weights = self._rule()
        return weights @ self._raw_derivative(nodes) ** 2 / self.sd**2

    def __call__(self, x: jax.Array) -> jax.Array:
        """``σ(x) = (g(x) − E g(ξ)) / sd g(ξ)``, elementwise, in the floating dtype of ``x``."""
        x = _as_float(x)
        mean, var, _ = self._raw_moments()
        return (self._raw(x) - mean.astype(x.dtype)) / jnp.sqrt(var).astype(x.dtype)

    def derivative(self, x: jax.Array) -> jax.Array:
        """``σ'(x) = g'(x) / sd g(ξ)``, elementwise, in the floating dtype of ``x``."""
        x = _as_float(x)
        return self._raw_derivative(x) / self.sd.astype(x.dtype)

    def q(self, L: int) -> tuple[jax.Array, jax.Array]:
        """NTK constants ``q_{-1}`` and ``(q_0, …, q_L)`` of an ``L``-layer network.

        ``q_{-1} = Σ_{l=0}^{L-1} (a^{L-l} − b^{2(L-l)})``, ``q_l = b^{2(L-l)}``, ``q_L = 1``, so
        that ``K_NTK`` has the limit spectrum of ``q_{-1} I + Σ_{l=0}^{L} q_l X_l X_lᵀ``.

        Args:
          L: number of hidden layers, ``L >= 1``.

        Returns:
          ``(q_minus1, q)``: a scalar and an array ``(L + 1,)`` (``q[L] = 1``), as
          :func:`ntk_constants` returns them.

        References:
          Fan and Wang (NeurIPS 2020), Lemma 3.5 / Eq. (3.4).
        """
        if not isinstance(L, int | np.integer) or L < 1:
            raise ValueError(f"L must be an integer >= 1; got {L!r}")
        return ntk_constants(self.a, self.b, int(L))


def ntk_constants(a: ArrayLike, b: ArrayLike, L: int) -> tuple[jax.Array, jax.Array]:
    """NTK coefficients ``q_{-1}`` and ``(q_0, ..., q_L)`` of Fan & Wang.

    ``q_{-1} = sum_{l=0}^{L-1} (a^{L-l} - b^{2(L-l)})``, ``q_l = b^{2(L-l)}`` (so ``q_L = 1``),
    with ``a = E sigma'(xi)^2`` and ``b = E sigma'(xi)``.

    Args:
      a: scalar ``E sigma'(xi)^2``.
      b: scalar ``E sigma'(xi)``.
      L: number of hidden layers (static int >= 1).

    Returns:
      ``(q_minus1, q)`` with ``q_minus1`` a scalar and ``q`` of shape ``(L + 1,)``.

    References:
      Z. Fan, Z. Wang, NeurIPS 2020, Theorem 3.7 (eq. for ``r_+`` and ``q_l``).
    """
    if not isinstance(L, int) or L < 1:
        raise ValueError(f"L must be an integer >= 1; got {L!r}")
    a, b = jnp.asarray(a), jnp.asarray(b)
    dt = jnp.result_type(a, b, float)
    a, b2 = a.astype(dt), (b * b).astype(dt)
    q = jnp.stack([b2 ** (L - l) for l in range(L + 1)])  # integer powers: smooth at b = 0
    q_minus1 = sum(a ** (L - l) for l in range(L)) - jnp.sum(q[:-1])
    return q_minus1, q


def unit_tolerance(dtype: Any) -> float:
    """Round-off allowance beyond ``|b| = 1``: ``1000 eps`` (float32 1.2e-4, float64 2.2e-13)."""
    return 1000 * float(jnp.finfo(dtype).eps)


def clip_unit(b: ArrayLike) -> jax.Array:
    """``b`` clipped to ``[-1, 1]`` where ``|b| <= 1 + unit_tolerance``; elsewhere unchanged.

    A standardized activation has ``|E σ'(ξ)| <= 1``, so a value just beyond ``±1`` (e.g.
    ``1.0000002`` for ``tanh(0.01 x)`` in float32) is round-off and means ``±1``; a value
    further out is left for the callers' range checks to refuse.
    """
    b = _as_float(b)
    near = jnp.abs(b) <= 1 + unit_tolerance(b.dtype)
    return jnp.where(near, jnp.clip(b, -1, 1), b)


def _as_float(x: ArrayLike) -> jax.Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(float)


def _relu(x: jax.Array) -> jax.Array:
    return jnp.maximum(x, 0.0)


def _quadratic(x: jax.Array) -> jax.Array:
    return x**2


PRESETS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "arctan": arctan,
    "tanh": jnp.tanh,
    "erf": erf,
    "relu": _relu,
    "softplus": jax.nn.softplus,
    "quadratic": _quadratic,
}


def get_activation(spec: str | Activation) -> Activation:
    """Resolve an activation spec: a preset name (standardized) or an :class:`Activation`.

    Presets: ``"arctan"``, ``"tanh"``, ``"erf"``, ``"relu"``, ``"softplus"``, ``"quadratic"``
    (standardized ``x²``, i.e. ``(x² − 1)/√2`` with ``b = 0``).

    Args:
      spec: preset name or an :class:`Activation` (returned unchanged).

    Returns:
      The :class:`Activation`.

    Raises:
      ValueError: unknown preset name.
      TypeError: anything else.

    Examples:
      >>> round(float(get_activation("relu").b), 5)  # 1 / (2 sqrt(1/2 - 1/(2π)))
      0.85643
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        check_choice(spec, "activation", PRESETS)
        return _preset(spec)
    raise TypeError(f"activation must be a preset name or an Activation; got {type(spec).__name__}")


@functools.cache
def _preset(name: str) -> Activation:
    return Activation.standardized(PRESETS[name], name=name)
