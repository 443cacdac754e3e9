"""grampa_recovery: one trial against a numpy/scipy reference, a tiny run, config validation."""

from pathlib import Path

import numpy as np
import pytest
import scipy.optimize

from rmtjax.experiments.config import ConfigError, load_config, read_yaml
from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.engine import trial_key
from rmtjax.experiments.grampa_recovery import GrampaRecoveryConfig, recovery_trial
from rmtjax.graphs.models import correlated_erdos_renyi, correlated_wigner


def _numpy_grampa_recovery(A, B, perm, eta):
    """GRAMPA by its spectral formula in numpy, exact rounding by scipy, recovered fraction."""
    lam, U = np.linalg.eigh(A)
    mu, V = np.linalg.eigh(B)
    W = eta / ((lam[:, None] - mu[None, :]) ** 2 + eta**2)
    X = U @ (W * np.outer(U.sum(axis=0), V.sum(axis=0))) @ V.T
    rows, cols = scipy.optimize.linear_sum_assignment(X, maximize=True)
    return np.mean(cols[np.argsort(rows)] == perm)


def _normalized(A):
    n = A.shape[0]
    q = A.sum() / (n * (n - 1))
    return (A - q) / np.sqrt(n * q * (1 - q))


@pytest.mark.parametrize("q, noise", [(None, 0.35), (0.3, 0.06)])
def test_trial_matches_numpy_reference(x64, q, noise):
    # Near the threshold, so the recovered fraction is strictly between 0 and 1 and any change
    # in the pair, the normalization or the rounding would show.
    n, eta, key = 40, 0.2, trial_key(0, 3)
    got = float(recovery_trial(n, q, "grampa", (("eta", eta),), 0)(key, np.float64(noise)))
    if q is None:
        pair = correlated_wigner(key, n, noise)
        A, B = np.asarray(pair.A), np.asarray(pair.B)
    else:
        pair = correlated_erdos_renyi(key, n, q, noise)
        A, B = _normalized(np.asarray(pair.A)), _normalized(np.asarray(pair.B))
    expected = _numpy_grampa_recovery(A, B, np.asarray(pair.perm), eta)
    assert 0 < expected < 1
    assert got == pytest.approx(expected, abs=1e-6)  # one vertex is 1/n = 0.025


def test_tiny_run_and_resume_with_more_methods(tmp_path):
    base = dict(n=60, trials=2, chunk_size=2, timing_pairs=1, models=("gaussian", "er_dense"))
    grids = dict(sigmas=(0.0, 0.8), dense_deltas=(0.0, 0.3))
    first = run_experiment(
        GrampaRecoveryConfig(methods=("grampa",), **base, **grids), tmp_path, progress=False
    )
    # Adding a method to a finished run reuses its stores (methods are not in the fingerprint).
    config = GrampaRecoveryConfig(methods=("grampa", "umeyama"), **base, **grids)
    summary = run_experiment(config, tmp_path, progress=False)

    assert summary["methods"] == ["grampa", "umeyama"]
    assert summary["noise"] == {"gaussian": [0.0, 0.8], "er_dense": [0.0, 0.3]}
    assert set(summary["seconds"]) == {"grampa", "umeyama"}
    assert all(s > 0 for s in summary["seconds"].values())
    assert summary["recovery"]["grampa"] == first["recovery"]["grampa"]
    for method in config.methods:
        for model in config.models:
            assert len(summary["recovery"][method][model]) == 2
            assert len(summary["stderr"][method][model]) == 2
    # Noiseless: both graphs are the same up to relabelling (dense ER at n = 60 and GOE have no
    # automorphisms with overwhelming probability), so GRAMPA recovers every vertex. Far beyond
    # the threshold (sigma = 0.8, delta = 0.3 ~ effective sigma 1.1) recovery is near chance
    # (1/n); 0.5 is a generous bound for 2 trials.
    for model in config.models:
        zero, noisy = summary["recovery"]["grampa"][model]
        assert zero == 1.0
        assert noisy < 0.5
    with np.load(tmp_path / "data.npz") as data:
        stored = data["recovery_gaussian_grampa"]  # (noise levels, trials)
        assert stored.shape == (2, 2)
        np.testing.assert_allclose(stored.mean(axis=1), summary["recovery"]["grampa"]["gaussian"])
        trial = recovery_trial(60, None, "grampa", (("eta", 0.2),), 0)
        np.testing.assert_allclose(stored[1, 1], trial(trial_key(0, 1), np.float32(0.8)))
    assert (tmp_path / "grampa_recovery.png").stat().st_size > 0


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="methods"):
        load_config(GrampaRecoveryConfig, {"methods": ["grampa", "spectral"]})
    with pytest.raises(ConfigError, match="models"):
        load_config(GrampaRecoveryConfig, {"models": ["gaussian", "barabasi"]})
    with pytest.raises(ConfigError, match="methods must hold at least one value"):
        load_config(GrampaRecoveryConfig, {"methods": []})
    with pytest.raises(ConfigError, match="sigmas must not repeat"):
        load_config(GrampaRecoveryConfig, {"sigmas": [0.1, 0.1]})
    with pytest.raises(ConfigError, match=r"sparse_q \(1 \+ delta\)"):
        load_config(GrampaRecoveryConfig, {"sparse_q": 0.9, "sparse_deltas": [0.0, 0.2]})
    with pytest.raises(ConfigError, match="eta"):
        load_config(GrampaRecoveryConfig, {"eta": 0.0})


def test_defaults_match_the_yaml():
    mapping = read_yaml(Path(__file__).parents[2] / "configs" / "grampa_recovery.yaml")
    assert mapping.pop("experiment") == "grampa_recovery"
    assert load_config(GrampaRecoveryConfig, mapping) == GrampaRecoveryConfig()
