"""real_graph_matching at tiny size: the run, its summary and its references."""

from pathlib import Path

import numpy as np
import pytest

from rmtjax.experiments.config import ConfigError, load_config, read_yaml
from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.real_graph_matching import RealGraphMatchingConfig, load_graph

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_run(tmp_path):
    config = RealGraphMatchingConfig(
        graphs=("florentine", "karate"),
        methods=("grampa",),
        noises=(0.0, 0.1),
        seed_fractions=(0.0, 0.2),
        refine_steps=5,
        trials=1,
        baselines=("faq", "graspologic"),
    )
    summary = run_experiment(config, tmp_path, progress=False)
    assert summary["graphs"] == {"florentine": 15, "karate": 34}
    assert summary["variants"][:3] == ["grampa", "grampa+refine", "faq"]
    for g in ("florentine", "karate"):
        for v in summary["variants"]:
            for f in ("0", "0.2"):
                rec, ov = summary["recovery"][g][v][f], summary["overlap"][g][v][f]
                assert len(rec) == 2 and all(0 <= r <= 1 for r in rec + ov)
    # Noiseless karate with refinement: an automorphism at most (edge overlap 1).
    assert summary["overlap"]["karate"]["grampa+refine"]["0"][0] == pytest.approx(1.0)
    # 20% seeds are recovered by construction: recovery >= 0.2 for every variant.
    assert all(
        summary["recovery"][g][v]["0.2"][0] >= 0.2 for g in ("karate",) for v in ("grampa", "faq")
    )
    if "graspologic" in summary["skipped"]:
        assert "not installed" in summary["skipped"]["graspologic"]
    assert (tmp_path / "real_graph_matching.png").stat().st_size > 1000
    data = np.load(tmp_path / "data.npz")
    assert data["recovery_karate_grampa"].shape == (2, 2, 1)


def test_graphs_load_as_symmetric_01_matrices():
    config = RealGraphMatchingConfig(digits_n=30, minnesota_n=40)
    for name, n in (("davis", 32), ("digits_knn", 30), ("minnesota", 40), ("les_miserables", 77)):
        A = load_graph(name, config)
        assert A.shape == (n, n)
        np.testing.assert_array_equal(A, A.T)
        assert set(np.unique(A)) <= {0.0, 1.0} and not np.diagonal(A).any()


def test_yaml_defaults_load_and_bad_values_are_refused():
    mapping = read_yaml(ROOT / "configs/real_graph_matching.yaml")
    assert mapping.pop("experiment") == "real_graph_matching"
    assert load_config(RealGraphMatchingConfig, mapping) == RealGraphMatchingConfig()
    with pytest.raises(ConfigError, match="methods must not be empty"):
        load_config(RealGraphMatchingConfig, {"methods": []})
    with pytest.raises(ConfigError, match="graphs"):
        load_config(RealGraphMatchingConfig, {"graphs": ["twitter"]})
