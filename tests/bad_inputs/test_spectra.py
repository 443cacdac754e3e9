"""Bad inputs of rmtjax.spectra, rmtjax.activations (b) and init_mlp (widths): a table.

Each row: a call, the exception type and a phrase of its message. Value checks also run under
``jit`` (through ``rmtjax._solution.check_at_runtime``), where JAX reports them as
``JaxRuntimeError`` carrying the same message; those rows are run jitted as well. A second table
lists inputs that are accepted with a documented meaning (round-off), checked for their value.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.activations import Activation
from rmtjax.nets import init_mlp
from rmtjax.spectra import (
    DiscreteMeasure,
    ck_limit,
    marchenko_pastur,
    mixture,
    mp_map_stieltjes,
    ntk_limit,
)

ONE = DiscreteMeasure([1.0])
NEG = np.array([-0.1, 1.0])

# (id, call, exception, phrase)
EAGER = [
    ("ck-negative-atoms", lambda: ck_limit(NEG, (0.5,), "tanh"), ValueError, "[0, inf)"),
    ("ntk-negative-atoms", lambda: ntk_limit(NEG, (0.5,), "tanh"), ValueError, "[0, inf)"),
    ("mp-negative-atoms", lambda: mp_map_stieltjes(1j, 0.5, NEG), ValueError, "[0, inf)"),
    ("tol-negative", lambda: ck_limit(ONE, (0.5,), "tanh", tol=-1), ValueError, "tol must be"),
    (
        "max-steps-zero",
        lambda: ck_limit(ONE, (0.5,), "tanh", max_steps=0),
        ValueError,
        "max_steps must be an integer",
    ),
    (
        "support-grid-zero",
        lambda: ck_limit(ONE, (0.5,), "tanh").support(grid=0),
        ValueError,
        "grid must be an integer >= 2",
    ),
    (
        "edges-grid-float",
        lambda: ck_limit(ONE, (0.5,), "tanh").edges(grid=10.5),
        ValueError,
        "grid must be an integer",
    ),
    ("mp-gamma-string", lambda: marchenko_pastur("0.5"), TypeError, "gamma must be a real"),
    ("mp-gamma-negative", lambda: marchenko_pastur(-1.0), ValueError, "gamma must be > 0"),
    ("atoms-complex", lambda: DiscreteMeasure([1.0 + 1j, 2.0]), TypeError, "must be real"),
    (
        "weights-complex",
        lambda: DiscreteMeasure([1.0, 2.0], [0.5 + 0j, 0.5]),
        TypeError,
        "must be real",
    ),
    ("gammas-string", lambda: ck_limit(ONE, "0.5", "tanh"), TypeError, "gammas must be"),
    ("gammas-empty", lambda: ck_limit(ONE, (), "tanh"), ValueError, "non-empty"),
    (
        "gammas-negative",
        lambda: ck_limit(ONE, (-0.5,), "tanh"),
        ValueError,
        "gammas must be finite ratios",
    ),
    ("gamma-string-in-mp-map", lambda: mp_map_stieltjes(1j, "0.5", ONE), TypeError, "gamma"),
    ("b-beyond-one", lambda: ck_limit(ONE, (0.5,), (3.0, 1.5)), ValueError, "must lie in"),
    (
        "mu0-not-a-measure",
        lambda: ck_limit(object(), (0.5,), "tanh"),
        TypeError,
        "mu0 must be a measure",
    ),
    (
        "mixture-weights-sum",
        lambda: mixture([ONE, marchenko_pastur(0.5)], [0.5, 0.6]),
        ValueError,
        "sum to 1",
    ),
    (
        "eta-negative",
        lambda: ck_limit(ONE, (0.5,), "tanh").density(1.0, eta=-0.2),
        ValueError,
        "eta must be finite and > 0",
    ),
    (
        "z-lower-half-plane",
        lambda: ck_limit(ONE, (0.5,), "tanh").stieltjes(1 - 1j),
        ValueError,
        "upper half-plane",
    ),
    (
        "x-nan",
        lambda: ck_limit(ONE, (0.5,), "tanh").density(np.nan),
        ValueError,
        "x contains NaN or inf",
    ),
    (
        "widths-string",
        lambda: init_mlp(jax.random.key(0), "53"),
        TypeError,
        "widths must be a sequence of integers",
    ),
    (
        "widths-float",
        lambda: init_mlp(jax.random.key(0), (5.7, 3.2)),
        TypeError,
        "widths must be a sequence of integers",
    ),
]

# (id, jitted function, its traced argument, phrase): the same checks when the value is traced.
JITTED = [
    ("ck-negative-atoms", lambda a: ck_limit(a, (0.5,), "tanh").stieltjes(1j), NEG, "[0, inf)"),
    ("mp-negative-atoms", lambda a: mp_map_stieltjes(1j, 0.5, a), NEG, "[0, inf)"),
    (
        "gammas-negative",
        lambda g: ck_limit(ONE, (g,), "tanh").stieltjes(1j),
        -0.5,
        "gammas must be finite ratios",
    ),
    (
        "eta-negative",
        lambda e: ck_limit(ONE, (0.5,), "tanh").density(1.0, eta=e),
        -0.2,
        "eta must be finite and > 0",
    ),
    (
        "z-lower-half-plane",
        lambda z: ck_limit(ONE, (0.5,), "tanh").stieltjes(z),
        1 - 1j,
        "upper half-plane",
    ),
    ("x-nan", lambda x: ck_limit(ONE, (0.5,), "tanh").density(x), np.nan, "x contains NaN or inf"),
    (
        "unconverged-density-throw",
        lambda x: ck_limit(ONE, (0.5,), "tanh", max_steps=1).density(x, throw=True),
        jnp.linspace(0.1, 3, 5),
        "did not converge",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "phrase"), [c[1:] for c in EAGER], ids=[c[0] for c in EAGER]
)
def test_bad_input_raises_eagerly(call, error, phrase):
    with pytest.raises(error) as info:
        call()
    assert phrase in str(info.value)


@pytest.mark.parametrize(
    ("fn", "arg", "phrase"), [c[1:] for c in JITTED], ids=[c[0] for c in JITTED]
)
def test_bad_input_raises_under_jit(fn, arg, phrase):
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(jax.jit(fn)(arg))
    assert phrase in str(info.value)


def test_unconverged_density_is_nan_under_jit_without_throw():
    # the default (throw=None) is checked in tests/spectra/test_limit_spectrum.py
    spectrum = ck_limit(ONE, (0.5,), "tanh", max_steps=1)
    x = jnp.linspace(0.1, 3, 5)
    rho = jax.jit(lambda x: spectrum.density(x, throw=False))(x)
    m = jax.jit(lambda x: spectrum.stieltjes(x, throw=False))(x)
    assert np.all(np.isnan(np.asarray(rho)))
    assert np.all(np.isnan(np.real(np.asarray(m)))) and np.all(np.isnan(np.imag(np.asarray(m))))


def _gram_eigenvalues(dtype):
    X = np.random.default_rng(0).standard_normal((40, 10)).astype(dtype)
    return np.linalg.eigvalsh(X @ X.T / 10)  # rank 10: 30 round-off eigenvalues


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_roundoff_negative_eigenvalues_are_clipped(dtype):
    ev = _gram_eigenvalues(dtype)
    assert ev.min() < 0  # the round-off this case is about
    clipped = np.maximum(ev, 0)
    z = np.array([0.5 + 0.5j, 2.0 + 0.1j])
    for build in (ck_limit, ntk_limit):
        got = build(ev, (0.5,), "tanh").stieltjes(z)
        want = build(clipped, (0.5,), "tanh").stieltjes(z)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    np.testing.assert_array_equal(
        np.asarray(mp_map_stieltjes(z, 0.5, ev)), np.asarray(mp_map_stieltjes(z, 0.5, clipped))
    )


def test_from_kernel_float32_roundoff_is_clipped():
    X = np.random.default_rng(1).standard_normal((40, 10)).astype(np.float32)
    mu = DiscreteMeasure.from_kernel(jnp.asarray(X @ X.T / 10))
    spec = ck_limit(mu, (0.5,), "tanh")
    assert float(jnp.min(spec.mu0.atoms)) >= 0


def test_standardized_tanh_small_scale_float32_has_b_one():
    act = Activation.standardized(lambda x: jnp.tanh(0.01 * x))
    assert float(act.b) == 1.0
    density = ck_limit(ONE, (0.5,), act).density(jnp.array([1.0]))  # accepted, b = 1: MP
    np.testing.assert_allclose(
        np.asarray(density), np.asarray(marchenko_pastur(0.5).density(1.0)), rtol=1e-3
    )
