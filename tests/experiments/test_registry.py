"""Tests of rmtjax/experiments/registry.py: lookups, clashes, lazy imports."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tests.experiments
from rmtjax.experiments import registry
from rmtjax.experiments.registry import (
    Experiment,
    experiment_for_config,
    get_experiment,
    list_experiments,
    register,
)
from tests.experiments import _toy


def test_lookup_by_name_and_by_config():
    assert get_experiment("toy") is _toy.EXPERIMENT
    assert experiment_for_config(_toy.ToyConfig()) is _toy.EXPERIMENT
    names = [e.name for e in list_experiments()]
    assert "toy" in names and names == sorted(names)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown experiment 'tyo'; did you mean 'toy'\? \(known: .*toy"
    ):
        get_experiment("tyo")


def test_unknown_config_class():
    @dataclasses.dataclass(frozen=True)
    class Orphan:
        seed: int = 0

    with pytest.raises(ValueError, match="no registered experiment uses the config class Orphan"):
        experiment_for_config(Orphan())


def test_clashing_registrations_are_refused(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    assert register(_toy.EXPERIMENT) is _toy.EXPERIMENT  # same origin: idempotent
    with pytest.raises(ValueError, match="clashes with the registered 'toy'"):
        register(dataclasses.replace(_toy.EXPERIMENT, run=lambda config, ctx: {}))
    with pytest.raises(ValueError, match="clashes"):
        register(Experiment("other", _toy.ToyConfig, lambda config, ctx: {}, "same config"))


def test_lookups_import_experiment_modules_lazily(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_EXPERIMENT_MODULES", {"toy": "tests.experiments._toy"})
    monkeypatch.delitem(sys.modules, "tests.experiments._toy")
    monkeypatch.setattr(tests.experiments, "_toy", _toy)
    assert "tests.experiments._toy" not in sys.modules
    assert [e.name for e in list_experiments()] == ["toy"]
    assert "tests.experiments._toy" in sys.modules


_ONLY_ONE = """
import json, sys
from rmtjax import cli
from rmtjax.experiments import registry
rc = cli.main(sys.argv[1:])
loaded = sorted(n for n, m in registry._EXPERIMENT_MODULES.items() if m in sys.modules)
print(json.dumps({"rc": rc, "loaded": loaded}))
"""


def test_running_one_experiment_imports_only_its_module(tmp_path):
    """`rmtjax run` of a tiny eigvec_overlap imports no other experiment module."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "experiment: eigvec_overlap\nn: 8\nindex: 3\nwindow: 1\ndeltas: [0.0]\ntrials: 2\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(root)}
    argv = ["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]
    result = subprocess.run(
        [sys.executable, "-c", _ONLY_ONE, *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report == {"rc": 0, "loaded": ["eigvec_overlap"]}
    assert (tmp_path / "out" / "summary.json").is_file()
