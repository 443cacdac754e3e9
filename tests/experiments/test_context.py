"""Tests of rmtjax/experiments/context.py: the results directory written by run_experiment."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from matplotlib.figure import Figure

from rmtjax.experiments.context import RunContext, run_experiment, to_json
from rmtjax.experiments.store import StoreError
from tests.experiments import _toy


def test_results_directory(tmp_path):
    """config.yaml (resolved), summary.json, data.npz, PNG and chunk stores; summary ~ oracle."""
    config = _toy.ToyConfig(trials=200, scales=(1.0, 2.0))
    summary = run_experiment(config, tmp_path, progress=False)
    resolved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert resolved == {
        "experiment": "toy",
        "seed": 0,
        "chunk_size": 5,
        "n": 4,
        "scales": [1.0, 2.0],
        "trials": 200,
    }
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["n"] == 4 and summary["trials"] == 200 and set(summary["m2"]) == {"1.0", "2.0"}
    # E[tr(A^2)/n] = s^2 (n+1)/n; Var[tr(A^2)/n] = 4 s^4 (n+1)/n^3, so 5 standard errors of
    # the 200-trial mean are 5 * s^2 * sqrt(4 * 5 / 64 / 200) = 0.198 s^2 for n = 4.
    for s in (1.0, 2.0):
        assert abs(summary["m2"][str(s)] - _toy.second_moment(s, 4)) < 0.198 * s**2
    with np.load(tmp_path / "data.npz") as data:
        assert sorted(data) == ["eig_0", "eig_1"] and data["eig_0"].shape == (200, 4)
    assert (tmp_path / "eigenvalues.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == ["scale=1.0", "scale=2.0"]


def test_rerun_resumes_and_a_changed_config_is_refused(tmp_path):
    first = run_experiment(_toy.ToyConfig(), tmp_path, progress=False)
    assert run_experiment(_toy.ToyConfig(chunk_size=7), tmp_path, progress=False) == first
    with pytest.raises(StoreError, match="belongs to another run"):
        run_experiment(_toy.ToyConfig(seed=1), tmp_path, progress=False)


def test_to_json_converts_numpy_and_jax_values():
    value = {
        0.01: np.float32(0.5),
        "a": jnp.arange(3),
        "b": (np.int64(2), np.bool_(True), None),
        np.int32(4): {"m": np.eye(2)},
    }
    assert to_json(value) == {
        "0.01": 0.5,
        "a": [0, 1, 2],
        "b": [2, True, None],
        "4": {"m": [[1.0, 0.0], [0.0, 1.0]]},
    }
    json.dumps(to_json(value))
    with pytest.raises(TypeError, match=r"cannot write object to summary\.json"):
        to_json({"x": object()})


def test_names_must_be_plain_file_names(tmp_path):
    ctx = RunContext(tmp_path, _toy.ToyConfig(), "toy", progress=False)
    with pytest.raises(ValueError, match="plain file name"):
        ctx.trials("../x", _toy.goe_trial(4), 3)
    with pytest.raises(ValueError, match="plain file name"):
        ctx.save_figure("a/b", Figure())


@pytest.mark.parametrize(("fmt", "magic"), [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_figures_in_vector_formats(tmp_path, fmt, magic):
    config = _toy.ToyConfig(trials=10, scales=(1.0,))
    run_experiment(config, tmp_path, progress=False, figure_format=fmt)
    assert (tmp_path / f"eigenvalues.{fmt}").read_bytes().startswith(magic)
    assert not (tmp_path / "eigenvalues.png").exists()


def test_unknown_figure_format_is_refused_before_running(tmp_path):
    with pytest.raises(ValueError, match=r"figure format must be one of \['png', 'pdf', 'svg'\]"):
        run_experiment(_toy.ToyConfig(trials=2), tmp_path / "run", figure_format="jpg")
    assert not (tmp_path / "run").exists()
