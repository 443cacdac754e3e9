"""``LimitSpectrum``: the limit law of ``q_{-1} I + sum_k q_k X_k^T X_k`` for a deep network.

One object answers every question about a CK/NTK/MP-map limit: Stieltjes transform at any
array of ``z``, density (unbiased at ``eta = 0``), support edges and moments.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtjax._checks import check_finite, check_in_range, check_positive, is_concrete
from rmtjax._solution import Solution, check_at_runtime, default_tol, raise_if_failed
from rmtjax.spectra.edges import solve_edges
from rmtjax.spectra.kernel import (
    as_measure,
    as_ratios,
    cast_measure,
    kernel_solve,
    layer_bounds,
    measure_dtype,
)
from rmtjax.spectra.moments import contour_moments

__all__ = ["LimitSpectrum"]

Array = jax.Array


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["mu0", "gammas", "b", "q"],
    meta_fields=["tol", "max_steps"],
)
@dataclasses.dataclass(frozen=True)
class LimitSpectrum:
    """Limit spectral law of ``K = q_{-1} I + sum_{k=0}^{L} q_k X_k^T X_k``.

    ``X_k^T X_k`` are the layer Gram matrices of a depth-``L`` network at random
    initialization with input spectrum ``mu0``, ratios ``gamma_l = n/d_l`` and activation
    constant ``b`` (Fan & Wang). The Stieltjes transform is
    ``m(z) = t_L((-z + q_{-1}, q_0, ..., q_L), (1, 0, ..., 0))`` (see
    :func:`~rmtjax.spectra.kernel_stieltjes`). Built by :func:`~rmtjax.spectra.ck_limit`,
    :func:`~rmtjax.spectra.ntk_limit`, :func:`~rmtjax.spectra.mp_map` or
    :meth:`from_coefficients`. A pytree: it passes through ``jit``/``vmap``/``grad``.

    Attributes:
      mu0: input law: a :class:`~rmtjax.spectra.DiscreteMeasure` or any measure with
        ``stieltjes``, ``mean`` and ``bounds`` (``marchenko_pastur``, ``semicircle``,
        ``mixture``).
      gammas: ``(L,)`` ratios ``n/d_l``.
      b: activation constant ``E sigma'(xi)``.
      q: ``(L + 2,)`` coefficients ``(q_{-1}, q_0, ..., q_L)``.
      tol: relative residual tolerance of every solve (None: 1e-12 float64, 1e-5 float32).
      max_steps: Newton step cap per point.
    """

    mu0: Any
    gammas: Array
    b: Array
    q: Array
    tol: float | None = None
    max_steps: int = 300

    @classmethod
    def from_coefficients(
        cls,
        mu0: Any,
        gammas: ArrayLike,
        b: ArrayLike,
        q: ArrayLike,
        *,
        tol: float | None = None,
        max_steps: int = 300,
    ) -> LimitSpectrum:
        """The law of ``q_{-1} I + sum_k q_k X_k^T X_k``; validates every argument.

        Args:
          mu0: spectrum of the input Gram matrix (measure or 1-D array of atoms, >= 0).
          gammas: ``(L,)`` ratios ``n/d_l > 0``.
          b: activation constant in ``[-1, 1]``.
          q: ``(L + 2,)`` real coefficients ``(q_{-1}, q_0, ..., q_L)``, ``q_k >= 0`` for k >= 0.
          tol: solver tolerance (None: dtype default).
          max_steps: Newton step cap per point.
        """
        if tol is not None:
            check_positive(tol, "tol")
            tol = float(tol)
        _check_count(max_steps, "max_steps", 1)
        mu0 = as_measure(mu0)
        gammas = as_ratios(gammas)
        check_in_range(b, "b", -1.0, 1.0)
        q = jnp.asarray(q)
        L = gammas.shape[0]
        if q.shape != (L + 2,):
            raise ValueError(f"q must have shape (L + 2,) = ({L + 2},); got {q.shape}")
        check_finite(q, "q")
        check_positive(q[1:], "q[0:]", allow_zero=True)
        dt = jnp.result_type(measure_dtype(mu0), gammas.dtype, q.dtype, float)
        return cls(
            mu0=cast_measure(mu0, dt),
            gammas=gammas.astype(dt),
            b=jnp.asarray(b, dt),
            q=q.astype(dt),
            tol=tol,
            max_steps=max_steps,
        )

    @property
    def depth(self) -> int:
        """Number of layers ``L``."""
        return self.gammas.shape[0]

    def bounds(self) -> tuple[Array, Array]:
        """An interval ``[lo, hi]`` that contains the support.

        ``lo = q_{-1}``, ``hi = q_{-1} + sum_k q_k h_k`` with ``h_k`` the bounds on the layer
        spectra of :func:`rmtjax.spectra.kernel.layer_bounds` (Gordon's inequality).
        """
        h = layer_bounds(self.mu0, self.gammas, self.b**2)
        return self.q[0], self.q[0] + jnp.sum(self.q[1:] * h)

    def solve(self, z: ArrayLike) -> Solution:
        """``m(z)`` with its convergence record, for ``z`` of any shape in the closed ``C+``.

        A root with the wrong Herglotz sign, ``Im m < -sqrt(tol) |m|``, is not the Stieltjes
        transform: its ``result`` is ``diverged`` (the solve left the upper half-plane where
        ``m`` lies).
        """
        z = jnp.asarray(z)
        check_finite(z, "z")  # under jit a NaN z is reported by the record: nonfinite
        check_at_runtime(
            jnp.all(jnp.imag(z) >= 0), "z must lie in the closed upper half-plane (Im z >= 0)"
        )
        cdt = jnp.result_type(self.q.dtype, jnp.complex64)
        z = z.astype(jnp.result_type(z.dtype, cdt))
        zvec = jnp.zeros((*z.shape, self.depth + 2), z.dtype) + self.q
        zvec = zvec.at[..., 0].add(-z)
        wvec = jnp.zeros(self.depth + 2).at[0].set(1.0)
        sol = kernel_solve(
            zvec, wvec, self.mu0, self.gammas, self.b, tol=self.tol, max_steps=self.max_steps
        )
        tol = default_tol(self.q.dtype, self.tol)
        herglotz = jnp.imag(sol.value) >= -(tol**0.5) * jnp.abs(sol.value)
        return sol.derive(diverged=~herglotz)

    def stieltjes(self, z: ArrayLike, *, throw: bool | None = None) -> Array:
        """``m(z) = ∫ dmu(x) / (x - z)`` for ``z`` of any shape, ``Im z >= 0``.

        At real ``z`` inside the support this is the boundary value ``m(x + i0)``. Default
        ``throw=None``: an unconverged point raises ``RuntimeError`` eagerly and is NaN (real
        and imaginary parts) under ``jit``. ``throw=True`` raises under ``jit`` too (a
        ``jax.errors.JaxRuntimeError`` when the program runs); ``throw=False`` always gives
        NaN. See :meth:`solve` for the full record.
        """
        return raise_if_failed(self.solve(z), "LimitSpectrum.stieltjes", throw)

    def density(
        self, x: ArrayLike, eta: ArrayLike | None = None, *, throw: bool | None = None
    ) -> Array:
        """Density ``rho(x) = Im m(x + i eta) / pi`` at real ``x`` of any shape.

        ``eta=None`` solves on the real axis itself (``eta = 0``): the exact density of the
        absolutely continuous part, without Poisson-smoothing bias (atoms are not included;
        rounding below 0 outside the support is clipped). ``eta > 0`` gives the density
        convolved with the Cauchy kernel of width ``eta``. ``throw`` as in :meth:`stieltjes`
        (default: raise eagerly, NaN under ``jit``).
        """
        x = jnp.asarray(x)
        if jnp.iscomplexobj(x):
            raise TypeError("x must be real; pass complex points to stieltjes()")
        check_at_runtime(jnp.all(jnp.isfinite(x)), "x contains NaN or inf values")
        if eta is None:
            return jnp.maximum(jnp.imag(self.stieltjes(x, throw=throw)), 0.0) / jnp.pi
        eta = jnp.asarray(eta)
        check_at_runtime(
            jnp.all(jnp.isfinite(eta) & (eta > 0)), "eta must be finite and > 0", detail=eta
        )
        # A bad eta is reported by its own check (under jit too), not as a bad z.
        eta = jnp.where(eta > 0, eta, jnp.ones_like(eta))
        return jnp.imag(self.stieltjes(x + 1j * eta, throw=throw)) / jnp.pi

    def moments(self, k: int, *, n_points: int = 256) -> Array:
        """Moments ``(m_0, ..., m_k)``, ``m_j = ∫ x^j dmu``, by the contour trapezoid rule.

        The circle is centred on :meth:`bounds` with radius their full width (twice the
        half-width), so the quadrature error is ``O(2^{-n_points})``.
        """
        lo, hi = self.bounds()
        radius = jnp.maximum(hi - lo, 1e-3 * jnp.maximum(jnp.abs(hi), 1.0))
        return contour_moments(
            self.stieltjes, k, center=(lo + hi) / 2, radius=radius, n_points=n_points
        )

    def edges(
        self, *, intervals: int | None = None, grid: int = 1024, throw: bool | None = None
    ) -> Array:
        """Support edges as roots of the edge equation, ``(n_intervals, 2)``; differentiable.

        Each edge ``x_e`` solves, jointly with the real fixed point ``s_e``, ``F(s, x) = s``
        and ``det(I - ∂F/∂s) = 0`` (the fixed point folds there); Newton steps start just
        outside each edge bracketed by the scan of :meth:`support` (shrunk by 6 bisections,
        not 48) and the root is differentiated implicitly (see
        :func:`rmtjax.spectra.edges.solve_edges`), so ``jax.grad`` of an edge with respect to
        the ratios, the activation constants or the input law is exact. For the MP law
        (``b = 0``, ``L = 1``, ``mu0 = delta_1``) the edges are ``(1 ± sqrt(gamma))^2``.

        Args:
          intervals: the number of support intervals. None: found by :meth:`support` on the
            values (concrete, or under ``grad`` outside ``jit``); an int makes the scan
            jittable (one scan on ``grid`` cells; a different count found is an error).
          grid: scan cells (as in :meth:`support`).
          throw: as in :meth:`stieltjes` (None: a failed edge solve raises eagerly and is
            NaN under ``jit``; True: raises under ``jit`` too; False: NaN).
        """
        _check_count(grid, "grid", 2)
        primal = jax.lax.stop_gradient(self)
        lo, hi = primal.bounds()
        reach = 2 * (hi - lo) / grid
        if intervals is None:
            if not is_concrete(primal.q):
                raise TypeError(
                    "edges() under jit needs intervals=<number of support intervals> "
                    "(the scan's size must be static)"
                )
            xs, inside, change = _zoom(primal, grid)
            xs, inside = jnp.asarray(xs, self.q.dtype), jnp.asarray(inside)
            seeds, found = _seeds(primal, xs, inside, jnp.asarray(change)).reshape(-1, 2), None
        else:
            _check_count(intervals, "intervals", 1)
            seeds, found = _scan(primal, intervals, grid)
        sol = solve_edges(self, seeds, reach, tol=self.tol)
        if found is not None:
            sol = sol.derive(diverged=found != 2 * intervals)
        return raise_if_failed(sol, "LimitSpectrum.edges", throw)

    def support(self, *, grid: int = 1024, bisections: int = 48) -> np.ndarray:
        """Edges of the support of the absolutely continuous part, ``(n_intervals, 2)``.

        The density at ``eta = 0`` is scanned on ``grid`` cell midpoints of :meth:`bounds`
        (a loose outer bound), zooming up to three times onto the cells found inside
        (``Im m > sqrt(tol) |m|``; the scan's two ends count as outside, so an edge between
        an end and the first midpoint, e.g. a lower edge near 0, is found rather than
        reported at the end); each change between inside and outside is then refined by
        ``bisections`` bisection steps. Gaps or intervals narrower than the final grid
        spacing are not resolved. Concrete spectra only (the number of intervals is
        data-dependent).
        """
        _check_count(grid, "grid", 2)
        _check_count(bisections, "bisections", 0)
        if not is_concrete(self.q):
            raise TypeError(
                "support() needs concrete values (not inside jit/vmap/grad); "
                "use edges(intervals=...) there"
            )
        xs, inside, change = _zoom(self, grid)
        if change.size == 0:
            return np.zeros((0, 2))
        dt = self.q.dtype
        left, right = jnp.asarray(xs[change], dt), jnp.asarray(xs[change + 1], dt)
        a, b = _bisect(self, left, right, jnp.asarray(inside[change]), bisections)
        return np.asarray((a + b) / 2).reshape(-1, 2)


def _zoom(spec: LimitSpectrum, grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The eager scan of :meth:`LimitSpectrum.support`: points ``(grid + 2,)``, their flags
    and the indices ``i`` where the flag changes between ``i`` and ``i + 1``.

    The density is scanned on ``grid`` cell midpoints of :meth:`LimitSpectrum.bounds`,
    zooming up to three times onto the cells found inside. The scan's two ends are appended
    and count as outside (an edge may lie between an end and the first midpoint, as for a
    lower edge near 0), so the changes of the flags bracket every resolved edge.
    """
    dt = spec.q.dtype
    lo, hi = (float(v) for v in spec.bounds())
    for _ in range(4):
        xs = lo + (hi - lo) * (np.arange(grid) + 0.5) / grid
        inside = np.asarray(_inside(spec, jnp.asarray(xs, dt)))
        found = np.flatnonzero(inside)
        if found.size == 0:
            break
        step = (hi - lo) / grid
        new_lo, new_hi = max(lo, xs[found[0]] - step), min(hi, xs[found[-1]] + step)
        if new_hi - new_lo > (hi - lo) / 2:
            break
        lo, hi = new_lo, new_hi
    inside = np.pad(inside, 1)
    return np.concatenate([[lo], xs, [hi]]), inside, np.flatnonzero(inside[1:] != inside[:-1])


def _seeds(spec: LimitSpectrum, xs: Array, inside: Array, change: Array) -> Array:
    """Newton seeds for the edges bracketed by ``[xs[change], xs[change + 1]]``.

    Each bracket is shrunk by ``_SEED_BISECTIONS`` bisections (a cell's 1/64, well inside
    Newton's basin: from the raw cell end the fold solve can fail, e.g. for a lower edge
    near 0 with the scan's end 0 as the outside end) and its outside end is returned, where
    the real fixed point exists.
    """
    left_in = inside[change]
    a, b = _bisect(spec, xs[change], xs[change + 1], left_in, _SEED_BISECTIONS)
    return jnp.where(left_in, b, a)


def _inside(spec: LimitSpectrum, x: Array) -> Array:
    m = spec.solve(x).value
    tol = default_tol(spec.q.dtype, spec.tol)
    return jnp.imag(m) > tol**0.5 * jnp.abs(m)


def _bisect(
    spec: LimitSpectrum, left: Array, right: Array, left_in: Array, n: int
) -> tuple[Array, Array]:
    """Brackets ``[left, right]`` shrunk ``n`` times around the change of inside.

    ``left_in`` is the flag at ``left`` (the scan's, so a bound counted outside stays so). A
    Python loop over the (few) bisection steps: each step is one batched solve that reuses
    the compiled solver, where a ``fori_loop`` would compile the whole solver once more.
    """
    a, b = left, right
    for _ in range(n):
        mid = (a + b) / 2
        same = _inside(spec, mid) == left_in
        a, b = jnp.where(same, mid, a), jnp.where(same, b, mid)
    return a, b


_SEED_BISECTIONS = 6


def _check_count(value: Any, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")


def _scan(spec: LimitSpectrum, intervals: int, grid: int) -> tuple[Array, Array]:
    """Jittable numeric edges: one scan of :meth:`LimitSpectrum.bounds` on ``grid`` cells.

    Returns ``(seeds (intervals, 2), found)``: the seeds of :func:`_seeds` and ``found``, the
    number of changes between inside and outside (``2 * intervals`` when the count is right).
    """
    lo, hi = spec.bounds()
    xs = lo + (hi - lo) * (jnp.arange(grid) + 0.5) / grid
    # The bounds themselves count as outside (an edge may sit on them, as for MP).
    inside = jnp.pad(_inside(spec, xs), 1)
    xs = jnp.concatenate([lo[None], xs, hi[None]])
    change = inside[1:] != inside[:-1]
    idx = jnp.nonzero(change, size=2 * intervals, fill_value=0)[0]
    return _seeds(spec, xs, inside, idx).reshape(intervals, 2), jnp.sum(change)
