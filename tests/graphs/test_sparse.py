"""Sparse inputs (jax.experimental.sparse.BCOO, scipy.sparse) give the dense results."""

import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse
from jax.experimental import sparse as jsparse

from rmtjax.graphs import (
    _inputs,
    correlated_erdos_renyi,
    degree_profile,
    eigenalign,
    isorank,
    match,
    refine,
)

PAIR = correlated_erdos_renyi(jax.random.key(0), 50, 0.1, 0.05)


def _formats(A):
    return {
        "dense": A,
        "bcoo": jsparse.BCOO.fromdense(A),
        "scipy_csr": scipy.sparse.csr_matrix(np.asarray(A)),
    }


@pytest.mark.parametrize("fmt", ["bcoo", "scipy_csr"])
def test_matvec_methods_equal_dense(fmt):
    A, B = _formats(PAIR.A)[fmt], _formats(PAIR.B)[fmt]
    for fn in (isorank, eigenalign):
        chex.assert_trees_all_close(fn(A, B).value, fn(PAIR.A, PAIR.B).value, rtol=1e-5, atol=1e-9)
    chex.assert_trees_all_close(
        degree_profile(A, B), degree_profile(PAIR.A, PAIR.B), rtol=1e-5, atol=1e-6
    )
    start = jnp.arange(50, dtype=jnp.int32)
    np.testing.assert_array_equal(refine(A, B, start, 2), refine(PAIR.A, PAIR.B, start, 2))


@pytest.mark.parametrize("method", ["grampa", "isorank", "degree_profile", "qp"])
def test_match_sparse_equals_dense(method):
    opts = {"tol": 1e-3} if method == "qp" else {}
    dense = match(PAIR.A, PAIR.B, method, refine_steps=1, **opts)
    for fmt in ("bcoo", "scipy_csr"):
        A, B = _formats(PAIR.A)[fmt], _formats(PAIR.B)[fmt]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            got = match(A, B, method, refine_steps=1, **opts)
        np.testing.assert_array_equal(got, dense, err_msg=f"{method} {fmt}")


def test_matvec_methods_never_densify(monkeypatch):
    """IsoRank, EigenAlign, degree profiles and refinement never call BCOO.todense."""

    def refuse(self):
        raise AssertionError("densified")

    A, B = jsparse.BCOO.fromdense(PAIR.A), jsparse.BCOO.fromdense(PAIR.B)
    monkeypatch.setattr(jsparse.BCOO, "todense", refuse)
    for method in ("isorank", "eigenalign", "degree_profile"):
        match(A, B, method, refine_steps=1)


def test_memory_warning_states_the_estimate(monkeypatch):
    monkeypatch.setattr(_inputs, "_machine_bytes", lambda: 10_000)
    with pytest.warns(ResourceWarning, match=r"dense 50 x 50 float32 .* over 25% of"):
        match(jsparse.BCOO.fromdense(PAIR.A), jsparse.BCOO.fromdense(PAIR.B), "grampa")


@pytest.mark.parametrize(
    "A, error, phrase",
    [
        (jsparse.BCOO.fromdense(jnp.ones((2, 3, 3))), ValueError, "single"),
        (scipy.sparse.csr_matrix(np.ones((3, 4))), ValueError, "square"),
        (scipy.sparse.csr_matrix(np.triu(np.ones((3, 3)))), ValueError, "symmetric"),
        (scipy.sparse.csr_matrix(np.array([[0, np.nan], [np.nan, 0]])), ValueError, "NaN"),
        (scipy.sparse.csr_matrix(np.eye(3) * 1j), TypeError, "real"),
    ],
)
def test_bad_sparse_formats_are_refused(A, error, phrase):
    with pytest.raises(error, match=phrase):
        match(A, np.eye(A.shape[-1]), "isorank")


def test_sparse_with_a_dense_batch_is_refused():
    with pytest.raises(ValueError, match="sparse graph cannot be paired with a batch"):
        isorank(jsparse.BCOO.fromdense(PAIR.A), jnp.stack([PAIR.B, PAIR.B]))
