"""The vectorizable arctan against float64 numpy, at special values and through its derivative."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax._arctan import arctan
from rmtjax.activations import get_activation


def _ulp_error(out: np.ndarray, x: np.ndarray) -> np.ndarray:
    ref = np.arctan(x.astype(np.float64))
    return np.abs(out.astype(np.float64) - ref) / np.spacing(np.abs(ref).astype(np.float32))


def test_float32_within_two_ulp_over_all_exponents():
    # Every 997th positive normal float32 bit pattern: all exponents, both branch points
    # (tan(π/8), tan(3π/8)) and their neighbourhoods; the polynomial's own error is 0.01 ulp,
    # the rest is the reduction's and the final sum's rounding (1.81 ulp seen on 35M values).
    bits = np.arange(0x00800000, 0x7F800000, 997, dtype=np.uint32)
    x = bits.view(np.float32)
    near_branches = np.array(
        [
            np.nextafter(np.float32(t), np.float32(s * np.inf))
            for t in (0.41421357, 2.4142137)
            for s in (1, -1)
        ]
    )
    x = np.concatenate([x, -x, near_branches, np.linspace(-3, 3, 100_001, dtype=np.float32)])
    out = np.asarray(jax.jit(arctan)(jnp.asarray(x)))
    chex.assert_trees_all_equal(out.dtype, np.dtype(np.float32))
    assert _ulp_error(out, x).max() <= 2.0


def test_special_values_and_odd_symmetry():
    x = jnp.array([0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 3.4e38], jnp.float32)
    out = np.asarray(arctan(x))
    correctly_rounded = np.arctan(np.asarray(x, np.float64)).astype(np.float32)
    np.testing.assert_array_equal(out, correctly_rounded)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(np.asarray(x)))
    assert np.isnan(arctan(jnp.float32(np.nan)))
    y = jnp.asarray(np.random.default_rng(0).standard_normal(10_000).astype(np.float32) * 4)
    np.testing.assert_array_equal(np.asarray(arctan(-y)), -np.asarray(arctan(y)))


def test_float64_is_jnp_arctan():
    with jax.enable_x64(True):
        x = jnp.linspace(-50.0, 50.0, 10_001, dtype=jnp.float64)
        np.testing.assert_array_equal(np.asarray(arctan(x)), np.asarray(jnp.arctan(x)))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_narrow_floats_round_the_float32_value(dtype):
    x = jnp.linspace(-8.0, 8.0, 257, dtype=dtype)
    out = arctan(x)
    assert out.dtype == dtype
    expected = np.arctan(np.asarray(x.astype(jnp.float32)).astype(np.float64)).astype(dtype)
    np.testing.assert_array_equal(np.asarray(out), expected)


def test_derivatives_are_those_of_arctan():
    x = jnp.linspace(-6.0, 6.0, 97, dtype=jnp.float32)
    first = jax.vmap(jax.grad(arctan))(x)
    second = jax.vmap(jax.grad(jax.grad(arctan)))(x)
    chex.assert_trees_all_close(first, 1 / (1 + x**2), rtol=2e-7)
    chex.assert_trees_all_close(second, -2 * x / (1 + x**2) ** 2, rtol=1e-6, atol=1e-7)


def test_integers_become_floats():
    assert arctan(jnp.arange(3)).dtype == jnp.result_type(float)


def test_arctan_preset_uses_it():
    act = get_activation("arctan")
    x = jnp.linspace(-5.0, 5.0, 11, dtype=jnp.float32)
    raw = (np.arctan(np.asarray(x, np.float64)) - float(act.mean)) / float(act.sd)
    chex.assert_trees_all_close(act(x), raw.astype(np.float32), rtol=1e-6, atol=1e-6)
    assert act.g is arctan
