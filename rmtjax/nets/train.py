"""Training any Flax model with any optax optimizer while tracking its CK and NTK spectra.

The loss ``ℓ(θ)`` (squared error ``(1/2m) Σ_α ||f_θ(x_α) − y_α||²`` by default, softmax
cross-entropy, or a callable; ``m`` the batch size) is minimized by an optax optimizer; every
``track_every`` steps :mod:`rmtjax.nets.tracking` records the spectra, outliers, alignments
and ``R²`` on a fixed probe set. The steps between tracking points run in one ``lax.scan``
under ``jit``; the same key gives the same history, a saved state resumes it bitwise, and a
batch of keys trains independent networks at once under ``jax.vmap``. Training stops at the
first non-finite loss (:class:`NonFiniteLossError`, which keeps the history up to it).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from rmtjax._checks import check_choice, check_finite, check_positive
from rmtjax._linalg import eigvalsh_stacked
from rmtjax.nets.losses import check_labels, get_loss
from rmtjax.nets.models import Features, Model, as_model
from rmtjax.nets.tracking import TrackRecord, limit_bulk_edges, track_fn
from rmtjax.nets.train_config import TrainConfig, make_optimizer

__all__ = [
    "NonFiniteLossError",
    "TrainResult",
    "TrainState",
    "init_state",
    "state_from_bytes",
    "state_to_bytes",
    "train",
]


class TrainState(NamedTuple):
    """Everything needed to continue training (a pytree; batched states have a leading axis).

    Attributes:
      step: optimizer steps taken, int32 ``()``.
      params: the trained parameters (a Flax ``"params"`` collection, nnx ``Param`` state,
        or the pytree of an ``(apply_fn, params)`` pair).
      opt_state: the optax state.
      edges: ``(2,)`` edges ``(CK, NTK)`` that define outliers.
    """

    step: jax.Array
    params: Any
    opt_state: Any
    edges: jax.Array


class TrainResult(NamedTuple):
    """``state``: the final :class:`TrainState`; ``history``: a
    :class:`~rmtjax.nets.TrackRecord` stacked over the tracking points of this call (leading
    axis ``T``, then ``B`` for a batch of networks), or ``None`` when it emitted none."""

    state: TrainState
    history: TrackRecord | None


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or inf.

    Attributes:
      step: the step whose loss was not finite (steps taken before it).
      loss: that loss value.
      result: the :class:`TrainResult` up to the last tracking point before it.
    """

    def __init__(self, step: int, loss: float, result: TrainResult) -> None:
        last = "none" if result.history is None else int(np.max(result.history.step[-1]))
        super().__init__(
            f"training loss is not finite at step {step} (loss = {loss}); lower the learning "
            f"rate. The history up to step {last} is kept in .result"
        )
        self.step, self.loss, self.result = step, loss, result


def init_state(
    key: jax.Array,
    model: Any,
    X: jax.Array,
    config: TrainConfig,
    *,
    features: Features = None,
    bulk_edges: tuple[float, float] | None = None,
) -> TrainState:
    """The state at step 0: initial parameters, optimizer state and outlier edges.

    The parameters come from the first half of ``jax.random.split(key)`` (the second drives
    the minibatch order): :func:`~rmtjax.nets.init_mlp` for rmtjax's MLP, ``model.init``
    for a linen module; nnx modules and ``(apply_fn, params)`` pairs start from their own
    parameters. The edges: ``bulk_edges`` when given; else ``config.edge``: ``"initial"``,
    the largest eigenvalue of each kernel at initialization on the probe set (no outliers
    at step 0 by construction), or ``"limit"``, the Fan–Wang limit-law edges of
    :func:`~rmtjax.nets.limit_bulk_edges` (rmtjax's MLP only).

    Args:
      key: a ``jax.random`` key, or a ``(B,)`` batch of keys (one network each).
      model: what :func:`~rmtjax.nets.models.as_model` accepts.
      X: ``(n, ...)`` training inputs (their first ``probe_size`` rows are the probe set).
      config: a :class:`TrainConfig`.
      features: the CK feature selector of :func:`~rmtjax.nets.models.as_model`.
      bulk_edges: ``(ck_edge, ntk_edge)`` shared by every network, or ``None``.

    Returns:
      A :class:`TrainState` (leading axis ``B`` on every leaf for a batch of keys).
    """
    adapter = as_model(model, features)
    X = _check_inputs(X, "X")
    keys = _check_key(key)
    X_probe = X[: _probe_size(config, X.shape[0])]
    _output_shape(adapter, X_probe)
    if bulk_edges is None and config.edge == "limit":
        if adapter.mlp is None:
            raise ValueError('edge="limit" needs rmtjax.nets.MLP; use edge="initial"')
        bulk_edges = limit_bulk_edges(X_probe, adapter.mlp.widths, adapter.mlp.activation)
    if bulk_edges is not None:
        check_positive(jnp.asarray(bulk_edges), "bulk_edges")
        if np.shape(bulk_edges) != (2,):
            raise ValueError(f"bulk_edges must be a pair (ck_edge, ntk_edge); got {bulk_edges!r}")
    edges = None if bulk_edges is None else jnp.asarray(bulk_edges, X.dtype)
    programs = _programs(adapter, _program_key(config), bool(keys.ndim))
    return programs.init(keys, X_probe, edges)


def train(
    key: jax.Array,
    model: Any,
    X: jax.Array,
    y: jax.Array,
    config: TrainConfig,
    *,
    features: Features = None,
    target: jax.Array | None = None,
    X_test: jax.Array | None = None,
    y_test: jax.Array | None = None,
    state: TrainState | None = None,
    bulk_edges: tuple[float, float] | None = None,
    on_track: Callable[[TrackRecord], None] | None = None,
    on_checkpoint: Callable[[TrainState], None] | None = None,
    nonfinite: str = "raise",
) -> TrainResult:
    """Train ``model`` on ``(X, y)`` for ``config.steps`` steps, tracking CK/NTK spectra.

    The steps between tracking points (every ``track_every`` steps, plus step 0 and the
    last step) run as one jitted ``lax.scan``; at each tracking point a
    :class:`~rmtjax.nets.TrackRecord` is computed (see :mod:`rmtjax.nets.tracking`), handed
    to ``on_track`` and then the state to ``on_checkpoint`` (e.g. to write both to disk as
    they are produced). Passing a saved ``state`` (same ``key``, data and config) continues
    from ``state.step`` and reproduces the uninterrupted run bitwise; the tracking point at
    ``state.step`` itself is not repeated. With a ``(B,)`` batch of keys, ``B`` independent
    networks (own initialization and minibatch order, same data) train at once under
    ``jax.vmap``; every state and record leaf gains a leading axis ``B``.

    Args:
      key: a ``jax.random`` key or a ``(B,)`` batch of keys.
      model: rmtjax's :class:`~rmtjax.nets.MLP` (structured kernels), a Flax linen or nnx
        module, or an ``(apply_fn, params)`` pair (see :func:`~rmtjax.nets.models.as_model`).
      X: ``(n, ...)`` finite training inputs.
      y: labels: the outputs' shape ``(n,)`` or ``(n, c)`` for squared error, integer
        classes ``(n,)`` for ``loss="cross_entropy"``.
      config: a :class:`TrainConfig`.
      features: the CK feature selector (default: the last hidden layer).
      target: ``(n,)`` or ``(n, c)`` target direction for the eigenvector alignments
        (default: the label targets).
      X_test: optional held-out inputs.
      y_test: held-out labels (required with ``X_test``).
      state: a :class:`TrainState` to resume from (``None``: :func:`init_state`).
      bulk_edges: ``(ck_edge, ntk_edge)`` for a fresh state (see :func:`init_state`).
      on_track: called with each record as soon as it is computed.
      on_checkpoint: called with the :class:`TrainState` after each tracking point.
      nonfinite: ``"raise"``: stop at the first non-finite loss; ``"continue"``: train on
        (for sweeps where some networks of a batch diverge: their records turn NaN).

    Returns:
      :class:`TrainResult` ``(state, history)``.

    Raises:
      ValueError: inputs the model cannot take, labels of the wrong shape, NaN/inf in the
        data, ``batch_size``/``probe_size`` larger than ``n``, ``top_k`` larger than the
        probe set, a state past ``config.steps`` or of another model.
      NonFiniteLossError: the loss became NaN or inf (step, value and history in it).

    References:
      Fan and Wang (NeurIPS 2020), Section 4 (the CK and NTK develop outliers aligned with
      the labels); Wang, Engel, Sarwate, Dumitriu, Chiang, "Spectral evolution and invariance
      in linear-width neural networks", NeurIPS 2023.

    Examples:
      >>> from rmtjax.nets import MLP
      >>> X = jax.random.normal(jax.random.key(0), (32, 8)) / jnp.sqrt(8.0)
      >>> y = jnp.tanh(X @ jnp.ones(8))
      >>> result = train(jax.random.key(1), MLP((8, 16, 16)), X, y, TrainConfig(steps=20,
      ...     track_every=10, learning_rate=1e-2))
      >>> result.history.step.tolist()
      [0, 10, 20]
    """
    check_choice(nonfinite, "nonfinite", ("raise", "continue"))
    adapter = as_model(model, features)
    keys = _check_key(key)
    X, y, X_test, y_test, target = _check_data(adapter, config, X, y, X_test, y_test, target)
    if state is None:
        state = init_state(keys, adapter, X, config, bulk_edges=bulk_edges)
    start = _check_state(state, keys, config, adapter, X)
    programs = _programs(adapter, _program_key(config), bool(keys.ndim))
    n_p = _probe_size(config, X.shape[0])
    history: list[TrackRecord] = []
    points = sorted({0, *range(config.track_every, config.steps, config.track_every), config.steps})
    previous = start
    for point in points:
        if point < start or (point == start and start > 0):
            continue
        if point > previous:
            state, bad_step, bad_loss = programs.segment(state, keys, X, y, length=point - previous)
            if nonfinite == "raise":
                _raise_if_nonfinite(bad_step, bad_loss, state, history)
            previous = point
        record = programs.track(state, X, y, X_test, y_test, target, n_p=n_p)
        history.append(jax.tree.map(np.asarray, record))
        if on_track is not None:
            on_track(history[-1])
        if on_checkpoint is not None:
            on_checkpoint(state)
    return TrainResult(state, _stack(history))


def state_to_bytes(state: TrainState) -> bytes:
    """Serialize a :class:`TrainState` (``flax.serialization.to_bytes``, msgpack)."""
    return flax.serialization.to_bytes(state)


def state_from_bytes(template: TrainState, data: bytes) -> TrainState:
    """Restore a :class:`TrainState` written by :func:`state_to_bytes`.

    Args:
      template: a state of the same structure and shapes, e.g. from :func:`init_state`.
      data: the bytes.

    Returns:
      The restored :class:`TrainState`.
    """
    restored = flax.serialization.from_bytes(template, data)
    return jax.tree.map(jnp.asarray, restored)


# --- compiled programs --------------------------------------------------------------------


def _program_key(config: TrainConfig) -> TrainConfig:
    """``config`` with the fields that do not enter the compiled programs set to defaults
    (one compilation serves runs that differ only in length, tracking period or probe)."""
    steps = config.steps if config.schedule != "constant" else 1
    return dataclasses.replace(config, steps=steps, track_every=1, probe_size=None, edge="initial")


class _Programs(NamedTuple):
    init: Callable[..., TrainState]
    segment: Callable[..., tuple[TrainState, jax.Array, jax.Array]]
    track: Callable[..., TrackRecord]


@functools.lru_cache(maxsize=32)
def _programs(model: Model, config: TrainConfig, batched: bool) -> _Programs:
    """Jitted init / scan-of-steps / tracking for one model and config (vmapped over the
    leading key/state axis when ``batched``; the data are shared)."""
    optimizer = make_optimizer(config)
    loss = get_loss(config.loss)

    def loss_fn(params: Any, X: jax.Array, y: jax.Array) -> jax.Array:
        return loss(model.apply(params, X), y)

    def init(key: jax.Array, X_probe: jax.Array, edges: jax.Array | None) -> TrainState:
        params = model.init(jax.random.split(key)[0], X_probe)
        if edges is None:
            edges = eigvalsh_stacked(*model.kernels(params, X_probe))[:, -1]
        return TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params), edges)

    def segment(state: TrainState, key: jax.Array, X, y, length: int):
        """``length`` steps; also the first step with a non-finite loss (−1: none) and it."""
        data_key = jax.random.split(key)[1]

        def step(carry, _):
            params, opt_state, t, bad_step, bad_loss = carry
            Xb, yb = _minibatch(X, y, data_key, t, config.batch_size)
            value, grads = jax.value_and_grad(loss_fn)(params, Xb, yb)
            first = (bad_step < 0) & ~jnp.isfinite(value)
            bad_step, bad_loss = jnp.where(first, t, bad_step), jnp.where(first, value, bad_loss)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return (params, opt_state, t + 1, bad_step, bad_loss), None

        carry = (state.params, state.opt_state, state.step, jnp.int32(-1), jnp.zeros((), X.dtype))
        params, opt_state, t, bad_step, bad_loss = jax.lax.scan(step, carry, None, length=length)[0]
        return TrainState(t, params, opt_state, state.edges), bad_step, bad_loss

    def track(state: TrainState, X, y, X_test, y_test, target, n_p: int) -> TrackRecord:
        point = track_fn(model, config.loss, config.top_k, n_p)
        return point(state.step, state.params, X, y, X_test, y_test, state.edges, target)

    if batched:  # map the keys and states, share the data
        init, segment, track = (
            _map_leading(init, 1),
            _map_leading(segment, 2),
            _map_leading(track, 1),
        )
    return _Programs(
        init=jax.jit(init),
        segment=jax.jit(segment, static_argnames="length"),
        track=jax.jit(track, static_argnames="n_p"),
    )


def _map_leading(fn: Callable[..., Any], k: int) -> Callable[..., Any]:
    """``fn`` vmapped over the leading axis of its first ``k`` positional arguments only."""

    @functools.wraps(fn)
    def mapped(*args, **static):
        return jax.vmap(lambda *lead: fn(*lead, *args[k:], **static))(*args[:k])

    return mapped


def _minibatch(X, y, data_key, t, batch_size):
    """Batch ``t``: slice ``t mod E`` of the permutation of epoch ``t // E`` (``E = n // m``)."""
    if batch_size is None:
        return X, y
    n = X.shape[0]
    per_epoch = n // batch_size
    perm = jax.random.permutation(jax.random.fold_in(data_key, t // per_epoch), n)
    idx = jax.lax.dynamic_slice_in_dim(perm, (t % per_epoch) * batch_size, batch_size)
    return X[idx], y[idx]


def _stack(history: list[TrackRecord]) -> TrackRecord | None:
    return jax.tree.map(lambda *xs: np.stack(xs), *history) if history else None


def _raise_if_nonfinite(bad_step, bad_loss, state: TrainState, history: list) -> None:
    bad_step, bad_loss = np.asarray(bad_step), np.asarray(bad_loss)
    if np.all(bad_step < 0):
        return
    first = np.argmin(np.where(bad_step < 0, np.iinfo(np.int32).max, bad_step))
    step, loss = int(bad_step.reshape(-1)[first]), float(bad_loss.reshape(-1)[first])
    raise NonFiniteLossError(step, loss, TrainResult(state, _stack(history)))


# --- validation ---------------------------------------------------------------------------


def _check_key(key: ArrayLike) -> jax.Array:
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError("key must be a typed jax.random key (jax.random.key) or a batch of them")
    if key.ndim > 1:
        raise ValueError(f"key must be a single key or a (B,) batch of keys; got shape {key.shape}")
    return key


def _check_inputs(X: ArrayLike, name: str) -> jax.Array:
    """A finite float array ``(n, ...)`` with ``n >= 1``."""
    X = jnp.asarray(X)
    if X.ndim < 2 or X.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n, d, ...) with n >= 1; got {X.shape}")
    if not jnp.issubdtype(X.dtype, jnp.floating):
        X = X.astype(float)
    check_finite(X, name)
    return X


def _output_shape(model: Model, X: jax.Array) -> tuple[int, ...]:
    """Shape of ``model.apply(params, X)``; a mismatch of model, params and inputs raises."""
    try:
        params = jax.eval_shape(model.init, jax.random.key(0), X[:1])
        out = jax.eval_shape(model.apply, params, X)
    except (TypeError, ValueError, KeyError, flax.errors.FlaxError) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"the model cannot be applied to inputs of shape {X.shape} with its parameters "
            f"(model and params do not match, or X has the wrong shape): {message}"
        ) from e
    if out.ndim < 1 or out.shape[0] != X.shape[0]:
        raise ValueError(f"the model must return one output row per sample; got {out.shape}")
    return out.shape


def _probe_size(config: TrainConfig, n: int) -> int:
    return n if config.probe_size is None else config.probe_size


def _check_data(model, config, X, y, X_test, y_test, target):
    X = _check_inputs(X, "X")
    n = X.shape[0]
    y = check_labels(y, _output_shape(model, X), config.loss, "y")
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")
    if X_test is not None:
        X_test = _check_inputs(X_test, "X_test")
        if X_test.shape[1:] != X.shape[1:]:
            raise ValueError(f"X_test must have rows of shape {X.shape[1:]}; got {X_test.shape}")
        y_test = check_labels(y_test, _output_shape(model, X_test), config.loss, "y_test")
    if target is not None:
        target = jnp.asarray(target, X.dtype)
        if target.ndim not in (1, 2) or target.shape[0] != n:
            raise ValueError(f"target must have shape ({n},) or ({n}, c); got {target.shape}")
        check_finite(target, "target")
    for name in ("batch_size", "probe_size"):
        value = getattr(config, name)
        if value is not None and value > n:
            raise ValueError(f"config.{name} = {value} exceeds the number of samples n = {n}")
    if config.top_k > _probe_size(config, n):
        raise ValueError(f"config.top_k = {config.top_k} exceeds the probe set size")
    if jnp.issubdtype(y.dtype, jnp.floating):
        y = y.astype(X.dtype)
        y_test = None if y_test is None else y_test.astype(X.dtype)
    return X, y, X_test, y_test, target


def _check_state(state: Any, keys: jax.Array, config: TrainConfig, model: Model, X) -> int:
    if not isinstance(state, TrainState):
        raise TypeError(f"state must be a TrainState; got {type(state).__name__}")
    steps = np.asarray(state.step)
    if steps.shape != keys.shape:
        raise ValueError(f"state is for key batch shape {steps.shape}; got keys {keys.shape}")
    expected = jax.eval_shape(model.init, jax.random.key(0), X[:1])
    got = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[keys.ndim :], a.dtype), state.params)
    if jax.tree.structure(got) != jax.tree.structure(expected) or any(
        a.shape != b.shape
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True)
    ):
        raise ValueError("state.params do not match the model's parameters (structure or shapes)")
    start = int(steps.reshape(-1)[0])
    if not np.all(steps == start) or not 0 <= start <= config.steps:
        raise ValueError(f"state.step must be one value in [0, {config.steps}]; got {steps}")
    return start
