"""training_phase_diagram: metrics against a hand computation, the vmapped learning rates
against separate runs, a tiny end-to-end run."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.experiments.config import ConfigError
from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.training_evolution import single_index_data
from rmtjax.experiments.training_phase_diagram import (
    TrainingPhaseDiagramConfig,
    _train_cell,
    cell_metrics,
)
from rmtjax.nets import MLP, TrackRecord, TrainConfig, train

TINY = {"n": 24, "n_test": 12, "d0": 8, "widths": (8,), "depth": 2, "steps": 6, "seeds": 2}


def test_cell_metrics_by_hand():
    p = 200
    init = np.linspace(1.0, 0.005, p)  # decreasing, λ_max = 1, full rank
    end = init * 0.9
    end[:4] = [9.0, 5.0, 1.2, 1.05]  # three outliers above 1.1, one in the margin
    values = np.stack([init, end])[:, None, :]  # (T = 2, B = 1, p)
    fields = {name: np.zeros((2, 1)) for name in TrackRecord._fields}
    fields.update(
        ck_eigenvalues=values,
        ntk_eigenvalues=values,
        ck_target_alignment=np.full((2, 1, 2), 0.7),
        r2_test=np.full((2, 1), 0.5),
        loss=np.ones((2, 1)),
    )
    got = cell_metrics(TrackRecord(**fields))
    bulk_end = end[end <= 1.0]  # the bulk: below the initial λ_max
    np.testing.assert_allclose(
        got["ck_bulk_ratio"], np.percentile(bulk_end, 95) / np.percentile(init, 95)
    )
    np.testing.assert_array_equal(got["ck_outliers"], [3.0])
    tail = lambda v: v[1] / v[p // 2]  # noqa: E731  (p // 100 = 2 -> λ_2)
    np.testing.assert_allclose(got["ck_tail_ratio"], tail(end) / tail(init))
    np.testing.assert_allclose(got["ck_alignment"], [0.7])
    # A CK of rank 50 < p: the null eigenvalues are round-off and stay out of the ratio.
    low_rank = np.where(np.arange(p) < 50, values, 1e-17 * np.arange(p)[::-1])
    got = cell_metrics(TrackRecord(**{**fields, "ck_eigenvalues": low_rank}))
    tail = lambda v: v[0] / v[25]  # noqa: E731  (r // 100 = 0 -> λ_1, r // 2 = 25)
    np.testing.assert_allclose(got["ck_tail_ratio"], tail(end) / tail(init))
    diverged = TrackRecord(**{**fields, "loss": np.array([[1.0], [np.nan]])})
    assert np.isnan(cell_metrics(diverged)["r2_test"]).all()


def test_vmapped_learning_rates_equal_separate_runs():
    config = TrainingPhaseDiagramConfig(**TINY, lr_factors=(0.5, 1.0), lr_sgd=2.0)
    data = single_index_data(jax.random.key(0), config.n, config.n_test, config.d0)
    model = MLP((8, 8, 8), "arctan")
    keys = jax.random.split(jax.random.key(1), 2)
    batched = _train_cell(
        config, model, data, "sgd", config.learning_rates("sgd"), jnp.tile(keys, 2)
    )
    for f, lr in enumerate(config.learning_rates("sgd")):
        single = train(
            keys,
            model,
            data.X,
            data.y,
            TrainConfig(steps=6, track_every=6, optimizer="sgd", learning_rate=float(lr)),
            target=data.index,
            X_test=data.X_test,
            y_test=data.y_test,
        ).history
        want = cell_metrics(single)
        for name, values in want.items():
            np.testing.assert_allclose(
                batched[name][2 * f : 2 * f + 2], values, rtol=1e-4, atol=1e-5, err_msg=name
            )


def test_tiny_run(tmp_path):
    config = TrainingPhaseDiagramConfig(**TINY, lr_factors=(0.1, 1.0, 1e4))
    summary = run_experiment(config, tmp_path, progress=False)
    cells = summary["cells"]["d8"]
    assert set(cells) == {"sgd", "momentum", "adam"}
    assert len(cells["adam"]["r2_test"]) == 3
    # lr 1e4 x 20 diverges for gradient descent: a NaN cell, not an error.
    assert np.isnan(cells["sgd"]["r2_test"][2])
    data = np.load(tmp_path / "data.npz")
    assert data["d8_sgd_ck_outliers"].shape == (3, 2)
    assert (tmp_path / "phase_diagram_d8.png").stat().st_size > 0
    assert set(summary["findings"]) == {
        "small_lr_gd_bulk_invariant",
        "large_lr_outliers_aligned",
        "adam_heavier_tail",
    }


def test_config_checks():
    with pytest.raises(ConfigError, match="optimizers"):
        TrainingPhaseDiagramConfig(optimizers=("sgd", "sgd"))
    with pytest.raises(ConfigError, match="optimizers"):
        TrainingPhaseDiagramConfig(optimizers=("lbfgs",))
    assert dataclasses.replace(TrainingPhaseDiagramConfig(), lr_factors=(1.0,)).learning_rates(
        "adam"
    ).tolist() == [1e-3]
