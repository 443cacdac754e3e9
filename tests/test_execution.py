"""No CPU deadlock at any device, process or thread count, and results that do not depend on it.

Each configuration runs in its own subprocess under a hard timeout, so a hang fails the test
instead of the session. All subprocesses start together (one module fixture) and are then
checked one by one: the set takes ~90 s of CPU time in all at load 11 on the 2-core VM
(~25 s of it the threads run; ~40 s of it with the former (4, 200, 200) grampa batch). The
experiment sizes are those at which jaxlib's batched CPU eigh deadlocked before
``rmtjax._linalg`` (2 or 4 forced host devices, two ``jax.distributed`` processes); with that
eigh swapped back in, the 2-device run still hangs (checked 2026-12-02).
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # seconds per subprocess; the slowest takes ~60 s on a loaded 2-core VM


def _start(args: list[str], devices: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(ROOT),
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests._execution_worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> str:
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"hung for {TIMEOUT} s (deadlock?):\n{out[-3000:]}")
    assert proc.returncode == 0, out[-3000:]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{label: (stdout, out_dir)}`` for 1, 2, 4 devices, 2 processes and 4 threads."""
    root = tmp_path_factory.mktemp("execution")
    procs, dirs = {}, {}
    for devices in (1, 2, 4):
        dirs[f"{devices} devices"] = root / f"d{devices}"
        procs[f"{devices} devices"] = _start(["experiments", str(root / f"d{devices}")], devices)
    port = _free_port()
    for i in range(2):
        dirs[f"process {i}"] = root / "distributed"
        args = ["experiments", str(root / "distributed"), f"127.0.0.1:{port}", "2", str(i)]
        procs[f"process {i}"] = _start(args, 1)
    procs["threads"] = _start(["threads", "4", "20"], 1)
    dirs["threads"] = None
    return {label: (_finish(proc), dirs[label]) for label, proc in procs.items()}


def _results(out_dir: Path) -> tuple[dict, dict, dict]:
    summary = json.loads((out_dir / "eigvec_overlap" / "summary.json").read_text())
    with (
        np.load(out_dir / "eigvec_overlap" / "data.npz") as overlap,
        np.load(out_dir / "ck_ntk_spectra.npz") as kernels,
    ):
        return summary, dict(overlap), dict(kernels)


def _assert_bitwise(a: dict, b: dict, keys) -> None:
    for k in keys:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k, strict=True)


@pytest.mark.parametrize("label", ["2 devices", "4 devices", "process 0"])
def test_device_and_process_count_change_no_bit(runs, label):
    """eigvec_overlap (summary and data) and the CK, NTK and NTK-surrogate eigenvalues of
    ck_ntk_spectra's trials are bitwise those of one device, with 2 or 4 forced host devices
    (4: one trial per device, no loop left) or 2 processes."""
    out, out_dir = runs[label]
    expected = {"2 devices": (2, 1), "4 devices": (4, 1), "process 0": (2, 2)}[label]
    assert f"devices={expected[0]} processes={expected[1]}" in out
    summary, overlap, kernels = _results(out_dir)
    summary_1, overlap_1, kernels_1 = _results(runs["1 devices"][1])
    assert summary == summary_1
    _assert_bitwise(overlap, overlap_1, overlap_1)
    assert sorted(kernels_1) == ["ck", "ntk", "ntk_surrogate"]
    _assert_bitwise(kernels, kernels_1, kernels_1)
    assert "devices=2 processes=2" in runs["process 1"][0]


def test_chunk_size_changes_no_bit(runs):
    """On one device, ck_ntk_spectra's trials in chunks of 1 (a one-trial loop, which XLA
    removes) are bitwise those in chunks of 4."""
    out_dir = runs["1 devices"][1]
    with np.load(out_dir / "ck_ntk_spectra_chunk1.npz") as chunk1:
        chunk1 = dict(chunk1)
    kernels_1 = _results(out_dir)[2]
    _assert_bitwise(chunk1, kernels_1, ["ck", "ntk", "ntk_surrogate"])


def test_grampa_from_four_threads_finishes(runs):
    """4 Python threads x 20 grampa calls on a (4, 96, 96) batch, two programs in flight."""
    assert "devices=1 processes=1" in runs["threads"][0]
