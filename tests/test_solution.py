"""Tests for rmtjax/_solution.py: result codes of real solvers, raising under jit, NaN, aliases."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax._solution import RESULTS, Solution, check_at_runtime, default_tol, raise_if_failed
from rmtjax.graphs import Solution as GraphsSolution
from rmtjax.graphs import isorank
from rmtjax.spectra import Solution as SpectraSolution
from rmtjax.spectra import mp_map, semicircle, solve_fixed_point


def _graphs(n=5, seed=0):
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(2, n, n))
    return jnp.asarray(A + A.T, jnp.float32), jnp.asarray(B + B.T, jnp.float32)


def _with_nan(A):
    return A.at[0, 1].set(jnp.nan).at[1, 0].set(jnp.nan)


@functools.partial(jax.jit, static_argnames="max_steps")
def _semicircle(z, max_steps=300):
    """Stieltjes transform of the unit semicircle, the root of m = -1 / (z + m) in C+."""

    def fn(s, delta):
        return -1 / (z + 1j * delta + s)

    return solve_fixed_point(
        fn, 1, eta=jnp.maximum(jnp.imag(z), 0.0), scale=4.0, max_steps=max_steps
    )


def _assert_codes(sol, expected):
    chex.assert_trees_all_equal(sol.result, jnp.asarray(expected, jnp.int32))
    chex.assert_trees_all_equal(sol.converged, sol.result == RESULTS.successful)


def test_one_class_everywhere():
    assert GraphsSolution is Solution and SpectraSolution is Solution
    assert Solution._fields == ("value", "converged", "iterations", "residual", "result")


def test_results_names_and_messages():
    assert [r.name for r in RESULTS] == [
        "successful",
        "max_steps_reached",
        "nonfinite",
        "diverged",
    ]
    assert RESULTS(1) is RESULTS.max_steps_reached
    assert "cap" in RESULTS.max_steps_reached.message
    assert "NaN" in RESULTS.nonfinite.message


@pytest.mark.parametrize("jit", [False, True])
def test_isorank_result_codes(jit):
    A, B = _graphs()
    solve = jax.jit(isorank, static_argnames="max_iter") if jit else isorank
    good = solve(A, B)
    _assert_codes(good, RESULTS.successful)
    assert float(good.residual) <= default_tol(jnp.float32, f32=1e-5)  # isorank's default
    capped = solve(A, B, max_iter=1)
    _assert_codes(capped, RESULTS.max_steps_reached)
    assert int(capped.iterations) == 1 and float(capped.residual) > 1e-6
    if jit:  # under jit the value checks are skipped, so the NaN reaches the solver
        _assert_codes(solve(_with_nan(A), B), RESULTS.nonfinite)
    else:
        with pytest.raises(ValueError, match="NaN"):
            solve(_with_nan(A), B)


def test_isorank_result_codes_under_vmap():
    A, B = _graphs()
    sol = jax.jit(jax.vmap(lambda A: isorank(A, B)))(jnp.stack([A, _with_nan(A)]))
    _assert_codes(sol, [RESULTS.successful, RESULTS.nonfinite])
    chex.assert_trees_all_close(sol.value[0], isorank(A, B).value, atol=1e-7)


def test_fixed_point_result_codes_jit_and_vmap():
    z = jnp.asarray(0.3 + 0.5j, jnp.complex64)
    good = _semicircle(z)
    _assert_codes(good, RESULTS.successful)
    chex.assert_trees_all_close(good.value[0], semicircle(1.0).stieltjes(0.3 + 0.5j), rtol=1e-4)
    _assert_codes(_semicircle(z, max_steps=1), RESULTS.max_steps_reached)
    _assert_codes(_semicircle(jnp.asarray(jnp.nan + 0.5j, jnp.complex64)), RESULTS.nonfinite)
    batch = jax.vmap(_semicircle)(jnp.asarray([0.3 + 0.5j, jnp.nan + 0.5j], jnp.complex64))
    _assert_codes(batch, [RESULTS.successful, RESULTS.nonfinite])


def test_limit_spectrum_result_codes():
    z = jnp.asarray([0.5 + 0.1j, 1.2 + 0.05j])
    spec = mp_map(0.4, jnp.array([1.0]))
    _assert_codes(spec.solve(z), [RESULTS.successful] * 2)
    _assert_codes(mp_map(0.4, jnp.array([1.0]), max_steps=1).solve(z), [1, 1])
    bad = jax.jit(lambda s, z: s.solve(z))(spec, z.at[1].set(jnp.nan))
    _assert_codes(bad, [RESULTS.successful, RESULTS.nonfinite])


def test_error_if_failed_raises_eagerly():
    A, B = _graphs()
    good = isorank(A, B)
    assert good.error_if_failed("isorank") is good
    with pytest.raises(RuntimeError, match=r"isorank did not converge at 1 of 1 points"):
        isorank(A, B, max_iter=1).error_if_failed("isorank")


def test_error_if_failed_raises_under_jit():
    A, B = _graphs()

    @functools.partial(jax.jit, static_argnames="max_iter")
    def checked(A, B, max_iter):
        return isorank(A, B, max_iter=max_iter).error_if_failed("isorank").value

    chex.assert_trees_all_close(checked(A, B, 1000), isorank(A, B).value, atol=1e-7)
    with pytest.raises(jax.errors.JaxRuntimeError, match="max_steps_reached at 1"):
        jax.block_until_ready(checked(A, B, 1))
    batched = jax.jit(jax.vmap(lambda A: isorank(A, B).error_if_failed("isorank").value))
    with pytest.raises(jax.errors.JaxRuntimeError, match="nonfinite"):
        jax.block_until_ready(batched(jnp.stack([A, _with_nan(A)])))


@pytest.mark.slow  # compile-heavy: the default run stays under 10 minutes on 2 cores
def test_raise_if_failed_keeps_gradients():
    # d/dx Im m(x + 0.5i) of the semicircle, through the implicit adjoint and the staged check.
    def im_m(x):
        sol = _semicircle(x + 0.5j)
        return jnp.imag(raise_if_failed(sol, "semicircle", throw=True)[0])

    def im_ref(x):
        return jnp.imag(semicircle(1.0).stieltjes(x + 0.5j))

    chex.assert_trees_all_close(jax.jit(jax.grad(im_m))(0.3), jax.grad(im_ref)(0.3), rtol=1e-3)


def test_throw_false_is_nan_in_both_parts():
    z = jnp.asarray([0.3 + 0.5j, 0.4 + 0.5j], jnp.complex64)
    for fn in (lambda z: _semicircle(z, max_steps=1), jax.jit(lambda z: _semicircle(z, 1))):
        sol = jax.vmap(fn)(z)
        assert bool(jnp.all(jnp.isfinite(sol.value)))  # the capped iterate looks like a number
        m = raise_if_failed(sol, "semicircle", throw=False)
        assert bool(jnp.all(jnp.isnan(m.real) & jnp.isnan(m.imag)))


def test_classify_and_derive_follow_the_rule():
    value = jnp.asarray([[1.0, 2.0], [1.0, jnp.inf], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    residual = jnp.asarray([1e-9, 1e-9, jnp.nan, 0.5, 0.5])
    converged = jnp.asarray([True, True, True, False, False])
    diverged = jnp.asarray([False, False, False, True, False])
    sol = Solution.classify(value, jnp.arange(5), residual, converged=converged, diverged=diverged)
    codes = [
        RESULTS.successful,
        RESULTS.nonfinite,  # inf in the value beats the solver's own test
        RESULTS.nonfinite,  # NaN residual
        RESULTS.diverged,
        RESULTS.max_steps_reached,
    ]
    _assert_codes(sol, codes)
    assert sol.iterations.dtype == jnp.int32
    # A derived quantity: a new failure replaces only a success; old reasons stay.
    derived = sol.derive(jnp.asarray([jnp.nan, 1.0, 1.0, 1.0, 1.0]))
    _assert_codes(derived, [RESULTS.nonfinite, *codes[1:]])
    _assert_codes(sol.derive(diverged=True), [RESULTS.diverged, *codes[1:]])
    with pytest.raises(RuntimeError, match=r"4 of 5 points \(max_steps_reached at 1, nonfinite"):
        sol.error_if_failed("toy")
    expected = jnp.concatenate([value[:1], jnp.full((4, 2), jnp.nan)])
    chex.assert_trees_all_equal(sol.value_or_nan(), expected)


def test_default_tol():
    assert default_tol(jnp.float32) == 1e-5 and default_tol(np.float64) == 1e-12
    assert default_tol(jnp.float32, f32=1e-4, f64=1e-7) == 1e-4
    assert default_tol(np.float64, f32=1e-4, f64=1e-7) == 1e-7
    assert default_tol(jnp.float32, 3e-3) == 3e-3
    with pytest.raises(ValueError, match="tol must be > 0"):
        default_tol(jnp.float32, 0.0)


def test_deprecated_x_alias_warns_and_is_the_value():
    A, B = _graphs()
    sol = isorank(A, B)
    with pytest.warns(DeprecationWarning, match=r"Solution\.value"):
        X = sol.X
    assert X is sol.value


def test_check_at_runtime_raises_eagerly_under_jit_and_vmap():
    def positive(x):
        check_at_runtime(x > 0, "x must be > 0", detail=x)
        return 2 * x

    with pytest.raises(ValueError, match=r"x must be > 0; got -1.0"):
        positive(jnp.asarray(-1.0))
    assert float(jax.jit(positive)(1.0)) == 2.0
    with pytest.raises(jax.errors.JaxRuntimeError, match="x must be > 0"):
        jax.block_until_ready(jax.jit(positive)(-1.0))
    with pytest.raises(jax.errors.JaxRuntimeError, match="x must be > 0"):
        jax.block_until_ready(jax.jit(jax.vmap(positive))(jnp.array([1.0, -1.0])))
    assert float(jax.grad(positive)(1.0)) == 2.0  # the check does not block gradients


def test_checked_throw_option():
    A, B = _graphs()
    sol = isorank(A, B, max_iter=1)
    assert sol.checked("isorank", False) is sol
    with pytest.raises(RuntimeError, match="isorank did not converge"):
        sol.checked("isorank", True)
    with pytest.raises(TypeError, match="throw must be True, False or None"):
        sol.checked("isorank", "yes")
    with pytest.raises(RuntimeError, match="isorank did not converge"):
        sol.checked("isorank", None)  # the default rule: raise on concrete arrays
    traced = jax.jit(lambda s: s.checked("isorank", None))(sol)
    assert not bool(jnp.any(traced.converged))
    assert bool(jnp.all(jnp.isnan(traced.value)))  # ... and NaN under jit


def test_solve_fixed_point_throw():
    def fn(s, delta):
        return -1 / (0.5 + 0.1j + 1j * delta + s)

    def solve(throw):
        return solve_fixed_point(fn, 1, eta=0.1, scale=4.0, max_steps=1, throw=throw)

    assert not bool(solve(False).converged[()])
    with pytest.raises(RuntimeError, match="solve_fixed_point did not converge"):
        solve(True)
    with pytest.raises(jax.errors.JaxRuntimeError, match="solve_fixed_point did not converge"):
        jax.block_until_ready(jax.jit(lambda: solve(True).value)())
