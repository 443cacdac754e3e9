"""The benchmark harness cannot rot: the runner end to end, the table/JSON format, the baselines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import report, run
from benchmarks._harness import Case, measure
from benchmarks.bench_montecarlo import WINDOW, numpy_overlap_trial
from benchmarks.bench_scaling import loglog_slope

ROOT = Path(__file__).resolve().parent.parent


def _sleeper(seconds: float):
    return lambda: time.sleep(seconds)


def test_runner_quick_montecarlo_writes_table_and_json(tmp_path):
    out = tmp_path / "deep" / "tmp.json"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    cmd = [sys.executable, "-m", "benchmarks.run", "--quick", "--only", "montecarlo"]
    cmd += ["--blas-threads", "1", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "eigvec_overlap_trials" in proc.stdout and "| ratio" in proc.stdout
    document = json.loads(out.read_text())
    assert {r["module"] for r in document["rows"]} == {"montecarlo"}
    row = next(r for r in document["rows"] if r["name"] == "eigvec_overlap_trials")
    assert row["module"] == "montecarlo" and row["status"] in ("pass", "FAIL")
    assert row["ratio"] == pytest.approx(row["ours_s"] / row["baseline_s"])
    assert row["trials_per_s"] == pytest.approx(row["extra"]["trials"] / row["ours_s"])
    machine = document["machine"]
    for key in ("cpu", "cores", "jax", "jaxlib", "numpy", "backend", "device_kind"):
        assert machine[key], key
    assert machine["dtype_default"] == "float32" and machine["profile"] == "quick"
    assert machine["env"]["OPENBLAS_NUM_THREADS"] == "1"


def test_list_is_fast_and_names_every_module():
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert time.perf_counter() - start < 10  # imports no JAX
    listed = [line.split()[0] for line in proc.stdout.splitlines()]
    assert listed == sorted(
        p.stem.removeprefix("bench_") for p in ROOT.glob("benchmarks/bench_*.py")
    )
    assert "montecarlo" in listed and "scaling" in listed


def test_fake_cases_measured_formatted_and_serialized(tmp_path):
    fast = Case(
        "fast_vs_slow",
        "n=1",
        _sleeper(0.002),
        _sleeper(0.02),
        target=0.5,
        repeats=3,
        extra={"trials": 4, "err": np.float32(1e-7), "arr": np.arange(3)},
    )
    slow = Case("slow_vs_fast", "n=2", _sleeper(0.02), _sleeper(0.002), target=1.0, repeats=3)
    absolute = Case("absolute", "n=3", _sleeper(0.001), target=5.0, repeats=2)
    rows = [report.result_row("fake", measure(c)) for c in (fast, slow, absolute)]
    rows.append(report.error_row("fake", "broken", "n=4", RuntimeError("boom\nsecond line")))
    rows.append(report.error_row("fake", "missing", "", ModuleNotFoundError("no rmtjax.x")))
    assert [r["status"] for r in rows] == ["pass", "FAIL", "pass", "ERROR", "n/a"]
    assert rows[0]["ratio"] < 0.5 < 1.0 < rows[1]["ratio"]
    assert rows[0]["trials_per_s"] == pytest.approx(4 / rows[0]["ours_s"])
    assert rows[2]["ratio"] is None and rows[2]["ours_s"] < 5.0

    table = report.format_table(rows, {"cpu": "fake cpu", "cores": 2})
    lines = table.splitlines()
    assert "fake cpu (2 cores)" in lines[0]
    assert "| name" in lines[1] and "ratio" in lines[1] and "compile" in lines[1]
    body = [line for line in lines[3:] if line.startswith("| ") and "↳" not in line]
    assert len(body) == len(rows)
    assert len({len(line) for line in lines[1:3] + body}) == 1  # aligned columns
    assert "RuntimeError: boom" in table and "second line" not in table
    assert "trials/s" in table and "err=1e-07" in table and "arr=[0, 1, 2]" in table
    assert lines[-1] == "5 rows: 2 pass, 1 FAIL, 1 ERROR"

    path = tmp_path / "a" / "b.json"
    report.write_json(path, rows, {"cpu": "fake"}, ["prog", "--quick"], 1.234)
    document = json.loads(path.read_text())
    assert document["command"] == "prog --quick" and document["elapsed_s"] == 1.23
    assert document["summary"] == {"ERROR": 1, "FAIL": 1, "n/a": 1, "pass": 2}
    assert document["rows"][0]["extra"]["arr"] == [0, 1, 2]
    assert document["rows"][0]["extra"]["err"] == pytest.approx(1e-7)


def test_select_by_module_suffix_or_case_substring():
    names = ["graphs", "montecarlo", "scaling"]
    assert run._select(names, "") == [(n, []) for n in names]
    assert run._select(names, "montecarlo") == [("montecarlo", [])]
    assert run._select(names, "grampa") == [(n, ["grampa"]) for n in names]
    assert run._select(names, "scaling,eigh") == [
        ("graphs", ["eigh"]),
        ("montecarlo", ["eigh"]),
        ("scaling", []),
    ]


def test_profile_contract(monkeypatch):
    monkeypatch.delenv(run.PROFILE_ENV, raising=False)
    assert run.profile(True) == "quick" and run.profile(False) == "full"
    monkeypatch.setenv(run.PROFILE_ENV, "gpu")
    assert run.profile(False) == "gpu"
    monkeypatch.setenv(run.PROFILE_ENV, "nonsense")
    assert run.profile(True) == "quick"


def test_numpy_baseline_trial_matches_the_experiment_at_delta_zero():
    """At delta = 0, B0 = A: the overlap is 1 at j = index and 0 elsewhere (as in the JAX trial)."""
    n = 130
    out = numpy_overlap_trial(np.random.default_rng(0), n, 0.5, np.array([0.0, 0.05]), np.float64)
    assert out.shape == (2, 2 * WINDOW + 1)
    expected = np.zeros(2 * WINDOW + 1)
    expected[WINDOW] = 1.0
    np.testing.assert_allclose(out[0], expected, atol=1e-6)
    assert 0.0 < out[1, WINDOW] < 1.0 and out[1].sum() <= 1.0 + 1e-9


def test_loglog_slope_recovers_a_power_law():
    x = np.array([100, 200, 400, 800])
    assert loglog_slope(x, 3e-9 * x**2.5) == pytest.approx(2.5)
    assert loglog_slope(x, jnp.ones(4)) == pytest.approx(0.0, abs=1e-12)


def test_failing_modules_and_cases_become_rows_not_crashes(monkeypatch):
    def boom() -> None:
        raise ValueError("case exploded")

    def broken_cases(quick: bool) -> list[Case]:
        raise RuntimeError("cases() exploded")

    modules = {
        "benchmarks.bench_fine": SimpleNamespace(
            cases=lambda quick: [
                Case("ok", "n=1", lambda: 0, target=10.0, repeats=1),
                Case("bad", "n=2", boom, repeats=1),
            ]
        ),
        "benchmarks.bench_broken": SimpleNamespace(cases=broken_cases),
    }

    def fake_import(name: str):
        if name not in modules:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return modules[name]

    monkeypatch.setattr(run.importlib, "import_module", fake_import)
    rows: list[dict] = []
    for name in ("fine", "broken", "absent"):
        run._run_module(name, True, [], float("inf"), rows.append)
    assert [(r["name"], r["status"]) for r in rows] == [
        ("ok", "pass"),
        ("bad", "ERROR"),
        ("bench_broken", "ERROR"),
        ("bench_absent", "n/a"),
    ]
    assert rows[1]["error"] == "ValueError: case exploded"
    rows.clear()
    run._run_module("fine", True, ["ok"], float("-inf"), rows.append)
    assert [(r["name"], r["status"]) for r in rows] == [("ok", "skipped")]


def _device_check(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    env = dict(os.environ, JAX_PLATFORMS="cpu", OPENBLAS_NUM_THREADS="1")
    cmd = ["bash", "benchmarks/device_check.sh", "--quick", *args]
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env={**env, "OUT": str(tmp_path), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads((tmp_path / "device_check.json").read_text())


def test_device_check_quick_prints_and_writes_one_table(tmp_path):
    """The GPU profile's script at CPU-test sizes: one table, the same in the .txt file."""
    proc, document = _device_check(tmp_path, "--only", "grampa,ntk_seed_scale")
    assert [r["name"] for r in document["rows"]] == ["grampa", "grampa", "ntk_seed_scale"]
    assert all(r["status"] == "-" and r["ours_s"] > 0 for r in document["rows"])
    table = (tmp_path / "device_check.txt").read_text()
    assert table.strip() in proc.stdout and "| ntk_seed_scale" in table
    assert document["machine"]["profile"] == "quick"


@pytest.mark.slow
def test_device_check_quick_runs_every_row(tmp_path):
    _, document = _device_check(tmp_path)
    names = {r["name"] for r in document["rows"]}
    assert names == {
        "eigvec_overlap_trials",
        "grampa",
        "match_batched",
        "ntk_seed_scale",
        "ck_density_L5",
        "ntk_density_L5",
        "train_steps",
    }
    assert not [r for r in document["rows"] if r["status"] in ("ERROR", "n/a", "skipped")]
    rates = {r["name"]: r["extra"] for r in document["rows"]}
    assert rates["train_steps"]["steps_per_s"] > 0 and rates["match_batched"]["pairs_per_s"] > 0


def test_device_check_refuses_to_run_the_gpu_profile_on_the_cpu(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu", OUT=str(tmp_path), PYTHON=sys.executable)
    proc = subprocess.run(
        ["bash", "benchmarks/device_check.sh"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "no accelerator" in proc.stderr
