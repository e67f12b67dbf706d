"""Reading a user's microscope files: TIFF axes, channel names, bit depth, bad files."""

import numpy as np
import pytest
import tifffile

from gapnet.classes import CHANNELS
from gapnet.data.images import ImageError
from gapnet.data.microscope import find_images, read_image
from gapnet.data.tiff import read_tiff


def _field(h=40, w=56, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)


def test_channels_last_and_first_give_the_same_sample(tmp_path):
    field = _field()  # (Y, X, C) in gapnet order
    tifffile.imwrite(
        tmp_path / "last.tif",
        field,
        photometric="minisblack",
        planarconfig="contig",
        metadata={"axes": "YXC"},
    )
    tifffile.imwrite(
        tmp_path / "first.tif",
        np.moveaxis(field, -1, 0)[::-1],
        photometric="minisblack",
        metadata={"axes": "CYX"},
    )
    last = read_tiff(str(tmp_path / "last.tif"), 40, list(CHANNELS))
    first = read_tiff(str(tmp_path / "first.tif"), 40, list(CHANNELS)[::-1])
    np.testing.assert_array_equal(last, first)
    assert last.shape == (40, 40, 4) and last.dtype == np.uint8


def test_16bit_is_scaled_not_clipped(tmp_path):
    field = _field(32, 32)
    tifffile.imwrite(
        tmp_path / "f.tif",
        np.moveaxis(field.astype(np.uint16) * 257, -1, 0),
        photometric="minisblack",
        metadata={"axes": "CYX"},
    )
    np.testing.assert_array_equal(read_tiff(str(tmp_path / "f.tif"), 32, list(CHANNELS)), field)


def test_bad_files_are_named(tmp_path):
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(ImageError, match="broken.tif: not a readable TIFF"):
        read_tiff(str(tmp_path / "broken.tif"), 32, list(CHANNELS))
    tifffile.imwrite(
        tmp_path / "three.tif",
        np.zeros((3, 16, 16), np.uint8),
        photometric="minisblack",
        metadata={"axes": "CYX"},
    )
    with pytest.raises(ImageError, match="three.tif: 3 channels in the file, 4 names given"):
        read_tiff(str(tmp_path / "three.tif"), 16, list(CHANNELS))
    (tmp_path / "a_red.png").write_bytes(b"")
    ((name, source),) = [e for e in find_images(str(tmp_path)) if e[0] == "a"]
    with pytest.raises(ImageError, match="a_red.png: no green, blue, yellow file beside it"):
        read_image(source, 16)


def test_an_ome_tiffs_sample_name_drops_ome(tmp_path):
    import tifffile

    from gapnet.data.microscope import find_images

    tifffile.imwrite(tmp_path / "field.ome.tif", np.zeros((2, 8, 8), np.uint8), ome=True)
    assert [n for n, _ in find_images(str(tmp_path))] == ["field"]
    assert [n for n, _ in find_images(str(tmp_path / "field.ome.tif"))] == ["field"]
