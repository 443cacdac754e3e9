"""Shared test data for tests/nets: numpy-drawn weights and inputs.

Drawing test weights with numpy instead of ``init_mlp`` avoids one XLA compile of the
threefry sampler per width tuple (~1-2 s each on 2 cores); ``init_mlp`` itself is tested in
test_mlp.py.
"""

import itertools

import jax.numpy as jnp
import numpy as np

from rmtjax.nets.mlp import MLPParams


def normal(seed, shape):
    """Standard normal array drawn by numpy."""
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape))


def mlp_params(seed, widths, batch=None):
    """MLPParams with N(0, 1) entries, optionally with a leading batch axis of size ``batch``."""
    lead = () if batch is None else (batch,)
    rng = np.random.default_rng(seed)
    hidden = [
        jnp.asarray(rng.standard_normal((*lead, d_out, d_in)))
        for d_in, d_out in itertools.pairwise(widths)
    ]
    return MLPParams(hidden, jnp.asarray(rng.standard_normal((*lead, widths[-1]))))
