"""Tests for rmtjax/nets/data.py: generator laws, diagnostics by brute force, loaders."""

import pickle
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.nets.data import (
    PHOTOGRAPHS,
    covariance_inputs,
    gaussian_inputs,
    image_patches,
    lipschitz_inputs,
    load_cifar10,
    load_digits,
    normalize_rows,
    orthogonality,
    remove_top_pcs,
    spiked_inputs,
)


def _normal(seed, shape):
    """Standard normal test data from numpy (no jax.random compile per shape)."""
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape))


def test_gaussian_inputs_law():
    """Entries N(0, 1/d0): row norms² have mean 1 and sd sqrt(2/d0)."""
    n, d0 = 400, 300
    X = gaussian_inputs(jax.random.key(0), n, d0)
    chex.assert_shape(X, (n, d0))
    norms = np.asarray(jnp.sum(X**2, axis=1))
    assert abs(norms.mean() - 1) < 5 * np.sqrt(2 / d0 / n)
    assert abs(norms.std() - np.sqrt(2 / d0)) < 0.2 * np.sqrt(2 / d0)
    diag = orthogonality(X)
    # ε_n ≈ sqrt(2 log(n²)/d0) for i.i.d. rows; a broken scale would be off by a factor sqrt(d0).
    assert float(diag.max_inner) < 2 * np.sqrt(2 * np.log(n**2) / d0)


def test_covariance_inputs_second_moment(x64):
    """E xxᵀ = Σ/d0: the sample second moment over n = 20000 rows is within ~1% of it."""
    d0 = 4
    A = _normal(1, (d0, d0))
    cov = A @ A.T + jnp.eye(d0)
    X = covariance_inputs(jax.random.key(2), 20_000, cov)
    emp = X.T @ X / X.shape[0]
    chex.assert_trees_all_close(emp * d0, cov, atol=0.05 * float(jnp.max(jnp.abs(cov))))
    X_diag = covariance_inputs(jax.random.key(3), 20_000, jnp.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_allclose(np.var(X_diag, axis=0) * d0, [1, 2, 3, 4], rtol=0.05)
    with pytest.raises(ValueError, match="cov must be symmetric"):
        covariance_inputs(jax.random.key(0), 3, jnp.triu(jnp.ones((3, 3))))
    with pytest.raises(ValueError, match="cov"):
        covariance_inputs(jax.random.key(0), 3, jnp.array([1.0, -1.0]))


def test_lipschitz_inputs():
    n, d0 = 300, 400
    X = lipschitz_inputs(jax.random.key(4), n, d0)
    norms = jnp.sum(X**2, axis=1)
    assert abs(float(jnp.mean(norms)) - 1) < 0.02  # standardized tanh: E f(z)² = 1
    assert float(orthogonality(X).max_inner) < 2 * np.sqrt(2 * np.log(n**2) / d0)
    Xs = lipschitz_inputs(jax.random.key(4), 5, 3, f=jnp.sort)
    assert bool(jnp.all(jnp.diff(Xs, axis=1) >= 0))
    with pytest.raises(ValueError, match="f must map"):
        lipschitz_inputs(jax.random.key(4), 5, 3, f=lambda z: z[:2])


def test_spiked_inputs_structure(x64):
    n, d0 = 200, 150
    spiked = spiked_inputs(jax.random.key(5), n, d0, (3.0, 2.0), noise=0.0)
    chex.assert_shape([spiked.X, spiked.u, spiked.v], [(n, d0), (d0, 2), (n, 2)])
    chex.assert_trees_all_close(jnp.linalg.norm(spiked.u, axis=0), jnp.ones(2), rtol=1e-12)
    chex.assert_trees_all_close(jnp.linalg.norm(spiked.v, axis=0), jnp.ones(2), rtol=1e-12)
    expected = 3.0 * jnp.outer(spiked.v[:, 0], spiked.u[:, 0])
    expected = expected + 2.0 * jnp.outer(spiked.v[:, 1], spiked.u[:, 1])
    chex.assert_trees_all_close(spiked.X, expected, rtol=1e-12, atol=1e-15)
    sparse = spiked_inputs(jax.random.key(6), n, d0, (3.0, 2.0), support=20)
    np.testing.assert_array_equal(np.sum(np.asarray(sparse.v) != 0, axis=0), [20, 20])
    # Noise of level 1 has N(0, 1/d0) entries: the residual's squared norm is ≈ n.
    resid = sparse.X - (sparse.v * jnp.array([3.0, 2.0])) @ sparse.u.T
    assert abs(float(jnp.sum(resid**2)) / n - 1) < 0.05
    with pytest.raises(ValueError, match="support"):
        spiked_inputs(jax.random.key(6), n, d0, (1.0,), support=n + 1)
    with pytest.raises(ValueError, match="strengths"):
        spiked_inputs(jax.random.key(6), n, d0, ())
    with pytest.raises(ValueError, match="noise"):
        spiked_inputs(jax.random.key(6), n, d0, (1.0,), noise=-1.0)


def test_orthogonality_brute_force():
    X = jnp.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.2]])
    diag = orthogonality(X)
    assert float(diag.max_inner) == pytest.approx(0.6)
    assert float(diag.max_norm_dev) == pytest.approx(0.44)
    batched = orthogonality(jnp.stack([X, 2 * X]))
    chex.assert_shape(batched.max_inner, (2,))
    assert float(batched.max_inner[1]) == pytest.approx(2.4)


def test_remove_top_pcs_against_numpy(x64):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8)) @ np.diag([5, 4, 3, 1, 1, 1, 1, 1]) + 2.0
    Y = remove_top_pcs(X, 3)
    Xc = X - X.mean(axis=0)
    _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
    chex.assert_trees_all_close(Y, Xc - Xc @ Vt[:3].T @ Vt[:3], rtol=1e-10, atol=1e-12)
    assert float(jnp.max(jnp.abs(Y @ Vt[:3].T))) < 1e-10
    assert int(jnp.linalg.matrix_rank(Y)) == 8 - 3
    chex.assert_trees_all_close(remove_top_pcs(X, 0, center=False), X)
    with pytest.raises(ValueError, match="k must be"):
        remove_top_pcs(X, 9)


def test_normalize_rows():
    X = jnp.array([[3.0, 4.0], [0.0, 2.0]])
    chex.assert_trees_all_close(normalize_rows(X), jnp.array([[0.6, 0.8], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="zero row"):
        normalize_rows(jnp.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="NaN"):
        normalize_rows(jnp.array([[jnp.nan, 1.0]]))
    with pytest.raises(ValueError, match="shape"):
        normalize_rows(jnp.ones(3))


def _write_cifar_batch(path, images, labels):
    """The CIFAR-10 python format: a pickled dict with bytes keys, uint8 (m, 3072) data."""
    batch = {
        b"batch_label": b"training batch",
        b"labels": list(labels),
        b"data": images,
        b"filenames": [b"img%d.png" % i for i in range(len(labels))],
    }
    with open(path, "wb") as fh:
        pickle.dump(batch, fh, protocol=2)


def test_load_cifar10_tiny_batches(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(7, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7)
    _write_cifar_batch(tmp_path / "data_batch_1", images[:4], labels[:4])
    _write_cifar_batch(tmp_path / "data_batch_2", images[4:], labels[4:])
    _write_cifar_batch(tmp_path / "test_batch", images[:1], labels[:1])  # ignored
    data = load_cifar10(tmp_path)
    chex.assert_shape(data.X, (7, 3072))
    np.testing.assert_allclose(np.asarray(data.X), images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(data.y), labels)
    first = load_cifar10(tmp_path, 5)
    np.testing.assert_array_equal(np.asarray(first.y), labels[:5])
    sub = load_cifar10(tmp_path, 3, key=jax.random.key(0))
    rows = [int(np.argmin(np.abs(images / 255.0 - np.asarray(x)).sum(1))) for x in sub.X]
    assert len(set(rows)) == 3
    np.testing.assert_array_equal(np.asarray(sub.y), labels[rows])
    single = load_cifar10(tmp_path / "data_batch_2")
    np.testing.assert_array_equal(np.asarray(single.y), labels[4:])
    with pytest.raises(ValueError, match="n must be"):
        load_cifar10(tmp_path, 8)
    with pytest.raises(FileNotFoundError, match="CIFAR-10"):
        load_cifar10(tmp_path / "missing")
    with open(tmp_path / "bad", "wb") as fh:
        pickle.dump([1, 2], fh)
    with pytest.raises(ValueError, match="not a CIFAR-10"):
        load_cifar10(tmp_path / "bad")


def test_load_digits():
    pytest.importorskip("sklearn")
    data = load_digits()
    chex.assert_shape(data.X, (1797, 64))
    assert 0.0 <= float(jnp.min(data.X)) and float(jnp.max(data.X)) <= 1.0
    assert set(np.unique(np.asarray(data.y)).tolist()) == set(range(10))
    chex.assert_shape(load_digits(100, key=jax.random.key(0)).X, (100, 64))


def test_load_digits_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="scikit-learn"):
        load_digits()


def test_image_patches_are_pieces_of_the_photographs():
    pytest.importorskip("skimage")
    import skimage.data

    data = image_patches(jax.random.key(0), 15, size=8)
    chex.assert_shape(data.X, (15, 192))
    # Patch k comes from photograph k mod 7, in the order of PHOTOGRAPHS.
    np.testing.assert_array_equal(np.asarray(data.y), np.arange(15) % len(PHOTOGRAPHS))
    assert 0.0 <= float(jnp.min(data.X)) and float(jnp.max(data.X)) <= 1.0
    # Each astronaut patch (y = 0) occurs in the photograph at some position: a literal search.
    photo = skimage.data.astronaut().astype(np.float32) / 255.0
    windows = np.lib.stride_tricks.sliding_window_view(photo, (8, 8, 3))[:, :, 0]
    windows = windows.reshape(*windows.shape[:2], -1)
    for patch in np.asarray(data.X)[np.asarray(data.y) == 0]:
        hits = np.all(np.abs(windows - patch) < 1e-6, axis=-1)
        assert hits.any()
    again = image_patches(jax.random.key(0), 15, size=8)
    np.testing.assert_array_equal(data.X, again.X)
    assert not np.array_equal(data.X, image_patches(jax.random.key(1), 15, size=8).X)


def test_image_patches_bad_input():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        image_patches(jax.random.key(0), 0)
    with pytest.raises(ValueError, match="size must be <= 300"):
        image_patches(jax.random.key(0), 4, size=301)
