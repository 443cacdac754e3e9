"""Trainer on any model: a custom linen model (biases, LayerNorm), optax.lion, cross-entropy,
against a direct computation of its CK and NTK; its resume and vmap over seeds; clear errors
for mismatches and divergence."""

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from rmtjax.nets import (
    NonFiniteLossError,
    TrainConfig,
    init_state,
    normalize_rows,
    state_from_bytes,
    state_to_bytes,
    tracker,
    train,
)

N, D, CLASSES = 24, 6, 3


class Net(nn.Module):
    """x -> Dense(16) -> relu -> LayerNorm -> Dense(12) -> tanh -> Dense(3)."""

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(16)(x))
        x = nn.LayerNorm()(x)
        x = jnp.tanh(nn.Dense(12)(x))
        return nn.Dense(CLASSES)(x)


def _features(params, X):
    """The last hidden layer by hand: tanh(W_1 LayerNorm(relu(W_0 x + b_0)) + b_1)."""
    h = jax.nn.relu(X @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"])
    mean, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
    h = (h - mean) / jnp.sqrt(var + 1e-6) * params["LayerNorm_0"]["scale"]
    h = h + params["LayerNorm_0"]["bias"]
    return jnp.tanh(h @ params["Dense_1"]["kernel"] + params["Dense_1"]["bias"])


def _data():
    X = normalize_rows(jax.random.normal(jax.random.key(0), (N, D)))
    y = jnp.argmax(X[:, :CLASSES], axis=1)
    return X, y


@pytest.mark.slow  # compile-heavy: the default run stays under 10 minutes on 2 cores
def test_linen_lion_cross_entropy_tracks_the_direct_spectra():
    X, y = _data()
    config = TrainConfig(
        steps=20, track_every=10, optimizer=optax.lion(3e-3), loss="cross_entropy", top_k=3
    )
    states, records = [], []
    result = train(
        jax.random.key(1), Net(), X, y, config, on_track=records.append, on_checkpoint=states.append
    )
    assert result.history.loss[-1] < result.history.loss[0]
    for state, record in zip(states, records, strict=True):
        F = _features(state.params, X)
        ck = np.linalg.eigvalsh(np.asarray(F @ F.T, np.float64))[::-1]
        J = jax.jacrev(lambda p: Net().apply({"params": p}, X))(state.params)
        J = jnp.concatenate([leaf.reshape(N, CLASSES, -1) for leaf in jax.tree.leaves(J)], -1)
        K = jnp.einsum("acp,bcp->ab", J, J)  # Σ_c J_c J_cᵀ
        nt = np.linalg.eigvalsh(np.asarray(K, np.float64))[::-1]
        for got, want in ((record.ck_eigenvalues, ck), (record.ntk_eigenvalues, nt)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * want[0])
        logits = Net().apply({"params": state.params}, X)
        want_loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        np.testing.assert_allclose(record.loss, want_loss, rtol=1e-5)
        # R² of the class probabilities against the one-hot targets.
        T, P = jax.nn.one_hot(y, CLASSES), jax.nn.softmax(logits)
        r2 = 1 - jnp.sum((T - P) ** 2) / jnp.sum((T - T.mean(0)) ** 2)
        np.testing.assert_allclose(record.r2_train, r2, rtol=1e-5)
        np.testing.assert_allclose(
            record.ck_label_var[-1], np.cumsum(record.ck_target_alignment)[-1], rtol=1e-5
        )


# One config (one optimizer object) for resume and vmap, so their single runs share programs.
LION = TrainConfig(
    steps=20, track_every=5, batch_size=8, optimizer=optax.lion(3e-3), loss="cross_entropy"
)


def test_linen_resume_from_checkpoint_reproduces_the_run_bitwise():
    X, y = _data()
    config, key, saved = LION, jax.random.key(12), {}
    run = functools.partial(train, key, Net(), X, y, config, X_test=X, y_test=y)
    full = run(on_checkpoint=lambda s: saved.setdefault(int(s.step), state_to_bytes(s))).history
    state = state_from_bytes(init_state(key, Net(), X, config), saved[10])
    resumed = run(state=state).history
    np.testing.assert_array_equal(resumed.step, [15, 20])
    for name in full._fields:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name)[3:], name)


def test_linen_vmap_over_seeds_equals_separate_runs():
    X, y = _data()
    keys = jax.random.split(jax.random.key(13), 2)
    batched = train(keys, Net(), X, y, LION, X_test=X, y_test=y).history
    losses = []
    for b, key in enumerate(keys):
        single = train(key, Net(), X, y, LION, X_test=X, y_test=y).history
        for name in ("loss", "r2_test", "ck_eigenvalues", "ntk_eigenvalues", "ck_label_var"):
            np.testing.assert_allclose(
                getattr(batched, name)[:, b], getattr(single, name), rtol=2e-4, atol=1e-5
            )
        np.testing.assert_array_equal(batched.step[:, b], single.step)
        losses.append(single.loss[0])
    assert losses[0] != losses[1]  # the seeds give different networks


def test_public_tracker_equals_the_trainer_record():
    X, y = _data()
    config = TrainConfig(steps=10, track_every=10, loss="cross_entropy", learning_rate=1e-2)
    states, records = [], []
    train(
        jax.random.key(2), Net(), X, y, config, on_track=records.append, on_checkpoint=states.append
    )
    track = tracker(Net(), loss="cross_entropy")
    edges = (records[0].ck_edge, records[0].ntk_edge)
    got = track(states[-1].params, X, y, edges, step=10)
    for name in ("loss", "ck_eigenvalues", "ntk_eigenvalues", "ck_n_outliers", "ck_label_var"):
        np.testing.assert_allclose(
            getattr(got, name), getattr(records[-1], name), rtol=1e-5, err_msg=name
        )


def test_pair_and_nnx_models_with_a_feature_function():
    X, _ = _data()
    y = X[:, 0]
    params = {"W": jax.random.normal(jax.random.key(3), (D, 8)), "w": jnp.ones(8) / 8}

    def apply_fn(p, X):
        return jnp.tanh(X @ p["W"]) @ p["w"]

    def features(p, X):
        return jnp.tanh(X @ p["W"])

    config = TrainConfig(steps=5, track_every=5, optimizer="sgd", learning_rate=0.5)
    pair = train(jax.random.key(4), (apply_fn, params), X, y, config, features=features)
    assert pair.history.loss[-1] < pair.history.loss[0]
    F = features(params, X)
    np.testing.assert_allclose(
        pair.history.ck_eigenvalues[0],
        np.linalg.eigvalsh(np.asarray(F @ F.T))[::-1],
        rtol=1e-4,
        atol=1e-5,
    )

    class Lin(nnx.Module):
        def __init__(self, rngs):
            self.hidden, self.out = nnx.Linear(D, 8, rngs=rngs), nnx.Linear(8, 1, rngs=rngs)

        def __call__(self, x):
            return self.out(jnp.tanh(self.hidden(x)))[:, 0]

    net = Lin(nnx.Rngs(0))
    result = train(
        jax.random.key(5),
        net,
        X,
        y,
        config,
        features=lambda p, X: jnp.tanh(X @ p["hidden"]["kernel"][...] + p["hidden"]["bias"][...]),
    )
    assert result.history.loss[-1] < result.history.loss[0]
    with pytest.raises(TypeError, match="features must be a callable"):
        train(jax.random.key(5), net, X, y, config)


def test_vector_labels():
    X, _ = _data()
    Y = X[:, :2] * 2.0
    config = TrainConfig(steps=30, track_every=10, learning_rate=1e-2)
    result = train(jax.random.key(6), nn.Dense(2), X, Y, config, features=lambda p, X: X)
    assert result.history.r2_train[-1] > result.history.r2_train[0]
    chex.assert_shape(result.history.ck_label_var, (4, 2))


def test_model_params_mismatch_is_a_clear_error():
    X, y = _data()
    params = {"W": jnp.ones((D + 1, 4))}
    config = TrainConfig(steps=2, track_every=1)
    with pytest.raises(ValueError, match="model and params do not match"):
        train(
            jax.random.key(7),
            (lambda p, X: (X @ p["W"]).sum(-1), params),
            X,
            y * 1.0,
            config,
            features=lambda p, X: X,
        )


def test_wrong_label_shape_is_a_clear_error():
    X, y = _data()
    with pytest.raises(ValueError, match=r"y must have the model outputs' shape \(24, 3\)"):
        train(jax.random.key(8), Net(), X, y * 1.0, TrainConfig(steps=2, track_every=1))


def test_nonfinite_loss_names_the_step_and_keeps_the_history():
    X, _ = _data()
    y = X[:, 0]
    config = TrainConfig(steps=40, track_every=5, optimizer="sgd", learning_rate=1e6)
    records = []
    with pytest.raises(
        NonFiniteLossError, match=r"not finite at step (\d+) \(loss = (nan|inf)"
    ) as info:
        train(
            jax.random.key(9),
            nn.Dense(1),
            X,
            y[:, None],
            config,
            features=lambda p, X: X,
            on_track=records.append,
        )
    err = info.value
    assert not np.isfinite(err.loss) and 0 < err.step < 40
    history = err.result.history
    assert history.step[-1] <= err.step and len(records) == len(history.step)
    assert np.all(np.isfinite(history.loss))
