"""training_evolution: a tiny run end to end, resume after a kill, config checks."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.experiments.config import ConfigError, load_config
from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.store import HistoryStore, StoreError
from rmtjax.experiments.training_evolution import TrainingEvolutionConfig, single_index_data

TINY = {
    "n": 40,
    "n_test": 20,
    "d0": 10,
    "width": 16,
    "depth": 2,
    "steps": 30,
    "track_every": 10,
    "edge": "initial",
    "optimizer": "adam",
    "learning_rate": 1e-2,
    "label_scale": 1.0,
    "v_norm": 1.0,
}


def test_tiny_run_and_resume_after_a_kill(tmp_path, monkeypatch):
    config = TrainingEvolutionConfig(**TINY)
    summary = run_experiment(config, tmp_path / "full", progress=False)
    assert summary["steps"] == 30 and summary["seconds"] > 0
    for key in ("label_var_top2_ck", "label_var_top2_ntk", "n_outliers_ck", "n_outliers_ntk"):
        assert set(summary[key]) == {"init", "end"}
    # Empirical edge = λ_max at initialization: no outliers at step 0 by construction.
    assert summary["n_outliers_ck"]["init"] == 0 == summary["n_outliers_ntk"]["init"]
    assert 0 <= summary["label_var_top2_ck"]["init"] <= 1
    assert json.loads((tmp_path / "full" / "summary.json").read_text()) == summary
    expected = np.load(tmp_path / "full" / "data.npz")
    np.testing.assert_array_equal(expected["step"], [0, 10, 20, 30])
    assert expected["ck_eigenvalues"].shape == (4, 40)
    assert summary["r2_test"] == pytest.approx(float(expected["r2_test"][-1]))
    assert expected["loss"][-1] < expected["loss"][0]
    assert len(list((tmp_path / "full" / "history").glob("step_*.npz"))) == 4
    for name in (
        "spectra.png",
        "top_eigenvalues.png",
        "label_variance.png",
        "history/checkpoint.msgpack",
    ):
        assert (tmp_path / "full" / name).stat().st_size > 0

    # Kill a second run right after its checkpoint at step 10, then rerun: same result.
    save_checkpoint = HistoryStore.save_checkpoint
    saved = []

    def killed_after_step_10(self, data):
        save_checkpoint(self, data)
        saved.append(data)
        if len(saved) == 2:  # checkpoints at steps 0 and 10
            raise KeyboardInterrupt

    monkeypatch.setattr(HistoryStore, "save_checkpoint", killed_after_step_10)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, tmp_path / "killed", progress=False)
    assert len(list((tmp_path / "killed" / "history").glob("step_*.npz"))) == 2
    monkeypatch.undo()
    resumed = run_experiment(config, tmp_path / "killed", progress=False)
    got = np.load(tmp_path / "killed" / "data.npz")
    for name in expected.files:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    assert {k: v for k, v in resumed.items() if k != "seconds"} == {
        k: v for k, v in summary.items() if k != "seconds"
    }
    with pytest.raises(StoreError, match="belongs to another run"):
        run_experiment(TrainingEvolutionConfig(**{**TINY, "n": 41}), tmp_path / "killed")


def test_single_index_data():
    X, y, X_test, y_test, _ = single_index_data(jax.random.key(0), 300, 50, 100)
    np.testing.assert_allclose(jnp.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    assert X.shape == (300, 100) and y.shape == (300,) and X_test.shape == (50, 100)
    # y = σ(vᵀx) with vᵀx ≈ N(0, 1): the standardized σ gives mean ≈ 0 and variance ≈ 1.
    assert abs(float(y.mean())) < 0.2 and 0.7 < float(y.var()) < 1.3
    # y is mostly linear in vᵀx (arctan: b ≈ 0.98), so a least-squares fit on X generalizes.
    coef = np.linalg.lstsq(np.asarray(X), np.asarray(y), rcond=None)[0]
    assert np.corrcoef(np.asarray(X_test) @ coef, np.asarray(y_test))[0, 1] > 0.5


def test_config_checks():
    with pytest.raises(ConfigError, match="activation"):
        load_config(TrainingEvolutionConfig, {"activation": "sigmoid"})
    with pytest.raises(ConfigError, match="optimizer"):
        load_config(TrainingEvolutionConfig, {"optimizer": "lbfgs"})
    with pytest.raises(ConfigError, match="top_k"):
        load_config(TrainingEvolutionConfig, {"top_k": 1})
    assert load_config(TrainingEvolutionConfig, {"batch_size": None}).batch_size is None


@pytest.mark.slow
def test_weight_decay_aligns_the_ck_with_the_labels(tmp_path):
    """The talk's mechanism at reduced size: top-2 CK PCs end up carrying the labels."""
    config = TrainingEvolutionConfig(n=400, n_test=400, d0=300, width=300, steps=200)
    summary = run_experiment(config, tmp_path, progress=False)
    assert summary["label_var_top2_ck"]["init"] < 0.05
    assert summary["label_var_top2_ck"]["end"] > 0.9
    assert summary["r2_test"] > 0.6
