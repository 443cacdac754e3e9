"""Rows, the results table and the JSON file of a benchmark run.

A row is a flat JSON-ready dict, one per case: ``module``, ``name``, ``size``, ``status``
(``pass``, ``FAIL``, ``-`` without target, ``ERROR``, ``n/a`` when the code under test is not
importable, ``skipped``), the timings of :class:`benchmarks._harness.Result` (seconds; spreads
relative) and ``extra``. When ``extra`` holds ``"trials"``, the row also gets ``trials_per_s``
and ``baseline_trials_per_s``. The JSON file is ``{"schema", "command", "elapsed_s",
"machine", "summary", "rows"}``; ``machine`` comes from :func:`machine_info`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = [
    "error_row",
    "format_table",
    "machine_info",
    "result_row",
    "skipped_row",
    "write_json",
]

SCHEMA = 1
_EMPTY = {
    "ours_s": None,
    "ours_spread": None,
    "compile_s": None,
    "baseline_s": None,
    "baseline_spread": None,
    "ratio": None,
    "target": None,
    "passed": None,
    "baseline_name": "",
    "extra": {},
}


def result_row(module: str, result: Any) -> dict[str, Any]:
    """The row of a measured :class:`benchmarks._harness.Result` from ``bench_<module>``."""
    row = {"module": module, **dataclasses.asdict(result)}
    row["status"] = {True: "pass", False: "FAIL", None: "-"}[result.passed]
    trials = row["extra"].get("trials")
    if isinstance(trials, int | float) and trials > 0:
        row["trials_per_s"] = trials / row["ours_s"]
        if row["baseline_s"]:
            row["baseline_trials_per_s"] = trials / row["baseline_s"]
    return row


def error_row(module: str, name: str, size: str, error: BaseException) -> dict[str, Any]:
    """A row for a case or module that raised: ``n/a`` for an ``ImportError``, else ``ERROR``."""
    status = "n/a" if isinstance(error, ImportError) else "ERROR"
    message = f"{type(error).__name__}: {error}".splitlines()[0]
    return {
        "module": module,
        "name": name,
        "size": size,
        **_EMPTY,
        "status": status,
        "error": message,
    }


def skipped_row(module: str, name: str, size: str, reason: str) -> dict[str, Any]:
    """A row for a case that was not run."""
    return {
        "module": module,
        "name": name,
        "size": size,
        **_EMPTY,
        "status": "skipped",
        "error": reason,
    }


def machine_info(profile: str = "") -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, versions, backend, devices, dtype, BLAS.

    Imports JAX (and so initializes its backend).
    """
    import jax
    import jax.numpy as jnp
    import jaxlib
    import numpy as np
    import scipy
    import scipy.linalg  # loads scipy's BLAS (the one JAX's CPU LAPACK calls) for _blas_pools

    devices = jax.devices()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "profile": profile,
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "backend": jax.default_backend(),
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "dtype_default": jnp.result_type(float).name,
        "blas": _blas_pools(),
        "env": {
            k: os.environ[k]
            for k in ("XLA_FLAGS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "JAX_PLATFORMS")
            if k in os.environ
        },
        "git_commit": _git_commit(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas_pools() -> list[str]:
    """``library:threads`` of each loaded BLAS (needs ``threadpoolctl``; else empty)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [f"{Path(p['filepath']).name}:{p['num_threads']}" for p in threadpool_info()]


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def _seconds(t: float | None) -> str:
    if t is None or not math.isfinite(t):
        return "-"
    if t >= 1:
        return f"{t:.3g} s"
    return f"{t * 1e3:.3g} ms" if t >= 1e-3 else f"{t * 1e6:.3g} us"


def _number(x: Any) -> str:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _compact(extra: dict[str, Any]) -> str:
    """``k=v`` pairs, numbers to 3 significant digits, lists/dicts shortened."""
    parts = []
    for key, value in extra.items():
        value = value.tolist() if hasattr(value, "tolist") else value  # numpy -> Python
        if isinstance(value, list | tuple):
            text = "[" + ", ".join(_number(v) for v in value[:8])
            text += ", ...]" if len(value) > 8 else "]"
        elif isinstance(value, dict):
            text = "{" + ", ".join(f"{k}: {_number(v)}" for k, v in list(value.items())[:8])
            text += ", ...}" if len(value) > 8 else "}"
        else:
            text = _number(value)
        parts.append(f"{key}={text}")
    return ", ".join(parts)


def _cells(row: dict[str, Any]) -> list[str]:
    ours = _seconds(row["ours_s"])
    if row["ours_spread"]:
        ours += f" ±{100 * row['ours_spread']:.0f}%"
    target = row["target"]
    return [
        row["name"],
        row["size"],
        ours,
        _seconds(row["baseline_s"]),
        "-" if row["ratio"] is None else f"{row['ratio']:.3g}",
        "-" if target is None else (f"<={target:g}" + ("" if row["baseline_s"] else " s")),
        row["status"],
        _seconds(row["compile_s"]),
    ]


_HEADER = [
    "name",
    "size",
    "ours (median ±spread)",
    "baseline",
    "ratio",
    "target",
    "status",
    "compile",
]


def format_table(rows: list[dict[str, Any]], machine: dict[str, Any] | None = None) -> str:
    """The results as an aligned text table (also valid Markdown), details under each row.

    Under a row come, indented, its baseline's name, trials/s, ``extra`` and any error.
    """
    cells = [_HEADER, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(_HEADER))]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    out = []
    if machine:
        out.append(
            f"{machine.get('date', '')}  {machine.get('cpu', '')} ({machine.get('cores')} cores)"
            f"  backend={machine.get('backend')} ({machine.get('device_kind')} x"
            f"{machine.get('device_count')})  jax {machine.get('jax')}"
            f"  dtype={machine.get('dtype_default')}  profile={machine.get('profile')}"
            f"  load={machine.get('load_avg')}"
        )
    out += [line(_HEADER), line(["-" * w for w in widths])]
    for row, row_cells in zip(rows, cells[1:], strict=True):
        out.append(line(row_cells))
        notes = _notes(row)
        if notes:
            out.append(f"|   ↳ {notes}")
    passed = sum(r["status"] == "pass" for r in rows)
    failed = sum(r["status"] == "FAIL" for r in rows)
    errors = sum(r["status"] == "ERROR" for r in rows)
    out.append(f"{len(rows)} rows: {passed} pass, {failed} FAIL, {errors} ERROR")
    return "\n".join(out)


def _notes(row: dict[str, Any]) -> str:
    notes = []
    if row.get("error"):
        notes.append(row["error"])
    if row.get("baseline_name"):
        notes.append(f"baseline: {row['baseline_name']}")
    if "trials_per_s" in row:
        rate = f"trials/s {row['trials_per_s']:.3g}"
        if "baseline_trials_per_s" in row:
            rate += f" vs {row['baseline_trials_per_s']:.3g}"
        notes.append(rate)
    if row.get("extra"):
        notes.append(_compact(row["extra"]))
    return "; ".join(notes)


def _jsonable(x: Any) -> Any:
    if hasattr(x, "tolist"):  # numpy / JAX arrays and scalars
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    return repr(x)


def write_json(
    path: Path,
    rows: list[dict[str, Any]],
    machine: dict[str, Any],
    command: list[str],
    elapsed_s: float,
) -> None:
    """Write ``{"schema", "command", "elapsed_s", "machine", "summary", "rows"}`` to ``path``.

    Parent directories are created; the file is replaced atomically. Non-JSON values in
    ``extra`` (numpy scalars/arrays) become lists or numbers, anything else its ``repr``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    statuses = [r["status"] for r in rows]
    document = {
        "schema": SCHEMA,
        "command": " ".join(command),
        "elapsed_s": round(elapsed_s, 2),
        "machine": machine,
        "summary": {s: statuses.count(s) for s in sorted(set(statuses))},
        "rows": rows,
    }
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, indent=1, default=_jsonable, allow_nan=True) + "\n")
    os.replace(tmp, path)
