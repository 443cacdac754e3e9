"""Experiment ``real_graph_matching``: de-anonymizing real networks, against scipy's FAQ.

Graphs that ship offline: networkx's Zachary karate club (34 vertices), Les Misérables
co-appearances (77), Florentine families (15) and Davis southern women (32, bipartite); a
symmetrized ``digits_k``-nearest-neighbour graph of the first ``digits_n`` images of
scikit-learn's digits; and the Minnesota road network of PyGSP (the breadth-first ball of
``minnesota_n`` vertices around vertex 0). Each graph ``A`` is anonymized by
``anonymize(key, A, noise)`` (``round(noise m)`` of its ``m`` edges rewired, a secret relabelling)
and matched back by every method with and without ``refine_steps`` projected-power steps, and
with a share ``f`` of the vertices given as seed pairs (``f`` in ``seed_fractions``; seeds are a
uniform subset). Baselines on the same pairs and seeds: ``scipy.optimize.quadratic_assignment``
(FAQ from the barycenter, ``partial_match`` = the seeds) and, when it is installed,
graspologic's ``graph_match`` (seeded, padded FAQ); otherwise the summary says why it is absent.

Scores: ``recovery_fraction`` against the hidden relabelling, ``edge_overlap`` (share of the
edges of ``A`` mapped onto edges of ``B``; the true relabelling keeps ``1 - noise``), and the wall
time of each call (eager, after one warm-up call per graph and variant, so compilation is
excluded). Trial ``t`` of every graph uses ``fold_in(key(seed), t)`` for the pair and the seeds,
so all methods see the same pairs. The run is a plain loop (graphs of different sizes and
host-side baselines do not batch); it is cheap enough not to need resuming (the default
``configs/real_graph_matching.yaml``: 8 min 43 s on the shared 2-core CPU, 2026-12-02).

``summary.json``: ``graphs`` (name -> number of vertices), ``noise`` (the grid), ``variants``
(list of variant names ``"<method>[+refine]"`` and the baselines), ``recovery`` and
``overlap`` (graph -> variant -> seed fraction -> list over noise of means over trials),
``seconds`` (variant -> mean seconds per call), ``skipped`` (baseline -> reason), ``trials``.

References:
  Vogelstein, Conroy, Lyzinski, Podrazik, Kratzer, Harley, Fishkind, Vogelstein, Priebe, "Fast
  approximate quadratic programming for graph matching", PLoS ONE 10(4), 2015 (FAQ); Fishkind
  et al., "Seeded graph matching", Pattern Recognit. 87, 2019; Fan, Mao, Wu, Xu,
  arXiv:1907.08880 (GRAMPA).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import scipy.optimize
from matplotlib.figure import Figure

from rmtjax.experiments.config import ConfigError, ExperimentConfig, param
from rmtjax.experiments.context import RunContext
from rmtjax.experiments.engine import trial_key
from rmtjax.experiments.registry import Experiment, register
from rmtjax.graphs import (
    METHODS,
    anonymize,
    edge_overlap,
    from_edges,
    from_networkx,
    match,
    recovery_fraction,
)

__all__ = ["GRAPHS", "RealGraphMatchingConfig", "load_graph"]

GRAPHS = ("karate", "les_miserables", "florentine", "davis", "digits_knn", "minnesota")
"""The real graphs of the experiment."""

BASELINES = ("faq", "graspologic")
"""Baselines: scipy's FAQ and graspologic's ``graph_match`` (when installed)."""


@dataclasses.dataclass(frozen=True)
class RealGraphMatchingConfig(ExperimentConfig):
    """Parameters of ``real_graph_matching`` (defaults: ``configs/real_graph_matching.yaml``)."""

    graphs: tuple[str, ...] = param(GRAPHS, choices=GRAPHS, doc="real graphs (one panel each)")
    digits_n: int = param(200, low=10, doc="digits_knn: number of images (vertices)")
    digits_k: int = param(8, low=1, doc="digits_knn: neighbours per image before symmetrizing")
    minnesota_n: int = param(200, low=10, doc="minnesota: vertices of the BFS ball")
    noises: tuple[float, ...] = param(
        (0.0, 0.05, 0.1), low=0.0, high=1.0, doc="fractions of edges rewired"
    )
    methods: tuple[str, ...] = param(
        ("grampa", "qp", "isorank", "degree_profile"), choices=METHODS, doc="matching methods"
    )
    refine_steps: int = param(20, low=1, doc="projected-power steps of the '+refine' variants")
    seed_fractions: tuple[float, ...] = param(
        (0.0, 0.05, 0.1), low=0.0, high=0.5, doc="shares of vertices given as seed pairs"
    )
    eta: float = param(0.2, low=0.0, closed=(False, True), doc="GRAMPA bandwidth")
    qp_tol: float = param(1e-3, low=0.0, closed=(False, True), doc="ADMM tolerance of qp")
    baselines: tuple[str, ...] = param(BASELINES, choices=BASELINES, doc="baseline matchers")
    trials: int = param(2, low=1, doc="anonymized copies per graph and noise level")
    chunk_size: int = param(1, low=1, in_fingerprint=False, doc="unused (a plain loop)")

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("graphs", "noises", "methods", "seed_fractions"):
            values = getattr(self, key)
            if not values:
                raise ConfigError(f"{key} must not be empty")
            if len(set(values)) != len(values):
                raise ConfigError(f"{key} must not repeat values; got {list(values)}")

    def options(self, method: str) -> dict[str, float]:
        """Keyword options of ``match`` for ``method``."""
        if method in ("grampa", "grampa_rowsum"):
            return {"eta": self.eta}
        return {"tol": self.qp_tol} if method == "qp" else {}


def _digits_knn(n: int, k: int) -> np.ndarray:
    from sklearn.datasets import load_digits
    from sklearn.neighbors import kneighbors_graph

    X = load_digits().data[:n]
    G = kneighbors_graph(X, k, include_self=False)
    return np.asarray(((G + G.T) > 0).toarray(), np.float32)


def _minnesota(n: int) -> np.ndarray:
    import pygsp
    import scipy.sparse.csgraph

    W = pygsp.graphs.Minnesota().W.tocsr()
    order = scipy.sparse.csgraph.breadth_first_order(W, 0, directed=False)[0][:n]
    sub = (W[order][:, order] > 0).tocoo()
    return np.asarray(from_edges(np.column_stack([sub.row, sub.col]), n=len(order)))


def load_graph(name: str, config: RealGraphMatchingConfig) -> np.ndarray:
    """The 0/1 adjacency matrix of a graph of ``GRAPHS``."""
    import networkx as nx

    builders: dict[str, Callable[[], np.ndarray]] = {
        "karate": lambda: from_networkx(nx.karate_club_graph()),
        "les_miserables": lambda: from_networkx(nx.les_miserables_graph()),
        "florentine": lambda: from_networkx(nx.florentine_families_graph()),
        "davis": lambda: from_networkx(nx.davis_southern_women_graph()),
        "digits_knn": lambda: _digits_knn(config.digits_n, config.digits_k),
        "minnesota": lambda: _minnesota(config.minnesota_n),
    }
    return np.asarray(builders[name](), np.float32)


def _faq(A: np.ndarray, B: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    options = {"maximize": True, "partial_match": seeds, "P0": "barycenter"}
    return scipy.optimize.quadratic_assignment(A, B, method="faq", options=options).col_ind


def _graspologic() -> tuple[Callable | None, str]:
    try:
        from graspologic.match import graph_match
    except ImportError as err:
        return None, f"graspologic is not installed ({err})"

    def run(A: np.ndarray, B: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        result = graph_match(A, B, partial_match=seeds if len(seeds) else None, rng=0)
        perm = np.empty(len(A), int)
        perm[result.indices_A] = result.indices_B
        return perm

    return run, ""


def _matchers(config: RealGraphMatchingConfig) -> tuple[dict[str, Callable], dict[str, str]]:
    """Variant name -> ``(A, B, seeds (m, 2)) -> perm``, and the skipped baselines."""
    matchers: dict[str, Callable] = {}
    for method in config.methods:
        for steps in (0, config.refine_steps):

            def ours(A, B, seeds, method=method, steps=steps):
                s = (seeds[:, 0], seeds[:, 1]) if len(seeds) else None
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # unconverged qp: reported
                    perm = match(
                        A, B, method, refine_steps=steps, seeds=s, **config.options(method)
                    )
                return np.asarray(perm)

            matchers[method + ("+refine" if steps else "")] = ours
    skipped = {}
    if "faq" in config.baselines:
        matchers["faq"] = _faq
    if "graspologic" in config.baselines:
        run, why = _graspologic()
        if run is None:
            skipped["graspologic"] = why
        else:
            matchers["graspologic"] = run
    return matchers, skipped


def _seed_pairs(key: jax.Array, perm: np.ndarray, fraction: float) -> np.ndarray:
    n = len(perm)
    idx = np.sort(np.asarray(jax.random.permutation(key, n))[: round(fraction * n)])
    return np.column_stack([idx, perm[idx]]).astype(np.int64)


def run(config: RealGraphMatchingConfig, ctx: RunContext) -> dict[str, Any]:
    matchers, skipped = _matchers(config)
    for name, why in skipped.items():
        print(f"real_graph_matching: skipping {name}: {why}")
    shape = (len(config.seed_fractions), len(config.noises), config.trials)
    recovery = {g: {v: np.zeros(shape) for v in matchers} for g in config.graphs}
    overlap = {g: {v: np.zeros(shape) for v in matchers} for g in config.graphs}
    seconds: dict[str, list[float]] = {v: [] for v in matchers}
    sizes = {}
    for g in config.graphs:
        A = load_graph(g, config)
        sizes[g] = len(A)
        warm: set[tuple[str, int]] = set()
        for j, noise in enumerate(config.noises):
            for t in range(config.trials):
                k_pair, k_seeds = jax.random.split(jax.random.fold_in(trial_key(config.seed, t), j))
                pair = anonymize(k_pair, A, noise)
                B, perm = np.asarray(pair.B), np.asarray(pair.perm)
                for i, fraction in enumerate(config.seed_fractions):
                    seeds = _seed_pairs(k_seeds, perm, fraction)
                    for name, fn in matchers.items():
                        if (name, len(seeds)) not in warm:  # compile outside the timing
                            fn(A, B, seeds)
                            warm.add((name, len(seeds)))
                        start = time.perf_counter()
                        perm_hat = fn(A, B, seeds)
                        seconds[name].append(time.perf_counter() - start)
                        perm_hat = np.asarray(perm_hat, np.int32)
                        recovery[g][name][i, j, t] = float(recovery_fraction(perm_hat, perm))
                        overlap[g][name][i, j, t] = float(edge_overlap(A, B, perm_hat))
    mean_s = {v: float(np.mean(s)) for v, s in seconds.items()}
    ctx.save_data(
        noises=np.asarray(config.noises),
        seed_fractions=np.asarray(config.seed_fractions),
        variants=np.array(list(matchers)),
        **{f"recovery_{g}_{v}": r for g, d in recovery.items() for v, r in d.items()},
        **{f"overlap_{g}_{v}": r for g, d in overlap.items() for v, r in d.items()},
    )
    ctx.save_figure("real_graph_matching", _figure(config, sizes, recovery, mean_s))

    def by_seeds(table: dict) -> dict:
        return {
            g: {
                v: {f"{f:g}": list(r[i].mean(axis=-1)) for i, f in enumerate(config.seed_fractions)}
                for v, r in d.items()
            }
            for g, d in table.items()
        }

    return {
        "graphs": sizes,
        "noise": list(config.noises),
        "variants": list(matchers),
        "recovery": by_seeds(recovery),
        "overlap": by_seeds(overlap),
        "seconds": mean_s,
        "skipped": skipped,
        "trials": config.trials,
    }


def _figure(
    config: RealGraphMatchingConfig, sizes: dict, recovery: dict, seconds: dict[str, float]
) -> Figure:
    rows = sorted({0, len(config.seed_fractions) - 1})
    fig = Figure(figsize=(3.2 * len(config.graphs) + 2.2, 3.0 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(config.graphs), sharey=True, squeeze=False)
    for r, i in enumerate(rows):
        for ax, g in zip(axes[r], config.graphs, strict=True):
            for v, table in recovery[g].items():
                style = "--" if v.endswith("+refine") else ("-" if v in METHODS else ":")
                ax.plot(config.noises, table[i].mean(axis=-1), style, marker="o", ms=3, label=v)
            ax.set_title(f"{g} (n = {sizes[g]}), seeds {config.seed_fractions[i]:.0%}", fontsize=9)
            ax.set_xlabel("fraction of edges rewired")
            ax.set_ylim(-0.03, 1.03)
        axes[r][0].set_ylabel("fraction recovered")
    labels = [f"{v} ({seconds[v]:.2g} s)" for v in recovery[config.graphs[0]]]
    handles = axes[0][-1].get_lines()
    fig.legend(handles, labels, fontsize=7, loc="outside right center")
    fig.suptitle(
        f"De-anonymizing real graphs, {config.trials} copies per point (legend: s per call)",
        fontsize=10,
    )
    return fig


EXPERIMENT = register(
    Experiment(
        name="real_graph_matching",
        config_cls=RealGraphMatchingConfig,
        run=run,
        description="recovery, edge overlap and time on real graphs vs scipy's FAQ (and seeds)",
    )
)
