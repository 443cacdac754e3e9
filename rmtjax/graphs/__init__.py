"""Spectral graph matching: correlated random graph models, similarities, rounding, metrics.

Permutation convention: vertex ``i`` of ``A`` corresponds to vertex ``perm[i]`` of ``B``; a
similarity ``X`` has rows = vertices of ``A`` and columns = vertices of ``B``.
"""

from rmtjax._solution import RESULTS, Solution
from rmtjax.graphs.baselines import degree_profile, eigenalign, isorank
from rmtjax.graphs.matching import match, refine
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
from rmtjax.graphs.rounding import ROUNDINGS, round_to_permutation
from rmtjax.graphs.similarity import (
    METHODS,
    grampa,
    grampa_rowsum,
    similarity,
    top_eigenvector,
    umeyama,
)

__all__ = [
    "METHODS",
    "RESULTS",
    "ROUNDINGS",
    "GraphPair",
    "Solution",
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
    "round_to_permutation",
    "similarity",
    "top_eigenvector",
    "umeyama",
    "unpermute",
]
