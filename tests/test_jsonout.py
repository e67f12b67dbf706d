"""`--json` on a script: one strict JSON object on stdout, everything else on stderr."""

import ast
import importlib.util
import json
import os

import numpy as np
import pytest

from gapnet.jsonout import dumps, emit, json_main, wants_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def strict(text: str):
    """json.loads that refuses NaN and the infinities (as every strict parser does)."""

    def refuse(word):
        raise ValueError(f"not JSON: {word}")

    return json.loads(text, parse_constant=refuse)


def test_json_main_sends_prints_to_stderr_and_emits_one_strict_object(capsys):
    @json_main
    def main(argv=None):
        print("| a table |")
        print("stage: 50% (1/2 sample)")
        if "--json" in argv:
            emit({"nan": float("nan"), "inf": np.float32("inf"), "x": np.arange(2), "y": (1,)})
        return 0

    assert main(["--json"]) == 0
    out, err = capsys.readouterr()
    assert strict(out) == {"nan": None, "inf": None, "x": [0, 1], "y": [1]}
    assert "| a table |" in err and "stage: 50%" in err
    assert main([]) == 0  # without --json, the script prints as it always did
    assert capsys.readouterr().out.startswith("| a table |")
    assert wants_json(["--js"]) and not wants_json(["--j", "--jsonx"])
    with pytest.raises(ValueError):
        json.dumps(float("nan"), allow_nan=False)
    assert dumps([float("nan"), np.float64(1.5)], indent=None) == "[null, 1.5]"


def _json_flag_scripts():
    """Scripts of benchmarks/ and experiments/ with a store_true --json flag."""
    for folder in ("benchmarks", "experiments"):
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            path = os.path.join(ROOT, folder, name)
            if name.endswith(".py") and "'--json', action='store_true'" in _calls(path):
                yield os.path.join(folder, name)


def _calls(path) -> str:
    return "\n".join(
        ast.unparse(n)
        for n in ast.walk(ast.parse(open(path).read()))
        if isinstance(n, ast.Call) and "add_argument" in ast.unparse(n.func)
    )


def test_every_script_with_a_json_flag_prints_through_json_main():
    scripts = list(_json_flag_scripts())
    assert "benchmarks/scale.py" in scripts and "experiments/run_single_cell.py" in scripts
    for rel in scripts:
        tree = ast.parse(open(os.path.join(ROOT, rel)).read())
        (main,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
        assert [ast.unparse(d) for d in main.decorator_list] == ["json_main"], rel
        printed = [  # print(json.dumps(...)) writes NaN and goes to stderr under json_main
            ast.unparse(n)
            for n in ast.walk(tree)
            if isinstance(n, ast.Call)
            and ast.unparse(n.func) == "print"
            and n.args
            and isinstance(n.args[0], ast.Call)
            and ast.unparse(n.args[0].func) in ("json.dumps", "dump")
        ]
        assert not printed, (rel, printed)


def test_every_json_option_is_the_flag_that_prints_to_stdout():
    """One meaning of `--json` across the scripts (benchmarks/ome_zarr_tiles.py's took a
    file name and wrote it with json.dump, NaN allowed)."""
    taking = [
        os.path.join(folder, name)
        for folder in ("benchmarks", "experiments", "data_prep")
        for name in sorted(os.listdir(os.path.join(ROOT, folder)))
        if name.endswith(".py") and "'--json'" in _calls(os.path.join(ROOT, folder, name))
    ]
    assert "benchmarks/ome_zarr_tiles.py" in taking
    assert sorted(taking) == sorted(_json_flag_scripts())


def _module(rel, name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, rel))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scale_json_is_one_object_and_its_progress_goes_to_stderr(tmp_path, monkeypatch, capsys):
    """`scale.py --json` once printed its stage lines on stdout before the object."""
    import benchmarks.scale as scale
    import benchmarks.scale_plan as plan

    def fake_run(cmd, log_path, outputs=(), **kw):
        for o in outputs:
            os.makedirs(o, exist_ok=True)
        return {"seconds": 1.0, "peak_rss_mb": 10.0, "disk_mb": 0.0, "log_bytes": 0, "status": 0}

    monkeypatch.setattr(plan, "run", fake_run)
    monkeypatch.setattr(plan, "make_folder", lambda *a, **k: 0)
    monkeypatch.setattr(plan, "last_json", lambda path: {"ratio": float("nan")})
    argv = ["--work", str(tmp_path / "w"), "--sizes", "40", "80", "--labels-only", "--json"]
    assert scale.main(argv) == 0
    out, err = capsys.readouterr()
    result = strict(out)
    assert [s["stage"] for s in result["stages"]][:2] == ["atlas", "folds"]
    assert result["stages"][1]["ratio"] is None and "folds n=40" in err and "| stage |" in err


def test_single_cell_real_json_writes_null_not_nan(tmp_path, monkeypatch, capsys):
    """An AUC of a group with one kind of cell is NaN: `--json` writes null."""
    bench = _module("benchmarks/single_cell_real.py", "single_cell_real_bench")
    auc = {m: float("nan") for m in bench.METHODS}
    fields = {
        "f1": {
            s: {"size": 64, "cells": 2, "matched_to_reference": 2, "round_trip": True}
            for s in ("reference", "own")
        }
    }
    result = {
        "fields": fields,
        "auc": {"own": {"n_cells": 1, "n_positive": 1, "pooled": auc, "per_field_class": {}}},
    }
    monkeypatch.setattr(bench, "run", lambda a, out: result)
    args = ["--run", "r", "--images", "i", "--masks", "m", "--percell", "p", "--json"]
    assert bench.main(args) == 0
    out, err = capsys.readouterr()
    assert strict(out)["auc"]["own"]["pooled"]["image"] is None and "| pooled |" in err
