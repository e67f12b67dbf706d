"""The napari widget, headless (pytest-qt's qtbot, napari's make_napari_viewer; Xvfb
through pytest-xvfb, installed by .ci/run): Segment, Classify and Map layers, the per-cell
table against explain.py's cells.csv, Cancel, the messages for bad input.

Run by tests/test_napari.py in a pytest process of their own: napari's OpenGL canvas (Mesa,
under Xvfb and on most Linux desktops) and TensorFlow must not share a process
(gapnet/napari/model_process.py says why), and the rest of the suite imports TensorFlow.
So nothing here imports it: explain.py runs as a command, the run comes from
GAPNET_NAPARI_RUN (tests/test_napari.py's tiny_run), and each test checks at its end that
TensorFlow stayed out of this process."""

import csv
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from gapnet.classes import CHANNELS

FIELD = os.path.join(os.path.dirname(__file__), "..", "gapnet", "resources", "hpa_field")
SID = "000a6c98-bb9b-11e8-b2b9-ac1f6b6435d0"  # a real HPA 2021 field at 512 px


@pytest.fixture
def field_root(tmp_path):
    """A Kaggle-layout folder holding the real field (so explain.py --data reads it too)."""
    root = tmp_path / "hpa"
    (root / "train").mkdir(parents=True)
    for c in CHANNELS:
        shutil.copy(os.path.join(FIELD, f"{SID}_{c}.png"), root / "train" / f"{SID}_{c}.png")
    (root / "train.csv").write_text(f"Id,Target\n{SID},7 1 2 0\n")
    return root


MANIFEST = os.path.join(os.path.dirname(FIELD), "..", "napari", "napari.yaml")


@pytest.fixture
def plugin(npe2pm):
    """The gapnet plugin, registered from its manifest with npe2's test plugin manager
    (the installed entry point names the same file)."""
    with npe2pm.tmp_plugin(manifest=MANIFEST) as p:
        yield p


@pytest.fixture(autouse=True)
def no_tensorflow_here():
    yield
    assert "tensorflow" not in sys.modules, "TensorFlow was imported in napari's process"


def _done(qtbot, widget):
    """Waits until the widget's work has ended (its state, set before the work starts: a
    signal could come before a wait connects to it)."""
    timeout = int(os.environ.get("GAPNET_NAPARI_WAIT_MS", 300_000))
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def test_widget_says_what_is_wrong_without_a_traceback(make_napari_viewer, qtbot, tmp_path):
    from gapnet.napari.widget import GapnetWidget

    viewer = make_napari_viewer()
    widget = GapnetWidget(viewer)
    widget.classify()
    assert "load a model first" in widget.status.text()
    widget.load_model(str(tmp_path))  # an empty folder: not a run, not a preset
    _done(qtbot, widget)
    assert "not a finished run folder or a preset" in widget.status.text()
    assert "Traceback" not in widget.status.text()
    blue = np.zeros((64, 64), np.uint8)
    viewer.add_image(
        blue, metadata={"gapnet_sample": "s", "gapnet_source": "s.tif", "gapnet_channel": "blue"}
    )
    from types import SimpleNamespace

    from gapnet.channels import ALL, make_channel_set

    widget.model = SimpleNamespace(channel_set=ALL)  # any model: the channel check comes first
    widget.classify()
    assert "the model reads red, green, blue, yellow (missing: red, green, yellow)" in (
        widget.status.text()
    )
    widget.model = SimpleNamespace(channel_set=make_channel_set(("green", "blue"), {}))
    widget.classify()  # a (green, blue) model: only green is missing
    assert "the model reads green, blue (missing: green)" in widget.status.text()


def test_segment_gives_cells_nuclei_and_edge_cells_and_cancel_stops_it(
    make_napari_viewer, qtbot, field_root, plugin
):
    from gapnet.napari.widget import GapnetWidget

    viewer = make_napari_viewer()
    viewer.open(str(field_root / "train" / f"{SID}_blue.png"), plugin="gapnet")
    assert [x.data.shape for x in viewer.layers] == [(512, 512)] * 4
    widget = GapnetWidget(viewer)
    widget.segment()
    widget.cancel()  # at once: the child process is ended, nothing is drawn
    _done(qtbot, widget)
    assert widget.status.text().endswith("cancelled") and "cells" not in viewer.layers
    ticks, added = _ui_ticks(), []  # the UI answers while the layers are added:
    viewer.layers.events.inserted.connect(lambda e: added.append(len(ticks.seen)))
    widget.segment()  # a new child process
    _done(qtbot, widget)
    ticks.stop()
    assert len(added) == 3 and added[0] < added[1] < added[2]  # ticks between the layers
    assert len(widget.ui_steps) == 7  # each layer added, then shown; the status line
    cells, nuclei = viewer.layers["cells"], viewer.layers["nuclei"]
    assert cells.data.shape == nuclei.data.shape == (512, 512)
    assert cells.data.dtype == np.int32 and cells.data.max() > 5
    assert cells.visible and nuclei.visible and viewer.layers["edge cells"].visible
    assert viewer.layers["edge cells"].contour == 3 and cells.opacity == 0.4
    edge = viewer.layers["edge cells"].data
    assert 0 < len(set(edge.ravel()) - {0}) < len(set(cells.data.ravel()) - {0})
    assert set(edge.ravel()) <= set(cells.data.ravel())
    assert list(cells.features["index"]) == sorted(set(cells.data.ravel()) - {0})
    widget.proc.close()


def _ui_ticks():
    """A 5 ms timer on the UI thread; `seen` counts its ticks (each one an event-loop turn
    the UI had between other work)."""
    from qtpy.QtCore import QTimer

    timer = QTimer()
    timer.seen = []
    timer.timeout.connect(lambda: timer.seen.append(1))
    timer.start(5)
    return timer


@pytest.mark.slow  # needs the tiny run (tests/test_napari.py) and runs explain.py
def test_segment_classify_map_layers_equal_explains_cells_csv(
    make_napari_viewer, qtbot, field_root, tmp_path, plugin
):
    from gapnet.napari.widget import GapnetWidget

    run = os.environ.get("GAPNET_NAPARI_RUN")
    if not run:
        pytest.skip("run by tests/test_napari.py, which trains the tiny run")
    viewer = make_napari_viewer()
    viewer.open(str(field_root / "train" / f"{SID}_blue.png"), plugin="gapnet")
    widget = GapnetWidget(viewer)
    widget.load_model(run)
    _done(qtbot, widget)
    assert widget.model is not None and "SYNTHETIC" in widget.status.text()
    widget.classify()  # segments first
    _done(qtbot, widget)
    assert "SYNTHETIC" in widget.status.text()  # still said after Classify
    assert "SYNTHETIC" in viewer.canvas.overlays.text.text
    cells = viewer.layers["cells"]
    assert cells.data.shape == viewer.layers["nuclei"].data.shape == (512, 512)
    table = cells.features
    assert list(table["index"]) == sorted(set(np.unique(cells.data)) - {0})
    assert {"label_names", "top_class", "p_0", "p_27", "edge"} <= set(table.columns)
    assert len(viewer.layers["calls"].data) == len(table)
    assert cells.visible and cells.opacity == 0.5
    assert type(cells.colormap).__name__ == "DirectLabelColormap"  # by best called class
    layer = widget.show_map(7)  # Golgi apparatus
    assert layer.name == "map: Golgi apparatus" and layer.data.shape == (48, 48)
    assert np.allclose(np.asarray(layer.scale), 512 / 48)

    out = str(tmp_path / "explain")
    args = ["--run", run, "--data", str(field_root), "--ids", SID, "--out", out, "--no-report"]
    subprocess.run([sys.executable, "experiments/explain.py", *args], check=True)
    with open(os.path.join(out, "cells.csv")) as f:
        lines = f.read().splitlines()
    assert lines[1:] == widget.calls.rows  # the same cells, scores and calls, to the digit
    with open(os.path.join(out, "cells.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["cell"]) for r in rows] == list(table["index"])
    np.testing.assert_allclose(table["p_3"], [float(r["p_3"]) for r in rows])
    assert list(table["labels"]) == [r["labels"] for r in rows]

    # the same field as an OME-Zarr (2 levels, 0.5 µm/px): the same cells and calls, in µm
    cells_png, rows_png = np.asarray(cells.data).copy(), list(widget.calls.rows)
    viewer.layers.clear()
    viewer.open(_field_zarr(tmp_path / f"{SID}.zarr"), plugin="gapnet")
    assert viewer.layers[0].multiscale and tuple(viewer.layers[0].scale) == (0.5, 0.5)
    widget.segment()
    _done(qtbot, widget)
    np.testing.assert_array_equal(viewer.layers["cells"].data, cells_png)
    assert tuple(viewer.layers["cells"].scale) == (0.5, 0.5)
    widget.classify()
    _done(qtbot, widget)
    assert tuple(viewer.layers["calls"].scale) == (0.5, 0.5)  # the text over its cells
    # the same cells (number, centroid, area, edge), each with its calls; the scores differ
    # a little: the model's 48 px come from the zarr's 256-px level (as predict.py reads a
    # .zarr: the coarsest level at least the model's size), not from the 512-px PNGs
    n = widget.calls.header.split(",").index("p_0")
    assert [r.split(",")[:n] for r in widget.calls.rows] == [r.split(",")[:n] for r in rows_png]
    assert np.allclose(np.asarray(widget.show_map(7).scale), 0.5 * 512 / 48)
    widget.proc.close()


def _field_zarr(path) -> str:
    """The real field's four PNGs as an OME-Zarr (uint8 c, y, x; 2 levels; 0.5 µm/px)."""
    import zarr
    from ome_zarr.writer import write_image
    from PIL import Image

    files = [os.path.join(FIELD, f"{SID}_{c}.png") for c in CHANNELS]
    cyx = np.stack([np.asarray(Image.open(f)) for f in files])
    write_image(
        cyx,
        zarr.open_group(str(path), mode="w"),
        axes="cyx",
        scale_factors=[2],
        scale={"c": 1.0, "y": 0.5, "x": 0.5},
        axes_units={"y": "micrometer", "x": "micrometer"},
        metadata={"omero": {"channels": [{"label": c} for c in CHANNELS]}},
    )
    return str(path)
