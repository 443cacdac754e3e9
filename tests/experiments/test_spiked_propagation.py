"""spiked_propagation: layer-0 outliers against the BBP formula, bulk edges against the
Marchenko–Pastur closed form, and the propagation of the spikes through the layers.

The limits use n = 256 atoms and L = 3 layers, like test_ck_ntk_spectra, so the fixed-point
solver compiles once per session.
"""

import numpy as np
import pytest

from rmtjax.experiments.config import ConfigError, load_config
from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.spiked_propagation import SpikedPropagationConfig, bulk_edges

N, D0, HIDDEN = 256, 200, (512, 512, 512)


@pytest.mark.slow  # compile-heavy: the default run stays under 10 minutes on 2 cores
def test_bulk_edges_closed_forms():
    # Noise spectrum delta_1: layer 1 is rho_{gamma_1} ⊠ delta_1, Marchenko–Pastur with edge
    # (1 + sqrt(gamma_1))^2; layer 0 is the MP edge noise^2 (1 + sqrt(gamma_0))^2.
    gammas = N / np.asarray(HIDDEN, np.float64)
    edges = bulk_edges(np.ones(N), gammas, gamma0=1.28, noise=0.5, activation="arctan")
    assert edges.shape == (len(HIDDEN) + 1,)
    np.testing.assert_allclose(edges[0], 0.25 * (1 + np.sqrt(1.28)) ** 2, rtol=1e-12)
    np.testing.assert_allclose(edges[1], (1 + np.sqrt(gammas[0])) ** 2, rtol=1e-4)
    assert np.all(np.diff(edges[1:]) > 0)  # each MP map widens the bulk


def test_spikes_through_the_layers(tmp_path):
    config = SpikedPropagationConfig(n=N, d0=D0, widths=HIDDEN, strengths=(4.0, 2.5))
    summary = run_experiment(config, tmp_path, progress=False)
    L = len(HIDDEN)
    assert summary["widths"] == [D0, *HIDDEN] and len(summary["edges"]) == L + 1
    # Layer 0: both spikes are above the BBP threshold theta^2 > sqrt(gamma_0) = 1.13, at
    # (1 + theta^2)(gamma_0 + theta^2)/theta^2 = 18.36 and 8.73; the outliers fluctuate by
    # O(n^{-1/2}) with an O(1/n) bias that grows near the threshold (measured 2% and 8%).
    for setting in ("dense", "sparse"):
        assert summary["n_outliers"][setting][0] == 2
        np.testing.assert_allclose(summary["top"][setting][0][:2], summary["bbp_layer0"], rtol=0.12)
        assert len(summary["outliers"][setting]) == L + 1
    # The noise-only bulk edge matches the largest noise eigenvalue (Tracy–Widom scale).
    noise = np.load(tmp_path / "data.npz")["noise"]
    np.testing.assert_allclose(noise.max(), summary["edges"][0], rtol=0.06)
    # With v spread over all samples the strong spike stays an outlier in every layer; with v
    # on 20 samples those rows saturate the activation and the outlier shrinks.
    dense = np.array([top[0] for top in summary["top"]["dense"]])
    sparse = np.array([top[0] for top in summary["top"]["sparse"]])
    assert all(count >= 1 for count in summary["n_outliers"]["dense"])
    assert np.all(dense > 1.5 * np.array(summary["edges"]))
    assert np.all(sparse[1:] < 0.85 * dense[1:])
    assert (tmp_path / "spiked_propagation.png").stat().st_size > 0


def test_config_checks():
    with pytest.raises(ConfigError, match="support must be <= n"):
        load_config(SpikedPropagationConfig, {"n": 10, "support": 20})
    with pytest.raises(ConfigError, match="noise"):
        load_config(SpikedPropagationConfig, {"noise": 0.0})
