"""A user's own channels and classes (#39): channel sets and maps, classes.csv, every network
at C channels, and predicting a folder of `<stem>_<name>` files with a 2-channel model."""

import inspect
import os

import keras
import numpy as np
import pytest
from PIL import Image

from gapnet import models
from gapnet.channels import make_channel_set, parse_channel_map
from gapnet.config import Config
from gapnet.data.images import ImageError, _resize
from gapnet.data.labels import DataError
from gapnet.data.own_classes import read_classes

GFP_DNA = make_channel_set(channel_map={"GFP": "green", "DNA": "blue"})


def test_config_channels_and_channel_map_resolve_to_a_channel_set():
    assert Config().channel_set.roles == ("red", "green", "blue", "yellow")
    cfg = Config().with_overrides(["channels=blue,green"])
    assert cfg.channel_set.roles == ("green", "blue")  # CHANNELS order, whatever was given
    cfg = Config().with_overrides(["channel_map=GFP=green,DNA=blue"])
    assert cfg.channel_set == GFP_DNA and GFP_DNA.names == ("GFP", "DNA")
    assert Config.from_dict({"channel_map": {"GFP": "green", "DNA": "blue"}}).channel_set == GFP_DNA
    for bad, message in [
        ("channels=green,green", "'green' is named twice"),
        ("channels=blue,red", "needs the green"),
        ("channels=green,pink", "'pink' is not one of"),
        ("channel_map=A=green,B=green", "role 'green' is given to two file channels"),
        ("channel_map=A=green,A=blue", "'A' is named twice"),
        ("channel_map=A_1=green", "plain word"),
    ]:
        with pytest.raises(ValueError, match=message):
            Config().with_overrides([bad])
    with pytest.raises(ValueError, match="NAME=ROLE"):
        parse_channel_map("GFP")


def test_classes_csv_declares_a_folders_own_classes(tmp_path):
    from gapnet.data.source import open_source
    from gapnet.schemes import scheme_of_width

    (tmp_path / "classes.csv").write_text("index,name\n0,cytoplasmic\n1,nuclear\n")
    (tmp_path / "train.csv").write_text("Id,Target\na,0\nb,1\nc,2\n")
    src = open_source(tmp_path, channels=GFP_DNA)
    assert src.labels.targets.tolist() == [[1, 0], [0, 1]]
    assert "outside 0..1" in str(src.csv_problems[0])  # class 2 is not declared
    assert scheme_of_width(2).classes == ("cytoplasmic", "nuclear")
    assert src.paths("a") == [str(tmp_path / "a_GFP.png"), str(tmp_path / "a_DNA.png")]
    for text, message in [
        ("id,label\n", "header 'index,name'"),
        ("index,name\n0,a\n2,b\n", "classes.csv:3: expected index 1"),
        ("index,name\n0,a\n1,a\n", "classes.csv:3: class name 'a'"),
        ("index,name\n0,a\n", "a classifier needs 2"),
    ]:
        (tmp_path / "classes.csv").write_text(text)
        with pytest.raises(DataError, match=message):
            read_classes(tmp_path / "classes.csv")


def _crop(path, value, rgba=False):
    a = np.full((12, 10), value, np.uint8)
    a[3:6, 2:5] = 255 - value
    if rgba:  # the BBBC013 crops: a grey picture stored as RGBA
        a = np.dstack([a, a, a, np.full_like(a, 255)])
    Image.fromarray(a).save(path)
    return a if a.ndim == 2 else a[..., 0]


def test_a_two_channel_folder_reads_validates_and_streams(tmp_path):
    from gapnet.data.cache import build, open_reader
    from gapnet.data.pipeline import make_dataset
    from gapnet.data.validate import validate

    (tmp_path / "train.csv").write_text("Id,Target\na,0\nb,1\n")
    grey = _crop(tmp_path / "a_GFP.png", 40, rgba=True)
    _crop(tmp_path / "a_DNA.png", 90)
    _crop(tmp_path / "b_GFP.png", 10)
    report = validate(tmp_path, size=12, progress=False, channels=GFP_DNA)
    assert report.bad_ids == ["b"] and "b_DNA.png (Id b): missing file" in str(report.errors[0])
    _crop(tmp_path / "b_DNA.png", 20)
    src = validate(tmp_path, size=12, progress=False, channels=GFP_DNA).source
    reader = open_reader(src, src.labels.ids, 12, "off")
    img = reader(0)
    assert img.shape == (12, 12, 2)
    np.testing.assert_array_equal(img[..., 0], _resize(grey, 12))  # the grey plane
    build(str(tmp_path), 12, channels=GFP_DNA, progress=False, log=lambda *a: None)
    cached = open_reader(src, src.labels.ids, 12, "require", log=lambda *a: None)
    np.testing.assert_array_equal(cached(0), img)
    assert os.path.basename(cached.folder) == "train-12-GFP-DNA"
    x, y = next(iter(make_dataset(cached, src.labels.targets, 2, training=False)))
    assert x.shape == (2, 12, 12, 2) and y.shape == (2, 28)  # no classes.csv: 2018


def test_augmentation_both_back_ends_keep_c_channels():
    from gapnet.data.augment import AugmentRecipe, CpuAugmenter
    from gapnet.models.device_augment import device_augment

    recipe = AugmentRecipe.from_config(Config(aug_brightness=1.0, aug_noise=1.0))
    img = np.random.default_rng(0).integers(0, 255, (16, 16, 2), np.uint8)
    assert CpuAugmenter(recipe)(img, 3).shape == (16, 16, 2)
    out = device_augment(recipe, seed=0)(img[None].astype("float32") / 255, training=True)
    assert tuple(out.shape) == (1, 16, 16, 2)


# Xception needs >= 71 px; the others build at 32. The three largest backbones take 4-8 s
# each here: slow suite.
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow)
        if n in ("densenet121", "resnet50", "resnet34", "xception")
        else n
        for n in models.list_models(networks_only=True)
    ],
)
def test_every_network_builds_for_two_channels(name):
    size = 71 if name == "xception" else 32
    transfer = "channels" in inspect.signature(models.spec(name).build).parameters
    kwargs = {"channels": ("green", "blue")} if transfer else {}
    model = models.build(name, (size, size, 2), 2, **kwargs)
    p = model.predict(np.zeros((1, size, size, 2), np.uint8), verbose=0)
    assert p.shape == (1, 2) and model.input_shape[-1] == 2


def test_transfer_kernels_follow_the_channel_set():
    from gapnet.models._transfer import _adapter, widen_first_kernel

    k = np.arange(3, dtype=np.float32).reshape(1, 1, 3, 1) + 1  # R=1, G=2, B=3
    four = widen_first_kernel(k, "RGB", "copy_red")[0, 0, :, 0]
    np.testing.assert_allclose(four, np.array([1, 2, 3, 1]) * 0.75)
    two = widen_first_kernel(k, "BGR", "copy_red", ("green", "blue"))[0, 0, :, 0]
    np.testing.assert_allclose(two, np.array([2, 1]) * 1.5)  # BGR: B is slot 0
    conv = _adapter((8, 8, 2), "RGB", ("green", "blue"))
    np.testing.assert_array_equal(conv.get_weights()[0][0, 0], [[0, 1, 0], [0, 0, 1]])


@pytest.fixture(scope="module")
def two_channel_model():
    keras.utils.set_random_seed(0)
    return models.build("gapnet_pl", (16, 16, 2), 2)


def test_a_two_channel_model_ignores_a_third_channel_and_names_a_missing_one(
    two_channel_model, tmp_path
):
    import tifffile

    from gapnet.export.apply import predict_images, write_image_predictions
    from gapnet.schemes import own_scheme

    own_scheme(("cytoplasmic", "nuclear"))
    cs = make_channel_set(channel_map={"ch1": "green", "ch2": "blue"})
    for stem, v in (("c1", 30), ("c2", 200)):
        _crop(tmp_path / f"{stem}_ch1.png", v, rgba=True)
        _crop(tmp_path / f"{stem}_ch2.png", 255 - v)
    thr = np.full(2, 0.5, np.float32)
    names, before, _ = predict_images(two_channel_model, thr, str(tmp_path), channel_set=cs)
    assert names == ["c1", "c2"]
    _crop(tmp_path / "c1_ch3.png", 77)  # a third channel the model does not use
    said = []
    names, after, labels = predict_images(
        two_channel_model, thr, str(tmp_path), channel_set=cs, log=said.append
    )
    np.testing.assert_array_equal(after, before)
    assert said == ["note: channel(s) ch3 dropped: the model uses ch1=green, ch2=blue"]
    write_image_predictions(str(tmp_path / "p.csv"), names, after, labels)
    head = (tmp_path / "p.csv").read_text().splitlines()[0]
    assert head == "Id,labels,label_names,cytoplasmic,nuclear"
    # the same three channels in one TIFF (named): the third is dropped too
    planes = [np.asarray(Image.open(tmp_path / f"c2_ch{i}.png").convert("L")) for i in (1, 1, 2)]
    planes[0] = planes[0] * 0 + 9  # ch3: a constant
    one = tmp_path / "tif"
    one.mkdir()
    tifffile.imwrite(one / "c2.tif", np.stack(planes), metadata={"axes": "CYX"})
    _, p, _ = predict_images(
        two_channel_model, thr, str(one), ["ch3", "ch1", "ch2"], channel_set=cs
    )
    np.testing.assert_allclose(p, before[1:], atol=1e-6)
    os.remove(tmp_path / "c2_ch2.png")
    with pytest.raises(DataError, match=r"c2_ch1.png: no ch2 \(blue\) file beside it"):
        predict_images(two_channel_model, thr, str(tmp_path), channel_set=cs)
    with pytest.raises(ImageError, match=r"c2.tif: no ch2 channel among \['ch3', 'ch1', 'x'\]"):
        from gapnet.data.tiff import read_tiff

        read_tiff(str(one / "c2.tif"), 16, ["ch3", "ch1", "x"], cs)


def test_a_channel_map_for_prediction_must_cover_the_models_roles():
    from gapnet.export.apply import input_channels

    assert input_channels(GFP_DNA, {"a": "green", "b": "blue", "c": "red"}).names == ("a", "b")
    with pytest.raises(DataError, match="gives no file channel for blue"):
        input_channels(GFP_DNA, {"a": "green"})


def test_build_cache_command_caches_a_users_own_channel_names(tmp_path, capsys):
    """data_prep/build_cache.py --channel-map GFP=green,DNA=blue: the cache a run with that
    channel_map reads (train-12-GFP-DNA); a bad map is refused, named."""
    import runpy

    from gapnet.data.cache import open_reader
    from gapnet.data.source import open_source

    (tmp_path / "train.csv").write_text("Id,Target\na,0\nb,1\n")
    for sid, v in (("a", 40), ("b", 10)):
        _crop(tmp_path / f"{sid}_GFP.png", v)
        _crop(tmp_path / f"{sid}_DNA.png", 255 - v)
    main = runpy.run_path("data_prep/build_cache.py", run_name="build_cache")["main"]
    argv = [str(tmp_path), "--size", "12", "--workers", "1"]
    assert main(argv + ["--channel-map", "GFP=green,DNA=blue"]) == 0
    src = open_source(tmp_path, channels=GFP_DNA)
    cached = open_reader(src, src.labels.ids, 12, "require", log=lambda *a: None)
    assert os.path.basename(cached.folder) == "train-12-GFP-DNA"
    assert cached(1).shape == (12, 12, 2)
    with pytest.raises(SystemExit):
        main(argv + ["--channel-map", "GFP=green,GFP=blue"])
    assert "'GFP' is named twice" in capsys.readouterr().err
