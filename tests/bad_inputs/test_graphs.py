"""Bad inputs to rmtjax.graphs: each gets a clear exception naming the argument, eagerly and,
where the check applies under ``jit``, jitted (shape/dtype checks raise at trace time; value
checks that cannot raise under ``jit`` give NaN instead of a plausible number)."""

import functools
import warnings

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from rmtjax.graphs import (
    anonymize,
    correlated_erdos_renyi,
    correlated_wigner,
    degree_profile,
    from_networkx,
    grampa,
    match,
    normalize_adjacency,
    recovery_fraction,
    round_to_permutation,
    sinkhorn,
)

KEY = jax.random.key(0)
A5 = np.asarray(correlated_erdos_renyi(KEY, 5, 0.5, 0.0).A)
ARANGE4 = np.arange(4, dtype=np.int32)

# (id, function, array arguments, keyword arguments, exception, phrase, under jit)
#   under jit: "raise" (same exception at trace time), "nan" (the result is NaN), None (eager
#   only: the function takes Python values or inspects concrete data by design).
CASES = [
    ("normalize_1x1", normalize_adjacency, (np.zeros((1, 1)),), {}, ValueError, "n >= 2", "raise"),
    (
        "normalize_nonsymmetric",
        normalize_adjacency,
        (np.triu(np.ones((3, 3))),),
        {},
        ValueError,
        "A must be symmetric",
        None,
    ),
    (
        "recovery_not_a_permutation",
        recovery_fraction,
        (np.zeros(4, np.int32), ARANGE4),
        {},
        ValueError,
        "perm_hat must be a permutation",
        "nan",
    ),
    (
        "recovery_out_of_range",
        recovery_fraction,
        (ARANGE4 + 4, ARANGE4),
        {},
        ValueError,
        r"distinct vertex ids in \[0, 4\)",
        "nan",
    ),
    (
        "recovery_empty",
        recovery_fraction,
        (np.zeros(0, np.int32), np.zeros(0, np.int32)),
        {},
        ValueError,
        "empty",
        "raise",
    ),
    (
        "recovery_batch_mismatch",
        recovery_fraction,
        (np.zeros((2, 4), np.int32) + ARANGE4, np.zeros((3, 4), np.int32) + ARANGE4),
        {},
        ValueError,
        "batch shapes must broadcast",
        "raise",
    ),
    (
        "recovery_float_ids",
        recovery_fraction,
        (np.ones(4), ARANGE4),
        {},
        ValueError,
        "perm_hat must be an integer array",
        "raise",
    ),
    (
        "degree_profile_n1",
        degree_profile,
        (np.zeros((1, 1)), np.zeros((1, 1))),
        {},
        ValueError,
        "n >= 2",
        "raise",
    ),
    ("grampa_complex", grampa, (A5 * 1j, A5), {}, TypeError, "A must be a real", "raise"),
    (
        "grampa_batch_mismatch",
        grampa,
        (np.stack([A5] * 3), np.stack([A5] * 2)),
        {},
        ValueError,
        "batch shapes must broadcast",
        "raise",
    ),
    ("grampa_sizes", grampa, (A5, np.eye(4)), {}, ValueError, "same size n", "raise"),
    (
        "match_unknown_method",
        match,
        (A5, A5),
        {"method": "qp_ds"},
        ValueError,
        "unknown method",
        None,
    ),
    (
        "sinkhorn_temperature",
        sinkhorn,
        (A5,),
        {"temperature": 0.0},
        ValueError,
        "temperature must be > 0",
        None,
    ),
    (
        "rounding_candidates",
        round_to_permutation,
        (A5,),
        {"method": "topk", "candidates": 0},
        ValueError,
        "candidates must be a positive int",
        None,
    ),
]

SCALAR_CASES = [
    (
        "wigner_fractional_n",
        lambda: correlated_wigner(KEY, 2.5, 0.1),
        ValueError,
        "n must be a positive int",
    ),
    (
        "er_fractional_n",
        lambda: correlated_erdos_renyi(KEY, 2.5, 0.5, 0.1),
        ValueError,
        "n must be a positive int",
    ),
    ("anonymize_noise", lambda: anonymize(KEY, A5, 2.0), ValueError, "noise must lie in"),
    (
        "anonymize_model",
        lambda: anonymize(KEY, A5, 0.1, model="gauss"),
        ValueError,
        "unknown model",
    ),
    (
        "seeds_unequal",
        lambda: match(A5, A5, seeds=([0, 1], [2])),
        ValueError,
        "same length",
    ),
]


@pytest.mark.parametrize(
    "fn, args, kwargs, error, phrase", [c[1:6] for c in CASES], ids=[c[0] for c in CASES]
)
def test_eager(fn, args, kwargs, error, phrase):
    with pytest.raises(error, match=phrase):
        fn(*args, **kwargs)


JIT_CASES = [c for c in CASES if c[6] is not None]


@pytest.mark.parametrize(
    "fn, args, kwargs, error, phrase, mode",
    [c[1:7] for c in JIT_CASES],
    ids=[c[0] for c in JIT_CASES],
)
def test_jitted(fn, args, kwargs, error, phrase, mode):
    jitted = jax.jit(functools.partial(fn, **kwargs))
    if mode == "nan":
        assert bool(jnp.isnan(jitted(*args)))
        return
    with pytest.raises(error, match=phrase):
        jitted(*args)


@pytest.mark.parametrize(
    "call, error, phrase", [c[1:] for c in SCALAR_CASES], ids=[c[0] for c in SCALAR_CASES]
)
def test_scalar_arguments(call, error, phrase):
    with pytest.raises(error, match=phrase):
        call()


def test_match_normalize_auto_needs_concrete_inputs():
    with pytest.raises(ValueError, match="normalize='auto' inspects"):
        jax.jit(match)(A5, A5)
    jax.jit(functools.partial(match, normalize=True))(A5, A5)  # explicit: fine


def test_bool_adjacency_is_a_01_graph():
    """Documented meaning: a bool adjacency is the 0/1 float graph."""
    np.testing.assert_array_equal(grampa(A5 > 0, A5 > 0), grampa(A5, A5))


def test_recovery_fraction_broadcasts_over_batches():
    perms = np.stack([ARANGE4, ARANGE4[::-1].copy()])
    np.testing.assert_allclose(recovery_fraction(perms, ARANGE4), [1.0, 0.0])


@pytest.mark.parametrize("graph", [nx.cycle_graph(12), nx.complete_graph(6)])
def test_grampa_warns_without_matching_signal(graph):
    """Regular graphs: 1 is an eigenvector of both, X is constant, any matching is as good."""
    A = np.asarray(from_networkx(graph))
    with pytest.warns(RuntimeWarning, match="no matching signal"):
        grampa(A, A)


def test_grampa_does_not_warn_on_a_generic_graph():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        grampa(A5, A5)
