"""ck_ntk_spectra and the numerics it compares with: KS against scipy, limit-curve moments
against the closed-form moment recursion, and a small run against the Fan–Wang limits.

All limit computations here use n = 256 atoms and L = 3 layers (float64), like the tests of
real_data_spectra and spiked_propagation, so the fixed-point solver compiles once per session.
"""

import jax
import numpy as np
import pytest

from rmtjax.experiments.ck_ntk_spectra import CkNtkSpectraConfig
from rmtjax.experiments.config import ConfigError, load_config
from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.kernel_spectra import data_key
from rmtjax.nets import gaussian_inputs, get_activation
from rmtjax.spectra import (
    DiscreteMeasure,
    LimitCurve,
    ck_limit,
    ks_distance,
    limit_curve,
    ntk_limit,
)

N, D0, HIDDEN = 256, 200, (512, 512, 512)


def _curve_moment(curve: LimitCurve, k: int) -> float:
    mid = (curve.x[1:] + curve.x[:-1]) / 2
    return float(np.sum(mid**k * np.diff(curve.cdf)))


@pytest.mark.slow  # compile-heavy: the default run stays under 10 minutes on 2 cores
def test_limit_curve_moments_match_recursion(x64):
    # Moments of rho_gamma ⊠ nu from those of nu (DESIGN §4): m1 = h1, m2 = h2 + gamma h1^2,
    # with nu = (1 - b^2) + b^2 mu_{l-1}; the NTK mean is q_{-1} + sum_l q_l m1(mu_l).
    X = gaussian_inputs(data_key(1), N, D0)
    mu0 = DiscreteMeasure.from_eigenvalues(X)
    gammas = N / np.asarray(HIDDEN, np.float64)
    act = get_activation("arctan")
    q_minus1, q = (np.asarray(v, np.float64) for v in act.q(len(HIDDEN)))
    b2 = float(act.b) ** 2
    atoms = np.asarray(mu0.atoms, np.float64)
    m1, m2 = atoms.mean(), (atoms**2).mean()
    layer_means = [m1]
    for gamma in gammas:
        h1 = (1 - b2) + b2 * m1
        h2 = (1 - b2) ** 2 + 2 * (1 - b2) * b2 * m1 + b2**2 * m2
        m1, m2 = h1, h2 + gamma * h1**2
        layer_means.append(m1)
    ck = limit_curve(ck_limit(mu0, gammas, act))
    ntk = limit_curve(ntk_limit(mu0, gammas, act))
    assert ck.unconverged == 0 and ntk.unconverged == 0
    # 1024 Chebyshev points per interval: ~1e-4 relative quadrature error.
    np.testing.assert_allclose([ck.mass, ntk.mass], 1.0, atol=2e-3)
    np.testing.assert_allclose(_curve_moment(ck, 1), m1, rtol=3e-3)
    np.testing.assert_allclose(_curve_moment(ck, 2), m2, rtol=3e-3)
    np.testing.assert_allclose(_curve_moment(ntk, 1), q_minus1 + q @ layer_means, rtol=3e-3)


def test_small_run_matches_the_limits(tmp_path):
    config = CkNtkSpectraConfig(n=N, d0=D0, widths=HIDDEN, trials=2, chunk_size=2)
    summary = run_experiment(config, tmp_path, progress=False)
    ks_keys = {"ks_ck", "ks_ntk", "ks_ntk_surrogate", "ks_ntk_vs_surrogate"}
    assert ks_keys | {"n", "widths", "seconds"} <= summary.keys()
    assert summary["n"] == N and summary["widths"] == [D0, *HIDDEN]
    assert summary["unconverged"] == {"ck": 0, "ntk": 0}
    # CK eigenvalues are rigid: KS = O(1/n) plus the O(n^{-1/2}) deviation of the deterministic
    # equivalent (measured ~0.01 at this size). The NTK's overall scale moves by O(d^{-1/2}) per
    # network (the readout weights enter squared), measured 0.05-0.07 at d = 512.
    assert summary["ks_ck"] < 0.04
    assert summary["ks_ntk"] < 0.1
    # The surrogate q_{-1} I + Σ q_l X_l X_lᵀ has the NTK's limit law and the CK's rigidity.
    assert summary["ks_ntk_surrogate"] < 0.04
    # Sup-norm distances between CDFs: the NTK-vs-surrogate distance obeys the triangle rule.
    gap = summary["ks_ntk_vs_surrogate"]
    assert abs(summary["ks_ntk"] - summary["ks_ntk_surrogate"]) <= gap + 1e-12
    assert gap <= summary["ks_ntk"] + summary["ks_ntk_surrogate"] + 1e-12
    data = np.load(tmp_path / "data.npz")
    assert data["ck"].shape == data["ntk"].shape == data["ntk_surrogate"].shape == (2, N)
    # The same eigenvalues are far from a wrong law (b = 0: a Marchenko–Pastur law).
    with jax.enable_x64(True):  # float64 limits, as in the experiment
        mu0 = DiscreteMeasure(np.asarray(data["input"], np.float64))
        wrong = limit_curve(ck_limit(mu0, N / np.array(HIDDEN), (1.0, 0.0)))
    assert ks_distance(data["ck"], wrong) > 5 * summary["ks_ck"]
    for name in ("ck_spectrum.png", "ntk_spectrum.png", "summary.json", "config.yaml"):
        assert (tmp_path / name).stat().st_size > 0


def test_config_requires_widths_at_least_n():
    with pytest.raises(ConfigError, match="widths must all be >= n"):
        load_config(CkNtkSpectraConfig, {"n": 600, "widths": [500, 800]})
