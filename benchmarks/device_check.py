"""The accelerator profile in one table: ``python -m benchmarks.device_check [--quick]``.

Rows (GPU sizes; ``--quick`` shrinks every one to a CPU-test size):

- ``eigvec_overlap_trials``: the ``eigvec_overlap`` Monte Carlo through ``run_trials``
  (n = 500, 256 trials in one chunk), trials/s.
- ``grampa``: the GRAMPA similarity at n = 1000, 2000, 4000, 8000, float32.
- ``match_batched``: ``match`` (GRAMPA + rounding) over a batch of 64 pairs, n = 500, pairs/s.
- ``ntk_seed_scale``: the structured NTK of the talk's network (arctan, n = 3000, d0 = 1000,
  five layers of 6000) and its eigenvalues.
- ``ck_density_L5`` / ``ntk_density_L5``: limit densities at 200 points (float64).
- ``train_steps``: the tracked trainer of ``bench_train``, steps/s.

``--only NAME[,NAME...]`` keeps those rows. Each case is timed by
:func:`benchmarks._harness.measure` (warm-up = compile, then the median); cases left when
``--time-limit`` (default 430 s) has passed become ``skipped`` rows. Prints one table and
writes it to ``OUT/device_check.txt`` and ``OUT/device_check.json`` (rewritten after every
case, so a run cut short keeps what it measured). Installs nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks._harness import Case, Result, measure

_SIZES = {
    "gpu": {
        "overlap": (500, 256),
        "grampa_n": (1000, 2000, 4000, 8000),
        "match": (64, 500),
        "ntk": (3000, (1000, 6000, 6000, 6000, 6000, 6000)),
        "density_points": 200,
    },
    "quick": {
        "overlap": (40, 4),
        "grampa_n": (64, 128),
        "match": (4, 32),
        "ntk": (48, (32, 64, 64)),
        "density_points": 8,
    },
}


def _overlap(n: int, trials: int) -> tuple[Case, Callable[[Result], dict]]:
    from benchmarks.bench_montecarlo import engine_run

    run = engine_run(n, trials, chunk_size=trials)
    case = Case("eigvec_overlap_trials", f"n={n} T={trials}", run, repeats=3)
    return case, lambda r: {"trials_per_s": trials / r.ours_s}


def _grampa(n: int) -> tuple[Case, Callable[[Result], dict]]:
    import jax
    import jax.numpy as jnp

    from benchmarks.bench_graphs import ETA, _wigner_pair
    from rmtjax.graphs import grampa

    A, B = (jnp.asarray(x, jnp.float32) for x in _wigner_pair(n, 0.1, 1))
    fn = jax.jit(grampa)
    return Case("grampa", f"n={n} f32", lambda: fn(A, B, ETA), repeats=2), lambda r: {}


def _match(batch: int, n: int) -> tuple[Case, Callable[[Result], dict]]:
    import jax.numpy as jnp

    from benchmarks.bench_graphs import ETA, _wigner_pair
    from rmtjax.graphs import match

    A, B = (jnp.asarray(x, jnp.float32) for x in _wigner_pair(n, 0.1, 1, (batch,)))
    case = Case("match_batched", f"B={batch} n={n} f32", lambda: match(A, B, eta=ETA), repeats=2)
    return case, lambda r: {"pairs_per_s": batch / r.ours_s}


def _ntk(n: int, widths: tuple[int, ...]) -> tuple[Case, Callable[[Result], dict]]:
    import jax
    import jax.numpy as jnp

    from rmtjax._linalg import eigvalsh
    from rmtjax.nets import gaussian_inputs, init_mlp, ntk

    params = init_mlp(jax.random.key(2), widths, jnp.float32)
    X = gaussian_inputs(jax.random.key(3), n, widths[0], jnp.float32)
    fn = jax.jit(lambda p, X: eigvalsh(ntk(p, X, "arctan")))
    case = Case(
        "ntk_seed_scale",
        f"n={n} widths={widths} f32, kernel + eigvalsh",
        lambda: fn(params, X),
        repeats=2,
    )
    return case, lambda r: {}


def _density(kind: str, points: int) -> tuple[Case, Callable[[Result], dict]]:
    from benchmarks.bench_spectra import _density_case

    case = _density_case(kind, points)
    case = dataclasses.replace(case, baseline=None, target=None, baseline_name="")
    return case, lambda r: {"points_per_s": points / r.ours_s}


def _train(quick: bool) -> tuple[Case, Callable[[Result], dict]]:
    from benchmarks.bench_train import cases

    case = dataclasses.replace(
        cases(quick)[0], name="train_steps", baseline=None, target=None, baseline_name="", repeats=1
    )
    steps = int(re.search(r"(\d+) steps", case.size).group(1))
    return case, lambda r: {"steps_per_s": steps / r.ours_s}


def _builders(profile: str) -> list[tuple[str, str, Callable[[], tuple[Case, Callable]]]]:
    """``(name, size, build)`` per row, built lazily so that one failure is one ERROR row."""
    s = _SIZES[profile]
    rows: list[tuple[str, str, Callable[[], tuple[Case, Callable]]]] = [
        ("eigvec_overlap_trials", str(s["overlap"]), lambda: _overlap(*s["overlap"]))
    ]
    rows += [("grampa", f"n={n}", lambda n=n: _grampa(n)) for n in s["grampa_n"]]
    rows.append(("match_batched", str(s["match"]), lambda: _match(*s["match"])))
    rows.append(("ntk_seed_scale", str(s["ntk"]), lambda: _ntk(*s["ntk"])))
    points = s["density_points"]
    rows += [
        (f"{k}_density_L5", f"{points} points", lambda k=k: _density(k, points))
        for k in ("ck", "ntk")
    ]
    rows.append(("train_steps", profile, lambda: _train(profile == "quick")))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CPU-test sizes")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"), help="output folder")
    parser.add_argument("--only", default="", help="comma-separated row names (default: all)")
    parser.add_argument("--time-limit", type=float, default=430.0, help="seconds for all cases")
    args = parser.parse_args(argv)
    profile = "quick" if args.quick else "gpu"
    start = time.monotonic()
    machine = report.machine_info(profile)
    rows: list[dict[str, Any]] = []
    only = set(filter(None, args.only.split(",")))
    for name, size, build in _builders(profile):
        if only and name not in only:
            continue
        if time.monotonic() - start > args.time_limit:
            rows.append(report.skipped_row("device_check", name, size, "time limit"))
            continue
        print(f"[device_check] {name} {size} ...", file=sys.stderr, flush=True)
        try:
            case, rates = build()
            result = measure(case)
            result.extra.update(rates(result))
            rows.append(report.result_row("device_check", result))
        except Exception as error:
            rows.append(report.error_row("device_check", name, size, error))
        report.write_json(
            args.out / "device_check.json", rows, machine, sys.argv, time.monotonic() - start
        )
    table = report.format_table(rows, machine)
    print(table)
    (args.out / "device_check.txt").write_text(table + "\n")
    print(f"wrote {args.out / 'device_check.txt'} and {args.out / 'device_check.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
