"""Tests for rmtjax/spectra/kernel_limits.py: CK/NTK limits of Fan & Wang.

References checked: the Marchenko–Pastur law (b = 0), the linearized infinite-width kernel
(gammas -> 0), free-cumulant moments of iterated MP maps, a numpy simulation of the network
(CK and the structured NTK, cross-checked against autodiff), finite differences.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtjax.spectra import (
    DiscreteMeasure,
    activation_constants,
    ck_limit,
    marchenko_pastur,
    ntk_constants,
    ntk_limit,
)
from tests.spectra._oracles import free_moments

AB = (1.2, 0.8)  # (a, b) with a >= b^2


def _mu0(x0=0.5):
    return DiscreteMeasure(jnp.array([x0, 1.0, 2.0]), jnp.array([0.25, 0.5, 0.25]))


def _affine_moments(h, shift, scale):
    """Moments 1..4 of shift + scale * x from those of x (binomial expansion)."""
    full = np.concatenate([[1.0], h])
    from math import comb

    return np.array(
        [
            sum(comb(k, j) * shift ** (k - j) * scale**j * full[j] for j in range(k + 1))
            for k in range(1, 5)
        ]
    )


def test_ntk_constants_closed_form():
    a, b = 1.3, 0.7
    q_minus1, q = ntk_constants(a, b, 1)
    np.testing.assert_allclose(q_minus1, a - b**2, rtol=1e-6)
    np.testing.assert_allclose(q, [b**2, 1.0], rtol=1e-6)
    q_minus1, q = ntk_constants(a, b, 3)
    np.testing.assert_allclose(q_minus1, (a**3 - b**6) + (a**2 - b**4) + (a - b**2), rtol=1e-6)
    np.testing.assert_allclose(q, [b**6, b**4, b**2, 1.0], rtol=1e-6)


def test_ck_with_b_zero_is_marchenko_pastur(x64):
    z = jnp.linspace(0.05, 5.0, 8) + 0.02j
    m = ck_limit(_mu0(), jnp.array([0.7, 1.8]), (1.0, 0.0)).stieltjes(z)
    chex.assert_trees_all_close(m, marchenko_pastur(1.8).stieltjes(z), rtol=1e-10)


def test_ck_with_vanishing_gammas_is_linearized_kernel(x64):
    b, L = 0.8, 2
    z = jnp.linspace(0.2, 3.0, 8) + 0.5j
    m = ck_limit(_mu0(), jnp.array([1e-9, 1e-9]), (1.0, b)).stieltjes(z)
    lin = _mu0().pushforward(b ** (2 * L), 1 - b ** (2 * L))
    chex.assert_trees_all_close(m, lin.stieltjes(z), rtol=1e-7)


def test_three_layer_ck_moments(x64):
    b, gammas = 0.7, [0.5, 1.3, 0.8]
    h = np.asarray(_mu0().moments(4))[1:]
    for gamma in gammas:
        h = free_moments(_affine_moments(h, 1 - b**2, b**2), gamma)
    moments = ck_limit(_mu0(), jnp.array(gammas), (1.0, b)).moments(4)
    np.testing.assert_allclose(moments, np.concatenate([[1.0], h]), rtol=1e-8)


def _im_m_ck(gamma, b, atom):
    spec = ck_limit(_mu0(atom), jnp.stack([gamma, 0.8]), (1.2, b))
    return jnp.imag(spec.stieltjes(1.3 + 0.05j))


def _density_ntk(gamma, b, atom):
    spec = ntk_limit(_mu0(atom), jnp.stack([gamma, 0.8]), (1.2, b))
    return spec.density(jnp.asarray(4.0))  # eta = 0 solve inside the support


@pytest.mark.parametrize(
    "f", [_im_m_ck, pytest.param(_density_ntk, marks=pytest.mark.slow)], ids=["ck_m", "ntk_rho"]
)
def test_gradients_match_finite_differences(x64, f):
    args = (0.6, 0.7, 0.5)  # gamma_1, b, smallest atom of mu0
    h = 1e-5
    grads = jax.grad(f, argnums=(0, 1, 2))(*args)
    for i in range(3):
        up, down = list(args), list(args)
        up[i] += h
        down[i] -= h
        fd = (f(*up) - f(*down)) / (2 * h)
        np.testing.assert_allclose(grads[i], fd, rtol=1e-5, atol=1e-9)


def test_jit_and_vmap_over_gammas(x64):
    z = jnp.linspace(0.5, 3.0, 8) + 0.1j

    def m(gammas):
        return ck_limit(_mu0(), gammas, AB).stieltjes(z)

    batch = jnp.array([[0.5, 1.0], [1.5, 0.3], [0.8, 0.8]])
    out = jax.vmap(m)(batch)
    chex.assert_shape(out, (3, 8))
    for i in range(3):
        chex.assert_trees_all_close(out[i], m(batch[i]), rtol=1e-10)
    chex.assert_trees_all_close(jax.jit(m)(batch[0]), m(batch[0]), rtol=1e-10)


def test_ntk_herglotz_and_mass(x64):
    spec = ntk_limit(_mu0(), jnp.array([0.6, 1.4]), AB)
    rng = np.random.default_rng(3)
    z = rng.uniform(-1, 12, 128) + 1j * 10 ** rng.uniform(-4, 1, 128)
    m = spec.stieltjes(jnp.asarray(z))
    assert np.all(np.imag(m) > 0) and np.all(np.abs(m) <= 1 / z.imag)
    support = spec.support()
    mass = 0.0
    for lo, hi in support:
        # x = lo + (hi - lo)(1 - cos t)/2 absorbs the square-root edges; midpoint rule in t.
        t = np.pi * (np.arange(1024) + 0.5) / 1024
        x = lo + (hi - lo) * (1 - np.cos(t)) / 2
        rho = np.asarray(spec.density(jnp.asarray(x)))
        mass += np.sum(rho * (hi - lo) / 2 * np.sin(t)) * np.pi / 1024
    np.testing.assert_allclose(mass, 1.0, atol=1e-6)  # no atoms: q_{-1} > 0, X_0 full rank
    assert support[0, 0] >= float(spec.q[0])  # spectrum >= q_{-1}


def test_activation_inputs():
    class Act:
        a, b = 1.1, 0.9

    a, b = activation_constants(Act())
    assert (float(a), float(b)) == pytest.approx((1.1, 0.9))
    a, b = activation_constants("arctan")  # through rmtjax.nets; DESIGN §5 reference values
    assert (float(a), float(b)) == pytest.approx((1.111850, 0.977754), abs=1e-6)
    with pytest.raises(ValueError, match=r"b = E sigma'"):
        activation_constants((1.0, 1.5))
    with pytest.raises(ValueError, match="a = E sigma'"):
        activation_constants((0.2, 0.9))
    with pytest.raises(TypeError, match="activation"):
        activation_constants(0.5)
    with pytest.raises(ValueError, match="gammas"):
        ck_limit(_mu0(), jnp.array([0.5, -1.0]), AB)
    with pytest.raises(ValueError, match="NaN"):
        ntk_limit(jnp.array([1.0, jnp.nan]), jnp.array([0.5]), AB)


# --- Simulation: a numpy reference network (rows = samples), DESIGN §5 -----------------------

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(200)
_GH_W = _GH_W / _GH_W.sum()
_SD = np.sqrt(np.sum(_GH_W * np.arctan(_GH_X) ** 2))  # E arctan(xi) = 0 by symmetry


def _sigma(t):
    return np.arctan(t) / _SD


def _dsigma(t):
    return 1 / (1 + t * t) / _SD


def _network_kernels(rng, n, dims, sigma=_sigma, dsigma=_dsigma):
    """X_0 and the CK / structured NTK of a random MLP (numpy; DESIGN §5 formulas)."""
    X = rng.standard_normal((n, dims[0]))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    xs, hs, ws = [X], [], []
    for l in range(1, len(dims)):
        W = rng.standard_normal((dims[l], dims[l - 1]))
        hs.append(xs[-1] @ W.T)
        ws.append(W)
        xs.append(sigma(hs[-1]) / np.sqrt(dims[l]))
    w = rng.standard_normal(dims[-1])
    ck = xs[-1] @ xs[-1].T
    S = dsigma(hs[-1]) * w / np.sqrt(dims[-1])
    ntk = ck.copy()
    for l in range(len(dims) - 1, 0, -1):
        ntk += (xs[l - 1] @ xs[l - 1].T) * (S @ S.T)
        if l > 1:
            S = dsigma(hs[l - 2]) * (S @ ws[l - 1]) / np.sqrt(dims[l - 1])
    return X, ck, ntk, (ws, w)


def test_structured_ntk_reference_matches_autodiff(x64):
    """The numpy NTK above equals J J^T with J from jax.jacrev (tiny network)."""
    rng = np.random.default_rng(4)
    n, dims = 5, (4, 6, 3)
    X, _, ntk, (ws, w) = _network_kernels(
        rng, n, dims, sigma=jnp.tanh, dsigma=lambda t: 1 - jnp.tanh(t) ** 2
    )

    def f(params, x):
        h = x
        for l, W in enumerate(params[0]):
            h = jnp.tanh(h @ W.T) / np.sqrt(dims[l + 1])
        return h @ params[1]

    jac = jax.jacrev(f)((ws, w), jnp.asarray(X))
    flat = jnp.concatenate([j.reshape(n, -1) for j in jax.tree_util.tree_leaves(jac)], axis=1)
    chex.assert_trees_all_close(flat @ flat.T, jnp.asarray(ntk), rtol=1e-10)


def _simulation_errors(n, z_ck, z_ntk, seed=0):
    dims = (3 * n // 4, 5 * n // 4, n)  # the (1500, 2500, 2000) at n = 2000
    X, ck, ntk, _ = _network_kernels(np.random.default_rng(seed), n, dims)
    mu0 = DiscreteMeasure.from_eigenvalues(X)
    gammas = jnp.array([n / dims[1], n / dims[2]])
    a, b = np.sum(_GH_W * _dsigma(_GH_X) ** 2), np.sum(_GH_W * _dsigma(_GH_X))
    errors = []
    for K, spec, z in [(ck, ck_limit, z_ck), (ntk, ntk_limit, z_ntk)]:
        lam = np.linalg.eigvalsh(K)
        empirical = np.mean(1 / (lam[:, None] - z[None, :]), axis=0)
        limit = np.asarray(spec(mu0, gammas, (a, b)).stieltjes(jnp.asarray(z)))
        errors.append(np.abs(empirical - limit) / np.abs(limit))
    return errors


def test_limits_match_simulation_n600(x64):
    # Finite-n error of (1/n) tr (K - z)^{-1} is O(1/(n Im z)): at n = 2000 the measured
    # errors are <= 1.7% (slow test below, 3%), so at n = 600 and Im z = 0.2 we allow 8%.
    z_ck = np.array([0.3, 1.0, 2.0, 3.5]) + 0.2j
    z_ntk = np.array([2.0, 3.0, 5.0, 8.0]) + 0.2j
    err_ck, err_ntk = _simulation_errors(600, z_ck, z_ntk)
    np.testing.assert_array_less(err_ck, 0.08)
    np.testing.assert_array_less(err_ntk, 0.08)


@pytest.mark.slow
def test_limits_match_simulation_n2000(x64):
    z_ck = np.array([0.3 + 0.1j, 1.0 + 0.05j, 2.0 + 0.2j, 3.5 + 0.1j])
    z_ntk = np.array([2.0 + 0.1j, 3.0 + 0.05j, 5.0 + 0.2j, 8.0 + 0.1j])
    err_ck, err_ntk = _simulation_errors(2000, z_ck, z_ntk)
    np.testing.assert_array_less(err_ck, 0.03)
    np.testing.assert_array_less(err_ntk, 0.03)
