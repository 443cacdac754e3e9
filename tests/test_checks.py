"""Tests of rmtjax/_checks.py: the shared data-matrix check."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax._checks import check_data_matrix


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
