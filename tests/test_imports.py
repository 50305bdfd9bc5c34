"""Every module imports, and the package has no import cycle - counting imports inside functions,
which Python resolves late and so hides until the one code path that runs them."""

import ast
import importlib
from pathlib import Path

import pytest

import warmstart

ROOT = Path(warmstart.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ["warmstart", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _package(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


def _targets(importer: str, imported: str) -> set[str]:
    """The warmstart modules that `import imported` executes from `importer`: the module and each
    enclosing package's __init__, except the packages `importer` itself lives in (already running)."""
    out, parts = set(), imported.split(".")
    own = _package(importer)
    for i in range(2, len(parts) + 1):
        name = ".".join(parts[:i])
        if name in MODULES and not (own == name or own.startswith(name + ".")):
            out.add(name)
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> warmstart modules it imports anywhere in its source (top level or inside functions)."""
    graph = {}
    for name, path in MODULES.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from pkg import sub` imports the submodule pkg.sub when there is one.
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for imported in names:
                if imported == "warmstart" or imported.startswith("warmstart."):
                    edges |= _targets(name, imported)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_cycle_detector_finds_a_function_level_cycle():
    # Guard that the test above can fail: a -> b at top level, b -> a inside a function.
    graph = {"warmstart.a": {"warmstart.b"}, "warmstart.b": {"warmstart.a"}, "warmstart.c": set()}
    assert find_cycles(graph) == [["warmstart.a", "warmstart.b"]]
    assert "warmstart.models" in import_graph()["warmstart.workflows.export"]


@pytest.mark.parametrize("name", sorted(set(MODULES) - {"warmstart.__main__"}))  # __main__ runs the CLI
def test_module_imports(name):
    importlib.import_module(name)
