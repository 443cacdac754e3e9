"""Training the Flax :class:`~rmtjax.nets.MLP` while tracking its CK and NTK spectra.

The network is trained on the squared loss ``ℓ(θ) = (1/2m) Σ_α (f_θ(x_α) − y_α)²`` (``m`` the
batch size) with an optax optimiser. Every ``track_every`` steps, on a fixed probe set (the
first ``probe_size`` training samples ``X_p``, labels ``y_p``), the tracker records

- the eigenvalues of ``K_CK = X_L X_Lᵀ`` and of ``K_NTK = J Jᵀ`` (computed by
  :func:`~rmtjax.nets.conjugate_kernel` and the structured :func:`~rmtjax.nets.ntk`),
- their outliers: eigenvalues above the upper bulk edge of the spectrum at initialisation,
- the top-``k`` eigenvectors ``u_1..u_k`` and the fraction of ``||y_p||²`` they explain,
  ``Σ_{j≤i} <u_j, y_p>² / ||y_p||²`` for ``i = 1..k``,
- the training loss and ``R² = 1 − Σ (y − f)² / Σ (y − ȳ)²`` on the training and held-out sets.

Steps between tracking points run in one ``lax.scan`` under ``jit``; the same key gives the
same history, and a batch of keys trains independent networks at once under ``jax.vmap``.
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

from rmtjax._checks import check_choice, check_finite, check_positive
from rmtjax._linalg import eigh_stacked, eigvalsh, eigvalsh_stacked
from rmtjax.nets.flax_mlp import MLP, from_flax_variables, to_flax_variables
from rmtjax.nets.kernels import conjugate_kernel, ntk
from rmtjax.nets.mlp import init_mlp
from rmtjax.spectra import DiscreteMeasure, ck_limit, ntk_limit

__all__ = [
    "TrackRecord",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "init_state",
    "limit_bulk_edges",
    "make_optimizer",
    "state_from_bytes",
    "state_to_bytes",
    "train",
]

_OPTIMIZERS = ("sgd", "adam")
_SCHEDULES = ("constant", "cosine", "linear")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Options of :func:`train` (validated at construction).

    Attributes:
      steps: total optimiser steps.
      optimizer: ``"sgd"`` (with ``momentum``) or ``"adam"``.
      learning_rate: peak learning rate ``η_0``.
      schedule: ``"constant"``; ``"cosine"`` (``η_t = η_0 (f + (1 − f)(1 + cos(π t/T))/2)``);
        ``"linear"`` (from ``η_0`` to ``f η_0``), with ``f = final_lr_fraction``, ``T = steps``.
      final_lr_fraction: ``f`` above, in ``[0, 1]``.
      momentum: heavy-ball momentum of ``"sgd"`` (``0``: plain gradient descent).
      weight_decay: decoupled weight decay ``λ``: each step also subtracts ``η_t λ θ``
        (``"adam"`` becomes AdamW).
      batch_size: samples per step; ``None`` is full batch. Minibatches walk through a fresh
        random permutation of the training set every ``n // batch_size`` steps.
      track_every: steps between tracking points (tracking also runs at step 0 and at the end).
      top_k: number of top eigenvectors kept and used for the label-variance fractions.
      probe_size: the first ``probe_size`` training samples form the probe set (``None``: all).
    """

    steps: int = 1000
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "constant"
    final_lr_fraction: float = 0.0
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int | None = None
    track_every: int = 50
    top_k: int = 2
    probe_size: int | None = None

    def __post_init__(self) -> None:
        check_choice(self.optimizer, "optimizer", _OPTIMIZERS)
        check_choice(self.schedule, "schedule", _SCHEDULES)
        for name in ("steps", "track_every", "top_k", "batch_size", "probe_size"):
            value = getattr(self, name)
            if value is None and name in ("batch_size", "probe_size"):
                continue
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        check_positive(self.learning_rate, "learning_rate")
        check_positive(self.weight_decay, "weight_decay", allow_zero=True)
        for name in ("final_lr_fraction", "momentum"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1]; got {value!r}")


class TrainState(NamedTuple):
    """Everything needed to continue training (a pytree; batched states have a leading axis).

    Attributes:
      step: optimiser steps taken, int32 ``()``.
      params: the Flax ``"params"`` collection of :class:`~rmtjax.nets.MLP`.
      opt_state: the optax state.
      edges: ``(2,)`` upper bulk edges ``(CK, NTK)`` that define outliers.
    """

    step: jax.Array
    params: dict[str, jax.Array]
    opt_state: Any
    edges: jax.Array


class TrackRecord(NamedTuple):
    """One tracking point (numpy arrays; a batch of networks adds a leading axis ``B``).

    Eigenvalues are in decreasing order; the outliers of a kernel are its first
    ``n_outliers`` eigenvalues (those above its ``edge``). ``*_label_var[i - 1]`` is the
    fraction of ``||y_p||²`` explained by the top ``i`` eigenvectors.

    Attributes:
      step: optimiser steps taken.
      loss: training loss ``(1/2n) Σ (f − y)²`` on the whole training set.
      r2_train: ``R²`` on the training set.
      r2_test: ``R²`` on the held-out set (NaN without one).
      ck_eigenvalues: ``(p,)`` eigenvalues of ``K_CK`` on the probe set.
      ntk_eigenvalues: ``(p,)`` eigenvalues of ``K_NTK``.
      ck_top_vectors: ``(p, k)`` top eigenvectors of ``K_CK`` (columns).
      ntk_top_vectors: ``(p, k)`` top eigenvectors of ``K_NTK``.
      ck_edge: upper bulk edge of the CK spectrum at initialisation.
      ntk_edge: upper bulk edge of the NTK spectrum at initialisation.
      ck_n_outliers: number of CK eigenvalues above ``ck_edge``.
      ntk_n_outliers: number of NTK eigenvalues above ``ntk_edge``.
      ck_label_var: ``(k,)`` cumulative label-variance fractions of the CK eigenvectors.
      ntk_label_var: ``(k,)`` the same for the NTK.
    """

    step: Any
    loss: Any
    r2_train: Any
    r2_test: Any
    ck_eigenvalues: Any
    ntk_eigenvalues: Any
    ck_top_vectors: Any
    ntk_top_vectors: Any
    ck_edge: Any
    ntk_edge: Any
    ck_n_outliers: Any
    ntk_n_outliers: Any
    ck_label_var: Any
    ntk_label_var: Any


class TrainResult(NamedTuple):
    """``state``: the final :class:`TrainState`; ``history``: a :class:`TrackRecord` whose
    fields are stacked over the tracking points emitted by this call (leading axis ``T``,
    then ``B`` for a batch of networks), or ``None`` when the call emitted none."""

    state: TrainState
    history: TrackRecord


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """The optax optimiser of ``config``: SGD (heavy-ball momentum) or Adam on a schedule.

    Args:
      config: a :class:`TrainConfig`.

    Returns:
      ``optax.sgd(η_t, momentum)`` (after ``optax.add_decayed_weights(λ)`` when ``λ > 0``) or
      ``optax.adamw(η_t, weight_decay=λ)`` (Adam when ``λ = 0``), ``η_t`` the schedule.

    References:
      Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015;
      Loshchilov and Hutter, "SGDR", ICLR 2017 (cosine schedule).
    """
    lr, final = config.learning_rate, config.learning_rate * config.final_lr_fraction
    if config.schedule == "cosine":
        lr = optax.cosine_decay_schedule(lr, config.steps, alpha=config.final_lr_fraction)
    elif config.schedule == "linear":
        lr = optax.linear_schedule(lr, final, config.steps)
    if config.optimizer == "adam":
        return optax.adamw(lr, weight_decay=config.weight_decay)
    sgd = optax.sgd(lr, momentum=config.momentum or None)
    if config.weight_decay == 0.0:
        return sgd
    return optax.chain(optax.add_decayed_weights(config.weight_decay), sgd)


def limit_bulk_edges(
    X: jax.Array, widths: tuple[int, ...], activation: Any = "arctan"
) -> tuple[float, float]:
    """Upper edges of the Fan–Wang limit laws ``(μ_CK, μ_NTK)`` for the inputs ``X``.

    ``μ_0`` is the empirical spectrum of ``X Xᵀ`` (negative rounding errors clipped to 0) and
    ``γ_l = n / d_l``; the edges are the right ends of
    ``ck_limit(μ_0, γ, σ).support()`` and ``ntk_limit(μ_0, γ, σ).support()``.

    Args:
      X: ``(n, d_0)`` inputs (the probe set), rows normalised so ``||x_α|| ≈ 1``.
      widths: ``(d_0, d_1, …, d_L)``.
      activation: preset name or :class:`~rmtjax.nets.Activation`.

    Returns:
      ``(ck_edge, ntk_edge)`` as floats.

    References:
      Fan and Wang (NeurIPS 2020), Theorems 3.4 and 3.7.
    """
    X = jnp.asarray(X)
    check_finite(X, "X")
    gammas = jnp.asarray([X.shape[0] / d for d in widths[1:]], X.dtype)
    mu0 = DiscreteMeasure(jnp.clip(eigvalsh(X @ X.T), 0.0))
    return tuple(
        float(law(mu0, gammas, activation).support()[-1, 1]) for law in (ck_limit, ntk_limit)
    )


def init_state(
    key: jax.Array,
    model: MLP,
    X: jax.Array,
    config: TrainConfig,
    *,
    bulk_edges: tuple[float, float] | None = None,
) -> TrainState:
    """The state at step 0: weights of :func:`~rmtjax.nets.init_mlp`, optimiser state, edges.

    The weights are ``init_mlp(k_init, model.widths)`` with ``k_init`` the first half of
    ``jax.random.split(key)`` (the second drives the minibatch order). Without
    ``bulk_edges`` the edge of each kernel is the empirical estimate ``λ_max`` of that
    kernel at initialisation on the probe set (no outliers at initialisation by
    construction; sensible when the Fan–Wang theory predicts none, e.g. centred σ and
    ε-orthogonal inputs). :func:`limit_bulk_edges` gives the limit-law edges instead.

    Args:
      key: a ``jax.random`` key, or a ``(B,)`` batch of keys (one network each).
      model: the :class:`~rmtjax.nets.MLP`.
      X: ``(n, d_0)`` training inputs (their first ``probe_size`` rows are the probe set).
      config: a :class:`TrainConfig`.
      bulk_edges: ``(ck_edge, ntk_edge)`` shared by every network, or ``None``.

    Returns:
      A :class:`TrainState` (leading axis ``B`` on every leaf for a batch of keys).
    """
    model = _normalized_model(model)
    X = _check_inputs(X, model, "X")
    keys = _check_key(key)
    if bulk_edges is not None:
        check_positive(jnp.asarray(bulk_edges), "bulk_edges")
        if np.shape(bulk_edges) != (2,):
            raise ValueError(f"bulk_edges must be a pair (ck_edge, ntk_edge); got {bulk_edges!r}")
    edges = None if bulk_edges is None else jnp.asarray(bulk_edges, X.dtype)
    programs = _programs(model, _program_key(config), bool(keys.ndim))
    return programs.init(keys, X[: _probe_size(config, X.shape[0])], edges)


def train(
    key: jax.Array,
    model: MLP,
    X: jax.Array,
    y: jax.Array,
    config: TrainConfig,
    *,
    X_test: jax.Array | None = None,
    y_test: jax.Array | None = None,
    state: TrainState | None = None,
    bulk_edges: tuple[float, float] | None = None,
    on_track: Callable[[TrackRecord], None] | None = None,
    on_checkpoint: Callable[[TrainState], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``(X, y)`` for ``config.steps`` steps, tracking CK/NTK spectra.

    Minimises ``ℓ(θ) = (1/2m) Σ_{α ∈ batch} (f_θ(x_α) − y_α)²``. The steps between tracking
    points (every ``track_every`` steps, plus step 0 and the last step) run as one jitted
    ``lax.scan``; at each tracking point a :class:`TrackRecord` is computed (see the module
    docstring), handed to ``on_track`` and then the state to ``on_checkpoint`` (e.g. to write
    both to disk as they are produced). Passing a saved ``state`` (with the same ``key``,
    data and config) continues from ``state.step`` and reproduces the uninterrupted run;
    the tracking point at ``state.step`` itself is not repeated.

    With a ``(B,)`` batch of keys, ``B`` independent networks (own initialisation and
    minibatch order, same data) train at once under ``jax.vmap``; every state and record
    leaf gains a leading axis ``B``.

    Args:
      key: a ``jax.random`` key or a ``(B,)`` batch of keys.
      model: the :class:`~rmtjax.nets.MLP` (widths ``(d_0, …, d_L)``, activation).
      X: ``(n, d_0)`` training inputs, finite, rows normalised so ``||x_α|| ≈ 1``.
      y: ``(n,)`` finite labels.
      config: a :class:`TrainConfig`.
      X_test: optional ``(n_test, d_0)`` held-out inputs.
      y_test: ``(n_test,)`` held-out labels (required with ``X_test``).
      state: a :class:`TrainState` to resume from (``None``: :func:`init_state`).
      bulk_edges: ``(ck_edge, ntk_edge)`` for a fresh state (see :func:`init_state`).
      on_track: called with each :class:`TrackRecord` as soon as it is computed.
      on_checkpoint: called with the :class:`TrainState` after each tracking point.

    Returns:
      :class:`TrainResult` ``(state, history)``.

    Raises:
      ValueError: mismatched shapes, NaN/inf in the data, ``batch_size`` or ``probe_size``
        larger than ``n``, ``top_k`` larger than the probe set, a state past ``config.steps``.

    References:
      Fan and Wang (NeurIPS 2020), Section 4 ("spectra during training": the CK and NTK
      develop outliers aligned with the labels); the talk's slides "Evolution of spectra over
      training" and "Outliers contain information about training labels".

    Examples:
      >>> X = jax.random.normal(jax.random.key(0), (32, 8)) / jnp.sqrt(8.0)
      >>> y = jnp.tanh(X @ jnp.ones(8))
      >>> result = train(jax.random.key(1), MLP((8, 16, 16)), X, y, TrainConfig(steps=20,
      ...     track_every=10, learning_rate=1e-2))
      >>> result.history.step.tolist()
      [0, 10, 20]
    """
    model = _normalized_model(model)
    X, y, X_test, y_test = _check_data(model, config, X, y, X_test, y_test)
    keys = _check_key(key)
    if state is None:
        state = init_state(keys, model, X, config, bulk_edges=bulk_edges)
    start = _check_state(state, keys, config)
    programs = _programs(model, _program_key(config), bool(keys.ndim))
    n_p = _probe_size(config, X.shape[0])
    history = []
    points = [0, *range(config.track_every, config.steps, config.track_every), config.steps]
    previous = start
    for point in sorted(set(points)):
        if point < start or (point == start and start > 0):
            continue
        if point > previous:
            state = programs.segment(state, keys, X, y, length=point - previous)
            previous = point
        record = jax.tree.map(np.asarray, programs.track(state, X, y, X_test, y_test, n_p=n_p))
        history.append(record)
        if on_track is not None:
            on_track(record)
        if on_checkpoint is not None:
            on_checkpoint(state)
    stacked = jax.tree.map(lambda *xs: np.stack(xs), *history) if history else None
    return TrainResult(state, stacked)


def state_to_bytes(state: TrainState) -> bytes:
    """Serialise a :class:`TrainState` (``flax.serialization.to_bytes``, msgpack)."""
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
    return dataclasses.replace(config, steps=steps, track_every=1, probe_size=None)


class _Programs(NamedTuple):
    init: Callable[..., TrainState]
    segment: Callable[..., TrainState]
    track: Callable[..., TrackRecord]


@functools.cache
def _programs(model: MLP, config: TrainConfig, batched: bool) -> _Programs:
    """Jitted init / scan-of-steps / tracking for one model and config (vmapped over the
    leading key/state axis when ``batched``; the data are shared)."""
    optimizer = make_optimizer(config)
    widths = tuple(model.widths)

    def loss_fn(params: dict, X: jax.Array, y: jax.Array) -> jax.Array:
        return 0.5 * jnp.mean((model.apply({"params": params}, X) - y) ** 2)

    def init(key: jax.Array, X_probe: jax.Array, edges: jax.Array | None) -> TrainState:
        params = to_flax_variables(init_mlp(jax.random.split(key)[0], widths, X_probe.dtype))
        params = params["params"]
        if edges is None:
            kernels = _kernels(model, params, X_probe)
            edges = eigvalsh_stacked(*kernels)[:, -1]
        return TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params), edges)

    def segment(state: TrainState, key: jax.Array, X, y, length: int) -> TrainState:
        data_key = jax.random.split(key)[1]

        def step(carry, _):
            params, opt_state, t = carry
            Xb, yb = _minibatch(X, y, data_key, t, config.batch_size)
            grads = jax.grad(loss_fn)(params, Xb, yb)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state, t + 1), None

        carry = (state.params, state.opt_state, state.step)
        params, opt_state, t = jax.lax.scan(step, carry, None, length=length)[0]
        return TrainState(t, params, opt_state, state.edges)

    def track(state: TrainState, X, y, X_test, y_test, n_p: int) -> TrackRecord:
        (ck_vals, ck_vecs), (ntk_vals, ntk_vecs) = (
            (vals[::-1], vecs[:, ::-1])  # decreasing order
            for vals, vecs in eigh_stacked(*_kernels(model, state.params, X[:n_p]))
        )
        ck_vecs, ntk_vecs = ck_vecs[:, : config.top_k], ntk_vecs[:, : config.top_k]
        f = model.apply({"params": state.params}, X)
        r2_test = jnp.nan
        if X_test is not None:
            r2_test = _r2(model.apply({"params": state.params}, X_test), y_test)
        return TrackRecord(
            step=state.step,
            loss=0.5 * jnp.mean((f - y) ** 2),
            r2_train=_r2(f, y),
            r2_test=jnp.asarray(r2_test, f.dtype),
            ck_eigenvalues=ck_vals,
            ntk_eigenvalues=ntk_vals,
            ck_top_vectors=ck_vecs,
            ntk_top_vectors=ntk_vecs,
            ck_edge=state.edges[0],
            ntk_edge=state.edges[1],
            ck_n_outliers=jnp.sum(ck_vals > state.edges[0]),
            ntk_n_outliers=jnp.sum(ntk_vals > state.edges[1]),
            ck_label_var=_label_variance(ck_vecs, y[:n_p]),
            ntk_label_var=_label_variance(ntk_vecs, y[:n_p]),
        )

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


def _kernels(model: MLP, params: dict, X: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(K_CK, K_NTK)`` of the network ``params`` on ``X`` (structured NTK)."""
    mlp_params = from_flax_variables(params)
    return (
        conjugate_kernel(mlp_params, X, model.activation),
        ntk(mlp_params, X, model.activation, method="structured"),
    )


def _label_variance(U: jax.Array, y: jax.Array) -> jax.Array:
    """``Σ_{j≤i} <u_j, y>² / ||y||²`` for ``i = 1..k`` (``U`` orthonormal columns ``(p, k)``)."""
    return jnp.cumsum((U.T @ y) ** 2) / jnp.sum(y**2)


def _r2(f: jax.Array, y: jax.Array) -> jax.Array:
    """Coefficient of determination ``1 − Σ (y − f)² / Σ (y − ȳ)²``."""
    return 1.0 - jnp.sum((y - f) ** 2) / jnp.sum((y - jnp.mean(y)) ** 2)


def _minibatch(X, y, data_key, t, batch_size):
    """Batch ``t``: slice ``t mod E`` of the permutation of epoch ``t // E`` (``E = n // m``)."""
    if batch_size is None:
        return X, y
    n = X.shape[0]
    per_epoch = n // batch_size
    perm = jax.random.permutation(jax.random.fold_in(data_key, t // per_epoch), n)
    idx = jax.lax.dynamic_slice_in_dim(perm, (t % per_epoch) * batch_size, batch_size)
    return X[idx], y[idx]


# --- validation ---------------------------------------------------------------------------


def _normalized_model(model: MLP) -> MLP:
    if not isinstance(model, MLP):
        raise TypeError(f"model must be an rmtjax.nets.MLP; got {type(model).__name__}")
    return model.clone(widths=tuple(int(d) for d in model.widths))


def _check_key(key: Any) -> jax.Array:
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError("key must be a typed jax.random key (jax.random.key) or a batch of them")
    if key.ndim > 1:
        raise ValueError(f"key must be a single key or a (B,) batch of keys; got shape {key.shape}")
    return key


def _check_inputs(X: Any, model: MLP, name: str) -> jax.Array:
    X = jnp.asarray(X)
    if X.ndim != 2 or X.shape[1] != model.widths[0]:
        raise ValueError(f"{name} must have shape (n, d_0 = {model.widths[0]}); got {X.shape}")
    if not jnp.issubdtype(X.dtype, jnp.floating):
        X = X.astype(float)
    check_finite(X, name)
    return X


def _check_labels(y: Any, n: int, name: str, x_name: str) -> jax.Array:
    y = jnp.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match {x_name}; got {y.shape}")
    check_finite(y, name)
    return y.astype(jnp.result_type(y.dtype, float))


def _probe_size(config: TrainConfig, n: int) -> int:
    return n if config.probe_size is None else config.probe_size


def _check_data(model, config, X, y, X_test, y_test):
    X = _check_inputs(X, model, "X")
    n = X.shape[0]
    y = _check_labels(y, n, "y", "X").astype(X.dtype)
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")
    if X_test is not None:
        X_test = _check_inputs(X_test, model, "X_test")
        y_test = _check_labels(y_test, X_test.shape[0], "y_test", "X_test").astype(X.dtype)
    for name in ("batch_size", "probe_size"):
        value = getattr(config, name)
        if value is not None and value > n:
            raise ValueError(f"config.{name} = {value} exceeds the number of samples n = {n}")
    if config.top_k > _probe_size(config, n):
        raise ValueError(f"config.top_k = {config.top_k} exceeds the probe set size")
    return X, y, X_test, y_test


def _check_state(state: Any, keys: jax.Array, config: TrainConfig) -> int:
    if not isinstance(state, TrainState):
        raise TypeError(f"state must be a TrainState; got {type(state).__name__}")
    steps = np.asarray(state.step)
    if steps.shape != keys.shape:
        raise ValueError(f"state is for key batch shape {steps.shape}; got keys {keys.shape}")
    start = int(steps.reshape(-1)[0])
    if not np.all(steps == start) or not 0 <= start <= config.steps:
        raise ValueError(f"state.step must be one value in [0, {config.steps}]; got {steps}")
    return start
