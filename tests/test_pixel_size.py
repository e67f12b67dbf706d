"""Physical pixel size: read from OME-TIFF / TIFF tags, bad metadata named, resampling a
user's image to a run's pixel size (noted), unknown sizes warned, old config.json files."""

import json

import numpy as np
import pytest
import tifffile

from gapnet.config import Config
from gapnet.data.pixel_size import (
    PixelSizeError,
    parse_pixel_size,
    read_pixel_size,
    resample,
    tiles,
)


def ome(path, size_x, unit_x, size_y=None, unit_y=None, shape=(4, 16, 16)):
    meta = {"axes": "CYX", "PhysicalSizeX": size_x, "PhysicalSizeXUnit": unit_x}
    meta["PhysicalSizeY"] = size_x if size_y is None else size_y
    meta["PhysicalSizeYUnit"] = unit_x if unit_y is None else unit_y
    tifffile.imwrite(path, np.zeros(shape, np.uint8), ome=True, metadata=meta)
    return str(path)


@pytest.mark.parametrize(
    "value,unit,um", [(80, "nm", 0.08), (0.08, "µm", 0.08), (1.6e-4, "mm", 0.16)]
)
def test_ome_physical_size_in_its_unit(tmp_path, value, unit, um):
    ps = read_pixel_size(ome(tmp_path / "a.ome.tif", value, unit))
    assert ps.x == pytest.approx(um) and ps.y == pytest.approx(um) and ps.source == "OME"


def test_anisotropic_ome_keeps_both_axes(tmp_path):
    ps = read_pixel_size(ome(tmp_path / "a.ome.tif", 0.1, "µm", 0.2, "µm"))
    assert (ps.y, ps.x) == pytest.approx((0.2, 0.1)) and not ps.isotropic


@pytest.mark.parametrize("value,unit,what", [(0.08, "furlong", "unknown unit"), (0, "µm", "> 0")])
def test_bad_ome_pixel_size_is_an_error_naming_the_file(tmp_path, value, unit, what):
    path = ome(tmp_path / "bad.ome.tif", value, unit)
    with pytest.raises(PixelSizeError) as e:
        read_pixel_size(path)
    assert path in str(e.value) and what in str(e.value)


def test_plain_tiff_tags_in_centimetres_and_unitless(tmp_path):
    cm = str(tmp_path / "cm.tif")  # 0.25 µm/px = 40,000 px per cm
    tifffile.imwrite(cm, np.zeros((8, 8), np.uint8), resolution=(40000, 40000), resolutionunit=3)
    assert read_pixel_size(cm).x == pytest.approx(0.25)
    none = str(tmp_path / "none.tif")  # no unit: a ratio, no length
    tifffile.imwrite(none, np.zeros((8, 8), np.uint8), resolution=(4, 4), resolutionunit=1)
    assert read_pixel_size(none) is None
    dpi = str(tmp_path / "dpi.tif")  # 72 dpi: an image program's default, not a microscope's
    tifffile.imwrite(dpi, np.zeros((8, 8), np.uint8), resolution=(72, 72), resolutionunit=2)
    assert read_pixel_size(dpi) is None


def test_parse_pixel_size_units_and_errors():
    assert parse_pixel_size("0.08") == pytest.approx(0.08)
    assert parse_pixel_size("80nm") == pytest.approx(0.08)
    with pytest.raises(PixelSizeError, match="> 0"):
        parse_pixel_size("0")
    with pytest.raises(PixelSizeError, match="unknown unit"):
        parse_pixel_size("3 furlong")


def test_resample_keeps_dtype_and_returns_the_factor():
    img = (np.arange(64 * 64 * 2, dtype=np.uint16) * 7).reshape(64, 64, 2)
    out, f = resample(img, 0.08, 0.16)
    assert out.shape == (32, 32, 2) and out.dtype == np.uint16 and f == pytest.approx(0.5)
    out, f = resample(img[..., 0].astype(np.uint8), (0.16, 0.08), 0.16)  # anisotropic
    assert out.shape == (64, 32) and out.dtype == np.uint8


def test_tiles_cover_the_image_and_pad_small_ones():
    img = np.arange(100 * 70, dtype=np.uint8).reshape(100, 70, 1)
    t = tiles(img, 48)
    assert t.shape == (3 * 2, 48, 48, 1)
    assert t[0, 0, 0, 0] == img[0, 0, 0] and t[-1, -1, -1, 0] == img[-1, -1, 0]
    small = tiles(img[:20, :30], 48)
    assert small.shape == (1, 48, 48, 1) and small[0, 20:].max() == 0


def tiny_model(size=16):
    import keras

    x = keras.Input((size, size, 4))
    m = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(x))
    return keras.Model(x, keras.layers.Dense(28, activation="sigmoid")(m))


def write_field(folder, stem, side, um=None):
    """A 4-channel OME-TIFF (with PhysicalSizeX when `um`) or 4 PNGs (without)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (4, side, side), dtype=np.uint8)
    folder.mkdir(exist_ok=True)
    if um is None:
        for c, color in enumerate(("red", "green", "blue", "yellow")):
            Image.fromarray(img[c]).save(folder / f"{stem}_{color}.png")
        return str(folder / f"{stem}_*")
    meta = {"axes": "CYX", "PhysicalSizeX": um, "PhysicalSizeY": um, "PhysicalSizeXUnit": "µm"}
    meta["Channel"] = {"Name": ["red", "green", "blue", "yellow"]}
    path = str(folder / f"{stem}.tif")
    tifffile.imwrite(path, img, ome=True, metadata=meta)
    return path


def test_an_image_is_resampled_to_the_runs_pixel_size_and_it_is_noted(tmp_path):
    from gapnet.export.apply import predict_images

    path = write_field(tmp_path / "in", "field", 64, um=0.08)
    log = []
    names, probs, _ = predict_images(
        tiny_model(), np.full(28, 0.5), path, log=log.append, run_um=0.32
    )
    assert names == ["field"] and probs.shape == (1, 28)
    assert any(path in m and "resampled 64→16 px: 0.08 → 0.32 µm/px" in m for m in log), log


def test_an_image_smaller_than_the_window_at_the_runs_scale_is_padded_and_noted(tmp_path):
    from gapnet.export.apply import predict_images

    path = write_field(tmp_path / "in", "field", 32, um=0.32)  # 8 px at 1.28 µm/px
    log = []
    predict_images(tiny_model(), np.full(28, 0.5), path, log=log.append, run_um=1.28)
    assert any(path in m and "8x8 px" in m and "padded" in m for m in log), log


def test_an_unknown_pixel_size_warns_naming_the_file_and_keeps_its_own_size(tmp_path):
    from gapnet.export.apply import predict_images

    where = write_field(tmp_path / "in", "field", 32)
    log = []
    predict_images(
        tiny_model(), np.full(28, 0.5), str(tmp_path / "in"), log=log.append, run_um=0.32
    )
    warned = [m for m in log if m.startswith("warning:") and where in m]
    assert warned and "pixel size unknown" in warned[0] and "32x32" in warned[0]
    assert any("4 windows of 16 px" in m for m in log), log  # predicted at its own size
    log = []  # --pixel-size given: resampled instead
    predict_images(
        tiny_model(),
        np.full(28, 0.5),
        str(tmp_path / "in"),
        log=log.append,
        run_um=0.32,
        given_um=0.16,
    )
    assert any("resampled 32→16 px: 0.16 → 0.32 µm/px (--pixel-size)" in m for m in log), log


def test_a_config_json_without_pixel_size_still_loads(tmp_path):
    old = Config().to_dict()
    del old["pixel_size"]
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert Config.from_file(tmp_path / "config.json").pixel_size is None
    assert Config.from_dict({"pixel_size": 0.32}).pixel_size == 0.32
    with pytest.raises(ValueError, match="pixel_size"):
        Config.from_dict({"pixel_size": 0})


def test_segment_images_resamples_to_the_pixel_size_asked_and_writes_masks_at_own_size(
    tmp_path,
):
    from PIL import Image

    from gapnet.segment import SegmentParams
    from gapnet.segment.files import segment_images

    yy, xx = np.mgrid[:96, :96]
    blue = np.zeros((96, 96), np.uint8)
    for cy, cx in ((30, 30), (66, 60)):
        blue[(yy - cy) ** 2 + (xx - cx) ** 2 < 12**2] = 200
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(blue).save(folder / "f_blue.png")
    log = []
    rows = segment_images(
        str(folder),
        str(tmp_path / "masks"),
        None,
        SegmentParams(12.0),
        given_um=0.08,
        target_um=0.16,
        log=log.append,
    )
    assert any("resampled 96→48 px: 0.08 → 0.16 µm/px (--pixel-size)" in m for m in log), log
    assert rows[0]["nuclei"] == 2 and (rows[0]["height"], rows[0]["width"]) == (96, 96)
    assert np.asarray(Image.open(tmp_path / "masks" / "f_nuclei.png")).shape == (96, 96)
    log = []  # no pixel size known: segmented at its own size, named
    segment_images(
        str(folder), str(tmp_path / "m2"), None, SegmentParams(12.0), target_um=0.16, log=log.append
    )
    assert any(m.startswith("warning:") and "f_*" in m and "pixel size unknown" in m for m in log)


def test_the_single_cell_job_records_its_pixel_size_in_the_image_run(tmp_path):
    from gapnet.single_cell.run import _image_config
    from gapnet.single_cell.settings import SingleCellConfig, check_run_config

    assert _image_config(SingleCellConfig(pixel_size=1.28), str(tmp_path)).pixel_size == 1.28
    old = SingleCellConfig().to_dict()
    del old["pixel_size"]  # a job folder from before the key resumes unchanged
    (tmp_path / "single_cell.json").write_text(json.dumps(old))
    check_run_config(str(tmp_path), SingleCellConfig())


def test_explain_data_folder_scale_is_noted_refused_or_warned(tmp_path):
    from types import SimpleNamespace

    from PIL import Image

    from gapnet.data.at_scale import check_folder_scale
    from gapnet.data.images import ImageError

    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "a_red.png")
    src = SimpleNamespace(image_dir=str(tmp_path), paths=lambda i: [str(tmp_path / f"{i}_red.png")])
    log = []
    check_folder_scale(src, ["a"], 16, 0.32, 0.08, log.append)  # 64 px at 0.08 = 16 at 0.32
    assert "resampled 64→16 px: 0.08 → 0.32 µm/px" in log[0]
    with pytest.raises(ImageError, match="a_red.png.*32x32 px at the run's"):
        check_folder_scale(src, ["a"], 16, 0.32, 0.16, log.append)
    check_folder_scale(src, ["a"], 16, 0.32, None, log.append)
    assert log[-1].startswith(f"warning: {tmp_path}") and "pixel size is unknown" in log[-1]


def test_the_model_card_states_the_pixel_size_or_that_it_is_unknown():
    from gapnet.export.card import model_card

    metrics = {"n_samples": 10, "macro_f1": 0.5, "synthetic": False}
    cfg = {"data": "/d", "model": "gapnet", "image_size": 512, "pixel_size": 0.32}
    assert "trained at **0.32 µm per pixel** (at 512 px)" in model_card(cfg, metrics, [0.5] * 28, 3)
    del cfg["pixel_size"]  # a run from before the key
    assert "Pixel size: not recorded" in model_card(cfg, metrics, [0.5] * 28, 3)


@pytest.mark.parametrize("script", ["experiments/predict.py", "data_prep/segment.py"])
@pytest.mark.parametrize("value,what", [("0", "> 0"), ("0.1furlong", "unknown unit")])
def test_a_bad_pixel_size_argument_is_a_usage_error_naming_the_flag(script, value, what, capsys):
    import runpy

    main = runpy.run_path(script, run_name="x")["main"]
    args = ["--run", "R", "--images", "I"] if "predict" in script else ["--images", "I"]
    args += ["--out", "O", "--pixel-size", value] + (
        ["--segment-at", "0.32"] if "segment" in script else []
    )
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--pixel-size" in err and what in err


def test_a_resampling_that_would_blow_an_image_up_is_refused_naming_it():
    """A print resolution or a unit mistake (1 mm for 1 µm) must not make a 67,000-px image."""
    from gapnet.data.pixel_size import PixelSizeError, resample

    img = np.zeros((512, 512), np.uint8)
    with pytest.raises(PixelSizeError, match=r"f\.tif: resampling 512x512 px from 42\.33"):
        resample(img, 42.33, 0.32, "f.tif")
    assert resample(img, 0.08, 0.32, "f.tif")[0].shape == (128, 128)


def test_a_600_dpi_tiff_is_not_a_microscope_pixel_size(tmp_path):
    from gapnet.data.pixel_size import read_pixel_size

    path = str(tmp_path / "scan.tif")
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8), resolution=(600, 600), resolutionunit=2)
    assert read_pixel_size(path) is None


def test_a_resampling_too_large_is_refused_from_the_header_before_the_pixels_are_read(
    tmp_path, monkeypatch
):
    """A field that resampling would blow up is refused from its TIFF header: its pixels
    (gigabytes for a whole-slide scan) are never read."""
    from gapnet.data import at_scale
    from gapnet.data.pixel_size import PixelSizeError

    path = write_field(tmp_path / "in", "field", 64, um=8.0)  # x25 at 0.32 µm/px

    def never(*a, **k):
        raise AssertionError("the pixels were read")

    monkeypatch.setattr(at_scale, "read_image", never)
    with pytest.raises(PixelSizeError, match=r"field\.tif: resampling 64x64 px from 8 to 0\.32"):
        at_scale.read_windows("field", path, 16, 0.32)
    assert at_scale.header_size(path) == (64, 64)


@pytest.mark.parametrize(
    ("unit", "um"), [("micron", 0.5), ("\\u00B5m", 0.5), ("nm", 0.0005), ("pixel", None)]
)
def test_an_imagej_tiff_gives_its_pixel_size_in_its_unit(tmp_path, unit, um):
    """ImageJ stores pixels per `unit` in the resolution tags (Fiji's Set Scale: 2 px per
    micron is 0.5 µm/px); "pixel" is no length."""
    from gapnet.data.pixel_size import read_pixel_size

    path = str(tmp_path / "ij.tif")
    img = np.zeros((2, 8, 8), np.uint8)
    tifffile.imwrite(path, img, imagej=True, resolution=(2, 2), metadata={"unit": unit})
    ps = read_pixel_size(path)
    if um is None:
        assert ps is None
    else:
        assert ps.source == "ImageJ" and ps.x == pytest.approx(um) and ps.y == pytest.approx(um)


def test_a_zoo_package_of_a_run_with_a_pixel_size_resamples_as_the_run_does(tmp_path):
    """predict.py --model: a package whose run recorded its pixel size (its preset.json)
    resamples each image to it, as --run does (was: every image resized to the window)."""
    from gapnet.channels import ALL
    from gapnet.export.apply import predict_images
    from gapnet.export.zoo_predict import predict_package_images

    path = write_field(tmp_path / "in", "field", 64, um=0.08)  # 16 px at 0.32 µm/px
    model = tiny_model()

    class Package:  # a loaded package (`ZooModel`) without bioimageio: the Keras model
        size, channel_set, thresholds, pixel_size = 16, ALL, np.full(28, 0.5), 0.32

        def probabilities(self, x):
            return np.asarray(model.predict(x, verbose=0), np.float32)

    log, want = [], []
    names, probs, _ = predict_package_images(Package(), path, log=log.append)
    _, ref, _ = predict_images(model, np.full(28, 0.5), path, log=want.append, run_um=0.32)
    assert any("resampled 64→16 px: 0.08 → 0.32 µm/px" in m for m in log), log
    np.testing.assert_allclose(probs, ref, atol=1e-6)


def test_predict_takes_pixel_size_with_a_zoo_package():
    import runpy

    parse = runpy.run_path("experiments/predict.py", run_name="predict")["parse"]
    args = parse(["--model", "p.zip", "--images", "d", "--pixel-size", "80nm"])
    assert args.pixel_size == pytest.approx(0.08)


def test_predict_with_a_zoo_package_holds_batch_size_images_at_a_time(tmp_path, monkeypatch):
    """--batch-size bounds the windows a zoo package is given at once, as with --run."""
    import runpy

    from gapnet.channels import ALL
    from gapnet.export import zoo_predict

    for stem in "abc":
        write_field(tmp_path / "in", stem, 16)
    model, calls = tiny_model(), []

    class Package:  # a stand-in for a loaded bioimageio.core package
        size, channel_set, thresholds = 16, ALL, np.full(28, 0.5)
        pixel_size, weight_format = None, "stand-in"

        def probabilities(self, x):
            calls.append(len(x))
            return np.asarray(model.predict(x, verbose=0), np.float32)

    monkeypatch.setattr(zoo_predict, "load_package", lambda path: Package())
    (tmp_path / "p.zip").write_bytes(b"")
    main = runpy.run_path("experiments/predict.py", run_name="predict")["main"]
    args = ["--model", str(tmp_path / "p.zip"), "--images", str(tmp_path / "in")]
    assert main([*args, "--batch-size", "1", "--out", str(tmp_path / "p.csv")]) == 0
    assert calls == [1, 1, 1]


def test_a_large_png_header_is_read_without_pils_bomb_warning(tmp_path, monkeypatch, recwarn):
    """header_size on a PNG past PIL's warning size (gapnet's 16384² limit) gives its size
    quietly, as the full read (data/images.py) does."""
    from PIL import Image

    from gapnet.data import at_scale

    path = str(tmp_path / "big_green.png")
    Image.fromarray(np.zeros((30, 50), np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1,500 px: past it, under 2x
    assert at_scale.header_size(path) == (30, 50)
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_explain_refuses_a_field_too_large_at_the_runs_scale_from_its_header(tmp_path, monkeypatch):
    """explain.py --images reads one field per image: one that would be larger than the
    model's window at the run's scale is refused from its TIFF header, pixels unread."""
    from gapnet.data.images import ImageError
    from gapnet.explain import own_images

    path = write_field(tmp_path / "in", "field", 64, um=0.32)  # 64 px at the run's 0.32

    def never(*a, **k):
        raise AssertionError("the pixels were read")

    monkeypatch.setattr(own_images, "read_image", never)
    with pytest.raises(ImageError, match=r"field\.tif: 64x64 px at the run's 0\.32"):
        own_images.read_field("field", path, 16, 0.32, None, None, None, None, print)
