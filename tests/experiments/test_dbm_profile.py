"""dbm_profile: binning against a numpy reference, the fit on exact data, and the constant C."""

import jax
import numpy as np

from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.dbm_profile import DbmProfileConfig, fit_cauchy_constant, profile_trial
from rmtjax.graphs.models import correlated_wigner


def test_fit_recovers_constant_on_exact_profile():
    t = np.linspace(-6, 6, 49)
    c, r2 = fit_cauchy_constant(t, 1 / (t**2 + 0.7))
    np.testing.assert_allclose(c, 0.7, rtol=1e-4)
    assert r2 > 1 - 1e-8


def test_trial_binning_matches_numpy(x64):
    n, bulk, span, bins, delta = 30, 0.4, 5.0, 10, 0.3
    key = jax.random.key(1)
    got = profile_trial(n, bulk, span, bins)(key, np.float64(delta))
    pair = correlated_wigner(key, n, np.sqrt(delta))
    perm = np.asarray(pair.perm)
    lam, U = np.linalg.eigh(np.asarray(pair.A))
    mu, V = np.linalg.eigh(np.asarray(pair.B)[np.ix_(perm, perm)])
    rows = np.arange(9, 21)  # the central 12 = 0.4 * 30 indices
    t = (lam[rows, None] - mu[None, :]) / delta
    y = delta * n * (U[:, rows].T @ V) ** 2
    sums, _ = np.histogram(t, bins=bins, range=(-span, span), weights=y)
    counts, _ = np.histogram(t, bins=bins, range=(-span, span))
    np.testing.assert_allclose(got["sum"], sums, rtol=1e-10)
    np.testing.assert_allclose(got["count"], counts)


def test_cauchy_constant_near_one_in_the_bulk(tmp_path):
    # Near the centre of the semicircle C ≈ (pi rho(0))^2 = 1; at n = 300 with 6 trials the
    # binned profile has a few percent noise, and finite delta bends C by O(delta).
    config = DbmProfileConfig(n=300, deltas=(0.05,), trials=6, chunk_size=3)
    summary = run_experiment(config, tmp_path, progress=False)
    assert 0.75 < summary["C"]["0.05"] < 1.25
    assert summary["r2"]["0.05"] > 0.95
    assert (tmp_path / "dbm_profile.png").is_file()
