"""OME-Zarr input (#39): the NGFF reader (levels, µm/px, channel labels, tiles, plates), its
errors, and predicting a .zarr as the same pixels in PNGs are predicted. Tiny zarrs are
written with ome-zarr's own writer."""

import csv
import os

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ome_zarr")
import zarr  # noqa: E402

from gapnet.channels import make_channel_set  # noqa: E402
from gapnet.data.images import ImageError  # noqa: E402
from gapnet.data.ome_zarr import ZarrImage, open_images  # noqa: E402
from gapnet.data.tile_grid import spans as _spans  # noqa: E402

GFP_DNA = make_channel_set(channel_map={"GFP": "green", "DNA": "blue"})


def write_zarr(path, cyx, labels=("GFP", "DNA"), um=0.5, levels=3, unit="micrometer", chunk=16):
    """An NGFF image (c, y, x) with `levels` levels (each halving), written by ome-zarr."""
    from ome_zarr.writer import write_image

    root = zarr.open_group(str(path), mode="w")
    meta = {"omero": {"channels": [{"label": lb} for lb in labels]}} if labels else {}
    write_image(
        cyx,
        root,
        axes="cyx",
        scale_factors=[2**k for k in range(1, levels)],
        scale={"c": 1.0, "y": um, "x": um},
        axes_units={"y": unit, "x": unit} if unit else None,
        storage_options={"chunks": (1, chunk, chunk)},
        metadata=meta,
    )
    return str(path)


def field(h=64, w=64, c=2, seed=0, dtype=np.uint16):
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max, (c, h, w), dtype=dtype)


def test_three_levels_read_back_identical_at_level_0_with_their_pixel_sizes(tmp_path):
    cyx = field()
    (im,) = open_images(write_zarr(tmp_path / "f.zarr", cyx))
    assert im.name == "f" and im.channels == ["GFP", "DNA"]
    assert [lv.shape for lv in im.levels] == [(64, 64), (32, 32), (16, 16)]
    assert [lv.um_per_px for lv in im.levels] == [(0.5, 0.5), (1.0, 1.0), (2.0, 2.0)]
    np.testing.assert_array_equal(im.region(0, 0, 64, 0, 64), cyx.transpose(1, 2, 0))
    window = im.region(0, 10, 30, 5, 60, [1])  # only the chunks it touches
    np.testing.assert_array_equal(window, cyx[1:, 10:30, 5:60].transpose(1, 2, 0))
    # nanometres are converted; no unit: no physical size
    (nm,) = open_images(write_zarr(tmp_path / "nm.zarr", cyx, um=250, unit="nanometer"))
    assert nm.levels[0].um_per_px == (0.25, 0.25)
    (bare,) = open_images(write_zarr(tmp_path / "bare.zarr", cyx, unit=None))
    assert bare.levels[0].um_per_px is None
    with pytest.raises(ImageError, match=r"bare.zarr: no physical pixel size"):
        bare.level_for_um(0.5)
    # --pixel-size for axes without a unit: level 0 at it, the others at their ratios
    given = bare.with_pixel_size(0.25)
    assert [lv.um_per_px for lv in given.levels] == [(0.25, 0.25), (0.5, 0.5), (1.0, 1.0)]
    assert given.level_for_um(0.5) == 1 and bare.levels[0].um_per_px is None


def test_ngff_04_on_zarr_v2_as_bioformats2raw_writes_it_reads_and_takes_labels(tmp_path):
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    from gapnet.segment.zarr_labels import write_labels

    cyx = field(32, 32, 2, 7, np.uint8)
    root = zarr.open_group(str(tmp_path / "old.zarr"), mode="w", zarr_format=2)
    meta = {"omero": {"channels": [{"label": "DAPI"}, {"label": "GFP"}]}}
    write_image(cyx, root, axes="cyx", fmt=FormatV04(), scale_factors=[2], metadata=meta)
    (im,) = open_images(str(tmp_path / "old.zarr"))
    assert im.channels == ["DAPI", "GFP"] and [lv.shape for lv in im.levels] == [(32, 32), (16, 16)]
    np.testing.assert_array_equal(im.region(0, 0, 32, 0, 32), cyx.transpose(1, 2, 0))
    mask = np.arange(32 * 32, dtype=np.uint32).reshape(32, 32)
    write_labels(im, "cells", mask)
    assert zarr.open_group(str(tmp_path / "old.zarr/labels")).attrs["labels"] == ["cells"]
    np.testing.assert_array_equal(
        zarr.open_array(str(tmp_path / "old.zarr/labels/cells/s0"))[:], mask
    )


def test_the_level_nearest_the_target_pixel_size_or_the_models_size_is_read(tmp_path):
    (im,) = open_images(write_zarr(tmp_path / "f.zarr", field()))
    assert im.level_for_um(None) == 0
    # the coarsest level at least as fine as asked (never upsampled from a coarser one)
    assert [im.level_for_um(u) for u in (0.3, 0.6, 0.9, 1.0, 1.5, 8.0)] == [0, 0, 0, 1, 1, 2]
    assert [im.level_for_size(s) for s in (100, 64, 48, 32, 20, 16, 8)] == [0, 0, 0, 1, 1, 2, 2]


def test_tiles_overlap_by_o_and_their_cores_partition_the_level():
    for n, tile, overlap in ((100, 40, 10), (64, 16, 4), (30, 40, 8), (4096, 1024, 256)):
        spans = _spans(n, tile, overlap)
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(e - s == min(tile, n) for s, e, _, _ in spans)
        assert all(b[0] <= a[1] - overlap for a, b in zip(spans[:-1], spans[1:], strict=True))
        assert [c for *_, c0, c in spans][:-1] == [c0 for *_, c0, _ in spans][1:]
        assert spans[0][2] == 0 and spans[-1][3] == n
        for i, (s, e, c0, c1) in enumerate(spans):  # half the overlap of margin inside
            assert i == 0 or c0 - s >= overlap // 2
            assert i == len(spans) - 1 or e - c1 >= overlap // 2
    with pytest.raises(ValueError, match="overlap"):
        _spans(100, 10, 10)


def test_bad_ome_zarr_gets_an_error_naming_the_path(tmp_path):
    from gapnet.data.microscope import find_images

    plain = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    plain.create_array("0", shape=(4, 4), dtype="u1")  # a Zarr, not an NGFF image
    with pytest.raises(ImageError, match=r"plain.zarr: no multiscales metadata"):
        find_images(str(tmp_path / "plain.zarr"))
    with pytest.raises(ImageError, match=r"plain.zarr: no multiscales metadata"):
        find_images(str(tmp_path))  # a folder holding it
    from ome_zarr.writer import write_image

    root = zarr.open_group(str(tmp_path / "stack.zarr"), mode="w")
    write_image(field(16, 16, 3)[None], root, axes="czyx", scale_factors=[])
    with pytest.raises(ImageError, match=r"stack.zarr: 3 planes along z"):
        ZarrImage(str(tmp_path / "stack.zarr"))
    (im,) = open_images(write_zarr(tmp_path / "f.zarr", field(), labels=("GFP", "Hoechst")))
    from gapnet.data.ome_zarr_sample import read_zarr

    with pytest.raises(ImageError, match=r"f.zarr: no DNA channel among \['GFP', 'Hoechst'\]"):
        read_zarr(im, 16, channel_set=GFP_DNA)


def test_a_plate_is_its_wells_fields_named_plate_row_col_field(tmp_path):
    from ome_zarr.writer import write_plate_metadata, write_well_metadata

    plate = zarr.open_group(str(tmp_path / "screen.zarr"), mode="w")
    write_plate_metadata(plate, ["A", "B"], ["1"], ["A/1", "B/1"])
    for w, n in (("A/1", 2), ("B/1", 1)):
        well = plate.require_group(w)
        write_well_metadata(well, [str(f) for f in range(n)])
        for f in range(n):
            where = os.path.join(str(tmp_path / "screen.zarr"), w, str(f))
            write_zarr(where, field(seed=f), levels=1)
    ims = open_images(str(tmp_path / "screen.zarr"))
    assert [im.name for im in ims] == ["screen/A/1/0", "screen/A/1/1", "screen/B/1/0"]
    from gapnet.data.microscope import find_images

    zarr.open_group(str(tmp_path / ".f_cells.tmp.zarr"), mode="w")  # a killed run's leftover
    assert [n for n, _ in find_images(str(tmp_path))] == [im.name for im in ims]
    np.testing.assert_array_equal(ims[1].region(0, 0, 64, 0, 64), field(seed=1).transpose(1, 2, 0))


def test_without_the_zarr_extra_the_message_names_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ome_zarr.io", None)
    with pytest.raises(ImageError, match=r"needs the zarr extra: pip install 'gapnet\[zarr\]'"):
        open_images(str(tmp_path))


@pytest.fixture(scope="module")
def model16():
    import keras

    from gapnet import models

    keras.utils.set_random_seed(0)
    return models.build("gapnet_pl", (16, 16, 2), 2)


def test_predicting_a_zarr_gives_the_probabilities_of_the_same_pixels_as_pngs(
    tmp_path, model16, monkeypatch
):
    from gapnet.data import ome_zarr_sample
    from gapnet.export.apply import input_channels, predict_images
    from gapnet.schemes import own_scheme

    own_scheme(("cytoplasmic", "nuclear"))
    thr = np.full(2, 0.5, np.float32)
    trained = make_channel_set(channel_map={"ch1": "green", "ch2": "blue"})
    cs = input_channels(trained, {"GFP": "green", "DNA": "blue"})  # --channel-map GFP=..
    pngs, zarrs = tmp_path / "png", tmp_path / "zarr"
    pngs.mkdir(), zarrs.mkdir()
    for stem, seed in (("a", 1), ("b", 2)):
        cyx = field(24, 24, 3, seed)  # GFP, DNA and a third channel the model does not use
        for name, plane in zip(("GFP", "DNA"), cyx[:2], strict=True):
            Image.fromarray(plane).save(pngs / f"{stem}_{name}.png")
        write_zarr(zarrs / f"{stem}.zarr", cyx, labels=("GFP", "DNA", "ER"))
    names, p_png, _ = predict_images(model16, thr, str(pngs), channel_set=cs)
    said = []
    names_z, p_zarr, _ = predict_images(model16, thr, str(zarrs), channel_set=cs, log=said.append)
    assert names_z == names == ["a", "b"]
    np.testing.assert_array_equal(p_zarr, p_png)
    assert said == ["note: channel(s) ER dropped: the model uses GFP=green, DNA=blue"]
    _, p_one, _ = predict_images(model16, thr, str(zarrs / "b.zarr"), channel_set=cs)
    np.testing.assert_array_equal(p_one, p_png[1:])  # one .zarr given itself
    # a level too large to read at once is read in strips: the same pixels (96 = 6 x 16)
    (big,) = open_images(write_zarr(tmp_path / "big.zarr", field(96, 96, 2, 3), levels=1))
    whole = ome_zarr_sample.read_zarr(big, 16, channel_set=GFP_DNA)
    monkeypatch.setattr(ome_zarr_sample, "STRIP_BYTES", 1000)
    np.testing.assert_array_equal(ome_zarr_sample.read_zarr(big, 16, channel_set=GFP_DNA), whole)


def hpa_field_zarr(path, levels=2, labels=("red", "green", "blue", "yellow")):
    """The packaged real HPA field (512 px, 4 channels) as an OME-Zarr, its channels
    labelled `labels`."""
    import glob

    files = sorted(
        glob.glob(
            os.path.join(
                os.path.dirname(__file__), "..", "gapnet", "resources", "hpa_field", "*.png"
            )
        )
    )
    planes = {f.rsplit("_", 1)[1][:-4]: np.asarray(Image.open(f)) for f in files}
    colours = ("red", "green", "blue", "yellow")
    cyx = np.stack([planes[c] for c in colours])
    return write_zarr(path, cyx, labels, levels=levels, chunk=128)


def test_a_field_segmented_tile_by_tile_counts_each_cell_once_and_writes_ngff_labels(tmp_path):
    import runpy

    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    from gapnet.segment import SegmentParams, match
    from gapnet.segment.files import segment_images

    path = hpa_field_zarr(tmp_path / "field.zarr", labels=("MT", "GFP", "DAPI", "ER"))
    given = {"MT": "red", "GFP": "green", "DAPI": "blue", "ER": "yellow"}
    p = SegmentParams(nucleus_diameter=50.0)
    (whole,) = segment_images(
        path, str(tmp_path / "whole"), None, p, channel_map=given, tile=512, overlap=0
    )
    # 2 x 2 tiles of 384 px overlapping by 256: most cells are cut by some tile's edge
    main = runpy.run_path("data_prep/segment.py", run_name="segment")["main"]
    argv = ["--images", path, "--out", str(tmp_path / "tiled"), "--nucleus-diameter", "50"]
    argv += ["--channel-map", "MT=red,GFP=green,DAPI=blue,ER=yellow"]
    assert main(argv + ["--tile", "384", "--overlap", "256"]) == 0
    tiled = next(csv.DictReader(open(tmp_path / "tiled" / "segmentation.csv")))
    tiled = {k: int(v) if v.isdigit() else v for k, v in tiled.items()}
    assert whole["error"] == tiled["error"] == "" and whole["nuclei"] >= 15
    assert tiled["nuclei"] == whole["nuclei"] and tiled["cells"] == whole["cells"]
    for kind in ("nuclei", "cells"):
        a = np.asarray(Image.open(tmp_path / "whole" / f"field_{kind}.png"))
        b = np.asarray(Image.open(tmp_path / "tiled" / f"field_{kind}.png"))
        m = match(a, b, 0.9)
        assert m.tp == whole["nuclei"] and m.fp == m.fn == 0
    # the masks are in the image as NGFF labels, read back by ome-zarr's reader
    nodes = list(Reader(parse_url(path))())
    found = {os.path.basename(n.zarr.path.rstrip("/")): n for n in nodes if n.load(Label)}
    assert sorted(found) == ["cells", "nuclei"]
    assert not [f for f in os.listdir(tmp_path / "tiled") if f.endswith(".zarr")]  # no leftovers
    np.testing.assert_array_equal(np.asarray(found["cells"].data[0]), b)
    assert len(found["cells"].data) == 2  # the image's two levels
    labels_attrs = zarr.open_group(path + "/labels").attrs.asdict()
    assert labels_attrs["ome"]["labels"] == ["nuclei", "cells"]  # written twice, listed once


@pytest.mark.slow  # trains the shared tiny run when run alone
def test_predict_py_on_zarrs_writes_the_probabilities_of_the_same_pngs(tiny_run, tmp_path, capsys):
    import runpy

    from gapnet.export.apply import model_of_run, predict_images

    pngs, zarrs = tmp_path / "png", tmp_path / "zarr"
    pngs.mkdir(), zarrs.mkdir()
    for stem, seed in (("f0", 4), ("f1", 5)):
        cyx = field(64, 64, 4, seed, np.uint8)
        for colour, plane in zip(("red", "green", "blue", "yellow"), cyx, strict=True):
            Image.fromarray(plane).save(pngs / f"{stem}_{colour}.png")
        write_zarr(zarrs / f"{stem}.zarr", cyx, labels=("MT", "Prot", "DAPI", "ER"))
    model, thr = model_of_run(tiny_run[0])
    _, from_png, _ = predict_images(model, thr, str(pngs))
    main = runpy.run_path("experiments/predict.py", run_name="predict")["main"]
    out = tmp_path / "p.csv"
    argv = ["--run", tiny_run[0], "--images", str(zarrs), "--out", str(out)]
    assert main(argv + ["--channel-map", "MT=red,Prot=green,DAPI=blue,ER=yellow"]) == 0
    rows = [r.split(",") for r in out.read_text().splitlines()[1:]]
    assert [r[0] for r in rows] == ["f0", "f1"]
    np.testing.assert_allclose([[float(v) for v in r[3:]] for r in rows], from_png, rtol=1e-6)
    capsys.readouterr()
    assert main(argv) == 1  # labels that are not the run's channel names
    err = capsys.readouterr().err
    assert "f0.zarr: no red, green, blue, yellow channel among ['MT', 'Prot', 'DAPI', 'ER']" in err


def test_at_a_runs_pixel_size_a_zarr_is_read_window_by_window_as_the_whole_level(tmp_path, model16):
    """With the run's µm/px known, a .zarr is read from its nearest level one window at a
    time, never whole; the windows equal the whole level cut by `pixel_size.tiles`."""
    from gapnet.data.ome_zarr_sample import zarr_windows
    from gapnet.data.pixel_size import tiles
    from gapnet.export.apply import predict_images
    from gapnet.schemes import own_scheme

    cyx = field(64, 64, 2, 5, np.uint8)
    (im,) = open_images(write_zarr(tmp_path / "f.zarr", cyx, um=0.5, levels=3))
    level1 = im.region(1, 0, 32, 0, 32)  # 1.0 µm/px: the run's scale
    got = np.concatenate(list(zarr_windows(im, 16, 1.0, channel_set=GFP_DNA, batch=3)))
    np.testing.assert_array_equal(got, tiles(level1, 16))  # 2 x 2 windows, in 2 batches
    own_scheme(("cytoplasmic", "nuclear"))
    said = []
    _, probs, _ = predict_images(
        model16, np.full(2, 0.5), str(tmp_path / "f.zarr"), channel_set=GFP_DNA,
        log=said.append, run_um=1.0,
    )  # fmt: skip
    want = np.asarray(model16.predict(tiles(level1, 16), verbose=0)).mean(0)
    np.testing.assert_allclose(probs[0], want, rtol=1e-5)
    assert any("f.zarr: read from level 1 (1 µm/px) window by window" in m for m in said), said


def test_predicting_a_folder_holds_a_batch_of_windows_not_every_image(tmp_path, model16):
    """Memory does not grow with the number of images: the model is given at most about
    `batch_size` windows at a time, and each image's probabilities are its own."""
    from gapnet.export.apply import predict_images
    from gapnet.schemes import own_scheme

    own_scheme(("cytoplasmic", "nuclear"))
    for k in range(7):
        for name, plane in zip(("GFP", "DNA"), field(16, 16, 2, k, np.uint8), strict=True):
            Image.fromarray(plane).save(tmp_path / f"s{k}_{name}.png")
    seen = []

    class Spy:
        input_shape = model16.input_shape

        def predict(self, x, **kw):
            seen.append(len(x))
            return model16.predict(x, **kw)

    names, probs, _ = predict_images(
        Spy(), np.full(2, 0.5), str(tmp_path), batch_size=2, channel_set=GFP_DNA
    )
    assert max(seen) <= 2 and sum(seen) == 7, seen
    names_all, probs_all, _ = predict_images(
        model16, np.full(2, 0.5), str(tmp_path), channel_set=GFP_DNA
    )
    assert names == names_all
    np.testing.assert_allclose(probs, probs_all, rtol=1e-6)


def test_a_bioformats2raw_layout_gives_one_image_per_series(tmp_path):
    """bioformats2raw's output: a root with `bioformats2raw.layout` and the series as
    groups 0/, 1/, ... (its OME/ metadata folder is not a series)."""
    from ome_zarr.writer import write_image

    root = zarr.open_group(str(tmp_path / "conv.zarr"), mode="w")
    root.attrs["bioformats2raw.layout"] = 3
    series = [field(32, 32, 2, s, np.uint8) for s in (1, 2)]
    for i, cyx in enumerate(series):
        write_image(cyx, root.create_group(str(i)), axes="cyx", scale_factors=[2])
    root.create_group("OME").attrs["series"] = ["0", "1"]
    images = open_images(str(tmp_path / "conv.zarr"))
    assert [im.name for im in images] == ["conv/0", "conv/1"]
    for im, cyx in zip(images, series, strict=True):
        np.testing.assert_array_equal(im.region(0, 0, 32, 0, 32), cyx.transpose(1, 2, 0))
    (tmp_path / "empty.zarr").mkdir()
    zarr.open_group(str(tmp_path / "empty.zarr"), mode="w").attrs["bioformats2raw.layout"] = 3
    with pytest.raises(ImageError, match=r"empty.zarr: a bioformats2raw layout with no series"):
        open_images(str(tmp_path / "empty.zarr"))
