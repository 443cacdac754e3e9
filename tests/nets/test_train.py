"""Trainer: optimization, determinism, tracked spectra against direct computation, vmap, resume."""

import functools
import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.nets import (
    MLP,
    TrainConfig,
    forward,
    from_flax_variables,
    get_activation,
    init_state,
    limit_bulk_edges,
    make_optimizer,
    normalize_rows,
    state_from_bytes,
    state_to_bytes,
    train,
)
from rmtjax.nets.kernels import empirical_ntk

N, D, WIDTH = 48, 12, 24
MODEL = MLP((D, WIDTH, WIDTH), "tanh")


@functools.cache
def _data():
    kx, kv = jax.random.split(jax.random.key(0))
    X = normalize_rows(jax.random.normal(kx, (N + 16, D)))
    v = jnp.sqrt(D) * normalize_rows(jax.random.normal(kv, (1, D)))[0]
    y = get_activation("tanh")(X @ v)
    return X[:N], y[:N], X[N:], y[N:]


def _train(key=1, batch=None, **options):
    X, y, X_test, y_test = _data()
    config = TrainConfig(**{"steps": 30, "track_every": 10, "learning_rate": 1e-2, **options})
    keys = jax.random.key(key) if batch is None else jax.random.split(jax.random.key(key), batch)
    return train(keys, MODEL, X, y, config, X_test=X_test, y_test=y_test)


def _numpy_features(params, X, act):
    """Plain numpy forward pass: ``X_l = σ(X_{l-1} W_lᵀ) / sqrt(d_l)``."""
    x = np.asarray(X, np.float64)
    for W in params.hidden:
        W = np.asarray(W, np.float64)
        x = np.asarray(act(jnp.asarray(x @ W.T)), np.float64) / np.sqrt(W.shape[0])
    return x


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_training_decreases_loss(optimizer):
    lr = 1e-2 if optimizer == "adam" else 2.0
    history = _train(optimizer=optimizer, learning_rate=lr, steps=60).history
    np.testing.assert_array_equal(history.step, [0, 10, 20, 30, 40, 50, 60])
    assert history.loss[-1] < 0.2 * history.loss[0], history.loss
    assert history.r2_train[-1] > 0.8
    # R² = 1 - 2 loss / Var(y) on the training set (loss = mean squared error / 2).
    y = np.asarray(_data()[1])
    np.testing.assert_allclose(history.r2_train, 1 - 2 * history.loss / y.var(), rtol=1e-4)


def test_one_sgd_step_is_gradient_descent(x64):
    """Reference: θ_1 = θ_0 − η ∇ (1/2n) Σ (f(x) − y)², gradient by jax.grad of forward()."""
    X, y, X_test, y_test = (a.astype(jnp.float64) for a in _data())
    config = TrainConfig(steps=1, track_every=1, optimizer="sgd", learning_rate=0.7)
    key = jax.random.key(3)
    start = from_flax_variables(init_state(key, MODEL, X, config).params)
    result = train(key, MODEL, X, y, config, X_test=X_test, y_test=y_test)
    got = from_flax_variables(result.state.params)
    grad = jax.grad(lambda p: 0.5 * jnp.mean((forward(p, X, "tanh") - y) ** 2))(start)
    expected = jax.tree.map(lambda p, g: p - 0.7 * g, start, grad)
    chex.assert_trees_all_close(got, expected, rtol=1e-10, atol=1e-12)


def test_same_key_same_history():
    a, b = _train(batch_size=16).history, _train(batch_size=16).history
    for name in a._fields:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    c = _train(key=2, batch_size=16).history
    assert not np.allclose(a.loss[1:], c.loss[1:])


def test_tracked_spectra_equal_direct_computation(x64):
    """Each record against the saved state's params: numpy CK and jax.jacrev NTK."""
    X, y, X_test, y_test = (a.astype(jnp.float64) for a in _data())
    config = TrainConfig(
        steps=20, track_every=10, optimizer="sgd", learning_rate=0.7, probe_size=40
    )
    saved, records = [], []
    train(
        jax.random.key(4),
        MODEL,
        X,
        y,
        config,
        X_test=X_test,
        y_test=y_test,
        on_track=records.append,
        on_checkpoint=lambda s: saved.append(state_to_bytes(s)),
    )
    template = init_state(jax.random.key(0), MODEL, X, config)
    act = get_activation("tanh")
    for record, data in zip(records, saved, strict=True):
        state = state_from_bytes(template, data)
        assert int(state.step) == int(record.step)
        params = from_flax_variables(state.params)
        Xp, yp = np.asarray(X[:40]), np.asarray(y[:40])
        features = _numpy_features(params, Xp, act)
        ck = np.linalg.eigh(features @ features.T)
        K = empirical_ntk(lambda p, x: forward(p, x, act), params, X[:40])
        nt = np.linalg.eigh(np.asarray(K))
        for (vals, vecs), got_vals, got_vecs, got_var in (
            (ck, record.ck_eigenvalues, record.ck_top_vectors, record.ck_label_var),
            (nt, record.ntk_eigenvalues, record.ntk_top_vectors, record.ntk_label_var),
        ):
            np.testing.assert_allclose(got_vals, vals[::-1], rtol=1e-8, atol=1e-10)
            top = vecs[:, ::-1][:, :2]
            np.testing.assert_allclose(np.abs(np.sum(top * got_vecs, axis=0)), 1.0, atol=1e-8)
            np.testing.assert_allclose(got_var, np.cumsum((top.T @ yp) ** 2) / (yp @ yp), rtol=1e-8)
        f_all = _numpy_features(params, X, act) @ np.asarray(params.readout)
        residual = f_all - np.asarray(y)
        np.testing.assert_allclose(record.loss, 0.5 * np.mean(residual**2), rtol=1e-8)
        f_test = np.asarray(forward(params, X_test, act))
        r2 = 1 - np.sum((y_test - f_test) ** 2) / np.sum((y_test - y_test.mean()) ** 2)
        np.testing.assert_allclose(record.r2_test, r2, rtol=1e-8)


def test_label_variance_is_one_inside_eigenspace_and_k_over_n_for_random_labels():
    n, k = 200, 5
    X = normalize_rows(jax.random.normal(jax.random.key(5), (n, D)))
    model = MLP((D, 64), "tanh")
    config = TrainConfig(steps=1, track_every=1, top_k=k)
    key = jax.random.key(6)
    # Step 0 only depends on the initial weights, not on the labels: read its eigenvectors.
    record0 = train(key, model, X, jnp.ones(n), config).history
    U_ck, U_ntk = record0.ck_top_vectors[0], record0.ntk_top_vectors[0]
    coefficients = jax.random.normal(jax.random.key(7), (k,))
    for U, field in ((U_ck, "ck_label_var"), (U_ntk, "ntk_label_var")):
        inside = train(key, model, X, jnp.asarray(U) @ coefficients, config).history
        np.testing.assert_allclose(getattr(inside, field)[0, -1], 1.0, atol=1e-5)
    noise = jax.random.normal(jax.random.key(8), (n,))
    random = train(key, model, X, noise, config).history
    # ||Uᵀ y||² / ||y||² ≈ χ²_k / n for Gaussian y: mean k/n = 0.025; the bounds are the
    # 0.8% and 99% quantiles of χ²_5 / n.
    for fraction in (random.ck_label_var[0, -1], random.ntk_label_var[0, -1]):
        assert 0.1 * k / n < fraction < 3 * k / n, fraction


def test_vmap_over_seeds_equals_separate_runs():
    batched = _train(key=9, batch=3, batch_size=16).history
    keys = jax.random.split(jax.random.key(9), 3)
    X, y, X_test, y_test = _data()
    config = TrainConfig(steps=30, track_every=10, learning_rate=1e-2, batch_size=16)
    for b, key in enumerate(keys):
        single = train(key, MODEL, X, y, config, X_test=X_test, y_test=y_test).history
        for name in ("loss", "r2_test", "ck_eigenvalues", "ntk_eigenvalues", "ck_label_var"):
            np.testing.assert_allclose(
                getattr(batched, name)[:, b], getattr(single, name), rtol=2e-4, atol=1e-5
            )
        np.testing.assert_array_equal(batched.step[:, b], single.step)


def test_resume_from_checkpoint_reproduces_the_run():
    X, y, X_test, y_test = _data()
    config = TrainConfig(steps=40, track_every=10, learning_rate=1e-2, batch_size=16)
    key = jax.random.key(11)
    saved = {}
    run = functools.partial(train, key, MODEL, X, y, config, X_test=X_test, y_test=y_test)
    full = run(on_checkpoint=lambda s: saved.setdefault(int(s.step), state_to_bytes(s))).history
    state = state_from_bytes(init_state(key, MODEL, X, config), saved[20])
    resumed = run(state=state).history
    np.testing.assert_array_equal(resumed.step, [30, 40])
    for name in full._fields:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name)[3:], name)


def test_outlier_edges():
    # Default edge: λ_max at initialization, so no outliers at step 0.
    history = _train(steps=10, track_every=10).history
    np.testing.assert_allclose(history.ck_edge[0], history.ck_eigenvalues[0, 0])
    np.testing.assert_array_equal(history.ck_n_outliers[0], 0)
    np.testing.assert_array_equal(history.ntk_n_outliers[0], 0)
    # Explicit edges: the outliers are exactly the eigenvalues above them.
    X, y, X_test, y_test = _data()
    edges = (float(history.ck_eigenvalues[0, 3]), float(history.ntk_eigenvalues[0, 5]))
    config = TrainConfig(steps=10, track_every=10, learning_rate=1e-2)
    got = train(
        jax.random.key(1), MODEL, X, y, config, X_test=X_test, y_test=y_test, bulk_edges=edges
    ).history
    np.testing.assert_array_equal(got.ck_n_outliers[0], 3)
    np.testing.assert_array_equal(got.ntk_n_outliers[0], 5)
    np.testing.assert_array_equal(got.ck_eigenvalues[0, :3] > edges[0], True)


def test_schedules():
    for schedule, final in (("cosine", 0.1), ("linear", 0.25)):
        config = TrainConfig(
            steps=8, optimizer="sgd", learning_rate=2.0, schedule=schedule, final_lr_fraction=final
        )
        opt = make_optimizer(config)
        params = {"w": jnp.zeros(())}
        state = opt.init(params)
        rates = []
        for _ in range(9):
            updates, state = opt.update({"w": jnp.ones(())}, state, params)
            rates.append(-float(updates["w"]))
        np.testing.assert_allclose([rates[0], rates[-1]], [2.0, 2.0 * final], rtol=1e-6)
        assert all(a >= b for a, b in itertools.pairwise(rates))


@pytest.mark.slow
def test_limit_edges_match_initial_spectrum():
    """The Fan–Wang edges sit at the top of the empirical bulk at initialization (n = 600)."""
    n, d = 600, 500
    X = normalize_rows(jax.random.normal(jax.random.key(0), (n, d)))
    model = MLP((d, d, d), "arctan")
    ck_edge, ntk_edge = limit_bulk_edges(X, model.widths, "arctan")
    history = train(jax.random.key(1), model, X, jnp.zeros(n), TrainConfig(steps=1)).history
    # λ_max fluctuates around the edge on the Tracy–Widom scale n^{-2/3} (a few percent here).
    np.testing.assert_allclose(history.ck_eigenvalues[0, 0], ck_edge, rtol=0.1)
    np.testing.assert_allclose(history.ntk_eigenvalues[0, 0], ntk_edge, rtol=0.1)
