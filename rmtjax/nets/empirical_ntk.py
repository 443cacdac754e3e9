"""Empirical NTK of any JAX or Flax model: Jacobian contraction, NTK-vector products and
structured derivatives, with neural-tangents' ``trace_axes``/``diagonal_axes``.

``K(x, x') = Σ_θ ∂f(x)/∂θ ∂f(x')/∂θᵀ`` for a model ``apply_fn(params, x)``; the three exact
methods of Novak, Sohl-Dickstein and Schoenholz, "Fast Finite Width Neural Tangent Kernel"
(ICML 2022):

- ``"jacobian"``: per-sample Jacobians ``J = ∂f(x)/∂θ`` (one backward pass per output
  entry), contracted leaf by leaf.
- ``"ntvp"``: NTK-vector products ``J(x) (J(x')ᵀ v)`` — a ``vjp`` at ``x'`` for every output
  direction ``v``, then a ``jvp`` of the linearized model at ``x`` — no Jacobian stored.
- ``"structured"``: for a leaf ``W`` used once in a dense layer ``y = x_in W`` (summed over
  positions ``p`` that share ``W``), ``⟨∂f_i(x)/∂W, ∂f_j(x')/∂W⟩ = Σ_{p,q} (x_in[p] ·
  x'_in[q]) (Δ_i[p] · Δ'_j[q])``, with ``Δ_i = ∂f_i/∂y`` from one backward pass; convolutions
  are dense layers on their patches (feature groups split); an embedding lookup ``W[idx]``
  has ``x_in · x'_in = [idx = idx']``. For each layer the Gram form above or its Jacobian
  ``x_inᵀ Δ_i`` is used, whichever costs fewer flops; every other leaf (scale, bias, anything
  else) contributes its exact Jacobian from the same backward pass. The layers are found in
  the ``jax.make_jaxpr`` trace of the model (:mod:`rmtjax.nets._structured`).
- ``"auto"``: the cheapest of the three by the flop estimate of :func:`ntk_cost`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtjax._checks import check_choice, check_finite, is_concrete
from rmtjax.nets import _structured

__all__ = ["NTKCost", "empirical_ntk", "empirical_ntk_fn", "ntk_cost"]

IMPLEMENTATIONS = ("auto", "jacobian", "ntvp", "structured")
_EXACT = ("jacobian", "ntvp", "structured")


class NTKCost(NamedTuple):
    """What ``implementation="auto"`` chooses for given shapes, and why.

    Attributes:
      implementation: the chosen implementation.
      flops: estimated flops of each implementation (``"jacobian"``, ``"ntvp"``,
        ``"structured"``).
      memory_bytes: estimated peak working memory of each implementation.
      roles: for each differentiated parameter leaf (by its key path), how the structured
        implementation treats it: ``"dense"``, ``"conv"``, ``"embed"`` (structured layers),
        ``"elementwise"`` (scale/bias) or ``"jacobian"`` (exact Jacobian fallback).
    """

    implementation: str
    flops: dict[str, float]
    memory_bytes: dict[str, float]
    roles: dict[str, str]


@dataclasses.dataclass(frozen=True)
class _Options:
    apply_fn: Callable[..., Any]
    trace_axes: tuple[int, ...]
    diagonal_axes: tuple[int, ...]
    in_axis: int | None
    out_axis: int | None
    implementation: str
    chunk_size: int | None
    differentiate: str | tuple[str, ...] | None


def empirical_ntk_fn(
    apply_fn: Callable[[Any, jax.Array], Any],
    *,
    trace_axes: int | Sequence[int] = (-1,),
    diagonal_axes: int | Sequence[int] = (),
    vmap_axes: int | tuple[int, int] | None = 0,
    implementation: str = "auto",
    chunk_size: int | None = None,
    differentiate: str | Sequence[str] | None = "params",
) -> Callable[[ArrayLike, ArrayLike | None, Any], Any]:
    r"""The empirical NTK function of ``apply_fn``, as neural-tangents' ``empirical_ntk_fn``.

    .. math::

        K(x, x')_{u v} = \sum_\theta \frac{\partial f_u(x)}{\partial \theta}
                                    \frac{\partial f_v(x')}{\partial \theta}

    over the output entries ``u, v`` of ``f(x) = apply_fn(params, x)``. For every output
    leaf (outputs may be any pytree, e.g. a dict; kernels of different leaves are not
    crossed), the kernel has, per output axis in order: two axes ``(n1, n2)`` for the sample
    axis, none for an axis in ``trace_axes`` (its ``u = v`` entries are averaged, as
    neural-tangents does), one for an axis in ``diagonal_axes`` (``u = v`` kept), two for
    any other axis. So 10 logits give ``(n1, n2)`` by default (the mean over the logits of
    ``⟨∂f_i(x), ∂f_i(x')⟩``) and the full ``(n1, n2, 10, 10)`` block with ``trace_axes=()``.
    Axes count the output's sample axis; an axis naming the sample axis of a scalar-per-
    sample output (``f(X)`` of shape ``(n,)``) is ignored.

    Args:
      apply_fn: ``apply_fn(params, x)``: a Flax ``model.apply``, ``nnx`` merge-and-call, or
        any JAX function of a batch of samples.
      trace_axes: output axes to average over (see above).
      diagonal_axes: output axes whose diagonal only is kept.
      vmap_axes: the sample axis of ``x`` and of every output (an int for both, or
        ``(in_axis, out_axis)``); samples must not interact (no batch statistics; this is
        checked). ``None``: ``x1`` and ``x2`` are each one input of ``f`` (whatever the
        interaction between their rows) and the kernel is that of ``f(x1)`` and ``f(x2)``
        as wholes.
      implementation: ``"jacobian"``, ``"ntvp"``, ``"structured"`` or ``"auto"`` (all exact;
        see the module docstring and :func:`ntk_cost`).
      chunk_size: samples per block; the per-sample derivatives (backward passes) and the
        pairwise Gram contractions then run on ``chunk_size`` samples at a time, in
        ``lax.map``, the last block padded by repeating its last sample. ``"structured"``
        computes the per-sample features (layer inputs, cotangents, the Jacobians of the
        other leaves) once per block and keeps them for all samples; ``"jacobian"`` keeps
        every sample's Jacobian (computed block by block) when they take at most 1 GiB
        (``n k P`` floats, ``P`` parameters), else recomputes the ``x1`` blocks' Jacobians
        for every ``x2`` block (memory ``2 chunk_size k P`` floats); ``"ntvp"`` computes each
        ``x2`` block's ``J(x2)ᵀ V`` once and redoes only the linearization (one forward
        pass) of the ``x1`` blocks, so that its memory grows with ``chunk_size`` only. Not
        allowed with ``vmap_axes=None``.
      differentiate: for Flax ``variables`` (a mapping with a ``"params"`` entry), the
        collections to differentiate (default ``"params"``; the others, e.g.
        ``"batch_stats"``, are held fixed); ``None`` differentiates every leaf of ``params``.
        A ``params`` without those keys is differentiated whole.

    Returns:
      ``kernel(x1, x2, params)``, ``x2=None`` meaning ``x1``; jittable and vmappable (e.g. over
      a batch of networks' ``params``). A model whose samples interact is refused with a
      ``ValueError`` (under ``jit``, where this cannot raise, its kernel is NaN).

    References:
      Jacot, Gabriel, Hongler, "Neural Tangent Kernel", NeurIPS 2018; Novak, Sohl-Dickstein,
      Schoenholz, "Fast Finite Width Neural Tangent Kernel", ICML 2022.

    Examples:
      >>> f = lambda p, x: jnp.tanh(x @ p["w"]) @ p["v"]
      >>> params = {"w": jnp.ones((3, 4)) / 2, "v": jnp.ones((4, 2))}
      >>> kernel = empirical_ntk_fn(f, trace_axes=())
      >>> kernel(jnp.eye(5, 3), None, params).shape
      (5, 5, 2, 2)
    """
    options = _Options(
        apply_fn=apply_fn,
        trace_axes=_check_axes(trace_axes, "trace_axes"),
        diagonal_axes=_check_axes(diagonal_axes, "diagonal_axes"),
        **_check_vmap_axes(vmap_axes),
        implementation=_check_implementation(implementation),
        chunk_size=_check_chunk_size(chunk_size),
        differentiate=_check_differentiate(differentiate),
    )
    if set(options.trace_axes) & set(options.diagonal_axes):
        raise ValueError(
            f"trace_axes {options.trace_axes} and diagonal_axes {options.diagonal_axes} must "
            "not share an axis"
        )
    if options.in_axis is None and options.chunk_size is not None:
        raise ValueError("chunk_size must be None with vmap_axes=None (x is one input of f)")
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable; got {type(apply_fn).__name__}")
    return functools.partial(_kernel, options)


def empirical_ntk(
    apply_fn: Callable[[Any, jax.Array], Any],
    params: Any,
    X1: ArrayLike,
    X2: ArrayLike | None = None,
    **options: Any,
) -> Any:
    """One-shot :func:`empirical_ntk_fn`: ``empirical_ntk_fn(apply_fn, **options)(X1, X2, params)``.

    Args:
      apply_fn: ``apply_fn(params, X)``, e.g. a Flax ``model.apply``.
      params: parameters (any pytree, Flax ``variables``, an ``nnx.State``).
      X1: ``(n1, ...)`` samples.
      X2: ``(n2, ...)`` samples with the same per-sample shape, or ``None`` for ``X1``.
      **options: ``trace_axes``, ``diagonal_axes``, ``vmap_axes``, ``implementation``,
        ``chunk_size``, ``differentiate`` as in :func:`empirical_ntk_fn`.

    Returns:
      ``(n1, n2)`` for scalar outputs and, by default, for vector outputs (averaged over the
      last axis); ``trace_axes=()`` gives the full ``(n1, n2, k, k)`` block.

    References:
      Novak, Sohl-Dickstein, Schoenholz, "Fast Finite Width Neural Tangent Kernel", ICML 2022.

    Examples:
      >>> f = lambda p, x: x @ p["w"]
      >>> K = empirical_ntk(f, {"w": jnp.ones(3)}, jnp.eye(2, 3))
      >>> K.tolist()
      [[1.0, 0.0], [0.0, 1.0]]
    """
    kernel = empirical_ntk_fn(apply_fn, **options)
    X1, X2 = _check_inputs(X1, X2, kernel.args[0], ("X1", "X2"))
    return kernel(X1, X2, params)


def ntk_cost(
    apply_fn: Callable[[Any, jax.Array], Any],
    params: Any,
    X1: ArrayLike,
    X2: ArrayLike | None = None,
    **options: Any,
) -> NTKCost:
    """The flop and memory estimates behind ``implementation="auto"``, and its choice.

    Per sample, with ``F`` the forward flops (dense and conv multiply-adds ×2, one flop per
    other output entry; ``F_c`` the convolutions' share), ``k`` output entries, ``P``
    parameters and ``E`` kernel entries per pair of samples, and ``B = F + k (2F + 3 F_c)``
    one sample's Jacobian (convolution weight gradients counted 4×: per-sample, they run as
    grouped convolutions, several times slower than matmuls on CPU): ``"jacobian"`` costs
    ``(n1 + n2') B + n1 n2 E P`` (``n2' = n2`` if ``X2`` is given, else 0); ``"ntvp"``
    ``n2 B + 2 n1 n2 k F``; ``"structured"`` ``(n1 + n2') (1 + k) F`` plus, per layer, the
    cheaper of its Gram and Jacobian contractions, plus ``n1 n2 E P'`` for the ``P'``
    parameters outside the layers (when chunked, ``"jacobian"`` counts the recomputed ``x1``
    blocks if its Jacobians are not kept, ``"ntvp"`` the forward pass of every pair of
    blocks; ``"structured"`` computes each block's features once).

    Args:
      apply_fn, params, X1, X2, options: as in :func:`empirical_ntk`.

    Returns:
      :class:`NTKCost`.

    Examples:
      >>> f = lambda p, x: jnp.tanh(x @ p["w"]) @ p["v"]
      >>> params = {"w": jnp.ones((30, 40)), "v": jnp.ones((40, 10))}
      >>> cost = ntk_cost(f, params, jnp.ones((8, 30)))
      >>> cost.implementation, cost.roles["['w']"]
      ('structured', 'dense')
    """
    kernel = empirical_ntk_fn(apply_fn, **options)
    opts: _Options = kernel.args[0]
    X1, X2 = _check_inputs(X1, X2, opts, ("X1", "X2"))
    model = _Model.build(opts, params, X1, X2)
    return model.cost(opts)


def _kernel(opts: _Options, x1: ArrayLike, x2: ArrayLike | None, params: Any) -> Any:
    x1, x2 = _check_inputs(x1, x2, opts)
    try:
        hash(opts)
        K, ok = _core_jit(opts, x1, x2, params)
    except TypeError as err:
        if "unhashable" not in str(err):
            raise
        K, ok = jax.jit(functools.partial(_core, opts))(x1, x2, params)
    if is_concrete(ok):
        if not bool(ok):
            raise ValueError(
                "apply_fn's output for one sample depends on the other samples of the batch "
                "(e.g. BatchNorm using batch statistics in training mode): the per-sample "
                "NTK is undefined. Use the running averages (use_running_average=True / "
                "train=False), or vmap_axes=None to take x1 and x2 each as one input of f."
            )
        return K
    return jax.tree.map(lambda k: jnp.where(ok, k, jnp.nan), K)


def _core(opts: _Options, x1: jax.Array, x2: jax.Array | None, params: Any):
    model = _Model.build(opts, params, x1, x2)
    implementation = opts.implementation
    if implementation == "auto":
        implementation = model.cost(opts).implementation
    K = model.kernel(opts, implementation)
    return K, model.independent_samples(opts)


_core_jit = jax.jit(_core, static_argnums=0)


# --------------------------------------------------------------------------------------------
# The model as a per-sample function of flat parameter leaves.


@dataclasses.dataclass(frozen=True)
class _OutLeaf:
    """One output leaf: per-sample shape, split into traced/diagonal/full axes."""

    perm: tuple[int, ...]  # per-sample axes in the order (traced, diagonal, full)
    t_shape: tuple[int, ...]
    d_shape: tuple[int, ...]
    f_shape: tuple[int, ...]
    layout: tuple[int, ...]  # (n1, n2, D, F, F') -> the neural-tangents order

    @property
    def size(self) -> int:
        return math.prod(self.t_shape) * math.prod(self.d_shape) * math.prod(self.f_shape)


@dataclasses.dataclass
class _Model:
    sample_fn: Callable[..., jax.Array]  # (diff leaves, rest leaves, one sample) -> (e,)
    diff: list[jax.Array]
    rest: list[jax.Array]
    paths: list[str]
    x1: jax.Array  # (n1, ...) samples on axis 0 (one sample when vmap_axes=None)
    x2: jax.Array | None
    outs1: list[_OutLeaf]
    outs2: list[_OutLeaf]
    treedef: Any  # of the output pytree
    check_x: jax.Array | None  # two samples for the independence check
    call: Callable[..., Any]  # (diff leaves, rest pytree, batch) -> output pytree
    rest_def: Any

    @classmethod
    def build(cls, opts: _Options, params: Any, x1: jax.Array, x2: jax.Array | None) -> _Model:
        diff_tree, rebuild = _split_params(params, opts.differentiate)
        paths_leaves, diff_def = jax.tree_util.tree_flatten_with_path(diff_tree)
        diff = [leaf for _, leaf in paths_leaves]
        paths = [jax.tree_util.keystr(path) for path, _ in paths_leaves]
        rest_tree = rebuild(None)
        rest, rest_def = jax.tree.flatten(rest_tree)
        if not diff:
            raise ValueError("params has no leaves to differentiate (check differentiate=)")

        def call(d, r, xb):
            out = opts.apply_fn(rebuild(jax.tree.unflatten(diff_def, d), r), xb)
            _refuse_batch_stats(out)
            return out

        if opts.in_axis is None:
            s1, s2 = x1[None], None if x2 is None else x2[None]
            shape1 = jax.eval_shape(lambda x: call(diff, rest_def.unflatten(rest), x), x1)
            shape2 = (
                shape1
                if x2 is None
                else jax.eval_shape(lambda x: call(diff, rest_def.unflatten(rest), x), x2)
            )
            per1 = [s.shape for s in jax.tree.leaves(shape1)]
            per2 = [s.shape for s in jax.tree.leaves(shape2)]
            treedef = jax.tree.structure(shape1)
            outs1 = _out_leaves(per1, None, opts, "f(x1)")
            outs2 = _out_leaves(per2, None, opts, "f(x2)")
            check_x = None
        else:
            s1 = jnp.moveaxis(x1, opts.in_axis, 0)
            s2 = None if x2 is None else jnp.moveaxis(x2, opts.in_axis, 0)
            shape = jax.eval_shape(
                lambda x: call(diff, rest_def.unflatten(rest), x),
                jnp.expand_dims(s1[0], opts.in_axis),
            )
            per, treedef = _per_sample_shapes(shape, opts.out_axis)
            outs1 = outs2 = _out_leaves(per, opts.out_axis, opts, "apply_fn's output")
            both = s1 if s2 is None else jnp.concatenate([s1[:2], s2[:2]])
            check_x = both[:2] if both.shape[0] >= 2 else None
        split = outs1 is outs2

        def sample_fn(d, r, x, side=1):
            xb = x if opts.in_axis is None else jnp.expand_dims(x, opts.in_axis)
            out = jax.tree.leaves(call(d, rest_def.unflatten(r), xb))
            outs = outs1 if side == 1 or split else outs2
            if opts.out_axis is not None:
                out = [jnp.squeeze(o, opts.out_axis) for o in out]
            return jnp.concatenate(
                [jnp.transpose(o, spec.perm).reshape(-1) for o, spec in zip(out, outs, strict=True)]
            )

        return cls(
            sample_fn, diff, rest, paths, s1, s2, outs1, outs2, treedef, check_x, call, rest_def
        )

    # ---- the independence check -----------------------------------------------------------
    def independent_samples(self, opts: _Options) -> jax.Array:
        """True unless the output of sample 0 changes with sample 1 (a jvp, exact zeros)."""
        if self.check_x is None:
            return jnp.asarray(True)
        xb = jnp.moveaxis(self.check_x, 0, opts.in_axis)
        rest = self.rest_def.unflatten(self.rest)

        def rows(x):
            out = jax.tree.leaves(self.call(self.diff, rest, x))
            return [jnp.take(o, 0, axis=opts.out_axis) for o in out]

        if jnp.issubdtype(xb.dtype, jnp.inexact):
            # a fixed, generic direction (no PRNG: its sampler costs seconds to compile)
            tangent = jnp.cos(1.7 * jnp.arange(xb.size, dtype=xb.dtype) + 0.3).reshape(xb.shape)
            tangent = jnp.moveaxis(
                jnp.moveaxis(tangent, opts.in_axis, 0).at[0].set(0), 0, opts.in_axis
            )
            _, dout = jax.jvp(rows, (xb,), (tangent,))
            changed = [jnp.max(jnp.abs(d)) for d in dout]
            return jnp.all(jnp.stack(changed) == 0)
        alone = rows(jnp.take(xb, jnp.array([0]), axis=opts.in_axis))
        together = rows(xb)
        close = [
            jnp.allclose(a, b, rtol=1e-4, atol=1e-6 * jnp.max(jnp.abs(a)))
            for a, b in zip(alone, together, strict=True)
        ]
        return jnp.all(jnp.stack(close))

    # ---- structure of the per-sample jaxpr ------------------------------------------------
    @functools.cached_property
    def traced(self):
        x = self.x1[0]
        closed = jax.make_jaxpr(lambda d, r, s: self.sample_fn(d, r, s))(self.diff, self.rest, x)
        plan, layers, roles = _structured.analyze(closed, len(self.diff))
        return closed, plan, layers, roles

    def evaluated(self, side: int) -> Callable[[list[jax.Array], jax.Array], jax.Array]:
        """``(diff leaves, one sample) -> (e,)`` by :func:`_structured.evaluate` (no probes):
        the model with convolutions whose transposes run fast inside ``lax.map``."""
        if side == 1 or self.x2 is None or self.outs1 is self.outs2:
            closed = self.traced[0]
        else:
            closed = jax.make_jaxpr(lambda d, r, s: self.sample_fn(d, r, s, 2))(
                self.diff, self.rest, self.x2[0]
            )
        plan = _structured.Plan()
        return lambda d, x: _structured.evaluate(closed, plan, [*d, *self.rest, x], [])[0][0]

    def kernel(self, opts: _Options, implementation: str) -> Any:
        if implementation == "ntvp":
            block = _NTVP(self)
        else:
            block = _Features(self, implementation == "structured", opts)
        Ks = _blocked(block, self.x1, self.x2, opts.chunk_size)
        outs = [
            _finish(K, spec1, spec2, opts.in_axis is None)
            for K, spec1, spec2 in zip(Ks, self.outs1, self.outs2, strict=True)
        ]
        return jax.tree.unflatten(self.treedef, outs)

    def cost(self, opts: _Options) -> NTKCost:
        closed, _, layers, roles = self.traced
        n1 = self.x1.shape[0]
        n2 = n1 if self.x2 is None else self.x2.shape[0]
        c1 = n1 if opts.chunk_size is None else min(opts.chunk_size, n1)
        c2 = n2 if opts.chunk_size is None else min(opts.chunk_size, n2)
        blocks2 = -(-n2 // c2)
        chunked = c1 < n1 or c2 < n2
        once = n2 if self.x2 is not None else 0  # features of every sample, once
        kept = n1 + once  # ... and kept for every sample (x2=None reuses x1's)
        # recomputed: x1 blocks' Jacobians per x2 block (x2's once) unless they are kept
        jac_samples = n1 * blocks2 + n2 if chunked and not _jacobians_fit(self) else kept
        F, F_conv = _structured.forward_flops(closed.jaxpr)
        k = sum(o.size for o in self.outs1)
        E = sum(_pairs(a, b) for a, b in zip(self.outs1, self.outs2, strict=True))
        sizes = [int(np.prod(np.shape(leaf))) for leaf in self.diff]
        P = sum(sizes)
        item = jnp.dtype(self.diff[0].dtype).itemsize
        # per sample: forward F; per output entry an input-gradient pass (~F) and, for the
        # Jacobian, the weight gradients (~F, convolutions' at _CONV_GRAD_PENALTY times)
        jac_pass = F + k * (2 * F + (_CONV_GRAD_PENALTY - 1) * F_conv)
        flops = {
            "jacobian": jac_samples * jac_pass + n1 * n2 * E * P,
            "ntvp": n2 * jac_pass + 2.0 * n1 * n2 * k * F + n1 * blocks2 * 2 * F,
        }
        structured = kept * (1 + k) * F
        mem = kept * k * sum(sizes[leaf] for leaf, r in roles.items() if r not in _LAYERS)
        for layer in layers:
            form, contract, feat = _layer_costs(layer, k, E, n1, n2)
            gram = contract[0] < form[1] + contract[1]
            structured += contract[0] if gram else form[1] * kept / n1 + contract[1]
            mem += kept * (feat[0] if gram else feat[1]) + (c1 * c2 * feat[2] if gram else 0)
        flops["structured"] = structured + n1 * n2 * E * sum(
            sizes[leaf] for leaf, r in roles.items() if r not in _LAYERS
        )
        memory = {
            # chunked: two blocks' Jacobians, plus (when kept) those of every sample
            "jacobian": float(
                ((0 if chunked and not _jacobians_fit(self) else kept) + (c1 + c2) * chunked)
                * k
                * P
                * item
            ),
            "ntvp": float(c2 * k * P * item + c1 * F * item),
            "structured": float(mem * item),
        }
        chosen = min(_EXACT, key=lambda name: (flops[name], name != "structured"))
        return NTKCost(
            chosen,
            {k_: float(v) for k_, v in flops.items()},
            memory,
            {self.paths[leaf]: role for leaf, role in sorted(roles.items())},
        )


_LAYERS = ("dense", "conv", "embed")
# chunked "jacobian" keeps every sample's Jacobian (computed block by block) when they take at
# most this much memory; beyond it, the x1 blocks' Jacobians are recomputed for every x2 block
_KEEP_JACOBIANS_BYTES = 2**30


def _jacobians_fit(model: _Model) -> bool:
    """Whether the Jacobians of all samples (x1's, and x2's if given) fit in the budget."""
    n = model.x1.shape[0] + (0 if model.x2 is None else model.x2.shape[0])
    k = sum(o.size for o in model.outs1)
    P = sum(int(np.prod(np.shape(leaf))) for leaf in model.diff)
    return n * k * P * jnp.dtype(model.diff[0].dtype).itemsize <= _KEEP_JACOBIANS_BYTES


# Per-sample convolution weight gradients (what vmap(jacrev) computes) run on XLA's CPU
# backend as grouped convolutions at a fraction of the speed of the patch matmuls of the
# structured route; 4 matches the 2-core CPU measurements of the CNN benchmark.
_CONV_GRAD_PENALTY = 4.0


def _pairs(a: _OutLeaf, b: _OutLeaf) -> int:
    """Kernel entries per pair of samples times the traced size: the contraction's width."""
    return math.prod(a.t_shape) * math.prod(a.d_shape) * math.prod(a.f_shape) * math.prod(b.f_shape)


def _layer_costs(layer, k, E, n1, n2):
    """``((form_gram, form_jac), (contract_gram, contract_jac), (feat_gram, feat_jac,
    pair_gram))`` flops and sizes of one structured layer (per sample / per pair)."""
    P, G, C, O = _layer_dims(layer)
    form_jac = 2.0 * k * P * G * C * O * n1
    contract_jac = 2.0 * n1 * n2 * E * G * C * O
    contract_gram = 2.0 * n1 * n2 * P * P * G * (C + E * O)
    feat = (P * G * C + k * P * G * O, k * G * C * O, P * P * G * (1 + E // max(k, 1)))
    return (0.0, form_jac), (contract_gram, contract_jac), feat


def _layer_dims(layer) -> tuple[int, int, int, int]:
    """``(positions, groups, inputs per group, outputs per group)`` of a structured layer."""
    eqn = layer.eqn
    out = eqn.outvars[0].aval.shape
    if layer.kind == "dense":
        (lc, rc), _ = eqn.params["dimension_numbers"]
        w_shape = eqn.invars[layer.w_operand].aval.shape
        w_contract = rc if layer.w_operand == 1 else lc
        C = math.prod(w_shape[d] for d in w_contract)
        O = math.prod(w_shape) // C
        return math.prod(out) // O, 1, C, O
    if layer.kind == "conv":
        dn = eqn.params["dimension_numbers"]
        rhs = eqn.invars[1].aval.shape
        G = eqn.params["feature_group_count"]
        O = rhs[dn.rhs_spec[0]]
        return math.prod(out) // O, G, math.prod(rhs) // O, O // G
    D = math.prod(eqn.invars[0].aval.shape[1:])
    return math.prod(out) // D, 1, 1, D


def _gram_route(layer, k, E, n1, n2) -> bool:
    if layer.kind == "embed":
        return True
    form, contract, _ = _layer_costs(layer, k, E, n1, n2)
    return contract[0] < form[1] + contract[1]


# --------------------------------------------------------------------------------------------
# Per-block computations: features of a block of samples, and the kernel of two blocks.


class _Features:
    """``"jacobian"`` and ``"structured"``: per-sample features, then contractions.

    Features of one sample: the Jacobian ``(k, size)`` of every fallback leaf (and of each
    layer on its Jacobian route, ``x_inᵀ Δ``), and ``(x_in, Δ)`` of each layer on its Gram
    route."""

    def __init__(self, model: _Model, structured: bool, opts: _Options):
        self.model = model
        closed, plan, layers, _ = model.traced
        if not structured:
            plan, layers = _structured.Plan(), []
        self.closed, self.plan, self.layers = closed, plan, layers
        self.layer_leaves = {layer.leaf for layer in layers}
        k = sum(o.size for o in model.outs1)
        E = sum(_pairs(a, b) for a, b in zip(model.outs1, model.outs2, strict=True))
        n1 = model.x1.shape[0]
        n2 = n1 if model.x2 is None else model.x2.shape[0]
        self.gram = [_gram_route(layer, k, E, n1, n2) for layer in layers]
        self.gram_layers = [ly for ly, g in zip(layers, self.gram, strict=True) if g]
        # when chunked, structured features (layer inputs, cotangents, small Jacobians) are
        # kept for all samples; full Jacobians too where they fit in _KEEP_JACOBIANS_BYTES
        self.keeps_features = structured or _jacobians_fit(model)
        # kept full Jacobians are contracted by block pairs (their backward passes dominate;
        # XLA would copy all of them for a whole contraction), structured features at once
        self.contract_whole = structured
        self.same_sides = True

    def features(self, xs: jax.Array, side: int) -> tuple[list[jax.Array], list[tuple]]:
        return jax.vmap(lambda x: self._sample(x, side))(xs)

    def _sample(self, x: jax.Array, side: int):
        m = self.model
        closed = self.closed if side == 1 or m.x2 is None or m.outs1 is m.outs2 else None
        if closed is None:  # vmap_axes=None and f(x2) shaped differently: its own trace
            closed = jax.make_jaxpr(lambda d, r, s: m.sample_fn(d, r, s, 2))(m.diff, m.rest, x)
            plan, layers, _ = _structured.analyze(closed, len(m.diff))
            plan, layers = (plan, layers) if self.layers else (_structured.Plan(), [])
        else:
            plan, layers = self.plan, self.layers
        jac_ids = [i for i in range(len(m.diff)) if i not in {ly.leaf for ly in layers}]
        probes = [
            jnp.zeros(ly.eqn.outvars[0].aval.shape, ly.eqn.outvars[0].aval.dtype) for ly in layers
        ]

        def run(probes, jac_leaves):
            leaves = list(m.diff)
            for i, leaf in zip(jac_ids, jac_leaves, strict=True):
                leaves[i] = leaf
            outs, recorded = _structured.evaluate(closed, plan, [*leaves, *m.rest, x], probes)
            return outs[0], recorded

        out, vjp_fn, recorded = jax.vjp(run, probes, [m.diff[i] for i in jac_ids], has_aux=True)
        basis = jnp.eye(out.shape[0], dtype=out.dtype)
        deltas, jacs = jax.vmap(vjp_fn)(basis)
        jac_feats = [j.reshape(j.shape[0], -1) for j in jacs]
        gram_feats = []
        for layer_id, (layer, gram) in enumerate(zip(layers, self.gram, strict=True)):
            A, D = _layer_inputs(layer, recorded[layer_id], deltas[layer_id])
            if gram:
                gram_feats.append((A, D))
            else:
                jac_feats.append(jnp.einsum("pgc,epgo->egco", A, D).reshape(D.shape[0], -1))
        return jac_feats, gram_feats

    def contract(self, F1, F2, jac: bool = True, gram: bool = True) -> list[jax.Array]:
        """The kernel blocks of two blocks of features: the Jacobian contractions (``jac``)
        plus the Gram ones (``gram``)."""
        jac1, gram1 = F1
        jac2, gram2 = F2
        jac1, jac2 = (jac1, jac2) if jac else ([], [])
        gram1, gram2 = (gram1, gram2) if gram else ([], [])
        n1, n2 = jax.tree.leaves(F1)[0].shape[0], jax.tree.leaves(F2)[0].shape[0]
        dtype = jax.tree.leaves(F1)[0].dtype
        Ks = []
        segments = _segments(self.model)
        for (a0, a1, o1), (b0, b1, o2) in segments:
            d, f, h = (math.prod(s) for s in (o1.d_shape, o1.f_shape, o2.f_shape))
            K = jnp.zeros((n1, n2, d, f, h), dtype)
            for J1, J2 in zip(jac1, jac2, strict=True):
                K = K + jnp.einsum(
                    "atdfz,btdhz->abdfh", _split_e(J1, a0, a1, o1), _split_e(J2, b0, b1, o2)
                )
            layers = self.gram_layers if gram else []
            for (A1, D1), (A2, D2), layer in zip(gram1, gram2, layers, strict=True):
                if layer.kind == "embed":
                    Gx = (A1[:, None, :, None] == A2[None, :, None, :]) & (
                        A1[:, None, :, None] >= 0
                    )
                    Gx = Gx[..., None].astype(D1.dtype)
                else:
                    Gx = jnp.einsum("apgc,bqgc->abpqg", A1, A2)
                K = K + jnp.einsum(
                    "abpqg,atdfpgo,btdhqgo->abdfh",
                    Gx,
                    _split_e(D1, a0, a1, o1),
                    _split_e(D2, b0, b1, o2),
                    optimize="optimal",
                )
            Ks.append(K)
        return Ks


def _segments(model: _Model):
    out = []
    s1 = s2 = 0
    for o1, o2 in zip(model.outs1, model.outs2, strict=True):
        out.append(((s1, s1 + o1.size, o1), (s2, s2 + o2.size, o2)))
        s1, s2 = s1 + o1.size, s2 + o2.size
    return out


def _split_e(A: jax.Array, start: int, stop: int, spec: _OutLeaf) -> jax.Array:
    """``(n, e, *rest) -> (n, t, d, f, *rest)`` for one output leaf's slice of the ``e`` axis."""
    t, d, f = math.prod(spec.t_shape), math.prod(spec.d_shape), math.prod(spec.f_shape)
    return A[:, start:stop].reshape(A.shape[0], t, d, f, *A.shape[2:])


def _layer_inputs(layer, invals, delta) -> tuple[jax.Array, jax.Array]:
    """``A = (positions, groups, inputs)`` (for ``"embed"``: row indices, ``-1`` if none) and
    ``Δ = (k, positions, groups, outputs)`` of one layer of one sample."""
    eqn = layer.eqn
    k = delta.shape[0]
    if layer.kind == "dense":
        (lc, rc), _ = eqn.params["dimension_numbers"]
        x = invals[1 - layer.w_operand]
        x_contract = lc if layer.w_operand == 1 else rc
        free = [d for d in range(x.ndim) if d not in x_contract]
        A = jnp.transpose(x, (*free, *x_contract))
        P = math.prod(x.shape[d] for d in free)
        A = A.reshape(P, 1, -1)
        D = (
            delta.reshape(k, P, -1)
            if layer.w_operand == 1
            else jnp.swapaxes(delta.reshape(k, -1, P), 1, 2)
        )
        return A, D[:, :, None, :]
    if layer.kind == "conv":
        p = eqn.params
        dn = p["dimension_numbers"]
        rhs = invals[1]
        patches = jax.lax.conv_general_dilated_patches(
            invals[0],
            filter_shape=[rhs.shape[d] for d in dn.rhs_spec[2:]],
            window_strides=p["window_strides"],
            padding=p["padding"],
            lhs_dilation=p["lhs_dilation"],
            rhs_dilation=p["rhs_dilation"],
            dimension_numbers=dn,
            precision=p["precision"],
            preferred_element_type=p["preferred_element_type"],
        )
        order = (dn.out_spec[0], *dn.out_spec[2:], dn.out_spec[1])
        G = p["feature_group_count"]
        A = jnp.transpose(patches, order)
        A = A.reshape(-1, G, A.shape[-1] // G)
        D = jnp.transpose(delta, (0, *(1 + d for d in order)))
        return A, D.reshape(k, A.shape[0], G, -1)
    W, idx = invals
    idx = idx[..., 0].reshape(-1)
    if "CLIP" in str(eqn.params["mode"]):
        idx = jnp.clip(idx, 0, W.shape[0] - 1)
    else:
        idx = jnp.where((idx >= 0) & (idx < W.shape[0]), idx, -1)
    return idx, delta.reshape(k, idx.shape[0], 1, -1)


class _NTVP:
    """``"ntvp"``: ``K = J(x1) (J(x2)ᵀ V)`` with ``V`` the output basis at each ``x2``.

    Features of an ``x2`` block: ``J(x2)ᵀ V`` (one ``vjp`` per output entry, Jacobian-sized,
    never kept beyond its block); of an ``x1`` block: the block itself (its linearization,
    one forward pass, is redone for every pair of blocks)."""

    keeps_features = False
    same_sides = False

    def __init__(self, model: _Model):
        self.model = model

    def features(self, xs: jax.Array, side: int):
        if side == 1:
            return xs
        m = self.model
        f = m.evaluated(2)  # through the evaluator: its convolutions transpose fast in loops

        def vjps(x):
            out, vjp_fn = jax.vjp(lambda d: f(d, x), m.diff)
            return jax.vmap(vjp_fn)(jnp.eye(out.shape[0], dtype=out.dtype))[0]

        return jax.vmap(vjps)(xs)  # leaves (c2, e2, *leaf)

    def contract(self, X1, V) -> list[jax.Array]:
        m = self.model

        def f_block(d, xs, side):
            return jax.vmap(lambda x: m.sample_fn(d, m.rest, x, side))(xs)

        _, lin = jax.linearize(lambda d: f_block(d, X1, 1), m.diff)
        c2, e2 = V[0].shape[:2]
        flat = [v.reshape(c2 * e2, *v.shape[2:]) for v in V]
        O = jax.vmap(lin)(flat)  # (c2 e2, c1, e1)
        O = O.reshape(c2, e2, *O.shape[1:])
        Ks = []
        for (a0, a1, o1), (b0, b1, o2) in _segments(m):
            t, d = math.prod(o1.t_shape), math.prod(o1.d_shape)
            f, h = math.prod(o1.f_shape), math.prod(o2.f_shape)
            block = O[:, b0:b1, :, a0:a1].reshape(c2, t, d, h, O.shape[2], t, d, f)
            Ks.append(jnp.einsum("btdhatdf->abdfh", block))
        return Ks


def _blocked(block, x1: jax.Array, x2: jax.Array | None, chunk_size: int | None) -> list:
    """Kernel blocks of ``(x1, x2)``: whole, or ``chunk_size`` blocks in two ``lax.map``s."""
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    same = x2 is None and block.same_sides  # x2's features are x1's
    if chunk_size is None or (chunk_size >= n1 and chunk_size >= n2):
        F1 = block.features(x1, 1)
        F2 = F1 if same else block.features(x1 if x2 is None else x2, 2)
        return block.contract(F1, F2)
    c1, c2 = min(chunk_size, n1), min(chunk_size, n2)
    B1, B2 = _chunks(x1, c1), _chunks(x1 if x2 is None else x2, c2)

    if block.keeps_features:  # features of every block once, kept
        F1s = jax.lax.map(lambda xb: block.features(xb, 1), B1)
        F2s = F1s if same else jax.lax.map(lambda xb: block.features(xb, 2), B2)
        if not block.contract_whole:
            Ks = jax.lax.map(lambda F1: jax.lax.map(lambda F2: block.contract(F1, F2), F2s), F1s)
        else:
            # the Jacobian contractions (no intermediate beyond K) of all the kept features
            # at once: on block pairs they make many small, memory-bound matmuls, several
            # times slower than the Gram ones or the backward passes of "structured" (XLA
            # adds a copy of the features of x2 in its matmul layout)
            flat = functools.partial(jax.tree.map, lambda a: a.reshape(-1, *a.shape[2:]))
            whole = block.contract(flat(F1s), flat(F2s), gram=False)
            if not block.gram_layers:
                return [K[:n1, :n2] for K in whole]
            Ks = jax.lax.map(  # the Gram contractions (pairwise intermediates) by block pairs
                lambda F1: jax.lax.map(lambda F2: block.contract(F1, F2, jac=False), F2s), F1s
            )
            return [
                (jnp.swapaxes(K, 1, 2).reshape(W.shape) + W)[:n1, :n2]
                for K, W in zip(Ks, whole, strict=True)
            ]
    else:  # features too large to keep: each x2 block's once, x1 blocks' recomputed per pair

        def column(xb2):
            F2 = block.features(xb2, 2)
            return jax.lax.map(lambda xb1: block.contract(block.features(xb1, 1), F2), B1)

        Ks = [jnp.swapaxes(K, 0, 1) for K in jax.lax.map(column, B2)]
    # each (blocks1, blocks2, c1, c2, ...)
    return [
        jnp.swapaxes(K, 1, 2).reshape(K.shape[0] * c1, K.shape[1] * c2, *K.shape[4:])[:n1, :n2]
        for K in Ks
    ]


def _chunks(X: jax.Array, size: int) -> jax.Array:
    """``(n, ...) -> (ceil(n / size), size, ...)``, padding with copies of the last sample."""
    pad = -X.shape[0] % size
    if pad:
        X = jnp.concatenate([X, jnp.repeat(X[-1:], pad, axis=0)])
    return X.reshape(-1, size, *X.shape[1:])


def _finish(K: jax.Array, spec1: _OutLeaf, spec2: _OutLeaf, whole: bool) -> jax.Array:
    """``(n1, n2, d, f, h)`` -> neural-tangents' layout, averaged over the traced axes."""
    K = K / math.prod(spec1.t_shape)
    K = K.reshape(*K.shape[:2], *spec1.d_shape, *spec1.f_shape, *spec2.f_shape)
    K = jnp.transpose(K, spec1.layout)
    return K[0, 0] if whole else K


# --------------------------------------------------------------------------------------------
# Options, inputs and outputs.


def _out_leaves(shapes, out_axis, opts: _Options, name: str) -> list[_OutLeaf]:
    """Split every output leaf's per-sample axes into traced, diagonal and full ones."""
    specs = []
    for shape in shapes:
        ndim = len(shape) + (out_axis is not None)
        sample_axis = None if out_axis is None else out_axis % ndim
        axes = {}
        for option in ("trace_axes", "diagonal_axes"):
            resolved = []
            for a in getattr(opts, option):
                if not -ndim <= a < ndim:
                    raise ValueError(
                        f"{option} {getattr(opts, option)} out of range for {name} with {ndim} axes"
                    )
                a %= ndim
                if a == sample_axis:
                    if len(shape) == 0:
                        continue
                    raise ValueError(
                        f"{option} must not name the sample axis {a} of {name} (vmap_axes)"
                    )
                resolved.append(a)
            axes[option] = sorted(set(resolved))
        full_axes = [a for a in range(ndim) if a != sample_axis]

        def per(a, s=sample_axis):  # full output axis -> per-sample axis
            return a if s is None or a < s else a - 1

        traced = [per(a) for a in axes["trace_axes"]]
        diag = [per(a) for a in axes["diagonal_axes"]]
        full = [per(a) for a in full_axes if a not in axes["trace_axes"] + axes["diagonal_axes"]]
        nd, nf = len(diag), len(full)
        layout: list[int] = []
        for a in range(ndim):
            if a == sample_axis:
                layout += [0, 1]
            elif per(a) in diag:
                layout.append(2 + diag.index(per(a)))
            elif per(a) in full:
                j = full.index(per(a))
                layout += [2 + nd + j, 2 + nd + nf + j]
        if sample_axis is None:
            layout = [0, 1, *layout]
        specs.append(
            _OutLeaf(
                perm=tuple(traced + diag + full),
                t_shape=tuple(shape[a] for a in traced),
                d_shape=tuple(shape[a] for a in diag),
                f_shape=tuple(shape[a] for a in full),
                layout=tuple(layout),
            )
        )
    return specs


def _per_sample_shapes(shape_tree, out_axis: int) -> tuple[list[tuple[int, ...]], Any]:
    leaves, treedef = jax.tree.flatten(shape_tree)
    shapes = []
    for leaf in leaves:
        shape = tuple(leaf.shape)
        if len(shape) < 1 or not -len(shape) <= out_axis < len(shape) or shape[out_axis] != 1:
            raise ValueError(
                "apply_fn must return one output row per sample along vmap_axes "
                f"(axis {out_axis}); for a batch of one sample it returned shape {shape}"
            )
        shapes.append(shape[: out_axis % len(shape)] + shape[out_axis % len(shape) + 1 :])
    return shapes, treedef


def _refuse_batch_stats(out: Any) -> None:
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], Mapping):
        if "batch_stats" in out[1]:
            raise ValueError(
                "apply_fn returns updated 'batch_stats' (a BatchNorm in training mode): the "
                "per-sample NTK is undefined; apply the model with use_running_average=True "
                "(or train=False) and without mutable=['batch_stats']"
            )


def _split_params(params: Any, differentiate) -> tuple[Any, Callable[[Any], Any]]:
    """``(differentiated part, rebuild)`` with ``rebuild(diff)`` the full ``params`` again
    (``rebuild(None)`` the fixed rest, as a pytree)."""
    if differentiate is None or not isinstance(params, Mapping):
        return params, lambda d, r=None: params if d is None else d
    names = (differentiate,) if isinstance(differentiate, str) else differentiate
    if not all(name in params for name in names):
        if any(name in params for name in names):
            missing = [name for name in names if name not in params]
            raise ValueError(f"differentiate names collections {missing} that params lacks")
        return params, lambda d, r=None: params if d is None else d
    diff = {name: params[name] for name in names}
    rest = {key: value for key, value in params.items() if key not in names}

    def rebuild(d, r=None):
        if d is None:
            return rest
        r = rest if r is None else r
        if isinstance(differentiate, str):
            return {**r, differentiate: d[differentiate]}
        return {**r, **d}

    return diff, rebuild


def _check_inputs(
    x1: ArrayLike, x2: ArrayLike, opts: _Options, names: tuple[str, str] = ("x1", "x2")
) -> tuple[jax.Array, jax.Array | None]:
    x1 = _check_samples(x1, names[0], opts.in_axis)
    if x2 is not None:
        x2 = _check_samples(x2, names[1], opts.in_axis)
        if opts.in_axis is not None:
            s1 = np.delete(np.array(x1.shape), opts.in_axis % x1.ndim)
            s2 = np.delete(np.array(x2.shape), opts.in_axis % x2.ndim)
            if x1.ndim != x2.ndim or tuple(s1) != tuple(s2):
                raise ValueError(
                    f"{names[0]} and {names[1]} must share the per-sample shape; got "
                    f"{tuple(s1.tolist())} and {tuple(s2.tolist())}"
                )
        if x1.dtype != x2.dtype:
            x2 = x2.astype(jnp.result_type(x1, x2))
            x1 = x1.astype(x2.dtype)
    return x1, x2


def _check_samples(X: ArrayLike, name: str, axis: int | None) -> jax.Array:
    if isinstance(X, Mapping | list | tuple):
        raise TypeError(f"{name} must be an array of samples; got {type(X).__name__}")
    X = jnp.asarray(X)
    if axis is not None and (X.ndim < 1 or not -X.ndim <= axis < X.ndim or X.shape[axis] < 1):
        raise ValueError(
            f"{name} must have shape (n, ...) with n >= 1 samples on axis {axis}; got {X.shape}"
        )
    check_finite(X, name)
    return X


def _check_axes(axes: Any, name: str) -> tuple[int, ...]:
    if isinstance(axes, int | np.integer) and not isinstance(axes, bool):
        axes = (axes,)
    try:
        out = tuple(axes)
    except TypeError:
        out = None
    if out is None or not all(
        isinstance(a, int | np.integer) and not isinstance(a, bool) for a in out
    ):
        raise TypeError(f"{name} must be an int or a sequence of ints; got {axes!r}")
    if len(set(int(a) for a in out)) != len(out):
        raise ValueError(f"{name} must not repeat an axis; got {out}")
    return tuple(int(a) for a in out)


def _check_vmap_axes(vmap_axes: Any) -> dict[str, int | None]:
    if vmap_axes is None:
        return {"in_axis": None, "out_axis": None}
    pair = (vmap_axes, vmap_axes) if not isinstance(vmap_axes, tuple | list) else tuple(vmap_axes)
    if len(pair) != 2 or not all(
        isinstance(a, int | np.integer) and not isinstance(a, bool) for a in pair
    ):
        raise TypeError(
            f"vmap_axes must be an int, an (in_axis, out_axis) pair or None; got {vmap_axes!r}"
        )
    return {"in_axis": int(pair[0]), "out_axis": int(pair[1])}


def _check_implementation(implementation: Any) -> str:
    check_choice(implementation, "implementation", IMPLEMENTATIONS)
    return implementation


def _check_chunk_size(chunk_size: Any) -> int | None:
    if chunk_size is None:
        return None
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, int | np.integer)
        or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be a positive integer or None; got {chunk_size!r}")
    return int(chunk_size)


def _check_differentiate(differentiate: Any) -> str | tuple[str, ...] | None:
    if differentiate is None or isinstance(differentiate, str):
        return differentiate
    try:
        names = tuple(differentiate)
    except TypeError:
        names = None
    if not names or not all(isinstance(name, str) for name in names):
        raise TypeError(
            f"differentiate must be a collection name, a sequence of names or None; got "
            f"{differentiate!r}"
        )
    return names
