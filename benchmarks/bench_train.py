"""Trainer: cost of tracking the CK/NTK spectra every 50 steps.

- ``train_tracking_overhead``: :func:`rmtjax.nets.train.train` (full-batch AdamW, tracking
  CK and NTK eigendecompositions, outliers, label fractions and R² at steps 0, 50, 100, …)
  against the floor of the same optimization without any tracking: a hand-written forward
  pass of the same network and ``optax.adamw`` steps in one jitted ``lax.scan``. Issue
  target: ``ratio <= 1.5`` on CPU at the experiment's sizes (``quick=False``: n = 1000,
  d_0 = d_l = 800, L = 3, 200 steps; tracking at steps 0, 50, …, 200 plus the empirical
  bulk edges at initialization). ``quick=True`` (n = 384, d = 300, 100 steps) gets target
  2.5: a tracking point costs two ``O(n³)`` eigendecompositions against ``O(n d²)`` per step,
  and at small sizes the eigendecompositions run far below peak (measured on 2 cores: one
  tracking point ≈ one 50-step segment at n = 256, d = 200), so the ratio there says little
  about the experiment's sizes.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from benchmarks._harness import Case
from rmtjax.nets import MLP, TrainConfig, get_activation, init_mlp, normalize_rows, train

_LR, _WD, _TRACK_EVERY = 1e-2, 0.3, 50


def _floor(key: jax.Array, widths: tuple[int, ...], X, y, steps: int):
    """Jitted ``lax.scan`` of AdamW steps on ``(1/2n) Σ (f(x) − y)²``, no tracking."""
    act = get_activation("arctan")
    params = init_mlp(jax.random.split(key)[0], widths)
    opt = optax.adamw(_LR, weight_decay=_WD)

    def f(p, X):
        for W in p.hidden:
            X = act(X @ W.T) / jnp.sqrt(W.shape[0])
        return X @ p.readout

    def step(carry, _):
        p, s = carry
        grads = jax.grad(lambda p: 0.5 * jnp.mean((f(p, X) - y) ** 2))(p)
        updates, s = opt.update(grads, s, p)
        return (optax.apply_updates(p, updates), s), None

    @jax.jit
    def run(p):
        return jax.lax.scan(step, (p, opt.init(p)), None, length=steps)[0][0]

    return functools.partial(run, params)


def cases(quick: bool) -> list[Case]:
    n, d, steps, repeats, target = (384, 300, 100, 3, 2.5) if quick else (1000, 800, 200, 2, 1.5)
    widths = (d, d, d, d)
    kx, kv = jax.random.split(jax.random.key(0))
    X = normalize_rows(jax.random.normal(kx, (n, d)))
    y = get_activation("arctan")(
        X @ (jnp.sqrt(d) * normalize_rows(jax.random.normal(kv, (1, d)))[0])
    )
    config = TrainConfig(steps=steps, learning_rate=_LR, weight_decay=_WD, track_every=_TRACK_EVERY)
    key = jax.random.key(1)
    model = MLP(widths, "arctan")

    def ours():
        return train(key, model, X, y, config).state.params

    return [
        Case(
            name="train_tracking_overhead",
            size=f"n={n} d={d} L=3 {steps} steps, track every {_TRACK_EVERY} f32",
            ours=ours,
            baseline=_floor(key, widths, X, y, steps),
            target=target,
            repeats=repeats,
            baseline_name="same AdamW training in one lax.scan, no tracking",
            extra={"tracking_points": steps // _TRACK_EVERY + 1},
        )
    ]
