"""Command line: ``rmtjax list | run | check | bench``.

    rmtjax list [NAME]                       experiments, or one experiment's config keys
    rmtjax run CONFIG.yaml [--set k=v ...] [--out DIR] [--format png|pdf|svg] [--quiet] ...
    rmtjax check DIR                         verify a results directory (exit 1 if not ok)
    rmtjax bench [ARGS ...]                  python -m benchmarks.run ARGS (from the repo root)

Bad input (unknown key, wrong type, value out of range, broken or non-UTF-8 YAML, a key given
twice, unknown experiment, a results directory of another run or with a corrupt file) prints
``error: <message>`` on one line to stderr and exits with status 2; any other exception is a
bug and keeps its traceback. ``check`` prints what it found on stdout and one line per fault
(``error:``) or missing part (``incomplete:``) on stderr, and exits with status 1 unless the
directory is complete and intact. The CLI only parses and dispatches; the work is in
``rmtjax.experiments``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import jax

from rmtjax.experiments.config import (
    ConfigError,
    apply_overrides,
    describe_config,
    load_config,
    read_yaml,
)
from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.engine import maybe_initialize_distributed
from rmtjax.experiments.plotting import FORMATS
from rmtjax.experiments.registry import Experiment, get_experiment, list_experiments
from rmtjax.experiments.store import StoreError, check_results

__all__ = ["main"]

_USAGE_ERROR = 2
_CHECK_FAILED = 1


class _UsageError(Exception):
    """A command-line usage error (reported like a config error)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rmtjax`` console script; returns the exit status.

    Args:
      argv: arguments after the program name (``sys.argv[1:]`` when None).

    Returns:
      0 on success, 2 on bad input (after printing ``error: ...`` to stderr), 1 when
      ``check`` finds a fault or an incomplete run, or the exit status of the benchmark run.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["bench"]:
            return _bench(argv[1:])
        args = _parser().parse_args(argv)
        return args.command(args)
    except (_UsageError, ConfigError, StoreError) as e:
        message = " ".join(str(e).split())
        print(f"error: {message}", file=sys.stderr)
        return _USAGE_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rmtjax", description="Random-matrix experiments in JAX.")
    sub = parser.add_subparsers(
        required=True, metavar="{list,run,check,bench}", parser_class=_Parser
    )

    p = sub.add_parser("list", help="list the experiments, or the config keys of one")
    p.add_argument("name", nargs="?", help="show this experiment's config keys")
    p.set_defaults(command=_list)

    p = sub.add_parser("run", help="run an experiment from a YAML config")
    p.add_argument("config", type=Path, help="YAML file with 'experiment: NAME' and fields")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field (value parsed as YAML); repeatable",
    )
    p.add_argument("--out", type=Path, help="results directory (default results/NAME)")
    p.add_argument(
        "--format", choices=FORMATS, default="png", help="figure file format (pdf, svg: vector)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="join a multi-process run with jax.distributed.initialize() before running",
    )
    p.add_argument("--coordinator", help="with --distributed: host:port of process 0")
    p.add_argument("--num-processes", type=int, help="with --distributed: number of processes")
    p.add_argument("--process-id", type=int, help="with --distributed: this process's index")
    p.set_defaults(command=_run)

    p = sub.add_parser("check", help="verify a results directory written by `rmtjax run`")
    p.add_argument("dir", type=Path, help="the results directory")
    p.set_defaults(command=_check)

    sub.add_parser("bench", help="run the benchmarks: python -m benchmarks.run [ARGS ...]")
    return parser


def _list(args: argparse.Namespace) -> int:
    if args.name is not None:
        experiment = _experiment(args.name)
        print(f"{experiment.name}: {experiment.description}")
        for row in describe_config(experiment.config_cls):
            allowed = f" {row['allowed']}" if row["allowed"] else ""
            print(f"  {row['key']} = {row['default']!r}  ({row['type']}{allowed})  {row['doc']}")
        return 0
    experiments = list_experiments()
    width = max((len(e.name) for e in experiments), default=0)
    for experiment in experiments:
        print(f"{experiment.name:<{width}}  {experiment.description}")
    if not experiments:
        print("no experiments registered")
    return 0


def _run(args: argparse.Namespace) -> int:
    mapping = apply_overrides(read_yaml(args.config), args.overrides)
    name = mapping.pop("experiment", None)
    if not isinstance(name, str):
        raise ConfigError(f"{args.config}: missing 'experiment: NAME' (see `rmtjax list`)")
    if args.distributed:  # before anything touches a JAX backend
        _initialize_distributed(args)
    experiment = _experiment(name)
    config = load_config(experiment.config_cls, mapping)
    out_dir = args.out if args.out is not None else Path("results") / name
    run_experiment(config, out_dir, progress=not args.quiet, figure_format=args.format)
    if jax.process_index() == 0:
        print(f"wrote {out_dir}/summary.json")
    return 0


def _check(args: argparse.Namespace) -> int:
    report = check_results(args.dir)
    for line in report.lines + report.notes:
        print(line)
    for line in report.problems:
        print(f"error: {line}", file=sys.stderr)
    for line in report.missing:
        print(f"incomplete: {line}", file=sys.stderr)
    if report.ok:
        print(f"ok: {args.dir} is complete and intact")
        return 0
    return _CHECK_FAILED


def _initialize_distributed(args: argparse.Namespace) -> None:
    try:
        maybe_initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    except (RuntimeError, TypeError, ValueError) as e:
        raise ConfigError(
            f"--distributed: {e} (pass --coordinator HOST:PORT --num-processes N --process-id I, "
            "or run under a cluster that JAX detects, e.g. SLURM or Open MPI)"
        ) from e


def _experiment(name: str) -> Experiment:
    try:
        return get_experiment(name)
    except ValueError as e:
        raise ConfigError(str(e)) from e


def _bench(args: list[str]) -> int:
    if not (Path.cwd() / "benchmarks" / "run.py").is_file():
        raise _UsageError(
            f"no benchmarks package in {Path.cwd()}; run `rmtjax bench` from the repository root"
        )
    return subprocess.run([sys.executable, "-m", "benchmarks.run", *args], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
