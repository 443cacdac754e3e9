"""Tests for rmtjax/spectra/fixed_point.py on the semicircle equation m = -1/(z + v m)."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.spectra import semicircle, solve_fixed_point


@functools.partial(jax.jit, static_argnames="max_steps")
def _solve(z, var=1.0, max_steps=300):
    """Semicircle law of variance var: m = -1 / (z + var m), unique root in C+."""

    def fn(s, delta):
        return -1 / (z + 1j * delta + var * s)

    return solve_fixed_point(fn, 1, eta=jnp.imag(z), scale=4.0, max_steps=max_steps)


@pytest.mark.parametrize("z", [0.3 + 0.5j, 1.99 + 1e-7j, 2.01 + 0j, -1.5 + 0j, 0.0 + 0j, 5 + 3j])
def test_root_matches_closed_form(x64, z):
    sol = _solve(jnp.asarray(z))
    assert bool(sol.converged) and float(sol.residual) < 1e-12
    ref = semicircle(1.0).stieltjes(z if z.imag > 0 else z + 1e-300j)
    chex.assert_trees_all_close(sol.value[0], ref, rtol=1e-10)


def test_unconverged_is_flagged(x64):
    sol = _solve(jnp.asarray(0.5 + 1e-6j), max_steps=3)
    assert not bool(sol.converged)
    assert int(sol.iterations) == 3


def test_implicit_gradient_matches_closed_form(x64):
    z = 0.7 + 0.2j

    def im_m(var):
        return jnp.imag(_solve(jnp.asarray(z), var=var).value[0])

    def im_ref(var):
        return jnp.imag(semicircle(var).stieltjes(z))

    chex.assert_trees_all_close(jax.grad(im_m)(1.3), jax.grad(im_ref)(1.3), rtol=1e-9)
    # Derivative in z (through the closure) at a real point inside the support: dm/dx.
    dm = jax.grad(lambda x: jnp.imag(_solve(x + 0j).value[0]))(0.4)
    dref = jax.grad(lambda x: jnp.imag(semicircle(1.0).stieltjes(x + 1e-300j)))(0.4)
    np.testing.assert_allclose(float(dm), float(dref), rtol=1e-9)


def test_float32_reaches_its_tolerance():
    sol = _solve(jnp.asarray(0.5 + 0.01j, jnp.complex64), jnp.float32(1.0))
    assert sol.value.dtype == jnp.complex64 and bool(sol.converged)
    chex.assert_trees_all_close(sol.value[0], semicircle(1.0).stieltjes(0.5 + 0.01j), rtol=1e-4)
