"""Scaling curves: time vs n (GRAMPA, structured NTK), vs batch size, vs number of host devices.

Each case is a sweep with no baseline and no target. Its ``ours`` callable is a small state
machine that fits the harness: the first call (the harness's warm-up, reported as compile
time) runs every point once to compile it; every later call times each point (median of
``_REPEATS`` runs) and writes the per-point seconds and the least-squares slope of
``log t`` vs ``log x`` into ``case.extra`` (the harness copies ``extra`` after timing), then
redraws ``benchmarks/out/scaling.png`` with every sweep finished so far.

- ``scaling_grampa_n``: ``grampa(A, B)`` on one correlated Gaussian pair vs ``n``
  (expected exponent ~3: two ``eigh``; smaller at small ``n`` where overheads dominate).
- ``scaling_ntk_n``: ``ntk(params, X)`` (structured) vs the number of samples ``n`` at fixed
  widths (expected ~2 once the ``n^2 d`` Gram products dominate the ``n d^2`` forward pass).
- ``scaling_grampa_batch``: ``grampa`` on a ``(b, n, n)`` batch (vmapped inside) vs ``b``
  (exponent ~1; below 1 when batching uses idle cores).
- ``scaling_devices``: the ``eigvec_overlap`` Monte Carlo through ``run_trials`` in a
  subprocess per device count ``k`` (``XLA_FLAGS=--xla_force_host_platform_device_count=k``,
  ``JAX_PLATFORMS=cpu``), trials/s vs ``k``; a subprocess that exceeds its timeout is recorded
  in ``extra["timeouts"]`` (a hang; before ``rmtjax._linalg`` ran one matrix per LAPACK call,
  jaxlib's batched CPU ``eigh`` deadlocked with several host devices).

The code under test is imported lazily: a module that does not exist yet makes its sweep an
``n/a`` row.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from benchmarks._harness import Case
from benchmarks.run import profile

PLOT = Path(__file__).resolve().parent / "out" / "scaling.png"
_REPEATS = 3
_SIZES: dict[str, dict[str, Any]] = {
    "quick": {
        "grampa_n": (100, 200, 400),
        "ntk_n": (100, 200, 400),
        "ntk_widths": (128, 256, 256),
        "batch_n": 100,
        "batches": (1, 2, 4, 8),
        "devices": (1, 2, 4),
        "mc": (128, 8),
        "timeout_s": 120,
    },
    "full": {
        "grampa_n": (100, 200, 400, 700, 1000),
        "ntk_n": (250, 500, 1000, 2000),
        "ntk_widths": (500, 1000, 1000),
        "batch_n": 200,
        "batches": (1, 2, 4, 8, 16, 32),
        "devices": (1, 2, 4),
        "mc": (200, 32),
        "timeout_s": 120,
    },
    "gpu": {
        "grampa_n": (500, 1000, 2000, 4000),
        "ntk_n": (1000, 2000, 4000, 8000),
        "ntk_widths": (1000, 6000, 6000),
        "batch_n": 2000,
        "batches": (1, 4, 16, 64),
        "devices": (1, 2, 4),
        "mc": (200, 32),
        "timeout_s": 60,
    },
}
_CURVES: dict[str, dict[str, Any]] = {}  # finished sweeps, for the figure


def loglog_slope(x: Sequence[float], t: Sequence[float]) -> float:
    """Least-squares slope of ``log t`` against ``log x`` (the scaling exponent)."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(t, float)), 1)[0])


class _Sweep:
    """``Case.ours`` for a sweep over ``xs``: first call compiles, later calls time and fit."""

    def __init__(
        self,
        name: str,
        xlabel: str,
        xs: Sequence[int],
        make_point: Callable[[int], Callable[[], Any]],
        extra: dict[str, Any],
    ) -> None:
        self.name, self.xlabel, self.xs = name, xlabel, tuple(xs)
        self.make_point, self.extra = make_point, extra
        self.points: list[Callable[[], Any]] | None = None

    def __call__(self) -> None:
        if self.points is None:
            self.points = [self.make_point(x) for x in self.xs]
            for point in self.points:
                jax.block_until_ready(point())
            return
        seconds = [_median_time(point) for point in self.points]
        self.extra.update(
            {
                self.xlabel: list(self.xs),
                "seconds": seconds,
                "exponent": loglog_slope(self.xs, seconds),
            }
        )
        _record(self.name, self.xlabel, self.xs, seconds)


def _median_time(fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(_REPEATS):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _wigner_pair(n: int, batch: tuple[int, ...] = ()) -> tuple[jax.Array, jax.Array]:
    """Correlated Gaussian pair ``B = A + 0.1 Z`` drawn in numpy (float32, unpermuted)."""
    rng = np.random.default_rng(n)

    def goe() -> np.ndarray:
        m = rng.standard_normal((*batch, n, n)).astype(np.float32) / np.sqrt(2 * n)
        return m + np.swapaxes(m, -1, -2)

    A = goe()
    return jax.numpy.asarray(A), jax.numpy.asarray(A + 0.1 * goe())


def _grampa_point(n: int, batch: int = 0) -> Callable[[], Any]:
    from rmtjax.graphs.similarity import grampa

    A, B = _wigner_pair(n, (batch,) if batch else ())
    return lambda: grampa(A, B)


def _ntk_point(widths: tuple[int, ...]) -> Callable[[int], Callable[[], Any]]:
    def point(n: int) -> Callable[[], Any]:
        from rmtjax.nets.kernels import ntk
        from rmtjax.nets.mlp import init_mlp

        params = init_mlp(jax.random.key(0), widths)
        X = jax.random.normal(jax.random.key(1), (n, widths[0])) / math.sqrt(widths[0])
        return lambda: ntk(params, X, "arctan")

    return point


class _DeviceSweep(_Sweep):
    """Device-count sweep: each point is a fresh subprocess that warms up by itself."""

    def __init__(self, counts: Sequence[int], n: int, trials: int, timeout_s: float, extra):
        super().__init__("scaling_devices", "devices", counts, lambda k: lambda: None, extra)
        self.n, self.trials, self.timeout_s = n, trials, timeout_s

    def __call__(self) -> None:
        if self.points is None:
            self.points = []
            return
        measured = {k: _devices_subprocess(k, self.n, self.trials, self.timeout_s) for k in self.xs}
        done = [k for k, rate in measured.items() if rate is not None]
        rates = [measured[k] for k in done]
        timeouts = [k for k, rate in measured.items() if rate is None]
        self.extra.update({"devices": done, "trials_per_s": rates, "timeouts": timeouts})
        if len(done) >= 2:
            self.extra["exponent"] = loglog_slope(done, rates)
        if done:
            _record(self.name, "devices", done, [self.trials / r for r in rates])


def _devices_subprocess(k: int, n: int, trials: int, timeout_s: float) -> float | None:
    """Trials/s of the Monte Carlo case with ``k`` forced host devices, None on timeout."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={k}"
    cmd = [sys.executable, "-m", "benchmarks.bench_scaling", "--devices-worker", str(n)]
    cmd.append(str(trials))
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            cmd, env=env, cwd=root, capture_output=True, text=True, timeout=timeout_s, check=True
        )
    except subprocess.TimeoutExpired:
        return None
    return float(json.loads(out.stdout.strip().splitlines()[-1])["trials_per_s"])


def _devices_worker(n: int, trials: int) -> None:
    """Run in the subprocess: print ``{"devices", "trials_per_s"}`` of the Monte Carlo case."""
    from benchmarks.bench_montecarlo import engine_run

    run = engine_run(n, trials, chunk_size=trials)
    run()
    seconds = _median_time(run)
    print(json.dumps({"devices": jax.device_count(), "trials_per_s": trials / seconds}))


def _record(name: str, xlabel: str, xs: Sequence[int], seconds: Sequence[float]) -> None:
    _CURVES[name] = {"x": list(xs), "t": list(seconds), "xlabel": xlabel}
    _save_figure()


def _save_figure() -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.4 * len(_CURVES), 3.0), layout="constrained")
    axes = fig.subplots(1, len(_CURVES), squeeze=False)[0]
    for ax, (name, curve) in zip(axes, _CURVES.items(), strict=True):
        x, t = np.asarray(curve["x"], float), np.asarray(curve["t"], float)
        ax.loglog(x, t, "o-")
        if len(x) >= 2:
            slope, intercept = np.polyfit(np.log(x), np.log(t), 1)
            ax.loglog(x, np.exp(intercept) * x**slope, "k:", label=f"slope {slope:.2f}")
            ax.legend()
        ax.set_title(name)
        ax.set_xlabel(curve["xlabel"])
    axes[0].set_ylabel("seconds")
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=100)


def _sweep_case(name: str, size: str, sweep_of: Callable[[dict[str, Any]], _Sweep]) -> Case:
    extra: dict[str, Any] = {"plot": str(PLOT)}
    return Case(name=name, size=size, ours=sweep_of(extra), repeats=1, extra=extra)


def cases(quick: bool) -> list[Case]:
    """The four sweeps at the current profile's sizes."""
    s = _SIZES[profile(quick)]
    widths = s["ntk_widths"]
    n_mc, trials = s["mc"]
    return [
        _sweep_case(
            "scaling_grampa_n",
            f"n={s['grampa_n'][0]}..{s['grampa_n'][-1]}",
            lambda extra: _Sweep("scaling_grampa_n", "n", s["grampa_n"], _grampa_point, extra),
        ),
        _sweep_case(
            "scaling_ntk_n",
            f"n={s['ntk_n'][0]}..{s['ntk_n'][-1]} widths={widths}",
            lambda extra: _Sweep("scaling_ntk_n", "n", s["ntk_n"], _ntk_point(widths), extra),
        ),
        _sweep_case(
            "scaling_grampa_batch",
            f"b={s['batches'][0]}..{s['batches'][-1]} n={s['batch_n']}",
            lambda extra: _Sweep(
                "scaling_grampa_batch",
                "batch",
                s["batches"],
                lambda b: _grampa_point(s["batch_n"], b),
                extra,
            ),
        ),
        _sweep_case(
            "scaling_devices",
            f"devices={s['devices']} n={n_mc} T={trials}",
            lambda extra: _DeviceSweep(s["devices"], n_mc, trials, s["timeout_s"], extra),
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--devices-worker"]:
        _devices_worker(int(sys.argv[2]), int(sys.argv[3]))
