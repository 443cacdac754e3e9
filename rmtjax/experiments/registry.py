"""The registry of experiments: name -> config class, run function, description.

Each experiment module under ``rmtjax/experiments/`` registers itself at import::

    EXPERIMENT = register(Experiment(
        name="eigvec_overlap",
        config_cls=OverlapConfig,
        run=run,                      # run(config, ctx: RunContext) -> summary dict
        description="eigenvector overlaps <u_100, v_j>^2 of correlated Erdos-Renyi graphs",
    ))

and is listed in ``_EXPERIMENT_MODULES`` (name -> module) so that a lookup by name imports
that one module on first use; only :func:`list_experiments` imports them all. Importing
``rmtjax.experiments`` stays cheap and never touches a JAX backend.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["Experiment", "experiment_for_config", "get_experiment", "list_experiments", "register"]

# The module that registers each experiment, imported lazily by the lookups below.
_EXPERIMENT_MODULES: dict[str, str] = {
    name: f"rmtjax.experiments.{name}"
    for name in (
        "eigvec_overlap",
        "dbm_profile",
        "ck_ntk_spectra",
        "real_data_spectra",
        "spiked_propagation",
        "grampa_recovery",
        "training_evolution",
        "training_phase_diagram",
        "real_graph_matching",
    )
}


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A named experiment.

    Attributes:
      name: the name used by ``rmtjax run`` (``experiment:`` in the YAML) and ``rmtjax list``.
      config_cls: its config dataclass (a subclass of ``ExperimentConfig``).
      run: ``run(config, ctx) -> summary`` with ``ctx`` a ``RunContext``; the summary is a
        dict of headline figures written to ``summary.json``.
      description: one line for ``rmtjax list``.
    """

    name: str
    config_cls: type
    run: Callable[[Any, Any], dict[str, Any]]
    description: str = ""


_REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` to the registry and return it.

    Raises:
      ValueError: another experiment already has this name or this config class.
    """
    for other in _REGISTRY.values():
        same = other.name == experiment.name or other.config_cls is experiment.config_cls
        if same and _origin(other) != _origin(experiment):
            raise ValueError(
                f"experiment {experiment.name!r} ({_origin(experiment)}) clashes with the "
                f"registered {other.name!r} ({_origin(other)})"
            )
    _REGISTRY[experiment.name] = experiment
    return experiment


def get_experiment(name: str) -> Experiment:
    """The registered experiment called ``name``.

    Imports only the module of experiment ``name`` (if it is not registered yet).

    Raises:
      ValueError: no such experiment (the message lists the known ones).
    """
    if name not in _REGISTRY and name in _EXPERIMENT_MODULES:
        importlib.import_module(_EXPERIMENT_MODULES[name])
    if name not in _REGISTRY:
        known = sorted({*_REGISTRY, *_EXPERIMENT_MODULES})
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown experiment {name!r}{hint} (known: {', '.join(known) or 'none'})")
    return _REGISTRY[name]


def list_experiments() -> list[Experiment]:
    """All registered experiments, sorted by name."""
    _import_experiment_modules()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def experiment_for_config(config: Any) -> Experiment:
    """The registered experiment whose config class is ``type(config)``.

    The config's class was defined by its experiment's module, so no module is imported.

    Raises:
      ValueError: no registered experiment uses this config class.
    """
    for experiment in _REGISTRY.values():
        if experiment.config_cls is type(config):
            return experiment
    raise ValueError(f"no registered experiment uses the config class {type(config).__name__}")


def _origin(experiment: Experiment) -> tuple[str, str, str]:
    run = experiment.run
    return (experiment.name, getattr(run, "__module__", ""), getattr(run, "__qualname__", ""))


def _import_experiment_modules() -> None:
    for module in _EXPERIMENT_MODULES.values():
        importlib.import_module(module)
