"""Tests of rmtjax/experiments/engine.py: keys, chunking, devices, resume, multi-process.

The reference for every run is the definition itself: trial ``t`` is
``trial_fn(fold_in(key(seed), t), params)`` evaluated on its own, eagerly.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import chex
import jax
import numpy as np
import pytest

from rmtjax.experiments.context import RunContext, run_experiment
from rmtjax.experiments.engine import run_trials, trial_key
from rmtjax.experiments.store import ChunkStore, StoreError
from tests.experiments import _toy
from tests.experiments._worker import N_TRIALS, SCALE, SEED, N, toy_trials

ROOT = Path(__file__).resolve().parents[2]


def _assert_equal(a, b) -> None:
    """Bitwise equality of two pytrees of arrays (same structure)."""
    jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    """An uninterrupted single-device run without a store, chunk size 7."""
    return toy_trials(7)


def _run_to_store(store: Path, chunk_size: int, n_trials: int = N_TRIALS, **kw):
    kw = {"seed": SEED, "fingerprint": "toy", "progress": False, **kw}
    return run_trials(
        _toy.goe_trial(N),
        params=np.float32(SCALE),
        n_trials=n_trials,
        chunk_size=chunk_size,
        store=store,
        **kw,
    )


def _stored_ranges(store: Path) -> list[tuple[int, int]]:
    names = sorted(p.name for p in store.glob("chunk_*.npz"))
    return [(int(n.split("_")[1]), int(n.split("_")[2][:-4])) for n in names]


def test_trial_t_uses_fold_in_of_root_key(reference):
    """Each stored row equals the trial computed alone with ``fold_in(key(seed), t)``."""
    chex.assert_shape(reference["eig"], (N_TRIALS, N))
    chex.assert_shape(reference["m2"], (N_TRIALS,))
    trial = _toy.goe_trial(N)
    for t in (0, 6, 7, N_TRIALS - 1):
        alone = trial(trial_key(SEED, t), np.float32(SCALE))
        chex.assert_trees_all_close(
            {k: v[t] for k, v in reference.items()}, alone, rtol=1e-5, atol=1e-6
        )
    assert not np.allclose(reference["eig"][0], reference["eig"][1])


def test_chunk_size_does_not_change_results(reference):
    """Chunk sizes 3 and 7 (different padding and batch shapes) give bitwise equal results."""
    _assert_equal(toy_trials(3), reference)


def test_resume_after_crash_equals_uninterrupted_run(tmp_path, monkeypatch, reference):
    """Crash after two written chunks; a rerun with another chunk size completes it exactly."""
    write = ChunkStore.write_chunk
    written = []

    def crash_on_third(self, start, stop, chunk):
        if len(written) == 2:
            raise RuntimeError("simulated crash")
        written.append((start, stop))
        write(self, start, stop, chunk)

    monkeypatch.setattr(ChunkStore, "write_chunk", crash_on_third)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run_to_store(tmp_path, chunk_size=3)
    assert _stored_ranges(tmp_path) == [(0, 3), (3, 6)]

    monkeypatch.setattr(ChunkStore, "write_chunk", lambda *a: (written.append(a[1:3]), write(*a)))
    resumed = _run_to_store(tmp_path, chunk_size=7)
    _assert_equal(resumed, reference)
    # Only the missing trials ran, and the stored ranges tile 0..N_TRIALS exactly once.
    assert written[2:] == [(6, 13), (13, 17)]
    assert _stored_ranges(tmp_path) == [(0, 3), (3, 6), (6, 13), (13, 17)]
    _assert_equal(_run_to_store(tmp_path, chunk_size=5), reference)  # all stored: reads only
    assert len(written) == 4


def test_store_grows_with_more_trials(tmp_path, reference):
    """A larger trial count reuses the stored trials and runs only the new ones."""
    _run_to_store(tmp_path, chunk_size=7, n_trials=10)
    more = _run_to_store(tmp_path, chunk_size=7, n_trials=N_TRIALS)
    _assert_equal(more, reference)
    assert _stored_ranges(tmp_path) == [(0, 7), (7, 10), (10, 17)]


@pytest.mark.parametrize(
    ("change", "match"),
    [({"fingerprint": "other"}, "fingerprint"), ({"seed": SEED + 1}, "seed")],
)
def test_store_of_another_run_is_refused(tmp_path, change, match):
    _run_to_store(tmp_path, chunk_size=7, n_trials=7)
    with pytest.raises(StoreError, match=f"belongs to another run \\({match}"):
        _run_to_store(tmp_path, chunk_size=7, n_trials=7, **change)


def test_store_with_other_trial_outputs_is_refused(tmp_path):
    _run_to_store(tmp_path, chunk_size=7, n_trials=7)
    with pytest.raises(StoreError, match="outputs"):
        run_trials(
            lambda key: jax.random.normal(key, (2,)),
            seed=SEED,
            n_trials=7,
            chunk_size=7,
            store=tmp_path,
            fingerprint="toy",
            progress=False,
        )


def test_leftover_temp_file_is_ignored_and_stray_chunks_refused(tmp_path, reference):
    """A partial write (temp name) never counts; chunk files without a manifest are refused."""
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / ".chunk_0000000000_0000000005.npz.123.tmp").write_bytes(b"partial")
    _assert_equal(_run_to_store(tmp_path / "s", chunk_size=7), reference)
    assert not list((tmp_path / "s").glob("*.tmp"))  # the stale temporary is removed
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "chunk_0000000000_0000000005.npz").write_bytes(b"x")
    with pytest.raises(StoreError, match="no manifest"):
        _run_to_store(tmp_path / "t", chunk_size=7)


def _counting_goe_trial(n: int, traces: list[int]):
    """A fresh trial function object on every call; appends to ``traces`` when traced."""

    def trial(key, scale):
        traces.append(n)
        return _toy.goe_trial(n)(key, scale)

    return trial


def test_compiled_chunks_are_cached_by_key_not_by_function():
    """Equal cache keys compile once (new function objects), different keys twice."""
    traces: list[int] = []
    kw = {"params": np.float32(SCALE), "n_trials": 4, "chunk_size": 4, "progress": False}
    key = ("test_engine", object())  # unique to this test run
    first = run_trials(_counting_goe_trial(3, traces), seed=0, cache_key=key, **kw)
    again = run_trials(_counting_goe_trial(3, traces), seed=1, cache_key=key, **kw)
    # Each call traces once for its output shapes (eval_shape); only the first compiles.
    assert len(traces) == 2 + 1
    run_trials(_counting_goe_trial(5, traces), seed=0, cache_key=(key, 5), **kw)
    assert len(traces) == 3 + 2  # another key: a second compilation
    assert not np.array_equal(first["eig"], again["eig"])  # the seed is an argument, not baked in
    run_trials(_counting_goe_trial(3, traces), seed=0, **kw)  # no key, no fingerprint
    assert len(traces) == 5 + 2


def test_equal_configs_compile_once_different_configs_twice(tmp_path):
    """Through the RunContext: the default key is the store's fingerprint (config hash)."""
    traces: list[int] = []

    def run(config, out):
        ctx = RunContext(tmp_path / out, config, "toy", progress=False)
        return ctx.trials("m", _counting_goe_trial(config.n, traces), 4, params=np.float32(1.0))

    config = _toy.ToyConfig(n=6, seed=123)
    run(config, "a")
    run(_toy.ToyConfig(n=6, seed=123), "b")
    assert len(traces) == 2 + 1  # eval_shape per call, one compilation
    run(_toy.ToyConfig(n=7, seed=123), "c")
    assert len(traces) == 3 + 2  # another config: another compilation


def test_progress_bar_reports_trials_per_second(capsys):
    run_trials(
        _toy.goe_trial(N),
        params=np.float32(SCALE),
        seed=SEED,
        n_trials=7,
        chunk_size=7,
        desc="toy",
    )
    err = capsys.readouterr().err
    assert "toy" in err and "7/7" in err and "trial/s" in err
    run_trials(
        _toy.goe_trial(N),
        params=np.float32(SCALE),
        seed=0,
        n_trials=7,
        chunk_size=7,
        progress=False,
    )
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_trials": 0}, ValueError, "n_trials must be > 0"),
        ({"chunk_size": -2}, ValueError, "chunk_size must be > 0"),
        ({"chunk_size": 2.0}, TypeError, "chunk_size must be an int"),
        ({"seed": "1"}, TypeError, "seed must be an int"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    args = {"seed": 0, "n_trials": 4, "chunk_size": 2, "progress": False, **kwargs}
    with pytest.raises(error, match=match):
        run_trials(_toy.goe_trial(N), params=np.float32(SCALE), **args)


def _python(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.experiments._worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def _finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def test_four_devices_give_the_single_device_result(tmp_path, reference):
    """Chunks sharded over 4 (forced host) devices reproduce the 1-device run bitwise."""
    flags = "--xla_force_host_platform_device_count=4"
    out = _finish(_python(["trials", str(tmp_path / "r.npz"), "3", "7"], {"XLA_FLAGS": flags}))
    assert "devices=4 processes=1" in out
    with np.load(tmp_path / "r.npz") as r:
        for chunk in (3, 7):
            _assert_equal({k: r[f"{k}_{chunk}"] for k in reference}, reference)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_give_the_single_process_summary(tmp_path):
    """A 2-process jax.distributed run (2 CPU devices each) writes the 1-process summary."""
    config = _toy.ToyConfig(scales=(1.0, 3.0), trials=12, chunk_size=5)
    single = run_experiment(config, tmp_path / "single", progress=False)
    (tmp_path / "toy.yaml").write_text("experiment: toy\nscales: [1.0, 3.0]\ntrials: 12\n")
    port = _free_port()
    procs = [
        _python(
            [
                "cli",
                "run",
                str(tmp_path / "toy.yaml"),
                "--out",
                str(tmp_path / "multi"),
                "--quiet",
                "--distributed",
                "--coordinator",
                f"127.0.0.1:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ],
            {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
        )
        for i in range(2)
    ]
    outs = [_finish(p) for p in procs]
    assert all("devices=4 processes=2" in out for out in outs)
    assert json.loads((tmp_path / "multi" / "summary.json").read_text()) == single
    with (
        np.load(tmp_path / "single" / "data.npz") as a,
        np.load(tmp_path / "multi" / "data.npz") as b,
    ):
        _assert_equal(dict(a), dict(b))
