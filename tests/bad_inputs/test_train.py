"""The trainer's bad inputs, one row each: what is passed, the exception, the message."""

import functools

import jax
import jax.numpy as jnp
import pytest

from rmtjax.nets import MLP, TrainConfig, init_state, normalize_rows, train

N, D = 16, 5
MODEL = MLP((D, 8), "tanh")
KEY = jax.random.key(0)
CONFIG = TrainConfig(steps=2, track_every=1, learning_rate=1e-2)


@functools.cache
def _data():
    X = normalize_rows(jax.random.normal(jax.random.key(1), (N, D)))
    return X, X[:, 0], X[:4], X[:4, 0]


def _state_past_the_end():
    X = _data()[0]
    state = init_state(KEY, MODEL, X, CONFIG)
    return state._replace(step=state.step + 9)


def _train(**changes):
    X, y = _data()[:2]
    kwargs = {"key": KEY, "model": MODEL, "X": X, "y": y, "config": CONFIG, **changes}
    return train(
        kwargs.pop("key"),
        kwargs.pop("model"),
        kwargs.pop("X"),
        kwargs.pop("y"),
        kwargs.pop("config"),
        **kwargs,
    )


TRAIN_CASES = [
    (
        "labels one short",
        lambda d: {"y": d[1][:-1]},
        ValueError,
        r"y must have the model outputs' shape \(16,\)",
    ),
    (
        "labels (n, 2) for a scalar model",
        lambda d: {"y": jnp.stack([d[1]] * 2, 1)},
        ValueError,
        r"shape \(16,\); got \(16, 2\)",
    ),
    ("NaN input", lambda d: {"X": d[0].at[3, 2].set(jnp.nan)}, ValueError, "X contains NaN"),
    ("inf label", lambda d: {"y": d[1].at[0].set(jnp.inf)}, ValueError, "y contains NaN"),
    (
        "inputs of the wrong width",
        lambda d: {"X": d[0][:, :3]},
        ValueError,
        "model and params do not match",
    ),
    ("X_test without y_test", lambda d: {"X_test": d[2]}, ValueError, "given together"),
    (
        "y_test of the wrong length",
        lambda d: {"X_test": d[2], "y_test": d[1]},
        ValueError,
        "y_test must have",
    ),
    (
        "batch larger than n",
        lambda d: {"config": TrainConfig(batch_size=100)},
        ValueError,
        "batch_size = 100 exceeds",
    ),
    (
        "top_k above the probe",
        lambda d: {"config": TrainConfig(top_k=9, probe_size=5)},
        ValueError,
        "top_k = 9 exceeds",
    ),
    (
        "legacy uint32 key",
        lambda d: {"key": jax.random.PRNGKey(0)},
        TypeError,
        r"typed jax\.random key",
    ),
    ("state past the end", lambda d: {"state": _state_past_the_end()}, ValueError, r"state\.step"),
    ("not a model", lambda d: {"model": "mlp"}, TypeError, "model must be an rmtjax.nets.MLP"),
    (
        "state of another model",
        lambda d: {"state": init_state(KEY, MLP((D, 9), "tanh"), d[0], CONFIG)},
        ValueError,
        "state.params do not match",
    ),
    (
        "cross-entropy on a scalar output",
        lambda d: {"config": TrainConfig(loss="cross_entropy")},
        ValueError,
        "integer classes",
    ),
    (
        "target of the wrong length",
        lambda d: {"target": d[1][:3]},
        ValueError,
        "target must have shape",
    ),
    (
        "limit edge on a non-MLP",
        lambda d: {
            "model": (lambda p, x: x @ p, jnp.ones(D)),
            "features": lambda p, x: x,
            "config": TrainConfig(edge="limit"),
        },
        ValueError,
        'edge="limit" needs',
    ),
]


@pytest.mark.parametrize(
    ("case", "changes", "error", "match"), TRAIN_CASES, ids=[c[0] for c in TRAIN_CASES]
)
def test_train_rejects(case, changes, error, match):
    with pytest.raises(error, match=match):
        _train(**changes(_data()))


CONFIG_CASES = [
    ({"track_every": 0}, r"track_every must lie in \[1, inf\]"),
    ({"track_every": -5}, r"track_every must lie in \[1, inf\]"),
    ({"optimizer": "rmsprop"}, "optimizer must be one of sgd, momentum, adam, adamw, lion"),
    ({"optimizer": 3}, "optimizer must be a name or an optax.GradientTransformation"),
    ({"schedule": "step"}, "schedule"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"momentum": 1.5}, "momentum"),
    ({"loss": "hinge"}, "loss must be one of squared, cross_entropy"),
    ({"edge": "top"}, "edge"),
    ({"steps": 1.5}, "steps must be an integer"),
]


@pytest.mark.parametrize(("fields", "match"), CONFIG_CASES, ids=[str(c[0]) for c in CONFIG_CASES])
def test_train_config_rejects(fields, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**fields)


def test_bulk_edges_must_be_a_positive_pair():
    with pytest.raises(ValueError, match="bulk_edges"):
        init_state(KEY, MODEL, _data()[0], CONFIG, bulk_edges=(1.0, -2.0))
