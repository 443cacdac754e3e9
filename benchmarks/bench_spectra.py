"""Limit-spectrum benchmarks: CK/NTK densities vs a numpy fixed point, and exact vs thinned mu0.

1. ``ck_density_L5`` / ``ntk_density_L5``: density of the L = 5 limits on a grid at
   tolerance 1e-10 (float64), ours (batched continuation + Newton, jit) vs a per-point numpy
   damped fixed-point iteration of the same flattened recursion (DESIGN §4). Both evaluate
   ``Im m(x + i eta) / pi`` at ``eta = 1e-3`` (plain iteration cannot reach ``eta = 0``);
   target: at least 10x faster. ``extra`` reports the largest density difference and the
   time of our unbiased ``eta = 0`` density on the same grid.
2. ``thinning_1e4_atoms``: CK density with mu0 an empirical spectrum of 10^4 atoms (exact
   weights) vs the same solve on 100 quantile-thinned atoms (SPECTRODE's discretization);
   ``extra`` reports the density error thinning causes. Target: the cost grows at most
   linearly with the number of atoms (ratio <= atoms / 100).
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks._harness import Case

GAMMAS_L5 = (0.5, 1.0, 1.5, 0.8, 1.2)
ARCTAN_AB = (1.111850, 0.977754)  # standardized arctan (DESIGN §5)
ETA = 1e-3
TOL = 1e-10


def _sweep_numpy(s, zvec, atoms, weights, gammas, b2):
    """One pass of the flattened t_L recursion (DESIGN §4, steps 1-3); returns (s_new, T)."""
    L = len(gammas)
    zc = np.array(zvec, dtype=complex)
    R = [0j] * (L + 1)
    for k in range(L, 0, -1):
        zkk = zc[k + 1]
        denom = 1 + gammas[k - 1] * zkk * s[k - 1]
        c = zkk / denom
        R[k] = s[k - 1] / denom
        zc[0] += (1 - b2) * c
        zc[k] += b2 * c
    inv = weights / (zc[0] + zc[1] * atoms)
    T, R[0] = inv.sum(), (inv * atoms).sum()
    s_new = np.array([(1 - b2) * T + b2 * R[k - 1] for k in range(1, L + 1)])
    return s_new, T


def _density_numpy(x, q, atoms, weights, gammas, b, eta=ETA, tol=TOL, damping=0.5):
    """Per-point damped fixed point ``s <- (1-w) s + w F(s)`` until the relative residual < tol."""
    out = np.empty(len(x))
    b2 = b * b
    for i, xi in enumerate(x):
        zvec = np.array(q, dtype=complex)
        zvec[0] -= xi + 1j * eta
        s = np.full(len(gammas), 1j)
        for _ in range(200_000):
            f, T = _sweep_numpy(s, zvec, atoms, weights, gammas, b2)
            if np.max(np.abs(f - s)) < tol * np.max(np.abs(s)):
                break
            s = (1 - damping) * s + damping * f
        out[i] = T.imag / np.pi
    return out


def _window(spec) -> tuple[float, float]:
    """The support hull, widened by 5% on each side (grid of the density benchmarks)."""
    support = spec.support()
    lo, hi = float(support[0, 0]), float(support[-1, 1])
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _input_spectrum(seed=0, n=200, d=400):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    return np.clip(np.linalg.eigvalsh(X @ X.T), 0, None)


def _density_case(kind: str, points: int) -> Case:
    import jax
    import jax.numpy as jnp

    from rmtjax import spectra

    builder = {"ck": spectra.ck_limit, "ntk": spectra.ntk_limit}[kind]
    atoms = _input_spectrum()
    weights = np.full(atoms.size, 1 / atoms.size)
    with jax.enable_x64(True):
        spec = builder(jnp.asarray(atoms), jnp.asarray(GAMMAS_L5), ARCTAN_AB, tol=TOL)
        lo, hi = _window(spec)
        x = np.linspace(lo, hi, points + 2)[1:-1]
        q = np.asarray(spec.q)
        x_j = jnp.asarray(x)

    def ours():
        with jax.enable_x64(True):
            return spec.density(x_j, eta=ETA)

    def baseline():
        return _density_numpy(x, q, atoms, weights, GAMMAS_L5, ARCTAN_AB[1])

    with jax.enable_x64(True):
        ours_rho = np.asarray(ours())
        start = time.perf_counter()
        jax.block_until_ready(spec.density(x_j))
        unbiased_s = time.perf_counter() - start
    return Case(
        name=f"{kind}_density_L5",
        size=f"L=5, {points} points, mu0 {atoms.size} atoms, tol {TOL:g}, f64",
        ours=ours,
        baseline=baseline,
        target=0.1,
        repeats=3,
        baseline_name="numpy per-point damped fixed point",
        extra={
            "max_density_diff": float(np.max(np.abs(ours_rho - baseline()))),
            "ours_eta0_density_s": unbiased_s,
        },
    )


def _empirical_atoms(count: int, seed: int = 1) -> np.ndarray:
    """Spectrum of a block-diagonal mixture of Wishart matrices (count atoms, exact)."""
    rng = np.random.default_rng(seed)
    blocks = []
    for scale in (0.5, 1.0, 2.0, 4.0, 8.0):
        n = count // 5
        G = rng.standard_normal((n, 2 * n)) / np.sqrt(2 * n)
        blocks.append(scale * np.clip(np.linalg.eigvalsh(G @ G.T), 0, None))
    return np.concatenate(blocks)


def _thinning_case(atom_count: int, points: int) -> Case:
    import jax
    import jax.numpy as jnp

    from rmtjax import spectra

    atoms = _empirical_atoms(atom_count)
    gammas = (0.5, 1.2)
    with jax.enable_x64(True):
        full_mu = spectra.DiscreteMeasure(jnp.asarray(atoms))
        full = spectra.ck_limit(full_mu, jnp.asarray(gammas), ARCTAN_AB, tol=TOL)
        thin = spectra.ck_limit(full_mu.thin(100), jnp.asarray(gammas), ARCTAN_AB, tol=TOL)
        lo, hi = _window(full)
        x = jnp.asarray(np.linspace(lo, hi, points + 2)[1:-1])

    def ours():
        with jax.enable_x64(True):
            return full.density(x)

    def baseline():
        with jax.enable_x64(True):
            return thin.density(x)

    exact, thinned = np.asarray(ours()), np.asarray(baseline())
    return Case(
        name="thinning_1e4_atoms",
        size=f"CK L=2, mu0 {atoms.size} atoms vs 100 thinned, {points} points, f64",
        ours=ours,
        baseline=baseline,
        target=atoms.size / 100,  # cost at most linear in the number of atoms
        repeats=3,
        baseline_name="same solver on 100 quantile-thinned atoms (SPECTRODE)",
        extra={
            "thinning_max_abs_density_error": float(np.max(np.abs(thinned - exact))),
            "thinning_rel_L1_error": float(np.sum(np.abs(thinned - exact)) / np.sum(exact)),
        },
    )


def cases(quick: bool) -> list[Case]:
    """Density cost/accuracy at L = 5 and the cost of exact (unthinned) input spectra."""
    density_points = 25 if quick else 1000  # the numpy reference costs ~50 ms per point
    atom_count = 2000 if quick else 10_000
    return [
        _density_case("ck", density_points),
        _density_case("ntk", density_points),
        _thinning_case(atom_count, 100 if quick else 1000),
    ]
