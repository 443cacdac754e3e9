"""real_data_spectra: the CIFAR-10 path on a synthetic batch file (where the Fan–Wang theory
applies) against the limits, the digits loader, and the orthogonality diagnostics on digits.

The limits use n = 256 atoms and L = 3 layers, like test_ck_ntk_spectra, so the fixed-point
solver compiles once per session.
"""

import pickle

import numpy as np
import pytest

from rmtjax.experiments.config import ConfigError, load_config
from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.real_data_spectra import RealDataSpectraConfig, load_images

N, HIDDEN = 256, (512, 512, 512)


def _fake_cifar_batch(path, m=300):
    rng = np.random.default_rng(0)
    batch = {
        b"data": rng.integers(0, 256, size=(m, 3072), dtype=np.uint8),
        b"labels": list(rng.integers(0, 10, size=m)),
    }
    with open(path, "wb") as f:
        pickle.dump(batch, f)
    return path


@pytest.mark.slow
def test_cifar_path_matches_the_limits(tmp_path):
    # I.i.d. uniform pixels: after centring, PC removal and unit rows the images are
    # ε-orthogonal with ε ~ d0^{-1/2}, the setting of the theorem (d0 = 3072 > n).
    path = _fake_cifar_batch(tmp_path / "data_batch_1")
    config = RealDataSpectraConfig(dataset="cifar10", data_path=str(path), n=N, widths=HIDDEN)
    summary = run_experiment(config, tmp_path / "run", progress=False)
    assert summary["dataset"] == "cifar10" and summary["widths"] == [3072, *HIDDEN]
    np.testing.assert_allclose(summary["gamma0"], N / 3072)
    assert summary["max_norm_dev"] < 1e-5
    assert summary["max_inner"] < summary["n_quarter"]
    # The float32 solver leaves a few grid points unconverged at times (left out of the CDF);
    # the integrated density must still carry all the mass.
    assert max(summary["unconverged"].values()) < 0.05 * config.grid
    np.testing.assert_allclose(list(summary["limit_mass"].values()), 1.0, atol=1e-2)
    # Tolerances as in test_ck_ntk_spectra (CK: rigidity plus O(n^{-1/2}); NTK: O(d^{-1/2})
    # scale fluctuation of one network).
    assert summary["ks_ck"] < 0.04
    assert summary["ks_ntk"] < 0.12
    data = np.load(tmp_path / "run" / "data.npz")
    assert data["ck"].shape == (1, N) and data["labels"].shape == (N,)
    assert (tmp_path / "run" / "ntk_spectrum.png").stat().st_size > 0


def test_load_images_digits_and_subsets():
    name, images = load_images(RealDataSpectraConfig(dataset="digits"))
    assert name == "digits" and images.X.shape == (1797, 64)
    assert float(images.X.min()) >= 0 and float(images.X.max()) <= 1
    _, subset = load_images(RealDataSpectraConfig(dataset="digits", n=N, widths=HIDDEN))
    _, again = load_images(RealDataSpectraConfig(dataset="digits", n=N, widths=HIDDEN))
    assert subset.X.shape == (N, 64)
    np.testing.assert_array_equal(subset.X, again.X)  # the data key depends on the seed only
    _, other = load_images(RealDataSpectraConfig(dataset="digits", n=N, widths=HIDDEN, seed=1))
    assert not np.array_equal(subset.X, other.X)


def test_load_images_patches_by_default():
    name, images = load_images(RealDataSpectraConfig(n=N, widths=HIDDEN))
    assert name == "patches" and images.X.shape == (N, 3072)
    _, again = load_images(RealDataSpectraConfig(n=N, widths=HIDDEN))
    np.testing.assert_array_equal(images.X, again.X)


@pytest.mark.slow
def test_digits_run_reports_orthogonality(tmp_path):
    # Digits (d0 = 64) are far from orthogonal: removing PCs helps but max |x_a^T x_b| stays
    # far above n^{-1/4}, outside the theorem's assumptions; only the CK is still close.
    config = RealDataSpectraConfig(dataset="digits", n=N, widths=HIDDEN)
    summary = run_experiment(config, tmp_path, progress=False)
    assert summary["dataset"] == "digits" and summary["gamma0"] == N / 64
    assert summary["max_norm_dev"] < 1e-5
    assert summary["max_inner"] < summary["max_inner_raw"]
    assert summary["ks_ck"] < 0.1
    assert (tmp_path / "ck_spectrum.png").stat().st_size > 0


def test_config_checks_widths_against_n():
    with pytest.raises(ConfigError, match="widths must all be >= n = 1500"):
        load_config(RealDataSpectraConfig, {"widths": [1000]})
    with pytest.raises(ConfigError, match="widths must all be >= n = 1797"):
        load_config(RealDataSpectraConfig, {"dataset": "digits", "widths": [1000]})
    with pytest.raises(ConfigError, match="widths must all be >= n = 5000"):
        load_config(
            RealDataSpectraConfig, {"dataset": "cifar10", "data_path": "x", "widths": [3000]}
        )
    with pytest.raises(ConfigError, match="data_path must be set exactly when dataset is"):
        load_config(RealDataSpectraConfig, {"data_path": "x"})
    with pytest.raises(ConfigError, match="data_path must be set exactly when dataset is"):
        load_config(RealDataSpectraConfig, {"dataset": "cifar10"})
