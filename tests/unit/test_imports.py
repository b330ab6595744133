"""The import graph of src/tunix_rt points down the layers and has no cycle.

Layers, lowest first (a package may import its own modules and any lower layer):
errors, the package root < settings < db < traces < datasets | hf < runs | training < evaluations
| sweeps < worker < api < cli. runs and training share a layer and may not import each other:
training is the child program and runs is the queue; the worker joins them. evaluations and
sweeps share one too (a sweep reads evaluation rows through db, not evaluations). Every
import counts, including ones inside functions and under TYPE_CHECKING: a cycle that only
typing closes is still two modules that cannot be understood apart.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "tunix_rt"

LAYERS: dict[str, int] = {
    "": 0,  # tunix_rt/__init__.py
    "errors": 0,
    "settings": 1,
    "db": 2,
    "traces": 3,
    "datasets": 4,
    "hf": 4,
    "runs": 5,
    "training": 5,
    "evaluations": 6,
    "sweeps": 6,
    "worker": 7,
    "api": 8,
    "cli": 9,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def imported_modules(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """Modules of this package that `name` imports, resolved to the module itself
    (`from tunix_rt.runs import queue` is an import of tunix_rt.runs.queue)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            targets = [
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.split(".")[0] == PACKAGE:
                yield target


def import_graph() -> dict[str, set[str]]:
    modules = discover()
    known = set(modules)
    return {
        name: set(imported_modules(name, path, known)) - {name} for name, path in modules.items()
    }


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_every_package_has_a_layer() -> None:
    unknown = sorted({layer_of(m) for m in discover() if layer_of(m) not in LAYERS})
    assert not unknown, f"add these packages to LAYERS in {__file__}: {unknown}"


def test_imports_point_down_the_layers() -> None:
    upward = []
    for source, targets in sorted(import_graph().items()):
        src_layer = layer_of(source)
        for target in sorted(targets):
            dst_layer = layer_of(target)
            if dst_layer == src_layer or dst_layer not in LAYERS or src_layer not in LAYERS:
                continue
            if LAYERS[dst_layer] >= LAYERS[src_layer]:
                upward.append(f"{source} -> {target}")
    assert not upward, "imports that point up (or across) the layers:\n" + "\n".join(upward)


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": {"b2"}, "b2": {"b"}}, ["b", "b2", "b"]),
    ],
)
def test_find_cycle(graph: dict[str, set[str]], expected: list[str] | None) -> None:
    assert find_cycle(graph) == expected


def test_from_import_resolves_to_the_submodule() -> None:
    graph = import_graph()
    assert "tunix_rt.errors" in graph["tunix_rt.settings"]
    assert "tunix_rt.runs.queue" in graph["tunix_rt.worker.reaper"]
