"""Running an experiment: the results directory and what an experiment may write to it.

``run_experiment(config, out_dir)`` is the single entry point (the CLI and tests use it). It
writes ``out_dir/config.yaml`` (the resolved config with ``experiment: NAME``), calls the
experiment's ``run(config, ctx)`` and writes the returned summary to ``out_dir/summary.json``.
The :class:`RunContext` gives the experiment resumable Monte Carlo (``ctx.trials``, chunks
under ``out_dir/chunks/<name>/``), ``ctx.save_data`` (``data.npz``) and ``ctx.save_figure``
(``<name>.<figure_format>``: png, pdf or svg). On several processes every process runs the
experiment and only process 0 writes files.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import yaml
from matplotlib.figure import Figure

from rmtjax.experiments.config import fingerprint, to_dict
from rmtjax.experiments.engine import atomic_write, run_trials
from rmtjax.experiments.plotting import check_format, save_figure
from rmtjax.experiments.registry import experiment_for_config

__all__ = ["RunContext", "run_experiment", "to_json"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*$")


@dataclasses.dataclass(frozen=True)
class RunContext:
    """What an experiment's ``run(config, ctx)`` uses to compute and save results.

    Attributes:
      out_dir: the results directory.
      config: the experiment's validated config (``seed`` and ``chunk_size`` are read here).
      experiment: the experiment's registered name (part of every store fingerprint).
      progress: show progress bars.
      figure_format: file format of the figures, ``"png"``, ``"pdf"`` or ``"svg"``.
    """

    out_dir: Path
    config: Any
    experiment: str
    progress: bool = True
    figure_format: str = "png"

    @property
    def is_writer(self) -> bool:
        """True on the process that writes files (process 0)."""
        return jax.process_index() == 0

    def trials(
        self,
        name: str,
        trial_fn: Callable[..., Any],
        n_trials: int,
        *,
        params: Any = None,
        seed: int | None = None,
    ) -> Any:
        """Run ``n_trials`` trials of ``trial_fn`` resumably; see ``engine.run_trials``.

        Finished chunks go to ``out_dir/chunks/<name>/``; the store's fingerprint is the
        experiment name, ``name`` and the config's :func:`fingerprint`, so a rerun of the same
        config resumes and a changed config refuses to mix its trials with the stored ones.
        Use one ``name`` per distinct trial computation (e.g. ``f"delta={delta}"``).

        Args:
          name: store name, a plain file name (letters, digits, ``_ . = + -``).
          trial_fn: ``key -> pytree`` or ``(key, params) -> pytree``.
          n_trials: number of trials.
          params: passed to every trial (avoids recompiling across a parameter sweep).
          seed: root seed, ``config.seed`` by default.

        Returns:
          The outputs as numpy arrays with leading axis ``n_trials``.
        """
        if not _NAME_RE.match(name):
            raise ValueError(f"trial store name must be a plain file name; got {name!r}")
        return run_trials(
            trial_fn,
            params=params,
            seed=self.config.seed if seed is None else seed,
            n_trials=n_trials,
            chunk_size=self.config.chunk_size,
            store=self.out_dir / "chunks" / name,
            fingerprint=f"{self.experiment}/{name}/{fingerprint(self.config)}",
            progress=self.progress,
            desc=name,
        )

    def save_data(self, **arrays: Any) -> Path:
        """Write ``arrays`` to ``out_dir/data.npz`` (process 0) and return the path."""
        path = self.out_dir / "data.npz"
        if self.is_writer:
            data = {k: np.asarray(v) for k, v in arrays.items()}
            atomic_write(path, lambda f: np.savez(f, **data))
        return path

    def save_figure(self, name: str, fig: Figure) -> Path:
        """Write ``fig`` (a ``matplotlib.figure.Figure``) to ``out_dir/<name>.<figure_format>``."""
        if not _NAME_RE.match(name):
            raise ValueError(f"figure name must be a plain file name; got {name!r}")
        path = self.out_dir / f"{name}.{self.figure_format}"
        if self.is_writer:
            atomic_write(path, lambda f: save_figure(fig, f, self.figure_format))
        return path


def run_experiment(
    config: Any, out_dir: str | Path, *, progress: bool = True, figure_format: str = "png"
) -> dict[str, Any]:
    """Run the experiment that ``config`` belongs to and write its results to ``out_dir``.

    Writes ``config.yaml`` (``experiment: NAME`` and every field, before running, so a killed
    run documents itself), then whatever ``run`` saves, then ``summary.json``. Rerunning on
    the same ``out_dir`` resumes the Monte Carlo where it stopped.

    Args:
      config: a validated experiment config (see ``load_config``).
      out_dir: results directory (created if needed).
      progress: show progress bars.
      figure_format: file format of the figures: ``"png"``, ``"pdf"`` or ``"svg"`` (vector).

    Returns:
      The summary as plain JSON data (what ``summary.json`` holds).
    """
    experiment = experiment_for_config(config)
    out_dir = Path(out_dir)
    ctx = RunContext(out_dir, config, experiment.name, progress, check_format(figure_format))
    if ctx.is_writer:
        out_dir.mkdir(parents=True, exist_ok=True)
        resolved = {"experiment": experiment.name, **to_dict(config)}
        text = yaml.safe_dump(resolved, sort_keys=False)
        atomic_write(out_dir / "config.yaml", lambda f: f.write(text.encode()))
    summary = experiment.run(config, ctx)
    if not isinstance(summary, Mapping):
        raise TypeError(f"experiment {experiment.name!r} must return a dict summary")
    summary = to_json(summary)
    if ctx.is_writer:
        text = json.dumps(summary, indent=2) + "\n"
        atomic_write(out_dir / "summary.json", lambda f: f.write(text.encode()))
    return summary


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data: arrays and numpy/JAX scalars become lists and numbers.

    Mapping keys become strings (``0.01 -> "0.01"``); tuples become lists.
    """
    if isinstance(value, Mapping):
        return {_json_key(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray | jax.Array | np.generic):
        return to_json(np.asarray(value).tolist())
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot write {type(value).__name__} to summary.json: {value!r}")


def _json_key(key: Any) -> str:
    if isinstance(key, np.generic | jax.Array):
        key = np.asarray(key).item()
    return key if isinstance(key, str) else str(key)
