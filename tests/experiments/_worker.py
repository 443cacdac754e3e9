"""Subprocess helper of the engine tests, run as ``python -m tests.experiments._worker``.

    trials OUT.npz CHUNK [CHUNK ...]   run the toy trial (n=4, 17 trials, seed 5, scale 1.5) once
                                       per chunk size and save the results to OUT.npz
    cli ARGS ...                       register the toy experiment and run ``rmtjax ARGS``
    kill NAME_RE WHEN K ARGS ...       like ``cli``, but SIGKILL this process at the K-th store
                                       write of a file whose name matches NAME_RE: WHEN is
                                       ``mid`` (half the bytes in the temporary, not renamed)
                                       or ``renamed`` (file in place, manifest not updated)

``trials`` and ``cli`` print ``devices=<global device count> processes=<process count>`` last.
"""

from __future__ import annotations

import io
import os
import re
import signal
import sys
from pathlib import Path

import jax
import numpy as np

from rmtjax import cli
from rmtjax.experiments import store
from rmtjax.experiments.engine import run_trials
from tests.experiments import _toy

N_TRIALS, SEED, SCALE, N = 17, 5, 1.5, 4


def toy_trials(chunk_size: int) -> dict[str, np.ndarray]:
    """The reference computation shared with the in-process tests."""
    return run_trials(
        _toy.goe_trial(N),
        params=np.float32(SCALE),
        seed=SEED,
        n_trials=N_TRIALS,
        chunk_size=chunk_size,
        progress=False,
    )


def kill_at_write(name_re: str, when: str, k: int) -> None:
    """Make the K-th store write of a file named like ``name_re`` SIGKILL this process."""
    write, hits = store.atomic_write, []

    def killing(path, fill):
        path = Path(path)
        if re.match(name_re, path.name):
            hits.append(path)
            if len(hits) == k:
                if when == "mid":
                    data = _bytes_of(fill)
                    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                    tmp.write_bytes(data[: len(data) // 2])
                else:
                    write(path, fill)
                os.kill(os.getpid(), signal.SIGKILL)
        write(path, fill)

    store.atomic_write = killing


def _bytes_of(fill) -> bytes:
    buffer = io.BytesIO()
    fill(buffer)
    return buffer.getvalue()


def main(argv: list[str]) -> int:
    mode, args = argv[0], argv[1:]
    if mode == "kill":
        kill_at_write(args[0], args[1], int(args[2]))
        return cli.main(args[3:])
    if mode == "trials":
        out = {f"{k}_{c}": v for c in args[1:] for k, v in toy_trials(int(c)).items()}
        np.savez(args[0], **out)
        rc = 0
    else:
        rc = cli.main(args)
    print(f"devices={jax.device_count()} processes={jax.process_count()}")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
