"""Independent reference formulas shared by the spectra tests."""

import numpy as np


def free_moments(h, gamma):
    """Moments m1..m4 of rho_gamma ⊠ H from h_k = ∫ t^k dH (free cumulants, DESIGN §4)."""
    h1, h2, h3, h4 = h
    return np.array(
        [
            h1,
            h2 + gamma * h1**2,
            h3 + 3 * gamma * h1 * h2 + gamma**2 * h1**3,
            h4
            + 4 * gamma * h1 * h3
            + 2 * gamma * h2**2
            + 6 * gamma**2 * h1**2 * h2
            + gamma**3 * h1**4,
        ]
    )
