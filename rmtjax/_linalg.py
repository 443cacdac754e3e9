"""Symmetric eigendecompositions that cannot deadlock on the CPU.

Every ``eigh``/``eigvalsh`` of the library goes through :func:`eigh`. On GPU and TPU it is
``jnp.linalg.eigh``. On the CPU it diagonalizes one matrix per LAPACK call, in a ``lax.map``
over the flattened batch, because jaxlib's batched CPU kernel can deadlock:

**Mechanism (jaxlib 0.10.2, read from the disassembly of ``jaxlib/cpu/_lapack.so``).**
The ``?syevd`` FFI kernel splits a batch with ``jax::ParallelBatchMap(pool, batch, chunk, f)``
over XLA's intra-op thread pool. It runs ``f`` inline only when ``chunk >= batch``, i.e. when
the batch has one matrix, the pool has fewer than two threads, or the batch is cheap
(``5 n³ · batch < 200000``: any two matrices of n >= 28 go to the pool). Otherwise it
schedules *every* chunk on the pool and blocks the calling thread in ``BlockingCounter::Wait``
without taking a chunk itself. When the kernel itself runs on a pool
worker (the thunk executor dispatches there whenever a program has independent work: several
devices sharing the one host pool, two programs in flight from two Python threads, independent
eighs in one program) and every worker is such a waiting kernel, the chunks are never run.

**Measurements** (2-core VM, so a 2-thread pool; ``shard_map`` over 2 forced host devices of a
``vmap`` over 8 trials of ``permutation + eigh`` at n = 120; 60 s limit, CPU time checked not
to grow, stacks taken with gdb):

- batched ``jnp.linalg.eigh``: hangs; both ``tf_XLAEigen`` workers in ``BlockingCounter::Wait``
  under ``ParallelBatchMap`` under ``lapack_ssyevd_ffi``. ``rmtjax run eigvec_overlap`` with
  2 devices, n = 100, chunk 20 hangs at 0 trials the same way.
- ``jax.pure_callback`` to ``numpy.linalg.eigh`` (``vmap_method`` ``"sequential"`` and
  ``"expand_dims"``): hangs too, by another path: the callback's ``device_put`` of its
  arguments is itself pool work, and both workers wait for it in ``PyArray_bf_getbuffer``.
- one matrix per call (``lax.map``): never waits, by the rule above. Throughput at one BLAS
  thread (load ~12): batched / ``lax.map`` / numpy loop = 717 / 830 / 856 ms for 32 × 200²,
  138 / 128 / 211 ms for 16 × 128², 2590 / 2185 / 3145 ms for 2 × 1000² (f32). The batched
  kernel's gain is the spread over the pool, which a loaded 2-core machine does not have.
  The reproducer through :func:`eigh` completes with 1, 2 and 4 devices (13.5, 10.6, 14.6 s
  for 5 calls, compile included).

A user's ``vmap`` must not turn the loop's single-matrix calls back into a batched call, so
the CPU path is a ``custom_vmap`` that folds the mapped axis into the loop, and a
``custom_jvp`` (the first-order perturbation formula ``jnp.linalg.eigh`` differentiates with)
makes it differentiable. Each matrix is diagonalized by the same LAPACK call whatever batch
or device it belongs to, so results are bitwise independent of chunking and device count.
XLA flags are no remedy: ``--xla_cpu_multi_thread_eigen=false`` leaves the LAPACK pool
alone (measured in the 2026-11 notes of ``benchmarks/RESULTS.md``). The same wait exists in
jaxlib's other batched CPU LAPACK kernels (``getrf``, ``potrf``, ``gesdd``, ...) and the
callback path in every ``pure_callback`` traced into a multi-device CPU program.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap
from jax.typing import ArrayLike

__all__ = ["eigh", "eigh_stacked", "eigvalsh", "eigvalsh_stacked"]


def _one_per_call(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(values, vectors)`` of every ``(n, n)`` matrix of ``a``, one LAPACK call each."""
    flat = a.reshape(-1, *a.shape[-2:])
    values, vectors = jax.lax.map(
        lambda m: jax.lax.linalg.eigh(m, symmetrize_input=False)[::-1], flat
    )
    return values.reshape(a.shape[:-1]), vectors.reshape(a.shape)


@custom_vmap
def _looped(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    return _one_per_call(a)


@_looped.def_vmap
def _looped_vmap(axis_size, in_batched, a):  # the mapped axis joins the loop's batch
    del axis_size, in_batched
    return _one_per_call(a), (True, True)


@jax.custom_jvp
def _cpu_eigh(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    return _looped(a)


@_cpu_eigh.defjvp
def _cpu_eigh_jvp(primals, tangents):
    # dλ_i = v_iᵀ dA v_i,  dV = V (F ∘ Vᵀ dA V),  F_ij = 1 / (λ_j − λ_i) off the diagonal.
    (a,), (da,) = primals, tangents
    values, vectors = _looped(a)
    eye = jnp.eye(a.shape[-1], dtype=values.dtype)
    inverse_gaps = 1.0 / (eye + values[..., None, :] - values[..., :, None]) - eye
    projected = jnp.swapaxes(vectors, -1, -2).conj() @ da @ vectors
    d_vectors = vectors @ (inverse_gaps * projected)
    d_values = jnp.real(jnp.diagonal(projected, axis1=-2, axis2=-1))
    return (values, vectors), (d_values, d_vectors)


def _native(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    vectors, values = jax.lax.linalg.eigh(a, symmetrize_input=False)
    return values, vectors


def eigh(a: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Eigendecomposition ``A = V diag(λ) Vᵀ`` of symmetric (Hermitian) matrices.

    ``jnp.linalg.eigh`` everywhere but on the CPU, where each matrix is one LAPACK ``?syevd``
    call in a loop (see the module docstring: jaxlib's batched CPU kernel can deadlock).
    The input is symmetrized first, ``(A + Aᴴ) / 2``; jittable, vmappable, differentiable
    (distinct eigenvalues).

    Args:
      a: ``(..., n, n)`` symmetric matrices.

    Returns:
      ``(values (..., n) ascending, vectors (..., n, n) with eigenvector i in column i)``.
    """
    a = jnp.asarray(a)
    a = a.astype(jnp.result_type(a.dtype, float))
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"a must be a (..., n, n) array; got shape {a.shape}")
    a = (a + jnp.swapaxes(a, -1, -2).conj()) / 2
    return jax.lax.platform_dependent(a, cpu=_cpu_eigh, default=_native)


def eigvalsh(a: ArrayLike) -> jax.Array:
    """Ascending eigenvalues ``(..., n)`` of symmetric ``(..., n, n)`` matrices (:func:`eigh`)."""
    return eigh(a)[0]


def eigh_stacked(*matrices: ArrayLike) -> list[tuple[jax.Array, jax.Array]]:
    """``[eigh(M) for M in matrices]`` with the batch dimensions broadcast against each other.

    Each matrix is diagonalized at its own batch shape and the results are broadcast (no
    copy of the inputs into one stack, no repeated decomposition of a broadcast matrix).

    Args:
      *matrices: symmetric ``(..., n, n)`` arrays of one dtype; batch dimensions broadcast.

    Returns:
      One ``(eigenvalues (..., n) ascending, eigenvectors (..., n, n) as columns)`` per matrix,
      with the broadcast batch shape.
    """
    batch = jnp.broadcast_shapes(*(jnp.shape(m)[:-2] for m in matrices))
    return [
        (
            jnp.broadcast_to(lam, (*batch, *lam.shape[-1:])),
            jnp.broadcast_to(U, (*batch, *U.shape[-2:])),
        )
        for lam, U in map(eigh, matrices)
    ]


def eigvalsh_stacked(*matrices: ArrayLike) -> jax.Array:
    """``jnp.stack([eigvalsh(M) for M in matrices])`` with batch dimensions broadcast.

    Args:
      *matrices: symmetric ``(..., n, n)`` arrays of one dtype; batch dimensions broadcast.

    Returns:
      ``(len(matrices), ..., n)`` ascending eigenvalues (``...`` the broadcast batch shape).
    """
    return jnp.stack([values for values, _ in eigh_stacked(*matrices)])
