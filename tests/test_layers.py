"""The import graph of the installed ``rmtjax`` points one way and has no cycle.

Layers, top to bottom: ``cli`` > ``experiments`` > {``nets``, ``graphs``} > ``spectra`` >
{``activations`` and the private ``rmtjax._*`` modules}. A module may import its own layer's
package or anything below it; ``nets`` and ``graphs`` may not import each other. Every
``import`` and ``from ... import`` (module level or inside a function, absolute or relative)
of an ``rmtjax`` module is an edge. ``rmtjax/__init__.py`` (the top re-export) is exempt.
"""

from __future__ import annotations

import ast
from pathlib import Path

import rmtjax

# Rank of each top-level name (higher may import lower); "_" stands for any rmtjax._* module.
_RANKS = {"cli": 4, "experiments": 3, "nets": 2, "graphs": 2, "spectra": 1, "activations": 0}
_ROOT = "rmtjax"

Table = dict[str, tuple[bool, str]]  # module name -> (is a package __init__, source)


def _group(module: str) -> str | None:
    """The layer group of a module: its top-level name under rmtjax (``"_"`` if private)."""
    parts = module.split(".")
    if len(parts) == 1:
        return None  # rmtjax itself
    return "_" if parts[1].startswith("_") else parts[1]


def _rank(group: str | None) -> int | None:
    if group is None:
        return len(_RANKS)  # the top re-export: above everything
    return 0 if group == "_" else _RANKS.get(group)


def _resolve(name: str, table: Table) -> str:
    """The module an imported dotted name denotes: itself if it is a module, else its parent."""
    while name not in table and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports(module: str, is_package: bool, source: str, table: Table) -> list[tuple[int, str]]:
    """``(line, target module)`` for every import of an rmtjax module in ``source``."""
    package = module if is_package else module.rsplit(".", 1)[0]
    edges = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            names = [f"{stem}.{alias.name}" for alias in node.names]
            names = [n if n.split(".")[0] == _ROOT and n in table else stem for n in names]
        else:
            continue
        edges += [(node.lineno, _resolve(n, table)) for n in names if n.split(".")[0] == _ROOT]
    return edges


def _file(module: str, is_package: bool) -> str:
    return module.replace(".", "/") + ("/__init__.py" if is_package else ".py")


def check_layers(table: Table) -> list[str]:
    """Every upward import, import between nets and graphs, unlayered module and cycle."""
    problems, graph = [], {}
    for module, (is_package, source) in sorted(table.items()):
        if module == _ROOT:
            continue  # the top re-export is exempt
        where = _file(module, is_package)
        here = _group(module)
        if _rank(here) is None:
            problems.append(f"{where}: module {module} has no layer")
            continue
        graph[module] = set()
        for line, target in _imports(module, is_package, source, table):
            there = _group(target)
            rank, target_rank = _rank(here), _rank(there)
            graph[module].add(target)
            if target_rank is None:
                problems.append(f"{where}:{line}: imports {target}, which has no layer")
            elif target_rank > rank or (target_rank == rank and here != there and rank > 0):
                layer = "rmtjax._*" if here == "_" else f"rmtjax.{here}"
                problems.append(f"{where}:{line}: imports {target}, not below {layer}")
    return problems + [f"import cycle: {' -> '.join(c)}" for c in _cycles(graph)]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path) per cycle-carrying strongly connected component."""
    found, done = [], set()
    for start in sorted(graph):
        stack, path, on_path = [(start, iter(sorted(graph[start])))], [start], {start}
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
            elif child in on_path:
                found.append([*path[path.index(child) :], child])
            elif child not in done and child in graph:
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
                on_path.add(child)
    unique = {frozenset(c): c for c in found}
    return list(unique.values())


def _installed_table() -> Table:
    root = Path(rmtjax.__file__).parent
    table = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        table[".".join(parts[:-1] if is_package else parts)] = (is_package, path.read_text())
    return table


def test_installed_package_imports_point_down_without_cycles():
    table = _installed_table()
    assert {"rmtjax.activations", "rmtjax.spectra", "rmtjax.cli"} <= set(table)
    problems = check_layers(table)
    assert not problems, "\n".join(problems)


def _synthetic(**modules: str) -> Table:
    table = {_ROOT: (True, "")}
    for name, source in modules.items():
        is_package = name.endswith("__init__")
        name = name.removesuffix("__init__").rstrip("_").replace("__", ".")
        table[f"{_ROOT}.{name}" if name else _ROOT] = (is_package, source)
    return table


def test_checker_passes_a_clean_table():
    table = _synthetic(
        spectra__init__="from rmtjax.spectra.kernel import k\nfrom . import kernel\n",
        spectra__kernel="from rmtjax._checks import c\nfrom rmtjax.activations import a\n",
        activations="from rmtjax._checks import c\n",
        _checks="import numpy\n",
        nets__init__="from rmtjax.spectra import k\n",
    )
    assert check_layers(table) == []


def test_checker_flags_upward_imports():
    table = _synthetic(
        spectra__init__="",
        spectra__kernel="def f():\n    from rmtjax.nets import g\n",  # function level
        spectra__limits="from ..experiments import run\n",  # relative
        nets__init__="import rmtjax.graphs.models\n",  # nets -> graphs
        graphs__init__="",
        graphs__models="from rmtjax import spectra\n",
        experiments__init__="",
        _checks="import rmtjax.spectra\n",
        activations="from rmtjax import __version__\n",
    )
    problems = check_layers(table)
    expected = [
        "rmtjax/_checks.py:1: imports rmtjax.spectra",
        "rmtjax/activations.py:1: imports rmtjax,",
        "rmtjax/nets/__init__.py:1: imports rmtjax.graphs.models",
        "rmtjax/spectra/kernel.py:2: imports rmtjax.nets",
        "rmtjax/spectra/limits.py:1: imports rmtjax.experiments",
    ]
    for prefix in expected:
        assert sum(p.startswith(prefix) for p in problems) == 1, (prefix, problems)
    assert len(problems) == len(expected), problems  # graphs -> spectra is allowed


def test_checker_flags_cycles_and_unlayered_modules():
    table = _synthetic(
        spectra__a="from rmtjax.spectra.b import x\n",
        spectra__b="from rmtjax.spectra import c\n",
        spectra__c="def f():\n    from rmtjax.spectra import a\n",
        plots="",
    )
    problems = check_layers(table)
    assert "rmtjax/plots.py: module rmtjax.plots has no layer" in problems
    cycles = [p for p in problems if p.startswith("import cycle")]
    path = " -> ".join(f"rmtjax.spectra.{m}" for m in "abca")
    assert cycles == [f"import cycle: {path}"]
