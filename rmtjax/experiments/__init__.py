"""Monte Carlo experiments: the engine (chunks, sharding, resume), configs, registry, runner.

Importing this package does not import the experiment modules (the registry imports them on
first lookup) and runs no JAX computation, so ``jax.distributed.initialize()`` can still follow.
"""

from rmtjax.experiments.config import (
    ConfigError,
    ExperimentConfig,
    apply_overrides,
    fingerprint,
    load_config,
    param,
    read_yaml,
    to_dict,
)
from rmtjax.experiments.context import RunContext, run_experiment
from rmtjax.experiments.engine import maybe_initialize_distributed, run_trials, trial_key
from rmtjax.experiments.registry import (
    Experiment,
    get_experiment,
    list_experiments,
    register,
)
from rmtjax.experiments.store import StoreError, check_results

__all__ = [
    "ConfigError",
    "Experiment",
    "ExperimentConfig",
    "RunContext",
    "StoreError",
    "apply_overrides",
    "check_results",
    "fingerprint",
    "get_experiment",
    "list_experiments",
    "load_config",
    "maybe_initialize_distributed",
    "param",
    "read_yaml",
    "register",
    "run_experiment",
    "run_trials",
    "to_dict",
    "trial_key",
]
