"""Support edges of a limit spectrum as roots of the edge equation, with implicit gradients.

On the real axis outside the support the fixed point ``s = F(s; x)`` of the Fan–Wang
recursion (see :func:`~rmtjax.spectra.kernel_stieltjes`) has a real root ``s(x)`` that is
analytic in ``x``; at an edge ``x_e`` the root folds, ``ds/dx = (I - ∂F/∂s)^{-1} ∂F/∂x``
blows up, i.e. ``I - ∂F/∂s`` becomes singular. Each edge is therefore the root ``(x_e, s_e)``
of the ``L + 1`` real equations

    ``F(s, x) - s = 0``,   ``det(I - ∂F/∂s (s, x)) = 0``,

found by Newton steps from a seed (just outside the edge, from the scanned support) and
differentiated by the implicit function theorem (``jax.lax.custom_root``): gradients with
respect to the ratios, the activation constants and the input law never pass through the
loop. For the Marchenko–Pastur law (``L = 1``, ``b = 0`` or ``mu0 = delta_1``) the roots are
``(1 ± sqrt(gamma))^2``.

References:
  J. Silverstein, S.-I. Choi, "Analysis of the limiting spectral distribution of large
  dimensional random matrices", J. Multivariate Anal. 54(2), 1995 (edges where the inverse
  Stieltjes map is critical); Z. Fan, Z. Wang, NeurIPS 2020, Theorem 3.4.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from rmtjax._solution import Solution, default_tol
from rmtjax.spectra.kernel import fixed_point_unknowns, sweep

__all__ = ["solve_edges"]

Array = jax.Array


def _edge_residual(y: Array, q: Array, mu0: Any, gammas: Array, b2: Array) -> Array:
    """``(F(s, x) - s, det(I - ∂F/∂s))`` at ``y = (x, s_1, ..., s_L)`` (real)."""
    cdt = jnp.result_type(y.dtype, jnp.complex64)
    x, s = y[0], y[1:]
    zvec = q.astype(cdt).at[0].add(-x)

    def F(t: Array) -> Array:
        return jnp.real(sweep(t.astype(cdt), zvec, mu0, gammas, b2)[0])

    jac = jax.jacfwd(F)(s)
    det = jnp.linalg.det(jnp.eye(s.shape[0], dtype=y.dtype) - jac)
    return jnp.concatenate([F(s) - s, det[None]])


def _newton(
    g: Any, y0: Array, tol: float, max_steps: int
) -> tuple[Array, tuple[Array, Array, Array]]:
    """Newton's method on ``g(y) = 0`` until the relative step is ``<= tol``."""
    scale = jnp.maximum(jnp.max(jnp.abs(y0)), 1.0)

    def cond(c: tuple[Array, Array, Array]) -> Array:
        _, steps, step = c
        return (step > tol) & (steps < max_steps) & ~jnp.isnan(step)

    def body(c: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
        y, steps, _ = c
        delta = jnp.linalg.solve(jax.jacfwd(g)(y), g(y))
        return y - delta, steps + 1, jnp.max(jnp.abs(delta)) / scale

    init = (y0, jnp.asarray(0, jnp.int32), jnp.asarray(jnp.inf, y0.dtype))
    y, steps, step = jax.lax.while_loop(cond, body, init)
    return y, (step <= tol, steps, step)


def _one_edge(
    seed: Array,
    s_seed: Array,
    reach: Array,
    spec: Any,
    tol: float,
    max_steps: int,
) -> Solution:
    mu0, gammas, b2, q = spec.mu0, spec.gammas, spec.b**2, spec.q

    def g(y: Array) -> Array:
        return _edge_residual(y, q, mu0, gammas, b2)

    def solve(fn: Any, y0: Array) -> tuple[Array, tuple[Array, ...]]:
        y, (ok, steps, step) = _newton(fn, jax.lax.stop_gradient(y0), tol, max_steps)
        return y, (ok.astype(y.dtype), steps.astype(y.dtype), step)

    def tangent_solve(fn: Any, y: Array) -> Array:
        return jnp.linalg.solve(jax.jacfwd(fn)(y), y)

    y0 = jnp.concatenate([seed[None], s_seed])
    y, (ok, steps, step) = jax.lax.custom_root(g, y0, solve, tangent_solve, has_aux=True)
    # The edge lies in the grid bracket of its seed; a root further out is another one.
    strayed = jnp.abs(jax.lax.stop_gradient(y[0]) - seed) > reach
    return Solution.classify(y[0], steps, step, converged=ok > 0, diverged=strayed)


def solve_edges(
    spec: Any, seeds: Array, reach: Array, *, tol: float | None = None, max_steps: int = 50
) -> Solution:
    """Support edges of ``spec`` (a :class:`~rmtjax.spectra.LimitSpectrum`) near ``seeds``.

    Args:
      spec: the limit spectrum (possibly traced, for gradients).
      seeds: ``(...)`` real points near the edges, best just outside the support where the
        real fixed point exists (as :meth:`~rmtjax.spectra.LimitSpectrum.edges` picks them);
        not differentiated.
      reach: scalar, how far an edge may lie from its seed (the scan's bracket width); a
        root further away is reported ``diverged``.
      tol: relative Newton step at which a root is accepted (None: 1e-12 float64,
        1e-5 float32).
      max_steps: Newton step cap per edge.

    Returns:
      :class:`~rmtjax.spectra.Solution` with ``value`` the edges (shape of ``seeds``),
      ``residual`` the last relative Newton step; differentiable in ``spec`` by the implicit
      function theorem.
    """
    dt = spec.q.dtype
    seeds = jax.lax.stop_gradient(jnp.asarray(seeds, dt))
    sol = _solve_flat(
        spec, seeds.reshape(-1), jnp.asarray(reach, dt), default_tol(dt, tol), max_steps
    )
    return jax.tree_util.tree_map(lambda a: a.reshape(seeds.shape), sol)


@functools.partial(jax.jit, static_argnames=("tol", "max_steps"))
def _solve_flat(spec: Any, flat: Array, reach: Array, tol: float, max_steps: int) -> Solution:
    """:func:`solve_edges` on ``(n,)`` seeds, jitted: eager calls (and eager ``grad``) reuse
    one compiled seed solve and Newton loop instead of recompiling both on every call (their
    loop bodies are closures defined anew each time, so the op-by-op cache never hits)."""
    dt = spec.q.dtype
    zvec = spec.q.astype(jnp.result_type(dt, jnp.complex64)) + jnp.zeros((flat.shape[0], 1))
    zvec = zvec.at[:, 0].add(-flat)
    inner = fixed_point_unknowns(zvec, jax.lax.stop_gradient(spec), tol=spec.tol)
    s_seed = jnp.real(inner.value).astype(dt)
    return jax.vmap(_one_edge, in_axes=(0, 0, None, None, None, None))(
        flat, s_seed, reach, spec, tol, max_steps
    )
