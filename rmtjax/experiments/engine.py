"""Monte Carlo engine: chunked, device-sharded, resumable trials.

A Monte Carlo experiment is a pure per-trial function ``trial_fn(key) -> pytree`` (its
parameters closed over). Trial ``t`` always uses the key ``fold_in(key(seed), t)``, so a trial's
result depends on ``(seed, t)`` only — not on the chunk size, the device count or the number of
processes. Trials run in chunks: one jitted ``vmap(trial_fn)`` (a ``lax.map`` on the CPU) per
chunk whose batch axis is split over every device of a one-axis mesh (``jax.shard_map``; on
several hosts the mesh spans all processes' devices after ``jax.distributed.initialize()``).
Each finished chunk is written at once, atomically, to a store directory, so a killed run
resumes where it stopped.

Finished chunks go to a :class:`~rmtjax.experiments.store.ChunkStore` (one ``.npz`` per trial
range, checksummed in its manifest). Stored ranges are by trial index, so a rerun with another
chunk size or a larger trial count reuses every stored trial and runs only the missing ones.

Compiled chunk programs are cached by value: by an explicit hashable ``cache_key`` naming the
trial's static parameters, or else by the store ``fingerprint``. Two calls with equal keys
reuse one executable whichever function object they pass; calls without either compile anew.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from rmtjax._checks import check_positive
from rmtjax.experiments.store import ChunkStore, StoreError

__all__ = [
    "StoreError",
    "maybe_initialize_distributed",
    "on_process_zero",
    "run_trials",
    "trial_key",
]

_AXIS = "trials"
_CACHE_SIZE = 64

Pytree = Any
T = TypeVar("T")


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
      True if this call initialized the distributed runtime, False if it already was.
    """
    if jax.distributed.is_initialized():
        return False
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )
    return True


def run_trials(
    trial_fn: Callable[..., Pytree],
    *,
    params: Pytree = None,
    seed: int,
    n_trials: int,
    chunk_size: int,
    store: Path | None = None,
    fingerprint: str = "",
    cache_key: Hashable | None = None,
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
        ``(key, params) -> pytree`` with ``params``; pure and jittable.
      params: pytree of arrays or scalars passed to every trial (replicated on all devices).
        Calls that differ only in ``params`` values (same shapes) or in ``seed`` reuse the
        compiled chunk, so pass swept parameters through ``params``.
      seed: root seed.
      n_trials: number of trials, >= 1.
      chunk_size: trials per compiled, sharded batch, >= 1 (memory vs. throughput).
      store: directory for finished chunks (created if absent), or None to keep nothing.
      fingerprint: identifies what the trials compute (e.g. a hash of the config); an
        existing store with another fingerprint raises :class:`StoreError`.
      cache_key: hashable value naming everything ``trial_fn`` closes over (its static
        parameters, e.g. ``("overlap", n, q)``); calls with an equal key reuse one compiled
        chunk, even when ``trial_fn`` is a new function object. ``None``: use
        ``fingerprint`` if it is not empty, else compile anew.
      progress: show a tqdm bar (trials done, trials/s) on process 0.
      desc: label of the progress bar.

    Returns:
      The pytree of ``trial_fn``'s outputs as numpy arrays with a leading axis ``n_trials``
      (identical on every process).

    Raises:
      StoreError: ``store`` holds trials of another run (fingerprint, seed or output shapes)
        or a chunk that fails its checksum.
    """
    _check_count(n_trials, "n_trials")
    _check_count(chunk_size, "chunk_size")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int; got {seed!r}")
    try:
        hash(cache_key)
    except TypeError as e:
        raise TypeError(f"cache_key must be hashable (e.g. a tuple); got {cache_key!r}") from e
    one = trial_fn if params is None else (lambda k: trial_fn(k, params))
    out_spec = jax.eval_shape(one, jax.random.key(0))
    leaves_spec, treedef = jax.tree.flatten(out_spec)
    leaves = [np.empty((n_trials, *s.shape), s.dtype) for s in leaves_spec]
    done = np.zeros(n_trials, bool)
    chunks = None
    if store is not None:
        identity = _identity(fingerprint, seed, leaves_spec, treedef)
        chunks, done, leaves = _load_store_everywhere(Path(store), identity, done, leaves)

    key = cache_key if cache_key is not None else (fingerprint or None)
    run_chunk = _chunk_runner(trial_fn, params, seed, key)
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
            if chunks is not None:
                chunks.write_chunk(start, stop, chunk)
            bar.update(stop - start)
    return jax.tree.unflatten(treedef, leaves)


def _check_count(value: Any, name: str) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int; got {value!r}")
    check_positive(value, name)


def _chunk_runner(
    trial_fn: Callable[..., Pytree], params: Pytree, seed: int, cache_key: Hashable | None
) -> Callable[[int, int], list[np.ndarray]]:
    """Return ``run(start, stop) -> leaves`` for trials start..stop-1 on all devices."""
    mesh = jax.sharding.Mesh(np.array(jax.devices()), (_AXIS,))
    batched = _compiled_chunk(trial_fn, params is not None, mesh, cache_key)
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


_COMPILED: OrderedDict[Hashable, Callable[..., Pytree]] = OrderedDict()


def _compiled_chunk(
    trial_fn: Callable[..., Pytree],
    with_params: bool,
    mesh: jax.sharding.Mesh,
    cache_key: Hashable | None,
) -> Callable[..., Pytree]:
    """``(root_key_data, params, t) -> trial_fn(fold_in(root, t)[, params])`` for every ``t``.

    The batch axis ``t`` is split over the mesh; each device runs its block independently.
    With a ``cache_key`` the jitted program is kept (least recently used first out) and
    returned for every later call with the same key, mesh and ``with_params``.
    """
    key = None if cache_key is None else (cache_key, with_params, mesh)
    if key is not None and key in _COMPILED:
        _COMPILED.move_to_end(key)
        return _COMPILED[key]

    on_cpu = mesh.devices.flat[0].platform == "cpu"  # decided here: one trace per compile

    def block(root_data: jax.Array, params: Pytree, t: jax.Array) -> Pytree:
        root = jax.random.wrap_key_data(root_data)

        def one(ti: jax.Array, params: Pytree = params) -> Pytree:
            if on_cpu:
                # Tie the params to the trial index, so that XLA hoists no params-only work
                # out of the loop: with one trial per device the loop is removed, nothing is
                # hoisted, the fusions differ, and the CPU backend contracts other products
                # into FMAs (ntk_surrogate's q_0 X_0 X_0ᵀ: fma(G_1, q_1, q_0 G_0) in a loop,
                # fma(G_0, q_0, q_1 G_1) without; its eigenvalues moved by 5e-6 between
                # 1 and 4 devices, and between chunk sizes 4 and 1).
                params, ti = jax.lax.optimization_barrier((params, ti))
            key = jax.random.fold_in(root, ti)
            return trial_fn(key, params) if with_params else trial_fn(key)

        # On the CPU one trial at a time: every trial is then the same unbatched program, so
        # its bits cannot depend on how many trials share a device (XLA's CPU kernels round
        # batched matmuls differently for different batch sizes: the NTK eigenvalues of
        # ck_ntk_spectra moved by 6e-6 between 1 and 2 devices under vmap).
        return jax.lax.map(one, t) if on_cpu else jax.vmap(one)(t)

    # Trials share nothing across devices, so the varying-manual-axes check is off: loops that
    # start from constants (power iterations, ADMM, Hungarian) would otherwise fail to trace.
    specs = (P(), P(), P(_AXIS))
    sharded = jax.shard_map(block, mesh=mesh, in_specs=specs, out_specs=P(_AXIS), check_vma=False)
    compiled = jax.jit(sharded)
    if key is not None:
        _COMPILED[key] = compiled
        while len(_COMPILED) > _CACHE_SIZE:
            _COMPILED.popitem(last=False)
    return compiled


def _missing_chunks(done: np.ndarray, chunk_size: int) -> list[tuple[int, int]]:
    """Split every maximal run of not-done trials into ranges of at most ``chunk_size``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[1], done.astype(np.int8), [1]])))
    ranges = []
    for lo, hi in zip(edges[::2], edges[1::2], strict=True):
        ranges += [(int(s), int(min(s + chunk_size, hi))) for s in range(lo, hi, chunk_size)]
    return ranges


def _identity(fingerprint: str, seed: int, leaves_spec: list[Any], treedef: Any) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "seed": int(seed),
        "outputs": str(treedef),
        "leaves": [[list(s.shape), np.dtype(s.dtype).str] for s in leaves_spec],
    }


def _load_store_everywhere(
    store: Path, identity: dict[str, Any], done: np.ndarray, leaves: list[np.ndarray]
) -> tuple[ChunkStore | None, np.ndarray, list[np.ndarray]]:
    """Process 0 opens the store and reads its chunks; every process gets the same view.

    Returns the store on process 0 (the writer) and None elsewhere.
    """

    def open_and_read() -> ChunkStore:
        chunks = ChunkStore(store, identity)
        chunks.create({"n_trials": done.size})
        chunks.read_into(done, leaves)
        return chunks

    chunks = on_process_zero(open_and_read, f"the chunk store {store}")
    done, leaves = multihost_utils.broadcast_one_to_all((done.astype(np.uint8), leaves))
    return chunks, np.array(done, bool), [np.array(x) for x in leaves]  # writable copies


def on_process_zero(fn: Callable[[], T], what: str) -> T | None:
    """Run ``fn`` on process 0 only; a :class:`StoreError` there is raised on every process.

    Args:
      fn: the work of the writing process (opening or checking a store).
      what: names the store in the other processes' error message.

    Returns:
      ``fn()`` on process 0, None on the others.
    """
    error, result = None, None
    if jax.process_index() == 0:
        try:
            result = fn()
        except StoreError as e:
            error = e
    failed = multihost_utils.broadcast_one_to_all(np.int32(error is not None))
    if error is not None:
        raise error
    if failed:
        raise StoreError(f"process 0 rejected {what} (see its error)")
    return result
