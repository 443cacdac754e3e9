"""Running an experiment: the results directory and what an experiment may write to it.

``run_experiment(config, out_dir)`` is the single entry point (the CLI and tests use it). The
results directory is a transaction (a :class:`~rmtjax.experiments.store.ResultsStore`): it is
checked before anything is written, then ``config.yaml`` (the resolved config with
``experiment: NAME``) is written, the experiment's ``run(config, ctx)`` runs, and the returned
summary goes to ``summary.json`` last, with the experiment, the config fingerprint and
``"complete": true``. The :class:`RunContext` gives the experiment resumable Monte Carlo
(``ctx.trials``, chunks under ``out_dir/chunks/<name>/``), ``ctx.save_data`` (``data.npz``)
and ``ctx.save_figure`` (``<name>.<figure_format>``: png, pdf or svg). On several processes
every process runs the experiment and only process 0 writes files.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import yaml
from matplotlib.figure import Figure

from rmtjax.experiments.config import fingerprint, fingerprint_fields, to_dict
from rmtjax.experiments.engine import on_process_zero, run_trials
from rmtjax.experiments.plotting import check_format, save_figure
from rmtjax.experiments.registry import experiment_for_config
from rmtjax.experiments.store import ResultsStore

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
      results: the results directory's store on the writing process (made from the other
        fields when None), None on the others.
      figure_format: file format of the figures, ``"png"``, ``"pdf"`` or ``"svg"``.
    """

    out_dir: Path
    config: Any
    experiment: str
    progress: bool = True
    results: ResultsStore | None = None
    figure_format: str = "png"

    def __post_init__(self) -> None:
        if self.results is None and self.is_writer:  # checks out_dir now, before any write
            store = _results_store(self.out_dir, self.experiment, self.config)
            object.__setattr__(self, "results", store)

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
        cache_key: Hashable | None = None,
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
          cache_key: hashable value naming the static parameters ``trial_fn`` closes over;
            stores with equal keys (within this experiment) share one compiled program, e.g.
            every ``delta`` of a sweep passed through ``params``. By default the program is
            cached under the store's fingerprint (one compilation per store and config).

        Returns:
          The outputs as numpy arrays with leading axis ``n_trials``.
        """
        if not _NAME_RE.match(name):
            raise ValueError(f"trial store name must be a plain file name; got {name!r}")
        out = run_trials(
            trial_fn,
            params=params,
            seed=self.config.seed if seed is None else seed,
            n_trials=n_trials,
            chunk_size=self.config.chunk_size,
            store=self.out_dir / "chunks" / name,
            fingerprint=f"{self.experiment}/{name}/{fingerprint(self.config)}",
            cache_key=None if cache_key is None else (self.experiment, cache_key),
            progress=self.progress,
            desc=name,
        )
        if self.results is not None:
            self.results.mark_finished(f"chunks/{name}")
        return out

    def save_data(self, **arrays: Any) -> Path:
        """Write ``arrays`` to ``out_dir/data.npz`` (process 0) and return the path."""
        if self.results is None:
            return self.out_dir / "data.npz"
        data = {k: np.asarray(v) for k, v in arrays.items()}
        return self.results.write("data.npz", lambda f: np.savez(f, **data))

    def save_figure(self, name: str, fig: Figure) -> Path:
        """Write ``fig`` (a ``matplotlib.figure.Figure``) to ``out_dir/<name>.<figure_format>``."""
        if not _NAME_RE.match(name):
            raise ValueError(f"figure name must be a plain file name; got {name!r}")
        file_name = f"{name}.{self.figure_format}"
        if self.results is None:
            return self.out_dir / file_name
        return self.results.write(file_name, lambda f: save_figure(fig, f, self.figure_format))


def run_experiment(
    config: Any, out_dir: str | Path, *, progress: bool = True, figure_format: str = "png"
) -> dict[str, Any]:
    """Run the experiment that ``config`` belongs to and write its results to ``out_dir``.

    Before writing anything, checks that ``out_dir`` is new, empty, or a directory of this
    experiment and config fingerprint whose files all pass their checksums; a refusal leaves
    it untouched. Then removes ``summary.json`` (the directory is incomplete from here on),
    writes ``config.yaml``, runs the experiment (whatever it saves) and writes
    ``summary.json`` last. Rerunning on the same ``out_dir`` resumes the Monte Carlo where it
    stopped (with ``progress``, a line on stderr says what was missing).

    Args:
      config: a validated experiment config (see ``load_config``).
      out_dir: results directory (created if needed).
      progress: show progress bars.
      figure_format: file format of the figures: ``"png"``, ``"pdf"`` or ``"svg"`` (vector).

    Returns:
      The summary as plain JSON data (what ``summary.json`` holds, including
      ``experiment``, ``fingerprint`` and ``"complete": true``).

    Raises:
      StoreError: ``out_dir`` is a file, not an rmtjax directory, another run's, or holds a
        corrupt file (the message names it and the fix).
    """
    experiment = experiment_for_config(config)
    figure_format = check_format(figure_format)
    out_dir = Path(out_dir)

    def open_results() -> ResultsStore:
        results = _results_store(out_dir, experiment.name, config)
        report = results.preflight()
        if progress and report.missing:
            print(f"resuming {out_dir}: {'; '.join(report.missing[:3])}", file=sys.stderr)
        return results

    results = on_process_zero(open_results, f"the results directory {out_dir}")
    ctx = RunContext(out_dir, config, experiment.name, progress, results, figure_format)
    if results is not None:
        resolved = {"experiment": experiment.name, **to_dict(config)}
        results.begin(yaml.safe_dump(resolved, sort_keys=False))
    summary = experiment.run(config, ctx)
    if not isinstance(summary, Mapping):
        raise TypeError(f"experiment {experiment.name!r} must return a dict summary")
    identity = {"experiment": experiment.name, "fingerprint": fingerprint(config), "complete": True}
    summary = {**identity, **to_json(summary)}
    if results is not None:
        results.finish(summary)
    return summary


def _results_store(out_dir: Path, experiment: str, config: Any) -> ResultsStore:
    return ResultsStore(out_dir, experiment, fingerprint(config), fingerprint_fields(config))


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
