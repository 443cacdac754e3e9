"""Subprocess helper of tests/test_execution.py, run as ``python -m tests._execution_worker``.

    experiments OUT [COORDINATOR NUM_PROCESSES PROCESS_ID]
        run eigvec_overlap at a small size into OUT/eigvec_overlap and ck_ntk_spectra's
        trials into OUT/ck_ntk_spectra.npz, on one device also in chunks of 1 into
        OUT/ck_ntk_spectra_chunk1.npz (joining a ``jax.distributed`` run first when the
        three extra arguments are given)
    threads THREADS CALLS
        call ``grampa`` on a (4, 96, 96) batch CALLS times from each of THREADS threads

Prints ``devices=<global device count> processes=<process count>`` last.
"""

from __future__ import annotations

import sys
import threading

import jax
import jax.numpy as jnp
import numpy as np

from rmtjax.experiments.config import load_config
from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.eigvec_overlap import EigvecOverlapConfig
from rmtjax.experiments.engine import maybe_initialize_distributed, run_trials
from rmtjax.experiments.kernel_spectra import ck_ntk_trial
from rmtjax.graphs import grampa
from rmtjax.nets import gaussian_inputs

# Small enough for seconds per run, large enough that every batched eigh exceeds jaxlib's
# inline threshold (see rmtjax/_linalg.py): the sizes at which the CPU kernel deadlocked.
OVERLAP = {"n": 120, "deltas": [0.0, 0.05], "index": 10, "window": 3, "trials": 12, "chunk_size": 4}
CK_NTK = {"n": 64, "widths": (48, 96, 96), "trials": 4, "chunk_size": 4}
# grampa's one stacked eigh gets 8 matrices, 5 n³ · 8 >> 200000 (off the inline path) at n = 96.
# n = 200 cost 55 s for the 80 calls on a 2-core VM, n = 96 6.5 s. With jaxlib's batched eigh
# swapped in, this mode did not hang at n = 200 or 64 on that VM (the 2-device experiments run
# did, > 90 s instead of ~15 s), so the size is not what makes the test bite.
THREADS_N = 96


def experiments(out: str, distributed: list[str]) -> None:
    """eigvec_overlap in full; of ck_ntk_spectra the Monte Carlo part, its engine run of
    ``ck_ntk_trial`` (its limit curves take a minute to compile and use no device mesh)."""
    if distributed:
        coordinator, num_processes, process_id = distributed
        maybe_initialize_distributed(coordinator, int(num_processes), int(process_id))
    run_experiment(
        load_config(EigvecOverlapConfig, OVERLAP), f"{out}/eigvec_overlap", progress=False
    )
    n, widths = CK_NTK["n"], CK_NTK["widths"]
    X = gaussian_inputs(jax.random.key(0), n, widths[0])
    chunk_sizes = {"": CK_NTK["chunk_size"]}
    if jax.device_count() == 1:
        chunk_sizes["_chunk1"] = 1
    for suffix, chunk_size in chunk_sizes.items():
        eigenvalues = run_trials(
            ck_ntk_trial(widths, "arctan"),
            params=X,
            seed=0,
            n_trials=CK_NTK["trials"],
            chunk_size=chunk_size,
            progress=False,
        )
        if jax.process_index() == 0:
            np.savez(f"{out}/ck_ntk_spectra{suffix}.npz", **eigenvalues)


def threads(n_threads: int, calls: int) -> None:
    A = jax.random.normal(jax.random.key(0), (4, THREADS_N, THREADS_N))
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
