"""eigvec_overlap: physical sense checks and an independent numpy reference for one trial."""

import itertools

import jax
import numpy as np
import pytest

from rmtjax.experiments.config import ConfigError, load_config
from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.eigvec_overlap import EigvecOverlapConfig, overlap_trial
from rmtjax.graphs.models import correlated_erdos_renyi


def test_trial_matches_numpy_reference(x64):
    n, q, index, window = 40, 0.5, 10, 3
    key = jax.random.key(3)
    deltas = np.array([0.0, 0.2])
    got = np.asarray(overlap_trial(n, q, index, window)(key, deltas))
    A = np.asarray(correlated_erdos_renyi(key, n, q, 0.0).A)
    _, U = np.linalg.eigh(A)
    u = U[:, ::-1][:, index - 1]  # decreasing order, 1-based
    for k, delta in enumerate(deltas):
        pair = correlated_erdos_renyi(key, n, q, delta)
        perm = np.asarray(pair.perm)
        B0 = np.asarray(pair.B)[np.ix_(perm, perm)]
        V = np.linalg.eigh(B0)[1][:, ::-1]
        expected = [(u @ V[:, j - 1]) ** 2 for j in range(index - window, index + window + 1)]
        np.testing.assert_allclose(got[k], expected, atol=1e-10)


def test_overlap_physics(tmp_path):
    config = EigvecOverlapConfig(
        n=120, index=30, window=8, deltas=(0.0, 0.002, 0.02, 0.2), trials=12, chunk_size=6
    )
    summary = run_experiment(config, tmp_path, progress=False)
    at_zero = np.array(summary["overlap"]["0.0"])
    # delta = 0: B0 = A, so <u_i, v_j>^2 = 1{i = j} (simple spectrum with probability 1).
    np.testing.assert_allclose(at_zero[8], 1.0, atol=1e-4)
    np.testing.assert_allclose(np.delete(at_zero, 8), 0.0, atol=1e-4)
    peaks = [summary["peak"][str(d)] for d in config.deltas]
    assert all(a > b for a, b in itertools.pairwise(peaks)), peaks
    # Overlaps are squared projections onto orthonormal vectors: each row sums to at most 1.
    assert all(sum(v) <= 1 + 1e-5 for v in summary["overlap"].values())
    assert summary["n"] == 120 and summary["trials"] == 12
    assert (tmp_path / "eigvec_overlap.png").stat().st_size > 0
    assert (tmp_path / "data.npz").is_file()


def test_config_rejects_bad_window():
    with pytest.raises(ConfigError, match="index - window"):
        load_config(EigvecOverlapConfig, {"n": 50, "index": 45, "window": 10})
    with pytest.raises(ConfigError, match=r"q \(1 \+ delta\)"):
        load_config(EigvecOverlapConfig, {"q": 0.9, "deltas": [0.5]})
