"""Tests of rmtjax/_checks.py: the shared data-matrix and symmetry checks."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax import _checks
from rmtjax._checks import check_data_matrix, check_symmetric


def test_data_matrix_is_cast_to_float_and_returned():
    X = check_data_matrix(np.arange(6).reshape(2, 3))
    chex.assert_shape(X, (2, 3))
    assert jnp.issubdtype(X.dtype, jnp.floating)
    np.testing.assert_array_equal(np.asarray(X), np.arange(6).reshape(2, 3))
    chex.assert_shape(check_data_matrix(np.ones((4, 2, 3)), d0=3), (4, 2, 3))


@pytest.mark.parametrize(
    ("X", "kwargs", "message"),
    [
        (np.ones(3), {}, r"X must have shape \(\.\.\., n, d\); got \(3,\)"),
        (np.ones((2, 3)), {"d0": 4}, r"X must have shape \(\.\.\., n, d_0 = 4\); got \(2, 3\)"),
        (np.ones((1, 2, 3)), {"batched": False, "d0": 3}, r"\(n, d_0 = 3\); got \(1, 2, 3\)"),
        (np.array([[1.0, np.nan]]), {"name": "X_test"}, "X_test contains NaN or inf"),
    ],
)
def test_bad_data_matrix_is_named(X, kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_data_matrix(X, **kwargs)


def test_shape_check_runs_under_jit_and_value_check_is_skipped():
    with pytest.raises(ValueError, match="X must have shape"):
        jax.jit(lambda x: check_data_matrix(x, d0=2))(jnp.ones((3, 3)))
    out = jax.jit(check_data_matrix)(jnp.array([[jnp.nan, 1.0]]))
    assert bool(jnp.isnan(out[0, 0]))


@pytest.mark.parametrize("shape", [(2, 2), (257, 257), (3, 513, 513)])
def test_tiled_asymmetry_is_the_plain_maximum(shape):
    a = np.random.default_rng(shape[-1]).standard_normal(shape)
    expected = np.max(np.abs(a - np.swapaxes(a, -1, -2)))
    assert _checks._max_asymmetry(a) == expected
    s = np.round(a + np.swapaxes(a, -1, -2))  # integers: the difference below is exact
    s[..., -1, 0] += 1.0  # in the last, partial tile row
    assert _checks._max_asymmetry(s) == 1.0
    with pytest.raises(ValueError, match=r"M must be symmetric; max \|M - M\^T\| = 1"):
        check_symmetric(s, "M")


def test_symmetric_jax_array_is_read_once(monkeypatch):
    reads = []
    monkeypatch.setattr(_checks, "_max_asymmetry", lambda a: reads.append(a.shape) or 0.0)
    a = jnp.eye(5) + 0.0
    check_symmetric(a, "A")
    check_symmetric(a, "A")
    check_symmetric(a, "A", rtol=1e-9)  # another tolerance is another check
    assert reads == [(5, 5), (5, 5)]
    del a  # the identity is forgotten with the array
    assert not any(ref() is None for ref in _checks._symmetric_arrays.values())


def test_numpy_array_is_checked_every_time():
    a = np.eye(4)
    check_symmetric(a, "A")
    a[0, 1] = 3.0  # numpy arrays can change in place: nothing is remembered
    with pytest.raises(ValueError, match="A must be symmetric"):
        check_symmetric(a, "A")
