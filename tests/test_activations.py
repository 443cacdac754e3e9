"""Tests for rmtjax/activations.py against closed forms and scipy quadrature."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from rmtjax.activations import PRESETS, Activation, get_activation


def _gauss_expect(f):
    """E f(ξ) by adaptive scipy quadrature (independent of the library's Gauss rule)."""
    pdf = lambda x: np.exp(-(x**2) / 2) / np.sqrt(2 * np.pi)  # noqa: E731
    left = integrate.quad(lambda x: f(x) * pdf(x), -np.inf, 0, epsabs=1e-14, epsrel=1e-13)[0]
    right = integrate.quad(lambda x: f(x) * pdf(x), 0, np.inf, epsabs=1e-14, epsrel=1e-13)[0]
    return left + right


def test_arctan_reference_constants(x64):
    """DESIGN §5 reference: standardized arctan has sd 0.670597, b 0.977754, a 1.111850."""
    act = get_activation("arctan")
    assert abs(float(act.sd) - 0.670597) < 1e-6
    assert abs(float(act.b) - 0.977754) < 1e-6
    assert abs(float(act.a) - 1.111850) < 1e-6


def test_relu_closed_form(x64):
    """relu: sd² = 1/2 − 1/(2π), b = (1/2)/sd, a = (1/2)/sd² (exact through the kink at 0)."""
    act = get_activation("relu")
    sd = np.sqrt(0.5 - 1 / (2 * np.pi))
    np.testing.assert_allclose(float(act.sd), sd, rtol=1e-13)
    np.testing.assert_allclose(float(act.b), 0.5 / sd, rtol=1e-13)
    np.testing.assert_allclose(float(act.a), 0.5 / sd**2, rtol=1e-13)
    # The issue quotes b = 0.856424; the exact value is 0.8564293 (agreement to 5e-6).
    assert abs(float(act.b) - 0.856424) < 1e-5


def test_erf_closed_form(x64):
    """erf: E erf(ξ)² = (2/π) arcsin(2/3), E erf'(ξ) = 2/sqrt(3π), E erf'(ξ)² = 4/(π sqrt 5)."""
    act = get_activation("erf")
    var = 2 / np.pi * np.arcsin(2 / 3)
    np.testing.assert_allclose(float(act.sd) ** 2, var, rtol=1e-13)
    np.testing.assert_allclose(float(act.b), 2 / np.sqrt(3 * np.pi) / np.sqrt(var), rtol=1e-12)
    np.testing.assert_allclose(float(act.a), 4 / (np.pi * np.sqrt(5)) / var, rtol=1e-12)


def test_quadratic_closed_form(x64):
    """quadratic preset is (x² − 1)/√2 with b = 0 and a = E (√2 ξ)² = 2."""
    act = get_activation("quadratic")
    x = jnp.linspace(-3, 3, 7)
    chex.assert_trees_all_close(act(x), (x**2 - 1) / np.sqrt(2), rtol=1e-13, atol=1e-14)
    assert abs(float(act.b)) < 1e-13
    np.testing.assert_allclose(float(act.a), 2.0, rtol=1e-13)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_standardized_against_scipy(x64, name):
    """E σ(ξ) = 0, E σ(ξ)² = 1, and b, a agree with adaptive scipy quadrature."""
    act = get_activation(name)
    sigma_jit, dsigma_jit = jax.jit(act), jax.jit(act.derivative)
    sigma = lambda x: float(sigma_jit(x))  # noqa: E731
    dsigma = lambda x: float(dsigma_jit(x))  # noqa: E731
    assert abs(_gauss_expect(sigma)) < 1e-9
    assert abs(_gauss_expect(lambda x: sigma(x) ** 2) - 1) < 1e-9
    assert abs(_gauss_expect(dsigma) - float(act.b)) < 1e-9
    assert abs(_gauss_expect(lambda x: dsigma(x) ** 2) - float(act.a)) < 1e-9
    assert float(act.a) >= float(act.b) ** 2  # Cauchy–Schwarz


def test_derivative_matches_grad(x64):
    act = get_activation("softplus")
    x = jnp.linspace(-4, 4, 9)
    chex.assert_trees_all_close(act.derivative(x), jax.vmap(jax.grad(act))(x), rtol=1e-13)


def test_q_constants_by_hand(x64):
    """q for L = 1, 2 written out from q_{-1} = Σ (a^{L-l} − b^{2(L-l)}), q_l = b^{2(L-l)}."""
    act = get_activation("tanh")
    a, b = float(act.a), float(act.b)
    q_minus1, q = act.q(1)
    np.testing.assert_allclose(float(q_minus1), a - b**2, rtol=1e-13)
    chex.assert_trees_all_close(q, jnp.array([b**2, 1.0]), rtol=1e-13)
    q_minus1, q = act.q(2)
    np.testing.assert_allclose(float(q_minus1), a**2 - b**4 + a - b**2, rtol=1e-13)
    chex.assert_trees_all_close(q, jnp.array([b**4, b**2, 1.0]), rtol=1e-13)
    chex.assert_shape(act.q(5)[1], (6,))
    # q_{-1} + Σ q_l = 1 + Σ_{k=1}^{L} a^k (the NTK mean diagonal).
    q_minus1, q = act.q(4)
    np.testing.assert_allclose(float(q_minus1 + jnp.sum(q)), 1 + sum(a**k for k in range(1, 5)))
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="L must be"):
            act.q(bad)


def test_q_gradient_finite_at_b_zero(x64):
    """g = x² + s x has b = 0 at s = 0: the gradient of q through b stays finite there."""
    grad = jax.grad(
        lambda s: jnp.sum(Activation.standardized(lambda x, s: x**2 + s * x, s).q(3)[1])
    )
    assert np.isfinite(float(grad(0.0)))


def test_parametrised_activation_differentiable(x64):
    """erf(α x): b(α) = α·2/sqrt(π(1+2α²)) / sd(α), sd² = (2/π) arcsin(2α²/(1+2α²))."""

    def g(x, alpha):
        return jax.scipy.special.erf(alpha * x)

    def b_closed(alpha):
        var = 2 / jnp.pi * jnp.arcsin(2 * alpha**2 / (1 + 2 * alpha**2))
        return alpha * 2 / jnp.sqrt(jnp.pi * (1 + 2 * alpha**2)) / jnp.sqrt(var)

    b_ours = lambda alpha: Activation.standardized(g, alpha).b  # noqa: E731
    np.testing.assert_allclose(float(b_ours(0.7)), float(b_closed(0.7)), rtol=1e-12)
    np.testing.assert_allclose(
        float(jax.grad(b_ours)(0.7)), float(jax.grad(b_closed)(0.7)), rtol=1e-9
    )
    a_of = lambda alpha: Activation.standardized(g, alpha).a  # noqa: E731
    fd = (a_of(0.7 + 1e-6) - a_of(0.7 - 1e-6)) / 2e-6
    np.testing.assert_allclose(float(jax.grad(a_of)(0.7)), float(fd), rtol=1e-6)


def test_activation_is_a_pytree_under_jit(x64):
    act = Activation.standardized(lambda x, s: jnp.tanh(s * x), 1.5)
    x = jnp.linspace(-2, 2, 5)
    chex.assert_trees_all_close(jax.jit(lambda a, x: a(x))(act, x), act(x), rtol=1e-14)
    leaves = jax.tree.leaves(act)
    assert len(leaves) == 1 and float(leaves[0]) == 1.5


def test_standardized_inside_jit():
    """Building an activation inside a jit trace still validates (and does not fail)."""
    x = jnp.linspace(-1, 1, 4)
    out = jax.jit(lambda x: Activation.standardized(jnp.sinh)(x))(x)
    chex.assert_trees_all_close(out, Activation.standardized(jnp.sinh)(x), rtol=1e-6)
    with pytest.raises(ValueError, match="zero"):
        jax.jit(lambda x: Activation.standardized(jnp.zeros_like)(x))(x)


def test_float32_dtype_preserved():
    act = get_activation("arctan")
    x = jnp.ones(3, jnp.float32)
    assert act(x).dtype == jnp.float32
    assert act.derivative(x).dtype == jnp.float32


def test_get_activation_passthrough_and_errors():
    act = get_activation("tanh")
    assert get_activation(act) is act
    with pytest.raises(ValueError, match="activation"):
        get_activation("sigmoidish")
    with pytest.raises(TypeError, match="activation"):
        get_activation(3.0)
    with pytest.raises(TypeError, match="callable"):
        Activation.standardized("tanh")


@pytest.mark.parametrize(
    ("g", "match"),
    [
        (lambda x: jnp.zeros_like(x) + 2.0, "zero"),
        (lambda x: jnp.zeros_like(x), "zero"),
        (jnp.log, "not finite"),  # NaN on the negative half-line
        (lambda x: jnp.exp(x**4), "not finite"),
    ],
)
def test_unnormalizable_activation_raises(g, match):
    with pytest.raises(ValueError, match=match):
        Activation.standardized(g)
