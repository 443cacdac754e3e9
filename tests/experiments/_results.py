"""Helpers of the results-directory tests: byte snapshots of a directory, the toy run."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def snapshot(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` (relative path -> hex digest)."""
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def toy_yaml(directory: Path, **fields) -> Path:
    """A toy config file (``experiment: toy`` and ``fields``) in ``directory``."""
    path = directory / "toy.yaml"
    lines = ["experiment: toy", *(f"{k}: {v}" for k, v in fields.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def worker(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``python -m tests.experiments._worker ARGS`` on CPU; returns the finished process."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tests.experiments._worker", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
