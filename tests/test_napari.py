"""The napari plugin (`pip install -e ".[napari]"`): its npe2 manifest, its reader, and the
widget's cases (tests/napari_widget_cases.py), run headless in a pytest process of their
own: napari's OpenGL canvas and TensorFlow must not share a process (Mesa's LLVM and
TensorFlow's clash: gapnet/napari/model_process.py), and this suite imports TensorFlow."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("napari")  # the [napari] extra (in dev: CI runs these)
pytest.importorskip("pytestqt")

from gapnet.classes import CHANNELS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIELD = os.path.join(HERE, "..", "gapnet", "resources", "hpa_field")
MANIFEST = os.path.join(HERE, "..", "gapnet", "napari", "napari.yaml")
SID = "000a6c98-bb9b-11e8-b2b9-ac1f6b6435d0"  # a real HPA 2021 field at 512 px


def test_manifest_names_the_reader_and_the_widget():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_file(MANIFEST)
    commands = {c.id: c.python_name for c in manifest.contributions.commands}
    assert commands["gapnet.read_field"] == "gapnet.napari.reader:get_reader"
    assert commands["gapnet.widget"] == "gapnet.napari.widget:GapnetWidget"
    assert manifest.contributions.readers[0].accepts_directories


def test_readme_opens_a_field_with_gapnets_reader():
    """napari's builtins read PNG too, so `napari FIELD_blue.png` asks which reader to use
    (and `viewer.open` picks napari's): the README's command names the plugin."""
    import napari_builtins
    from npe2 import PluginManager, PluginManifest

    pm = PluginManager()
    pm.register(PluginManifest.from_file(MANIFEST))
    pm.register(
        PluginManifest.from_file(os.path.join(napari_builtins.__path__[0], "builtins.yaml"))
    )
    readers = {r.plugin_name for r in pm.iter_compatible_readers([f"/f/{SID}_blue.png"])}
    assert readers == {"gapnet", "napari"}
    with open(os.path.join(HERE, "..", "README.md")) as f:
        (line,) = [x for x in f if "napari" in x and "FIELD_blue.png" in x]
    assert "napari --plugin gapnet FIELD_blue.png" in line


def test_reader_gives_four_channel_layers_of_an_hpa_sample(tmp_path):
    from gapnet.napari.reader import get_reader

    for c in CHANNELS:
        shutil.copy(os.path.join(FIELD, f"{SID}_{c}.png"), tmp_path / f"{SID}_{c}.png")
    path = str(tmp_path / f"{SID}_green.png")
    layers = get_reader(path)(path)
    assert [kw["colormap"] for _, kw, _ in layers] == list(CHANNELS)
    for data, kw, kind in layers:
        assert kind == "image" and data.shape == (512, 512) and data.dtype == np.uint8
        assert kw["metadata"]["gapnet_sample"] == SID and kw["blending"] == "additive"
    assert get_reader(str(tmp_path / "train.csv")) is None  # not ours


def test_reader_names_a_bad_file(tmp_path):
    from gapnet.data.images import ImageError
    from gapnet.napari.reader import read_field_layers

    bad = tmp_path / "x_blue.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageError, match="x_blue.png"):
        read_field_layers(str(bad))


def _hpa_zarr(path, side=64, levels=3, um=0.5):
    """A tiny OME-Zarr field (c, y, x) with the HPA colours as omero labels, by ome-zarr."""
    pytest.importorskip("ome_zarr")
    import zarr
    from ome_zarr.writer import write_image

    cyx = np.random.default_rng(0).integers(0, 65535, (4, side, side), dtype=np.uint16)
    write_image(
        cyx,
        zarr.open_group(str(path), mode="w"),
        axes="cyx",
        scale_factors=[2**k for k in range(1, levels)],
        scale={"c": 1.0, "y": um, "x": um},
        axes_units={"y": "micrometer", "x": "micrometer"},
        storage_options={"chunks": (1, 16, 16)},
        metadata={"omero": {"channels": [{"label": c} for c in CHANNELS]}},
    )
    return str(path)


def test_reader_gives_an_ome_zarr_field_as_lazy_multiscale_layers_in_micrometres(
    tmp_path, monkeypatch
):
    import zarr
    from napari.layers import Image

    from gapnet.data.ome_zarr import open_images
    from gapnet.napari import reader

    path = _hpa_zarr(tmp_path / "f.zarr")
    (image,) = open_images(path)
    raw = [zarr.open_array(f"{path}/{lv.path}") for lv in image.levels]  # (c, y, x) each
    layers = reader.get_reader(path + "/")(path + "/")
    assert [kw["name"] for _, kw, _ in layers] == [f"f {c} ({reader.ROLES[c]})" for c in CHANNELS]
    assert [kw["colormap"] for _, kw, _ in layers] == list(CHANNELS)
    for c, (data, kw, kind) in enumerate(layers):
        assert kind == "image" and kw["multiscale"] and kw["scale"] == (0.5, 0.5)
        assert [d.shape for d in data] == [(64, 64), (32, 32), (16, 16)]  # lazy, per level
        for k, level in enumerate(data):
            np.testing.assert_array_equal(level.compute(), raw[k][c])
    # napari takes it as one multiscale layer; the widget segments the level its metadata
    # names (the coarsest at least SEGMENT_SIDE px: here 32 px), at that level's scale
    from gapnet.napari.field import plane as field_plane

    monkeypatch.setattr(reader, "SEGMENT_SIDE", 32)
    data, kw, _ = reader.read_zarr_layers(path)[2]
    layer = Image(data, **kw)
    assert layer.multiscale and tuple(layer.scale) == (0.5, 0.5)
    plane, scale = field_plane(layer)
    assert isinstance(plane, np.ndarray) and scale == (1.0, 1.0)
    np.testing.assert_array_equal(plane, raw[1][2])
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")  # a Zarr that is not OME-Zarr:
    assert reader.get_reader(str(tmp_path / "plain.zarr")) is None  # left to other readers


@pytest.mark.slow  # napari's start, the tiny run (~1 min) and explain.py: 1-2 min
def test_widget_cases_in_their_own_process(tiny_run):
    """tests/napari_widget_cases.py in a new pytest process (Xvfb by pytest-xvfb): it
    passes and the process exits 0 (a viewer and TensorFlow in one process aborted at exit,
    `free(): invalid pointer`, exit code 134, after every test had passed)."""
    if not (os.environ.get("DISPLAY") or shutil.which("Xvfb")):
        pytest.skip("needs an X server or Xvfb (.ci/run installs it)")
    cmd = [sys.executable, "-m", "pytest", os.path.join(HERE, "napari_widget_cases.py")]
    cmd += ["-q", "-p", "no:cacheprovider", "-m", "slow or not slow"]
    env = {**os.environ, "GAPNET_NAPARI_RUN": tiny_run[0]}
    done = subprocess.run(
        cmd, cwd=os.path.dirname(HERE), env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "3 passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-2000:]


def _planes(side=160):
    from gapnet.napari.analysis import read_field

    planes = read_field({c: os.path.join(FIELD, f"{SID}_{c}.png") for c in CHANNELS})
    return {c: p[:side, :side].copy() for c, p in planes.items()}


@pytest.mark.slow  # default-suite time (docs/development.md)
def test_model_process_gives_what_the_step_gives_here_and_raises_its_errors():
    """The widget's child process (no TensorFlow needed for segmentation): the same label
    images as in this process, and an error in the child raised here with its message."""
    from gapnet.napari.analysis import FieldError, segment_field
    from gapnet.napari.model_process import ModelProcess, segment_in_child

    proc, planes = ModelProcess(), _planes()
    try:
        cells, nuclei = proc.run(segment_in_child, planes, 50.0)
        want_cells, want_nuclei = segment_field(planes, 50.0)
        np.testing.assert_array_equal(cells, want_cells)
        np.testing.assert_array_equal(nuclei, want_nuclei)
        with pytest.raises(FieldError, match="needs the nucleus .blue. channel"):
            proc.run(segment_in_child, {"red": planes["red"]}, 50.0)
    finally:
        proc.close()


def test_closing_the_model_process_ends_a_running_step():
    import threading

    from gapnet.napari.analysis import FieldError
    from gapnet.napari.model_process import ModelProcess, segment_in_child

    proc, planes, raised = ModelProcess(), _planes(512), []

    def step():
        try:
            proc.run(segment_in_child, planes, 50.0)
        except FieldError as e:
            raised.append(str(e))

    thread = threading.Thread(target=step)
    thread.start()
    threading.Event().wait(0.3)  # the child is starting or segmenting
    proc.close()
    thread.join(30)
    assert not thread.is_alive() and raised and "process ended" in raised[0]


def test_a_cells_colour_text_and_top_class_name_the_same_called_class():
    """Cell 1: class 0 scores highest but only class 2 is called; cell 2: nothing called."""
    from gapnet.napari.analysis import Calls, cell_table
    from gapnet.napari.layers import NO_CALL, cell_colors, cell_text, class_colors

    names = [f"c{k}" for k in range(3)]
    head = "Id,cell,x,y,area,edge,p_0,p_1,p_2,labels"
    rows = ["f,1,5,5,9,0,0.9,0.1,0.6,2", "f,2,8,8,9,1,0.9,0.1,0.2,"]
    calls = Calls(None, [], None, None, [], rows, head)
    table = cell_table(calls, names)
    colors = cell_colors(table, 3)
    np.testing.assert_array_equal(colors[1], class_colors(3)[2])
    np.testing.assert_array_equal(colors[2], NO_CALL)
    assert cell_text(table, names)[1] == ["1: c2", "2: - (edge)"]
    # on a 720-px field a character is 10 px: "1: c2" is 50 px wide, "2: - (edge)" 110 px;
    # at x 5 and 8 (y 5, 8) they ran off the field's left and top edges: moved in
    yx, _ = cell_text(table, names, side=(100, 720))
    assert yx.tolist() == [[10, 25], [30, 55]]  # the second, overlapping, a line lower
    right = cell_text({**table, "x": [710, 719]}, names, side=(100, 720))[0]
    assert right[:, 1].tolist() == [695, 665]  # and off the right edge: 720 - 25, 720 - 55
    # two texts at one place: the second is written a line (2 characters) below the first
    same = cell_text({**table, "x": [300, 300], "y": [50, 50]}, names, side=(100, 720))[0]
    assert same.tolist() == [[50, 300], [70, 300]]
    assert list(table["top_class"]) == ["c2", "-"]


def test_a_two_channel_model_reads_its_own_channels_of_a_field():
    """A (green, blue) model on a 4-channel field: the image it is given has its 2
    channels (red and yellow dropped, with a note); a green+blue field is accepted; a
    field without blue is refused naming it."""
    from gapnet.channels import make_channel_set
    from gapnet.napari import analysis

    cs = make_channel_set(("green", "blue"), {})
    model = analysis.ModelSource("m", "run", 1, np.full(19, 0.5, np.float32), (), 32, "", False, cs)
    planes = _planes(32)
    assert "red, yellow" in analysis.check_channels(SID, planes, cs)
    assert analysis.check_channels(SID, {c: planes[c] for c in ("green", "blue")}, cs) == ""
    with pytest.raises(analysis.FieldError, match=r"missing: blue"):
        analysis.check_channels(SID, {"green": planes["green"]}, cs)
    seen = []

    class Proc:  # the child process, recording what it is given
        def run(self, f, *args):
            seen.append(args)
            return np.zeros(19, np.float32) if len(args) == 2 else np.zeros((19, 32, 32))

    source = {c: os.path.join(FIELD, f"{SID}_{c}.png") for c in CHANNELS}
    steps = analysis.iter_classify(Proc(), model, SID, source, None)
    next(steps)
    image = seen[0][1]
    assert image.shape == (32, 32, 2)
    from gapnet.data.microscope import read_image

    np.testing.assert_array_equal(image, read_image(source, 32)[..., [1, 2]])


def test_reader_leaves_other_images_to_other_readers_and_takes_named_ones(tmp_path):
    """An RGB photo or an unnamed TIFF is not an HPA field (it once opened as one 'photo
    blue (nucleus)' layer); `<id>_<colour>` files and OME-TIFFs are gapnet's."""
    import tifffile
    from PIL import Image

    from gapnet.napari.reader import get_reader

    rgb = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    for name in ("photo.png", "photo.jpg", "x_purple.png"):
        Image.fromarray(rgb).save(tmp_path / name)
        assert get_reader(str(tmp_path / name)) is None, name
    tifffile.imwrite(tmp_path / "plain.tif", rgb[..., :2].transpose(2, 0, 1))
    assert get_reader(str(tmp_path / "plain.tif")) is None
    named = str(tmp_path / "gb.ome.tif")
    tifffile.imwrite(named, rgb[..., :2].transpose(2, 0, 1), metadata={"axes": "CYX",
                     "Channel": {"Name": ["green", "blue"]}})  # fmt: skip
    layers = get_reader(named)(named)
    assert [kw["metadata"]["gapnet_channel"] for _, kw, _ in layers] == ["green", "blue"]
    unnamed = str(tmp_path / "u.ome.tif")  # OME, but its 3 planes are not named
    tifffile.imwrite(unnamed, rgb.transpose(2, 0, 1), metadata={"axes": "CYX"})
    with pytest.raises(ValueError, match="OME metadata") as raised:
        get_reader(unnamed)(unnamed)
    assert "--channels" not in str(raised.value)  # no CLI flags in napari


def test_python_m_gapnet_napari_tells_a_bad_file_in_one_line(tmp_path, capsys):
    from gapnet.napari.__main__ import main

    bad = tmp_path / "x_blue.png"
    bad.write_bytes(b"not a png")
    photo = tmp_path / "photo.png"
    shutil.copy(os.path.join(FIELD, f"{SID}_blue.png"), photo)
    for path, why in ((bad, "x_blue.png"), (photo, "not a field gapnet reads")):
        assert main([str(path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and why in err and "Traceback" not in err
        assert err.count("\n") == 1


def test_the_manifest_is_registered_where_napari_has_not_discovered_it(monkeypatch):
    from npe2 import PluginManager

    from gapnet.napari.__main__ import register_manifest

    pm = PluginManager()
    monkeypatch.setattr(pm, "discover", lambda *a, **k: None)  # no entry point found
    register_manifest(pm)
    assert pm.get_manifest("gapnet").contributions.readers
    register_manifest(pm)  # already there: not registered twice


def test_classifys_status_and_overlay_keep_saying_the_model_is_synthetic():
    from gapnet.napari.layers import with_synthetic

    assert "SYNTHETIC" in with_synthetic("f: 3 cells called (rule)", True)
    assert with_synthetic("image calls (p > t): none", False) == "image calls (p > t): none"
