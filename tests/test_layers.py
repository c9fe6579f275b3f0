"""The dependency rule, read from the package's own imports (every import, lazy ones included):

    core <- synth / sources / io / loading / metrics / viz <- modalities <- tasks <- models <- cli

Nothing imports upward, no shared layer imports a modality, one modality never imports another,
and the packages' import graph has no cycle.
"""

from __future__ import annotations

import ast
import os

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = os.path.join(REPO_ROOT, "anomaly_lab")
LAYER = {
    "core": 0,
    "synth": 1,
    "sources": 1,
    "io": 1,
    "loading": 1,
    "metrics": 1,
    "viz": 1,
    "modalities": 2,
    "tasks": 3,
    "models": 4,
    "cli": 5,
}


def modules():
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, REPO_ROOT)[: -len(".py")].replace(os.sep, ".")
                yield rel.removesuffix(".__init__"), path


def imports_of(path: str, module: str) -> set[str]:
    tree = ast.parse(open(path).read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: -node.level] if not path.endswith("__init__.py") else module.split(".")
                found.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                found.add(node.module)
    return {name for name in found if name == "anomaly_lab" or name.startswith("anomaly_lab.")}


def part(module: str) -> tuple[str, str | None]:
    """``(top package, modality)`` of a module (``anomaly_lab.modalities.timeseries.codec`` ->
    ``("modalities", "timeseries")``); top-level modules count as ``core``."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 and parts[1] in LAYER else "core"
    modality = parts[2] if top == "modalities" and len(parts) > 2 and parts[2] != "base" else None
    return top, modality


EDGES = sorted({(m, i) for m, path in modules() for i in imports_of(path, m)})


def test_the_rule_reads_real_imports():
    assert ("anomaly_lab.tasks.location", "anomaly_lab.tasks.base") in EDGES
    assert len(EDGES) > 200


@pytest.mark.parametrize("kind", ["upward", "across modalities"])
def test_no_upward_import(kind):
    bad = []
    for src, dst in EDGES:
        (s_top, s_mod), (d_top, d_mod) = part(src), part(dst)
        if kind == "upward" and LAYER[d_top] > LAYER[s_top]:
            bad.append(f"{src} ({s_top}) imports {dst} ({d_top})")
        if kind == "across modalities" and s_mod and d_mod and s_mod != d_mod:
            bad.append(f"{src} imports another modality's {dst}")
    assert not bad, "\n".join(bad)


def test_no_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for src, dst in EDGES:
        a, b = part(src), part(dst)
        a = a[0] if a[1] is None else f"modalities.{a[1]}"
        b = b[0] if b[1] is None else f"modalities.{b[1]}"
        if a != b:
            graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            pytest.fail("import cycle: " + " -> ".join(cycle))
