"""The package reads in pipeline order (docs/architecture.md): no module imports from a
later stage, no two modules import each other, modules stay short."""

import ast
import os

import gapnet

ROOT = os.path.dirname(gapnet.__file__)
# Stage of each top-level module or subpackage; a module may import its own stage or earlier.
STAGES = {
    "classes": 0,
    "channels": 0,
    "config": 0,
    "config_rules": 0,
    "io": 0,
    "metrics": 0,
    "thresholds": 0,
    "schemes": 0,
    "progress": 0,
    "quiet": 0,
    "jsonout": 0,
    "workers": 0,
    "data": 1,
    "segment": 2,
    "models": 3,
    "training": 4,
    "cv": 5,
    "explain": 6,
    "report": 7,
    "export": 8,
    "single_cell": 9,
    "napari": 10,
}


def _modules():
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                yield os.path.relpath(path, ROOT).replace(os.sep, "/"), path


def _imports(path: str, top_level_only: bool = False, package: str = "") -> set[str]:
    """The modules `path` imports (`from a.b import c` gives a.b and a.b.c; relative
    imports resolved against `package`, the module's own package); with `top_level_only`,
    only those imported when the module itself is imported."""
    tree = ast.parse(open(path).read())
    nodes = _module_level(tree.body) if top_level_only else ast.walk(tree)
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, package)
            if module:
                out |= {module} | {f"{module}.{a.name}" for a in node.names}
    return out


def _absolute(node: ast.ImportFrom, package: str) -> str | None:
    """The absolute name of `from ... import`'s module (`from ..segment import x` in
    package gapnet.data: gapnet.segment)."""
    if not node.level:
        return node.module
    parts = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
    return ".".join(parts + ([node.module] if node.module else [])) or None


def _package(rel: str) -> str:
    """The package of the module at `rel` (a path under gapnet/)."""
    parts = ["gapnet"] + rel[:-3].split("/")
    return ".".join(parts[:-1])


def _module_level(body):
    """The statements run when a module is imported: its body, and inside it the bodies of
    `if`, `try` and `with` blocks (not functions or classes)."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody"):
                yield from _module_level(getattr(node, field, []))
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first search of `graph` (each reported once)."""
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def _graph(folder: str, package: str, top_level_only: bool) -> dict[str, set[str]]:
    names = {}
    for dirpath, _, files in os.walk(folder):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, f), os.path.dirname(folder))
                mod = rel[:-3].replace(os.sep, ".").removesuffix(".__init__")
                names[mod] = os.path.join(dirpath, f)
    graph = {}
    for mod, path in names.items():
        deps = set()
        own = mod if path.endswith("__init__.py") else mod.rpartition(".")[0]
        for n in _imports(path, top_level_only, own):
            while n and n not in names:  # `from a.b import name`: the module a.b
                n = n.rpartition(".")[0]
            if n and n != mod and n.startswith(package):
                deps.add(n)
        graph[mod] = deps
    return graph


def _stage(name: str):
    parts = name.split(".")
    return STAGES.get(parts[1]) if len(parts) > 1 and parts[0] == "gapnet" else None


def _upward(rel: str, path: str) -> list[str]:
    """The imports of the module at `rel` (under gapnet/) from a later stage than its own."""
    own = STAGES.get(rel.split("/")[0].removesuffix(".py"))
    if own is None:  # gapnet/__init__.py: the public shortcuts
        return []
    names = _imports(path, package=_package(rel))
    return sorted(f"{rel} imports {n}" for n in names if (_stage(n) or -1) > own)


def test_no_module_imports_a_later_stage():
    upward = [line for rel, path in _modules() for line in _upward(rel, path)]
    assert not upward, upward


def test_a_relative_upward_import_is_caught(tmp_path):
    path = tmp_path / "m.py"
    for line in ("from ..segment import masks", "from .. import segment", "import gapnet.cv"):
        path.write_text(line + "\n")
        assert _upward("data/m.py", str(path)), line
    path.write_text("from . import labels\nfrom ..io import atomic_write_text\n")
    assert not _upward("data/m.py", str(path))
    assert _imports(str(path), package="gapnet.data") >= {"gapnet.data.labels", "gapnet.io"}


def test_modules_are_short():
    lengths = {rel: sum(1 for _ in open(path)) for rel, path in _modules()}
    assert max(lengths.values()) <= 400, max(lengths, key=lengths.get)
    assert sorted(lengths.values())[len(lengths) // 2] <= 150


def test_scripts_benchmarks_and_tests_are_short_too():
    """The 400-line cap holds outside the package as well (docs/architecture.md)."""
    repo = os.path.dirname(ROOT)
    long = []
    for top in ("experiments", "data_prep", "benchmarks", "tests"):
        for folder, _, files in os.walk(os.path.join(repo, top)):
            for f in files:
                path = os.path.join(folder, f)
                if f.endswith(".py") and sum(1 for _ in open(path)) > 400:
                    long.append(os.path.relpath(path, repo))
    assert not long, long


def test_imports_inside_if_and_try_blocks_count_as_module_level(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "try:\n    import gapnet.a\nexcept ImportError:\n    import gapnet.b\n"
        "if True:\n    from gapnet.c import d\ndef f():\n    import gapnet.e\n"
    )
    found = _imports(str(path), top_level_only=True)
    assert {"gapnet.a", "gapnet.b", "gapnet.c"} <= found and "gapnet.e" not in found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_package():
    """Module-level imports only: a package's `__init__` re-exporting its modules, which
    import each other by their full names, is no cycle at import time."""
    graph = _graph(ROOT, "gapnet", top_level_only=True)
    for pkg in [m for m in graph if f"{m}.__init__" not in graph]:  # __init__ -> children
        graph[pkg] = {d for d in graph[pkg] if not d.startswith(pkg + ".")}
    assert not _cycles(graph)


def test_no_import_cycle_in_the_benchmarks():
    """Every import, also those inside functions: the benchmarks share `benchmarks.common`
    and never import each other in a circle."""
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
    assert not _cycles(_graph(here, "benchmarks", top_level_only=False))
