"""Subprocess helper of the engine tests, run as ``python -m tests.experiments._worker``.

    trials OUT.npz CHUNK [CHUNK ...]   run the toy trial (n=4, 17 trials, seed 5, scale 1.5) once
                                       per chunk size and save the results to OUT.npz
    cli ARGS ...                       register the toy experiment and run ``rmtjax ARGS``

Both print ``devices=<global device count> processes=<process count>`` last.
"""

from __future__ import annotations

import sys

import jax
import numpy as np

from rmtjax import cli
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


def main(argv: list[str]) -> int:
    mode, args = argv[0], argv[1:]
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
