"""explain.py --images: a user's own images (PNG sets, OME-TIFF, OME-Zarr) explained by a
run's fold models averaged, in the user's channel names, at the run's pixel size."""

import csv
import importlib.util
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.conftest import real_pngs

OWN = ("MT", "GFP", "DAPI", "ER")  # the user's names of red, green, blue, yellow
MAP = "MT=red,GFP=green,DAPI=blue,ER=yellow"


def _cli():
    script = os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments", "explain.py")
    spec = importlib.util.spec_from_file_location("explain_cli", script)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    return cli


def _planes(side):
    pngs = real_pngs()
    return [np.asarray(Image.open(pngs[c]).convert("L").resize((side, side))) for c in range(4)]


@pytest.fixture
def own_images(tmp_path):
    """A PNG set (48 px, no pixel size), an OME-TIFF (96 px at 0.25 µm/px) and an OME-Zarr
    (48 px at 0.5 µm/px), every channel under the user's own names."""
    import tifffile

    d = tmp_path / "images"
    d.mkdir()
    for name, plane in zip(OWN, _planes(48), strict=True):
        Image.fromarray(plane).save(d / f"pngset_{name}.png")
    tifffile.imwrite(
        d / "field.ome.tif",
        np.stack(_planes(96)),
        metadata={
            "axes": "CYX",
            "Channel": {"Name": list(OWN)},
            "PhysicalSizeX": 0.25,
            "PhysicalSizeY": 0.25,
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeYUnit": "µm",
        },
        ome=True,
    )
    pytest.importorskip("ome_zarr")
    from tests.test_ome_zarr import write_zarr

    write_zarr(d / "plate.zarr", np.stack(_planes(48)), labels=OWN, um=0.5, levels=1)
    return d


@pytest.mark.slow  # ~25 s: 28 class maps x 3 fold models per image
def test_explain_images_of_three_kinds_in_own_channel_names_at_the_runs_pixel_size(
    tiny_run, own_images, tmp_path, capsys
):
    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["pixel_size"] = 0.5  # the run's model sees 0.5 µm/px
    (run / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "out"
    cli = _cli()
    argv = ["--run", str(run), "--images", str(own_images), "--out", str(out)]
    assert cli.main(argv + ["--channel-map", MAP, "--pixel-size", "0.5"]) == 0
    said = capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    names = sorted(summary["samples"])
    assert names == ["field", "plate", "pngset"]
    assert summary["method"]["rule"].startswith("all fold models averaged")
    assert summary["method"]["channels"] == "MT=red, GFP=green, DAPI=blue, ER=yellow"
    for n in names:
        assert (out / "figures" / f"{n}.png").is_file()
    # the OME-TIFF's 96 px at 0.25 µm/px resampled to the run's 0.5: 48 px, one field
    assert "field.ome.tif: resampled 96→48 px" in said.out
    with open(out / "segmentation.csv", newline="") as f:
        assert sorted(r["image"] for r in csv.DictReader(f)) == names
    with open(out / "cells.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["Id"] for r in rows} <= set(names)
    # the same pixels explained as a labelled folder reads them: the fold average's
    # probabilities, equal for the PNG set and the zarr of the same planes
    p = summary["probabilities"]
    np.testing.assert_allclose(p["pngset"], p["plate"], atol=1e-4)
    # masks given: the image's own cells, cells.csv from them
    masks = tmp_path / "masks"
    masks.mkdir()
    m = np.zeros((48, 48), np.uint16)
    m[:24], m[24:] = 1, 2
    Image.fromarray(m).save(masks / "pngset_cells.png")
    argv2 = argv + ["--channel-map", MAP, "--ids", "pngset", "--cells", str(masks)]
    assert cli.main(argv2) == 0
    with open(out / "cells.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["Id"], r["cell"], r["area"]) for r in rows] == [
        ("pngset", "1", "1152"),
        ("pngset", "2", "1152"),
    ]


def test_explain_images_refuses_bad_input_naming_the_file(tiny_run, own_images, tmp_path, capsys):
    cli = _cli()
    argv = ["--run", tiny_run[0], "--images", str(own_images), "--out", str(tmp_path / "o")]
    # without the map the run's names (red, green, ...) are not among the files'
    assert cli.main(argv) == 1
    assert "no red, green, blue, yellow channel among" in capsys.readouterr().err
    # a map that leaves out a role the model needs
    assert cli.main(argv + ["--channel-map", "GFP=green,DAPI=blue"]) == 1
    assert "gives no file channel for red, yellow" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(argv + ["--channel-map", "GFP=green,GFP=blue"])
    assert "'GFP' is named twice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(argv + ["--pixel-size", "0"])
    with pytest.raises(SystemExit):
        cli.main(argv + ["--embeddings"])
    capsys.readouterr()
    with pytest.raises(SystemExit):  # the masks are the cells: no method to choose
        cli.main(argv + ["--cells", str(tmp_path), "--segment-method", "classical"])
    assert "--segment-method goes without --cells" in capsys.readouterr().err


@pytest.mark.slow  # ~5 s: every class map of one image by three fold models
def test_own_images_figures_claim_no_truth_for_unlabelled_images(
    tiny_run, own_images, tmp_path, monkeypatch
):
    """A user's images have no labels: no panel may call a class "(not true)" (each class
    panel said so, as if the class were known to be absent)."""
    from gapnet.explain import figures

    kept = []
    monkeypatch.setattr(figures.plt, "close", kept.append)
    out = tmp_path / "out"
    argv = ["--run", tiny_run[0], "--images", str(own_images), "--out", str(out)]
    assert _cli().main(argv + ["--channel-map", MAP, "--ids", "pngset"]) == 0
    (fig,) = kept
    titles = [ax.title.get_text() for ax in fig.axes]
    monkeypatch.undo()
    figures.plt.close(fig)
    assert titles[0] == "pngset\n(no labels)"
    assert len(titles) > 1 and not any("true" in t for t in titles), titles
