"""Subprocess helper of tests/test_execution.py, run as ``python -m tests._execution_worker``.

    experiments OUT [COORDINATOR NUM_PROCESSES PROCESS_ID]
        run eigvec_overlap and ck_ntk_spectra at small sizes into OUT/<name> (joining a
        ``jax.distributed`` run first when the three extra arguments are given)
    threads THREADS CALLS
        call ``grampa`` on a (4, 200, 200) batch CALLS times from each of THREADS threads

Prints ``devices=<global device count> processes=<process count>`` last.
"""

from __future__ import annotations

import sys
import threading

import jax
import jax.numpy as jnp

from rmtjax.experiments.ck_ntk_spectra import CkNtkSpectraConfig
from rmtjax.experiments.config import load_config
from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.engine import maybe_initialize_distributed
from rmtjax.experiments.eigvec_overlap import EigvecOverlapConfig
from rmtjax.graphs import grampa

# Small enough for seconds per run, large enough that every batched eigh exceeds jaxlib's
# inline threshold (see rmtjax/_linalg.py): the sizes at which the CPU kernel deadlocked.
CONFIGS = {
    "eigvec_overlap": (
        EigvecOverlapConfig,
        {"n": 120, "deltas": [0.0, 0.05], "index": 10, "window": 3, "trials": 12, "chunk_size": 4},
    ),
    "ck_ntk_spectra": (
        CkNtkSpectraConfig,
        {"n": 64, "d0": 48, "widths": [96, 96], "trials": 4, "chunk_size": 4, "grid": 64},
    ),
}


def experiments(out: str, distributed: list[str]) -> None:
    if distributed:
        coordinator, num_processes, process_id = distributed
        maybe_initialize_distributed(coordinator, int(num_processes), int(process_id))
    for name, (cls, fields) in CONFIGS.items():
        run_experiment(load_config(cls, fields), f"{out}/{name}", progress=False)


def threads(n_threads: int, calls: int) -> None:
    A = jax.random.normal(jax.random.key(0), (4, 200, 200))
    A = A + jnp.swapaxes(A, -1, -2)
    B = A + 0.1 * jnp.swapaxes(A, -1, -2)[:, ::-1, ::-1]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(calls):
                grampa(A, B, eta=0.2).block_until_ready()
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    pool = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


def main(argv: list[str]) -> int:
    mode, args = argv[0], argv[1:]
    if mode == "experiments":
        experiments(args[0], args[1:])
    else:
        threads(int(args[0]), int(args[1]))
    print(f"devices={jax.device_count()} processes={jax.process_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
