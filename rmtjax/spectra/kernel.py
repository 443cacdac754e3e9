"""The general transform ``t_L(z, w)`` of Fan & Wang by the flattened fixed-point recursion.

``t_L(z, w) = lim (1/n) tr[(z_{-1} I + sum_k z_k X_k^T X_k)^{-1} (w_{-1} I + sum_k w_k X_k^T X_k)]``
for the layer Gram matrices ``X_k^T X_k`` (k = 0..L) of a deep network at random
initialization; vectors are indexed ``-1, 0, ..., L`` (array index ``k + 1``). The Stieltjes
transforms of the CK and NTK limits are special cases (see ``kernel_limits``).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from rmtjax._checks import check_finite, check_in_range, is_concrete
from rmtjax._solution import Solution, check_at_runtime, default_tol, raise_if_failed
from rmtjax.spectra.fixed_point import solve_fixed_point
from rmtjax.spectra.measures import DiscreteMeasure

__all__ = [
    "as_measure",
    "as_ratios",
    "cast_measure",
    "fixed_point_unknowns",
    "kernel_solve",
    "kernel_stieltjes",
    "measure_dtype",
    "raise_if_unconverged",
    "resolvent_sums",
    "roundoff_tolerance",
    "sweep",
]

Array = jax.Array

# The old name of the shared check, kept for its callers.
raise_if_unconverged = raise_if_failed


def roundoff_tolerance(dtype: Any) -> float:
    """Relative size of round-off negatives in a PSD spectrum: ``sqrt(eps)`` of ``dtype``.

    float64: 1.5e-8, float32: 3.5e-4 (``eigvalsh`` of a Gram matrix returns negatives of
    ``~ n eps`` times its largest eigenvalue).
    """
    return float(np.sqrt(jnp.finfo(dtype).eps))


def _clip_roundoff(atoms: Array, name: str) -> Array:
    """Atoms ``>= -roundoff_tolerance * max |atom|`` clipped to 0; more negative ones refused.

    The check raises ``ValueError`` at once on concrete atoms and, under ``jit``, when the
    program runs (:func:`rmtjax._solution.check_at_runtime`).
    """
    tol = roundoff_tolerance(atoms.dtype)
    floor = -tol * jnp.max(jnp.abs(atoms))
    smallest = jnp.min(atoms)
    check_at_runtime(
        smallest >= floor,
        f"{name} must be supported on [0, inf) (a Gram-matrix spectrum; negatives down to "
        f"-{tol:.2g} x max |atom| are round-off and clipped to 0)",
        detail=smallest,
    )
    return jnp.where(atoms >= floor, jnp.maximum(atoms, 0), atoms)


def as_measure(mu: Any, name: str = "mu0") -> Any:
    """The input law of the recursion: a measure, or a 1-D array of equal-weight atoms.

    A :class:`DiscreteMeasure` (or an array of atoms, turned into one) must be supported on
    ``[0, inf)`` (a Gram-matrix spectrum): atoms ``>= -roundoff_tolerance * max |atom|`` are
    round-off and clipped to 0, more negative ones and NaN/inf raise ``ValueError``. Any
    other measure with ``stieltjes``, ``mean`` and ``bounds`` (``marchenko_pastur``,
    ``semicircle``, ``mixture``) is used through its Stieltjes transform.
    """
    if not isinstance(mu, DiscreteMeasure):
        if all(hasattr(mu, attr) for attr in ("stieltjes", "mean", "bounds")):
            return mu
        if not hasattr(mu, "__array__") and not isinstance(mu, list | tuple):
            raise TypeError(
                f"{name} must be a measure with stieltjes, mean and bounds (DiscreteMeasure, "
                f"marchenko_pastur, semicircle, mixture) or an array of atoms; got {mu!r}"
            )
        mu = DiscreteMeasure(mu)
    check_finite(mu.atoms, f"{name}.atoms")
    return DiscreteMeasure.tree_unflatten(None, (_clip_roundoff(mu.atoms, name), mu.weights))


def as_ratios(gammas: ArrayLike, name: str = "gammas") -> Array:
    """The ratios ``gamma_l = n/d_l`` as a non-empty 1-D array ``(L,)``, each ``> 0``.

    A tuple or list of scalars (concrete or traced, e.g. under ``grad``) is stacked, an array
    taken as it is. Positivity and finiteness are checked at once on concrete values and,
    under ``jit``, when the program runs (``ValueError`` naming ``gammas``).
    """
    if isinstance(gammas, str | bytes):
        raise TypeError(f"{name} must be a sequence or 1-D array of ratios; got {gammas!r}")
    if isinstance(gammas, list | tuple):
        if not gammas:
            raise ValueError(f"{name} must be non-empty (one ratio per layer); got {gammas!r}")
        if any(isinstance(g, str | bytes) for g in gammas):
            raise TypeError(f"{name} must hold numbers, not strings; got {gammas!r}")
        gammas = jnp.stack([jnp.asarray(g) for g in gammas])
    gammas = jnp.asarray(gammas)
    if gammas.ndim != 1 or gammas.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array (L,); got shape {gammas.shape}")
    if not (
        jnp.issubdtype(gammas.dtype, jnp.integer) or jnp.issubdtype(gammas.dtype, jnp.floating)
    ):
        raise TypeError(f"{name} must be real ratios n/d_l; got dtype {gammas.dtype}")
    gammas = gammas.astype(jnp.result_type(gammas, float))
    check_at_runtime(
        jnp.all(jnp.isfinite(gammas) & (gammas > 0)),
        f"{name} must be finite ratios n/d_l > 0",
        detail=gammas,
    )
    return gammas


def measure_dtype(mu: Any) -> Any:
    """The floating dtype of a measure's leaves (atoms, weights, parameters)."""
    return jnp.result_type(*jax.tree_util.tree_leaves(mu), float)


def cast_measure(mu: Any, dtype: Any) -> Any:
    """``mu`` with every leaf cast to ``dtype`` (no validation: the leaves may be traced)."""
    return jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf).astype(dtype), mu)


def resolvent_sums(p: Array, q: Array, mu: Any) -> tuple[Array, Array]:
    """``T = ∫ dmu(x) / (p + q x)`` and ``R = ∫ x dmu(x) / (p + q x)``.

    Atoms: the literal sums. Any other measure: ``T = m_mu(-p/q) / q`` and
    ``R = (1 - p T) / q`` from its Stieltjes transform (``T = 1/p``, ``R = mean/p`` at
    ``q = 0``). ``-p/q`` lies in the closed upper half-plane on the recursion's solutions; a
    round-off negative imaginary part is dropped so that the transform is taken on its
    boundary values from above.
    """
    if isinstance(mu, DiscreteMeasure):
        return _atom_sums(p, q, mu.atoms, mu.weights)
    zero = q == 0
    q_safe = jnp.where(zero, jnp.ones_like(q), q)
    w = -p / q_safe
    w = jnp.where(jnp.imag(w) < 0, jnp.real(w).astype(w.dtype), w)
    T = jnp.where(zero, 1 / p, mu.stieltjes(w).astype(w.dtype) / q_safe)
    R = jnp.where(zero, mu.mean() / p, (1 - p * T) / q_safe)
    return T, R


@functools.partial(jax.custom_jvp)
def _atom_sums(p: Array, q: Array, atoms: Array, weights: Array) -> tuple[Array, Array]:
    """``T = sum_i w_i / (p + q x_i)`` and ``R = sum_i w_i x_i / (p + q x_i)``."""
    inv = 1 / (p + q * atoms)
    return jnp.sum(weights * inv), jnp.sum(weights * atoms * inv)


def _atom_sums_jvp(
    primals: tuple[Array, ...], tangents: tuple[Any, ...]
) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
    """One pass over the atoms for any number of tangents of ``(p, q)``.

    ``dT = -(S0 dp + S1 dq)``, ``dR = -(S1 dp + S2 dq)`` with ``S_j = sum w x^j / (p + q x)^2``
    (all five sums as one matrix product); tangents of atoms/weights are added only when
    present (symbolic zeros skipped).
    """
    p, q, x, w = primals
    dp, dq, dx, dw = tangents
    inv = 1 / (p + q * x)
    inv2 = inv * inv
    moments = jnp.stack([w, w * x, w * x * x], axis=-1).astype(inv.dtype)
    T, R = inv @ moments[:, :2]
    S0, S1, S2 = inv2 @ moments
    dT = jnp.zeros_like(T)
    dR = jnp.zeros_like(R)
    if not isinstance(dp, SymbolicZero):
        dT, dR = dT - S0 * dp, dR - S1 * dp
    if not isinstance(dq, SymbolicZero):
        dT, dR = dT - S1 * dq, dR - S2 * dq
    if not isinstance(dx, SymbolicZero):
        dT = dT - jnp.sum(w * q * inv2 * dx)
        dR = dR + jnp.sum(w * p * inv2 * dx)
    if not isinstance(dw, SymbolicZero):
        dT = dT + jnp.sum(dw * inv)
        dR = dR + jnp.sum(dw * x * inv)
    return (T, R), (dT, dR)


_atom_sums.defjvp(_atom_sums_jvp, symbolic_zeros=True)


def sweep(s: Array, zvec: Array, mu0: Any, gammas: Array, b2: Array) -> tuple:
    """One pass of the flattened recursion (steps 1–3 of :func:`kernel_stieltjes`).

    Returns ``(s_new, T, R)`` with ``R = (R_0, ..., R_L)``.
    """
    L = gammas.shape[0]
    zc = zvec
    R = [None] * (L + 1)
    for k in range(L, 0, -1):
        zkk = zc[k + 1]
        denom = 1 + gammas[k - 1] * zkk * s[k - 1]
        c = zkk / denom
        R[k] = s[k - 1] / denom
        zc = zc.at[0].add((1 - b2) * c).at[k].add(b2 * c)
    T, R[0] = resolvent_sums(zc[0], zc[1], mu0)
    s_new = jnp.stack([(1 - b2) * T + b2 * R[k - 1] for k in range(1, L + 1)])
    return s_new, T, jnp.stack(R)


def layer_bounds(mu0: Any, gammas: Array, b2: Array) -> Array:
    """Upper bounds ``h_k`` on the spectra of ``X_k^T X_k``, k = 0..L; shape ``(L + 1,)``.

    ``mu_k = rho_{gamma_k} ⊠ nu_k`` with ``nu_k = (1 - b^2) + b^2 mu_{k-1}`` is the limit
    spectrum of ``Σ^{1/2} G Gᵀ Σ^{1/2} / d`` (``G`` Gaussian ``n × d``, ``spec Σ = nu_k``), and
    Gordon's inequality ``E||Σ^{1/2} G|| <= sqrt(||Σ||) sqrt(d) + sqrt(tr Σ)`` bounds its top by
    ``h_k = (sqrt(top nu_k) + sqrt(gamma_k mean nu_k))^2``; ``h_0`` is the top of
    ``mu0.bounds()``. For
    ``nu = δ_1`` this is the Marchenko–Pastur edge ``(1 + sqrt(gamma))^2``, and for a few
    large atoms it grows additively, not by ``(1 + sqrt(gamma))^2`` per layer.

    References:
      Y. Gordon, "Some inequalities for Gaussian processes and applications", Israel J. Math.
      50, 1985 (Chevet–Gordon bound).
    """
    top, mean = mu0.bounds()[1], mu0.mean()
    bounds = [top]
    for k in range(gammas.shape[0]):
        top, mean = (1 - b2) + b2 * top, (1 - b2) + b2 * mean
        top = (jnp.sqrt(top) + jnp.sqrt(gammas[k] * mean)) ** 2
        bounds.append(top)
    return jnp.stack(bounds)


def _unknowns(
    zvec: Array, mu0: Any, gammas: Array, b2: Array, tol: float | None, max_steps: int
) -> Solution:
    """The fixed point ``s = (s_1, ..., s_L)`` at one ``zvec: (L+2,)`` with its record."""
    bounds = layer_bounds(mu0, gammas, b2)
    scale = jnp.maximum(jnp.sum(jnp.abs(zvec[1:]) * bounds), jnp.abs(zvec[0]))
    scale = jnp.maximum(scale, jnp.finfo(bounds.dtype).tiny)
    eta = jnp.maximum(-jnp.imag(zvec[0]), 0.0)

    def fn(s: Array, delta: Array) -> Array:
        return sweep(s, zvec.at[0].add(-1j * delta), mu0, gammas, b2)[0]

    return solve_fixed_point(
        fn, gammas.shape[0], eta=eta, scale=scale, tol=tol, max_steps=max_steps
    )


def fixed_point_unknowns(
    zvec: Array, spec: Any, *, tol: float | None = None, max_steps: int = 300
) -> Solution:
    """The unknowns ``s_1..s_L`` of the recursion at ``zvec: (N, L + 2)`` for a validated
    limit spectrum ``spec`` (its ``mu0``, ``gammas``, ``b``); ``value`` is ``(N, L)``."""
    tol = default_tol(spec.q.dtype, tol)
    return jax.vmap(_unknowns, in_axes=(0, None, None, None, None, None))(
        zvec, spec.mu0, spec.gammas, spec.b**2, tol, max_steps
    )


def _point(
    zvec: Array,
    wvec: Array,
    mu0: Any,
    gammas: Array,
    b2: Array,
    tol: float | None,
    max_steps: int,
) -> Solution:
    """Solve at one ``zvec: (L+2,)`` and return ``t_L(z, w)`` with its convergence record."""
    sol = _unknowns(zvec, mu0, gammas, b2, tol, max_steps)
    _, T, R = sweep(sol.value, zvec, mu0, gammas, b2)
    t = wvec[0] * T + jnp.sum(wvec[1:] * R)
    return sol.derive(t)


def kernel_solve(
    zvec: ArrayLike,
    wvec: ArrayLike,
    mu0: Any,
    gammas: ArrayLike,
    b: ArrayLike,
    *,
    tol: float | None = None,
    max_steps: int = 200,
) -> Solution:
    """``t_L(z, w)`` of Fan & Wang with its convergence record (see :func:`kernel_stieltjes`).

    Returns:
      :class:`~rmtjax.spectra.Solution` whose fields have the broadcast leading shape of
      ``zvec, wvec``; ``result`` as for :func:`~rmtjax.spectra.solve_fixed_point`, and
      ``nonfinite`` where ``t_L`` itself is not finite.
    """
    mu0 = as_measure(mu0)
    gammas = as_ratios(gammas)
    check_in_range(b, "b", -1.0, 1.0)
    L = gammas.shape[0]
    zvec, wvec = jnp.asarray(zvec), jnp.asarray(wvec)
    for name, v in (("zvec", zvec), ("wvec", wvec)):
        if v.ndim == 0 or v.shape[-1] != L + 2:
            raise ValueError(f"{name} must have shape (..., L + 2) = (..., {L + 2}); got {v.shape}")
        check_finite(v, name)
    if is_concrete(zvec) and bool(np.any(np.imag(np.asarray(zvec)[..., 0]) > 0)):
        raise ValueError("zvec[..., 0] = z_{-1} must have Im <= 0 (i.e. Im z >= 0)")
    rdt = jnp.result_type(measure_dtype(mu0), gammas.dtype, jnp.real(zvec).dtype, float)
    cdt = jnp.result_type(rdt, jnp.complex64)
    mu0 = cast_measure(mu0, rdt)
    if isinstance(mu0, DiscreteMeasure):
        # Zero-weight padding of the atoms to a power of two: fewer distinct compilations.
        mu0 = DiscreteMeasure.tree_unflatten(None, (_padded(mu0.atoms), _padded(mu0.weights, 0.0)))
    gammas, b2 = gammas.astype(rdt), jnp.asarray(b, rdt) ** 2
    tol = default_tol(rdt, tol)
    shape = jnp.broadcast_shapes(zvec.shape, wvec.shape)
    zflat = _padded(jnp.broadcast_to(zvec, shape).astype(cdt).reshape(-1, L + 2))
    wflat = _padded(jnp.broadcast_to(wvec, shape).astype(cdt).reshape(-1, L + 2))
    sol = _solve_batch(zflat, wflat, mu0, gammas, b2, tol, max_steps)
    size = int(np.prod(shape[:-1]))
    return jax.tree_util.tree_map(lambda a: a[:size].reshape(shape[:-1]), sol)


def _padded(a: Array, value: float | None = None) -> Array:
    """Pad axis 0 to a size bucket (with ``value``, or edge values when None).

    Buckets: powers of two from 8 to 1024, then multiples of 1024 (at most 1/9 padding
    beyond 1024). jit then compiles once per bucket instead of once per size.
    """
    n = a.shape[0]
    bucket = max(8, 1 << max(n - 1, 0).bit_length()) if n <= 1024 else -(-n // 1024) * 1024
    width = [(0, bucket - n)] + [(0, 0)] * (a.ndim - 1)
    if value is None:
        return jnp.pad(a, width, mode="edge")
    return jnp.pad(a, width, constant_values=value)


@functools.partial(jax.jit, static_argnames=("tol", "max_steps"))
def _solve_batch(
    zflat: Array,
    wflat: Array,
    mu0: Any,
    gammas: Array,
    b2: Array,
    tol: float,
    max_steps: int,
) -> Solution:
    point = functools.partial(_point, tol=tol, max_steps=max_steps)
    return jax.vmap(point, in_axes=(0, 0, None, None, None))(zflat, wflat, mu0, gammas, b2)


def kernel_stieltjes(
    zvec: ArrayLike,
    wvec: ArrayLike,
    mu0: Any,
    gammas: ArrayLike,
    b: ArrayLike,
    *,
    tol: float | None = None,
    max_steps: int = 200,
    throw: bool | None = None,
) -> Array:
    """The Fan–Wang transform ``t_L(z, w)`` by the flattened fixed point (docs: "Mathematics").

    ``t_L(z, w) = lim (1/n) tr[(z_{-1} I + sum_{k=0}^L z_k X_k^T X_k)^{-1}
    (w_{-1} I + sum_{k=0}^L w_k X_k^T X_k)]``. Unknowns ``s_1..s_L``:

    1. ``z^(L) = z``; for k = L..1: ``c_k = z^(k)_k / (1 + gamma_k z^(k)_k s_k)``,
       ``z^(k-1) = (z^(k)_{-1} + (1-b^2) c_k, z^(k)_0, ..., z^(k)_{k-1} + b^2 c_k)``;
    2. ``T = ∫ dmu_0(x) / (z^(0)_{-1} + z^(0)_0 x)``, ``R_0 = ∫ x dmu_0(x) / (...)``,
       ``R_j = s_j / (1 + gamma_j z^(j)_j s_j)``;
    3. ``s_k = (1 - b^2) T + b^2 R_{k-1}`` at the fixed point;
    4. ``t_L = w_{-1} T + sum_k w_k R_k``.

    Solved by :func:`~rmtjax.spectra.solve_fixed_point` (continuation in ``Im z`` plus Newton,
    implicit gradients), vmapped over the leading dimensions.

    Args:
      zvec: ``(..., L + 2)`` complex, ``(z_{-1}, z_0, ..., z_L)``; ``Im z_{-1} <= 0``
        (``z_{-1} = -z + ...`` with ``z`` in the closed upper half-plane).
      wvec: ``(..., L + 2)``, broadcast against ``zvec``.
      mu0: limit spectrum of the input Gram matrix ``X_0^T X_0`` (a
        :class:`~rmtjax.spectra.DiscreteMeasure` or a 1-D array of atoms).
      gammas: ``(L,)`` ratios ``gamma_l = n / d_l > 0``.
      b: activation constant ``b = E[sigma'(xi)]`` in ``[-1, 1]``.
      tol: relative residual tolerance (default 1e-12 in float64, 1e-5 in float32).
      max_steps: cap on Newton steps per point.
      throw: ``True``: raise if any point did not converge (``RuntimeError`` at once; under
        ``jit`` a ``jax.errors.JaxRuntimeError`` when the program runs); ``False``: NaN at
        those points (:func:`kernel_solve` gives the full record); ``None`` (default): raise
        eagerly, NaN under ``jit`` (:mod:`rmtjax._solution`).

    Returns:
      ``(...)`` complex array of ``t_L(z, w)``.

    References:
      Z. Fan, Z. Wang, "Spectra of the conjugate kernel and neural tangent kernel for
      linear-width neural networks", NeurIPS 2020, Lemma/Theorem 3.7 and its proof (§F).
    """
    sol = kernel_solve(zvec, wvec, mu0, gammas, b, tol=tol, max_steps=max_steps)
    return raise_if_failed(sol, "kernel_stieltjes", throw)
