"""Tests of rmtjax/experiments/registry.py: lookups, clashes, lazy imports."""

from __future__ import annotations

import dataclasses
import sys

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
    monkeypatch.setattr(registry, "_EXPERIMENT_MODULES", ("tests.experiments._toy",))
    monkeypatch.delitem(sys.modules, "tests.experiments._toy")
    monkeypatch.setattr(tests.experiments, "_toy", _toy)
    assert "tests.experiments._toy" not in sys.modules
    assert [e.name for e in list_experiments()] == ["toy"]
    assert "tests.experiments._toy" in sys.modules
