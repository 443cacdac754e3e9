"""Fixed-point solver for Stieltjes-type equations: continuation in Im z, Newton, implicit grads.

The equations of free probability (the MP map, the CK/NTK recursions) read ``s = F(s; z)``
for a few complex unknowns ``s`` that lie in the upper half-plane ``C+`` when ``Im z > 0``,
where ``F`` maps ``C+`` into itself and the root is unique. Plain iteration converges there
but needs ~``eta^{-1/2}`` steps near spectral edges and stalls on the real axis. This solver

1. follows the root from ``Im z = scale`` (where ``F`` is a strong contraction) down to the
   target along adaptive geometric levels, warm-starting each level from the last
   (continuation in Im z; a level where Newton stalls is retried closer to the last one),
   then solves at the target itself, ``Im z = eta >= 0``: for ``eta = 0`` inside the support
   this is the boundary value ``m(x + i0)``, which gives the density without
   Poisson-smoothing bias;
2. takes Newton steps in the coordinates ``w = 1 / (s + i alpha)``, which map ``C+`` onto a
   disk and ``s = ∞`` to ``w = 0`` (near an atom of the spectrum ``s ~ i/Im z`` blows up,
   while ``w`` is nearly linear in ``Im z``); when a step does not lower the residual or
   leaves ``Im s >= 0`` (while ``Im z > 0``), the level is retried closer to the last one;
3. differentiates the root by the implicit function theorem (``jax.lax.custom_root``),
   never through the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rmtjax._solution import Solution, default_tol

__all__ = ["solve_fixed_point"]

Array = jax.Array

_START_RATIO = 0.25
_MIN_RATIO = 0.1
_MAX_LEVEL_STEPS = 40


def _floor(dtype: jnp.dtype) -> float:
    """Smallest continuation level, relative to ``scale``, before the final solve at target."""
    return 1e-8 if jnp.finfo(dtype).bits >= 64 else 1e-4


def _to_real(s: Array) -> Array:
    return jnp.concatenate([jnp.real(s), jnp.imag(s)])


def _to_complex(x: Array) -> Array:
    k = x.shape[0] // 2
    return jax.lax.complex(x[:k], x[k:])


def _rel_norm(r: Array, s: Array) -> Array:
    tiny = jnp.finfo(jnp.real(s).dtype).tiny
    return jnp.max(jnp.abs(r)) / jnp.maximum(jnp.max(jnp.abs(s)), tiny)


def _merit(r: Array) -> Array:
    return jnp.where(jnp.all(jnp.isfinite(r)), jnp.sum(r * r), jnp.inf)


class _Coords(NamedTuple):
    """The map in the coordinates ``w = 1/(s + i alpha)``, as a real ``2k`` vector."""

    fn: Callable[[Array, Array], Array]
    alpha: Array

    def to_s(self, x: Array) -> Array:
        return 1 / _to_complex(x) - 1j * self.alpha

    def to_x(self, s: Array) -> Array:
        return _to_real(1 / (s + 1j * self.alpha))

    def step_map(self, x: Array, delta: Array) -> tuple[Array, tuple[Array, Array]]:
        """``x -> w(F(s(x)))`` with aux ``(s, F(s))``."""
        s = self.to_s(x)
        fs = self.fn(s, delta)
        return self.to_x(fs), (s, fs)


class _State(NamedTuple):
    x: Array  # current iterate (w-coordinates) at Im z = eta_try
    merit: Array  # residual of the previous iterate at this level (inf when fresh)
    x_acc: Array  # root accepted at Im z = eta_acc
    eta_acc: Array
    eta_try: Array
    ratio: Array  # continuation factor for the next level
    level_steps: Array
    steps: Array
    residual: Array
    polish: Array  # x is a polishing Newton step from the root x_acc at the target
    done: Array


def _continuation(
    coords: _Coords,
    x0: Array,
    eta: Array,
    scale: Array,
    tol: float,
    max_steps: int,
) -> tuple[Array, tuple[Array, Array, Array]]:
    """Adaptive continuation in ``Im z`` from ``scale`` down to the target ``eta``.

    ``coords.fn(s, delta)`` is ``F`` at ``Im z = eta + delta``. Each step evaluates the map
    and its Jacobian once at the current iterate. A level ``eta_try = ratio * eta_acc`` is
    accepted once its relative residual is below ``sqrt(tol)`` (the target needs ``tol``);
    then ``ratio`` is squared (down to ``_MIN_RATIO``). Below ``floor * scale`` the next level
    is the target itself. A level is rejected when Newton fails (its last step did not lower
    the residual, left ``Im s >= 0`` while ``Im z > 0``, or ``_MAX_LEVEL_STEPS`` steps
    passed): the solve restarts from the last accepted root at the geometric midpoint (in
    ``log Im z``) of the failed jump.
    """
    eye = jnp.eye(x0.shape[0], dtype=x0.dtype)
    level_tol = max(tol, tol**0.5)
    low = jnp.maximum(eta, scale * _floor(x0.dtype))

    def next_level(eta_acc: Array, ratio: Array) -> Array:
        return jnp.where(eta_acc * ratio > low, eta_acc * ratio, eta)

    def cond(st: _State) -> Array:
        return (~st.done) & (st.steps < max_steps)

    def body(st: _State) -> _State:
        delta = st.eta_try - eta

        def g_aux(y: Array) -> tuple[Array, tuple[Array, tuple[Array, Array]]]:
            gy, aux = coords.step_map(y, delta)
            return gy, (gy, aux)

        jac, (gx, (s, fs)) = jax.jacfwd(g_aux, has_aux=True)(st.x)
        r = gx - st.x
        merit = _merit(r)
        in_domain = jnp.all(jnp.imag(s) >= 0) | (st.eta_try <= 0)
        res = jnp.where(in_domain, _rel_norm(fs - s, s), jnp.inf)
        final = st.eta_try <= eta
        ok = res < jnp.where(final, tol, level_tol)
        failed = (merit >= st.merit) | ~in_domain | (st.level_steps >= _MAX_LEVEL_STEPS)
        stalled = (~ok) & failed & ~st.polish
        # Accepted level: move on from it. Stalled level: retry halfway (in log Im z).
        ratio_ok = jnp.maximum(st.ratio**2, _MIN_RATIO)
        ratio_bad = jnp.sqrt(jnp.maximum(st.eta_try / st.eta_acc, st.ratio))
        retry = st.eta_acc * ratio_bad
        eta_try = jnp.where(
            ok, next_level(st.eta_try, ratio_ok), jnp.where(stalled, retry, st.eta_try)
        )
        newton = st.x + jnp.linalg.solve(eye - jac, r)
        # At the target: one more Newton step (polish), kept only if it lowers the residual.
        start_polish = ok & final & ~st.polish
        keep = st.polish & ~failed & jnp.all(jnp.isfinite(st.x)) & (res <= st.residual)
        accepted = ok & ~st.polish
        fresh = accepted | stalled
        x = jnp.where(start_polish, newton, jnp.where(accepted, st.x, st.x_acc))
        x = jnp.where(st.polish, jnp.where(keep, st.x, st.x_acc), x)
        x = jnp.where(fresh | st.polish, x, newton)
        return _State(
            x=x,
            merit=jnp.where(fresh & ~start_polish, jnp.inf, merit),
            x_acc=jnp.where(accepted, st.x, st.x_acc),
            eta_acc=jnp.where(accepted, st.eta_try, st.eta_acc),
            eta_try=jnp.where(final, eta, eta_try),
            ratio=jnp.where(ok, ratio_ok, jnp.where(stalled, ratio_bad, st.ratio)),
            level_steps=jnp.where(fresh, 0, st.level_steps + 1),
            steps=st.steps + 1,
            residual=jnp.where(st.polish & ~keep, st.residual, res),
            polish=start_polish,
            done=st.polish,
        )

    dt = x0.dtype
    start = jnp.maximum(scale, eta)
    init = _State(
        x=x0,
        merit=jnp.asarray(jnp.inf, dt),
        x_acc=x0,
        eta_acc=4 * start,
        eta_try=start,
        ratio=jnp.asarray(_START_RATIO, dt),
        level_steps=jnp.asarray(0, jnp.int32),
        steps=jnp.asarray(0, jnp.int32),
        residual=jnp.asarray(jnp.inf, dt),
        polish=jnp.asarray(False),
        done=jnp.asarray(False),
    )
    st = jax.lax.while_loop(cond, body, init)
    converged = st.done & jnp.all(jnp.isfinite(st.x)) & (st.residual < tol)
    return st.x, (converged, st.steps, st.residual)


def solve_fixed_point(
    fn: Callable[[Array, Array], Array],
    k: int,
    *,
    eta: Array,
    scale: Array,
    tol: float | None = None,
    max_steps: int = 300,
    dtype: jnp.dtype | None = None,
    throw: bool = False,
) -> Solution:
    """Solve ``s = F(s; z)`` for ``s`` in ``C+^k`` at a spectral parameter with ``Im z = eta``.

    ``fn(s, delta)`` must evaluate ``F(s; z + i delta)`` (the problem with its imaginary part
    raised by ``delta >= 0``), be holomorphic in ``s`` and map ``C+^k`` into itself when
    ``Im z > 0`` (as the equations of free probability do). The solve runs on adaptive
    continuation levels ``Im z`` from ``scale`` down to ``max(eta, floor * scale)`` (floor
    ``1e-8`` in float64, ``1e-4`` in float32), then at ``Im z = eta`` itself, by Newton steps
    in ``w = 1/(s + i/scale)`` with the safeguards of the module docstring.

    Gradients of the root with respect to anything ``fn`` closes over (z, ratios, atoms,
    activation constants) follow from the implicit function theorem,
    ``ds = (I - dF/ds)^{-1} dF``, through ``jax.lax.custom_root``; the loop itself is never
    differentiated.

    Args:
      fn: ``(s: complex (k,), delta: real scalar) -> complex (k,)``.
      k: number of unknowns.
      eta: real scalar ``>= 0``, the target ``Im z``.
      scale: real scalar ``> 0``, the spectral scale where continuation starts.
      tol: relative residual tolerance at the target (default 1e-12 in float64, 1e-5 in
        float32).
      max_steps: cap on the total number of Newton steps.
      dtype: real dtype of the solve (default: that of ``scale``).
      throw: ``True``: raise when the solve fails (``RuntimeError`` at once; under ``jit``
        a ``jax.errors.JaxRuntimeError`` when the program runs); ``False`` (default): return
        the record (callers such as :func:`~rmtjax.spectra.kernel_stieltjes` decide).

    Returns:
      :class:`~rmtjax.spectra.Solution` with ``value = s`` (complex ``(k,)``), ``residual`` the
      relative residual ``|F(s) - s|_inf / |s|_inf`` at the target and ``result``
      ``successful``, ``nonfinite`` (a NaN/inf root or residual, e.g. from NaN inputs) or
      ``max_steps_reached``; never ``diverged`` (a Newton step that leaves ``C+`` or does
      not lower the residual is retried from the last accepted root).

    References:
      E. Dobriban, "Efficient computation of limit spectra of sample covariance matrices",
      Random Matrices: Theory Appl. 4(4), 2015 (continuation and Newton for the MP equation);
      M. Blondel et al., "Efficient and modular implicit differentiation", NeurIPS 2022
      (implicit gradients of fixed points).
    """
    rdt = jnp.asarray(scale).dtype if dtype is None else dtype
    tol = default_tol(rdt, tol)
    eta = jax.lax.stop_gradient(jnp.asarray(eta, rdt))
    scale = jax.lax.stop_gradient(jnp.asarray(scale, rdt))
    coords = _Coords(fn, 1 / scale)
    zero = jnp.zeros((), rdt)
    s0 = jnp.full((k,), 1j / scale)

    def root(x: Array) -> Array:
        return _to_real(fn(_to_complex(x), zero)) - x

    def solve(_: Callable[[Array], Array], x_init: Array) -> tuple[Array, tuple[Array, ...]]:
        x, (converged, steps, res) = _continuation(
            coords, coords.to_x(_to_complex(x_init)), eta, scale, tol, max_steps
        )
        # custom_root's JVP wants float aux outputs (it mis-types int/bool tangents).
        return _to_real(coords.to_s(x)), (converged.astype(rdt), steps.astype(rdt), res)

    def tangent_solve(g: Callable[[Array], Array], y: Array) -> Array:
        return jnp.linalg.solve(jax.jacfwd(g)(y), y)

    x, (converged, iterations, residual) = jax.lax.custom_root(
        root, _to_real(s0), solve, tangent_solve, has_aux=True
    )
    sol = Solution.classify(_to_complex(x), iterations, residual, converged=converged > 0)
    return sol.checked("solve_fixed_point", throw)
