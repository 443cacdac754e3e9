"""Find the layers of a traced model and re-run it with probes on their outputs.

The structured empirical NTK (:mod:`rmtjax.nets.empirical_ntk`) needs, for every parameter
leaf ``W`` that enters the model only through one bilinear layer ``y = B(x_in, W)`` —
``dot_general`` (dense), ``conv_general_dilated`` (convolution) or an embedding ``gather`` —
the layer input ``x_in`` and the output cotangents ``Δ = ∂f/∂y``. This module reads the
``jax.make_jaxpr`` trace of the per-sample model with public ``jax.extend.core`` types only:

- :func:`analyze` follows each leaf through layout-only ops (reshape, transpose, squeeze,
  expand_dims, element-type conversion, size-1 broadcasts) and through nested
  ``jit``/``closed_call``/``custom_jvp_call``/``custom_vjp_call``/``remat`` sub-jaxprs; a leaf
  consumed by exactly one such layer (and nothing else) becomes a :class:`Layer`, every other
  leaf is left to its Jacobian. Element-wise scale and bias leaves are reported as such.
- :func:`evaluate` re-evaluates the jaxpr, adding a zero ``probe`` to each layer's output and
  recording its ``x_in``, so ``jax.vjp`` with respect to the probes gives the ``Δ``. Its
  convolutions (one feature group) carry a JVP whose transposes are convolutions in XLA's
  canonical CPU layout (:func:`_conv`): the same values, but fast inside the ``lax.map`` of
  the chunked NTK.

Reference: Novak, Sohl-Dickstein, Schoenholz, "Fast Finite Width Neural Tangent Kernel",
ICML 2022 (structured derivatives, Section 3.3).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.extend.core as jex
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

__all__ = ["Layer", "Plan", "analyze", "evaluate", "forward_flops"]

_VIEWS = frozenset(
    {"reshape", "transpose", "squeeze", "expand_dims", "convert_element_type", "copy", "copy_p"}
)
_CALLS = frozenset(
    {"jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call"}
    | {"checkpoint", "remat", "remat2"}
)
_ELEMENTWISE = frozenset({"mul", "add", "sub", "add_any"})


@dataclasses.dataclass(frozen=True)
class Layer:
    """One structured layer ``y = B(x_in, W)`` of a parameter leaf.

    Attributes:
      leaf: index of ``W`` among the differentiated parameter leaves.
      kind: ``"dense"`` (``dot_general``), ``"conv"`` (``conv_general_dilated``) or
        ``"embed"`` (``gather`` of rows of ``W``).
      eqn: the jaxpr equation (its params describe the contraction).
      w_operand: which operand of ``eqn`` is ``W`` (0 or 1).
    """

    leaf: int
    kind: str
    eqn: Any
    w_operand: int


@dataclasses.dataclass
class Plan:
    """Where the probes go: ``layers[i]`` is the layer id of equation ``i`` of this jaxpr;
    ``calls[i]`` the plan of the sub-jaxpr of call equation ``i`` (evaluated inline)."""

    layers: dict[int, int] = dataclasses.field(default_factory=dict)
    calls: dict[int, Plan] = dataclasses.field(default_factory=dict)


def analyze(closed: jex.ClosedJaxpr, n_leaves: int) -> tuple[Plan, list[Layer], dict[int, str]]:
    """Find the structured layers of ``closed`` whose first ``n_leaves`` inputs are parameters.

    Returns:
      ``(plan, layers, roles)``: the probe plan, the layers (layer id = position), and for
      every leaf index its role: ``"dense"``, ``"conv"``, ``"embed"``, ``"elementwise"``
      (scale or bias: its Jacobian comes from the same backward pass) or ``"jacobian"``.
    """
    origin = {v: i for i, v in enumerate(closed.jaxpr.invars[:n_leaves])}
    uses: dict[int, list[tuple[Plan, int, Layer | None, str]]] = {i: [] for i in range(n_leaves)}
    top = Plan()
    _scan(closed.jaxpr, origin, top, uses)
    for v in closed.jaxpr.outvars:
        if isinstance(v, jex.Var) and v in origin:
            uses[origin[v]].append((top, -1, None, "jacobian"))
    layers: list[Layer] = []
    roles: dict[int, str] = {}
    for leaf in range(n_leaves):
        found = uses[leaf]
        if len(found) == 1 and found[0][2] is not None:
            plan, index, layer, _ = found[0]
            plan.layers[index] = len(layers)
            layers.append(layer)
            roles[leaf] = layer.kind
        elif found and all(kind == "elementwise" for *_, kind in found):
            roles[leaf] = "elementwise"
        else:
            roles[leaf] = "jacobian"
    _prune(top)
    return top, layers, roles


def _scan(jaxpr: jex.Jaxpr, origin: dict, plan: Plan, uses: dict) -> None:
    """Record every consumer of a parameter view in ``jaxpr`` (recursing into calls)."""
    for i, eqn in enumerate(jaxpr.eqns):
        ins = [origin.get(v) if isinstance(v, jex.Var) else None for v in eqn.invars]
        if all(leaf is None for leaf in ins):
            continue
        if _is_view(eqn):
            origin[eqn.outvars[0]] = ins[0]
            continue
        sub = _call_jaxpr(eqn)
        if sub is not None and len(sub[0].invars) == len(ins):
            inner = {
                v: leaf for v, leaf in zip(sub[0].invars, ins, strict=True) if leaf is not None
            }
            plan.calls[i] = Plan()
            _scan(sub[0], inner, plan.calls[i], uses)
            for out, sub_out in zip(eqn.outvars, sub[0].outvars, strict=True):
                if isinstance(sub_out, jex.Var) and sub_out in inner:
                    origin[out] = inner[sub_out]
            continue
        for operand, leaf in enumerate(ins):
            if leaf is not None:
                layer = _match(eqn, ins, operand, leaf)
                kind = "elementwise" if eqn.primitive.name in _ELEMENTWISE else "jacobian"
                uses[leaf].append((plan, i, layer, layer.kind if layer else kind))


def _prune(plan: Plan) -> bool:
    """Drop call plans without layers (those calls are bound as they are); True if any left."""
    plan.calls = {i: sub for i, sub in plan.calls.items() if _prune(sub)}
    return bool(plan.layers or plan.calls)


def _is_view(eqn: jex.JaxprEqn) -> bool:
    """A single-input op that only relabels entries (a bijection onto its output)."""
    name = eqn.primitive.name
    if len(eqn.invars) != 1 or len(eqn.outvars) != 1:
        return False
    if name in _VIEWS:
        return True
    if name == "broadcast_in_dim":
        return math.prod(eqn.invars[0].aval.shape) == math.prod(eqn.outvars[0].aval.shape)
    return False


def _call_jaxpr(eqn: jex.JaxprEqn) -> tuple[jex.Jaxpr, Sequence[Any]] | None:
    """``(jaxpr, consts)`` of a call-like equation evaluated inline, else ``None``."""
    if eqn.primitive.name not in _CALLS:
        return None
    sub = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
    if isinstance(sub, jex.ClosedJaxpr):
        return sub.jaxpr, sub.consts
    if isinstance(sub, jex.Jaxpr):
        return sub, ()
    return None


def _match(eqn: jex.JaxprEqn, ins: list, operand: int, leaf: int) -> Layer | None:
    """The :class:`Layer` if ``eqn`` is bilinear in the leaf view at ``operand``."""
    other = [x for j, x in enumerate(ins) if j != operand]
    if any(x is not None for x in other):
        return None
    name = eqn.primitive.name
    if name == "dot_general":
        (_, _), (lb, rb) = eqn.params["dimension_numbers"]
        if not (lb or rb):
            return Layer(leaf, "dense", eqn, operand)
    elif name == "conv_general_dilated":
        if operand == 1 and eqn.params["batch_group_count"] == 1:
            return Layer(leaf, "conv", eqn, operand)
    elif name == "gather" and operand == 0 and _is_row_lookup(eqn):
        return Layer(leaf, "embed", eqn, operand)
    return None


def _is_row_lookup(eqn: jex.JaxprEqn) -> bool:
    """``gather`` of whole rows ``W[idx]`` (``jnp.take(W, idx, axis=0)``, ``W[idx]``)."""
    dn = eqn.params["dimension_numbers"]
    shape = eqn.invars[0].aval.shape
    out_ndim = len(eqn.outvars[0].aval.shape)
    return (
        tuple(dn.collapsed_slice_dims) == (0,)
        and tuple(dn.start_index_map) == (0,)
        and not dn.operand_batching_dims
        and tuple(eqn.params["slice_sizes"]) == (1, *shape[1:])
        and tuple(dn.offset_dims) == tuple(range(out_ndim - len(shape) + 1, out_ndim))
        and eqn.invars[1].aval.shape[-1:] == (1,)
    )


def evaluate(
    closed: jex.ClosedJaxpr, plan: Plan, args: Sequence[Any], probes: Sequence[jax.Array]
) -> tuple[list[Any], dict[int, list[Any]]]:
    """Evaluate ``closed`` on ``args``, adding ``probes[id]`` to the output of layer ``id``.

    Returns:
      ``(outputs, recorded)`` with ``recorded[id]`` the operands of layer ``id``'s equation
      (the parameter operand included; it is not differentiated through here).
    """
    recorded: dict[int, list[Any]] = {}
    outs = _eval(closed.jaxpr, closed.consts, list(args), plan, probes, recorded)
    return outs, recorded


def _eval(jaxpr, consts, args, plan, probes, recorded):
    env: dict[Any, Any] = {}

    def read(v):
        return v.val if isinstance(v, jex.Literal) else env[v]

    for v, x in zip(jaxpr.constvars, consts, strict=True):
        env[v] = x
    for v, x in zip(jaxpr.invars, args, strict=True):
        env[v] = x
    for i, eqn in enumerate(jaxpr.eqns):
        invals = [read(v) for v in eqn.invars]
        if i in plan.calls:
            sub, sub_consts = _call_jaxpr(eqn)
            outs = _eval(sub, sub_consts, invals, plan.calls[i], probes, recorded)
        elif _is_plain_call(eqn) and _has_conv(_call_jaxpr(eqn)[0]):
            sub, sub_consts = _call_jaxpr(eqn)  # inline: its convolutions replaced below
            outs = _eval(sub, sub_consts, invals, Plan(), probes, recorded)
        else:
            params = eqn.primitive.get_bind_params(eqn.params)
            subfuns, params = params if isinstance(params, tuple) else ((), params)
            if _canonical_transposes(eqn, invals):
                outs = _conv(eqn.primitive, params)(*invals)
            else:
                outs = eqn.primitive.bind(*subfuns, *invals, **params)
            outs = outs if eqn.primitive.multiple_results else [outs]
            if i in plan.layers:
                recorded[plan.layers[i]] = invals
                outs = [outs[0] + probes[plan.layers[i]]]
        for v, x in zip(eqn.outvars, outs, strict=True):
            if not isinstance(v, jex.DropVar):
                env[v] = x
    return [read(v) for v in jaxpr.outvars]


_PLAIN_CALLS = frozenset({"jit", "pjit", "closed_call", "core_call"})


def _is_plain_call(eqn: jex.JaxprEqn) -> bool:
    """A call without custom derivatives or rematerialization: inlining it changes nothing."""
    return eqn.primitive.name in _PLAIN_CALLS and _call_jaxpr(eqn) is not None


def _has_conv(jaxpr: jex.Jaxpr) -> bool:
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "conv_general_dilated":
            return True
        if _is_plain_call(eqn) and _has_conv(_call_jaxpr(eqn)[0]):
            return True
    return False


# ---- convolutions whose derivatives XLA's CPU backend runs fast inside loops ---------------
#
# XLA's CPU backend runs a convolution with Eigen only in its canonical layout (lhs NHWC, rhs
# HWIO, output NHWC, no window reversal); it rewrites other convolutions into that layout only
# in the top-level computation (ConvCanonicalization), so inside a ``lax.map`` (the chunked
# NTK) the transposed convolutions of JAX's derivative rules run on a generic loop, 4-12x
# slower. :func:`_conv` is the same convolution with its tangent maps written in layouts whose
# transposes (what ``jax.vjp`` evaluates) are canonical.


def _canonical_transposes(eqn: jex.JaxprEqn, invals: Sequence[Any]) -> bool:
    if eqn.primitive.name != "conv_general_dilated":
        return False
    p = eqn.params
    return (
        p["feature_group_count"] == 1
        and p["batch_group_count"] == 1
        and all(np.issubdtype(np.dtype(x.dtype), np.inexact) for x in invals)
    )


def _conv(primitive, params):
    """``primitive.bind(x, W, **params)`` with a custom JVP (see above)."""
    dn = params["dimension_numbers"]
    lhs_spec, rhs_spec, out_spec = dn.lhs_spec, dn.rhs_spec, dn.out_spec
    nd = len(lhs_spec) - 2
    s = tuple(range(1, nd + 1))
    to_nhwc = (lhs_spec[0], *lhs_spec[2:], lhs_spec[1])  # x -> (N, spatial, C)
    to_hwio = (*rhs_spec[2:], rhs_spec[1], rhs_spec[0])  # W -> (spatial, I, O)
    from_nhwc = tuple(np.argsort((out_spec[0], *out_spec[2:], out_spec[1])))
    kwargs = {
        k: params[k]
        for k in ("window_strides", "padding", "lhs_dilation", "rhs_dilation", "precision")
    }
    kwargs["preferred_element_type"] = params["preferred_element_type"]
    nhwc = (0, nd + 1, *s)

    def d_lhs(tx, W):  # conv(tx, W) with W as (spatial, O, I): its transpose takes W as HWIO
        W_l = jnp.transpose(W, to_hwio)
        W_oi = jnp.swapaxes(W_l, nd, nd + 1)
        y = jax.lax.conv_general_dilated(
            jnp.transpose(tx, to_nhwc),
            W_oi,
            dimension_numbers=jax.lax.ConvDimensionNumbers(nhwc, (nd, nd + 1, *range(nd)), nhwc),
            **kwargs,
        )
        return jnp.transpose(y, from_nhwc)

    def d_rhs(x, tW):  # conv(x, tW) with x as (C, spatial, N), tW as (I, spatial, O), y as
        # (spatial, N, O): its transpose is (N, spatial, C) x (spatial, I, O) -> (I, spatial, O)
        x_l = jnp.transpose(jnp.transpose(x, to_nhwc), (nd + 1, *s, 0))
        tW_l = jnp.transpose(jnp.transpose(tW, to_hwio), (nd, *range(nd), nd + 1))
        spec = (nd + 1, 0, *s)
        y = jax.lax.conv_general_dilated(
            x_l,
            tW_l,
            dimension_numbers=jax.lax.ConvDimensionNumbers(spec, spec, (nd, nd + 1, *range(nd))),
            **kwargs,
        )
        y = jnp.transpose(y, (nd, *range(nd), nd + 1))  # (N, spatial, O)
        return jnp.transpose(y, from_nhwc)

    @jax.custom_jvp
    def conv(x, W):
        return primitive.bind(x, W, **params)

    def jvp(primals, tangents):
        (x, W), (tx, tW) = primals, tangents
        y = primitive.bind(x, W, **params)
        parts = []
        if not isinstance(tx, SymbolicZero):
            parts.append(d_lhs(tx, W))
        if not isinstance(tW, SymbolicZero):
            parts.append(d_rhs(x, tW))
        if not parts:
            return y, jnp.zeros_like(y)
        return y, parts[0] if len(parts) == 1 else parts[0] + parts[1]

    conv.defjvp(jvp, symbolic_zeros=True)
    return conv


def forward_flops(jaxpr: jex.Jaxpr) -> tuple[float, float]:
    """``(total, conv)`` flops of ``jaxpr`` (recursive): multiply-adds ×2 of the dot_general
    and conv equations, one flop per output entry of every other equation; ``conv`` is the
    convolutions' share. The cost model of ``"auto"``."""
    total = conv = 0.0
    for eqn in jaxpr.eqns:
        out = sum(math.prod(v.aval.shape) for v in eqn.outvars if hasattr(v.aval, "shape"))
        name = eqn.primitive.name
        sub = _call_jaxpr(eqn)
        if sub is not None:
            inner = forward_flops(sub[0])
            total, conv = total + inner[0], conv + inner[1]
        elif name == "dot_general":
            (lc, _), _ = eqn.params["dimension_numbers"]
            shape = eqn.invars[0].aval.shape
            total += 2.0 * out * math.prod(shape[d] for d in lc)
        elif name == "conv_general_dilated":
            rhs = eqn.invars[1].aval.shape
            out_features = rhs[eqn.params["dimension_numbers"].rhs_spec[0]]
            flops = 2.0 * out * math.prod(rhs) / max(out_features, 1)
            total, conv = total + flops, conv + flops
        else:
            total += float(out)
    return total, conv


def leaf_sizes(closed: jex.ClosedJaxpr, n_leaves: int) -> list[int]:
    """Entry counts of the first ``n_leaves`` inputs."""
    return [int(np.prod(v.aval.shape)) for v in closed.jaxpr.invars[:n_leaves]]
