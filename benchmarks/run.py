"""Run the benchmark suite and print one table: ``python -m benchmarks.run``.

Usage::

    python -m benchmarks.run [--quick | --gpu] [--only NAME[,NAME...]] [--out FILE.json]
                             [--list] [--strict] [--blas-threads N] [--time-limit S]

Every module ``benchmarks/bench_<name>.py`` is discovered from the directory listing and imported
only when it runs (``--list`` imports nothing heavy). ``--only`` keeps a module whose suffix
matches (``--only montecarlo``) or, failing that, the cases whose name contains the string
(``--only grampa``). Each case goes through :func:`benchmarks._harness.measure`; a module that
fails to import or whose ``cases``/case raises becomes an ``ERROR`` row (an ``ImportError``:
an ``n/a`` row, "not available") and the suite goes on. Exit code 0, unless ``--strict`` and
some case failed its target or errored. ``--out`` writes JSON (rows + machine info), rewritten
after every case so an interrupted run keeps what it measured.

Size profiles (the contract for benchmark modules). The API stays ``cases(quick: bool)``;
modules that have more than two scales read the profile with :func:`profile`::

    from benchmarks.run import profile
    def cases(quick: bool) -> list[Case]:
        n = {"quick": 200, "full": 1000, "gpu": 4000}[profile(quick)]

``profile(quick)`` returns the environment variable ``RMTJAX_BENCH_PROFILE`` when it holds one
of ``quick``, ``full``, ``gpu`` and else ``"quick" if quick else "full"``. The runner sets the
variable: ``--quick`` -> ``quick`` (``cases(True)``), default -> ``full`` (``cases(False)``),
``--gpu`` -> ``gpu`` (``cases(False)``; accelerator-scale sizes, e.g. GRAMPA batches of 64
pairs at ``n = 2000``, seed-scale NTK, 10^4-atom limit spectra).

``--blas-threads N`` sets ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/``MKL_NUM_THREADS``
before numpy, scipy or JAX load: on a small, shared CPU a multi-threaded OpenBLAS that spins
on busy cores makes every ``eigh`` (numpy's and JAX's, which calls scipy's LAPACK) several
times slower and noisier; ``--blas-threads 1`` gives both sides the same, stable setting.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

__all__ = ["PROFILES", "PROFILE_ENV", "discover", "main", "profile"]

PROFILE_ENV = "RMTJAX_BENCH_PROFILE"
PROFILES = ("quick", "full", "gpu")
_DIR = Path(__file__).resolve().parent
_BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def profile(quick: bool) -> str:
    """The size profile a benchmark module should use: ``"quick"``, ``"full"`` or ``"gpu"``.

    Args:
      quick: the ``quick`` argument of the module's ``cases``.

    Returns:
      ``$RMTJAX_BENCH_PROFILE`` if it names a profile, else ``"quick" if quick else "full"``.
    """
    value = os.environ.get(PROFILE_ENV, "")
    return value if value in PROFILES else ("quick" if quick else "full")


def discover(directory: Path = _DIR) -> list[str]:
    """Names ``<name>`` of the modules ``bench_<name>.py`` in ``directory``, sorted."""
    return sorted(p.stem.removeprefix("bench_") for p in directory.glob("bench_*.py"))


def _summary(name: str) -> str:
    """First line of a module's docstring, read without importing it."""
    doc = ast.get_docstring(ast.parse((_DIR / f"bench_{name}.py").read_text())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (< 3 min on 2 cores)")
    size.add_argument("--gpu", action="store_true", help="accelerator-scale sizes")
    parser.add_argument("--only", default="", help="module suffixes or case-name substrings")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--list", action="store_true", help="list the benchmark modules")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a case fails/errors")
    parser.add_argument("--blas-threads", type=int, help="BLAS/LAPACK threads for both sides")
    parser.add_argument(
        "--time-limit", type=float, help="seconds; later cases are reported as skipped"
    )
    return parser.parse_args(argv)


def _select(names: list[str], only: str) -> list[tuple[str, list[str]]]:
    """``(module, case-name substrings)`` to run; no substrings: every case of the module."""
    wanted = [w for w in only.split(",") if w]
    if not wanted:
        return [(name, []) for name in names]
    patterns = [w for w in wanted if w not in names]
    return [
        (name, [] if name in wanted else patterns) for name in names if name in wanted or patterns
    ]


def _run_module(name: str, quick: bool, patterns: list[str], deadline: float, emit: Any) -> None:
    """Measure the cases of ``bench_<name>`` (those matching ``patterns`` if any); ``emit`` rows."""
    from benchmarks import report
    from benchmarks._harness import measure

    try:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        cases = module.cases(quick)
    except Exception as error:  # reported as a row; the suite goes on
        emit(report.error_row(name, f"bench_{name}", "", error))
        return
    for case in cases:
        if patterns and not any(p in case.name for p in patterns):
            continue
        if time.monotonic() > deadline:
            emit(report.skipped_row(name, case.name, case.size, "time limit reached"))
            continue
        print(f"[{name}] {case.name} {case.size} ...", file=sys.stderr, flush=True)
        try:
            row = report.result_row(name, measure(case))
        except Exception as error:
            traceback.print_exc(file=sys.stderr)
            row = report.error_row(name, case.name, case.size, error)
        emit(row)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.run``; returns the exit code."""
    args = _parse(argv)
    names = discover()
    if args.list:
        for name in names:
            print(f"{name:<14} {_summary(name)}")
        return 0
    if args.blas_threads is not None:
        for var in _BLAS_ENV:
            os.environ[var] = str(args.blas_threads)
    quick = args.quick
    os.environ[PROFILE_ENV] = "quick" if quick else ("gpu" if args.gpu else "full")
    selected = _select(names, args.only)

    from benchmarks import report

    start = time.monotonic()
    deadline = start + args.time_limit if args.time_limit else float("inf")
    rows: list[dict[str, Any]] = []
    machine = report.machine_info(os.environ[PROFILE_ENV])

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        if args.out:
            report.write_json(args.out, rows, machine, sys.argv, time.monotonic() - start)

    for name, patterns in selected:
        _run_module(name, quick, patterns, deadline, emit)
    if not rows:
        print(f"no benchmark case matches --only {args.only!r} (modules: {names})", file=sys.stderr)
        return 2
    print(report.format_table(rows, machine))
    if args.out:
        report.write_json(args.out, rows, machine, sys.argv, time.monotonic() - start)
        print(f"wrote {args.out}")
    failed = [r for r in rows if r["status"] in ("FAIL", "ERROR")]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
