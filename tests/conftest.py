"""Shared pytest fixtures.

The library never flips global JAX config; tests that need float64 request the ``x64``
fixture, which enables it for the duration of the test only.
"""

import jax
import pytest


@pytest.fixture
def x64():
    """Run the test body with ``jax_enable_x64`` on (restored afterwards)."""
    with jax.enable_x64(True):
        yield
