"""The benchmarks run and report the named figures their --json promises (tiny forms)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")


def run_json(script, *args):
    """(stderr, the object): --json prints one strict JSON object on stdout, the rest on
    stderr."""
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", script), *args, "--json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc.stderr, json.loads(proc.stdout, parse_constant=_refuse)


def _refuse(word):
    raise ValueError(f"--json wrote {word}, which is not JSON")


@pytest.mark.slow
def test_gpu_benchmark_runs_its_tiny_form_without_a_gpu():
    out, result = run_json("gpu.py", "--tiny", "--models", "gapnet_pl")
    assert result["tiny"] and result["size"] == 64 and not result["skipped"] + result["failed"]
    cell = result["cells"][0]
    assert cell["model"] == "gapnet_pl" and cell["precision"] == "float32"
    for feed in ("memory", "cache", "predict"):
        assert cell[feed]["median"] > 0 and cell[feed]["low"] <= cell[feed]["high"]
    proj = result["projection"]["gapnet_pl"]
    assert proj["hours"] > 0 and proj["largest_batch"] in (4, 8)
    assert "| gapnet_pl | float32 | off |" in out and "projected" in out


@pytest.mark.slow
def test_pipeline_benchmark_reports_png_cache_and_decode_limit():
    _, result = run_json(
        "pipeline.py",
        "--n",
        "8",
        "--size",
        "64",
        "--batch",
        "4",
        "--seconds",
        "0.2",
        "--repeats",
        "2",
    )
    for key in ("png", "cache", "decode_limit"):
        assert result[key] > 0
    assert result["cache_over_png"] == pytest.approx(result["cache"] / result["png"])


def test_single_cell_benchmark_refuses_its_development_draw():
    import runpy

    main = runpy.run_path("benchmarks/single_cell.py", run_name="bench")["main"]
    with pytest.raises(SystemExit) as e:
        main(["--seed", "21"])
    assert e.value.code == 2


@pytest.mark.slow
def test_ome_zarr_benchmark_reports_wall_time_and_peak_rss_per_field_size(tmp_path):
    pytest.importorskip("ome_zarr")
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "ome_zarr_tiles.py"),
            "--sizes",
            "1024,2048",
            "--segment-sizes",
            "1024",
            "--work",
            str(tmp_path),
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    rows = json.loads(done.stdout)["fields"]  # one object on stdout, the table on stderr
    assert [r["size"] for r in rows] == [1024, 2048] and "segment" not in rows[1]
    for stage in ("write", "predict", "segment"):
        assert rows[0][stage]["status"] == 0 and rows[0][stage]["peak_rss_mb"] > 0
        assert rows[0][stage]["rss_ratio"] == 1.0
    assert rows[0]["segment"]["nuclei"] > 0 and rows[1]["predict"]["images"] == ["field2048"]


@pytest.mark.slow
def test_augment_parity_benchmark_reports_pooled_and_block_p_values():
    """The measurement behind item 18's cause (docs/configuration.md) can be rerun: tiny
    form, two blocks of 100 draws a side."""
    err, result = run_json("augment_parity.py", "--draws", "200", "--block", "100")
    assert result["draws_per_side"] == 200 and result["recipe"]["shear"] == 15.0
    assert len(result["pooled_p"]) == 15 and result["device_seeds"] == [0, 1]
    assert result["pooled_min_p"] == min(result["pooled_p"].values())
    for side in ("cpu", "device"):
        assert result["blocks"][side]["n"] == 2
        assert 0 <= result["blocks"][side]["share_below_0.01"] <= 1
    assert [b["seed"] for b in result["blocks"]["device"]["per_block"]] == [0, 1]
    assert len(result["blocks"]["cpu"]["block_mean_spread"]) == 15
    assert "| marker_y |" in err and "drawn 200 of 200 per side" in err
    assert "device blocks under 0.01, by seed:" in err
    for side in ("cpu", "device"):  # the no-difference rate from the same draws
        own = result["blocks"][side]["against_own_side"]
        assert 0 <= own["share_below_0.001"] <= own["share_below_0.01"] <= 1
    assert "| cpu (100) | the rest of cpu draws | 2 |" in err
    # Device blocks drawn as training draws them: consecutive batches of one layer.
    err, result = run_json(
        "augment_parity.py", "--draws", "200", "--block", "100", "--device-batches"
    )
    assert result["device_batches"] and result["device_seeds"] == [0, 0]
    rows = result["blocks"]["device"]["per_block"]
    assert [(b["seed"], b["batch"]) for b in rows] == [(0, 0), (0, 1)]
