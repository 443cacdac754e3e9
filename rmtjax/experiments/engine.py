"""Monte Carlo engine: chunked, device-sharded, resumable trials.

A Monte Carlo experiment is a pure per-trial function ``trial_fn(key) -> pytree`` (its
parameters closed over). Trial ``t`` always uses the key ``fold_in(key(seed), t)``, so a trial's
result depends on ``(seed, t)`` only — not on the chunk size, the device count or the number of
processes. Trials run in chunks: one jitted ``vmap(trial_fn)`` (a ``lax.map`` on the CPU) per
chunk whose batch axis is split over every device of a one-axis mesh (``jax.shard_map``; on
several hosts the mesh spans all processes' devices after ``jax.distributed.initialize()``).
Each finished chunk is written at once, atomically, to a store directory, so a killed run
resumes where it stopped.

Store layout (``store/``)::

    manifest.json                      fingerprint, seed, the per-trial output signature
    chunk_<start>_<stop>.npz           trials start..stop-1, arrays leaf_0, leaf_1, ...

Stored ranges are by trial index, so a rerun with another chunk size or a larger trial
count reuses every stored trial and runs only the missing ones.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from rmtjax._checks import check_positive

__all__ = [
    "StoreError",
    "atomic_write",
    "maybe_initialize_distributed",
    "run_trials",
    "trial_key",
]

_AXIS = "trials"
_FORMAT = 1
_MANIFEST = "manifest.json"
_CHUNK_RE = re.compile(r"^chunk_(\d+)_(\d+)\.npz$")

Pytree = Any


class StoreError(ValueError):
    """A chunk store that does not belong to this run (other fingerprint, seed or outputs)."""


def trial_key(seed: int, t: int) -> jax.Array:
    """The PRNG key of trial ``t``: ``fold_in(key(seed), t)``.

    Args:
      seed: root seed of the run.
      t: trial index, ``0 <= t < 2**32``.

    Returns:
      A typed ``jax.random`` key.
    """
    return jax.random.fold_in(jax.random.key(seed), t)


def maybe_initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> bool:
    """Join a multi-process JAX run with ``jax.distributed.initialize`` (once).

    Arguments left ``None`` are read by JAX from the environment (``JAX_COORDINATOR_ADDRESS``)
    or detected on supported clusters (SLURM, Open MPI, Cloud TPU, ...). Must run before any
    JAX computation. After it, ``jax.devices()`` lists every process's devices and
    :func:`run_trials` spreads its chunks over all of them.

    Args:
      coordinator_address: ``host:port`` of process 0.
      num_processes: total number of processes.
      process_id: this process's index in ``0 .. num_processes - 1``.

    Returns:
      True if this call initialised the distributed runtime, False if it already was.
    """
    if jax.distributed.is_initialized():
        return False
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )
    return True


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(file)`` into a temporary sibling, then rename it.

    Readers see either the old file or the complete new one, never a partial write.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run_trials(
    trial_fn: Callable[..., Pytree],
    *,
    params: Pytree = None,
    seed: int,
    n_trials: int,
    chunk_size: int,
    store: Path | None = None,
    fingerprint: str = "",
    progress: bool = True,
    desc: str = "",
) -> Pytree:
    """Run ``trial_fn`` for trials ``0 .. n_trials - 1`` in sharded chunks, resumably.

    Trial ``t`` returns ``trial_fn(fold_in(key(seed), t))``, or
    ``trial_fn(fold_in(key(seed), t), params)`` when ``params`` is given. Chunks of
    ``chunk_size`` trials run as one jitted ``vmap(trial_fn)`` (on the CPU a ``lax.map``, one
    trial at a time) with the batch axis split evenly over all devices (a chunk is padded to a
    multiple of the device count and the padding dropped). Each trial sees the same key
    whatever ``chunk_size``, device count, process count or interruptions (on the CPU each
    trial is the same unbatched program, so chunking changes no bit; accelerator kernels may
    round differently for other batch sizes). With a ``store``, finished chunks are read back
    and only missing trial ranges run. The params (which enter no store file) must be covered
    by ``fingerprint``.

    Args:
      trial_fn: one trial, ``key -> pytree of arrays`` (fixed shapes), or
        ``(key, params) -> pytree`` with ``params``; pure and jittable. The compiled chunk is
        cached per ``trial_fn``: calls that differ only in ``params`` values (same shapes) or
        in ``seed`` do not recompile, so pass swept parameters through ``params`` rather
        than closing over them.
      params: pytree of arrays or scalars passed to every trial (replicated on all devices).
      seed: root seed.
      n_trials: number of trials, >= 1.
      chunk_size: trials per compiled, sharded batch, >= 1 (memory vs. throughput).
      store: directory for finished chunks (created if absent), or None to keep nothing.
      fingerprint: identifies what the trials compute (e.g. a hash of the config); an
        existing store with another fingerprint raises :class:`StoreError`.
      progress: show a tqdm bar (trials done, trials/s) on process 0.
      desc: label of the progress bar.

    Returns:
      The pytree of ``trial_fn``'s outputs as numpy arrays with a leading axis ``n_trials``
      (identical on every process).

    Raises:
      StoreError: ``store`` holds trials of another run (fingerprint, seed or output shapes).
    """
    _check_count(n_trials, "n_trials")
    _check_count(chunk_size, "chunk_size")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int; got {seed!r}")
    one = trial_fn if params is None else (lambda k: trial_fn(k, params))
    out_spec = jax.eval_shape(one, jax.random.key(0))
    leaves_spec, treedef = jax.tree.flatten(out_spec)
    leaves = [np.empty((n_trials, *s.shape), s.dtype) for s in leaves_spec]
    done = np.zeros(n_trials, bool)
    if store is not None:
        done, leaves = _load_store_everywhere(
            Path(store), _manifest(fingerprint, seed, leaves_spec, treedef), done, leaves
        )

    run_chunk = _chunk_runner(trial_fn, params, seed)
    bar = tqdm(
        total=n_trials,
        initial=int(done.sum()),
        unit="trial",
        desc=desc or None,
        disable=not progress or jax.process_index() != 0,
        dynamic_ncols=True,
    )
    with bar:
        for start, stop in _missing_chunks(done, chunk_size):
            chunk = run_chunk(start, stop)
            for full, part in zip(leaves, chunk, strict=True):
                full[start:stop] = part
            if store is not None and jax.process_index() == 0:
                _write_chunk(Path(store), start, stop, chunk)
            bar.update(stop - start)
    return jax.tree.unflatten(treedef, leaves)


def _check_count(value: Any, name: str) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int; got {value!r}")
    check_positive(value, name)


def _chunk_runner(
    trial_fn: Callable[..., Pytree], params: Pytree, seed: int
) -> Callable[[int, int], list[np.ndarray]]:
    """Return ``run(start, stop) -> leaves`` for trials start..stop-1 on all devices."""
    mesh = jax.sharding.Mesh(np.array(jax.devices()), (_AXIS,))
    batched = _compiled_chunk(trial_fn, params is not None, mesh)
    root, params = jax.device_put(
        (jax.random.key_data(jax.random.key(seed)), params), NamedSharding(mesh, P())
    )
    sharding = NamedSharding(mesh, P(_AXIS))

    def run(start: int, stop: int) -> list[np.ndarray]:
        padded = -(-(stop - start) // mesh.size) * mesh.size
        index = np.arange(start, start + padded, dtype=np.uint32)
        t = jax.make_array_from_callback(index.shape, sharding, lambda i: index[i])
        out = multihost_utils.process_allgather(batched(root, params, t), tiled=True)
        return [np.asarray(x)[: stop - start] for x in jax.tree.leaves(out)]

    return run


@functools.lru_cache(maxsize=64)
def _compiled_chunk(
    trial_fn: Callable[..., Pytree], with_params: bool, mesh: jax.sharding.Mesh
) -> Callable[..., Pytree]:
    """``(root_key_data, params, t) -> trial_fn(fold_in(root, t)[, params])`` for every ``t``.

    The batch axis ``t`` is split over the mesh; each device runs its block independently.
    Cached so that repeated runs of one ``trial_fn`` reuse the compiled executable.
    """

    def block(root_data: jax.Array, params: Pytree, t: jax.Array) -> Pytree:
        root = jax.random.wrap_key_data(root_data)

        def one(ti: jax.Array) -> Pytree:
            key = jax.random.fold_in(root, ti)
            return trial_fn(key, params) if with_params else trial_fn(key)

        # On the CPU one trial at a time: every trial is then the same unbatched program, so
        # its bits cannot depend on how many trials share a device (XLA's CPU kernels round
        # batched matmuls differently for different batch sizes: the NTK eigenvalues of
        # ck_ntk_spectra moved by 6e-6 between 1 and 2 devices under vmap).
        return jax.lax.platform_dependent(
            t, cpu=lambda t: jax.lax.map(one, t), default=jax.vmap(one)
        )

    # Trials share nothing across devices, so the varying-manual-axes check is off: loops that
    # start from constants (power iterations, ADMM, Hungarian) would otherwise fail to trace.
    specs = (P(), P(), P(_AXIS))
    sharded = jax.shard_map(block, mesh=mesh, in_specs=specs, out_specs=P(_AXIS), check_vma=False)
    return jax.jit(sharded)


def _missing_chunks(done: np.ndarray, chunk_size: int) -> list[tuple[int, int]]:
    """Split every maximal run of not-done trials into ranges of at most ``chunk_size``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[1], done.astype(np.int8), [1]])))
    ranges = []
    for lo, hi in zip(edges[::2], edges[1::2], strict=True):
        ranges += [(int(s), int(min(s + chunk_size, hi))) for s in range(lo, hi, chunk_size)]
    return ranges


def _manifest(fingerprint: str, seed: int, leaves_spec: list[Any], treedef: Any) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "fingerprint": fingerprint,
        "seed": int(seed),
        "outputs": str(treedef),
        "leaves": [[list(s.shape), np.dtype(s.dtype).str] for s in leaves_spec],
    }


def _load_store_everywhere(
    store: Path, manifest: dict[str, Any], done: np.ndarray, leaves: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Process 0 opens the store and reads its chunks; every process gets the same view."""
    error = None
    if jax.process_index() == 0:
        try:
            _open_store(store, manifest)
            _read_chunks(store, done, leaves)
        except StoreError as e:
            error = e
    failed = multihost_utils.broadcast_one_to_all(np.int32(error is not None))
    if error is not None:
        raise error
    if failed:
        raise StoreError(f"process 0 rejected the chunk store {store} (see its error)")
    done, leaves = multihost_utils.broadcast_one_to_all((done.astype(np.uint8), leaves))
    return np.array(done, bool), [np.array(x) for x in leaves]  # writable copies


def _open_store(store: Path, manifest: dict[str, Any]) -> None:
    """Create ``store`` with ``manifest``, or check that an existing store matches it."""
    path = store / _MANIFEST
    if path.is_file():
        found = json.loads(path.read_text())
        for key in ("format", "fingerprint", "seed", "outputs", "leaves"):
            if found.get(key) != manifest[key]:
                raise StoreError(
                    f"chunk store {store} belongs to another run ({key} is {found.get(key)!r}, "
                    f"this run has {manifest[key]!r}); use another output directory or delete it"
                )
        return
    store.mkdir(parents=True, exist_ok=True)
    if any(_CHUNK_RE.match(p.name) for p in store.iterdir()):
        raise StoreError(f"{store} holds chunk files but no {_MANIFEST}; not an rmtjax store")
    atomic_write(path, lambda f: f.write(json.dumps(manifest, indent=1).encode()))


def _read_chunks(store: Path, done: np.ndarray, leaves: list[np.ndarray]) -> None:
    """Fill ``leaves`` and ``done`` from the stored chunks that overlap ``0 .. len(done)-1``."""
    n = done.size
    for path in sorted(store.iterdir()):
        match = _CHUNK_RE.match(path.name)
        if not match:
            continue
        start, stop = int(match[1]), int(match[2])
        if start >= n:
            continue
        hi = min(stop, n)
        with np.load(path) as data:
            for i, full in enumerate(leaves):
                full[start:hi] = data[f"leaf_{i}"][: hi - start]
        done[start:hi] = True


def _write_chunk(store: Path, start: int, stop: int, chunk: list[np.ndarray]) -> None:
    arrays = {f"leaf_{i}": x for i, x in enumerate(chunk)}
    atomic_write(store / f"chunk_{start:010d}_{stop:010d}.npz", lambda f: np.savez(f, **arrays))
