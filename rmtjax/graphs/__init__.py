"""Spectral graph matching: correlated random graph models, similarities, rounding, metrics.

Permutation convention: vertex ``i`` of ``A`` corresponds to vertex ``perm[i]`` of ``B``; a
similarity ``X`` has rows = vertices of ``A`` and columns = vertices of ``B``.
"""

from rmtjax._solution import RESULTS, Solution
from rmtjax.graphs._inputs import MEMORY_FRACTION
from rmtjax.graphs.anonymize import ANONYMIZERS, anonymize
from rmtjax.graphs.baselines import degree_profile, eigenalign, isorank
from rmtjax.graphs.matching import PADDINGS, match, refine, soft_match
from rmtjax.graphs.metrics import edge_overlap, recovery_fraction
from rmtjax.graphs.models import (
    GraphPair,
    correlated_erdos_renyi,
    correlated_wigner,
    from_edges,
    from_networkx,
    goe,
    normalize_adjacency,
    permute,
    unpermute,
)
from rmtjax.graphs.qp import qp_doubly_stochastic
from rmtjax.graphs.rounding import ROUNDINGS, round_to_permutation, sinkhorn
from rmtjax.graphs.seeded_grampa import seeded_grampa
from rmtjax.graphs.similarity import (
    ALIASES,
    METHODS,
    RAW_INPUT,
    grampa,
    grampa_rowsum,
    resolve_method,
    similarity,
    similarity_solution,
    top_eigenvector,
    umeyama,
)

__all__ = [
    "ALIASES",
    "ANONYMIZERS",
    "MEMORY_FRACTION",
    "METHODS",
    "PADDINGS",
    "RAW_INPUT",
    "RESULTS",
    "ROUNDINGS",
    "GraphPair",
    "Solution",
    "anonymize",
    "correlated_erdos_renyi",
    "correlated_wigner",
    "degree_profile",
    "edge_overlap",
    "eigenalign",
    "from_edges",
    "from_networkx",
    "goe",
    "grampa",
    "grampa_rowsum",
    "isorank",
    "match",
    "normalize_adjacency",
    "permute",
    "qp_doubly_stochastic",
    "recovery_fraction",
    "refine",
    "resolve_method",
    "round_to_permutation",
    "seeded_grampa",
    "similarity",
    "similarity_solution",
    "sinkhorn",
    "soft_match",
    "top_eigenvector",
    "umeyama",
    "unpermute",
]
