"""The fully connected network of Fan and Wang: parameters, initialization, forward pass.

``X_0 = X`` (rows = samples, ``(n, d_0)``), ``H_l = X_{l-1} W_lᵀ``,
``X_l = σ(H_l) / sqrt(d_l)`` for ``l = 1..L``, and ``f(x) = wᵀ x_L``, with ``W_l`` of shape
``(d_l, d_{l-1})`` and ``w`` of shape ``(d_L,)``, all entries N(0, 1) at initialization.
Optionally (``bias=True``; the Fan–Wang network has none) ``H_l = X_{l-1} W_lᵀ + b_l`` and
``f(x) = wᵀ x_L + c`` with N(0, 1) biases ``b_l`` (``(d_l,)``) and ``c`` (scalar).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtjax._checks import check_data_matrix
from rmtjax.activations import Activation, get_activation

__all__ = ["MLPParams", "forward", "init_mlp", "layer_outputs"]


class MLPParams(NamedTuple):
    """Weights ``θ = (W_1, …, W_L, w)`` of an ``L``-layer network (a pytree).

    Attributes:
      hidden: list of ``W_l``, ``l = 1..L``; ``hidden[l]`` has shape ``(d_{l+1}, d_l)``.
      readout: ``w``, shape ``(d_L,)``.
      bias: ``None`` (no biases, the default) or ``[b_1, …, b_L, c]`` with ``b_l`` of shape
        ``(d_l,)`` and the readout bias ``c`` of shape ``()``.

    A batch of ``B`` independent networks stacks every leaf on a leading axis
    (``(B, d_{l+1}, d_l)`` and ``(B, d_L)``), e.g. ``jax.vmap(init_mlp, (0, None))``.
    """

    hidden: list[jax.Array]
    readout: jax.Array
    bias: list[jax.Array] | None = None


def init_mlp(
    key: jax.Array, widths: Sequence[int], dtype: Any = None, bias: bool = False
) -> MLPParams:
    """Draw ``W_l`` (``(d_l, d_{l-1})``) and ``w`` (``(d_L,)``) with i.i.d. N(0, 1) entries.

    Args:
      key: a ``jax.random`` key.
      widths: ``(d_0, d_1, …, d_L)``, ``L >= 1`` positive integers.
      dtype: floating dtype (default: JAX's default float).
      bias: also draw N(0, 1) biases ``b_l`` and ``c`` (default ``False``, as Fan–Wang).

    Returns:
      :class:`MLPParams`.

    References:
      Fan and Wang (NeurIPS 2020), Section 2 (network model, Assumption 3.1).

    Examples:
      >>> params = init_mlp(jax.random.key(0), (10, 20, 30))
      >>> [W.shape for W in params.hidden], params.readout.shape
      ([(20, 10), (30, 20)], (30,))
    """
    dtype = jnp.dtype(dtype or jnp.result_type(float))
    return _init_mlp(key, _check_widths(widths), dtype, bool(bias))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _init_mlp(key: jax.Array, widths: tuple[int, ...], dtype: Any, bias: bool) -> MLPParams:
    """One normal draw of all ``P = Σ d_l d_{l-1} + d_L`` weights (and the biases after them,
    so a network's weights do not depend on ``bias``), cut into the layers."""
    L = len(widths) - 1
    shapes = [(d_out, d_in) for d_in, d_out in itertools.pairwise(widths)] + [(widths[-1],)]
    if bias:
        shapes += [(d,) for d in widths[1:]] + [()]
    sizes = [math.prod(shape) for shape in shapes]
    flat = jax.random.normal(key, (sum(sizes),), dtype)
    pieces = jnp.split(flat, np.cumsum(sizes)[:-1].tolist())
    leaves = [piece.reshape(shape) for piece, shape in zip(pieces, shapes, strict=True)]
    return MLPParams(leaves[:L], leaves[L], leaves[L + 1 :] if bias else None)


def layer_outputs(
    params: MLPParams, X: jax.Array, activation: str | Activation = "arctan"
) -> list[jax.Array]:
    """Post-activations ``[X_0, …, X_L]`` with ``X_l = σ(X_{l-1} W_lᵀ) / sqrt(d_l)``.

    With the inputs normalized so that ``||x_α|| ≈ 1`` and σ standardized, every ``X_l`` has
    rows of norm ≈ 1, and ``X_l X_lᵀ`` is the Gram matrix whose spectrum the Fan–Wang theorem
    describes.

    Args:
      params: :class:`MLPParams`, optionally with leading batch dims ``B...`` on every leaf.
      X: inputs ``(..., n, d_0)``, rows = samples; leading dims must equal the params' batch
        dims, or one of the two must have none.
      activation: preset name or :class:`Activation`.

    Returns:
      List of ``L + 1`` arrays, ``X_l`` of shape ``(batch..., n, d_l)``.

    References:
      Fan and Wang (NeurIPS 2020), Eq. (2.1).

    Examples:
      >>> params = init_mlp(jax.random.key(0), (4, 8, 6))
      >>> [x.shape for x in layer_outputs(params, jnp.ones((3, 4)) / 2, "relu")]
      [(3, 4), (3, 8), (3, 6)]
    """
    return _batched(_layers, params, X, get_activation(activation))


def forward(params: MLPParams, X: jax.Array, activation: str | Activation = "arctan") -> jax.Array:
    """Network output ``f(x_α) = wᵀ x_{L,α}`` for every row, i.e. ``X_L w``.

    Args:
      params: :class:`MLPParams` (optionally batched, see :func:`layer_outputs`).
      X: inputs ``(..., n, d_0)``.
      activation: preset name or :class:`Activation`.

    Returns:
      ``(batch..., n)``.

    Examples:
      >>> params = init_mlp(jax.random.key(0), (4, 8, 8))
      >>> forward(params, jnp.ones((3, 4)) / 2).shape
      (3,)
    """
    return _batched(_output, params, X, get_activation(activation))


def _forward(
    params: MLPParams, X: jax.Array, act: Activation, depth: int | None = None
) -> tuple[list[jax.Array], list[jax.Array]]:
    """Unbatched forward pass through the first ``depth`` (default all) layers:
    ``([X_0, …, X_depth], [H_1, …, H_depth])``."""
    xs, hs = [X], []
    for l, W in enumerate(params.hidden[:depth]):
        hs.append(xs[-1] @ W.T + (0 if params.bias is None else params.bias[l]))
        xs.append(_sigma(act, hs[-1]) / jnp.sqrt(jnp.asarray(W.shape[0], hs[-1].dtype)))
    return xs, hs


def _sigma(act: Activation, x: jax.Array) -> jax.Array:
    """``act(x)`` with its standardization constants (``E g``, ``sd g``) as literals.

    ``act`` computes its constants by quadrature on every call; traced, that is a constant
    subgraph per call, which XLA folds only after its algebraic simplifier has rewritten the
    divisions around it (``A / sqrt(B) -> A * rsqrt(B)``, ``(A / B) / C -> A / (B * C)``, not
    bit-preserving). Which rewrite fires depends on the graph it sees, and with 2+ devices the
    SPMD pipeline's CSE merges the copies first: the structured NTK's ``σ'`` became
    ``1/(1+h²) * 1.4912076`` on one device and ``1/((1+h²) * 0.670597434)`` on two (float32
    eigenvalues moved by 7e-6). Evaluated here, the constants enter every program as literals.
    Only the 128-node quadrature runs eagerly (``x`` stays traced).
    """
    with jax.ensure_compile_time_eval():
        return act(x)


def _sigma_prime(act: Activation, x: jax.Array) -> jax.Array:
    """``act.derivative(x) = g'(x) / sd g`` with ``sd g`` a literal: the tangent of
    :func:`_sigma` (the tangent ``ones`` is built outside the eager scope, so no ``x``-sized
    array becomes a constant)."""
    return jax.jvp(functools.partial(_sigma, act), (x,), (jnp.ones_like(x),))[1]


def _layers(params: MLPParams, X: jax.Array, act: Activation) -> list[jax.Array]:
    return _forward(params, X, act)[0]


def _output(params: MLPParams, X: jax.Array, act: Activation) -> jax.Array:
    out = _forward(params, X, act)[0][-1] @ params.readout
    return out if params.bias is None else out + params.bias[-1]


def _check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    """``widths`` as a tuple of ints; strings and non-integral entries (``5.7``) are refused."""
    sequence = isinstance(widths, Sequence | np.ndarray) and not isinstance(widths, str)
    if not sequence or not all(
        isinstance(d, int | np.integer) and not isinstance(d, bool) for d in widths
    ):
        raise TypeError(f"widths must be a sequence of integers (d_0, ..., d_L); got {widths!r}")
    widths = tuple(int(d) for d in widths)
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths must be (d_0, ..., d_L), L >= 1, all d_l >= 1; got {widths}")
    return widths


def _check_params(params: MLPParams, name: str = "params") -> tuple[int, ...]:
    """Validate the layer shapes; return the batch shape shared by all leaves."""
    if not isinstance(params, MLPParams):
        raise TypeError(f"{name} must be an MLPParams; got {type(params).__name__}")
    if len(params.hidden) < 1:
        raise ValueError(f"{name}.hidden must hold at least one layer")
    readout = np.shape(params.readout)
    if len(readout) < 1:
        raise ValueError(f"{name}.readout must have shape (..., d_L); got {readout}")
    batch = readout[:-1]
    d_prev = None
    for l, W in enumerate(params.hidden):
        shape = np.shape(W)
        if len(shape) != len(batch) + 2 or shape[: len(batch)] != batch:
            raise ValueError(
                f"{name}.hidden[{l}] must have shape {(*batch, 'd_out', 'd_in')}; got {shape}"
            )
        if d_prev is not None and shape[-1] != d_prev:
            raise ValueError(
                f"{name}.hidden[{l}] takes inputs of width {shape[-1]} but layer {l - 1} outputs "
                f"width {d_prev}"
            )
        d_prev = shape[-2]
    if readout[-1] != d_prev:
        raise ValueError(f"{name}.readout has width {readout[-1]}; the last layer outputs {d_prev}")
    if params.bias is not None:
        expected = [(*batch, np.shape(W)[-2]) for W in params.hidden] + [batch]
        shapes = [np.shape(b) for b in params.bias]
        if shapes != expected:
            raise ValueError(f"{name}.bias must have shapes {expected} (b_1..b_L, c); got {shapes}")
    return batch


def _batched(
    fn: Callable[..., Any], params: MLPParams, X: ArrayLike, act: Activation, **static: Any
) -> Any:
    """Validate, then run ``fn(params, X, act, **static)`` jitted and vmapped over batch dims.

    ``fn`` is an unbatched module-level function (a stable jit cache key); ``static`` holds
    hashable options. The batch dims of ``params`` (leading dims of every leaf) and of ``X``
    (dims before ``(n, d_0)``) must be equal, or one of them empty (then it is shared).
    """
    p_batch = _check_params(params)
    X = check_data_matrix(X, d0=np.shape(params.hidden[0])[-1])
    x_batch = X.shape[:-2]
    if p_batch and x_batch and p_batch != x_batch:
        raise ValueError(
            f"batch dims of params {p_batch} and of X {x_batch} must match (or one be empty)"
        )
    axes = (0 if p_batch else None, 0 if x_batch else None)
    depth = max(len(p_batch), len(x_batch))
    return _vmapped(fn, axes, depth, tuple(sorted(static.items())), params, X, act)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _vmapped(fn, axes, depth, static, params, X, act):
    def call(p, x):
        return fn(p, x, act, **dict(static))

    for _ in range(depth):
        call = jax.vmap(call, in_axes=axes)
    return call(params, X)
