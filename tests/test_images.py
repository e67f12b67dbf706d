import numpy as np
import pytest
from PIL import Image

from gapnet.data.images import ImageError, read_channel, read_sample
from tests.conftest import REAL_JPG, real_pngs, write_png


def test_real_kaggle_png_decodes_unchanged():
    path = real_pngs()[0]
    arr = read_channel(path, "red", 512)
    assert arr.shape == (512, 512) and arr.dtype == np.uint8
    np.testing.assert_array_equal(arr, np.asarray(Image.open(path)))


@pytest.mark.parametrize(
    "color, expected",
    [
        ("red", lambda a: a[..., 0]),
        ("green", lambda a: a[..., 1]),
        ("blue", lambda a: a[..., 2]),
        ("yellow", lambda a: (a[..., 0].astype(int) + a[..., 1] + 1) // 2),
    ],
)
def test_hpav18_jpg_takes_the_colour_plane(color, expected):
    path = f"{REAL_JPG}/10814_50_A1_1_{color}.jpg"
    rgb = np.asarray(Image.open(path))
    assert rgb.shape == (1728, 1728, 3)
    np.testing.assert_array_equal(read_channel(path, color), expected(rgb))
    # Signal lives in that plane: the chosen plane is the brightest of the three.
    if color != "yellow":
        plane = read_channel(path, color).mean()
        assert plane == max(rgb[..., k].mean() for k in range(3))


def test_hpav18_jpg_resized_to_512():
    arr = read_channel(f"{REAL_JPG}/10814_50_A1_1_green.jpg", "green", 512)
    full = read_channel(f"{REAL_JPG}/10814_50_A1_1_green.jpg", "green")
    assert arr.shape == (512, 512)
    assert abs(arr.mean() - full.mean()) < 1.0  # same content, averaged down


def test_16_bit_png_scaled_by_range_without_saturation(tmp_path):
    a = np.array([[0, 257 * 100, 65535, 40000]], np.uint16).repeat(4, 0)
    path = str(tmp_path / "x_green.png")
    Image.fromarray(a).save(path)
    assert Image.open(path).mode.startswith("I;16")
    out = read_channel(path, "green")
    assert out.dtype == np.uint8
    assert out[0].tolist() == [0, 100, 255, 156]  # 40000*255/65535 = 155.6, not clipped at 255


def test_rgb_png_for_one_channel_gives_its_plane(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    path = str(tmp_path / "x_red.png")
    write_png(path, rgb)
    notes = []
    assert read_channel(path, "red", notes=notes).max() == 10
    assert read_channel(path, "green").max() == 20
    assert read_channel(path, "blue").max() == 30
    assert read_channel(path, "yellow").max() == 15
    assert any("red plane is used" in n for n in notes)


def test_other_size_is_resized(tmp_path):
    path = str(tmp_path / "x_blue.png")
    write_png(path, np.full((256, 256), 77, np.uint8))
    notes = []
    out = read_channel(path, "blue", 512, notes)
    assert out.shape == (512, 512) and (out == 77).all()
    assert notes == ["size 256x256: resized to 512x512"]


def test_read_sample_stacks_channels_in_rgby_order(kaggle_root):
    arr = read_sample(str(kaggle_root / "train"), "sample00", 128)
    assert arr.shape == (128, 128, 4) and arr.dtype == np.uint8
    for c, color in enumerate(("red", "green", "blue", "yellow")):
        np.testing.assert_array_equal(
            arr[..., c],
            read_channel(str(kaggle_root / "train" / f"sample00_{color}.png"), color, 128),
        )


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "missing file"),
        (b"", "empty file"),
        (b"this is not an image at all", "not an image file"),
        ("truncated", "corrupt or truncated"),
    ],
)
def test_bad_files_raise_naming_the_file(tmp_path, content, reason):
    path = str(tmp_path / "bad_green.png")
    if content == "truncated":
        data = open(real_pngs()[0], "rb").read()
        content = data[: len(data) // 2]
    if content is not None:
        open(path, "wb").write(content)
    with pytest.raises(ImageError, match=reason) as e:
        read_channel(path, "green", 64)
    assert path in str(e.value)


def test_unknown_channel_name():
    with pytest.raises(ValueError, match="unknown channel"):
        read_channel(real_pngs()[0], "purple")
