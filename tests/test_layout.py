"""The package reads in pipeline order: no module imports from a later stage."""

import ast
import os

import gapnet

ROOT = os.path.dirname(gapnet.__file__)
# Stage of each top-level module or subpackage; a module may import its own stage or earlier.
STAGES = {
    "classes": 0,
    "config": 0,
    "io": 0,
    "metrics": 0,
    "thresholds": 0,
    "schemes": 0,
    "data": 1,
    "models": 2,
    "training": 3,
    "cv": 4,
    "explain": 5,
    "report": 6,
    "export": 7,
    "single_cell": 8,
}


def _modules():
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                yield os.path.relpath(path, ROOT).replace(os.sep, "/"), path


def _stage(name: str):
    parts = name.split(".")
    return STAGES.get(parts[1]) if len(parts) > 1 and parts[0] == "gapnet" else None


def test_no_module_imports_a_later_stage():
    upward = []
    for rel, path in _modules():
        own = STAGES.get(rel.split("/")[0].removesuffix(".py"))
        if own is None:  # gapnet/__init__.py: the public shortcuts
            continue
        for node in ast.walk(ast.parse(open(path).read())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                if isinstance(node, ast.ImportFrom) and node.module
                else []
            )
            for n in names:
                stage = _stage(n)
                if stage is not None and stage > own:
                    upward.append(f"{rel} imports {n}")
    assert not upward, upward


def test_modules_are_short():
    lengths = {rel: sum(1 for _ in open(path)) for rel, path in _modules()}
    assert max(lengths.values()) <= 400, max(lengths, key=lengths.get)
    assert sorted(lengths.values())[len(lengths) // 2] <= 150
