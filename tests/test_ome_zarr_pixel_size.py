"""OME-Zarr pixel sizes (#39): axis units, --pixel-size for a zarr without units (predict,
segment, explain), and --segment-at converted to the zarr's full resolution."""

import numpy as np
import pytest

pytest.importorskip("ome_zarr")

from gapnet.data.images import ImageError  # noqa: E402
from gapnet.data.ome_zarr import open_images  # noqa: E402
from tests.test_ome_zarr import GFP_DNA, field, hpa_field_zarr, write_zarr  # noqa: E402,F401


def test_pixel_size_given_for_a_zarr_without_units_reads_it_window_by_window(tmp_path):
    from gapnet.data.at_scale import window_batches

    cyx = field(64, 64, 2, 3, np.uint8)
    (bare,) = open_images(write_zarr(tmp_path / "bare.zarr", cyx, unit=None))
    log = []
    batches = list(window_batches("bare", bare, 16, 0.5, 0.25, None, GFP_DNA, None, log.append))
    # 64 px at 0.25 µm/px is 32 px at the run's 0.5: four 16-px windows, not one field
    assert sum(len(b) for b in batches) == 4, log
    assert any("taken as --pixel-size 0.25" in m for m in log), log


def test_segment_takes_pixel_size_for_a_zarr_without_units(tmp_path):
    """segment.py --images with --pixel-size: a unitless OME-Zarr's level 0 is at it, so a
    nucleus diameter given at the target pixel size is converted (was: kept as given, with
    a warning that the pixel size is unknown)."""
    from gapnet.segment import SegmentParams
    from gapnet.segment.files import segment_images

    cyx = field(32, 32, 2, 3, np.uint8)
    path = write_zarr(tmp_path / "bare.zarr", cyx, unit=None)
    log = []
    p = SegmentParams(nucleus_diameter=4.0, method="classical")
    segment_images(
        path,
        str(tmp_path / "m"),
        ["green", "blue"],
        p,
        given_um=0.25,
        target_um=0.5,
        log=log.append,
    )
    assert any("nucleus diameter 4 px at 0.5 µm/px = 8 px" in m for m in log), log
    assert not any("pixel size unknown" in m for m in log), log


def test_explain_takes_pixel_size_for_a_zarr_without_units(tmp_path):
    """explain.py --images with --pixel-size: a unitless OME-Zarr is read at the run's
    scale from it (was refused: 'no physical pixel size', after a note saying it was read)."""
    from gapnet.explain.own_images import read_field

    cyx = field(64, 64, 2, 3, np.uint8)
    (bare,) = open_images(write_zarr(tmp_path / "bare.zarr", cyx, unit=None))
    log = []
    image, shape = read_field("bare", bare, 64, 0.5, 0.25, None, GFP_DNA, [], log.append)
    assert image.shape == (64, 64, 2) and shape == (32, 32), log  # 64 px at 0.25 -> 32 at 0.5


def test_segment_at_on_a_zarr_converts_the_nucleus_diameter_to_its_full_resolution(tmp_path):
    """An OME-Zarr is segmented at level 0: a diameter given at --segment-at UM is in
    pixels at UM, so it is converted (a 4x finer field: 4x the pixels), with a note."""
    from gapnet.segment import SegmentParams
    from gapnet.segment.files import _zarr_params

    (im,) = open_images(write_zarr(tmp_path / "f.zarr", field(32, 32, 2, 1), um=0.08))
    said = []
    p = _zarr_params(im, SegmentParams(nucleus_diameter=50.0), 0.32, said.append)
    assert p.nucleus_diameter == pytest.approx(200.0)
    assert "nucleus diameter 50 px at 0.32 µm/px = 200 px" in said[0]


def test_axis_units_any_length_ngff_allows_and_an_unknown_one_named(tmp_path):
    (a,) = open_images(write_zarr(tmp_path / "a.zarr", field(16, 16), um=2000, unit="angstrom"))
    assert a.levels[0].um_per_px == pytest.approx((0.2, 0.2))
    with pytest.raises(ImageError, match=r"f\.zarr: axis unit 'furlong'"):
        open_images(write_zarr(tmp_path / "f.zarr", field(16, 16), unit="furlong"))
