"""Side-by-side timing: our code vs a floor or baseline, interleaved in one process.

A benchmark module ``benchmarks/bench_<name>.py`` defines ``cases(quick: bool) -> list[Case]``.
Each ``Case`` holds two zero-argument callables on the *same* inputs (prepared outside the
callables): ``ours`` and ``baseline``. ``measure`` warms both up (the first call's time is
reported as compile time), then alternates them ``repeats`` times and reports medians and
spreads. ``ratio = ours / baseline`` (lower is better); the case passes when
``ratio <= target``. A case without a baseline reports its time against an absolute
``target`` in seconds.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["Case", "Result", "measure"]


@dataclasses.dataclass
class Case:
    """One side-by-side comparison.

    Attributes:
      name: benchmark name, e.g. ``"grampa_vs_floor"``.
      size: human-readable problem size, e.g. ``"n=1000 f32"``.
      ours: zero-argument callable running our code (its result is blocked on).
      baseline: zero-argument callable running the floor/baseline, or ``None``.
      target: pass threshold: max ``ours/baseline`` ratio, or max seconds without baseline.
      repeats: timed repetitions of each side (interleaved).
      extra: free-form measurements to report alongside (memory, errors, ...).
      baseline_name: what the baseline is, e.g. ``"numpy eigh loop"``.
    """

    name: str
    size: str
    ours: Callable[[], Any]
    baseline: Callable[[], Any] | None = None
    target: float | None = None
    repeats: int = 5
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    baseline_name: str = ""


@dataclasses.dataclass
class Result:
    name: str
    size: str
    ours_s: float
    ours_spread: float
    compile_s: float
    baseline_s: float | None
    baseline_spread: float | None
    ratio: float | None
    target: float | None
    passed: bool | None
    baseline_name: str
    extra: dict[str, Any]


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def _spread(times: list[float]) -> float:
    """Half the inter-quartile range, relative to the median."""
    if len(times) < 2:
        return 0.0
    q = statistics.quantiles(times, n=4)
    return (q[2] - q[0]) / 2 / statistics.median(times)


def measure(case: Case) -> Result:
    """Warm up, then time ``ours`` and ``baseline`` alternately; return medians and ratio."""
    compile_s = _timed(case.ours)
    if case.baseline is not None:
        _timed(case.baseline)
    ours_t: list[float] = []
    base_t: list[float] = []
    for _ in range(case.repeats):
        ours_t.append(_timed(case.ours))
        if case.baseline is not None:
            base_t.append(_timed(case.baseline))
    ours_s = statistics.median(ours_t)
    base_s = statistics.median(base_t) if base_t else None
    ratio = ours_s / base_s if base_s else None
    value = ratio if ratio is not None else ours_s
    passed = None if case.target is None else bool(value <= case.target)
    return Result(
        name=case.name,
        size=case.size,
        ours_s=ours_s,
        ours_spread=_spread(ours_t),
        compile_s=compile_s,
        baseline_s=base_s,
        baseline_spread=_spread(base_t) if base_t else None,
        ratio=ratio,
        target=case.target,
        passed=passed,
        baseline_name=case.baseline_name,
        extra=dict(case.extra),
    )
